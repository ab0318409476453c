package metrics_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/metrics"
	"github.com/flowbridge/flowbridge/internal/metrics/workermetrics"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

type greeter struct{}

// Greet fails its first attempt (retryably), so the worker sees a retry.
func (*greeter) Greet(ctx context.Context, name string) (string, error) {
	if activity.GetInfo(ctx).Attempt == 1 {
		return "", errors.New("first attempt fails")
	}
	return "hello " + name, nil
}

func (*greeter) Reject(context.Context, string) error {
	return temporal.NewNonRetryableApplicationError("bad name", "InvalidName", nil)
}

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaximumAttempts: 3},
	})
	var g *greeter
	var greeting string
	if err := workflow.ExecuteActivity(ctx, g.Greet, name).Get(ctx, &greeting); err != nil {
		return "", err
	}
	if err := workflow.ExecuteActivity(ctx, g.Reject, name).Get(ctx, nil); err == nil {
		return "", errors.New("Reject succeeded")
	}
	return greeting, nil
}

// TestTemporalWorkerMetrics runs a real worker, with a client using the handler, on the
// Temporal dev server, and reads the SDK's metrics back from the registry under the names
// Temporal's Grafana SDK dashboard queries.
func TestTemporalWorkerMetrics(t *testing.T) {
	testenv.Temporal(t) // skips (or fails under CI) when the dev server is away
	reg := prometheus.NewRegistry()
	tm, err := metrics.NewTemporal(reg, testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tm.Close()) })
	outcomes, err := workermetrics.NewActivityOutcomes(reg)
	require.NoError(t, err)
	namespace := os.Getenv("TEMPORAL_NAMESPACE")
	if namespace == "" {
		namespace = config.DefaultTemporalNamespace
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:       testenv.TemporalAddress(),
		Namespace:      namespace,
		Logger:         logging.NewTemporal(testenv.Logger(t)),
		MetricsHandler: tm.Handler(),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	queue := testenv.ID("test-")
	w := worker.New(c, queue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{outcomes}})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterActivity(&greeter{})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: testenv.ID("metrics-"), TaskQueue: queue}, greetWorkflow, "ada")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "hello ada", got, "got %q, want %q", got, "hello ada")

	onQueue := map[string]string{"task_queue": queue, "namespace": namespace}
	want := []struct {
		name   string
		labels map[string]string
		typ    string
		min    float64 // a counter's value or a histogram's count
	}{
		{name: "temporal_request_total", labels: map[string]string{"operation": "StartWorkflowExecution", "namespace": namespace}, typ: "COUNTER", min: 1},
		{name: "temporal_workflow_task_execution_latency_seconds", labels: with(onQueue, "workflow_type", "greetWorkflow"), typ: "HISTOGRAM", min: 1},
		{name: "temporal_activity_execution_latency_seconds", labels: with(onQueue, "activity_type", "Greet"), typ: "HISTOGRAM", min: 2},
		{name: "temporal_activity_execution_failed_total", labels: with(onQueue, "activity_type", "Reject"), typ: "COUNTER", min: 1},
		{name: "temporal_workflow_completed_total", labels: with(onQueue, "workflow_type", "greetWorkflow"), typ: "COUNTER", min: 1},
		{name: "temporal_num_pollers", labels: with(onQueue, "poller_type", "activity_task"), typ: "GAUGE"},
		{name: "temporal_request_latency_seconds", labels: map[string]string{"operation": "StartWorkflowExecution", "namespace": namespace}, typ: "HISTOGRAM", min: 1},
		{name: "temporal_worker_task_slots_available", labels: with(onQueue, "worker_type", "ActivityWorker"), typ: "GAUGE"},
		{name: workermetrics.ActivitiesMetric, labels: map[string]string{"activity_type": "Greet", "outcome": workermetrics.OutcomeFailed}, typ: "COUNTER", min: 1},
		{name: workermetrics.ActivitiesMetric, labels: map[string]string{"activity_type": "Greet", "outcome": workermetrics.OutcomeSucceeded}, typ: "COUNTER", min: 1},
		{name: workermetrics.ActivitiesMetric, labels: map[string]string{"activity_type": "Reject", "outcome": workermetrics.OutcomeNonRetryable}, typ: "COUNTER", min: 1},
	}
	// Some are recorded just after the workflow completes (the task's own latency).
	var missing []string
	testenv.Eventually(t, 10*time.Second, func() bool {
		got := samples(t, reg)
		missing = missing[:0]
		for _, w := range want {
			if !found(got, w.name, w.labels, w.typ, w.min) {
				missing = append(missing, w.name+formatLabels(w.labels))
			}
		}
		return len(missing) == 0
	}, "still missing from the registry: %v", &missing)

	for _, s := range samples(t, reg) {
		require.True(t, strings.HasPrefix(s.name, "temporal_") || strings.HasPrefix(s.name, "flowbridge_"),
			"got metric %s, want only temporal_ and flowbridge_ ones", s.name)
	}
}

func with(labels map[string]string, kv ...string) map[string]string {
	out := maps.Clone(labels)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func formatLabels(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString("," + k + "=" + labels[k])
	}
	return "{" + strings.TrimPrefix(b.String(), ",") + "}"
}

// found reports whether got has a series named name of type typ whose labels include
// labels, with a value (a histogram: a count) of at least min.
func found(got []sample, name string, labels map[string]string, typ string, min float64) bool {
	for _, s := range got {
		if s.name != name || s.typ != typ {
			continue
		}
		value := s.value
		if typ == "HISTOGRAM" {
			value = float64(s.count)
		}
		if value >= min && mapsContain(s.labels, labels) {
			return true
		}
	}
	return false
}

func mapsContain(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}
