package contract

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

// A result event's id is built from a workflow id, which comes from event data: it must
// still be a valid event id when that data is long or odd, stay deterministic, and keep
// distinct workflows apart.
func TestResultEventIDIsAlwaysAValidEventID(t *testing.T) {
	long := "onboarding-" + strings.Repeat("u", 2000)
	tests := []struct {
		name, workflowID string
		unchanged        bool
	}{
		{name: "ordinary", workflowID: "onboarding-u1", unchanged: true},
		{name: "long", workflowID: long},
		{name: "control characters", workflowID: "onboarding-a\x00b\nc"},
		{name: "invalid UTF-8", workflowID: "onboarding-\xff\xfe"},
		{name: "multi-byte at the cut", workflowID: "onboarding-" + strings.Repeat("é", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ResultEventID(tt.workflowID, "tenant.created")
			require.NoError(t, events.CheckID(id), "got %q", id)
			require.Equal(t, id, ResultEventID(tt.workflowID, "tenant.created"), "not deterministic")
			if tt.unchanged {
				require.Equal(t, tt.workflowID+"/tenant.created", id)
			}
			run := RunResultEventID(tt.workflowID, "run-1", "connector.synced")
			require.NoError(t, events.CheckID(run), "got %q", run)
		})
	}
	require.NotEqual(t, ResultEventID(long+"a", "x.y"), ResultEventID(long+"b", "x.y"), "distinct workflow ids share a result event id")
	require.NotEqual(t, ResultEventID(long, "tenant.created"), ResultEventID(long, "billing.ready"), "distinct types share a result event id")
}
