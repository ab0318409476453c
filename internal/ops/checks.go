package ops

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Check reports whether one dependency is reachable (readiness) or the process is sound
// (liveness). The text of its error is shown on the operations address: an error that may
// hold a driver's message naming users, hosts, databases or connection strings must be
// wrapped with Redact.
type Check func(ctx context.Context) error

// DefaultCheckTimeout bounds each check when a Config leaves CheckTimeout zero.
const DefaultCheckTimeout = 2 * time.Second

// RunChecks runs checks concurrently, each bounded by timeout, and returns the error of
// each check that failed, by name; it is empty when all pass.
func RunChecks(ctx context.Context, checks map[string]Check, timeout time.Duration) map[string]error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	failed := make(map[string]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			if err := check(ctx); err != nil {
				mu.Lock()
				failed[name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// Redact returns an error that reads shown and wraps err: what a check returns when err
// comes from a driver whose messages name users, hosts or databases (PostgreSQL's do).
// /readyz shows shown; the server's log keeps err.
func Redact(shown string, err error) error { return &redacted{shown: shown, err: err} }

type redacted struct {
	shown string
	err   error
}

func (e *redacted) Error() string { return e.shown }
func (e *redacted) Unwrap() error { return e.err }

// logged is what the log says of a check's error: the driver's own error behind Redact.
func logged(err error) error {
	var r *redacted
	if errors.As(err, &r) && r.err != nil {
		return r.err
	}
	return err
}
