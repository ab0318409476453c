package schedules_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/schedules"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// greet is the workflow of the tests' schedules: it returns its two positional arguments.
func greet(_ workflow.Context, who map[string]any, times int) (string, error) {
	return fmt.Sprintf("hello %v x%d", who["name"], times), nil
}

// parse parses a schedules file whose ids are prefixed with prefix; each schedule is
// deleted when the test ends.
func parse(t *testing.T, c client.Client, prefix, file string) []schedules.Spec {
	t.Helper()
	specs, err := schedules.Parse([]byte(strings.ReplaceAll(file, "ID-", prefix)), "schedules.yaml")
	require.NoError(t, err)
	for _, s := range specs {
		cleanup(t, c, s.ID)
	}
	return specs
}

func cleanup(t *testing.T, c client.Client, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.ScheduleClient().GetHandle(ctx, id).Delete(ctx) // absent when deleted by the test
	})
}

// apply is schedules.Apply, which must succeed, tried again when a call to Temporal
// timed out: on a loaded machine the dev server may answer a schedule's description
// (a query of its workflow) later than the SDK waits.
func apply(t *testing.T, ctx context.Context, c client.Client, taskQueue string, specs []schedules.Spec, opts schedules.ApplyOptions) []schedules.Change {
	t.Helper()
	var changes []schedules.Change
	testenv.Eventually(t, 90*time.Second, func() bool {
		var err error
		changes, err = schedules.Apply(ctx, c, taskQueue, specs, opts)
		var timeout *serviceerror.DeadlineExceeded
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil || errors.As(err, &timeout) {
			t.Logf("trying again: %v", err)
			return false
		}
		require.NoError(t, err)
		return true
	}, "schedules.Apply timed out again and again")
	return changes
}

// A schedule declared in a file fires with the file's arguments; an operator's pause
// survives a re-apply of a changed file, whose changes are applied.
func TestScheduleFromFileFiresAndSurvivesReapply(t *testing.T) {
	c := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	taskQueue := testenv.ID("test-")
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(greet, workflow.RegisterOptions{Name: "Greet"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	prefix := testenv.ID("test-") + "-"
	specs := parse(t, c, prefix, `
schedules:
  - id: ID-greet
    cron: "0 6 * * *"
    workflow: Greet
    workflow_id: ID-greeting
    args: [{name: ada}, 3]
    overlap: allow_all
`)
	changes := apply(t, ctx, c, taskQueue, specs, schedules.ApplyOptions{})
	require.Equal(t, []schedules.Change{{ID: prefix + "greet", Op: schedules.OpCreate}}, changes)

	h := c.ScheduleClient().GetHandle(ctx, prefix+"greet")
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var runs []client.ScheduleActionResult
	testenv.Eventually(t, 30*time.Second, func() bool {
		runs = describe(t, c, prefix+"greet").Info.RecentActions
		return len(runs) >= 1
	}, "schedule %sgreet did not start the triggered run", prefix)
	run := runs[0].StartWorkflowResult
	require.True(t, strings.HasPrefix(run.WorkflowID, prefix+"greeting-"), "workflow id %s starts with workflow_id", run.WorkflowID)
	var got string
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &got))
	require.Equal(t, "hello ada x3", got, "the file's args, one payload each")

	// The operator pauses it in the UI; the file changes; the file is applied again.
	require.NoError(t, h.Pause(ctx, client.SchedulePauseOptions{Note: "holiday"}))
	moved := parse(t, c, prefix, `
schedules:
  - id: ID-greet
    cron: "30 7 * * *"
    time_zone: Europe/Paris
    jitter: 30s
    workflow: Greet
    args: [{name: grace}, 1]
    catchup_window: 10m
`)
	changes = apply(t, ctx, c, taskQueue, moved, schedules.ApplyOptions{})
	require.Equal(t, []schedules.Change{{ID: prefix + "greet", Op: schedules.OpUpdate, KeptPause: "holiday"}}, changes)
	d := describe(t, c, prefix+"greet")
	require.True(t, d.Schedule.State.Paused, "the operator's pause survives the re-apply")
	require.Equal(t, "holiday", d.Schedule.State.Note)
	require.Equal(t, "Europe/Paris", d.Schedule.Spec.TimeZoneName)
	require.Equal(t, 30*time.Second, d.Schedule.Spec.Jitter)
	require.Equal(t, 10*time.Minute, d.Schedule.Policy.CatchupWindow)
	action := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.Equal(t, prefix+"greet", action.ID, "workflow_id dropped: the schedule's id")
	require.Equal(t, taskQueue, action.TaskQueue)
	require.Equal(t, []string{"30 7"}, minuteHour(d.Schedule.Spec), "the new cron, 30 7 * * *")

	// Triggered by the operator while paused, it runs with the new arguments.
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	testenv.Eventually(t, 30*time.Second, func() bool {
		runs = describe(t, c, prefix+"greet").Info.RecentActions
		return len(runs) >= 2
	}, "schedule %sgreet did not start the second triggered run", prefix)
	run = runs[len(runs)-1].StartWorkflowResult
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &got))
	require.Equal(t, "hello grace x1", got)
}

