package bridge_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// signal_with_start to a closed workflow under id_reuse_policy reject_duplicate: Temporal
// answers "already started" (the closed run), which no retry changes. The route's policy
// decides once: the event is dead-lettered, delivered once, with a reason naming the policy.
func TestSignalWithStartToClosedWorkflowDecidesOnce(t *testing.T) {
	h, _ := recorderHarness(t, "")
	rb := h.startBridge(h.temporal, bridge.Config{SignalWait: time.Second})
	key := testenv.ID("k")

	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.swstart", map[string]string{"key": key}))
	h.waitStatus("rec-"+key, running, 10*time.Second)
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.stop", map[string]string{"key": key}))
	h.waitStatus("rec-"+key, enums.WORKFLOW_EXECUTION_STATUS_CANCELED, 10*time.Second)

	late := newEvent(t, testenv.ID("evt-"), "test.swstart", map[string]string{"key": key})
	h.publishBinary(late)
	h.consumerSettled(20 * time.Second)

	outs := rb.recorder.byEvent(late.ID())
	require.Len(t, outs, 1, "the late event is decided on its first delivery: %+v", outs)
	require.Equal(t, bridge.OutcomeDeadLettered, outs[0].Outcome)
	dl := h.dlq()
	require.Len(t, dl, 1)
	require.Equal(t, late.ID(), dl[0].Header.Get("ce-id"))
	reason := dl[0].Header.Get(events.HeaderError)
	require.True(t, strings.Contains(reason, "is closed") && strings.Contains(reason, "id_reuse_policy reject_duplicate"), "reason: %s", reason)
	require.Zero(t, rb.count(t, bridge.OutcomeRetried))
}

// slowTemporal is the real Temporal client, except that starting one workflow id takes
// `delay` longer, as under a struggling Temporal; it counts the starts per workflow id.
type slowTemporal struct {
	client.Client
	workflowID string
	delay      time.Duration
	mu         sync.Mutex
	starts     map[string]int
}

func (s *slowTemporal) WorkflowService() workflowservice.WorkflowServiceClient {
	return slowService{WorkflowServiceClient: s.Client.WorkflowService(), t: s}
}

func (s *slowTemporal) startsOf(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts[id]
}

type slowService struct {
	workflowservice.WorkflowServiceClient
	t *slowTemporal
}

