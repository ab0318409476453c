package retry

import (
	"context"
	"errors"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestUntilReturnsAPermanentErrorAtOnce(t *testing.T) {
	cause := errors.New("stream EVENTS missing")
	calls := 0
	err := Until(context.Background(), zerolog.Nop(), "streams", func(context.Context) error {
		calls++
		return Permanent(cause)
	})
	require.Equal(t, cause, err, "got %v, want the permanent error itself", err)
	require.Equal(t, 1, calls, "calls: got %d, want 1", calls)

	calls = 0
	err = Until(context.Background(), zerolog.Nop(), "streams", func(context.Context) error {
		calls++
		if calls < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, calls, "a transient error is retried: calls got %d, want 2", calls)
}