// minuteHour reads the minute and hour of each calendar of a described spec: Temporal
// turns a cron expression into a calendar.
func minuteHour(s *client.ScheduleSpec) []string {
	var out []string
	for _, cal := range s.Calendars {
		out = append(out, fmt.Sprintf("%d %d", cal.Minute[0].Start, cal.Hour[0].Start))
	}
	return out
}

// paused: true pauses a schedule, and only that pause is lifted when the file drops it.
func TestSchedulePausedByFile(t *testing.T) {
	c := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	taskQueue := testenv.ID("test-")
	prefix := testenv.ID("test-") + "-"
	paused := parse(t, c, prefix, "schedules:\n  - {id: ID-a, every: 1h, workflow: Greet, paused: true}\n  - {id: ID-b, every: 1h, workflow: Greet}\n")
	running := parse(t, c, prefix, "schedules:\n  - {id: ID-a, every: 1h, workflow: Greet}\n  - {id: ID-b, every: 1h, workflow: Greet}\n")

	changes := apply(t, ctx, c, taskQueue, paused, schedules.ApplyOptions{})
	require.Equal(t, []schedules.Change{{ID: prefix + "a", Op: schedules.OpCreate, Pause: "pause"}, {ID: prefix + "b", Op: schedules.OpCreate}}, changes)
	require.True(t, describe(t, c, prefix+"a").Schedule.State.Paused)
	require.Equal(t, schedules.PausedByFile, describe(t, c, prefix+"a").Schedule.State.Note)

	require.NoError(t, c.ScheduleClient().GetHandle(ctx, prefix+"b").Pause(ctx, client.SchedulePauseOptions{Note: "incident 42"}))
	changes = apply(t, ctx, c, taskQueue, running, schedules.ApplyOptions{})
	require.Equal(t, []schedules.Change{{ID: prefix + "a", Op: schedules.OpUpdate, Pause: "unpause"}, {ID: prefix + "b", Op: schedules.OpUpdate, KeptPause: "incident 42"}}, changes)
	require.False(t, describe(t, c, prefix+"a").Schedule.State.Paused, "the file's own pause is lifted")
	require.True(t, describe(t, c, prefix+"b").Schedule.State.Paused, "the operator's is not")

	// The file pauses a running schedule on the next apply.
	changes = apply(t, ctx, c, taskQueue, paused[:1], schedules.ApplyOptions{})
	require.Equal(t, []schedules.Change{{ID: prefix + "a", Op: schedules.OpUpdate, Pause: "pause"}}, changes)
	require.True(t, describe(t, c, prefix+"a").Schedule.State.Paused)
}

