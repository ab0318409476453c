package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
)

// ScheduledConfig configures DailyReport, Cleanup and Backup. Zero fields take the
// defaults.
type ScheduledConfig struct {
	// EmailRetention is how long a sent email's record (sent_emails) is kept. The record
	// stops a retried activity from sending the email again, so it must outlast the
	// longest workflow that sends email. Optional: defaults to 30 days.
	EmailRetention time.Duration
	// NotificationRetention is how long an in-app notification is kept after it was read,
	// or, never read, after it was created. Optional: defaults to 90 days.
	NotificationRetention time.Duration
	// WorkspaceRoot is DEPLOY_WORKSPACE, where BlueprintDeploy makes its workspaces.
	// Optional: empty leaves workspaces alone.
	WorkspaceRoot string
	// WorkspaceMaxAge is how long a workspace left there by a deploy that is not running
	// is kept. Optional: defaults to 24h.
	WorkspaceMaxAge time.Duration
	// BackupDir holds the backups. Optional: defaults to $TMPDIR/flowbridge-backups.
	BackupDir string
	// BackupKeep is how many backups, the newest, are kept. Optional: defaults to 7.
	BackupKeep int
}

func (c ScheduledConfig) withDefaults() ScheduledConfig {
	if c.EmailRetention <= 0 {
		c.EmailRetention = 30 * 24 * time.Hour
	}
	if c.NotificationRetention <= 0 {
		c.NotificationRetention = 90 * 24 * time.Hour
	}
	if c.WorkspaceMaxAge <= 0 {
		c.WorkspaceMaxAge = 24 * time.Hour
	}
	if c.BackupKeep <= 0 {
		c.BackupKeep = activities.DefaultBackupKeep
	}
	return c
}

// Scheduled carries the configuration of the workflows that Temporal Schedules start:
// DailyReport, Cleanup and Backup. The worker registers its methods.
type Scheduled struct {
	Config ScheduledConfig
}

// ScheduledStartTimeKey is the search attribute in which a Schedule gives the workflows
// it starts their nominal time: when the spec said to start, not when they did.
var ScheduledStartTimeKey = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// nominalTime is when the workflow was meant to start: its schedule's nominal time, or,
// started by hand, when it started. Both are in the history, so a replay sees the same.
func nominalTime(ctx workflow.Context) time.Time {
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(ScheduledStartTimeKey); ok && !t.IsZero() {
		return t.UTC()
	}
	return workflow.GetInfo(ctx).WorkflowStartTime.UTC()
}

// readConfig reads s.Config, with its defaults, once per execution.
func (s *Scheduled) readConfig(ctx workflow.Context) (ScheduledConfig, error) {
	var cfg ScheduledConfig
	err := workflow.SideEffect(ctx, func(workflow.Context) any { return s.Config.withDefaults() }).Get(&cfg)
	return cfg, err
}

// DailyReport reads the numbers of one UTC day from PostgreSQL — signups, payments per
// currency, deploys by outcome, events by outcome — and emits them as report.daily.
//
// The day is in.Date, or the day before the workflow's nominal time (the schedule's, or
// its start's). The event's id is per date (contract.ReportEventID), so a retried
// activity or a second run for the same date emits once within the stream's duplicate
// window. A date that is not YYYY-MM-DD, or a day that has not ended, is a
// non-retryable contract.ErrorTypeInvalidInput error.
func (s *Scheduled) DailyReport(ctx workflow.Context, in contract.DailyReportInput) (contract.DailyReport, error) {
	nominal := nominalTime(ctx)
	date := in.Date
	if date == "" {
		date = nominal.AddDate(0, 0, -1).Format(contract.DateLayout)
	}
	day, err := time.Parse(contract.DateLayout, date)
	if err != nil {
		return contract.DailyReport{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("report date %q is not YYYY-MM-DD", date), contract.ErrorTypeInvalidInput, err)
	}
	if end := day.AddDate(0, 0, 1); end.After(workflow.Now(ctx)) {
		return contract.DailyReport{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("report date %s has not ended yet (it ends at %s): its numbers are not final", date, end.Format(time.RFC3339)), contract.ErrorTypeInvalidInput, nil)
	}
	// PostgreSQL being away delays the report rather than losing it: retried until it is
	// back.
	opts := shortOptions()
	opts.StartToCloseTimeout = time.Minute
	ctx = workflow.WithActivityOptions(ctx, opts)
	var a *activities.Activities
	var r contract.DailyReport
	if err := workflow.ExecuteActivity(ctx, a.DailyReportNumbers, activities.ReportInput{Date: date}).Get(ctx, &r); err != nil {
		return contract.DailyReport{}, fmt.Errorf("daily report of %s: %w", date, err)
	}
	if err := workflow.ExecuteActivity(ctx, a.EmitDailyReport, r).Get(ctx, nil); err != nil {
		return contract.DailyReport{}, fmt.Errorf("daily report of %s: %w", date, err)
	}
	workflow.GetLogger(ctx).Info("Daily report emitted", "date", date, "nominal_time", nominal)
	return r, nil
}

