package schedules_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/schedules"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
	"github.com/flowbridge/flowbridge/schemas"
)

// testSpecs are flowbridge's schedules with crons c, under ids of the test's own; they
// are deleted when the test ends.
func testSpecs(t *testing.T, c client.Client, crons schedules.Crons) []schedules.Spec {
	t.Helper()
	prefix := testenv.ID("test-") + "-"
	specs := schedules.Specs(crons)
	for i := range specs {
		specs[i].ID = prefix + specs[i].ID
		id := specs[i].ID
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.ScheduleClient().GetHandle(ctx, id).Delete(ctx) // absent when the test failed early
		})
	}
	return specs
}

// describe describes schedule id, tried again while the dev server answers later than
// the SDK waits (a loaded machine).
func describe(t *testing.T, c client.Client, id string) *client.ScheduleDescription {
	t.Helper()
	var d *client.ScheduleDescription
	testenv.Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var err error
		d, err = c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		var timeout *serviceerror.DeadlineExceeded
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &timeout) {
			t.Logf("describe schedule %s: trying again: %v", id, err)
			return false
		}
		require.NoError(t, err, "describe schedule %s", id)
		return true
	}, "describe schedule %s timed out again and again", id)
	return d
}

// requireSchedule checks the schedule of s starts s's workflow on taskQueue at the
// times of cron, which fires at minute 0 of the hours in hours (nil: every hour).
func requireSchedule(t *testing.T, c client.Client, s schedules.Spec, taskQueue string, hours []int) {
	t.Helper()
	d := describe(t, c, s.ID)
	action, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok, "schedule %s: got action %T, want a workflow", s.ID, d.Schedule.Action)
	require.Equal(t, s.Workflow, action.Workflow)
	require.Equal(t, taskQueue, action.TaskQueue)
	require.Equal(t, s.ID, action.ID, "workflow ids start with the schedule's")
	require.Equal(t, s.Overlap, d.Schedule.Policy.Overlap)
	require.Equal(t, s.CatchupWindow, d.Schedule.Policy.CatchupWindow)
	require.NotEmpty(t, d.Info.NextActionTimes)
	for _, next := range d.Info.NextActionTimes {
		next = next.UTC()
		require.Zero(t, next.Minute(), "schedule %s: next start %v", s.ID, next)
		if hours != nil {
			require.Contains(t, hours, next.Hour(), "schedule %s: next start %v", s.ID, next)
		}
	}
}

func TestEnsureSchedulesCreatesThenUpdates(t *testing.T) {
	c := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	specs := testSpecs(t, c, schedules.Crons{})
	taskQueue := testenv.ID("test-")

	require.NoError(t, schedules.EnsureSchedules(ctx, c, taskQueue, specs...))
	wantHours := [][]int{{6}, nil, {2}}
	for i, s := range specs {
		requireSchedule(t, c, s, taskQueue, wantHours[i])
	}
	// An operator pauses the backups; that survives the next start.
	require.NoError(t, c.ScheduleClient().GetHandle(ctx, specs[2].ID).Pause(ctx, client.SchedulePauseOptions{Note: "disk swap"}))

	// The next worker start, with other settings: the same schedules, updated.
	moved := schedules.Specs(schedules.Crons{DailyReport: "30 7 * * *", Cleanup: "15 */2 * * *", Backup: "0 3 * * *"})
	for i := range moved {
		moved[i].ID = specs[i].ID
	}
	otherQueue := testenv.ID("test-")
	require.NoError(t, schedules.EnsureSchedules(ctx, c, otherQueue, moved...), "a second call updates rather than fails")
	for i, s := range moved {
		d := describe(t, c, s.ID)
		action := d.Schedule.Action.(*client.ScheduleWorkflowAction)
		require.Equal(t, otherQueue, action.TaskQueue, "schedule %s: task queue updated", s.ID)
		require.False(t, d.Info.LastUpdateAt.IsZero(), "schedule %s was updated", s.ID)
		require.Equal(t, s.Overlap, d.Schedule.Policy.Overlap)
		if i == 2 {
			require.True(t, d.Schedule.State.Paused, "an operator's pause is kept")
			require.Equal(t, "disk swap", d.Schedule.State.Note)
			continue
		}
		for _, next := range d.Info.NextActionTimes {
			next = next.UTC()
			switch s.Workflow {
			case contract.DailyReportWorkflow:
				require.Equal(t, [2]int{7, 30}, [2]int{next.Hour(), next.Minute()}, "daily report at %v", next)
			case contract.CleanupWorkflow:
				require.Equal(t, 15, next.Minute(), "cleanup at %v", next)
				require.Zero(t, next.Hour()%2, "cleanup at %v", next)
			}
		}
	}
}

func TestEnsureSchedulesConcurrently(t *testing.T) {
	c := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	specs := testSpecs(t, c, schedules.Crons{})
	taskQueue := testenv.ID("test-")

	// Workers starting at once: some create, the others find the schedules and update.
	const workers = 4
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			errs[i] = schedules.EnsureSchedules(ctx, c, taskQueue, specs...)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "worker %d", i)
	}
	for _, s := range specs {
		requireSchedule(t, c, s, taskQueue, nil)
	}
}