// Prune deletes only the schedules this deployment created that the file no longer
// declares: never an operator's own, nor another deployment's; --dry-run deletes none.
func TestApplyPrunesOnlyItsOwn(t *testing.T) {
	c := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	taskQueue := testenv.ID("test-")
	prefix := testenv.ID("test-") + "-"
	both := parse(t, c, prefix, "schedules:\n  - {id: ID-keep, every: 1h, workflow: Greet}\n  - {id: ID-gone, every: 1h, workflow: Greet}\n")
	apply(t, ctx, c, taskQueue, both, schedules.ApplyOptions{})

	// Another deployment's, on another task queue, and an operator's own, made without flowbridge.
	other := parse(t, c, prefix, "schedules:\n  - {id: ID-other, every: 1h, workflow: Greet}\n")
	apply(t, ctx, c, testenv.ID("test-"), other, schedules.ApplyOptions{})
	own := prefix + "operator"
	cleanup(t, c, own)
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: own, Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action: &client.ScheduleWorkflowAction{Workflow: "Greet", TaskQueue: taskQueue},
	})
	require.NoError(t, err)

	// Temporal lists schedules from its visibility store: wait for this deployment's two.
	testenv.Eventually(t, 30*time.Second, func() bool {
		owned, err := schedules.Owned(ctx, c, taskQueue)
		require.NoError(t, err)
		return len(owned) == 2
	}, "the two schedules of task queue %s are not listed", taskQueue)

	changes := apply(t, ctx, c, taskQueue, both[:1], schedules.ApplyOptions{Prune: true, DryRun: true})
	require.Equal(t, []schedules.Change{{ID: prefix + "keep", Op: schedules.OpUpdate}, {ID: prefix + "gone", Op: schedules.OpDelete}}, changes)
	describe(t, c, prefix+"gone") // still there

	changes = apply(t, ctx, c, taskQueue, both[:1], schedules.ApplyOptions{})
	require.Equal(t, []schedules.Change{{ID: prefix + "keep", Op: schedules.OpUpdate}}, changes, "no prune: nothing deleted")
	describe(t, c, prefix+"gone")

	changes = apply(t, ctx, c, taskQueue, both[:1], schedules.ApplyOptions{Prune: true})
	require.Equal(t, []schedules.Change{{ID: prefix + "keep", Op: schedules.OpUpdate}, {ID: prefix + "gone", Op: schedules.OpDelete}}, changes)
	_, err = c.ScheduleClient().GetHandle(ctx, prefix+"gone").Describe(ctx)
	require.Error(t, err, "pruned")
	describe(t, c, prefix+"other")
	describe(t, c, own)

	// A file entry of the operator's id is refused, and changes nothing.
	mine := parse(t, c, prefix, "schedules:\n  - {id: ID-operator, every: 2h, workflow: Greet}\n")
	for _, dry := range []bool{true, false} {
		_, err = schedules.Apply(ctx, c, taskQueue, mine, schedules.ApplyOptions{DryRun: dry})
		require.ErrorIs(t, err, schedules.ErrInvalidSpec, "dry run %v", dry)
		require.ErrorContains(t, err, "flowbridge did not create it")
	}
	require.Equal(t, time.Hour, describe(t, c, own).Schedule.Spec.Intervals[0].Every)

	// ls: the declared ones, then the undeclared ones of this deployment.
	st, err := schedules.List(ctx, c, taskQueue, both[1:])
	require.NoError(t, err)
	require.Len(t, st, 2)
	require.Equal(t, prefix+"gone", st[0].ID)
	require.True(t, st[0].Declared)
	require.False(t, st[0].Exists)
	require.Equal(t, prefix+"keep", st[1].ID)
	require.False(t, st[1].Declared)
	require.True(t, st[1].Exists && st[1].Managed)
	require.Equal(t, "Greet", st[1].Workflow)
	require.NotNil(t, st[1].NextRun)
}
