package workerapp

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/schedules"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// SCHEDULE_* override the crons of their entries when given, as before schedules were
// configuration; their defaults leave a schedules file's own crons alone.
func TestWorkerSchedules(t *testing.T) {
	custom := filepath.Join(t.TempDir(), "schedules.yaml")
	require.NoError(t, os.WriteFile(custom, []byte("schedules:\n  - {id: daily-report, cron: '0 7 * * *', workflow: DailyReport}\n"), 0o600))
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want map[string]string // schedule id → cron
		err  string
	}{
		{name: "built in", want: map[string]string{"daily-report": "0 6 * * *", "cleanup": "0 * * * *", "backup": "0 2 * * *"}},
		{name: "env overrides", env: map[string]string{"SCHEDULE_CLEANUP": "15 */2 * * *"}, want: map[string]string{"daily-report": "0 6 * * *", "cleanup": "15 */2 * * *", "backup": "0 2 * * *"}},
		{name: "flag overrides", args: []string{"--schedule-backup=0 3 * * *"}, want: map[string]string{"daily-report": "0 6 * * *", "cleanup": "0 * * * *", "backup": "0 3 * * *"}},
		{name: "file's cron kept", env: map[string]string{"SCHEDULES_FILE": custom}, want: map[string]string{"daily-report": "0 7 * * *"}},
		{name: "env over the file", env: map[string]string{"SCHEDULES_FILE": custom, "SCHEDULE_DAILY_REPORT": "0 8 * * *"}, want: map[string]string{"daily-report": "0 8 * * *"}},
		{name: "env for an entry the file lacks", env: map[string]string{"SCHEDULES_FILE": custom, "SCHEDULE_BACKUP": "0 3 * * *"}, err: "SCHEDULE_BACKUP is set but " + custom + " declares no schedule backup"},
		{name: "a file that cannot be read", env: map[string]string{"SCHEDULES_FILE": custom + ".missing"}, err: "read schedules file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadWorker(tt.args, func(k string) string {
				if k == "STRIPE_API_KEY" {
					return "sk_test_1"
				}
				return tt.env[k]
			})
			require.NoError(t, err)
			specs, err := workerSchedules(cfg)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.ErrorContains(t, err, "SCHEDULES_FILE")
				return
			}
			require.NoError(t, err)
			got := map[string]string{}
			for _, s := range specs {
				got[s.ID] = s.Cron
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// The worker's start-up applies the file's schedules; one Temporal refuses stops it at
// once, naming the settings to check, rather than being retried.
func TestEnsureSchedulesAtStart(t *testing.T) {
	tc := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := testenv.ID("test-start-")
	t.Cleanup(func() { _ = tc.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background()) })
	cfg, err := config.LoadWorker(nil, func(k string) string {
		return map[string]string{"STRIPE_API_KEY": "sk_test_1", "TEMPORAL_TASK_QUEUE": testenv.ID("test-")}[k]
	})
	require.NoError(t, err)

	good := []schedules.Spec{{ID: id, Every: time.Hour, Workflow: "Greet"}}
	require.NoError(t, ensureSchedules(ctx, tc, cfg, good, testenv.Logger(t)))
	d, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, cfg.TaskQueue, d.Schedule.Action.(*client.ScheduleWorkflowAction).TaskQueue)

	bad := []schedules.Spec{{ID: id, Cron: "every morning", Workflow: "Greet"}}
	err = ensureSchedules(ctx, tc, cfg, bad, testenv.Logger(t))
	require.ErrorIs(t, err, schedules.ErrInvalidSpec)
	require.ErrorContains(t, err, "check SCHEDULES_FILE")
}
