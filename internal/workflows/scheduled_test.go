package workflows_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// scheduledEnv runs the scheduled workflows with cfg, started at start with the
// schedule's nominal time scheduled (zero: started by hand).
func scheduledEnv(t *testing.T, cfg workflows.ScheduledConfig, start, scheduled time.Time) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetTestTimeout(30 * time.Second)
	e.SetStartTime(start)
	if !scheduled.IsZero() {
		require.NoError(t, e.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(workflows.ScheduledStartTimeKey.ValueSet(scheduled))))
	}
	w := &workflows.Scheduled{Config: cfg}
	e.RegisterWorkflowWithOptions(w.DailyReport, workflow.RegisterOptions{Name: contract.DailyReportWorkflow})
	e.RegisterWorkflowWithOptions(w.Cleanup, workflow.RegisterOptions{Name: contract.CleanupWorkflow})
	e.RegisterWorkflowWithOptions(w.Backup, workflow.RegisterOptions{Name: contract.BackupWorkflow})
	return e
}

func TestDailyReportPicksTheDate(t *testing.T) {
	tests := []struct {
		name      string
		start     time.Time
		scheduled time.Time // zero: started by hand
		date      string    // the input's
		want      string
	}{
		{name: "the 06:00 run reports yesterday",
			start: time.Date(2026, 3, 2, 6, 0, 1, 0, time.UTC), scheduled: time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), want: "2026-03-01"},
		{name: "a run taken late reports its nominal day's yesterday, not today's",
			start: time.Date(2026, 3, 5, 9, 30, 0, 0, time.UTC), scheduled: time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), want: "2026-03-01"},
		{name: "nominal midnight",
			start: time.Date(2026, 3, 1, 0, 0, 5, 0, time.UTC), scheduled: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), want: "2026-02-28"},
		{name: "nominal time in another zone is read in UTC",
			start: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC), scheduled: time.Date(2026, 3, 1, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), want: "2026-03-01"},
		{name: "started by hand: the day before its start",
			start: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), want: "2026-03-01"},
		{name: "a date asked for",
			start: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), scheduled: time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), date: "2026-02-14", want: "2026-02-14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := scheduledEnv(t, workflows.ScheduledConfig{}, tt.start, tt.scheduled)
			var asked []string
			var emitted []contract.DailyReport
			e.OnActivity(a.DailyReportNumbers, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ReportInput) (contract.DailyReport, error) {
				asked = append(asked, in.Date)
				return contract.DailyReport{Date: in.Date, Signups: 7}, nil
			})
			e.OnActivity(a.EmitDailyReport, mock.Anything, mock.Anything).Return(func(_ context.Context, r contract.DailyReport) error {
				emitted = append(emitted, r)
				return nil
			})

			e.ExecuteWorkflow(contract.DailyReportWorkflow, contract.DailyReportInput{Date: tt.date})

			require.True(t, e.IsWorkflowCompleted())
			require.NoError(t, e.GetWorkflowError())
			require.Equal(t, []string{tt.want}, asked, "got %v, want %v", asked, tt.want)
			want := contract.DailyReport{Date: tt.want, Signups: 7}
			require.Equal(t, []contract.DailyReport{want}, emitted, "emitted once, what was read")
			var got contract.DailyReport
			require.NoError(t, e.GetWorkflowResult(&got))
			require.Equal(t, want, got)
		})
	}
}

func TestDailyReportRejectsBadDates(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		date string
		msg  string
	}{
		{name: "not a date", date: "yesterday", msg: "is not YYYY-MM-DD"},
		{name: "no such day", date: "2026-02-30", msg: "is not YYYY-MM-DD"},
		{name: "today", date: "2026-03-02", msg: "has not ended yet"},
		{name: "the future", date: "2027-01-01", msg: "has not ended yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := scheduledEnv(t, workflows.ScheduledConfig{}, start, time.Time{})
			called := false
			e.OnActivity(a.DailyReportNumbers, mock.Anything, mock.Anything).Return(func(context.Context, activities.ReportInput) (contract.DailyReport, error) {
				called = true
				return contract.DailyReport{}, nil
			})
			e.ExecuteWorkflow(contract.DailyReportWorkflow, contract.DailyReportInput{Date: tt.date})
			require.True(t, e.IsWorkflowCompleted())
			requireAppError(t, e.GetWorkflowError(), contract.ErrorTypeInvalidInput, tt.msg)
			require.False(t, called, "nothing is read for a bad date")
		})
	}
}

