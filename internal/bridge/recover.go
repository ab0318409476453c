package bridge

import (
	"fmt"
	"runtime/debug"

	"github.com/rs/zerolog"
)

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
