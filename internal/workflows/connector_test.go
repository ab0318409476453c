package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
	"github.com/flowbridge/flowbridge/schemas"
)

// pageSource is an http-json connector's source: a real HTTP server with n pages of
// records per page each. Page i is asked for with cursor pageCursor(i) and points to
// page i+1; the last has no next_cursor.
type pageSource struct {
	srv     *httptest.Server
	n, per  int
	mu      sync.Mutex
	asked   map[string]int
	failing map[string]failing
}

// failing makes the source answer status at a cursor, times times (-1: always).
type failing struct {
	status int
	times  int
}

func pageCursor(i int) string {
	if i == 0 {
		return ""
	}
	return "p" + strconv.Itoa(i)
}

func newPageSource(t *testing.T, n, per int) *pageSource {
	t.Helper()
	s := &pageSource{n: n, per: per, asked: map[string]int{}, failing: map[string]failing{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *pageSource) url() string { return s.srv.URL + "/api/records" }

func (s *pageSource) serve(w http.ResponseWriter, r *http.Request) {
	cursor := r.URL.Query().Get("cursor")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked[cursor]++
	if f, ok := s.failing[cursor]; ok && f.times != 0 {
		f.times--
		s.failing[cursor] = f
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}
	for i := range s.n {
		if pageCursor(i) != cursor {
			continue
		}
		page := map[string]any{"records": []map[string]any{}}
		for j := range s.per {
			page["records"] = append(page["records"].([]map[string]any), map[string]any{"id": fmt.Sprintf("r%d-%d", i, j), "page": i})
		}
		if i+1 < s.n {
			page["next_cursor"] = pageCursor(i + 1)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
		return
	}
	http.Error(w, "no page at cursor "+cursor, http.StatusNotFound)
}

func (s *pageSource) fail(cursor string, status, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[cursor] = failing{status: status, times: times}
}

// requests returns how many times the source was asked for the page at cursor.
func (s *pageSource) requests(cursor string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[cursor]
}

// connectorDeps are real activities on a PostgreSQL schema of the test's own, publishing
// to a recorder.
type connectorDeps struct {
	acts  *activities.Activities
	store *store.Store
	pub   *testenv.Events
}

func newConnectorDeps(t *testing.T) *connectorDeps {
	t.Helper()
	st := testenv.Store(t)
	pub := &testenv.Events{}
	return &connectorDeps{acts: &activities.Activities{Store: st, Publisher: pub, Log: testenv.Logger(t)}, store: st, pub: pub}
}

func (d *connectorDeps) create(t *testing.T, sourceURL string) store.Connector {
	t.Helper()
	c, err := d.store.CreateConnector(context.Background(), store.Connector{ID: testenv.ID("conn-"), Kind: store.ConnectorHTTPJSON, SourceURL: sourceURL})
	require.NoError(t, err)
	return c
}

func (d *connectorDeps) connector(t *testing.T, id string) store.Connector {
	t.Helper()
	c, err := d.store.ConnectorByID(context.Background(), id)
	require.NoError(t, err)
	return c
}

func (d *connectorDeps) records(t *testing.T, id string) int {
	t.Helper()
	var n int
	require.NoError(t, d.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM connector_records WHERE connector_id = $1", id).Scan(&n))
	return n
}

func syncRequested(t *testing.T, connectorID string) contract.Event {
	t.Helper()
	data, err := json.Marshal(contract.ConnectorSyncRequested{ConnectorID: connectorID})
	require.NoError(t, err)
	return contract.Event{ID: testenv.ID("evt-"), Type: "connector.sync.requested", Source: "/test", Data: data}
}

// requireSynced checks evs are one connector.synced per run of workflowID, in order,
// caused by the requests, with the data of want, valid by its schema.
func requireSynced(t *testing.T, evs []events.Event, workflowID string, runIDs []string, requests []contract.Event, want []contract.ConnectorSynced) {
	t.Helper()
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	require.Len(t, evs, len(want), "connector.synced events")
	for i, ev := range evs {
		require.Equal(t, contract.TypeConnectorSynced, ev.Type())
		require.Equal(t, contract.RunResultEventID(workflowID, runIDs[i], contract.TypeConnectorSynced), ev.ID())
		require.Equal(t, workflowID, ev.Subject())
		require.Equal(t, requests[i].ID, ev.Extensions()[events.ExtCausationID])
		var got contract.ConnectorSynced
		require.NoError(t, json.Unmarshal(ev.Data(), &got))
		require.Equal(t, want[i], got, "event %d: got %v, want %v", i, got, want[i])
		require.NoError(t, sch.Validate(ev))
	}
}

// connectorEnv is a test workflow environment running ConnectorSync with deps' activities.
type connectorEnv struct {
	*testsuite.TestWorkflowEnvironment
	mu    sync.Mutex
	calls map[string]int // activities started, by type
	runID string
}

func newConnectorEnv(t *testing.T, cfg workflows.ConnectorConfig, acts *activities.Activities) *connectorEnv {
	var s testsuite.WorkflowTestSuite
	e := &connectorEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), calls: map[string]int{}}
	e.SetTestTimeout(30 * time.Second)
	c := &workflows.Connectors{Config: cfg}
	e.RegisterWorkflowWithOptions(c.ConnectorSync, workflow.RegisterOptions{Name: contract.ConnectorSyncWorkflow})
	e.RegisterActivity(acts)
	e.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.calls[info.ActivityType.Name]++
		e.runID = info.WorkflowExecution.RunID
	})
	return e
}

