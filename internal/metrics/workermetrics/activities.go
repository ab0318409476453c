package workermetrics

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/metrics"
)

// ActivitiesMetric counts finished activity executions by activity_type and outcome.
const ActivitiesMetric = "flowbridge_worker_activities_total"

// Outcomes of an activity execution, the values of ActivitiesMetric's outcome label.
const (
	OutcomeSucceeded = "succeeded"
	// OutcomeFailed: an error Temporal retries under the activity's retry policy.
	OutcomeFailed = "failed"
	// OutcomeNonRetryable: a non-retryable application error (bad input).
	OutcomeNonRetryable = "failed_non_retryable"
	OutcomeCanceled     = "canceled"
	// OutcomeTimedOut: the activity gave up on its context's deadline.
	OutcomeTimedOut = "timed_out"
	// OutcomePending: the activity will be completed asynchronously (ErrResultPending).
	OutcomePending  = "pending"
	OutcomePanicked = "panicked"
)

// ActivityOutcomes is a worker interceptor counting each activity execution's outcome
// in flowbridge_worker_activities_total{activity_type,outcome}. The SDK's own metrics
// time executions and count failures; this tells a retryable failure from bad input,
// a cancellation or a panic. Set it in worker.Options.Interceptors.
type ActivityOutcomes struct {
	interceptor.WorkerInterceptorBase
	total *prometheus.CounterVec
}

var _ interceptor.WorkerInterceptor = (*ActivityOutcomes)(nil)

// NewActivityOutcomes registers the counter with reg (Register: nil registers nothing). It
// returns an error when reg already has a metric of that name.
func NewActivityOutcomes(reg prometheus.Registerer) (*ActivityOutcomes, error) {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: ActivitiesMetric,
		Help: "Activity executions this worker finished, by activity type and outcome " +
			"(succeeded, failed, failed_non_retryable, canceled, timed_out, pending, panicked).",
	}, []string{"activity_type", "outcome"})
	if err := metrics.Register(reg, total); err != nil {
		return nil, err
	}
	return &ActivityOutcomes{total: total}, nil
}

// InterceptActivity implements interceptor.WorkerInterceptor.
func (a *ActivityOutcomes) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityOutcomes{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, total: a.total}
}

type activityOutcomes struct {
	interceptor.ActivityInboundInterceptorBase
	total *prometheus.CounterVec
}

func (a *activityOutcomes) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	typ := activity.GetInfo(ctx).ActivityType.Name
	defer func() {
		// The SDK recovers the panic above this interceptor and fails the attempt.
		if r := recover(); r != nil {
			a.total.WithLabelValues(typ, OutcomePanicked).Inc()
			panic(r)
		}
	}()
	res, err := a.Next.ExecuteActivity(ctx, in)
	a.total.WithLabelValues(typ, outcome(err)).Inc()
	return res, err
}

func outcome(err error) string {
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return OutcomeSucceeded
	case errors.Is(err, activity.ErrResultPending):
		return OutcomePending
	case errors.Is(err, context.Canceled) || temporal.IsCanceledError(err):
		return OutcomeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimedOut
	case errors.As(err, &appErr) && appErr.NonRetryable():
		return OutcomeNonRetryable
	}
	return OutcomeFailed
}
