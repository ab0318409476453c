package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// threePages is a source of five records in three pages, by the cursor that asks for
// each ("" for the first).
var threePages = map[string]string{
	"":   `{"records": [{"id": "r1", "name": "Ada"}, {"id": "r2", "name": "Grace"}], "next_cursor": "c2"}`,
	"c2": `{"records": [{"id": "r3", "name": "Edsger"}, {"id": 4, "name": "Barbara"}], "next_cursor": "c3"}`,
	"c3": `{"records": [{"id": "r5", "name": "Donald"}]}`,
}

// answer is what the source says instead of a page.
type answer struct {
	status int
	header map[string]string
	body   string
}

// pagedSource is an http-json connector's source: a real HTTP server answering
// GET /records?cursor=X with pages[X], or with fail[X] when there is one.
type pagedSource struct {
	srv   *httptest.Server
	mu    sync.Mutex
	pages map[string]string
	fail  map[string]answer
	// asked are the cursors of the requests, in order.
	asked []string
	// before, if set, runs before each answer, with the request's cursor.
	before func(cursor string)
}

func newPagedSource(t *testing.T, pages map[string]string) *pagedSource {
	t.Helper()
	s := &pagedSource{pages: pages, fail: map[string]answer{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *pagedSource) url() string { return s.srv.URL + "/records?key=k1" }

func (s *pagedSource) serve(w http.ResponseWriter, r *http.Request) {
	cursor := r.URL.Query().Get("cursor")
	if s.before != nil {
		s.before(cursor)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, cursor)
	if r.URL.Query().Get("key") != "k1" {
		http.Error(w, "the source URL's own query was lost", http.StatusBadRequest)
		return
	}
	if a, ok := s.fail[cursor]; ok {
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
		return
	}
	page, ok := s.pages[cursor]
	if !ok {
		http.Error(w, "no page at cursor "+cursor, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(page))
}

func (s *pagedSource) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// connectorFixture is one test's connector activities: its own PostgreSQL schema, a
// recording publisher and a paged source.
type connectorFixture struct {
	acts   *activities.Activities
	store  *store.Store
	pub    *testenv.Events
	source *pagedSource
	beats  []activities.SyncProgress
	mu     sync.Mutex
}

func newConnectorFixture(t *testing.T) *connectorFixture {
	t.Helper()
	st := testenv.Store(t)
	f := &connectorFixture{store: st, pub: &testenv.Events{}, source: newPagedSource(t, threePages)}
	f.acts = &activities.Activities{Store: st, Publisher: f.pub, Log: testenv.Logger(t)}
	return f
}

// env returns a new activity environment, which records the heartbeats of f's activities.
func (f *connectorFixture) env(t *testing.T) *testsuite.TestActivityEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := s.NewTestActivityEnvironment()
	e.RegisterActivity(f.acts)
	e.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p activities.SyncProgress
		if err := details.Get(&p); err != nil {
			t.Errorf("heartbeat details: %v", err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.beats = append(f.beats, p)
	})
	return e
}

func (f *connectorFixture) heartbeats() []activities.SyncProgress {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]activities.SyncProgress(nil), f.beats...)
}

func (f *connectorFixture) connector(t *testing.T, sourceURL string) store.Connector {
	t.Helper()
	c, err := f.store.CreateConnector(context.Background(), store.Connector{ID: testenv.ID("conn-"), Kind: store.ConnectorHTTPJSON, SourceURL: sourceURL})
	require.NoError(t, err)
	return c
}

func (f *connectorFixture) cursor(t *testing.T, id string) string {
	t.Helper()
	c, err := f.store.ConnectorByID(context.Background(), id)
	require.NoError(t, err)
	return c.Cursor
}

func (f *connectorFixture) records(t *testing.T, id string) map[string]string {
	t.Helper()
	rows, err := f.store.Pool().Query(context.Background(), "SELECT external_id, payload::text FROM connector_records WHERE connector_id = $1", id)
	require.NoError(t, err)
	got := map[string]string{}
	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		got[k] = v
	}
	require.NoError(t, rows.Err())
	return got
}