func (e *connectorEnv) run(t *testing.T, connectorID string) (contract.Event, contract.ConnectorSynced, error) {
	t.Helper()
	ev := syncRequested(t, connectorID)
	e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "connector-sync-" + connectorID})
	e.ExecuteWorkflow(contract.ConnectorSyncWorkflow, ev)
	require.True(t, e.IsWorkflowCompleted())
	if err := e.GetWorkflowError(); err != nil {
		return ev, contract.ConnectorSynced{}, err
	}
	var res contract.ConnectorSynced
	require.NoError(t, e.GetWorkflowResult(&res))
	return ev, res, nil
}

func TestConnectorSync(t *testing.T) {
	tests := []struct {
		name      string
		pages     int // of the source, 2 records each
		maxPages  int
		wantCalls int // SyncConnectorPages calls
		want      contract.ConnectorSynced
		// wantNext is what a second sync reads.
		wantNext contract.ConnectorSynced
	}{
		{
			name: "three pages", pages: 3, wantCalls: 1,
			want:     contract.ConnectorSynced{Records: 6, Pages: 3, Cursor: "p2"},
			wantNext: contract.ConnectorSynced{Records: 2, Pages: 1, Cursor: "p2"},
		},
		{
			name: "one page without a cursor", pages: 1, wantCalls: 1,
			want:     contract.ConnectorSynced{Records: 2, Pages: 1, Cursor: ""},
			wantNext: contract.ConnectorSynced{Records: 2, Pages: 1, Cursor: ""},
		},
		{
			name: "25 pages in calls of ten", pages: 25, wantCalls: 3,
			want:     contract.ConnectorSynced{Records: 50, Pages: 25, Cursor: "p24"},
			wantNext: contract.ConnectorSynced{Records: 2, Pages: 1, Cursor: "p24"},
		},
		{
			name: "page limit: the next sync continues", pages: 25, maxPages: 13, wantCalls: 2,
			want:     contract.ConnectorSynced{Records: 26, Pages: 13, Cursor: "p13", HasMore: true},
			wantNext: contract.ConnectorSynced{Records: 24, Pages: 12, Cursor: "p24"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deps := newConnectorDeps(t)
			src := newPageSource(t, tt.pages, 2)
			c := deps.create(t, src.url())
			require.NoError(t, deps.store.MarkConnectorFailed(context.Background(), c.ID, "an earlier failure"))
			cfg := workflows.ConnectorConfig{MaxPages: tt.maxPages}

			e := newConnectorEnv(t, cfg, deps.acts)
			ev, got, err := e.run(t, c.ID)
			require.NoError(t, err)
			want := tt.want
			want.ConnectorID = c.ID
			require.Equal(t, want, got, "got %v, want %v", got, want)
			require.Equal(t, tt.wantCalls, e.calls["SyncConnectorPages"], "SyncConnectorPages calls")
			require.Equal(t, 1, e.calls["CompleteConnectorSync"])
			require.Zero(t, e.calls["FailConnectorSync"])
			stored := deps.connector(t, c.ID)
			require.Equal(t, want.Cursor, stored.Cursor)
			require.False(t, stored.LastSyncedAt.IsZero(), "last_synced_at is set")
			require.Empty(t, stored.LastError, "a success clears the last error")
			require.Equal(t, 2*want.Pages, deps.records(t, c.ID))
			wfID := "connector-sync-" + c.ID
			requireSynced(t, deps.pub.Published(), wfID, []string{e.runID}, []contract.Event{ev}, []contract.ConnectorSynced{want})
			st := envStatus(t, e.TestWorkflowEnvironment)
			require.False(t, st.Since.IsZero(), "status without since: %v", st)
			st.Since = time.Time{}
			wantStatus := contract.WorkflowStatus{
				Step: contract.StepDone, Outcome: contract.ConnectorStatusSynced, Pages: want.Pages, Records: want.Records,
				Detail: fmt.Sprintf("Read %d records in %d pages", want.Records, want.Pages),
			}
			if want.HasMore {
				wantStatus.Detail += "; the source has more, from the cursor on"
			}
			require.Equal(t, wantStatus, st, "got %v, want %v", st, wantStatus)

			next := newConnectorEnv(t, cfg, deps.acts)
			_, got, err = next.run(t, c.ID)
			require.NoError(t, err)
			wantNext := tt.wantNext
			wantNext.ConnectorID = c.ID
			require.Equal(t, wantNext, got, "second sync: got %v, want %v", got, wantNext)
			require.Equal(t, 2*tt.pages, deps.records(t, c.ID), "every record stored once")
		})
	}
}

