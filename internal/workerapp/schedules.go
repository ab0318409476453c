package workerapp

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/retry"
	"github.com/flowbridge/flowbridge/internal/schedules"
)

// workerSchedules reads the schedules the worker keeps: SCHEDULES_FILE (or the built-in
// file), with the crons SCHEDULE_DAILY_REPORT, SCHEDULE_CLEANUP and SCHEDULE_BACKUP that
// were given (their defaults are the built-in file's and override nothing).
func workerSchedules(cfg config.Worker) ([]schedules.Spec, error) {
	var crons schedules.Crons
	if cfg.ScheduleCronsGiven["SCHEDULE_DAILY_REPORT"] {
		crons.DailyReport = cfg.ScheduleDailyReport
	}
	if cfg.ScheduleCronsGiven["SCHEDULE_CLEANUP"] {
		crons.Cleanup = cfg.ScheduleCleanup
	}
	if cfg.ScheduleCronsGiven["SCHEDULE_BACKUP"] {
		crons.Backup = cfg.ScheduleBackup
	}
	specs, err := schedules.Load(cfg.SchedulesFile, crons)
	if err != nil {
		return nil, fmt.Errorf("%w (SCHEDULES_FILE; `bridge schedules apply --dry-run FILE` checks one)", err)
	}
	return specs, nil
}

// ensureSchedules creates or updates the schedules of specs, retrying while Temporal is
// away; a schedule Temporal refuses stops the worker. It never deletes one: that is
// `bridge schedules apply --prune`, run on purpose, so that workers of two releases
// starting during a rolling deploy cannot delete each other's schedules in turn.
func ensureSchedules(ctx context.Context, tc client.Client, cfg config.Worker, specs []schedules.Spec, log zerolog.Logger) error {
	var invalid error
	var changes []schedules.Change
	err := retry.Until(ctx, log, "Temporal schedules", func(ctx context.Context) (err error) {
		changes, err = schedules.Apply(ctx, tc, cfg.TaskQueue, specs, schedules.ApplyOptions{})
		if errors.Is(err, schedules.ErrInvalidSpec) {
			invalid = err // retrying cannot help
			return nil
		}
		return err
	})
	if invalid != nil {
		return fmt.Errorf("%w (check SCHEDULES_FILE, SCHEDULE_DAILY_REPORT, SCHEDULE_CLEANUP and SCHEDULE_BACKUP)", invalid)
	}
	if err != nil {
		return app.IgnoreCanceled(err)
	}
	for _, ch := range changes {
		ev := log.Info().Str("schedule", ch.ID).Str("op", ch.Op)
		if ch.Pause != "" {
			ev = ev.Str("pause", ch.Pause)
		}
		if ch.KeptPause != "" {
			ev = ev.Str("kept_pause", ch.KeptPause)
		}
		ev.Msg("Schedule ensured")
	}
	return nil
}
