package admin_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/admin"
)

// `bridge events show` says plainly that an id with a NUL, a control character or
// invalid UTF-8, or one too long, cannot be an event id, instead of passing PostgreSQL's
// error on; an unknown id is said to be unknown, with the id as given.
func TestEventsShowBadIDs(t *testing.T) {
	url := seedLedger(t)
	tests := []struct {
		name      string
		id        string
		wantUsage bool
		wantErr   []string
	}{
		{name: "NUL", id: "e1\x00", wantUsage: true, wantErr: []string{`"e1\x00"`, "non-printable character U+0000", "1 to 256 bytes of printable text"}},
		{name: "escape", id: "e\x1b[31m", wantUsage: true, wantErr: []string{`"e\x1b[31m"`, "non-printable character U+001B"}},
		{name: "invalid UTF-8", id: "e\xff1", wantUsage: true, wantErr: []string{"not valid UTF-8"}},
		{name: "too long", id: strings.Repeat("e", 300), wantUsage: true, wantErr: []string{"is 300 bytes long: at most 256"}},
		{name: "unknown", id: "caf\u00e9-unknown", wantErr: []string{"the event ledger has no event caf\u00e9-unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := bridgeEvents(t, url, "events", "show", tt.id)
			require.Error(t, err)
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
			if tt.wantUsage {
				require.ErrorIs(t, err, admin.ErrUsage)
			} else {
				require.NotErrorIs(t, err, admin.ErrUsage)
			}
		})
	}
}
