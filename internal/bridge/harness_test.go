package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/telemetry"
	"github.com/flowbridge/flowbridge/internal/telemetry/temporaltrace"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workerapp"
	"github.com/flowbridge/flowbridge/internal/workflows"
	"github.com/flowbridge/flowbridge/schemas"
)

// harness is one test's world: its own NATS server and streams, a task queue of its own
// on the shared Temporal dev server, and (on demand) a worker with real activities.
type harness struct {
	t         *testing.T
	nats      *testenv.NATS
	temporal  client.Client
	taskQueue string
	pub       *events.Publisher
	store     *store.Store
	mailAPI   string
	routes    *routing.Table  // nil: the default routes
	schemas   *events.Schemas // nil: schemas/
	// tracing, when set, is the tracer provider of startWorker's worker: the SDK's
	// tracing interceptor, and result events published with their trace context.
	tracing trace.TracerProvider
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, nats: testenv.StartNATS(t), temporal: testenv.Temporal(t), taskQueue: testenv.ID("test-")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, events.EnsureStreams(ctx, h.nats.JS, 2*time.Minute))
	h.pub = events.NewPublisher(h.nats.JS)
	return h
}

// runningBridge is a bridge running in this process.
type runningBridge struct {
	reg      *prometheus.Registry
	stop     func()
	recorder *recorder
}

// recorder keeps every outcome the bridge records.
type recorder struct {
	mu       sync.Mutex
	outcomes []bridge.Outcome
}

func (r *recorder) Record(o bridge.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
}

// all returns a copy of every recorded outcome.
func (r *recorder) all() []bridge.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.Outcome(nil), r.outcomes...)
}

// byEvent returns the recorded outcomes of one event id, in the order recorded.
func (r *recorder) byEvent(id string) []bridge.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []bridge.Outcome
	for _, o := range r.outcomes {
		if o.EventID == id {
			out = append(out, o)
		}
	}
	return out
}

func (h *harness) startBridge(tc bridge.Temporal, cfg bridge.Config) *runningBridge {
	h.t.Helper()
	sch := h.schemas
	var err error
	if sch == nil {
		sch, err = events.LoadSchemas(schemas.FS)
		require.NoError(h.t, err)
	}
	routes := h.routes
	if routes == nil {
		routes, err = routing.Default()
		require.NoError(h.t, err)
	}
	reg := prometheus.NewRegistry()
	cfg.TaskQueue = h.taskQueue
	rec := &recorder{}
	cfg.Recorder = rec
	b, err := bridge.New(h.nats.JS, tc, sch, routes, newMetrics(h.t, reg), testenv.Logger(h.t), cfg)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.t.Errorf("bridge.Run: %v", err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.t.Cleanup(stop)
	return &runningBridge{reg: reg, stop: stop, recorder: rec}
}

// count reads flowbridge_bridge_events_total{outcome} summed over types.
func (rb *runningBridge) count(t *testing.T, outcome string) float64 {
	t.Helper()
	mfs, err := rb.reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "flowbridge_bridge_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// startWorker runs a worker on the harness's task queue with real activities: a fresh
// PostgreSQL schema, mailpit, stripe-mock and the harness's NATS.
func (h *harness) startWorker(cfg workflows.OnboardingConfig) {
	h.t.Helper()
	smtpAddr, apiAddr := testenv.Mailpit(h.t)
	stripeBase := testenv.StripeMock(h.t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, testenv.Postgres(h.t))
	require.NoError(h.t, err)
	h.t.Cleanup(st.Close)
	mailer, err := mail.New(mail.Config{Addr: smtpAddr, From: "flowbridge <no-reply@flowbridge.test>", TLS: mail.TLSNone})
	require.NoError(h.t, err)
	acts := &activities.Activities{
		Store: st, Mailer: mailer, Stripe: activities.NewStripeClient("sk_test_123", stripeBase),
		Publisher: telemetry.TracePublisher(h.pub, h.tracing), Log: testenv.Logger(h.t), AppURL: "http://app.test",
	}
	require.NoError(h.t, acts.Validate())
	var opts worker.Options
	tracers, err := temporaltrace.Interceptors(h.tracing)
	require.NoError(h.t, err)
	for _, i := range tracers { // client interceptors in production; a worker's own here
		opts.Interceptors = append(opts.Interceptors, i.(interceptor.WorkerInterceptor))
	}
	w := worker.New(h.temporal, h.taskQueue, opts)
	workerapp.Register(w, acts, nil, workerapp.Workflows{Onboarding: cfg})
	require.NoError(h.t, w.Start())
	h.t.Cleanup(w.Stop)
	h.store, h.mailAPI = st, apiAddr
}

func newEvent(t *testing.T, id, typ string, data any) events.Event {
	t.Helper()
	ev := cloudevents.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource("/tests/" + t.Name())
	ev.SetTime(time.Now())
	require.NoError(t, ev.SetData(cloudevents.ApplicationJSON, data))
	return ev
}

// publishBinary publishes ev in binary content mode through the project's publisher.
func (h *harness) publishBinary(ev events.Event) {
	h.t.Helper()
	_, err := h.pub.Publish(context.Background(), ev)
	require.NoError(h.t, err)
}

// publishStructured publishes ev as a structured-mode message, the way a publisher in
// another language would.
func (h *harness) publishStructured(ev events.Event) {
	h.t.Helper()
	body, err := json.Marshal(ev)
	require.NoError(h.t, err)
	m := nats.NewMsg(events.Subject(ev.Type()))
	m.Header.Set("Content-Type", "application/cloudevents+json")
	m.Header.Set(events.HeaderMsgID, ev.ID())
	m.Data = body
	h.publishRaw(m)
}

func (h *harness) publishRaw(m *nats.Msg) {
	h.t.Helper()
	_, err := h.nats.JS.PublishMsg(context.Background(), m)
	require.NoError(h.t, err)
}

// describe returns the workflow's status, or UNSPECIFIED if it does not exist.
func (h *harness) status(id string) enums.WorkflowExecutionStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := h.temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
	}
	return d.GetWorkflowExecutionInfo().GetStatus()
}

