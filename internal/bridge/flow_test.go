package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// OneNote is a test workflow that completes with the event id of its first "note" signal.
func OneNote(ctx workflow.Context, _ any) (string, error) {
	var id string
	sel := workflow.NewSelector(ctx)
	workflows.NewSignalInbox(ctx, "note").AddTo(ctx, sel, func(ev contract.Event) { id = ev.ID })
	sel.Select(ctx)
	return id, nil
}

// oneNoteHarness routes test.start to OneNote workflows "one-<key>", test.note to their
// "note" signal, and test.swstart to unrelated OneNote workflows "other-<key>", on a
// worker of the test's own.
func oneNoteHarness(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t)
	queue := testenv.ID("one-")
	w := worker.New(h.temporal, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(OneNote, workflow.RegisterOptions{Name: "OneNote"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	routes, err := routing.Parse([]byte(fmt.Sprintf(`
routes:
  - name: start-one
    events: [test.start]
    action: start
    workflow: OneNote
    task_queue: %[1]s
    id: 'one-{{ .data.key }}'
    input: data
  - name: note
    events: [test.note]
    action: signal
    signal: note
    id: 'one-{{ .data.key }}'
  - name: start-other
    events: [test.swstart]
    action: start
    workflow: OneNote
    task_queue: %[1]s
    id: 'other-{{ .data.key }}'
    input: data
`, queue)), "test routes")
	require.NoError(t, err)
	h.routes, h.schemas = routes, withTestTypes(t)
	return h, queue
}

// countWorkflows counts the executions matching query on the harness's server.
func countWorkflows(t *testing.T, c client.Client, query string) int64 {
	t.Helper()
	resp, err := c.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return -1
	}
	return resp.GetCount()
}

// 2,000 signals that overtake their workflows' starts (a bulk import, a DLQ replay) wait
// in EVENTS_WAITING, not in EVENTS' ack-pending window: EVENTS settles while they wait,
// unrelated starts published among them are routed, and once the starts arrive every
// workflow gets its signal and completes; nothing is dead-lettered.
func TestEarlySignalsWaitOutsideTheWindow(t *testing.T) {
	const n, unrelated = 2000, 200
	h, _ := oneNoteHarness(t)
	rb := h.startBridge(h.temporal, bridge.Config{})
	prefix := testenv.ID("k") + "-"
	key := func(i int) string { return fmt.Sprintf("%s%05d", prefix, i) }

	notes := map[string]string{} // workflow id → the id of the note sent to it
	for i := range n {
		ev := newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": key(i)})
		notes["one-"+key(i)] = ev.ID()
		h.publishBinary(ev)
		if i%(n/unrelated) == 0 {
			h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.swstart", map[string]string{"key": key(i)}))
		}
	}
	testenv.Eventually(t, 3*time.Minute, func() bool { return rb.count(t, bridge.OutcomeWaiting) == n },
		"%v of %d early signals parked", rb.count(t, bridge.OutcomeWaiting), n)
	h.consumerSettled(time.Minute) // every early signal acked on EVENTS: none holds a slot there
	require.Equal(t, float64(unrelated), rb.count(t, bridge.OutcomeRouted), "the unrelated starts among them were routed")

	for i := range n {
		h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": key(i)}))
	}
	// Every workflow completes with the note sent to it. Read from each workflow's history
	// (a long poll per workflow), not from visibility, which lags on a loaded server.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := range n {
		id := "one-" + key(i)
		var got string
		var err error
		for { // it may not be started yet
			if err = h.temporal.GetWorkflow(ctx, id, "").Get(ctx, &got); !errors.As(err, new(*serviceerror.NotFound)) || ctx.Err() != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.NoError(t, err, "workflow %s (%d of %d)", id, i, n)
		require.Equal(t, notes[id], got, "workflow %s got its own note", id)
	}
	require.Empty(t, h.dlq(), "nothing dead-lettered")
	require.Zero(t, rb.count(t, bridge.OutcomeDeadLettered))
	// Delivered signals leave EVENTS_WAITING (woken ones are deleted, retried ones acked).
	s, err := h.nats.JS.Stream(context.Background(), events.WaitingStream)
	require.NoError(t, err)
	c, err := s.Consumer(context.Background(), events.WaitingConsumer)
	require.NoError(t, err)
	testenv.Eventually(t, time.Minute, func() bool {
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "EVENTS_WAITING still holds signals")
	require.Positive(t, rb.counter(t, "flowbridge_bridge_signals_woken_total"), "the starts woke their signals")
	for _, id := range []string{notes["one-"+key(0)], notes["one-"+key(n-1)]} {
		outs := rb.recorder.byEvent(id)
		require.Equal(t, bridge.OutcomeWaiting, outs[0].Outcome, "parked first")
		require.Equal(t, bridge.OutcomeRouted, outs[len(outs)-1].Outcome, "then delivered, and recorded so: %+v", outs)
	}
}

// A hot workflow id (1,000 signals queued for it) does not hold up other ids: the starts
// published after them all settle while most of the hot signals still wait their turn,
// and the hot workflow takes its signals in the order they were published.
func TestHotWorkflowIDDoesNotHoldUpOthers(t *testing.T) {
	const hotNotes, others = 1000, 100
	h, _ := recorderHarness(t, "")
	rb := h.startBridge(h.temporal, bridge.Config{})
	hot := testenv.ID("hot")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": hot}))
	h.waitStatus("rec-"+hot, running, 10*time.Second)

	var sent []string
	for range hotNotes {
		ev := newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": hot})
		sent = append(sent, ev.ID())
		h.publishBinary(ev)
	}
	var otherIDs []string
	for range others {
		ev := newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": testenv.ID("cold")})
		otherIDs = append(otherIDs, ev.ID())
		h.publishBinary(ev)
	}
	h.consumerSettled(3 * time.Minute)
	require.Empty(t, h.dlq())

	settled := func(id string) time.Time {
		outs := rb.recorder.byEvent(id)
		require.Len(t, outs, 1, "event %s handled once", id)
		require.Equal(t, bridge.OutcomeRouted, outs[0].Outcome)
		return outs[0].SettledAt
	}
	var lastOther time.Time
	for _, id := range otherIDs {
		if at := settled(id); at.After(lastOther) {
			lastOther = at
		}
	}
	hotDone := make([]time.Time, len(sent))
	for i, id := range sent {
		hotDone[i] = settled(id)
	}
	// Published after all 1,000, the other ids were done before the hot one's 900th
	// signal: they did not queue behind it.
	require.True(t, lastOther.Before(hotDone[hotNotes-hotNotes/10]),
		"last other start settled at %v, the hot id's signal %d at %v", lastOther, hotNotes-hotNotes/10, hotDone[hotNotes-hotNotes/10])
	for i := 1; i < len(hotDone); i++ {
		require.False(t, hotDone[i].Before(hotDone[i-1]), "signal %d settled before signal %d of the same workflow", i, i-1)
	}
	require.Equal(t, sent, h.recorderState("rec-"+hot).Notes, "the hot workflow took its signals in order")
}

// Against a Temporal that throttles (a dev server whose namespace takes 50 requests a
// second), the bridge drains a 2,000-event backlog completely at the pace Temporal takes:
// it retries throttled calls in place behind a pause rather than NAKing them, so NAKs stay
// under one per ten starts, no delivery passes AckWait, and nothing is dead-lettered.
func TestThrottledTemporalDrainsWithoutNAKs(t *testing.T) {
	const n = 2000
	throttled := testenv.StartTemporal(t, "--dynamic-config-value", "frontend.namespaceRPS=50",
		"--dynamic-config-value", "frontend.namespaceBurstRatio=1")
	h := newHarness(t)
	prefix := testenv.ID("t") + "-"
	for i := range n {
		user := fmt.Sprintf("%s%05d", prefix, i)
		h.publishBinary(newEvent(t, "evt-"+user, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	}
	rb := h.startBridge(throttled, bridge.Config{})
	h.consumerSettled(5 * time.Minute)

	require.Equal(t, float64(n), rb.count(t, bridge.OutcomeRouted), "every event routed once")
	naks := rb.count(t, bridge.OutcomeRetried)
	require.Less(t, naks/n, 0.1, "%v NAKs for %d starts", naks, n)
	s, err := h.nats.JS.Stream(context.Background(), events.Stream)
	require.NoError(t, err)
	c, err := s.Consumer(context.Background(), events.BridgeConsumer)
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered, "no delivery passed AckWait")
	require.Empty(t, h.dlq())
	require.Positive(t, rb.counter(t, "flowbridge_bridge_temporal_throttled_total"), "Temporal did throttle the bridge")
	q := fmt.Sprintf("TaskQueue = '%s'", h.taskQueue)
	testenv.Eventually(t, time.Minute, func() bool { return countWorkflows(t, throttled, q) == n }, "want %d workflows", n)
	t.Logf("%v NAKs for %d starts; %v throttled answers; concurrency limit at the end %v", naks, n,
		rb.counter(t, "flowbridge_bridge_temporal_throttled_total"), rb.counter(t, "flowbridge_bridge_concurrency_limit"))
}

// Two replicas park and wake the same workflows' early signals: each replica parks what it
// takes, and a start routed by either wakes the signals parked by both (its own wake, the
// other's sampler and retries). Every signal reaches its workflow exactly once: Temporal's
// history holds one WorkflowExecutionSignaled per note event (the request id derived from
// the event id makes a second send a no-op), not only the inbox's deduplicated view.
func TestTwoReplicasWakeParkedSignalsOnce(t *testing.T) {
	const workflows, notesEach = 20, 5
	h, _ := recorderHarness(t, "")
	a := h.startBridge(h.temporal, bridge.Config{})
	b := h.startBridge(h.temporal, bridge.Config{})
	prefix := testenv.ID("w") + "-"
	want := map[string][]string{} // workflow id → its note event ids
	for range notesEach {
		for i := range workflows {
			key := fmt.Sprintf("%s%02d", prefix, i)
			ev := newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": key})
			want["rec-"+key] = append(want["rec-"+key], ev.ID())
			h.publishBinary(ev)
		}
	}
	total := float64(workflows * notesEach)
	testenv.Eventually(t, 2*time.Minute, func() bool { return a.count(t, bridge.OutcomeWaiting)+b.count(t, bridge.OutcomeWaiting) == total },
		"%v + %v of %v early signals parked", a.count(t, bridge.OutcomeWaiting), b.count(t, bridge.OutcomeWaiting), total)
	t.Logf("parked by replica a: %v, by b: %v", a.count(t, bridge.OutcomeWaiting), b.count(t, bridge.OutcomeWaiting))

	for i := range workflows {
		h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": fmt.Sprintf("%s%02d", prefix, i)}))
	}
	for id, notes := range want {
		h.waitExists(id)
		testenv.Eventually(t, 2*time.Minute, func() bool { return len(h.recorderState(id).Notes) == notesEach },
			"%s has %d of %d notes", id, len(h.recorderState(id).Notes), notesEach)
		require.ElementsMatch(t, notes, h.recorderState(id).Notes, "%s took its own notes", id)
		require.Equal(t, notesEach, signalsInHistory(t, h.temporal, id, "note"), "%s: one signal per note event in Temporal's history", id)
	}
	require.Empty(t, h.dlq(), "nothing dead-lettered")
	require.Zero(t, a.count(t, bridge.OutcomeDeadLettered)+b.count(t, bridge.OutcomeDeadLettered))
}

// signalsInHistory counts the signals named name in workflow id's history.
func signalsInHistory(t *testing.T, c client.Client, id, name string) int {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == name {
			n++
		}
	}
	return n
}
