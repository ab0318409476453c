package ledger

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/store"
)

// Pattern is the route Handler serves, as http.ServeMux takes it. It takes the rest of
// the path as the id, because result events' ids contain '/'
// ("onboarding-u1/tenant.created").
const Pattern = "GET /events/{id...}"

// errorBody is the body of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
	ID    string `json:"id,omitempty"`
}

// ErrInvalidID is wrapped by CheckID's errors.
var ErrInvalidID = errors.New("not an event id")

// CheckID returns an error wrapping ErrInvalidID, saying why, when id cannot be an event
// id: the rules every door holds an event's id to (events.CheckID: 1 to
// events.MaxIDBytes bytes of printable UTF-8).
func CheckID(id string) error {
	err := events.CheckID(id)
	var ae *events.AttributeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return fmt.Errorf("%w: %s", ErrInvalidID, ae.Reason)
	default:
		return fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
}

// ShowID is id as it can be shown in an error: valid UTF-8, at most 64 characters.
func ShowID(id string) string {
	id = strings.ToValidUTF8(id, "\uFFFD")
	if utf8.RuneCountInString(id) <= 64 {
		return id
	}
	return string([]rune(id)[:64]) + "..."
}

// Handler answers GET /events/{id} — mount it on Pattern — with the event's ledger row,
// its deliveries and the events it caused, recursively (a Node, as JSON). It answers 400
// for an id that cannot be an event id (CheckID), 404 for an id the ledger does not hold,
// and 503 only while the ledger's database is unreachable; every error answer is JSON.
func (l *Ledger) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if id == "" {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "name an event: GET /events/{id}", Field: "id"})
			return
		}
		if err := CheckID(id); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{
				Error: err.Error() + ": an event id is 1 to 256 bytes of printable text (percent-encode it in the path)",
				Field: "id", ID: ShowID(id),
			})
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
				Field: "id", ID: id,
			})
		case err != nil:
			l.log.Warn().Err(err).Str(logging.FieldEventID, id).Msg("Could not read the event ledger")
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "could not read the event ledger; try again shortly", ID: id})
		default:
			writeJSON(w, http.StatusOK, node)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) { ops.WriteJSON(w, status, v) }
