package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// Temporal is the part of the Temporal client the bridge uses: the raw workflow service,
// because only its requests carry the request ids that make retries idempotent (the SDK's
// ExecuteWorkflow and SignalWorkflow make up a new one on every call).
type Temporal interface {
	WorkflowService() workflowservice.WorkflowServiceClient
}

var _ Temporal = client.Client(nil)

type applied struct {
	status string // ResultDone, ResultDuplicate or ResultIgnored
	runID  string
}

// requestIDSpace namespaces the request ids derived from event ids.
var requestIDSpace = uuid.MustParse("5b0f3a52-6c49-4c5e-9a58-3f7e4d2b9c10")

// requestID is the same for every delivery of one event to one route, so Temporal drops
// a start or signal that is retried after its answer was lost.
func requestID(eventID string, d routing.Decision) string {
	return uuid.NewSHA1(requestIDSpace, []byte(eventID+"\x00"+d.Route+"\x00"+string(d.Action)+"\x00"+d.WorkflowID)).String()
}

var identity = func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("flowbridge-bridge@%s/%d", host, os.Getpid())
}()

// throttleBudget is how long one event's call is tried again in place while Temporal
// throttles it (ResourceExhausted), pausing as the limiter says, before the event is
// NAKed instead. In place, because the message stays held (InProgress) and a NAK would
// only bring it back at the same pace. Other failures (Temporal unreachable) are NAKed at
// once: the stream may hand the event to a replica that can reach Temporal.
const throttleBudget = time.Minute