// flakyPublisher records every event, and fails the first publish after storing it, as
// a publish whose acknowledgement was lost does.
type flakyPublisher struct {
	testenv.Events
	mu     sync.Mutex
	failed bool
}

func (p *flakyPublisher) Publish(ctx context.Context, ev events.Event) (events.PublishResult, error) {
	res, _ := p.Events.Publish(ctx, ev)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.failed {
		p.failed = true
		return events.PublishResult{}, errors.New("nats: timeout waiting for the acknowledgement")
	}
	return res, nil
}

// DailyReport with the real activities on PostgreSQL: a publish retried after a lost
// acknowledgement publishes the same event id again, which the stream drops.
func TestDailyReportEmitsOncePerDate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := testenv.Store(t)
	_, err := st.Pool().Exec(ctx, `INSERT INTO tenants (owner_user_id, owner_email, created_at) VALUES
		('u-1', 'a@example.com', '2026-03-01T10:00:00Z'), ('u-2', 'b@example.com', '2026-03-01T23:59:59Z'), ('u-3', 'c@example.com', '2026-03-02T00:00:00Z')`)
	require.NoError(t, err)
	pub := &flakyPublisher{}
	acts := &activities.Activities{Store: st, Publisher: pub, Log: testenv.Logger(t)}

	e := scheduledEnv(t, workflows.ScheduledConfig{}, time.Date(2026, 3, 2, 6, 0, 2, 0, time.UTC), time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC))
	e.RegisterActivity(acts)
	e.ExecuteWorkflow(contract.DailyReportWorkflow, contract.DailyReportInput{})

	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	var got contract.DailyReport
	require.NoError(t, e.GetWorkflowResult(&got))
	require.Equal(t, "2026-03-01", got.Date)
	require.Equal(t, int64(2), got.Signups)
	evs := pub.Published()
	require.Len(t, evs, 2, "the first publish and its retry")
	for _, ev := range evs {
		require.Equal(t, contract.ReportEventID("2026-03-01"), ev.ID(), "one id per date")
		require.Equal(t, contract.TypeReportDaily, ev.Type())
		var data contract.DailyReport
		require.NoError(t, ev.DataAs(&data))
		require.Equal(t, got, data)
	}
}

// cleanupCalls records what Cleanup asked its activities.
type cleanupCalls struct {
	emails, notifications []activities.PurgeInput
	workspaces            []activities.StaleWorkspacesInput
}

func mockCleanup(e *testsuite.TestWorkflowEnvironment, emailErr error) *cleanupCalls {
	c := &cleanupCalls{}
	e.OnActivity(a.PurgeSentEmails, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PurgeInput) (int64, error) {
		c.emails = append(c.emails, in)
		return 12, emailErr
	})
	e.OnActivity(a.PurgeNotifications, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PurgeInput) (int64, error) {
		c.notifications = append(c.notifications, in)
		return 3, nil
	})
	e.OnActivity(a.RemoveStaleWorkspaces, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StaleWorkspacesInput) (int, error) {
		c.workspaces = append(c.workspaces, in)
		return 2, nil
	})
	return c
}

func TestCleanupCallsItsActivities(t *testing.T) {
	start := time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name          string
		cfg           workflows.ScheduledConfig
		wantEmails    time.Time
		wantNotifs    time.Time
		wantWorkspace *activities.StaleWorkspacesInput // nil: not called
		want          workflows.CleanupResult
	}{
		{
			name:       "defaults, no workspace root",
			wantEmails: start.Add(-30 * day), wantNotifs: start.Add(-90 * day),
			want: workflows.CleanupResult{SentEmails: 12, Notifications: 3},
		},
		{
			name:       "configured",
			cfg:        workflows.ScheduledConfig{EmailRetention: 7 * day, NotificationRetention: 10 * day, WorkspaceRoot: "/var/lib/flowbridge/deploys", WorkspaceMaxAge: 6 * time.Hour},
			wantEmails: start.Add(-7 * day), wantNotifs: start.Add(-10 * day),
			wantWorkspace: &activities.StaleWorkspacesInput{Root: "/var/lib/flowbridge/deploys", Before: start.Add(-6 * time.Hour)},
			want:          workflows.CleanupResult{SentEmails: 12, Notifications: 3, Workspaces: 2},
		},
		{
			name:       "workspace root with the default age",
			cfg:        workflows.ScheduledConfig{WorkspaceRoot: "/srv/deploys"},
			wantEmails: start.Add(-30 * day), wantNotifs: start.Add(-90 * day),
			wantWorkspace: &activities.StaleWorkspacesInput{Root: "/srv/deploys", Before: start.Add(-day)},
			want:          workflows.CleanupResult{SentEmails: 12, Notifications: 3, Workspaces: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := scheduledEnv(t, tt.cfg, start, start)
			calls := mockCleanup(e, nil)
			e.ExecuteWorkflow(contract.CleanupWorkflow)

			require.True(t, e.IsWorkflowCompleted())
			require.NoError(t, e.GetWorkflowError())
			var got workflows.CleanupResult
			require.NoError(t, e.GetWorkflowResult(&got))
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
			require.Equal(t, []activities.PurgeInput{{Before: tt.wantEmails}}, calls.emails)
			require.Equal(t, []activities.PurgeInput{{Before: tt.wantNotifs}}, calls.notifications)
			if tt.wantWorkspace == nil {
				require.Empty(t, calls.workspaces)
			} else {
				require.Equal(t, []activities.StaleWorkspacesInput{*tt.wantWorkspace}, calls.workspaces)
			}
		})
	}
}

