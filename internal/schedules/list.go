package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// Status is a schedule as `bridge schedules ls` shows it: declared by the file, in
// Temporal, or both.
type Status struct {
	ID       string `json:"id"`
	Declared bool   `json:"declared"` // the file declares it
	Exists   bool   `json:"exists"`   // Temporal has it
	// Managed: flowbridge created it (its memo says so); a declared schedule that exists
	// and is not managed is one Apply refuses to change.
	Managed   bool       `json:"managed"`
	When      string     `json:"when,omitempty"` // the file's, for a declared schedule
	Workflow  string     `json:"workflow,omitempty"`
	TaskQueue string     `json:"task_queue,omitempty"`
	Paused    bool       `json:"paused"`
	Note      string     `json:"note,omitempty"`
	NextRun   *time.Time `json:"next_run,omitempty"`
	LastRun   *time.Time `json:"last_run,omitempty"`
}

// List returns the status of each spec's schedule, in their order, then of the
// schedules the flowbridge of taskQueue manages that specs do not declare (those
// `schedules apply --prune` deletes), by id.
func List(ctx context.Context, c client.Client, taskQueue string, specs []Spec) ([]Status, error) {
	var out []Status
	declared := map[string]bool{}
	for _, s := range specs {
		declared[s.ID] = true
		_, action, _ := s.options(taskQueue)
		st := Status{ID: s.ID, Declared: true, When: s.When(), Workflow: s.Workflow, TaskQueue: action.TaskQueue}
		if err := describeInto(ctx, c, &st); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	owned, err := Owned(ctx, c, taskQueue)
	if err != nil {
		return nil, err
	}
	for _, id := range owned {
		if declared[id] {
			continue
		}
		st := Status{ID: id}
		if err := describeInto(ctx, c, &st); err != nil {
			return nil, err
		}
		if st.Exists { // deleted since the list
			out = append(out, st)
		}
	}
	return out, nil
}

// describeInto completes st from Temporal's description of its schedule; a schedule
// Temporal does not have leaves it as it is.
func describeInto(ctx context.Context, c client.Client, st *Status) error {
	d, err := c.ScheduleClient().GetHandle(ctx, st.ID).Describe(ctx)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe schedule %s: %w", st.ID, err)
	}
	st.Exists, st.Managed = true, managed(st.ID, d)
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		if w, ok := a.Workflow.(string); ok {
			st.Workflow = w
		}
		st.TaskQueue = a.TaskQueue
	}
	if d.Schedule.State != nil {
		st.Paused, st.Note = d.Schedule.State.Paused, d.Schedule.State.Note
	}
	if len(d.Info.NextActionTimes) > 0 {
		t := d.Info.NextActionTimes[0].UTC()
		st.NextRun = &t
	}
	if n := len(d.Info.RecentActions); n > 0 {
		t := d.Info.RecentActions[n-1].ActualTime.UTC()
		st.LastRun = &t
	}
	return nil
}
