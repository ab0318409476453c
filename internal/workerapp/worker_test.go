package workerapp

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/schedules"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// The worker's default crons are the schedules package's: config stays a leaf package, so
// this test keeps the two from drifting apart.
func TestWorkerScheduleDefaultsMatch(t *testing.T) {
	cfg, err := config.LoadWorker(nil, func(k string) string { return map[string]string{"STRIPE_API_KEY": "sk_test_1"}[k] })
	require.NoError(t, err)
	require.Equal(t, schedules.DefaultDailyReportCron, cfg.ScheduleDailyReport)
	require.Equal(t, schedules.DefaultCleanupCron, cfg.ScheduleCleanup)
	require.Equal(t, schedules.DefaultBackupCron, cfg.ScheduleBackup)
}

// When NATS closes the worker's connection for good — here while the worker still waits
// for PostgreSQL — the worker's run ends with an error naming it, so the process exits
// non-zero and is restarted.
func TestWorkerExitsWhenNATSClosesItsConnection(t *testing.T) {
	n := testenv.StartNATS(t)
	cfg, err := config.LoadWorker(nil, func(k string) string {
		return map[string]string{
			"STRIPE_API_KEY":   "sk_test_1",
			"NATS_URL":         n.URL,
			"DATABASE_URL":     "postgres://alice:s3cret@127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/secretdb?sslmode=disable",
			"WORKER_HTTP_ADDR": "127.0.0.1:0",
		}[k]
	})
	require.NoError(t, err)
	nc, err := app.ConnectNATS(cfg.Common, "flowbridge-worker", testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runWorkerWith(ctx, cfg, testenv.Logger(t), nc) }()

	testenv.ForceCloseNATS(t, nc.Conn)
	select {
	case err := <-done:
		require.Error(t, err, "the run ends with an error")
		require.ErrorContains(t, err, "flowbridge-worker")
		require.ErrorContains(t, err, "maximum control line exceeded")
	case <-time.After(60 * time.Second):
		t.Fatal("the worker still runs 60s after NATS closed its connection")
	}
}

// Our own shutdown ends the run without an error.
func TestWorkerShutdownIsNotAFailure(t *testing.T) {
	n := testenv.StartNATS(t)
	cfg, err := config.LoadWorker(nil, func(k string) string {
		return map[string]string{
			"STRIPE_API_KEY":   "sk_test_1",
			"NATS_URL":         n.URL,
			"DATABASE_URL":     "postgres://alice:s3cret@127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/secretdb?sslmode=disable",
			"WORKER_HTTP_ADDR": "127.0.0.1:0",
		}[k]
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- RunWorker(ctx, cfg, testenv.Logger(t)) }()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not stop within 60s")
	}
}

// The worker polls, beside the shared task queue, one of its own (WORKER_TASK_QUEUE) for
// the steps of the deploys it checked out: activities only, no workflow tasks.
func TestWorkerPollsItsOwnTaskQueue(t *testing.T) {
	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	schedulesFile := filepath.Join(t.TempDir(), "schedules.yaml")
	require.NoError(t, os.WriteFile(schedulesFile, []byte("schedules: []\n"), 0o600))
	shared := testenv.ID("own-")
	own := shared + "-worker-0"
	cfg, err := config.LoadWorker(nil, func(k string) string {
		return map[string]string{
			"STRIPE_API_KEY":      "sk_test_1",
			"NATS_URL":            n.URL,
			"DATABASE_URL":        testenv.Postgres(t),
			"TEMPORAL_ADDRESS":    testenv.TemporalAddress(),
			"TEMPORAL_TASK_QUEUE": shared,
			"WORKER_TASK_QUEUE":   own,
			"WORKER_HTTP_ADDR":    "127.0.0.1:0",
			"DEPLOY_WORKSPACE":    t.TempDir(),
			"BACKUP_DIR":          t.TempDir(),
			"SCHEDULES_FILE":      schedulesFile,
		}[k]
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- RunWorker(ctx, cfg, testenv.Logger(t)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Error("the worker did not stop within 60s")
		}
	})

	pollers := func(queue string, kind enumspb.TaskQueueType) int {
		d, err := tc.DescribeTaskQueue(ctx, queue, kind)
		if err != nil {
			return -1
		}
		return len(d.GetPollers())
	}
	testenv.Eventually(t, time.Minute, func() bool {
		return pollers(own, enumspb.TASK_QUEUE_TYPE_ACTIVITY) > 0 && pollers(shared, enumspb.TASK_QUEUE_TYPE_WORKFLOW) > 0
	}, "the worker never polled its own task queue %s and the shared one", own)
	require.Zero(t, pollers(own, enumspb.TASK_QUEUE_TYPE_WORKFLOW), "workflow pollers on the worker's own task queue")
}
