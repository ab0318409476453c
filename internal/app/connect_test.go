package app

import (
	"context"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// While NATS is away a publish on the processes' connection fails at once, and nothing is
// flushed to the stream when NATS comes back: the ingress never answers 503 for an event
// that is stored after all, and an activity retries rather than trust a buffered publish.
func TestPublishWhileNATSIsAwayFailsAndIsNeverFlushedLater(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))
	nc, js, err := connectNATS(config.Common{NATSURL: n.URL}, "test", testenv.Logger(t))
	require.NoError(t, err)
	defer nc.Close()
	testenv.Eventually(t, 5*time.Second, nc.IsConnected, "not connected")

	n.Shutdown()
	testenv.Eventually(t, 5*time.Second, func() bool { return !nc.IsConnected() }, "still connected")
	ev := cloudevents.New()
	ev.SetID(testenv.ID("evt-"))
	ev.SetType("user.signedup")
	ev.SetSource("/test")
	require.NoError(t, ev.SetData(cloudevents.ApplicationJSON, map[string]string{"user_id": "u", "email": "u@example.com"}))
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = events.NewPublisher(js).Publish(pctx, ev)
	require.Error(t, err, "a publish while NATS is away fails")

	n.Restart()
	testenv.Eventually(t, 10*time.Second, nc.IsConnected, "did not reconnect")
	require.NoError(t, nc.Flush())
	s, err := n.JS.Stream(ctx, events.Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "the failed publish was not stored after the reconnect")
}
