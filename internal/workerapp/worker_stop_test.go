package workerapp

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// slowActivity is a long activity caught by SIGTERM: it runs until its worker is
// stopping, then works on for a while, which it cannot do once its context is cancelled.
type slowActivity struct {
	runs    atomic.Int32
	started chan struct{} // closed on the first run
}

// workAfterStop is the work left when the stop begins; without WorkerStopTimeout the
// context is cancelled within microseconds of it.
const workAfterStop = 300 * time.Millisecond

func (s *slowActivity) Slow(ctx context.Context) (string, error) {
	attempt := activity.GetInfo(ctx).Attempt
	if s.runs.Add(1) > 1 {
		return "", fmt.Errorf("run again (attempt %d)", attempt)
	}
	close(s.started)
	<-activity.GetWorkerStopChannel(ctx)
	work := time.NewTimer(workAfterStop)
	defer work.Stop()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("cancelled while its worker stopped: %w", context.Cause(ctx))
	case <-work.C:
	}
	return fmt.Sprintf("finished attempt %d", attempt), nil
}

func slowWorkflow(ctx workflow.Context) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond},
	})
	var out string
	err := workflow.ExecuteActivity(ctx, "Slow").Get(ctx, &out)
	return out, err
}

// SIGTERM (the cancelled context main hands the worker) during a long activity: the
// worker stops polling but lets the activity finish, with its context live, and reports
// its result; the workflow, finished by the next worker, does not run it again.
func TestWorkerStopLetsRunningActivitiesFinish(t *testing.T) {
	tc := testenv.Temporal(t)
	log := testenv.Logger(t)
	cfg, err := config.LoadWorker(nil, func(k string) string {
		return map[string]string{"STRIPE_API_KEY": "sk_test_1", "TEMPORAL_TASK_QUEUE": testenv.ID("stop-"), "WORKER_STOP_TIMEOUT": "1m"}[k]
	})
	require.NoError(t, err)
	acts := &slowActivity{started: make(chan struct{})}
	start := func(ctx context.Context) <-chan error {
		web, err := newWorkerHTTP("127.0.0.1:0", log, nil, nil)
		require.NoError(t, err)
		ctx, fatal := context.WithCancelCause(ctx)
		w := newTemporalWorker(tc, cfg, web, fatal)
		w.RegisterWorkflowWithOptions(slowWorkflow, workflow.RegisterOptions{Name: "Slow"})
		w.RegisterActivity(acts.Slow)
		done := make(chan error, 1)
		go func() { done <- runUntilDone(ctx, cfg, log, web, w) }()
		return done
	}
	wait := func(what string, c <-chan struct{}) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: not within 30s", what)
		}
	}

	ctx, sigterm := context.WithCancel(t.Context())
	first := start(ctx)
	run, err := tc.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: testenv.ID("slow-"), TaskQueue: cfg.TaskQueue}, "Slow")
	require.NoError(t, err)
	wait("the activity started", acts.started)

	sigterm()
	select {
	case err := <-first:
		require.NoError(t, err, "a stop is not a failure")
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop within 30s of its activity finishing")
	}

	ctx, stop := context.WithCancel(t.Context())
	second := start(ctx)
	defer func() { stop(); <-second }()
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out string
	err = run.Get(wctx, &out)
	require.NoError(t, err, "the workflow completes with the activity's result")
	require.Equal(t, "finished attempt 1", out)
	require.Equal(t, int32(1), acts.runs.Load(), "the activity ran once")
	require.False(t, errors.Is(wctx.Err(), context.DeadlineExceeded))
}
