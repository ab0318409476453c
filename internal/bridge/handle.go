package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// item is a message with what the bridge made of it before it was scheduled.
type item struct {
	msg       jetstream.Msg
	ev        events.Event
	decisions []routing.Decision
	misses    []routing.Miss // routes whose types matched but filters did not
	err       error          // a permanent problem: the event is dead-lettered
	key       string         // scheduling key: the target workflow id, else the subject
	hold      *heldMsg       // kept from redelivery until settled; nil outside Run
	parked    *parked        // a signal back from EVENTS_WAITING; nil for EVENTS
	window    *windowMsg     // an event back from a debounce or batch window; nil for EVENTS
	part      *partMsg       // an event from a partition (partitions.go); nil for EVENTS
	forward   bool           // partitioned mode: copy to its partition rather than act on it
}

// prepare decodes, validates and routes msg. It does no I/O. A panic on the way makes
// it.err, so the event is dead-lettered (the dead letter's log line names the event). The
// event's data is decoded once, for the schema and the routes alike.
func (b *Bridge) prepare(msg jetstream.Msg) item { return b.prepareOn(msg, msg.Subject()) }

// prepareOn is prepare for a message whose event was stored on EVENTS on subject (a
// copy's Flowbridge-Original-Subject).
func (b *Bridge) prepareOn(msg jetstream.Msg, subject string) (it item) {
	it = item{msg: msg, key: msg.Subject()}
	defer catchPanic(b.log, &it.err)
	ev, err := events.Decode(msg.Headers(), msg.Data())
	if err != nil {
		it.err = err
		return it
	}
	it.ev = ev
	if !strings.HasPrefix(subject, events.SubjectPrefix) || subject[len(events.SubjectPrefix):] != ev.Type() {
		it.err = fmt.Errorf("%w: an event of type %s must be published on %s, not %s", events.ErrMalformed, ev.Type(), events.Subject(ev.Type()), subject)
		return it
	}
	data := events.DecodeData(ev.Data())
	if err := b.schemas.ValidateData(ev.Type(), data); err != nil {
		it.err = err
		return it
	}
	it.decisions, it.misses, it.err = b.routes.DecideData(ev, data)
	for _, d := range it.decisions {
		if d.WorkflowID != "" {
			it.key = d.WorkflowID
			break
		}
	}
	for _, d := range it.decisions {
		if d.Window != nil {
			// The events of a window are held in stream order (a debounce keeps the last).
			it.key = windowKey(d.Window)
			break
		}
	}
	return it
}

// handle does what its decisions say and settles the message: Ack when done, dead
// letter then Ack when it can never be done, NakWithDelay when it may work later. Every
// path ends in finish, which records the outcome, counts it and settles. A panic while
// routing dead-letters the event ("internal error: panic: ...") instead of killing the
// process. With tracing on, the delivery is a span (trace.go) whose context the Temporal
// calls carry to the worker.
func (b *Bridge) handle(ctx context.Context, it item) {
	begin := time.Now()
	meta, err := it.msg.Metadata()
	if err != nil { // not a JetStream message: cannot happen on a consumer
		b.log.Error().Err(err).Str(logging.FieldSubject, it.msg.Subject()).Msg("Message without JetStream metadata")
		if it.hold != nil {
			b.held.drop(it.hold)
		}
		return
	}
	out := b.newOutcome(it, meta)
	ctx, span := b.startDelivery(ctx, it, meta.NumDelivered)
	if it.err != nil {
		b.deadLetter(ctx, it, meta, b.eventLog(it, meta, nil), it.err, &out)
	} else if panicked := b.route(ctx, it, meta, &out); panicked != nil {
		b.deadLetter(ctx, it, meta, b.eventLog(it, meta, nil), panicked, &out)
	}
	b.finish(it, meta, out, begin)
	endDelivery(span, &out)
}

// eventLog is a logger whose lines name the event (and the decision d, if any). It is
// built only for a line that will be written: most events are logged at debug, or not at
// all, and a logger context per event costs allocations that nothing reads.
func (b *Bridge) eventLog(it item, meta *jetstream.MsgMetadata, d *routing.Decision) zerolog.Logger {
	c := b.log.With().Str(logging.FieldEventID, it.ev.ID()).Str(logging.FieldEventType, it.ev.Type()).
		Str(logging.FieldSubject, it.msg.Subject()).Uint64("stream_seq", meta.Sequence.Stream).
		Uint64("delivered", meta.NumDelivered)
	if d != nil {
		c = c.Str(logging.FieldRoute, d.Route).Str(logging.FieldWorkflowID, d.WorkflowID)
	}
	return c.Logger()
}