// A failing step does not stop the others; the run fails naming it.
func TestCleanupRunsEveryStep(t *testing.T) {
	start := time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC)
	e := scheduledEnv(t, workflows.ScheduledConfig{WorkspaceRoot: "/srv/deploys"}, start, start)
	calls := mockCleanup(e, temporal.NewNonRetryableApplicationError("connection refused", "Down", nil))
	e.ExecuteWorkflow(contract.CleanupWorkflow)

	require.True(t, e.IsWorkflowCompleted())
	err := e.GetWorkflowError()
	require.ErrorContains(t, err, "purge sent emails")
	require.ErrorContains(t, err, "connection refused")
	require.Len(t, calls.emails, 1)
	require.Len(t, calls.notifications, 1)
	require.Len(t, calls.workspaces, 1)
}

func TestBackupCallsItsActivities(t *testing.T) {
	start := time.Date(2026, 6, 1, 2, 0, 3, 0, time.UTC)
	nominal := time.Date(2026, 6, 1, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		cfg       workflows.ScheduledConfig
		scheduled time.Time
		want      activities.BackupInput
		wantKeep  int
	}{
		{name: "scheduled, defaults", scheduled: nominal, want: activities.BackupInput{Time: nominal}, wantKeep: 7},
		{name: "by hand, configured", cfg: workflows.ScheduledConfig{BackupDir: "/backups", BackupKeep: 30},
			want: activities.BackupInput{Dir: "/backups", Time: start}, wantKeep: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := scheduledEnv(t, tt.cfg, start, tt.scheduled)
			var backups []activities.BackupInput
			var prunes []activities.PruneInput
			made := activities.BackupResult{Path: "/backups/20260601T020000Z", Manifest: activities.BackupManifest{Time: nominal}}
			e.OnActivity(a.BackupDatabase, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BackupInput) (activities.BackupResult, error) {
				backups = append(backups, in)
				return made, nil
			})
			e.OnActivity(a.PruneBackups, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PruneInput) (activities.PruneResult, error) {
				prunes = append(prunes, in)
				return activities.PruneResult{Removed: []string{"20260520T020000Z"}}, nil
			})
			e.ExecuteWorkflow(contract.BackupWorkflow)

			require.True(t, e.IsWorkflowCompleted())
			require.NoError(t, e.GetWorkflowError())
			require.Len(t, backups, 1)
			require.True(t, tt.want.Time.Equal(backups[0].Time), "got backup time %v, want %v", backups[0].Time, tt.want.Time)
			require.Equal(t, tt.want.Dir, backups[0].Dir)
			require.Equal(t, []activities.PruneInput{{Dir: tt.cfg.BackupDir, Keep: tt.wantKeep}}, prunes)
			var got workflows.BackupResult
			require.NoError(t, e.GetWorkflowResult(&got))
			require.Equal(t, made.Path, got.Backup.Path)
			require.Equal(t, []string{"20260520T020000Z"}, got.Pruned.Removed)
		})
	}
}

