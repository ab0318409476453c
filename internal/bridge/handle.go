package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// item is a message with what the bridge made of it before it reached its lane.
type item struct {
	msg       jetstream.Msg
	ev        events.Event
	decisions []routing.Decision
	err       error  // a permanent problem: the event is dead-lettered
	key       string // lane key: the target workflow id, else the subject
}

// prepare decodes, validates and routes msg. It does no I/O.
func (b *Bridge) prepare(msg jetstream.Msg) item {
	it := item{msg: msg, key: msg.Subject()}
	ev, err := events.Decode(msg.Headers(), msg.Data())
	if err != nil {
		it.err = err
		return it
	}
	it.ev = ev
	if want := events.Subject(ev.Type()); msg.Subject() != want {
		it.err = fmt.Errorf("%w: an event of type %s must be published on %s, not %s", events.ErrMalformed, ev.Type(), want, msg.Subject())
		return it
	}
	if err := b.schemas.Validate(ev); err != nil {
		it.err = err
		return it
	}
	it.decisions, it.err = b.routes.Decide(ev)
	if len(it.decisions) > 0 {
		it.key = it.decisions[0].WorkflowID
	}
	return it
}

// handle does what it's decisions say and settles the message: Ack when done, dead letter
// then Ack when it can never be done, NakWithDelay when it may work later.
func (b *Bridge) handle(ctx context.Context, it item) {
	begin := time.Now()
	meta, err := it.msg.Metadata()
	if err != nil { // not a JetStream message: cannot happen on a consumer
		b.log.Error().Err(err).Str(logging.FieldSubject, it.msg.Subject()).Msg("Message without JetStream metadata")
		return
	}
	log := b.log.With().Str(logging.FieldEventID, it.ev.ID()).Str(logging.FieldEventType, it.ev.Type()).
		Str(logging.FieldSubject, it.msg.Subject()).Uint64("stream_seq", meta.Sequence.Stream).
		Uint64("delivered", meta.NumDelivered).Logger()
	typ := b.metricType(it.ev.Type())

	if it.err != nil {
		b.deadLetter(ctx, it, meta, log, it.err)
		b.metrics.observe(typ, "", begin)
		return
	}
	if len(it.decisions) == 0 {
		b.metrics.count(typ, outcomeIgnored)
		b.settle(it.msg, log, ack)
		log.Debug().Msg("No route takes this event type; acked")
		return
	}
	outcome := outcomeDuplicate
	for _, d := range it.decisions {
		dlog := log.With().Str(logging.FieldRoute, d.Route).Str(logging.FieldWorkflowID, d.WorkflowID).Logger()
		res, err := b.apply(ctx, it.ev, d, meta)
		switch {
		case err == nil:
			if res.status == statusDone {
				outcome = outcomeRouted
			}
			dlog.Info().Str("action", string(d.Action)).Str(logging.FieldRunID, res.runID).Str("result", res.status).Msg("Routed event")
		case isPermanent(err):
			b.deadLetter(ctx, it, meta, dlog, err)
			b.metrics.observe(typ, d.Action, begin)
			return
		default:
			delay := retryDelay(meta.NumDelivered, err)
			dlog.Warn().Err(err).Dur("retry_in", delay).Msg("Temporal did not take the event; will retry")
			b.metrics.count(typ, outcomeRetried)
			b.settle(it.msg, dlog, nakWithDelay(delay))
			return
		}
	}
	b.metrics.count(typ, outcome)
	b.metrics.observe(typ, it.decisions[0].Action, begin)
	b.settle(it.msg, log, ack)
}

type settlement func(jetstream.Msg) error

func ack(m jetstream.Msg) error { return m.Ack() }

func nakWithDelay(d time.Duration) settlement {
	return func(m jetstream.Msg) error { return m.NakWithDelay(d) }
}

// settle acks or naks. If that fails the connection is gone; the server redelivers the
// message after AckWait, and the dedup layers make the second pass harmless.
func (b *Bridge) settle(m jetstream.Msg, log zerolog.Logger, s settlement) {
	if err := s(m); err != nil {
		log.Warn().Err(err).Msg("Could not settle message; it will be redelivered after AckWait")
	}
}

// permanentError marks a failure that no retry can fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, events.ErrMalformed) || errors.Is(err, events.ErrSchema) || errors.Is(err, routing.ErrUnroutable)
}

// retryDelay backs off with the number of deliveries: 1s, 2s, 4s ... up to 30s. A
// signal waiting for its workflow retries every second or two.
func retryDelay(delivered uint64, err error) time.Duration {
	if errors.Is(err, errTargetMissing) {
		return min(time.Duration(delivered)*time.Second, 5*time.Second)
	}
	d := time.Second << min(delivered-1, 5)
	return min(d, 30*time.Second)
}
