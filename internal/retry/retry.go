// Package retry waits for a dependency at start-up, saying what it waits for.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
)

// Until calls fn until it succeeds or ctx ends, backing off from 500ms to 10s and logging
// each failure with what, so an operator sees what the process waits for. It returns
// ctx's error if ctx ends first, and an error of fn's that Permanent wrapped at once.
func Until(ctx context.Context, log zerolog.Logger, what string, fn func(context.Context) error) error {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info().Str("waited_for", what).Msg("Dependency ready")
			}
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.error
		}
		log.Warn().Err(err).Str("waiting_for", what).Int("attempt", attempt).Dur("retry_in", delay).Msg("Not ready yet; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// Permanent wraps err so that Until returns it at once: waiting will not fix it (a stream
// that is missing when the process may not create it, say).
func Permanent(err error) error { return permanent{err} }

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }
