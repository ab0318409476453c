package ledger_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// GET /events/{id} answers 400 with JSON for an id that cannot be an event id and 404
// with JSON for one the ledger does not hold; never 503 for bad input.
func TestHandlerRefusesBadIDs(t *testing.T) {
	l, _ := newLedger(t, opener(testenv.Postgres(t)), ledger.Config{FlushInterval: 10 * time.Millisecond})
	srv := serve(t, l)
	run(t, l)
	record(t, l, outcome("e1", 1, bridge.OutcomeRouted))

	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantError  string
		wantID     string
	}{
		{name: "NUL", path: "/events/%00", wantStatus: http.StatusBadRequest, wantError: "non-printable character U+0000", wantID: "\x00"},
		{name: "NUL inside", path: "/events/e1%00x", wantStatus: http.StatusBadRequest, wantError: "non-printable character", wantID: "e1\x00x"},
		{name: "newline", path: "/events/a%0Ab", wantStatus: http.StatusBadRequest, wantError: "non-printable character U+000A"},
		{name: "DEL", path: "/events/a%7Fb", wantStatus: http.StatusBadRequest, wantError: "non-printable character U+007F"},
		{name: "invalid UTF-8", path: "/events/a%FF%FEb", wantStatus: http.StatusBadRequest, wantError: "not valid UTF-8", wantID: "a\uFFFDb"},
		{name: "too long", path: "/events/" + strings.Repeat("x", 257), wantStatus: http.StatusBadRequest, wantError: "257 bytes long", wantID: strings.Repeat("x", 64) + "..."},
		{name: "unknown", path: "/events/nope", wantStatus: http.StatusNotFound, wantError: "has no event nope", wantID: "nope"},
		{name: "unknown of 256 bytes", path: "/events/" + strings.Repeat("é", 128), wantStatus: http.StatusNotFound, wantError: "has no event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e struct {
				Error string `json:"error"`
				Field string `json:"field"`
				ID    string `json:"id"`
			}
			require.Equal(t, tt.wantStatus, get(t, srv.URL+tt.path, &e), "got %+v", e)
			require.Contains(t, e.Error, tt.wantError)
			require.Equal(t, "id", e.Field)
			if tt.wantID != "" {
				require.Equal(t, tt.wantID, e.ID)
			}
		})
	}
}
