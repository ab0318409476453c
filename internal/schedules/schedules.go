// Package schedules keeps the Temporal Schedules that a schedules file declares
// (SCHEDULES_FILE, docs/schedules.md; built in: daily-report, cleanup and backup, which
// start DailyReport, Cleanup and Backup). The worker calls EnsureSchedules at every
// start, and `bridge schedules apply` calls Apply: each creates a schedule that is
// missing and updates one that exists, so any number of workers may start at once; an
// operator's pause is kept. Only Apply's Prune deletes, and only schedules flowbridge
// created (their memo says so, see MemoManagedBy).
package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
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

// Spec is a schedule as EnsureSchedules keeps it: an entry of a schedules file
// (docs/schedules.md).
type Spec struct {
	ID string // the schedule's id
	// Cron says when to start the workflow: a cron expression as Temporal reads it (5 to
	// 7 fields, @daily, @every 1h), in TimeZone. Either Cron or Every is set.
	Cron string
	// Every starts the workflow at this interval (since the Unix epoch), shifted by Offset.
	Every, Offset time.Duration
	// TimeZone is the IANA name Cron is read in. Optional: defaults to UTC.
	TimeZone string
	// Jitter delays each start by a random time up to this long. Optional: defaults to 0.
	Jitter   time.Duration
	Workflow string // the workflow type to start
	// TaskQueue is where the workflow runs. Optional: defaults to the task queue given
	// to EnsureSchedules (TEMPORAL_TASK_QUEUE).
	TaskQueue string
	// WorkflowID is the start of the runs' workflow ids, which Temporal ends with the
	// nominal time. Optional: defaults to ID.
	WorkflowID string
	Args       []any // the workflow's arguments, each one payload
	// Overlap is what happens when a start comes while the previous run is still
	// running. Optional: defaults to SCHEDULE_OVERLAP_POLICY_SKIP.
	Overlap enumspb.ScheduleOverlapPolicy
	// CatchupWindow is how late a start missed while Temporal was away may still be
	// taken. Optional: zero leaves the server's default (one year).
	CatchupWindow time.Duration
	// Paused pauses the schedule (note PausedByFile). Applying a spec never lifts an
	// operator's pause: only its own, once Paused is false again.
	Paused bool
}

// validate checks what Temporal does not: that s names an id, a workflow and when.
func (s Spec) validate() error {
	switch {
	case s.ID == "" || (s.Cron == "" && s.Every <= 0) || s.Workflow == "":
		return fmt.Errorf("schedule %q needs an id, a cron expression and a workflow type (an interval, every, may replace the cron)", s.ID)
	case s.Cron != "" && s.Every != 0:
		return fmt.Errorf("schedule %q has both a cron expression and an interval (every): keep one", s.ID)
	case s.Offset != 0 && s.Every == 0:
		return fmt.Errorf("schedule %q has an offset without an interval (every)", s.ID)
	case s.Every < 0 || s.Offset < 0 || s.Jitter < 0 || s.CatchupWindow < 0:
		return fmt.Errorf("schedule %q: every, offset, jitter and catchup_window must not be negative", s.ID)
	}
	return nil
}

// When describes when s starts its workflow, for people: "cron 0 6 * * *", "every 1h".
func (s Spec) When() string {
	var w string
	switch {
	case s.Cron != "":
		w = fmt.Sprintf("cron %q", s.Cron)
	case s.Offset != 0:
		w = fmt.Sprintf("every %v offset %v", s.Every, s.Offset)
	default:
		w = fmt.Sprintf("every %v", s.Every)
	}
	if s.TimeZone != "" {
		w += " " + s.TimeZone
	}
	return w
}

// Crons are the cron expressions of flowbridge's schedules. Empty fields take the
// defaults.
type Crons struct {
	DailyReport string // SCHEDULE_DAILY_REPORT; DefaultDailyReportCron
	Cleanup     string // SCHEDULE_CLEANUP; DefaultCleanupCron
	Backup      string // SCHEDULE_BACKUP; DefaultBackupCron
}

// Specs returns flowbridge's three schedules, the entries of the built-in schedules
// file (default.yaml), with the crons of c.
//
// The daily report buffers its starts and takes those up to a week late, so every day
// missed while Temporal or the worker was away is reported once they are back, each for
// its own date (a start's nominal time picks the date; the ledger keeps a week of
// events). Cleanup and backup skip a start while their previous run is still going;
// a missed cleanup is not worth catching up (the next one does its work), a missed
// backup is taken up to a day late.
func Specs(c Crons) []Spec {
	specs, err := Load("", c)
	if err != nil {
		panic(fmt.Sprintf("the built-in schedules file: %v", err)) // a defect of this build; its tests catch it
	}
	return specs
}

// EnsureSchedules makes each spec's schedule exist on c as the spec says, starting its
// workflows on taskQueue unless the spec names its own: it creates the schedules that are
// missing and updates the spec, action and policies of those that exist (another worker
// may just have created one). An operator's pause, and its note, are kept. Calling it
// again, from any number of workers at once, is safe. It is Apply without Prune or
// DryRun.
//
// Errors wrap ErrInvalidSpec for a spec that can never be applied, or a schedule of that
// id that flowbridge does not manage; any other error (Temporal unreachable) may succeed
// when retried.
func EnsureSchedules(ctx context.Context, c client.Client, taskQueue string, specs ...Spec) error {
	_, err := Apply(ctx, c, taskQueue, specs, ApplyOptions{})
	return err
}
