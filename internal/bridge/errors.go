package bridge

import (
	"errors"
	"math/rand/v2"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// The bridge classifies every failure once, here, and the ack follows from the class:
//
//   - Permanent: no retry can fix it. An event that cannot be decoded or breaks its schema
//     (events.ErrMalformed, events.ErrSchema), one no route can take (routing.ErrUnroutable),
//     Temporal's InvalidArgument and PermissionDenied (classify), and whatever the bridge
//     marks with permanent: a signal to a closed workflow, or to one that did not appear
//     within BRIDGE_SIGNAL_WAIT; a signal-with-start to a closed workflow whose reuse
//     policy forbids a new run; a decision whose input, memo, search attributes or
//     signal cannot be encoded, or whose action is unknown; a panic while handling the
//     event (catchPanic). The event is dead-lettered at once, then acked.
//   - Waiting: a signal whose workflow does not exist yet (errTargetMissing: parked in
//     EVENTS_WAITING, or retried there), an event over its route's rate or concurrency
//     limit (slowDown: NAKed for as long as the limit says). Neither exhausts its retries.
//   - Transient: everything else, unknown errors and Temporal's ResourceExhausted
//     included. Retrying loses nothing and dead-lettering could, so it is NAKed with
//     retryDelay's backoff until the route's retry limits end it as "retries exhausted".

// errTargetMissing: a signal's workflow does not exist (yet).
var errTargetMissing = errors.New("target workflow does not exist yet")

// slowDown is a transient refusal of the bridge's own (a route's rate or concurrency
// limit) with the delay after which to try again.
type slowDown struct {
	reason string
	delay  time.Duration
}

func (e slowDown) Error() string { return e.reason }

// permanentError marks a failure that no retry can fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent marks err as a failure that no retry can fix.
func permanent(err error) error { return permanentError{err} }

// isPermanent reports a failure that no retry can fix: the event is dead-lettered at once.
func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, events.ErrMalformed) || errors.Is(err, events.ErrSchema) || errors.Is(err, routing.ErrUnroutable)
}

// isWaiting reports a failure that is waiting rather than failing (errTargetMissing,
// slowDown): it is retried but never exhausts its retries.
func isWaiting(err error) bool {
	var sd slowDown
	return errors.Is(err, errTargetMissing) || errors.As(err, &sd)
}

// retryDelay backs off with the number of deliveries: 1s, 2s, 4s ... up to 30s. A
// signal waiting for its workflow retries every second or two; a route's own limit says
// when to come back. Temporal throttling (ResourceExhausted) starts at 2s and doubles up
// to 30s, plus up to half again at random, so a burst of NAKs does not come back at once.
func retryDelay(delivered uint64, err error) time.Duration {
	var sd slowDown
	if errors.As(err, &sd) {
		return sd.delay
	}
	if errors.Is(err, errTargetMissing) {
		return min(time.Duration(delivered)*time.Second, 5*time.Second)
	}
	var exhausted *serviceerror.ResourceExhausted
	if errors.As(err, &exhausted) {
		d := min(2*time.Second<<min(max(delivered, 1)-1, 4), 30*time.Second)
		return d + rand.N(d/2)
	}
	d := time.Second << min(delivered-1, 5)
	return min(d, 30*time.Second)
}

// classify marks the Temporal errors that no retry can fix as permanent. Anything else —
// unavailable, deadline exceeded, resource exhausted ("slow down"), a busy workflow,
// unknown — is transient: retrying loses nothing, dead-lettering could.
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
