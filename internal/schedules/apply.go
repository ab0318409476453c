package schedules

import (
	"context"
	"errors"
	"fmt"
	"slices"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// Memo keys that mark a schedule as flowbridge's. Temporal sets a schedule's memo only
// when it creates it, so a schedule flowbridge did not create never carries them, and
// Apply's Prune never deletes one.
const (
	// MemoManagedBy holds ManagedBy.
	MemoManagedBy = "managed_by"
	// MemoOwner holds the task queue (TEMPORAL_TASK_QUEUE) of the flowbridge that created
	// the schedule: Prune deletes only its own deployment's schedules, so two deployments
	// (blue and green) can share a namespace.
	MemoOwner = "flowbridge_task_queue"
	ManagedBy = "flowbridge"
)

// PausedByFile is the note of a pause the schedules file asked for (paused: true). Apply
// lifts a pause only when its note is this one: an operator's pause stays.
const PausedByFile = "paused by flowbridge's schedules file (paused: true)"

// legacyIDs are the schedules flowbridge's workers created before schedules had a
// memo: they are flowbridge's when their workflows run on the owner's task queue.
var legacyIDs = []string{DailyReportID, CleanupID, BackupID}

// Ops of a Change.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Change is what Apply did, or with DryRun would do, to one schedule.
type Change struct {
	ID string `json:"id"`
	Op string `json:"op"` // OpCreate, OpUpdate or OpDelete
	// Pause is "pause" when the file's paused: true pauses the schedule, "unpause" when
	// the file no longer asks for the pause it made, else empty.
	Pause string `json:"pause,omitempty"`
	// KeptPause is an operator's pause (its note) that the update leaves in place.
	KeptPause string `json:"kept_pause,omitempty"`
}

// ApplyOptions are Apply's options; the zero value creates and updates.
type ApplyOptions struct {
	// Prune deletes the schedules this deployment manages (memo MemoOwner = the task
	// queue) that specs no longer declare.
	Prune bool
	// DryRun changes nothing: the changes are those Apply would make.
	DryRun bool
}

// Apply makes each spec's schedule exist on c as the spec says, starting its workflows
// on taskQueue unless the spec names its own, and with opts.Prune deletes the schedules
// of this deployment that specs do not declare. It returns the changes, in the order of
// specs, then the deletions. Schedules flowbridge did not create are never changed: a
// spec of such an id is an error.
//
// Errors wrap ErrInvalidSpec for a spec that can never be applied or an id taken by a
// schedule flowbridge does not manage; any other error (Temporal unreachable) may
// succeed when retried. The changes made before an error are returned with it.
func Apply(ctx context.Context, c client.Client, taskQueue string, specs []Spec, opts ApplyOptions) ([]Change, error) {
	if taskQueue == "" {
		return nil, fmt.Errorf("%w: empty task queue", ErrInvalidSpec)
	}
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidSpec, err)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("%w: schedule %q is given twice", ErrInvalidSpec, s.ID)
		}
		seen[s.ID] = true
	}
	sc := c.ScheduleClient()
	var changes []Change
	for _, s := range specs {
		ch, err := ensure(ctx, sc, taskQueue, s, opts.DryRun)
		if err != nil {
			var invalid *serviceerror.InvalidArgument
			if errors.As(err, &invalid) {
				return changes, fmt.Errorf("%w: schedule %s (%s, workflow %s): %v", ErrInvalidSpec, s.ID, s.When(), s.Workflow, err)
			}
			return changes, fmt.Errorf("ensure schedule %s (%s, workflow %s): %w", s.ID, s.When(), s.Workflow, err)
		}
		changes = append(changes, ch)
	}
	if !opts.Prune {
		return changes, nil
	}
	owned, err := Owned(ctx, c, taskQueue)
	if err != nil {
		return changes, err
	}
	for _, id := range owned {
		if seen[id] {
			continue
		}
		if !opts.DryRun {
			err := sc.GetHandle(ctx, id).Delete(ctx)
			var notFound *serviceerror.NotFound
			if err != nil && !errors.As(err, &notFound) { // another apply deleted it: done
				return changes, fmt.Errorf("delete schedule %s: %w", id, err)
			}
		}
		changes = append(changes, Change{ID: id, Op: OpDelete})
	}
	return changes, nil
}

