package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
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