// call makes one Temporal call with CallTimeout, reports its latency and result to the
// limiter, and tries it again in place while Temporal throttles (see throttleBudget).
func (b *Bridge) call(ctx context.Context, f func(context.Context) error) error {
	var began time.Time
	for {
		cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
		n := b.inflight.Add(1)
		t0 := time.Now()
		err := f(cctx)
		b.inflight.Add(-1)
		cancel()
		b.lim.observe(time.Since(t0), int(n), err)
		var exhausted *serviceerror.ResourceExhausted
		if !errors.As(err, &exhausted) || ctx.Err() != nil {
			return err
		}
		b.metrics.throttled.Inc()
		if began.IsZero() {
			began = t0
		} else if time.Since(began) > throttleBudget {
			return err
		}
		t := time.NewTimer(max(b.lim.pausedFor(time.Now()), pauseMin))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// apply performs one decision. Errors are permanent (isPermanent) or transient. since is
// when the event was stored on EVENTS: a signal waits for its workflow
// BRIDGE_SIGNAL_WAIT from there.
func (b *Bridge) apply(ctx context.Context, ev events.Event, d routing.Decision, since time.Time) (applied, error) {
	if d.Action == routing.Ignore {
		return applied{status: ResultIgnored}, nil
	}
	release, err := b.limits.admit(ctx, d)
	if err != nil {
		return applied{}, err
	}
	defer release()
	svc := b.temporal.WorkflowService()
	reqID := requestID(ev.ID(), d)
	if d.BatchOf != nil {
		reqID = requestID("batch\x00"+strings.Join(d.BatchOf, "\x00"), d)
	}
	exec := &commonpb.WorkflowExecution{WorkflowId: d.WorkflowID}

	switch d.Action {
	case routing.Start, routing.SignalWithStart:
		input, memo, attrs, err := encodeStart(d)
		if err == nil && b.attrs.on() {
			attrs, err = addDefaultAttrs(attrs, ev)
		}
		if err != nil {
			return applied{}, permanent(fmt.Errorf("route %s: %w", d.Route, err))
		}
		var signalInput *commonpb.Payloads
		if d.Action == routing.SignalWithStart {
			if signalInput, err = converter.GetDefaultDataConverter().ToPayloads(signalArgs(d)...); err != nil {
				return applied{}, permanent(fmt.Errorf("route %s: encode signal: %w", d.Route, err))
			}
		}
		if err := b.encodePayloads(memo, input, signalInput); err != nil {
			return applied{}, fmt.Errorf("route %s: %w", d.Route, err)
		}
		queue := &taskqueuepb.TaskQueue{Name: b.taskQueue(d), Kind: enumspb.TASK_QUEUE_KIND_NORMAL}
		if d.Action == routing.Start {
			req := &workflowservice.StartWorkflowExecutionRequest{
				Namespace: b.cfg.Namespace, WorkflowId: d.WorkflowID, WorkflowType: &commonpb.WorkflowType{Name: d.WorkflowType},
				TaskQueue: queue, Input: input, Memo: memo, SearchAttributes: attrs, Identity: identity, RequestId: reqID,
				WorkflowIdReusePolicy: d.ReusePolicy, WorkflowIdConflictPolicy: d.ConflictPolicy, Header: b.temporalHeader(ctx),
				WorkflowRunTimeout: optDuration(d.RunTimeout), WorkflowExecutionTimeout: optDuration(d.ExecutionTimeout),
			}
			var resp *workflowservice.StartWorkflowExecutionResponse
			err := b.startWithAttrs(ctx, &req.SearchAttributes, func(ctx context.Context) (err error) {
				resp, err = svc.StartWorkflowExecution(ctx, req)
				return err
			})
			var started *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &started) {
				return applied{status: ResultDuplicate, runID: started.RunId}, nil
			}
			if err != nil {
				return applied{}, classify(fmt.Errorf("start %s %s: %w", d.WorkflowType, d.WorkflowID, err))
			}
			if !resp.GetStarted() { // conflict policy use_existing found it running
				return applied{status: ResultDuplicate, runID: resp.GetRunId()}, nil
			}
			return applied{status: ResultDone, runID: resp.GetRunId()}, nil
		}
		req := &workflowservice.SignalWithStartWorkflowExecutionRequest{
			Namespace: b.cfg.Namespace, WorkflowId: d.WorkflowID, WorkflowType: &commonpb.WorkflowType{Name: d.WorkflowType},
			TaskQueue: queue, Input: input, Memo: memo, SearchAttributes: attrs, Identity: identity, RequestId: reqID,
			SignalName: d.Signal, SignalInput: signalInput, Header: b.temporalHeader(ctx),
			WorkflowIdReusePolicy: d.ReusePolicy, WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowRunTimeout: optDuration(d.RunTimeout), WorkflowExecutionTimeout: optDuration(d.ExecutionTimeout),
		}
		var resp *workflowservice.SignalWithStartWorkflowExecutionResponse
		err = b.startWithAttrs(ctx, &req.SearchAttributes, func(ctx context.Context) (err error) {
			resp, err = svc.SignalWithStartWorkflowExecution(ctx, req)
			return err
		})
		var closed *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &closed) {
			// The id's last run is closed and the route's reuse policy forbids another:
			// the signal has nowhere to go, now or on any retry.
			return applied{}, permanent(fmt.Errorf("signal-with-start %s to %s: workflow %s is closed and the route's id_reuse_policy %s forbids a new run, so the signal cannot be delivered (Temporal: %s)",
				d.Signal, d.WorkflowID, d.WorkflowID, reuseName(d.ReusePolicy), closed.Message))
		}
		if err != nil {
			return applied{}, classify(fmt.Errorf("signal-with-start %s %s: %w", d.WorkflowType, d.WorkflowID, err))
		}
		return applied{status: ResultDone, runID: resp.GetRunId()}, nil

	case routing.Signal:
		input, err := converter.GetDefaultDataConverter().ToPayloads(signalArgs(d)...)
		if err != nil {
			return applied{}, permanent(fmt.Errorf("route %s: encode signal: %w", d.Route, err))
		}
		if err := b.encodePayloads(nil, input); err != nil {
			return applied{}, fmt.Errorf("route %s: %w", d.Route, err)
		}
		req := &workflowservice.SignalWorkflowExecutionRequest{
			Namespace: b.cfg.Namespace, WorkflowExecution: exec, SignalName: d.Signal, Input: input,
			Identity: identity, RequestId: reqID, Header: b.temporalHeader(ctx),
		}
		err = b.call(ctx, func(ctx context.Context) error {
			_, err := svc.SignalWorkflowExecution(ctx, req)
			return err
		})
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return applied{}, b.signalTargetMissing(ctx, d, since)
		}
		if err != nil {
			return applied{}, classify(fmt.Errorf("signal %s to %s: %w", d.Signal, d.WorkflowID, err))
		}
		return applied{status: ResultDone}, nil

	case routing.Cancel:
		req := &workflowservice.RequestCancelWorkflowExecutionRequest{
			Namespace: b.cfg.Namespace, WorkflowExecution: exec, Identity: identity, RequestId: reqID,
			Reason: "cancelled by event " + ev.ID() + " (route " + d.Route + ")",
		}
		err := b.call(ctx, func(ctx context.Context) error {
			_, err := svc.RequestCancelWorkflowExecution(ctx, req)
			return err
		})
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return applied{status: ResultDuplicate}, nil // nothing running to cancel
		}
		if err != nil {
			return applied{}, classify(fmt.Errorf("cancel %s: %w", d.WorkflowID, err))
		}
		return applied{status: ResultDone}, nil
	}
	return applied{}, permanent(fmt.Errorf("route %s: unknown action %q", d.Route, d.Action))
}

// reuseName spells a reuse policy as the routes file does.
func reuseName(p enumspb.WorkflowIdReusePolicy) string {
	switch p {
	case enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE:
		return "allow_duplicate"
	case enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY:
		return "allow_duplicate_failed_only"
	case enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, enumspb.WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED:
		return "reject_duplicate"
	}
	return p.String()
}