// eventFields adds eventLog's fields to one line. e is nil when its level is off.
func eventFields(e *zerolog.Event, it item, meta *jetstream.MsgMetadata, d *routing.Decision) *zerolog.Event {
	if e == nil {
		return nil
	}
	return e.Str(logging.FieldEventID, it.ev.ID()).Str(logging.FieldEventType, it.ev.Type()).
		Str(logging.FieldSubject, it.msg.Subject()).Uint64("stream_seq", meta.Sequence.Stream).
		Uint64("delivered", meta.NumDelivered).Str(logging.FieldRoute, d.Route).Str(logging.FieldWorkflowID, d.WorkflowID)
}

// route applies the event's decisions in order, stopping at the first that fails, and
// says in out what happened. It returns the error of a panic it recovered from.
//
// Routine lines (routed, ignored, a signal still waiting) are at debug; a signal that
// starts waiting for its workflow logs once at info, on its first delivery; failures are
// at warn and above.
func (b *Bridge) route(ctx context.Context, it item, meta *jetstream.MsgMetadata, out *Outcome) (panicked error) {
	defer catchPanic(b.log, &panicked)
	if len(it.decisions) == 0 {
		out.Outcome = OutcomeIgnored
		if e := b.log.Debug(); e != nil {
			e.Str(logging.FieldEventID, it.ev.ID()).Str(logging.FieldEventType, it.ev.Type()).Msg("No route takes this event type; acked")
		}
		return nil
	}
	out.Outcome = OutcomeIgnored // until a route does something
	since := it.storedAt(meta)
	for _, d := range it.decisions {
		if d.Window != nil && it.parked == nil {
			// Held in its window (windows.go); acted on when the window closes.
			rr := RouteResult{Route: d.Route, Action: string(d.Action), WorkflowID: d.WorkflowID, Result: ResultHeld}
			if err := b.hold(ctx, it, meta, d); err != nil {
				b.retryLater(it, meta, d, rr, err, out)
				return nil
			}
			out.Routes = append(out.Routes, rr)
			if out.Outcome == OutcomeIgnored {
				out.Outcome = OutcomeHeld
			}
			eventFields(b.log.Debug(), it, meta, &d).Str("window", string(d.Window.Kind)).Str("key", d.Window.Key).Msg("Held event in its route's window")
			continue
		}
		res, err := b.apply(ctx, it.ev, d, since)
		rr := RouteResult{Route: d.Route, Action: string(d.Action), WorkflowID: d.WorkflowID, RunID: res.runID, Result: res.status}
		switch {
		case err == nil:
			switch {
			case res.status == ResultDone:
				out.Outcome = OutcomeRouted
			case res.status == ResultDuplicate && out.Outcome == OutcomeIgnored:
				out.Outcome = OutcomeDuplicate
			}
			out.Routes = append(out.Routes, rr)
			if it.window != nil {
				b.metrics.windowDelivered(it.window.kind, d.Route, 1)
			}
			eventFields(b.log.Debug(), it, meta, &d).Str("action", string(d.Action)).Str(logging.FieldRunID, res.runID).
				Str("result", res.status).Msg("Routed event")
			if d.Action == routing.Start || d.Action == routing.SignalWithStart {
				b.wake(ctx, d.WorkflowID) // signals parked for it go next, before its later events
			}
		case errors.Is(err, errTargetMissing) && it.parked == nil && b.waiting != nil:
			if perr := b.park(ctx, it, meta, d); perr != nil {
				b.retryLater(it, meta, d, rr, perr, out)
				return nil
			}
			b.metrics.parked.Inc()
			rr.Result = ResultWaiting
			out.Routes = append(out.Routes, rr)
			out.Outcome, out.Error = OutcomeWaiting, err.Error()
			eventFields(b.log.Info(), it, meta, &d).Dur("wait_up_to", b.cfg.SignalWait).
				Msg("Signal parked in EVENTS_WAITING until its workflow is started")
			return nil
		case isPermanent(err):
			rr.Result = ResultFailed
			out.Routes = append(out.Routes, rr)
			b.deadLetter(ctx, it, meta, b.eventLog(it, meta, &d), err, out)
			return nil
		default:
			if exhausted := b.retriesExhausted(d, meta, since, err); exhausted != nil {
				rr.Result = ResultFailed
				out.Routes = append(out.Routes, rr)
				if b.deadLetter(ctx, it, meta, b.eventLog(it, meta, &d), exhausted, out); out.Outcome == OutcomeDeadLettered {
					b.metrics.retryExhausted(b.metricType(it.ev.Type()), d.Route)
				}
				return nil
			}
			b.retryLater(it, meta, d, rr, err, out)
			return nil
		}
	}
	return nil
}

