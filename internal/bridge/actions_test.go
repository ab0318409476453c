package bridge_test

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
	"github.com/flowbridge/flowbridge/schemas"
)

// recorderState is what RecordSignals answers to its "state" query.
type recorderState struct {
	Input any      `json:"input"`
	Notes []string `json:"notes"` // event ids of the "note" signals, in arrival order
}

// RecordSignals is a test workflow: it keeps its input and the event id of every distinct
// "note" signal until it is cancelled.
func RecordSignals(ctx workflow.Context, input any) (recorderState, error) {
	st := recorderState{Input: input}
	if err := workflow.SetQueryHandler(ctx, "state", func() (recorderState, error) { return st, nil }); err != nil {
		return st, err
	}
	inbox := workflows.NewSignalInbox(ctx, "note")
	for ctx.Err() == nil {
		sel := workflow.NewSelector(ctx)
		inbox.AddTo(ctx, sel, func(ev contract.Event) { st.Notes = append(st.Notes, ev.ID) })
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
	}
	return st, ctx.Err()
}

// withTestTypes adds schemas for the test.* event types to the real ones.
func withTestTypes(t *testing.T) *events.Schemas {
	t.Helper()
	m := fstest.MapFS{}
	require.NoError(t, fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(schemas.FS, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	}))
	keyed := []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["key"],"properties":{"key":{"type":"string","minLength":1}}}`)
	for _, typ := range []string{"test.start", "test.note", "test.swstart", "test.stop"} {
		m[typ+".json"] = &fstest.MapFile{Data: keyed}
	}
	sch, err := events.LoadSchemas(m)
	require.NoError(t, err)
	return sch
}

// recorderHarness routes test.* events to RecordSignals workflows on a worker of the test's own.
func recorderHarness(t *testing.T, extra string) (*harness, string) {
	t.Helper()
	h := newHarness(t)
	queue := testenv.ID("rec-")
	w := worker.New(h.temporal, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(RecordSignals, workflow.RegisterOptions{Name: "RecordSignals"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	routes, err := routing.Parse([]byte(fmt.Sprintf(`
routes:
  - name: start-recorder
    events: [test.start]
    action: start
    workflow: RecordSignals
    task_queue: %[1]s
    id: 'rec-{{ .data.key }}'
    memo: {origin: '{{ .source }}'}
    run_timeout: 1h
    input: map
    input_map: {key: 'data.key', shouted: 'data.key.upperAscii()'}
  - name: note
    events: [test.note]
    action: signal
    signal: note
    id: 'rec-{{ .data.key }}'
  - name: note-or-start
    events: [test.swstart]
    action: signal_with_start
    workflow: RecordSignals
    task_queue: %[1]s
    signal: note
    id: 'rec-{{ .data.key }}'
    input: data
  - name: stop
    events: [test.stop]
    action: cancel
    id: 'rec-{{ .data.key }}'