func (f *connectorFixture) syncPages(t *testing.T, e *testsuite.TestActivityEnvironment, in activities.SyncPagesInput) (activities.SyncProgress, error) {
	t.Helper()
	v, err := e.ExecuteActivity(f.acts.SyncConnectorPages, in)
	if err != nil {
		return activities.SyncProgress{}, err
	}
	var p activities.SyncProgress
	require.NoError(t, v.Get(&p))
	return p, nil
}

// requireConnectorError checks err is an application error of type typ, retryable or
// not, whose message holds every string in msg.
func requireConnectorError(t *testing.T, err error, typ string, retryable bool, msg ...string) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v, want an application error", err)
	require.Equal(t, typ, appErr.Type(), "error type of %v", err)
	require.Equal(t, retryable, !appErr.NonRetryable(), "retryable: %v", err)
	for _, m := range msg {
		require.Contains(t, err.Error(), m)
	}
	return appErr
}

func TestSyncConnectorPagesStoresEveryRecordOnce(t *testing.T) {
	f := newConnectorFixture(t)
	c := f.connector(t, f.source.url())
	var dbCursors []string
	f.source.before = func(string) {
		// The activity waits for this answer: what it stored so far is there to see.
		got, err := f.store.ConnectorByID(context.Background(), c.ID)
		if err != nil {
			t.Errorf("read the connector: %v", err)
		}
		dbCursors = append(dbCursors, got.Cursor)
	}
	got, err := f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: c.ID, MaxPages: 10})
	require.NoError(t, err)
	want := activities.SyncProgress{Pages: 3, Records: 5, Cursor: "c3", Done: true}
	require.Equal(t, want, got, "got %v, want %v", got, want)
	wantRecords := map[string]string{
		"r1": `{"id": "r1", "name": "Ada"}`, "r2": `{"id": "r2", "name": "Grace"}`, "r3": `{"id": "r3", "name": "Edsger"}`,
		"4": `{"id": 4, "name": "Barbara"}`, "r5": `{"id": "r5", "name": "Donald"}`,
	}
	require.Equal(t, wantRecords, f.records(t, c.ID))
	require.Equal(t, []string{"", "c2", "c3"}, f.source.requests())
	require.Equal(t, []string{"", "c2", "c3"}, dbCursors, "each page's cursor is stored before the next page is asked for")
	// The SDK sends the first heartbeat at once and throttles the others (to one per 30s
	// here, 80% of the heartbeat timeout on a worker), so only the start is sure to arrive
	// while the activity runs.
	wantBeats := []activities.SyncProgress{
		{Cursor: ""}, {Pages: 1, Records: 2, Cursor: "c2"}, {Pages: 2, Records: 4, Cursor: "c3"}, {Pages: 3, Records: 5, Cursor: "c3", Done: true},
	}
	beats := f.heartbeats()
	require.NotEmpty(t, beats)
	require.Equal(t, wantBeats[0], beats[0], "the first heartbeat: the start")
	require.Subset(t, wantBeats, beats, "got heartbeats %v, want some of %v", beats, wantBeats)
	f.source.before = nil

	// The activity runs again (a second sync, or a retry without heartbeat): it starts at
	// the stored cursor, reads the last page again for what was added to it, and stores
	// nothing twice.
	got, err = f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: c.ID, MaxPages: 10})
	require.NoError(t, err)
	want = activities.SyncProgress{Pages: 1, Records: 1, Cursor: "c3", Done: true}
	require.Equal(t, want, got, "got %v, want %v", got, want)
	require.Equal(t, wantRecords, f.records(t, c.ID))
	require.Equal(t, []string{"", "c2", "c3", "c3"}, f.source.requests())

	// The source starts over (a full re-read after a reset cursor): still one row a record.
	_, err = f.store.Pool().Exec(context.Background(), "UPDATE connectors SET cursor = '' WHERE id = $1", c.ID)
	require.NoError(t, err)
	got, err = f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: c.ID, MaxPages: 10})
	require.NoError(t, err)
	require.Equal(t, activities.SyncProgress{Pages: 3, Records: 5, Cursor: "c3", Done: true}, got)
	require.Equal(t, wantRecords, f.records(t, c.ID))
	require.Empty(t, f.pub.Published(), "reading pages emits nothing")
}

