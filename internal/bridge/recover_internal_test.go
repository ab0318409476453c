package bridge

import (
	"bytes"
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// A panic outside catchPanic's reach (here: an item without a message, so handle's first
// step dereferences nil) must not end the lane's goroutine, nor the process: it is logged
// and the message is let go for redelivery.
func TestHandleOrSurviveRecoversAnyPanic(t *testing.T) {
	var logs bytes.Buffer
	b := &Bridge{log: zerolog.New(&logs), held: newHeld()}
	hold := b.held.add(nil)
	require.NotPanics(t, func() { b.handleOrSurvive(context.Background(), item{hold: hold}) })
	require.Contains(t, logs.String(), "Recovered from a panic outside an event's routing")
	b.held.mu.Lock()
	defer b.held.mu.Unlock()
	require.Empty(t, b.held.msgs, "the message is no longer held, so it is not kept alive for ever")
}