%[2]s`, queue, extra)), "test routes")
	require.NoError(t, err)
	h.routes, h.schemas = routes, withTestTypes(t)
	return h, queue
}

func (h *harness) recorderState(id string) recorderState {
	h.t.Helper()
	v, err := h.temporal.QueryWorkflow(context.Background(), id, "", "state")
	require.NoError(h.t, err)
	var st recorderState
	require.NoError(h.t, v.Get(&st))
	return st
}

// Every action — start, signal, signal_with_start, cancel — against the Temporal dev
// server, with the route's input mapping, memo and task queue.
func TestEveryActionAgainstTemporal(t *testing.T) {
	h, _ := recorderHarness(t, "")
	rb := h.startBridge(h.temporal, bridge.Config{SignalWait: time.Second})
	k1, k2 := testenv.ID("k"), testenv.ID("k")

	start := newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": k1})
	h.publishBinary(start)
	h.waitStatus("rec-"+k1, running, 10*time.Second)
	require.Equal(t, map[string]any{"key": k1, "shouted": toUpper(k1)}, h.recorderState("rec-"+k1).Input, "input: map")
	require.Equal(t, "/tests/"+t.Name(), h.memo("rec-" + k1)["origin"], "memo from the route")
	require.Equal(t, start.ID(), h.memo("rec-" + k1)["ce_id"])

	note := newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": k1})
	h.publishBinary(note)
	// The same event again under another Nats-Msg-Id, as after a crash before the ack
	// outlived the stream's duplicate window: the workflow takes it once.
	m, err := events.Encode(note)
	require.NoError(t, err)
	m.Header.Set(events.HeaderMsgID, "again-"+note.ID())
	h.publishRaw(m)
	h.consumerSettled(10 * time.Second)
	require.Equal(t, []string{note.ID()}, h.recorderState("rec-"+k1).Notes)

	sw := newEvent(t, testenv.ID("evt-"), "test.swstart", map[string]string{"key": k2})
	h.publishBinary(sw)
	h.waitStatus("rec-"+k2, running, 10*time.Second)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(h.recorderState("rec-"+k2).Notes) == 1 }, "signal-with-start delivered no signal")
	st := h.recorderState("rec-" + k2)
	require.Equal(t, []string{sw.ID()}, st.Notes)
	require.Equal(t, map[string]any{"key": k2}, st.Input, "input: data")

	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.stop", map[string]string{"key": k1}))
	h.waitStatus("rec-"+k1, enums.WORKFLOW_EXECUTION_STATUS_CANCELED, 10*time.Second)
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.stop", map[string]string{"key": testenv.ID("never-")}))

	h.consumerSettled(10 * time.Second)
	require.Empty(t, h.dlq())
	require.Equal(t, 1.0, rb.count(t, "duplicate"), "cancelling a workflow that does not exist is a no-op")
}

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// A start retried with the same event (a lost answer, a redelivery) carries the same
// request id: Temporal answers with the run it already started.
func TestRetriedStartKeepsOneRun(t *testing.T) {
	h, queue := recorderHarness(t, "")
	rb := h.startBridge(h.temporal, bridge.Config{})
	key := testenv.ID("k")
	start := newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": key})
	h.publishBinary(start)
	m, err := events.Encode(start)
	require.NoError(t, err)
	m.Header.Set(events.HeaderMsgID, "again-"+start.ID())
	h.publishRaw(m)
	h.consumerSettled(10 * time.Second)

	outs := rb.recorder.byEvent(start.ID())
	require.Len(t, outs, 2)
	require.Equal(t, outs[0].Routes[0].RunID, outs[1].Routes[0].RunID, "both deliveries name the one run")
	require.NotEmpty(t, outs[0].Routes[0].RunID)
	_ = queue
}

// Events for one workflow are applied in stream order (one bridge): the workflow sees
// its signals in the order they were published.
func TestPerWorkflowOrder(t *testing.T) {
	h, _ := recorderHarness(t, "")
	h.startBridge(h.temporal, bridge.Config{Lanes: 4})
	const keys, notes = 8, 5
	want := map[string][]string{}
	var ks []string
	for range keys {
		k := testenv.ID("k")
		ks = append(ks, k)
		h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": k}))
	}
	for i := range notes {
		for _, k := range ks { // interleaved across workflows
			id := fmt.Sprintf("n%d-%s", i, k)
			want[k] = append(want[k], id)
			h.publishBinary(newEvent(t, id, "test.note", map[string]string{"key": k}))
		}
	}
	h.consumerSettled(30 * time.Second)
	for _, k := range ks {
		require.Equal(t, want[k], h.recorderState("rec-"+k).Notes, "signals to rec-%s in stream order", k)
	}
	require.Empty(t, h.dlq())
}

// A route's rate limit slows the bridge down — events are NAKed with a delay and come
// back — it never drops or dead-letters them.
func TestRateLimitedRouteRetriesInsteadOfDropping(t *testing.T) {
	h, _ := recorderHarness(t, `  - name: slow
    events: [test.note]
    filter: 'data.key.startsWith("slow")'
    action: signal
    signal: note
    id: 'rec-{{ .data.key }}'
    rate_limit: {per_second: 0.1, burst: 1}
`)
	rb := h.startBridge(h.temporal, bridge.Config{})
	key := testenv.ID("slow")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": key}))
	h.waitStatus("rec-"+key, running, 10*time.Second)
	// One token per 10 s: the second and third notes cannot wait the bridge's 1 s for it,
	// however slowly a loaded machine handles the first.
	for range 3 {
		h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": key}))
	}
	h.consumerSettled(90 * time.Second)
	require.GreaterOrEqual(t, rb.count(t, "retried"), 1.0, "the limit pushed an event back")
	require.Empty(t, h.dlq())
	// Both the plain note route and the slow one signal: the inbox keeps each event once.
	require.Len(t, h.recorderState("rec-"+key).Notes, 3)
}

// Two bridge replicas on the one durable consumer: every event is routed exactly once
// between them. (Order per workflow is promised within a replica, not across them: see
// docs/ARCHITECTURE.md.)
func TestTwoReplicasRouteEveryEventOnce(t *testing.T) {
	h := newHarness(t)
	a := h.startBridge(h.temporal, bridge.Config{Lanes: 8})
	b := h.startBridge(h.temporal, bridge.Config{Lanes: 8})
	const n = 300
	prefix := testenv.ID("r") + "-"
	for i := range n {
		user := fmt.Sprintf("%s%04d", prefix, i)
		h.publishBinary(newEvent(t, "evt-"+user, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	}
	h.consumerSettled(60 * time.Second)
	routed := a.count(t, "routed") + b.count(t, "routed")
	t.Logf("replica a routed %v, replica b routed %v", a.count(t, "routed"), b.count(t, "routed"))
	require.Equal(t, float64(n), routed, "every event routed")
	require.Zero(t, a.count(t, "duplicate")+b.count(t, "duplicate"), "no event handled twice")
	h.waitExecutions(n)
	require.Empty(t, h.dlq())
	for _, i := range []int{0, n / 2, n - 1} {
		h.waitExists(fmt.Sprintf("onboarding-%s%04d", prefix, i))
	}
}