func TestSyncConnectorPagesStoresTheCursorPerPage(t *testing.T) {
	f := newConnectorFixture(t)
	c := f.connector(t, f.source.url())
	tests := []struct {
		name string
		want activities.SyncProgress
	}{
		{name: "first page", want: activities.SyncProgress{Pages: 1, Records: 2, Cursor: "c2"}},
		{name: "second page", want: activities.SyncProgress{Pages: 1, Records: 2, Cursor: "c3"}},
		{name: "last page keeps its own cursor", want: activities.SyncProgress{Pages: 1, Records: 1, Cursor: "c3", Done: true}},
	}
	for _, tt := range tests {
		got, err := f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: c.ID}) // MaxPages 0: one page
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, got, "%s: got %v, want %v", tt.name, got, tt.want)
		require.Equal(t, tt.want.Cursor, f.cursor(t, c.ID), tt.name)
	}
	require.Len(t, f.records(t, c.ID), 5)
}

func TestSyncConnectorPagesResumesFromItsHeartbeat(t *testing.T) {
	f := newConnectorFixture(t)
	c := f.connector(t, f.source.url())
	// The first attempt stored page one and heartbeat, then its worker died.
	_, err := f.store.StoreConnectorPage(context.Background(), c.ID, []store.ConnectorRecord{
		{ExternalID: "r1", Payload: json.RawMessage(`{"id": "r1", "name": "Ada"}`)},
		{ExternalID: "r2", Payload: json.RawMessage(`{"id": "r2", "name": "Grace"}`)},
	}, "c2")
	require.NoError(t, err)
	e := f.env(t)
	e.SetHeartbeatDetails(activities.SyncProgress{Pages: 1, Records: 2, Cursor: "c2"})

	got, err := f.syncPages(t, e, activities.SyncPagesInput{ConnectorID: c.ID, MaxPages: 10})
	require.NoError(t, err)
	want := activities.SyncProgress{Pages: 3, Records: 5, Cursor: "c3", Done: true}
	require.Equal(t, want, got, "got %v, want %v: the call's counts include the attempt before", got, want)
	require.Equal(t, []string{"c2", "c3"}, f.source.requests(), "the retry does not read page one again")
	require.Len(t, f.records(t, c.ID), 5)

	// A heartbeat older than the stored cursor (a throttled one) reads again the pages
	// after it; the counts stay exact and nothing is stored twice.
	e = f.env(t)
	e.SetHeartbeatDetails(activities.SyncProgress{Pages: 1, Records: 2, Cursor: "c2"})
	got, err = f.syncPages(t, e, activities.SyncPagesInput{ConnectorID: c.ID, MaxPages: 10})
	require.NoError(t, err)
	require.Equal(t, want, got, "got %v, want %v", got, want)
	require.Len(t, f.records(t, c.ID), 5)
}

func TestSyncConnectorPagesSourceErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name      string
		at        string // the cursor the source fails at
		answer    answer
		sourceURL string // instead of the paged source
		typ       string
		retryable bool
		msg       []string
		delay     time.Duration // the error's NextRetryDelay
	}{
		{
			name: "404 is permanent", at: "c2", answer: answer{status: 404, body: "no such\n list"},
			typ: contract.ErrorTypeSourceRejected, msg: []string{"/records?cursor=c2&key=k1", "404 Not Found", "no such list", "source_url"},
		},
		{
			name: "401 is permanent", at: "", answer: answer{status: 401, body: `{"error":"bad key"}`},
			typ: contract.ErrorTypeSourceRejected, msg: []string{"/records?key=k1", "401 Unauthorized", "bad key"},
		},
		{
			name: "503 is retried", at: "c2", answer: answer{status: 503, body: "maintenance"},
			typ: contract.ErrorTypeSourceUnavailable, retryable: true, msg: []string{"cursor=c2", "503 Service Unavailable", "maintenance"},
		},
		{
			name: "500 is retried", at: "c3", answer: answer{status: 500},
			typ: contract.ErrorTypeSourceUnavailable, retryable: true, msg: []string{"cursor=c3", "500 Internal Server Error"},
		},
		{
			name: "429 is retried after Retry-After", at: "c2", answer: answer{status: 429, header: map[string]string{"Retry-After": "7"}},
			typ: contract.ErrorTypeSourceUnavailable, retryable: true, msg: []string{"429 Too Many Requests"}, delay: 7 * time.Second,
		},
		{
			name: "no answer is retried", sourceURL: closed.URL + "/records",
			typ: contract.ErrorTypeSourceUnavailable, retryable: true, msg: []string{"GET " + closed.URL + "/records", "connection refused"},
		},
		{
			name: "not JSON", at: "c2", answer: answer{status: 200, body: "<html>login</html>"},
			typ: contract.ErrorTypeBadSourceResponse, msg: []string{"cursor=c2", "not a page of records", `want {"records"`},
		},
		{
			name: "no records array", at: "", answer: answer{status: 200, body: `{"items": []}`},
			typ: contract.ErrorTypeBadSourceResponse, msg: []string{"no records array"},
		},
		{
			name: "record without an id", at: "c2", answer: answer{status: 200, body: `{"records": [{"id": "x"}, {"name": "no id"}], "next_cursor": "c3"}`},
			typ: contract.ErrorTypeBadSourceResponse, msg: []string{"record 1", `no "id"`},
		},
		{
			name: "record with a null id", at: "c2", answer: answer{status: 200, body: `{"records": [{"id": null}]}`},
			typ: contract.ErrorTypeBadSourceResponse, msg: []string{"record 0", `no "id"`},
		},
		{
			name: "record not an object", at: "c2", answer: answer{status: 200, body: `{"records": ["r9"]}`},
			typ: contract.ErrorTypeBadSourceResponse, msg: []string{"record 0 is not an object"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newConnectorFixture(t)
			f.source.fail[tt.at] = tt.answer
			sourceURL := f.source.url()
			if tt.sourceURL != "" {
				sourceURL = tt.sourceURL
			}
			c := f.connector(t, sourceURL)

			_, err := f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: c.ID, MaxPages: 10})
			appErr := requireConnectorError(t, err, tt.typ, tt.retryable, append([]string{"connector " + c.ID + ": GET "}, tt.msg...)...)
			require.Equal(t, tt.delay, appErr.NextRetryDelay())
			// The pages before the failure stay stored, with the cursor of the failing one.
			wantRecords := map[string]int{"": 0, "c2": 2, "c3": 4}[tt.at]
			require.Len(t, f.records(t, c.ID), wantRecords)
			require.Equal(t, tt.at, f.cursor(t, c.ID))
		})
	}
}

func TestSyncConnectorPagesRefusesConnector(t *testing.T) {
	f := newConnectorFixture(t)
	ctx := context.Background()
	disabled := f.connector(t, f.source.url())
	require.NoError(t, f.store.SetConnectorEnabled(ctx, disabled.ID, false))

	noHost := f.connector(t, "http://")

	_, err := f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: "conn-nobody"})
	requireConnectorError(t, err, contract.ErrorTypeConnectorNotFound, false, "no connector conn-nobody: create it in table connectors")
	_, err = f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: noHost.ID})
	requireConnectorError(t, err, contract.ErrorTypeInvalidConnector, false, "connector "+noHost.ID+`: source_url "http://" is not an http(s) URL`)
	_, err = f.syncPages(t, f.env(t), activities.SyncPagesInput{ConnectorID: disabled.ID})
	requireConnectorError(t, err, contract.ErrorTypeConnectorDisabled, false, "connector "+disabled.ID+" is disabled")
	require.Empty(t, f.source.requests(), "the source is not asked")
	require.Empty(t, f.records(t, disabled.ID))
}

