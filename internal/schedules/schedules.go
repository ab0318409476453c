// Package schedules keeps the Temporal Schedules that start flowbridge's scheduled
// workflows — daily-report (DailyReport), cleanup (Cleanup) and backup (Backup) — as the
// worker's configuration says. The worker calls EnsureSchedules at every start: it
// creates a schedule that is missing and updates one that exists, so any number of
// workers may start at once.
package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// Schedule ids of the contract. A schedule's workflows have its id followed by their
// nominal time as their ids (daily-report-2026-03-02T06:00:00Z).
const (
	DailyReportID = "daily-report"
	CleanupID     = "cleanup"
	BackupID      = "backup"
)

// Default cron expressions, in UTC.
const (
	DefaultDailyReportCron = "0 6 * * *" // every day at 06:00
	DefaultCleanupCron     = "0 * * * *" // every hour
	DefaultBackupCron      = "0 2 * * *" // every day at 02:00
)

// ErrInvalidSpec is wrapped by the errors of EnsureSchedules for a spec that can never
// be applied (a missing field, a cron expression Temporal rejects): retrying does not
// help.
var ErrInvalidSpec = errors.New("invalid schedule spec")

// Spec is a schedule as EnsureSchedules keeps it.
type Spec struct {
	ID       string // the schedule's id
	Cron     string // when to start the workflow: a cron expression in UTC, as Temporal reads it (5 to 7 fields, @daily, @every 1h)
	Workflow string // the workflow type to start
	Args     []any  // the workflow's arguments
	// Overlap is what happens when a start comes while the previous run is still
	// running. Optional: defaults to SCHEDULE_OVERLAP_POLICY_SKIP.
	Overlap enumspb.ScheduleOverlapPolicy
	// CatchupWindow is how late a start missed while Temporal was away may still be
	// taken. Optional: zero leaves the server's default (one year).
	CatchupWindow time.Duration
}

// Crons are the cron expressions of flowbridge's schedules. Empty fields take the
// defaults.
type Crons struct {
	DailyReport string // SCHEDULE_DAILY_REPORT; DefaultDailyReportCron
	Cleanup     string // SCHEDULE_CLEANUP; DefaultCleanupCron
	Backup      string // SCHEDULE_BACKUP; DefaultBackupCron
}

// Specs returns flowbridge's three schedules with the crons of c.
//
// The daily report buffers its starts and takes those up to a week late, so every day
// missed while Temporal or the worker was away is reported once they are back, each for
// its own date (a start's nominal time picks the date; the ledger keeps a week of
// events). Cleanup and backup skip a start while their previous run is still going;
// a missed cleanup is not worth catching up (the next one does its work), a missed
// backup is taken up to a day late.
func Specs(c Crons) []Spec {
	return []Spec{
		{
			ID: DailyReportID, Cron: or(c.DailyReport, DefaultDailyReportCron), Workflow: contract.DailyReportWorkflow,
			Args:    []any{contract.DailyReportInput{}},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL, CatchupWindow: 7 * 24 * time.Hour,
		},
		{
			ID: CleanupID, Cron: or(c.Cleanup, DefaultCleanupCron), Workflow: contract.CleanupWorkflow,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: time.Hour,
		},
		{
			ID: BackupID, Cron: or(c.Backup, DefaultBackupCron), Workflow: contract.BackupWorkflow,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: 24 * time.Hour,
		},
	}
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// EnsureSchedules makes each spec's schedule exist on c as the spec says, starting its
// workflows on taskQueue: it creates the schedules that are missing and updates the
// spec, action and policies of those that exist (another worker may just have created
// one). A schedule's state — paused by an operator, its note — is kept. Calling it again,
// from any number of workers at once, is safe.
//
// Errors wrap ErrInvalidSpec for a spec that can never be applied; any other error
// (Temporal unreachable) may succeed when retried.
func EnsureSchedules(ctx context.Context, c client.Client, taskQueue string, specs ...Spec) error {
	if taskQueue == "" {
		return fmt.Errorf("%w: empty task queue", ErrInvalidSpec)
	}
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		switch {
		case s.ID == "" || s.Cron == "" || s.Workflow == "":
			return fmt.Errorf("%w: schedule %q needs an id, a cron expression and a workflow type", ErrInvalidSpec, s.ID)
		case seen[s.ID]:
			return fmt.Errorf("%w: schedule %q is given twice", ErrInvalidSpec, s.ID)
		}
		seen[s.ID] = true
	}
	sc := c.ScheduleClient()
	for _, s := range specs {
		if err := ensure(ctx, sc, taskQueue, s); err != nil {
			var invalid *serviceerror.InvalidArgument
			if errors.As(err, &invalid) {
				return fmt.Errorf("%w: schedule %s (cron %q, workflow %s): %v", ErrInvalidSpec, s.ID, s.Cron, s.Workflow, err)
			}
			return fmt.Errorf("ensure schedule %s (cron %q, workflow %s): %w", s.ID, s.Cron, s.Workflow, err)
		}
	}
	return nil
}

func ensure(ctx context.Context, sc client.ScheduleClient, taskQueue string, s Spec) error {
	spec := client.ScheduleSpec{CronExpressions: []string{s.Cron}}
	action := &client.ScheduleWorkflowAction{ID: s.ID, Workflow: s.Workflow, TaskQueue: taskQueue, Args: s.Args}
	overlap := s.Overlap
	if overlap == enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED {
		overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: s.ID, Spec: spec, Action: action, Overlap: overlap, CatchupWindow: s.CatchupWindow,
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return err
	}
	return sc.GetHandle(ctx, s.ID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sched := in.Description.Schedule
			sched.Spec = &spec
			sched.Action = action
			policy := client.SchedulePolicies{}
			if sched.Policy != nil {
				policy = *sched.Policy
			}
			policy.Overlap, policy.CatchupWindow = overlap, s.CatchupWindow
			sched.Policy = &policy
			if sched.State == nil {
				sched.State = &client.ScheduleState{}
			}
			return &client.ScheduleUpdate{Schedule: &sched}, nil
		},
	})
}
