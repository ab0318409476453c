package activities_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// scheduledFixture is one test's activities on a PostgreSQL schema of its own, with a
// recording publisher.
type scheduledFixture struct {
	acts  *activities.Activities
	store *store.Store
	pub   *testenv.Events
	env   *testsuite.TestActivityEnvironment
}

func newScheduledFixture(t *testing.T) *scheduledFixture {
	t.Helper()
	st := testenv.Store(t)
	f := &scheduledFixture{store: st, pub: &testenv.Events{}}
	f.acts = &activities.Activities{Store: st, Publisher: f.pub, Log: testenv.Logger(t)}
	var s testsuite.WorkflowTestSuite
	f.env = s.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.acts)
	return f
}

func (f *scheduledFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := f.store.Pool().Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func requireNonRetryable(t *testing.T, err error, msg string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v, want an application error", err)
	require.True(t, appErr.NonRetryable(), "got a retryable error, want a non-retryable one")
	require.ErrorContains(t, err, msg)
}

func TestDailyReportNumbers(t *testing.T) {
	f := newScheduledFixture(t)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	noon, before := day.Add(12*time.Hour), day.Add(-time.Second)
	f.exec(t, `INSERT INTO tenants (owner_user_id, owner_email, created_at) VALUES ('u-1', 'a@example.com', $1), ('u-2', 'b@example.com', $2)`, noon, before)
	var tenant string
	require.NoError(t, f.store.Pool().QueryRow(context.Background(), "SELECT id::text FROM tenants WHERE owner_user_id = 'u-1'").Scan(&tenant))
	f.exec(t, `INSERT INTO payments (payment_id, tenant_id, customer_id, amount, currency, event_id, recorded_at) VALUES
		('pi_1', $1, 'cus', 4900, 'eur', 'e', $2), ('pi_2', $1, 'cus', 100, 'eur', 'e', $2), ('pi_3', $1, 'cus', 300, 'usd', 'e', $2),
		('pi_0', $1, 'cus', 999, 'usd', 'e', $3)`, tenant, noon, before)
	f.exec(t, `INSERT INTO deploys (workflow_id, repository, ref, commit_sha, status, finished_at) VALUES
		('d1', 'r', 'main', 'a', 'succeeded', $1), ('d2', 'r', 'main', 'b', 'failed', $1), ('d3', 'r', 'main', 'c', 'failed', $1)`, noon)
	f.exec(t, `INSERT INTO ledger_events (event_id, event_type, source, subject, received_at, settled_at, outcome) VALUES
		('e1', 't', '/s', 'events.t', $1, $1, 'routed'), ('e2', 't', '/s', 'events.t', $1, $1, 'duplicate'), ('e3', 't', '/s', 'events.t', $2, $2, 'routed')`, noon, before)

	v, err := f.env.ExecuteActivity(f.acts.DailyReportNumbers, activities.ReportInput{Date: "2026-03-01"})
	require.NoError(t, err)
	var got contract.DailyReport
	require.NoError(t, v.Get(&got))
	want := contract.DailyReport{
		Date:    "2026-03-01",
		Signups: 1,
		Payments: contract.ReportPayments{Count: 3, ByCurrency: []contract.CurrencyTotal{
			{Currency: "eur", Count: 2, Amount: 5000}, {Currency: "usd", Count: 1, Amount: 300},
		}},
		Deploys: contract.ReportDeploys{Succeeded: 1, Failed: 2},
		Events:  map[string]int64{"routed": 1, "duplicate": 1},
	}
	require.Equal(t, want, got, "got %v, want %v", got, want)
	require.Empty(t, f.pub.Published(), "reading the numbers emits nothing")

	for _, bad := range []string{"", "2026-3-1", "01.03.2026", "2026-02-30"} {
		_, err := f.env.ExecuteActivity(f.acts.DailyReportNumbers, activities.ReportInput{Date: bad})
		requireNonRetryable(t, err, "is not YYYY-MM-DD")
	}
}

func TestEmitDailyReport(t *testing.T) {
	tests := []struct {
		name   string
		report contract.DailyReport
	}{
		{name: "a quiet day", report: contract.DailyReport{
			Date: "2026-03-01", Payments: contract.ReportPayments{ByCurrency: []contract.CurrencyTotal{}}, Events: map[string]int64{},
		}},
		{name: "a busy day", report: contract.DailyReport{
			Date: "2026-03-02", Signups: 12,
			Payments: contract.ReportPayments{Count: 3, ByCurrency: []contract.CurrencyTotal{{Currency: "eur", Count: 3, Amount: 14700}}},
			Deploys:  contract.ReportDeploys{Succeeded: 4, Failed: 1},
			Events:   map[string]int64{"routed": 40, "dead_lettered": 2},
		}},
	}
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &testenv.Events{}
			acts := &activities.Activities{Publisher: pub, Log: testenv.Logger(t)}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivity(acts)
			for range 2 { // a retry, or a second run for the same date
				_, err := env.ExecuteActivity(acts.EmitDailyReport, tt.report)
				require.NoError(t, err)
			}
			evs := pub.Published()
			require.Len(t, evs, 2)
			for _, ev := range evs {
				require.Equal(t, "daily-report-"+tt.report.Date+"/report.daily", ev.ID(), "one id per date")
				require.Equal(t, contract.TypeReportDaily, ev.Type())
				require.Equal(t, contract.SourceWorker, ev.Source())
				require.NoError(t, sch.Validate(ev), "report.daily data breaks schemas/report.daily.json")
				var got contract.DailyReport
				require.NoError(t, ev.DataAs(&got))
				require.Equal(t, tt.report, got, "got %v, want %v", got, tt.report)
			}
		})
	}

	acts := &activities.Activities{Publisher: &testenv.Events{}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err = env.ExecuteActivity(acts.EmitDailyReport, contract.DailyReport{Date: "yesterday"})
	requireNonRetryable(t, err, "is not YYYY-MM-DD")
}