// retryLater marks the delivery for a NAK with a delay after decision d failed
// transiently with err, and logs it: a signal still waiting for its workflow at debug
// (it logged once when it started waiting), anything else at warn.
func (b *Bridge) retryLater(it item, meta *jetstream.MsgMetadata, d routing.Decision, rr RouteResult, err error, out *Outcome) {
	rr.Result = ResultRetry
	out.Routes = append(out.Routes, rr)
	out.retry(meta, err)
	if it.parked != nil && errors.Is(err, errTargetMissing) {
		out.RetryIn = parkedRetryDelay(meta.NumDelivered)
	}
	switch {
	case errors.Is(err, errTargetMissing) && (meta.NumDelivered > 1 || it.parked != nil):
		eventFields(b.log.Debug(), it, meta, &d).Dur("retry_in", out.RetryIn).Msg("Signal still waits for its workflow")
	case errors.Is(err, errTargetMissing):
		eventFields(b.log.Info(), it, meta, &d).Dur("retry_in", out.RetryIn).Dur("wait_up_to", b.cfg.SignalWait).
			Msg("Signal waits for its workflow to be started; retrying quietly until then")
	default:
		eventFields(b.log.Warn(), it, meta, &d).Err(err).Dur("retry_in", out.RetryIn).Msg("Temporal did not take the event; will retry")
	}
}

// retriesExhausted says, for a transient failure err of decision d, whether the event
// has been retried long enough: its age since it was stored reached the route's
// max_retry_age (else BRIDGE_MAX_RETRY_AGE), or this delivery is its max_attempts-th
// (else BRIDGE_MAX_ATTEMPTS). It returns the dead letter's reason, or nil to retry. A
// signal waiting for its workflow (bounded by BRIDGE_SIGNAL_WAIT) and an event held back
// by its route's own rate or concurrency limit are waiting, not failing: never exhausted.
func (b *Bridge) retriesExhausted(d routing.Decision, meta *jetstream.MsgMetadata, since time.Time, err error) error {
	if isWaiting(err) {
		return nil
	}
	maxAge, maxAttempts := b.routes.RetryLimits(d.Route)
	ageFrom, attemptsFrom := "route "+d.Route+": max_retry_age", "route "+d.Route+": max_attempts"
	if maxAge == 0 {
		maxAge, ageFrom = b.cfg.MaxRetryAge, "BRIDGE_MAX_RETRY_AGE"
	}
	if maxAttempts == 0 {
		maxAttempts, attemptsFrom = b.cfg.MaxAttempts, "BRIDGE_MAX_ATTEMPTS"
	}
	age := time.Since(since)
	var limit string
	switch {
	case maxAttempts > 0 && meta.NumDelivered >= uint64(maxAttempts):
		limit = fmt.Sprintf("%s %d", attemptsFrom, maxAttempts)
	case age >= maxAge:
		limit = fmt.Sprintf("%s %s", ageFrom, maxAge)
	default:
		return nil
	}
	return fmt.Errorf("retries exhausted after %d attempts / %s (%s): %w", meta.NumDelivered, age.Round(time.Second), limit, err)
}

// finish records, counts and settles one delivery.
func (b *Bridge) finish(it item, meta *jetstream.MsgMetadata, out Outcome, begin time.Time) {
	typ := b.metricType(it.ev.Type())
	b.metrics.count(typ, out.Outcome)
	action := routing.Action("")
	if len(it.decisions) > 0 {
		action = it.decisions[0].Action
	}
	b.metrics.observe(typ, action, begin)
	out.SettledAt = time.Now()
	b.record(out)
	defer b.settled.Add(1)
	if out.Outcome == OutcomeRetried {
		b.settle(it, meta, nakWithDelay(out.RetryIn))
		return
	}
	// Routed, ignored, dead-lettered, or parked in EVENTS_WAITING: done here.
	b.settle(it, meta, ack)
}

// record hands out to the Recorder. A Recorder that panics is logged and otherwise
// ignored: the event's fate does not depend on the ledger, and it is settled once, as
// decided.
func (b *Bridge) record(out Outcome) {
	b.observeEndToEnd(out)
	var panicked error
	defer catchPanic(b.log, &panicked)
	b.recorder.Record(out)
}

type settlement func(jetstream.Msg) error

func ack(m jetstream.Msg) error { return m.Ack() }

func nakWithDelay(d time.Duration) settlement {
	return func(m jetstream.Msg) error { return m.NakWithDelay(d) }
}

// settle acks or naks. If that fails the connection is gone; the server redelivers the
// message after AckWait, and the dedup layers make the second pass harmless.
func (b *Bridge) settle(it item, meta *jetstream.MsgMetadata, s settlement) {
	var err error
	if it.hold != nil {
		err = b.held.settle(it.hold, s)
	} else {
		err = s(it.msg)
	}
	if err != nil {
		log := b.eventLog(it, meta, nil)
		log.Warn().Err(err).Msg("Could not settle message; it will be redelivered after AckWait")
	}
}
