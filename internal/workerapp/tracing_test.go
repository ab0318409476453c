package workerapp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

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