func (s slowService) StartWorkflowExecution(ctx context.Context, req *workflowservice.StartWorkflowExecutionRequest, opts ...grpc.CallOption) (*workflowservice.StartWorkflowExecutionResponse, error) {
	s.t.mu.Lock()
	s.t.starts[req.GetWorkflowId()]++
	s.t.mu.Unlock()
	if req.GetWorkflowId() == s.t.workflowID {
		select {
		case <-time.After(s.t.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.WorkflowServiceClient.StartWorkflowExecution(ctx, req, opts...)
}

// Messages held by the bridge — one waiting on a slow Temporal call, others queued in the
// same lane behind it, more than a lane used to queue before the consumer's callback
// blocked with the rest in the client's buffer — are kept from redelivery with InProgress:
// with a 2s AckWait and a call that takes three times as long, every event is delivered
// once and started once.
func TestHeldMessagesAreNotRedelivered(t *testing.T) {
	h := newHarness(t)
	const ackWait = 2 * time.Second
	slowUser, slow := signup(t)
	tc := &slowTemporal{Client: h.temporal, workflowID: "onboarding-" + slowUser, delay: 3 * ackWait, starts: map[string]int{}}
	rb := h.startBridge(tc, bridge.Config{Lanes: 1, AckWait: ackWait, CallTimeout: 30 * time.Second})

	h.publishBinary(slow)
	users := []string{slowUser}
	evs := []events.Event{slow}
	for range 40 {
		u, ev := signup(t)
		h.publishBinary(ev)
		users, evs = append(users, u), append(evs, ev)
	}
	h.consumerSettled(60 * time.Second)

	for i, ev := range evs {
		outs := rb.recorder.byEvent(ev.ID())
		require.Len(t, outs, 1, "event %d: delivered once: %+v", i, outs)
		require.Equal(t, uint64(1), outs[0].Delivered, "event %d", i)
		require.Equal(t, bridge.OutcomeRouted, outs[0].Outcome, "event %d", i)
		require.Equal(t, 1, tc.startsOf("onboarding-"+users[i]), "event %d: started once", i)
	}
	s, err := h.nats.JS.Stream(context.Background(), events.Stream)
	require.NoError(t, err)
	c, err := s.Consumer(context.Background(), events.BridgeConsumer)
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered)
	require.Positive(t, rb.counter(t, "flowbridge_bridge_ack_extensions_total"), "the held messages' deadlines were extended")
	require.Empty(t, h.dlq())
}

// counter sums a counter (or gauge) metric over its labels.
func (rb *runningBridge) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := rb.reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return n
}

// exhaustedCount reads flowbridge_bridge_retries_exhausted_total{type,route}.
func (rb *runningBridge) exhaustedCount(t *testing.T, typ, route string) float64 {
	t.Helper()
	mfs, err := rb.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "flowbridge_bridge_retries_exhausted_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["route"] == route {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// An event that keeps failing transiently (here: a namespace Temporal does not know,
// which an operator may yet create) is retried until the limit its routes file sets,
// then dead-lettered once with the last error, and counted.
func TestRetriesExhaustedAfterMaxAttempts(t *testing.T) {
	h, _ := recorderHarness(t, "max_attempts: 3\n")
	namespace := testenv.ID("no-such-namespace-")
	rb := h.startBridge(h.temporal, bridge.Config{Namespace: namespace})
	ev := newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": testenv.ID("k")})
	h.publishBinary(ev)
	h.consumerSettled(30 * time.Second)

	outs := rb.recorder.byEvent(ev.ID())
	require.Len(t, outs, 3, "outcomes: %+v", outs)
	require.Equal(t, bridge.OutcomeRetried, outs[0].Outcome)
	require.Equal(t, bridge.OutcomeRetried, outs[1].Outcome)
	require.Equal(t, bridge.OutcomeDeadLettered, outs[2].Outcome)
	require.Equal(t, uint64(3), outs[2].Delivered)
	dl := h.dlq()
	require.Len(t, dl, 1)
	reason := dl[0].Header.Get(events.HeaderError)
	require.True(t, strings.HasPrefix(reason, "retries exhausted after 3 attempts / "), "reason: %s", reason)
	require.Contains(t, reason, "(route start-recorder: max_attempts 3)")
	require.Contains(t, reason, namespace, "the last error is kept")
	require.Equal(t, 1.0, rb.exhaustedCount(t, "test.start", "start-recorder"))
}

// Without a limit in the routes file, the bridge's own applies: here a maximum age.
func TestRetriesExhaustedAfterMaxAge(t *testing.T) {
	h, _ := recorderHarness(t, "")
	rb := h.startBridge(h.temporal, bridge.Config{Namespace: testenv.ID("no-such-namespace-"), MaxRetryAge: 2 * time.Second})
	ev := newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": testenv.ID("k")})
	h.publishBinary(ev)
	h.consumerSettled(30 * time.Second)

	outs := rb.recorder.byEvent(ev.ID())
	require.GreaterOrEqual(t, len(outs), 2, "retried before it was given up: %+v", outs)
	last := outs[len(outs)-1]
	require.Equal(t, bridge.OutcomeDeadLettered, last.Outcome)
	for _, o := range outs[:len(outs)-1] {
		require.Equal(t, bridge.OutcomeRetried, o.Outcome)
	}
	dl := h.dlq()
	require.Len(t, dl, 1)
	reason := dl[0].Header.Get(events.HeaderError)
	require.Contains(t, reason, "retries exhausted after ")
	require.Contains(t, reason, "(BRIDGE_MAX_RETRY_AGE 2s)")
	require.Equal(t, 1.0, rb.exhaustedCount(t, "test.start", "start-recorder"))
}

// A signal waiting for its workflow is waiting, not failing: BRIDGE_SIGNAL_WAIT bounds it,
// not the attempt limit.
func TestEarlySignalIsNotExhausted(t *testing.T) {
	h, _ := recorderHarness(t, "")
	rb := h.startBridge(h.temporal, bridge.Config{MaxAttempts: 2})
	key := testenv.ID("k")
	note := newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": key})
	h.publishBinary(note)
	testenv.Eventually(t, 20*time.Second, func() bool { return len(rb.recorder.byEvent(note.ID())) >= 3 }, "the early signal was not retried past the attempt limit")

	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": key}))
	h.waitStatus("rec-"+key, running, 10*time.Second)
	testenv.Eventually(t, 20*time.Second, func() bool { return len(h.recorderState("rec-"+key).Notes) == 1 }, "the signal was not delivered")
	require.Equal(t, []string{note.ID()}, h.recorderState("rec-"+key).Notes)
	require.Empty(t, h.dlq())
	require.Zero(t, rb.exhaustedCount(t, "test.note", "note"))
}

// Events for one workflow id queue in one lane. Behind a slow start, more of them than a
// lane used to buffer (the consumer's callback then blocked and the rest waited in the
// client's buffer, out of reach) are all held and extended: each is delivered once, and
// the workflow takes every signal in order.
func TestHotLaneMessagesAreNotRedelivered(t *testing.T) {
	h, _ := recorderHarness(t, "")
	const ackWait = 2 * time.Second
	key := testenv.ID("k")
	tc := &slowTemporal{Client: h.temporal, workflowID: "rec-" + key, delay: 3 * ackWait, starts: map[string]int{}}
	rb := h.startBridge(tc, bridge.Config{Lanes: 4, AckWait: ackWait, CallTimeout: 30 * time.Second})

	start := newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": key})
	h.publishBinary(start)
	var notes []string
	for range 28 { // MaxAckPending is 8 × 4 lanes: the start and 28 notes stay under it
		ev := newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": key})
		h.publishBinary(ev)
		notes = append(notes, ev.ID())
	}
	h.consumerSettled(60 * time.Second)

	require.Equal(t, 1, tc.startsOf("rec-"+key))
	for i, id := range append([]string{start.ID()}, notes...) {
		outs := rb.recorder.byEvent(id)
		require.Len(t, outs, 1, "event %d: delivered once: %+v", i, outs)
		require.Equal(t, uint64(1), outs[0].Delivered, "event %d", i)
		require.Equal(t, bridge.OutcomeRouted, outs[0].Outcome, "event %d", i)
	}
	require.Equal(t, notes, h.recorderState("rec-"+key).Notes)
	require.Empty(t, h.dlq())
}
