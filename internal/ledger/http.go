package ledger

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/store"
)

// Pattern is the route Handler serves, as http.ServeMux takes it. It takes the rest of
// the path as the id, because result events' ids contain '/'
// ("onboarding-u1/tenant.created").
const Pattern = "GET /events/{id...}"

// errorBody is the body of every error answer.
type errorBody struct {
	Error string `json:"error"`
	ID    string `json:"id,omitempty"`
}

// Handler answers GET /events/{id} — mount it on Pattern — with the event's ledger row,
// its deliveries and the events it caused, recursively (a Node, as JSON). It answers 404
// for an id the ledger does not hold, and 503 while the ledger's database is unreachable.
func (l *Ledger) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if id == "" {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "name an event: GET /events/{id}"})
			return
		}
		st := l.store.Load()
		if st == nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "the event ledger's database is not reachable yet; try again shortly", ID: id})
			return
		}
		node, err := Lineage(r.Context(), st.Ledger(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, errorBody{
				Error: "the event ledger has no event " + id + ": the bridge has not received it (check the publisher and the stream), " +
					"its outcome was dropped (flowbridge_ledger_dropped_total), or it is older than the retention period",
				ID: id,
			})
		case err != nil:
			l.log.Warn().Err(err).Str(logging.FieldEventID, id).Msg("Could not read the event ledger")
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "could not read the event ledger; try again shortly", ID: id})
		default:
			writeJSON(w, http.StatusOK, node)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
