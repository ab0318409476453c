package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// collector is an OTLP/HTTP trace collector that keeps every span it is sent.
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

// byName returns the spans of trace traceID, by name.
func (c *collector) byName(traceID []byte) map[string]*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*tracepb.Span{}
	for _, s := range c.spans {
		if bytes.Equal(s.GetTraceId(), traceID) {
			out[s.GetName()] = s
		}
	}
	return out
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the bridge process exports the spans of a request
// to POST /events (the child of its traceparent header), of the publish, and of the
// bridge's delivery, all in the caller's trace, flushed when it stops.
func TestBridgeExportsTraces(t *testing.T) {
	col := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL) // the exporter reads it itself
	b := newTestBridgeWith(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL, "INGRESS_EVENTS_OPEN": "true"})
	stop, done, runErr := b.start(t)

	traceID, spanID := make([]byte, 16), make([]byte, 8)
	_, _ = rand.Read(traceID)
	_, _ = rand.Read(spanID)
	id := testenv.ID("evt-")
	body := `{"specversion":"1.0","id":"` + id + `","type":"payment.processed","source":"/tests",` +
		`"datacontenttype":"application/json","data":{"payment_id":"p","tenant_id":"t","notification_id":"n"}}`
	var status int
	testenv.Eventually(t, 30*time.Second, func() bool { // until the stream exists
		req, err := http.NewRequest(http.MethodPost, b.public+"/events", bytes.NewBufferString(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set("traceparent", "00-"+hex.EncodeToString(traceID)+"-"+hex.EncodeToString(spanID)+"-01")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		status = res.StatusCode
		return status == http.StatusAccepted
	}, "POST /events: got %d, want 202", status)

	// The bridge acked it (no route takes payment.processed: ignored).
	testenv.Eventually(t, 30*time.Second, func() bool {
		c, err := b.nats.JS.Consumer(context.Background(), events.Stream, events.BridgeConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream >= 1
	}, "the bridge did not ack the event")
	stop()
	<-done
	require.NoError(t, *runErr)

	spans := col.byName(traceID)
	server, published, processed := spans["POST /events"], spans["publish events.payment.processed"], spans["process events.payment.processed"]
	require.NotNil(t, server, "got spans %v", spans)
	require.NotNil(t, published, "got spans %v", spans)
	require.NotNil(t, processed, "got spans %v", spans)
	require.Equal(t, spanID, server.GetParentSpanId(), "the request's span is the child of its traceparent")
	require.Equal(t, server.GetSpanId(), published.GetParentSpanId())
	require.Equal(t, published.GetSpanId(), processed.GetParentSpanId())
}

// The worker's client carries the SDK's tracing interceptor, and the worker built on it
// runs it: a workflow started within a span runs in that span's trace, its activity too.
func TestWorkerClientTracesWorkflows(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	log := testenv.Logger(t)
	queue := testenv.ID("traced-")
	cfg, err := config.LoadWorker(nil, func(k string) string {
		return map[string]string{"STRIPE_API_KEY": "sk_test_1", "TEMPORAL_ADDRESS": testenv.TemporalAddress(), "TEMPORAL_TASK_QUEUE": queue}[k]
	})
	require.NoError(t, err)
	testenv.Temporal(t) // skips or fails, saying how to start it, without a dev server
	web, err := newWorkerHTTP("127.0.0.1:0", log, nil, nil)
	require.NoError(t, err)
	opts, err := workerClientOptions(cfg, log, web, tp)
	require.NoError(t, err)
	tc, err := client.DialContext(t.Context(), opts)
	require.NoError(t, err)
	defer tc.Close()
	ctx, fatal := context.WithCancelCause(t.Context())
	defer fatal(nil)
	w := newTemporalWorker(tc, cfg, web, fatal)
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) (string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
		var out string
		err := workflow.ExecuteActivity(ctx, "Hello").Get(ctx, &out)
		return out, err
	}, workflow.RegisterOptions{Name: "Traced"})
	w.RegisterActivityWithOptions(func(context.Context) (string, error) { return "hello", nil }, activity.RegisterOptions{Name: "Hello"})
	require.NoError(t, w.Start())
	defer w.Stop()

	spanCtx, caller := tp.Tracer("test").Start(ctx, "caller")
	run, err := tc.ExecuteWorkflow(spanCtx, client.StartWorkflowOptions{TaskQueue: queue}, "Traced")
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	caller.End()

	want := map[string]bool{"RunWorkflow:Traced": false, "RunActivity:Hello": false}
	testenv.Eventually(t, 10*time.Second, func() bool {
		for _, s := range rec.Ended() {
			if _, ok := want[s.Name()]; ok && s.SpanContext().TraceID() == caller.SpanContext().TraceID() {
				want[s.Name()] = true
			}
		}
		return want["RunWorkflow:Traced"] && want["RunActivity:Hello"]
	}, "spans in the caller's trace: %v", want)
}