func (b *Bridge) taskQueue(d routing.Decision) string {
	if d.TaskQueue != "" {
		return d.TaskQueue
	}
	return b.cfg.TaskQueue
}

// startArgs are a start's arguments: the route's args, else its one input.
func startArgs(d routing.Decision) []any {
	if d.Args != nil {
		return d.Args
	}
	return []any{d.Input}
}

// signalArgs are a signal's arguments: the route's signal_args, else the event.
func signalArgs(d routing.Decision) []any {
	if d.SignalArgs != nil {
		return d.SignalArgs
	}
	return []any{d.SignalArg}
}

// encodeStart encodes a start's arguments, memo and the route's search attributes with
// the SDK's default data converter: JSON payloads, as every SDK's default converter reads.
func encodeStart(d routing.Decision) (*commonpb.Payloads, *commonpb.Memo, *commonpb.SearchAttributes, error) {
	dc := converter.GetDefaultDataConverter()
	input, err := dc.ToPayloads(startArgs(d)...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode input: %w", err)
	}
	memo := &commonpb.Memo{Fields: map[string]*commonpb.Payload{}}
	for k, v := range d.Memo {
		if memo.Fields[k], err = dc.ToPayload(v); err != nil {
			return nil, nil, nil, fmt.Errorf("encode memo %s: %w", k, err)
		}
	}
	var attrs *commonpb.SearchAttributes
	if len(d.SearchAttributes) > 0 {
		attrs = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{}}
		for k, v := range d.SearchAttributes {
			if attrs.IndexedFields[k], err = dc.ToPayload(v); err != nil {
				return nil, nil, nil, fmt.Errorf("encode search attribute %s: %w", k, err)
			}
		}
	}
	return input, memo, attrs, nil
}

// encodePayloads applies Config.PayloadCodecs to the payloads of memo and of each of
// payloads (nil ones skipped), in place, with one Encode call per codec for all of them:
// a codec server is asked once per event. Codecs apply last to first, as in
// converter.NewCodecDataConverter. An error is transient: a codec server or key service
// may be back soon, and the route's retry limits still end the retries.
func (b *Bridge) encodePayloads(memo *commonpb.Memo, payloads ...*commonpb.Payloads) error {
	codecs := b.cfg.PayloadCodecs
	if len(codecs) == 0 {
		return nil
	}
	var all []*commonpb.Payload
	for _, p := range payloads {
		all = append(all, p.GetPayloads()...)
	}
	keys := slices.Sorted(maps.Keys(memo.GetFields()))
	for _, k := range keys {
		all = append(all, memo.Fields[k])
	}
	n := len(all)
	for i := len(codecs) - 1; i >= 0; i-- {
		var err error
		if all, err = codecs[i].Encode(all); err != nil {
			return fmt.Errorf("payload codec: %w", err)
		}
		if len(all) != n {
			return fmt.Errorf("payload codec: %d payloads encoded into %d", n, len(all))
		}
	}
	for _, p := range payloads {
		if p != nil {
			all = all[copy(p.Payloads, all):]
		}
	}
	for i, k := range keys {
		memo.Fields[k] = all[i]
	}
	return nil
}

func optDuration(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

// signalTargetMissing explains a NotFound from a signal. A workflow that has not been
// started yet may be started soon (email.verified can overtake user.signedup), so the
// signal waits (parked, see waiting.go) until SignalWait has passed since it was stored. A workflow that
// exists but is closed will never take the signal: that is permanent.
func (b *Bridge) signalTargetMissing(ctx context.Context, d routing.Decision, since time.Time) error {
	var desc *workflowservice.DescribeWorkflowExecutionResponse
	err := b.call(ctx, func(ctx context.Context) (err error) {
		desc, err = b.temporal.WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
			Namespace: b.cfg.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: d.WorkflowID},
		})
		return err
	})
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		status := desc.GetWorkflowExecutionInfo().GetStatus()
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return permanent(fmt.Errorf("signal %s: workflow %s is already closed (%s)", d.Signal, d.WorkflowID, status))
		}
		return fmt.Errorf("signal %s: workflow %s not found, then running: %w", d.Signal, d.WorkflowID, errTargetMissing)
	case errors.As(err, &nf):
		if waited := time.Since(since); waited > b.cfg.SignalWait {
			return permanent(fmt.Errorf("signal %s: workflow %s did not exist %s after the event was stored (BRIDGE_SIGNAL_WAIT)",
				d.Signal, d.WorkflowID, waited.Round(time.Second)))
		}
		return fmt.Errorf("signal %s: workflow %s: %w", d.Signal, d.WorkflowID, errTargetMissing)
	default:
		return classify(fmt.Errorf("describe %s: %w", d.WorkflowID, err))
	}
}
