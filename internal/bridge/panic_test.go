package bridge_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// panickingTemporal is the real Temporal client, except that starting one workflow id
// panics, as a bug on the way to Temporal would.
type panickingTemporal struct {
	client.Client
	workflowID string
}

func (p panickingTemporal) WorkflowService() workflowservice.WorkflowServiceClient {
	return panickingService{WorkflowServiceClient: p.Client.WorkflowService(), workflowID: p.workflowID}
}

type panickingService struct {
	workflowservice.WorkflowServiceClient
	workflowID string
}

func (s panickingService) StartWorkflowExecution(ctx context.Context, req *workflowservice.StartWorkflowExecutionRequest, opts ...grpc.CallOption) (*workflowservice.StartWorkflowExecutionResponse, error) {
	if req.GetWorkflowId() == s.workflowID {
		panic("test: starting " + s.workflowID)
	}
	return s.WorkflowServiceClient.StartWorkflowExecution(ctx, req, opts...)
}

// panickingRecorder keeps outcomes like recorder, but panics on those of one event.
type panickingRecorder struct {
	recorder
	eventID string
}

func (r *panickingRecorder) Record(o bridge.Outcome) {
	if o.EventID == r.eventID {
		panic("test: recording " + r.eventID)
	}
	r.recorder.Record(o)
}

// startPanickingBridge runs a bridge with one lane, so that every event after a panic is
// handled by the goroutine that panicked.
func (h *harness) startPanickingBridge(tc bridge.Temporal, rec bridge.Recorder) {
	h.t.Helper()
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(h.t, err)
	routes, err := routing.Default()
	require.NoError(h.t, err)
	cfg := bridge.Config{TaskQueue: h.taskQueue, Lanes: 1, Recorder: rec}
	b, err := bridge.New(h.nats.JS, tc, sch, routes, newMetrics(h.t, prometheus.NewRegistry()), testenv.Logger(h.t), cfg)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.t.Errorf("bridge.Run: %v", err)
		}
	})
	h.t.Cleanup(func() { cancel(); wg.Wait() })
}

func signup(t *testing.T) (user string, ev events.Event) {
	user = testenv.ID("u-")
	return user, newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com", "name": "Ada"})
}

// TestPanicWhileRoutingDeadLettersTheEvent: a panic while an event is handed to Temporal
// dead-letters that event with the panic as its reason; the lane goes on and the next
// event is routed.
func TestPanicWhileRoutingDeadLettersTheEvent(t *testing.T) {
	h := newHarness(t)
	badUser, bad := signup(t)
	goodUser, good := signup(t)
	rec := &recorder{}
	h.startPanickingBridge(panickingTemporal{Client: h.temporal, workflowID: "onboarding-" + badUser}, rec)

	h.publishBinary(bad)
	h.publishBinary(good)

	h.waitExists("onboarding-" + goodUser)
	h.consumerSettled(30 * time.Second)
	dl := h.dlq()
	require.Len(t, dl, 1, "dead letters: got %d, want 1", len(dl))
	require.Equal(t, bad.ID(), dl[0].Header.Get("ce-id"))
	require.Equal(t, "internal error: panic: test: starting onboarding-"+badUser, dl[0].Header.Get(events.HeaderError))
	outs := rec.byEvent(bad.ID())
	require.Len(t, outs, 1, "outcomes of the panicking event: got %d, want 1 (settled once)", len(outs))
	require.Equal(t, bridge.OutcomeDeadLettered, outs[0].Outcome)
	require.Equal(t, bridge.OutcomeRouted, rec.byEvent(good.ID())[0].Outcome)
}

// TestPanickingRecorderDoesNotDecideTheEvent: a Recorder that panics on one event's
// outcome costs that outcome only: the event is routed and settled once, and the next
// one is routed too.
func TestPanickingRecorderDoesNotDecideTheEvent(t *testing.T) {
	h := newHarness(t)
	firstUser, first := signup(t)
	secondUser, second := signup(t)
	rec := &panickingRecorder{eventID: first.ID()}
	h.startPanickingBridge(h.temporal, rec)

	h.publishBinary(first)
	h.publishBinary(second)

	h.waitExists("onboarding-" + firstUser)
	h.waitExists("onboarding-" + secondUser)
	h.consumerSettled(30 * time.Second)
	require.Empty(t, h.dlq())
	require.Empty(t, rec.byEvent(first.ID()))
	require.Equal(t, bridge.OutcomeRouted, rec.byEvent(second.ID())[0].Outcome)

	// Settled once, and acked: the consumer delivered each message once.
	s, err := h.nats.JS.Stream(context.Background(), events.Stream)
	require.NoError(t, err)
	c, err := s.Consumer(context.Background(), events.BridgeConsumer)
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(2), info.Delivered.Stream)
	require.Zero(t, info.NumRedelivered)
}
