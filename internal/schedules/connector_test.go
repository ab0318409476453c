package schedules_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/schedules"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// A connector polled as docs/schedules.md says: the schedule's run syncs it, with the
// real workflow and activities, PostgreSQL and the dev server.
func TestConnectorPolledOnSchedule(t *testing.T) {
	c := testenv.Temporal(t)
	st := testenv.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"records": [{"id": "r1"}, {"id": "r2"}]}`))
	}))
	t.Cleanup(src.Close)
	conn, err := st.CreateConnector(ctx, store.Connector{ID: testenv.ID("conn-"), Kind: store.ConnectorHTTPJSON, SourceURL: src.URL})
	require.NoError(t, err)

	taskQueue := testenv.ID("test-")
	pub := &testenv.Events{}
	cs := &workflows.Connectors{}
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(cs.ConnectorSync, workflow.RegisterOptions{Name: contract.ConnectorSyncWorkflow})
	w.RegisterActivity(&activities.Activities{Store: st, Publisher: pub, Log: testenv.Logger(t)})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	prefix := testenv.ID("test-") + "-"
	specs := parse(t, c, prefix, strings.ReplaceAll(`
schedules:
  - id: ID-poll
    every: 15m
    workflow: ConnectorSync
    overlap: skip
    catchup_window: 15m
    input:
      id: ID-poll
      type: connector.sync.requested
      source: /flowbridge/schedules
      data: {connector_id: CONN}
`, "CONN", conn.ID))
	require.NoError(t, schedules.EnsureSchedules(ctx, c, taskQueue, specs...))
	require.NoError(t, c.ScheduleClient().GetHandle(ctx, prefix+"poll").Trigger(ctx, client.ScheduleTriggerOptions{}))
	var runs []client.ScheduleActionResult
	testenv.Eventually(t, 30*time.Second, func() bool {
		runs = describe(t, c, prefix+"poll").Info.RecentActions
		return len(runs) >= 1
	}, "schedule %spoll did not start the triggered sync", prefix)
	run := runs[0].StartWorkflowResult
	var got contract.ConnectorSynced
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &got))
	require.Equal(t, conn.ID, got.ConnectorID)
	require.Equal(t, 2, got.Records)
	after, err := st.ConnectorByID(ctx, conn.ID)
	require.NoError(t, err)
	require.False(t, after.LastSyncedAt.IsZero(), "the sync is recorded on the connector")
	require.Len(t, pub.Published(), 1, "connector.synced")
	require.Equal(t, "connector.synced", pub.Published()[0].Type())
}
