package setup

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// Partitioned mode on a real server (2.15, which has priority groups): setup creates
// EVENTS_PARTITIONS and a pinned consumer per partition, makes the bridge consumer hand
// out one event at a time, finds nothing left to do the second time, and turns the mode
// off again (the server lets a consumer's priority policy change).
func TestSetupPartitionedMode(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ackWait = 30 * time.Second
	apply := func(s events.StreamSettings) Plan {
		t.Helper()
		p, err := PlanJetStream(ctx, n.JS, s, ackWait)
		require.NoError(t, err)
		require.NoError(t, p.Apply(ctx))
		again, err := PlanJetStream(ctx, n.JS, s, ackWait)
		require.NoError(t, err)
		for _, c := range again.Changes {
			t.Errorf("applied once, still to do: %v", c.Lines())
		}
		return p
	}
	apply(events.StreamSettings{DuplicateWindow: 2 * time.Minute})
	apply(events.StreamSettings{DuplicateWindow: 2 * time.Minute, Partitions: 3})

	for p := range 3 {
		c, err := n.JS.Consumer(ctx, events.PartitionStream, events.PartitionConsumer(p))
		require.NoError(t, err)
		cfg := c.CachedInfo().Config
		require.Equal(t, events.PartitionSubject(p), cfg.FilterSubject)
		require.Equal(t, 1, cfg.MaxAckPending)
		require.Equal(t, jetstream.PriorityPolicyPinned, cfg.PriorityPolicy)
		require.Equal(t, []string{events.PartitionGroup}, cfg.PriorityGroups)
	}
	bc, err := n.JS.Consumer(ctx, events.Stream, events.BridgeConsumer)
	require.NoError(t, err)
	require.Equal(t, 1, bc.CachedInfo().Config.MaxAckPending, "the sequencer hands out one event at a time")
	require.Equal(t, jetstream.PriorityPolicyPinned, bc.CachedInfo().Config.PriorityPolicy)

	apply(events.StreamSettings{DuplicateWindow: 2 * time.Minute})
	bc, err = n.JS.Consumer(ctx, events.Stream, events.BridgeConsumer)
	require.NoError(t, err)
	require.Equal(t, events.BridgeMaxAckPending, bc.CachedInfo().Config.MaxAckPending)
	require.Equal(t, jetstream.PriorityPolicyNone, bc.CachedInfo().Config.PriorityPolicy)
}