// CleanupResult counts what Cleanup deleted.
type CleanupResult struct {
	SentEmails    int64 `json:"sent_emails"`
	Notifications int64 `json:"notifications"`
	Workspaces    int   `json:"workspaces"`
}

// Cleanup deletes what flowbridge keeps past its use: sent_emails rows older than
// EmailRetention, notifications read (or, unread, created) longer than
// NotificationRetention ago, and deploy workspaces under WorkspaceRoot untouched for
// WorkspaceMaxAge. Rows go in bounded batches; a run removes at most
// activities.DefaultWorkspaceLimit workspaces, and the next run the rest.
//
// Each step runs even when another failed; the workflow then fails naming every failed
// step, so the schedule's next run tries again. A step fails after five attempts.
func (s *Scheduled) Cleanup(ctx workflow.Context) (CleanupResult, error) {
	cfg, err := s.readConfig(ctx)
	if err != nil {
		return CleanupResult{}, err
	}
	now := workflow.Now(ctx)
	ctx = workflow.WithActivityOptions(ctx, heartbeatingOptions(30*time.Minute, 5))
	var a *activities.Activities
	var res CleanupResult
	var errs []error
	if err := workflow.ExecuteActivity(ctx, a.PurgeSentEmails, activities.PurgeInput{Before: now.Add(-cfg.EmailRetention)}).Get(ctx, &res.SentEmails); err != nil {
		errs = append(errs, fmt.Errorf("purge sent emails: %w", err))
	}
	if err := workflow.ExecuteActivity(ctx, a.PurgeNotifications, activities.PurgeInput{Before: now.Add(-cfg.NotificationRetention)}).Get(ctx, &res.Notifications); err != nil {
		errs = append(errs, fmt.Errorf("purge notifications: %w", err))
	}
	if cfg.WorkspaceRoot != "" {
		in := activities.StaleWorkspacesInput{Root: cfg.WorkspaceRoot, Before: now.Add(-cfg.WorkspaceMaxAge)}
		if err := workflow.ExecuteActivity(ctx, a.RemoveStaleWorkspaces, in).Get(ctx, &res.Workspaces); err != nil {
			errs = append(errs, fmt.Errorf("remove stale deploy workspaces: %w", err))
		}
	}
	workflow.GetLogger(ctx).Info("Cleanup done", "sent_emails", res.SentEmails, "notifications", res.Notifications, "workspaces", res.Workspaces)
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

// BackupResult is what Backup made and removed.
type BackupResult struct {
	Backup activities.BackupResult `json:"backup"`
	Pruned activities.PruneResult  `json:"pruned"`
}

// Backup writes a logical backup of flowbridge's tables to BackupDir/<nominal time>
// (activities.BackupDatabase: a CSV per table and a manifest.json with row counts and
// SHA-256 sums), then removes all but the newest BackupKeep backups. The backup is
// named by the workflow's nominal time, so a retry finds the one it made.
func (s *Scheduled) Backup(ctx workflow.Context) (BackupResult, error) {
	cfg, err := s.readConfig(ctx)
	if err != nil {
		return BackupResult{}, err
	}
	var a *activities.Activities
	var res BackupResult
	backupCtx := workflow.WithActivityOptions(ctx, heartbeatingOptions(2*time.Hour, 3))
	in := activities.BackupInput{Dir: cfg.BackupDir, Time: nominalTime(ctx)}
	if err := workflow.ExecuteActivity(backupCtx, a.BackupDatabase, in).Get(ctx, &res.Backup); err != nil {
		return BackupResult{}, fmt.Errorf("back up the database: %w", err)
	}
	pruneCtx := workflow.WithActivityOptions(ctx, heartbeatingOptions(10*time.Minute, 3))
	if err := workflow.ExecuteActivity(pruneCtx, a.PruneBackups, activities.PruneInput{Dir: cfg.BackupDir, Keep: cfg.BackupKeep}).Get(ctx, &res.Pruned); err != nil {
		return res, fmt.Errorf("prune backups (backup %s was written): %w", res.Backup.Path, err)
	}
	workflow.GetLogger(ctx).Info("Backup done", "path", res.Backup.Path, "tables", len(res.Backup.Manifest.Tables), "pruned", len(res.Pruned.Removed))
	return res, nil
}
