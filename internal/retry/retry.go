// Package retry waits for a dependency at start-up, saying what it waits for.
package retry

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// Until calls fn until it succeeds or ctx ends, backing off from 500ms to 10s and logging
// each failure with what, so an operator sees what the process waits for. It returns
// ctx's error if ctx ends first.
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
		log.Warn().Err(err).Str("waiting_for", what).Int("attempt", attempt).Dur("retry_in", delay).Msg("Not ready yet; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}
