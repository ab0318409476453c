package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/schedules"
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