// A failed backup is not followed by a prune: the old backups are all there is.
func TestBackupFailureKeepsOldBackups(t *testing.T) {
	start := time.Date(2026, 6, 1, 2, 0, 0, 0, time.UTC)
	e := scheduledEnv(t, workflows.ScheduledConfig{}, start, start)
	e.OnActivity(a.BackupDatabase, mock.Anything, mock.Anything).Return(activities.BackupResult{}, temporal.NewNonRetryableApplicationError("disk full", "Disk", nil))
	pruned := false
	e.OnActivity(a.PruneBackups, mock.Anything, mock.Anything).Return(func(context.Context, activities.PruneInput) (activities.PruneResult, error) {
		pruned = true
		return activities.PruneResult{}, nil
	})
	e.ExecuteWorkflow(contract.BackupWorkflow)
	require.True(t, e.IsWorkflowCompleted())
	require.ErrorContains(t, e.GetWorkflowError(), "disk full")
	require.False(t, pruned)
}

// TestScheduledWorkflowsOnTemporal runs Cleanup and Backup on the Temporal dev server
// with a worker of the test's own and the real activities, then replays their histories.
func TestScheduledWorkflowsOnTemporal(t *testing.T) {
	c := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := testenv.Store(t)
	_, err := st.Pool().Exec(ctx, `INSERT INTO sent_emails (key, recipient, subject, sent_at) VALUES
		('old', 'a@example.com', 's', now() - interval '31 days'), ('new', 'a@example.com', 's', now())`)
	require.NoError(t, err)
	root, backups := t.TempDir(), t.TempDir()
	stale := filepath.Join(root, "deploy-acme-app-1")
	require.NoError(t, os.MkdirAll(filepath.Join(stale, "src"), 0o750))
	old := time.Now().Add(-48 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(stale, "src"), old, old))
	require.NoError(t, os.Chtimes(stale, old, old))

	taskQueue := testenv.ID("test-")
	sw := &workflows.Scheduled{Config: workflows.ScheduledConfig{WorkspaceRoot: root, BackupDir: backups, BackupKeep: 1}}
	register := func(r worker.WorkflowRegistry) {
		r.RegisterWorkflowWithOptions(sw.Cleanup, workflow.RegisterOptions{Name: contract.CleanupWorkflow})
		r.RegisterWorkflowWithOptions(sw.Backup, workflow.RegisterOptions{Name: contract.BackupWorkflow})
	}
	w := worker.New(c, taskQueue, worker.Options{})
	register(w)
	w.RegisterActivity(&activities.Activities{Store: st, Publisher: &testenv.Events{}, Log: testenv.Logger(t)})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: testenv.ID("cleanup-"), TaskQueue: taskQueue}, contract.CleanupWorkflow)
	require.NoError(t, err)
	var cleaned workflows.CleanupResult
	require.NoError(t, run.Get(ctx, &cleaned))
	require.Equal(t, workflows.CleanupResult{SentEmails: 1, Workspaces: 1}, cleaned)
	_, err = os.Stat(stale)
	require.True(t, os.IsNotExist(err), "got %v, want the stale workspace gone", err)
	runs := []client.WorkflowRun{run}

	var paths []string
	for range 2 {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: testenv.ID("backup-"), TaskQueue: taskQueue}, contract.BackupWorkflow)
		require.NoError(t, err)
		var res workflows.BackupResult
		require.NoError(t, run.Get(ctx, &res))
		require.NotEmpty(t, res.Backup.Manifest.Tables)
		paths = append(paths, res.Backup.Path)
		runs = append(runs, run)
	}
	// BackupKeep 1: the second backup pruned the first (or, within the same second, was
	// the first).
	entries, err := os.ReadDir(backups)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, filepath.Base(paths[1]), entries[0].Name())

	for _, run := range runs {
		replayer := worker.NewWorkflowReplayer()
		register(replayer)
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, history(ctx, t, c, run.GetID(), run.GetRunID())), "replay %s", run.GetID())
	}
}

// The scheduled workflows' histories recorded on the Temporal dev server replay (see
// TestReplayRecordedHistories): DailyReport started by its schedule for a backfilled
// day, Cleanup and Backup started by hand.
func TestReplayScheduledHistories(t *testing.T) {
	sw := &workflows.Scheduled{}
	tests := []struct {
		name     string
		file     string
		workflow any
		wfType   string
	}{
		{"daily report, backfilled", "daily_report_backfilled.json", sw.DailyReport, contract.DailyReportWorkflow},
		{"cleanup", "cleanup.json", sw.Cleanup, contract.CleanupWorkflow},
		{"backup", "backup.json", sw.Backup, contract.BackupWorkflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(tt.workflow, workflow.RegisterOptions{Name: tt.wfType})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", tt.file)))
		})
	}
}