func TestCompleteConnectorSync(t *testing.T) {
	f := newConnectorFixture(t)
	ctx := context.Background()
	c := f.connector(t, f.source.url())
	require.NoError(t, f.store.MarkConnectorFailed(ctx, c.ID, "an earlier failure"))
	cause := activities.Cause{EventID: testenv.ID("evt-"), CorrelationID: "corr-1"}
	synced := contract.ConnectorSynced{ConnectorID: c.ID, Records: 5, Pages: 3, Cursor: "c3"}
	e := f.env(t)
	for range 2 {
		_, err := e.ExecuteActivity(f.acts.CompleteConnectorSync, activities.CompleteSyncInput{Synced: synced, Cause: cause})
		require.NoError(t, err)
	}

	got, err := f.store.ConnectorByID(ctx, c.ID)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), got.LastSyncedAt, time.Minute)
	require.Empty(t, got.LastError, "a success clears the last error")

	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	evs := f.pub.Published()
	require.Len(t, evs, 2, "published events")
	for _, ev := range evs {
		require.Equal(t, contract.TypeConnectorSynced, ev.Type())
		require.Equal(t, contract.SourceWorker, ev.Source())
		require.NotEmpty(t, ev.Subject(), "subject: the workflow id")
		require.True(t, strings.HasPrefix(ev.ID(), ev.Subject()+"/") && strings.HasSuffix(ev.ID(), "/"+contract.TypeConnectorSynced), "got id %s, want <workflow id>/<run id>/connector.synced", ev.ID())
		require.Equal(t, evs[0].ID(), ev.ID(), "a retried activity must emit the same id")
		require.Equal(t, cause.EventID, ev.Extensions()[events.ExtCausationID])
		require.Equal(t, cause.CorrelationID, ev.Extensions()[events.ExtCorrelationID])
		require.JSONEq(t, `{"connector_id": "`+c.ID+`", "records": 5, "pages": 3, "cursor": "c3", "has_more": false}`, string(ev.Data()))
		require.NoError(t, sch.Validate(ev), "emitted data breaks schemas/connector.synced.json")
	}

	_, err = e.ExecuteActivity(f.acts.CompleteConnectorSync, activities.CompleteSyncInput{Synced: contract.ConnectorSynced{ConnectorID: "conn-nobody"}, Cause: cause})
	requireConnectorError(t, err, contract.ErrorTypeConnectorNotFound, false, "connector conn-nobody was deleted during its sync")
	require.Len(t, f.pub.Published(), 2, "nothing emitted for a deleted connector")
}

func TestFailConnectorSync(t *testing.T) {
	f := newConnectorFixture(t)
	ctx := context.Background()
	c := f.connector(t, f.source.url())
	e := f.env(t)
	_, err := e.ExecuteActivity(f.acts.FailConnectorSync, activities.FailSyncInput{ConnectorID: c.ID, Reason: "GET x: 404 Not Found"})
	require.NoError(t, err)
	got, err := f.store.ConnectorByID(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "GET x: 404 Not Found", got.LastError)
	require.True(t, got.LastSyncedAt.IsZero())

	_, err = e.ExecuteActivity(f.acts.FailConnectorSync, activities.FailSyncInput{ConnectorID: "conn-nobody", Reason: "no connector"})
	require.NoError(t, err, "a missing connector has nowhere to record the failure")
	require.Empty(t, f.pub.Published())
}
