package events

import (
	"hash/fnv"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Partitioned mode (EVENTS_PARTITIONS=P): order per workflow across bridge replicas.
//
// The bridge consumer on EVENTS becomes a sequencer: it hands out one event at a time
// (MaxAckPending 1), so events leave EVENTS in stream order whichever replica takes them;
// each is routed (its workflow id is the key) and copied, in that order, to
// EVENTS_PARTITIONS on partition.<p>, p = hash(key) mod P. Each partition has a consumer
// of its own, also one event at a time: the next event of a partition is delivered only
// when the one before was acked, whichever bridge had it, so the events of one workflow id
// reach Temporal in stream order even across a bridge's crash. Where the server has
// priority groups (nats-server 2.11 on), these consumers are pinned: one bridge at a time
// pulls a partition, and another takes over PinnedTTL after it stops pulling. On an older
// server they are not; order holds all the same, by the one-at-a-time delivery.
const (
	PartitionStream   = "EVENTS_PARTITIONS"
	PartitionSubjects = "partition.>"
	PartitionPrefix   = "partition."
	// PartitionGroup is the priority group every bridge pulls the pinned consumers with.
	PartitionGroup = "bridge"
	// MaxPartitions bounds EVENTS_PARTITIONS: each partition is a consumer on the server
	// and a pull loop in every bridge.
	MaxPartitions = 256
)

// PartitionSubject is the subject of partition p on EVENTS_PARTITIONS.
func PartitionSubject(p int) string { return PartitionPrefix + strconv.Itoa(p) }

// PartitionConsumer is the name of partition p's durable consumer.
func PartitionConsumer(p int) string { return "bridge-partition-" + strconv.Itoa(p) }

// PartitionOf is the partition of key among n: FNV-1a, so every bridge, whatever its
// version or language, puts a workflow id on the same partition.
func PartitionOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// partitionStreamConfig is EVENTS_PARTITIONS with these settings.
func (s StreamSettings) partitionStreamConfig(replicas int, placement *jetstream.Placement) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        PartitionStream,
		Description: "flowbridge partitions: routed events in stream order, one subject per partition of the workflow ids",
		Subjects:    []string{PartitionSubjects},
		Storage:     s.Storage,
		Replicas:    replicas,
		Placement:   placement,
		// A work queue: the ack of a routed event removes it. The sequencer's copy of an
		// event it hands out again (after a crash) is dropped by the duplicate window.
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: s.DuplicateWindow,
	}
}

// SequencerConsumerConfig is the bridge consumer on EVENTS in partitioned mode:
// BridgeConsumerConfig handing out one event at a time, pinned to one bridge where the
// server has priority groups.
func SequencerConsumerConfig(name string, ackWait time.Duration) jetstream.ConsumerConfig {
	c := BridgeConsumerConfig(name, ackWait)
	c.Description = "flowbridge bridge (partitioned): hands events out in stream order to be copied to their partition"
	return pinnedOneAtATime(c, ackWait)
}

// PartitionConsumerConfig is partition p's durable consumer: one event at a time, pinned
// to one bridge where the server has priority groups.
func PartitionConsumerConfig(p int, ackWait time.Duration) jetstream.ConsumerConfig {
	return pinnedOneAtATime(jetstream.ConsumerConfig{
		Durable:       PartitionConsumer(p),
		Description:   "flowbridge bridge: routes partition " + strconv.Itoa(p) + "'s events in order",
		FilterSubject: PartitionSubject(p),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
	}, ackWait)
}

// pinnedOneAtATime makes c deliver one message at a time (the next only once the one
// before is acked, or NAKed and redelivered) to one client of PartitionGroup at a time.
// A bridge pulls at least every second; the pin moves after AckWait without a pull (at
// least 5 seconds, so a busy moment does not move it).
func pinnedOneAtATime(c jetstream.ConsumerConfig, ackWait time.Duration) jetstream.ConsumerConfig {
	c.MaxAckPending = 1
	c.PriorityPolicy = jetstream.PriorityPolicyPinned
	c.PriorityGroups = []string{PartitionGroup}
	c.PinnedTTL = max(ackWait, 5*time.Second)
	return c
}
