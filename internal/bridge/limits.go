package bridge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flowbridge/flowbridge/internal/routing"
)

// maxLimitWait is the longest an event's job waits for its route's rate limit; past it the
// event is NAKed with the delay instead, so one throttled route cannot hold a slot.
const maxLimitWait = time.Second

// limits applies routes' rate and per-key concurrency limits.
type limits struct {
	mu       sync.Mutex
	inflight map[string]int
}

func newLimits() *limits { return &limits{inflight: map[string]int{}} }

// admit waits for d's rate limit (up to maxLimitWait) and takes a concurrency slot. It
// returns a slowDown error when the event should come back later; release frees the slot.
func (l *limits) admit(ctx context.Context, d routing.Decision) (release func(), err error) {
	if d.Limiter != nil {
		r := d.Limiter.Reserve()
		if !r.OK() {
			return nil, slowDown{reason: fmt.Sprintf("route %s: rate limit burst is zero", d.Route), delay: maxLimitWait}
		}
		if delay := r.Delay(); delay > maxLimitWait {
			r.Cancel()
			return nil, slowDown{reason: fmt.Sprintf("route %s: over its rate limit", d.Route), delay: delay}
		} else if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				r.Cancel()
				return nil, ctx.Err()
			}
		}
	}
	if d.ConcurrencyLimit <= 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight[d.ConcurrencyKey] >= d.ConcurrencyLimit {
		return nil, slowDown{reason: fmt.Sprintf("route %s: %d calls in flight for %s (its concurrency limit)", d.Route, d.ConcurrencyLimit, d.ConcurrencyKey), delay: maxLimitWait}
	}
	l.inflight[d.ConcurrencyKey]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.inflight[d.ConcurrencyKey]--; l.inflight[d.ConcurrencyKey] <= 0 {
			delete(l.inflight, d.ConcurrencyKey)
		}
	}, nil
}