func (h *harness) waitStatus(id string, want enums.WorkflowExecutionStatus, timeout time.Duration) {
	h.t.Helper()
	testenv.Eventually(h.t, timeout, func() bool { return h.status(id) == want }, "workflow %s: status %s, want %s", id, h.status(id), want)
}

// waitExists waits up to 10s for the workflow to exist, in whatever status.
func (h *harness) waitExists(id string) {
	h.t.Helper()
	testenv.Eventually(h.t, 10*time.Second, func() bool { return h.status(id) != enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED }, "workflow %s was not started", id)
}

// memo returns the workflow's memo as strings.
func (h *harness) memo(id string) map[string]string {
	h.t.Helper()
	d, err := h.temporal.DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(h.t, err)
	out := map[string]string{}
	for k, p := range d.GetWorkflowExecutionInfo().GetMemo().GetFields() {
		var s string
		require.NoError(h.t, converter.GetDefaultDataConverter().FromPayload(p, &s))
		out[k] = s
	}
	return out
}

// consumerSettled waits until the bridge consumer has acked everything in the stream
// (a NAKed message waiting for redelivery is not settled).
func (h *harness) consumerSettled(timeout time.Duration) {
	h.t.Helper()
	ctx := context.Background()
	var info *jetstream.ConsumerInfo
	testenv.Eventually(h.t, timeout, func() bool {
		s, err := h.nats.JS.Stream(ctx, events.Stream)
		if err != nil {
			return false
		}
		si, err := s.Info(ctx)
		if err != nil {
			return false
		}
		c, err := s.Consumer(ctx, events.BridgeConsumer)
		if err != nil {
			return false
		}
		info, err = c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= si.State.LastSeq
	}, "consumer %s did not settle: %+v", events.BridgeConsumer, info)
}

// dlq returns every dead letter stored so far.
func (h *harness) dlq() []*jetstream.RawStreamMsg {
	h.t.Helper()
	ctx := context.Background()
	s, err := h.nats.JS.Stream(ctx, events.DLQStream)
	require.NoError(h.t, err)
	info, err := s.Info(ctx)
	require.NoError(h.t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(h.t, err)
		out = append(out, m)
	}
	return out
}

// lastEvent returns the last event stored on events.<typ>, decoded.
func (h *harness) lastEvent(typ string) (events.Event, bool) {
	s, err := h.nats.JS.Stream(context.Background(), events.Stream)
	if err != nil {
		return events.Event{}, false
	}
	m, err := s.GetLastMsgForSubject(context.Background(), events.Subject(typ))
	if err != nil {
		return events.Event{}, false
	}
	ev, err := events.Decode(m.Header, m.Data)
	require.NoError(h.t, err)
	return ev, true
}

// mailsTo counts the messages mailpit holds for address.
func (h *harness) mailsTo(address string) int {
	h.t.Helper()
	return len(testenv.MailTo(h.t, h.mailAPI, address))
}

// newMetrics returns the bridge's metrics registered with reg, failing tb if reg refuses
// them.
func newMetrics(tb testing.TB, reg prometheus.Registerer) *bridge.Metrics {
	tb.Helper()
	m, err := bridge.NewMetrics(reg)
	require.NoError(tb, err)
	return m
}