func TestPurges(t *testing.T) {
	f := newScheduledFixture(t)
	cutoff := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// 2,500 old emails: three batches of 1,000; two recent ones stay.
	f.exec(t, `INSERT INTO sent_emails (key, recipient, subject, sent_at)
		SELECT 'old-' || i, 'a@example.com', 's', $1::timestamptz - i * interval '1 minute' FROM generate_series(1, 2500) i`, cutoff)
	f.exec(t, `INSERT INTO sent_emails (key, recipient, subject, sent_at) VALUES ('new-1', 'a@example.com', 's', $1), ('new-2', 'a@example.com', 's', $2)`,
		cutoff, cutoff.Add(time.Hour))
	tn, err := f.store.EnsureTenant(context.Background(), "u-1", "a@example.com")
	require.NoError(t, err)
	f.exec(t, `INSERT INTO notifications (key, tenant_id, kind, title, body, created_at, read_at)
		SELECT 'n-' || i, $1, 'k', 't', 'b', $2::timestamptz - interval '1 day', CASE WHEN i % 2 = 0 THEN $2::timestamptz - interval '1 hour' END
		FROM generate_series(1, 30) i`, tn.ID, cutoff)
	f.exec(t, `INSERT INTO notifications (key, tenant_id, kind, title, body, created_at, read_at) VALUES ('kept', $1, 'k', 't', 'b', $2, NULL)`, tn.ID, cutoff)

	tests := []struct {
		name     string
		activity any
		in       activities.PurgeInput
		want     int64
		left     string // counts the rows left
		wantLeft int
	}{
		{name: "sent emails, default batches", activity: f.acts.PurgeSentEmails, in: activities.PurgeInput{Before: cutoff}, want: 2500, left: "SELECT count(*) FROM sent_emails", wantLeft: 2},
		{name: "notifications, batches of 7", activity: f.acts.PurgeNotifications, in: activities.PurgeInput{Before: cutoff, BatchSize: 7}, want: 30, left: "SELECT count(*) FROM notifications", wantLeft: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := f.env.ExecuteActivity(tt.activity, tt.in)
			require.NoError(t, err)
			var got int64
			require.NoError(t, v.Get(&got))
			require.Equal(t, tt.want, got, "got %v deleted, want %v", got, tt.want)
			var left int
			require.NoError(t, f.store.Pool().QueryRow(context.Background(), tt.left).Scan(&left))
			require.Equal(t, tt.wantLeft, left, "got %v rows left, want %v", left, tt.wantLeft)

			v, err = f.env.ExecuteActivity(tt.activity, tt.in)
			require.NoError(t, err)
			require.NoError(t, v.Get(&got))
			require.Zero(t, got, "a second run finds nothing")
		})
	}

	_, err = f.env.ExecuteActivity(f.acts.PurgeSentEmails, activities.PurgeInput{})
	requireNonRetryable(t, err, "no cut-off time")
}