func TestEnsureSchedulesRejectsInvalidSpecs(t *testing.T) {
	c := testenv.Temporal(t)
	ok := schedules.Spec{ID: testenv.ID("test-bad-"), Cron: "0 6 * * *", Workflow: contract.DailyReportWorkflow}
	t.Cleanup(func() { _ = c.ScheduleClient().GetHandle(context.Background(), ok.ID).Delete(context.Background()) })
	tests := []struct {
		name      string
		taskQueue string
		specs     []schedules.Spec
		msg       string
	}{
		{name: "no task queue", specs: []schedules.Spec{ok}, msg: "empty task queue"},
		{name: "no cron", taskQueue: "q", specs: []schedules.Spec{{ID: ok.ID, Workflow: ok.Workflow}}, msg: "needs an id, a cron expression and a workflow type"},
		{name: "no id", taskQueue: "q", specs: []schedules.Spec{{Cron: ok.Cron, Workflow: ok.Workflow}}, msg: "needs an id"},
		{name: "twice the same id", taskQueue: "q", specs: []schedules.Spec{ok, ok}, msg: "is given twice"},
		{name: "a cron Temporal rejects", taskQueue: "q", specs: []schedules.Spec{{ID: ok.ID, Cron: "every morning", Workflow: ok.Workflow}}, msg: `cron "every morning"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := schedules.EnsureSchedules(ctx, c, tt.taskQueue, tt.specs...)
			require.ErrorIs(t, err, schedules.ErrInvalidSpec)
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

// TestDailyReportOnSchedule runs the daily-report schedule on the Temporal dev server,
// with a worker of the test's own and the real activities: a start triggered now reports
// yesterday, a start backfilled for a past day reports the day before that one, each
// emits report.daily once under its date's id, and both histories replay.
func TestDailyReportOnSchedule(t *testing.T) {
	c := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := testenv.Store(t)

	// A signup yesterday, and one on the backfilled day's eve.
	yesterday := time.Now().UTC().Add(-24 * time.Hour)
	backfilled := time.Date(2026, 1, 15, 6, 0, 0, 0, time.UTC) // a nominal time
	eve := time.Date(2026, 1, 14, 18, 0, 0, 0, time.UTC)
	_, err := st.Pool().Exec(ctx, `INSERT INTO tenants (owner_user_id, owner_email, created_at) VALUES ('u-1', 'a@example.com', $1), ('u-2', 'b@example.com', $2)`, yesterday, eve)
	require.NoError(t, err)
	_, err = st.Pool().Exec(ctx, `INSERT INTO ledger_events (event_id, event_type, source, subject, received_at, settled_at, outcome)
		VALUES ('e-1', 'user.signedup', '/t', 'events.user.signedup', $1, $1, 'routed')`, eve)
	require.NoError(t, err)

	taskQueue := testenv.ID("test-")
	pub := &testenv.Events{}
	acts := &activities.Activities{Store: st, Publisher: pub, Log: testenv.Logger(t)}
	sw := &workflows.Scheduled{}
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(sw.DailyReport, workflow.RegisterOptions{Name: contract.DailyReportWorkflow})
	w.RegisterActivity(acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	spec := testSpecs(t, c, schedules.Crons{})[0]
	require.Equal(t, contract.DailyReportWorkflow, spec.Workflow)
	require.NoError(t, schedules.EnsureSchedules(ctx, c, taskQueue, spec))
	h := c.ScheduleClient().GetHandle(ctx, spec.ID)
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	// The backfill only once the trigger is taken: the dev server drops a trigger that a
	// backfill follows too closely.
	testenv.Eventually(t, 30*time.Second, func() bool { return len(describe(t, c, spec.ID).Info.RecentActions) >= 1 },
		"schedule %s did not start the triggered run", spec.ID)
	require.NoError(t, h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{
		Start: backfilled.Add(-time.Minute), End: backfilled.Add(time.Minute), Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
	}}}))

	var runs []client.ScheduleActionResult
	testenv.Eventually(t, 30*time.Second, func() bool {
		runs = describe(t, c, spec.ID).Info.RecentActions
		return len(runs) >= 2
	}, "schedule %s did not start its two runs", spec.ID)

	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, run := range runs {
		wfID := run.StartWorkflowResult.WorkflowID
		wantDate := run.ScheduleTime.UTC().AddDate(0, 0, -1).Format(contract.DateLayout)
		wr := c.GetWorkflow(ctx, wfID, run.StartWorkflowResult.FirstExecutionRunID)
		var got contract.DailyReport
		require.NoError(t, wr.Get(ctx, &got), "workflow %s", wfID)
		require.Equal(t, wantDate, got.Date, "workflow %s, nominal time %v", wfID, run.ScheduleTime)
		seen[got.Date] = true

		want, err := st.ReportNumbers(ctx, mustDay(t, wantDate), mustDay(t, wantDate).AddDate(0, 0, 1))
		require.NoError(t, err)
		wantSignups := int64(0)
		if yesterday.Format(contract.DateLayout) == wantDate || eve.Format(contract.DateLayout) == wantDate {
			wantSignups = 1
		}
		require.Equal(t, wantSignups, got.Signups, "signups on %s", wantDate)
		require.Equal(t, want.Events, got.Events)

		var evs []events.Event
		for _, ev := range pub.Published() {
			if ev.ID() == contract.ReportEventID(wantDate) {
				evs = append(evs, ev)
			}
		}
		require.Len(t, evs, 1, "report.daily events of %s", wantDate)
		require.Equal(t, wfID, evs[0].Subject())
		require.NoError(t, sch.Validate(evs[0]))

		replayer := worker.NewWorkflowReplayer()
		replayer.RegisterWorkflowWithOptions(sw.DailyReport, workflow.RegisterOptions{Name: contract.DailyReportWorkflow})
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, history(ctx, t, c, wfID, run.StartWorkflowResult.FirstExecutionRunID)))
	}
	require.True(t, seen["2026-01-14"], "the backfilled run reports the day before its nominal time: got %v", seen)
	require.Len(t, pub.Published(), 2, "one report per run")
}

func mustDay(t *testing.T, date string) time.Time {
	t.Helper()
	d, err := time.Parse(contract.DateLayout, date)
	require.NoError(t, err)
	return d
}

func history(ctx context.Context, t *testing.T, c client.Client, wfID, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}
