package ledger_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// serve mounts the ledger's handler as the ingress server would, beside POST /events.
func serve(t *testing.T, l *ledger.Ledger) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /events", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	mux.Handle(ledger.Pattern, l.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
	return resp.StatusCode
}

type errorAnswer struct {
	Error string `json:"error"`
	ID    string `json:"id"`
}

func TestHandler(t *testing.T) {
	l, _ := newLedger(t, opener(testenv.Postgres(t)), ledger.Config{FlushInterval: 10 * time.Millisecond})
	srv := serve(t, l)

	var e errorAnswer
	require.Equal(t, http.StatusServiceUnavailable, get(t, srv.URL+"/events/e1", &e), "before the ledger reached its database")
	require.Contains(t, e.Error, "not reachable yet")

	run(t, l)
	seedLineage(t, l)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantShape  string
		wantError  string
	}{
		{name: "an event and what it caused", path: "/events/e1", wantStatus: http.StatusOK,
			wantShape: "e1[onboarding-e1/email.verification_sent onboarding-e1/tenant.created[billing-t1/billing.ready[report-b1/report.daily]]]"},
		{name: "an id with a slash", path: "/events/onboarding-e1/tenant.created", wantStatus: http.StatusOK,
			wantShape: "onboarding-e1/tenant.created[billing-t1/billing.ready[report-b1/report.daily]]"},
		{name: "an unknown id", path: "/events/nope", wantStatus: http.StatusNotFound, wantError: "has no event nope"},
		{name: "no id", path: "/events/", wantStatus: http.StatusBadRequest, wantError: "name an event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantError != "" {
				var e errorAnswer
				require.Equal(t, tt.wantStatus, get(t, srv.URL+tt.path, &e))
				require.Contains(t, e.Error, tt.wantError)
				return
			}
			var n ledger.Node
			require.Equal(t, tt.wantStatus, get(t, srv.URL+tt.path, &n))
			require.Equal(t, tt.wantShape, shape(&n))
		})
	}

	var raw map[string]any
	require.Equal(t, http.StatusOK, get(t, srv.URL+"/events/e1", &raw))
	for _, field := range []string{"id", "type", "source", "received_at", "outcome", "deliveries", "retries", "routes", "workflow_id", "run_id", "error", "attempts", "children"} {
		require.Contains(t, raw, field)
	}
	require.Equal(t, "routed", raw["outcome"])
	require.Equal(t, 1.0, raw["retries"])
}
