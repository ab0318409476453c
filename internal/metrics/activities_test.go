package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/metrics/workermetrics"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func TestActivityOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		run     func(context.Context) error
		outcome string
	}{
		{name: "success", run: func(context.Context) error { return nil }, outcome: workermetrics.OutcomeSucceeded},
		{name: "retryable error", run: func(context.Context) error { return errors.New("SMTP away") }, outcome: workermetrics.OutcomeFailed},
		{name: "non-retryable error", run: func(context.Context) error {
			return fmt.Errorf("wrapped: %w", temporal.NewNonRetryableApplicationError("bad email", "InvalidEmail", nil))
		}, outcome: workermetrics.OutcomeNonRetryable},
		{name: "retryable application error", run: func(context.Context) error {
			return temporal.NewApplicationError("try later", "Busy")
		}, outcome: workermetrics.OutcomeFailed},
		{name: "canceled", run: func(context.Context) error { return fmt.Errorf("query: %w", context.Canceled) }, outcome: workermetrics.OutcomeCanceled},
		{name: "deadline", run: func(context.Context) error { return context.DeadlineExceeded }, outcome: workermetrics.OutcomeTimedOut},
		{name: "completed asynchronously", run: func(context.Context) error { return activity.ErrResultPending }, outcome: workermetrics.OutcomePending},
		{name: "panic", run: func(context.Context) error { panic("boom") }, outcome: workermetrics.OutcomePanicked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			outcomes, err := workermetrics.NewActivityOutcomes(reg)
			require.NoError(t, err)
			var s testsuite.WorkflowTestSuite
			s.SetLogger(logging.NewTemporal(testenv.Logger(t)))
			env := s.NewTestActivityEnvironment()
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{outcomes}})
			env.RegisterActivityWithOptions(tt.run, activity.RegisterOptions{Name: "Probe"})
			_, _ = env.ExecuteActivity("Probe")

			got := gather(t, reg)
			want := fmt.Sprintf(`%s{activity_type="Probe",outcome=%q}`, workermetrics.ActivitiesMetric, tt.outcome)
			require.Len(t, got, 1, "got %v, want only %s", got, want)
			require.Contains(t, got, want, "got %v, want %s", got, want)
			require.Equal(t, 1.0, got[want].value, "got %v, want 1", got[want].value)
		})
	}
}

// Registration follows metrics.Register: a second counter on one registry, or a name
// someone else took, is an error naming the metric.
func TestNewActivityOutcomesRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := workermetrics.NewActivityOutcomes(reg)
	require.NoError(t, err)
	_, err = workermetrics.NewActivityOutcomes(reg)
	require.ErrorContains(t, err, workermetrics.ActivitiesMetric, "a second interceptor on one registry: got %v, want an error naming the metric", err)

	taken := prometheus.NewRegistry()
	taken.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: workermetrics.ActivitiesMetric, Help: "someone else's"}))
	_, err = workermetrics.NewActivityOutcomes(taken)
	require.ErrorContains(t, err, workermetrics.ActivitiesMetric, "got %v, want an error naming the metric", err)
}
