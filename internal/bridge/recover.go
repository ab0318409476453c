package bridge

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/logging"
)

// handleOrSurvive is handle behind a last line of defence: a panic that catchPanic did not
// turn into a dead letter (one while dead-lettering, settling or counting) is logged with
// its stack, and the message is let go unsettled, so the stream redelivers it after
// AckWait, rather than the panic ending the process and every event it holds.
func (b *Bridge) handleOrSurvive(ctx context.Context, it item) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if it.hold != nil {
			b.held.drop(it.hold)
		}
		subject := ""
		if it.msg != nil {
			subject = it.msg.Subject()
		}
		b.log.Error().Str("panic", fmt.Sprint(v)).Str(logging.FieldEventID, it.ev.ID()).Str(logging.FieldSubject, subject).
			Str("stack", string(debug.Stack())).Msg("Recovered from a panic outside an event's routing; the event is redelivered after AckWait")
	}()
	if it.window != nil {
		b.handleWindow(ctx, it)
		return
	}
	if it.forward {
		b.forward(ctx, it)
		return
	}
	b.handle(ctx, it)
}

// catchPanic, deferred by the code that handles one event, stops a panic there from
// killing the process: it stores in *errp a permanent error "internal error: panic:
// <value>", for the caller to dead-letter the event with, and logs the panic with its
// stack at error. Whatever loop handles events defers it around each event's handling.
//
// It must be deferred itself (defer catchPanic(log, &err)), not called from a deferred
// function: recover only works there.
func catchPanic(log zerolog.Logger, errp *error) {
	v := recover()
	if v == nil {
		return
	}
	err := fmt.Errorf("internal error: panic: %v", v)
	log.Error().Err(err).Str("stack", string(debug.Stack())).Msg("Recovered from a panic while handling an event")
	*errp = permanent(err)
}