// makeTree creates dir and, under it, the directories names, then dates all of them
// (dir last) to mtime.
func makeTree(t *testing.T, dir string, mtime time.Time, names ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o750))
	for _, n := range names {
		p := filepath.Join(dir, n)
		if filepath.Ext(n) == ".txt" {
			require.NoError(t, os.WriteFile(p, []byte("mine"), 0o640))
		} else {
			require.NoError(t, os.MkdirAll(filepath.Join(p, "deep"), 0o750))
			require.NoError(t, os.WriteFile(filepath.Join(p, "deep", "file"), []byte("x"), 0o640))
		}
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	require.NoError(t, os.Chtimes(dir, mtime, mtime))
}

func TestRemoveStaleWorkspaces(t *testing.T) {
	f := newScheduledFixture(t)
	root := t.TempDir()
	outside := t.TempDir()
	now := time.Now()
	old, cutoff := now.Add(-48*time.Hour), now.Add(-24*time.Hour)

	makeTree(t, filepath.Join(root, "deploy-acme-app-1"), old, "src")
	makeTree(t, filepath.Join(root, "deploy-acme-app-2"), old, "src.clone", "rollback")
	makeTree(t, filepath.Join(root, "deploy-acme-app-fresh"), now, "src")
	// Old itself, but a step wrote at its top recently.
	makeTree(t, filepath.Join(root, "deploy-acme-app-busy"), old, "src")
	require.NoError(t, os.Chtimes(filepath.Join(root, "deploy-acme-app-busy", "src"), now, now))
	// Not made by BlueprintDeploy: something else at its top.
	makeTree(t, filepath.Join(root, "somebody-elses"), old, "src", "notes.txt")
	makeTree(t, filepath.Join(root, "empty"), old)
	// The workspace of a deploy still running (ids are sanitized into names).
	makeTree(t, filepath.Join(root, "deploy-acme_app-run"), old, "src")
	f.exec(t, `INSERT INTO deploys (workflow_id, repository, ref, commit_sha) VALUES ('deploy-acme/app-run', 'acme/app', 'main', 'abc')`)
	// A link to a directory outside the root that looks like a workspace.
	makeTree(t, filepath.Join(outside, "victim"), old, "src")
	require.NoError(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, "deploy-link")))
	require.NoError(t, os.WriteFile(filepath.Join(root, "stray-file"), []byte("x"), 0o640))

	v, err := f.env.ExecuteActivity(f.acts.RemoveStaleWorkspaces, activities.StaleWorkspacesInput{Root: root, Before: cutoff, Limit: 1})
	require.NoError(t, err)
	var removed int
	require.NoError(t, v.Get(&removed))
	require.Equal(t, 1, removed, "bounded by Limit")
	v, err = f.env.ExecuteActivity(f.acts.RemoveStaleWorkspaces, activities.StaleWorkspacesInput{Root: root, Before: cutoff})
	require.NoError(t, err)
	require.NoError(t, v.Get(&removed))
	require.Equal(t, 1, removed, "the rest")

	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{"deploy-acme-app-busy", "deploy-acme-app-fresh", "deploy-acme_app-run", "deploy-link", "empty", "somebody-elses", "stray-file"}
	require.Equal(t, want, left, "got %v, want %v", left, want)
	_, err = os.Stat(filepath.Join(outside, "victim", "src", "deep", "file"))
	require.NoError(t, err, "nothing outside the root is touched")

	tests := []struct {
		name string
		root string
	}{
		{name: "relative root", root: "deploys"},
		{name: "file system root", root: "/"},
		{name: "no root", root: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.env.ExecuteActivity(f.acts.RemoveStaleWorkspaces, activities.StaleWorkspacesInput{Root: tt.root, Before: cutoff})
			requireNonRetryable(t, err, "must be an absolute directory")
		})
	}
	v, err = f.env.ExecuteActivity(f.acts.RemoveStaleWorkspaces, activities.StaleWorkspacesInput{Root: filepath.Join(root, "missing"), Before: cutoff})
	require.NoError(t, err, "a missing root is nothing to clean")
	require.NoError(t, v.Get(&removed))
	require.Zero(t, removed)
}
