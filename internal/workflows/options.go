package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Activity options, by kind. Each returns a new value, so a caller may adjust its copy.
// Every kind but the deploy workspace's cleanup retries at most a minute apart, so an
// activity whose server was away runs again soon after the server is back.

// shortOptions is for an activity that makes a few calls to PostgreSQL, NATS, SMTP,
// Stripe or Temporal: 30 s per attempt, retried until it succeeds or fails
// non-retryably.
func shortOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retryEveryMinute(0)}
}

// withShortOptions is ctx with shortOptions.
func withShortOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, shortOptions())
}

// heartbeatingOptions is for an activity that works through files or tables for up to
// timeout per attempt and heartbeats at least once a minute; it is tried attempts times.
func heartbeatingOptions(timeout time.Duration, attempts int32) workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: timeout, HeartbeatTimeout: time.Minute, RetryPolicy: retryEveryMinute(attempts)}
}

// retryEveryMinute retries at most a minute apart, attempts times (0: until it succeeds
// or fails non-retryably).
func retryEveryMinute(attempts int32) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: attempts}
}
