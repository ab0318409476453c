package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// A bridge on a replicated consumer (R3 streams on a three-node cluster) gets every
// message of its pulls: each event is routed on its first delivery, long before AckWait.
// (nats-server answers a pull bounded in bytes that reached its count ahead of the
// messages it holds for its replicas; such a pull ended empty and its messages waited
// out AckWait, so this took ten minutes.)
func TestReplicatedConsumerRoutesOnFirstDelivery(t *testing.T) {
	const n = 100
	cl := testenv.StartNATSCluster(t, 3)
	tc := testenv.Temporal(t)
	ctx := t.Context()
	for _, cfg := range (events.StreamSettings{DuplicateWindow: 2 * time.Minute, Replicas: 3}).Configs() {
		_, err := cl.JS.CreateStream(ctx, cfg)
		require.NoError(t, err)
	}
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	routes, err := routing.Default()
	require.NoError(t, err)
	rec := &recorder{}
	taskQueue := testenv.ID("r3-")
	b, err := bridge.New(cl.JS, tc, sch, routes, newMetrics(t, nil), testenv.Logger(t), bridge.Config{
		TaskQueue: taskQueue, AckWait: 10 * time.Minute, Recorder: rec,
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("bridge.Run: %v", err)
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })

	pub := events.NewPublisher(cl.JS)
	prefix := testenv.ID("u")
	for i := range n {
		user := fmt.Sprintf("%s-%d", prefix, i)
		_, err := pub.Publish(ctx, newEvent(t, "evt-"+user, "user.signedup", map[string]any{"user_id": user, "email": user + "@example.com"}))
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		for i := range n {
			_ = tc.TerminateWorkflow(context.Background(), fmt.Sprintf("onboarding-%s-%d", prefix, i), "", "test over")
		}
	})

	deadline := time.Now().Add(2 * time.Minute)
	for len(rec.all()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 2m (AckWait is 10m): %d of %d events handled", len(rec.all()), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, o := range rec.all() {
		require.Equal(t, bridge.OutcomeRouted, o.Outcome, "event %s: %+v", o.EventID, o)
		require.Equal(t, uint64(1), o.Delivered, "event %s: deliveries", o.EventID)
	}
}
