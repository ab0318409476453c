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

// counter sums a counter metric over its labels.
func (rb *runningBridge) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := rb.reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