// Owned lists the ids of the schedules on c that the flowbridge of taskQueue manages,
// sorted. Temporal lists schedules from its visibility store, so one created a moment
// ago may be missing.
func Owned(ctx context.Context, c client.Client, taskQueue string) ([]string, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		owner, managed := memoOwner(e.Memo)
		switch {
		case managed && owner == taskQueue:
			ids = append(ids, e.ID)
		case !managed && slices.Contains(legacyIDs, e.ID):
			d, err := c.ScheduleClient().GetHandle(ctx, e.ID).Describe(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe schedule %s: %w", e.ID, err)
			}
			if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok && a.TaskQueue == taskQueue {
				ids = append(ids, e.ID)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// memoOwner reads the marks of a schedule's memo: managed says flowbridge created it,
// owner is then its deployment's task queue.
func memoOwner(m *commonpb.Memo) (owner string, managed bool) {
	if m == nil {
		return "", false
	}
	var by string
	if p := m.GetFields()[MemoManagedBy]; p == nil || converter.GetDefaultDataConverter().FromPayload(p, &by) != nil || by != ManagedBy {
		return "", false
	}
	if p := m.GetFields()[MemoOwner]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &owner)
	}
	return owner, true
}

// managed reports whether flowbridge may change the schedule d describes: it created it,
// or it is one its workers created before schedules had a memo.
func managed(id string, d *client.ScheduleDescription) bool {
	_, ok := memoOwner(d.Memo)
	return ok || (d.Memo == nil || len(d.Memo.GetFields()) == 0) && slices.Contains(legacyIDs, id)
}

func notManaged(id string) error {
	return fmt.Errorf("%w: schedule %s exists but flowbridge did not create it (its memo has no %s=%s): rename the entry, or delete that schedule (temporal schedule delete --schedule-id %s) so that flowbridge creates its own",
		ErrInvalidSpec, id, MemoManagedBy, ManagedBy, id)
}

// options returns the spec, action and overlap policy of s's schedule.
func (s Spec) options(taskQueue string) (client.ScheduleSpec, *client.ScheduleWorkflowAction, enumspb.ScheduleOverlapPolicy) {
	spec := client.ScheduleSpec{TimeZoneName: s.TimeZone, Jitter: s.Jitter}
	if s.Cron != "" {
		spec.CronExpressions = []string{s.Cron}
	} else {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: s.Every, Offset: s.Offset}}
	}
	action := &client.ScheduleWorkflowAction{ID: or(s.WorkflowID, s.ID), Workflow: s.Workflow, TaskQueue: or(s.TaskQueue, taskQueue), Args: s.Args}
	overlap := s.Overlap
	if overlap == enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED {
		overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
	}
	return spec, action, overlap
}

// pauseChange applies s's paused to state, and says what it changed.
func (s Spec) pauseChange(state *client.ScheduleState) (pause, kept string) {
	switch {
	case s.Paused && !state.Paused:
		state.Paused, state.Note = true, PausedByFile
		return "pause", ""
	case !s.Paused && state.Paused && state.Note == PausedByFile:
		state.Paused, state.Note = false, ""
		return "unpause", ""
	case state.Paused && state.Note != PausedByFile:
		return "", or(state.Note, "paused")
	}
	return "", ""
}

func ensure(ctx context.Context, sc client.ScheduleClient, taskQueue string, s Spec, dryRun bool) (Change, error) {
	spec, action, overlap := s.options(taskQueue)
	if dryRun {
		d, err := sc.GetHandle(ctx, s.ID).Describe(ctx)
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return created(s), nil
		}
		if err != nil {
			return Change{}, err
		}
		if !managed(s.ID, d) {
			return Change{}, notManaged(s.ID)
		}
		state := client.ScheduleState{}
		if d.Schedule.State != nil {
			state = *d.Schedule.State
		}
		ch := Change{ID: s.ID, Op: OpUpdate}
		ch.Pause, ch.KeptPause = s.pauseChange(&state)
		return ch, nil
	}
	opts := client.ScheduleOptions{
		ID: s.ID, Spec: spec, Action: action, Overlap: overlap, CatchupWindow: s.CatchupWindow,
		Memo: map[string]any{MemoManagedBy: ManagedBy, MemoOwner: taskQueue},
	}
	if s.Paused {
		opts.Paused, opts.Note = true, PausedByFile
	}
	_, err := sc.Create(ctx, opts)
	if err == nil {
		return created(s), nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return Change{}, err
	}
	ch := Change{ID: s.ID, Op: OpUpdate}
	err = sc.GetHandle(ctx, s.ID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			if !managed(s.ID, &in.Description) {
				return nil, notManaged(s.ID)
			}
			sched := in.Description.Schedule
			sched.Spec = &spec
			sched.Action = action
			policy := client.SchedulePolicies{}
			if sched.Policy != nil {
				policy = *sched.Policy
			}
			policy.Overlap, policy.CatchupWindow = overlap, s.CatchupWindow
			sched.Policy = &policy
			state := client.ScheduleState{}
			if sched.State != nil {
				state = *sched.State
			}
			ch.Pause, ch.KeptPause = s.pauseChange(&state)
			sched.State = &state
			return &client.ScheduleUpdate{Schedule: &sched}, nil
		},
	})
	return ch, err
}

func created(s Spec) Change {
	ch := Change{ID: s.ID, Op: OpCreate}
	if s.Paused {
		ch.Pause = "pause"
	}
	return ch
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
