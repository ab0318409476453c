package bridge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// Only errors no retry can fix are permanent; Temporal saying "slow down", being away or
// answering something unknown is transient: retried, never dead-lettered.
func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"invalid argument", serviceerror.NewInvalidArgument("bad id"), true},
		{"permission denied", serviceerror.NewPermissionDenied("no", ""), true},
		{"resource exhausted", &serviceerror.ResourceExhausted{Message: "slow down"}, false},
		{"unavailable", serviceerror.NewUnavailable("down"), false},
		{"deadline exceeded", context.DeadlineExceeded, false},
		{"namespace not found (misconfigured, fixable)", serviceerror.NewNamespaceNotFound("x"), false},
		{"busy workflow", &serviceerror.WorkflowNotReady{Message: "busy"}, false},
		{"unknown", errors.New("something odd"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(fmt.Errorf("start X: %w", tt.err))
			require.Equal(t, tt.permanent, isPermanent(err), "got permanent=%v, want %v for %v", isPermanent(err), tt.permanent, err)
		})
	}
	for _, err := range []error{events.ErrMalformed, events.ErrSchema, routing.ErrUnroutable} {
		require.True(t, isPermanent(fmt.Errorf("x: %w", err)), "%v is permanent", err)
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		name      string
		delivered uint64
		err       error
		want      time.Duration
	}{
		{"first retry", 1, errors.New("down"), time.Second},
		{"backs off", 3, errors.New("down"), 4 * time.Second},
		{"caps at 30s", 20, errors.New("down"), 30 * time.Second},
		{"early signal: quick", 1, fmt.Errorf("x: %w", errTargetMissing), time.Second},
		{"early signal: at most 5s", 9, fmt.Errorf("x: %w", errTargetMissing), 5 * time.Second},
		{"a route's limit says when", 1, slowDown{reason: "limit", delay: 1500 * time.Millisecond}, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, retryDelay(tt.delivered, tt.err))
		})
	}
}

// Temporal throttling is never retried at once: it backs off from 2s to 30s, spread by up
// to half again so that the NAKs of one burst do not return together.
func TestRetryDelayResourceExhausted(t *testing.T) {
	err := fmt.Errorf("start X: %w", &serviceerror.ResourceExhausted{Message: "namespace rate limit exceeded"})
	for _, tt := range []struct {
		delivered uint64
		base      time.Duration
	}{{1, 2 * time.Second}, {2, 4 * time.Second}, {4, 16 * time.Second}, {5, 30 * time.Second}, {50, 30 * time.Second}} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := retryDelay(tt.delivered, err)
			require.True(t, d >= tt.base && d < tt.base+tt.base/2, "delivery %d: %s, want in [%s, %s)", tt.delivered, d, tt.base, tt.base+tt.base/2)
			seen[d] = true
		}
		require.Greater(t, len(seen), 1, "delivery %d: the delay is spread", tt.delivered)
	}
}