func TestConnectorSyncRefusesConnector(t *testing.T) {
	deps := newConnectorDeps(t)
	src := newPageSource(t, 3, 2)
	disabled := deps.create(t, src.url())
	require.NoError(t, deps.store.SetConnectorEnabled(context.Background(), disabled.ID, false))
	tests := []struct {
		name string
		id   string
		typ  string
		msg  string
	}{
		{name: "unknown", id: "conn-nobody", typ: contract.ErrorTypeConnectorNotFound, msg: "no connector conn-nobody: create it in table connectors"},
		{name: "disabled", id: disabled.ID, typ: contract.ErrorTypeConnectorDisabled, msg: "connector " + disabled.ID + " is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newConnectorEnv(t, workflows.ConnectorConfig{}, deps.acts)
			_, _, err := e.run(t, tt.id)
			requireAppError(t, err, tt.typ, tt.msg)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, err, &appErr)
			require.True(t, strings.HasPrefix(appErr.Message(), tt.msg), "got message %q, want the activity's own", appErr.Message())
			require.Equal(t, 1, e.calls["SyncConnectorPages"], "not retried")
			require.Zero(t, e.calls["FailConnectorSync"], "nothing to record")
			require.Zero(t, e.calls["CompleteConnectorSync"])
		})
	}
	require.Empty(t, deps.pub.Published())
	require.Zero(t, src.requests(""), "the source is not asked")
	require.Empty(t, deps.connector(t, disabled.ID).LastError)
}

func TestConnectorSyncSourceFails(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		times     int // -1: always
		typ       string
		msg       []string
		wantAsked int // requests for page two
	}{
		{
			name: "404 fails at once", status: 404, times: -1, typ: contract.ErrorTypeSourceRejected,
			msg: []string{"/api/records?cursor=p1", "404 Not Found"}, wantAsked: 1,
		},
		{
			name: "503 all along fails after the retries", status: 503, times: -1, typ: contract.ErrorTypeSourceUnavailable,
			msg: []string{"/api/records?cursor=p1", "503 Service Unavailable"}, wantAsked: 20,
		},
		{name: "503 twice is retried", status: 503, times: 2, wantAsked: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deps := newConnectorDeps(t)
			src := newPageSource(t, 3, 2)
			src.fail(pageCursor(1), tt.status, tt.times)
			c := deps.create(t, src.url())
			e := newConnectorEnv(t, workflows.ConnectorConfig{}, deps.acts)

			_, got, err := e.run(t, c.ID)
			require.Equal(t, tt.wantAsked, src.requests(pageCursor(1)), "requests for page two")
			stored := deps.connector(t, c.ID)
			if tt.typ == "" {
				require.NoError(t, err)
				want := contract.ConnectorSynced{ConnectorID: c.ID, Records: 6, Pages: 3, Cursor: "p2"}
				require.Equal(t, want, got, "got %v, want %v", got, want)
				require.Len(t, deps.pub.Published(), 1)
				require.Equal(t, 6, deps.records(t, c.ID))
				// A failed attempt sends its last heartbeat along, so the retry resumes
				// after the page it stored.
				require.Equal(t, 1, src.requests(""), "requests for page one")
				return
			}
			requireAppError(t, err, tt.typ, append([]string{"connector " + c.ID + ": GET "}, tt.msg...)...)
			require.Empty(t, deps.pub.Published(), "no connector.synced for a failed sync")
			for _, m := range tt.msg {
				require.Contains(t, stored.LastError, m, "last_error")
			}
			require.True(t, stored.LastSyncedAt.IsZero())
			require.Equal(t, pageCursor(1), stored.Cursor, "page one stays stored, with the cursor after it")
			require.Equal(t, 2, deps.records(t, c.ID))
		})
	}
}

func TestConnectorSyncRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{name: "not JSON", data: `"c1"`},
		{name: "no data", data: ``},
		{name: "no connector_id", data: `{"id":"c1"}`},
		{name: "empty connector_id", data: `{"connector_id":""}`},
		{name: "connector_id not a string", data: `{"connector_id":7}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newConnectorEnv(t, workflows.ConnectorConfig{}, &activities.Activities{})
			e.ExecuteWorkflow(contract.ConnectorSyncWorkflow, contract.Event{ID: "bad-1", Type: "connector.sync.requested", Data: json.RawMessage(tt.data)})
			require.True(t, e.IsWorkflowCompleted())
			requireAppError(t, e.GetWorkflowError(), contract.ErrorTypeInvalidInput, "event bad-1", "connector_id")
			require.Empty(t, e.calls, "no activity runs")
		})
	}
}

// TestConnectorSyncOnTemporal syncs a connector twice on the Temporal dev server, under
// the one workflow id as the route does (allow_duplicate), with a worker of the test's own
// and the real activities, then replays both histories.
func TestConnectorSyncOnTemporal(t *testing.T) {
	tc := testenv.Temporal(t)
	deps := newConnectorDeps(t)
	src := newPageSource(t, 3, 2)
	conn := deps.create(t, src.url())
	wfID := "connector-sync-" + conn.ID

	taskQueue := testenv.ID("test-")
	c := &workflows.Connectors{Config: workflows.ConnectorConfig{MaxPages: 100}}
	w := worker.New(tc, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(c.ConnectorSync, workflow.RegisterOptions{Name: contract.ConnectorSyncWorkflow})
	w.RegisterActivity(deps.acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := client.StartWorkflowOptions{ID: wfID, TaskQueue: taskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}
	var (
		requests []contract.Event
		runIDs   []string
		results  []contract.ConnectorSynced
	)
	for range 2 {
		ev := syncRequested(t, conn.ID)
		run, err := tc.ExecuteWorkflow(ctx, opts, contract.ConnectorSyncWorkflow, ev)
		require.NoError(t, err)
		var res contract.ConnectorSynced
		require.NoError(t, run.Get(ctx, &res))
		requests, runIDs, results = append(requests, ev), append(runIDs, run.GetRunID()), append(results, res)
	}

	want := []contract.ConnectorSynced{
		{ConnectorID: conn.ID, Records: 6, Pages: 3, Cursor: "p2"},
		{ConnectorID: conn.ID, Records: 2, Pages: 1, Cursor: "p2"}, // the last page again
	}
	require.Equal(t, want, results, "got %v, want %v", results, want)
	requireSynced(t, deps.pub.Published(), wfID, runIDs, requests, want)
	require.Equal(t, 6, deps.records(t, conn.ID))
	stored := deps.connector(t, conn.ID)
	require.False(t, stored.LastSyncedAt.IsZero())
	require.Equal(t, "p2", stored.Cursor)

	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(c.ConnectorSync, workflow.RegisterOptions{Name: contract.ConnectorSyncWorkflow})
	for _, runID := range runIDs {
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, history(ctx, t, tc, wfID, runID)), "replay run %s", runID)
	}
}
