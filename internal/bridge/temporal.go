package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/workflows"

	"github.com/nats-io/nats.go/jetstream"
)

// Temporal is the part of the Temporal client the bridge uses.
type Temporal interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
	SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any, options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
	CancelWorkflow(ctx context.Context, workflowID, runID string) error
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

var _ Temporal = client.Client(nil)

// errTargetMissing: a signal's workflow does not exist (yet).
var errTargetMissing = errors.New("target workflow does not exist yet")

const (
	statusDone      = "done"
	statusDuplicate = "duplicate"
)

type applied struct {
	status string // statusDone or statusDuplicate
	runID  string
}

// apply performs one decision. Errors are permanent (isPermanent) or transient.
func (b *Bridge) apply(ctx context.Context, ev events.Event, d routing.Decision, meta *jetstream.MsgMetadata) (applied, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	input := workflowEvent(ev)
	switch d.Action {
	case routing.Start:
		run, err := b.temporal.ExecuteWorkflow(ctx, b.startOptions(ev, d), d.WorkflowType, input)
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return applied{status: statusDuplicate}, nil
		}
		if err != nil {
			return applied{}, classify(fmt.Errorf("start %s %s: %w", d.WorkflowType, d.WorkflowID, err))
		}
		return applied{status: statusDone, runID: run.GetRunID()}, nil

	case routing.SignalWithStart:
		opts := b.startOptions(ev, d)
		opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
		run, err := b.temporal.SignalWithStartWorkflow(ctx, d.WorkflowID, d.Signal, input, opts, d.WorkflowType, input)
		if err != nil {
			return applied{}, classify(fmt.Errorf("signal-with-start %s %s: %w", d.WorkflowType, d.WorkflowID, err))
		}
		return applied{status: statusDone, runID: run.GetRunID()}, nil

	case routing.Signal:
		err := b.temporal.SignalWorkflow(ctx, d.WorkflowID, "", d.Signal, input)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return applied{}, b.signalTargetMissing(ctx, d, meta)
		}
		if err != nil {
			return applied{}, classify(fmt.Errorf("signal %s to %s: %w", d.Signal, d.WorkflowID, err))
		}
		return applied{status: statusDone}, nil

	case routing.Cancel:
		err := b.temporal.CancelWorkflow(ctx, d.WorkflowID, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return applied{status: statusDuplicate}, nil // nothing running to cancel
		}
		if err != nil {
			return applied{}, classify(fmt.Errorf("cancel %s: %w", d.WorkflowID, err))
		}
		return applied{status: statusDone}, nil
	}
	return applied{}, permanent(fmt.Errorf("route %s: unknown action %q", d.Route, d.Action))
}

// signalTargetMissing explains a NotFound from a signal. A workflow that has not been
// started yet may be started soon (email.verified can overtake user.signedup), so the
// event is retried until SignalWait has passed since it was stored. A workflow that
// exists but is closed will never take the signal: that is permanent.
func (b *Bridge) signalTargetMissing(ctx context.Context, d routing.Decision, meta *jetstream.MsgMetadata) error {
	desc, err := b.temporal.DescribeWorkflowExecution(ctx, d.WorkflowID, "")
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		status := desc.GetWorkflowExecutionInfo().GetStatus()
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return permanent(fmt.Errorf("signal %s: workflow %s is already closed (%s)", d.Signal, d.WorkflowID, status))
		}
		return fmt.Errorf("signal %s: workflow %s not found, then running: %w", d.Signal, d.WorkflowID, errTargetMissing)
	case errors.As(err, &nf):
		if waited := time.Since(meta.Timestamp); waited > b.cfg.SignalWait {
			return permanent(fmt.Errorf("signal %s: workflow %s did not exist %s after the event was stored (BRIDGE_SIGNAL_WAIT)",
				d.Signal, d.WorkflowID, waited.Round(time.Second)))
		}
		return fmt.Errorf("signal %s: workflow %s: %w", d.Signal, d.WorkflowID, errTargetMissing)
	default:
		return classify(fmt.Errorf("describe %s: %w", d.WorkflowID, err))
	}
}

// classify marks the Temporal errors that no retry can fix as permanent. Anything else —
// unavailable, deadline exceeded, resource exhausted ("slow down"), unknown — is
// transient: retrying loses nothing, dead-lettering could.
func classify(err error) error {
	var (
		invalid *serviceerror.InvalidArgument
		denied  *serviceerror.PermissionDenied
	)
	if errors.As(err, &invalid) || errors.As(err, &denied) {
		return permanent(err)
	}
	return err
}

func (b *Bridge) startOptions(ev events.Event, d routing.Decision) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       d.WorkflowID,
		TaskQueue:                                b.cfg.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo: map[string]any{
			workflows.MemoEventID:     ev.ID(),
			workflows.MemoEventType:   ev.Type(),
			workflows.MemoEventSource: ev.Source(),
		},
	}
}

// workflowEvent is the event as workflows receive it.
func workflowEvent(ev events.Event) workflows.Event {
	return workflows.Event{
		ID:            ev.ID(),
		Type:          ev.Type(),
		Source:        ev.Source(),
		Subject:       ev.Subject(),
		Time:          ev.Time(),
		CorrelationID: events.CorrelationID(ev),
		Data:          ev.Data(),
	}
}
