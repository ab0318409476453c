package events

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The streams of routes that hold their events back (routes' debounce and batch). The
// bridge copies a held event there, on a subject of its route and key, and acks it on
// EVENTS; its consumers of these streams act when the window closes. Held events live on
// the server, never in a bridge's memory: a bridge that dies mid-window loses none.
const (
	// DebounceStream keeps the last event of each route and key (MaxMsgsPerSubject 1: a
	// newer event replaces, and so folds, the one before); a work queue, so acting on it
	// and acking removes it.
	DebounceStream   = "EVENTS_DEBOUNCE"
	DebounceSubjects = "debounce.>"
	DebouncePrefix   = "debounce."
	DebounceConsumer = "bridge-debounce"
	// BatchStream keeps every event of each route and key until its batch is delivered,
	// when the bridge deletes them.
	BatchStream   = "EVENTS_BATCH"
	BatchSubjects = "batch.>"
	BatchPrefix   = "batch."
	BatchConsumer = "bridge-batch"
)

// WindowMaxAckPending bounds the held messages of a window stream between two looks:
// each is pending (NAKed with a delay) until its window closes. Beyond it, new ones wait
// undelivered on the stream, where a batch still finds them.
const WindowMaxAckPending = 100000

// windowStreamConfigs are EVENTS_DEBOUNCE and EVENTS_BATCH with these settings.
func (s StreamSettings) windowStreamConfigs(replicas int, placement *jetstream.Placement) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        DebounceStream,
			Description: "flowbridge debounce: the last event of each route and key, until the key has been quiet long enough",
			Subjects:    []string{DebounceSubjects},
			Storage:     s.Storage,
			Replicas:    replicas,
			Placement:   placement,
			// A work queue: the bridge's ack of an event it acted on removes it. One
			// message per subject: a newer event of the key replaces the older, whose
			// pending delivery the server drops with it.
			Retention:         jetstream.WorkQueuePolicy,
			MaxMsgsPerSubject: 1,
			Discard:           jetstream.DiscardOld,
			Duplicates:        s.DuplicateWindow,
		},
		{
			Name:        BatchStream,
			Description: "flowbridge batch: events of each route and key, until their batch is delivered",
			Subjects:    []string{BatchSubjects},
			Storage:     s.Storage,
			Replicas:    replicas,
			Placement:   placement,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  s.DuplicateWindow,
			// No MaxAge: an event leaves only in its batch. Direct gets read a key's batch.
			AllowDirect: true,
		},
	}
}

// DebounceConsumerConfig is the durable consumer of EVENTS_DEBOUNCE every bridge replica
// shares: it hands each key's last event back when its quiet period may have passed.
func DebounceConsumerConfig(ackWait time.Duration) jetstream.ConsumerConfig {
	return windowConsumerConfig(DebounceConsumer, "flowbridge bridge: acts on the last event of a burst once its key is quiet", DebounceSubjects, ackWait)
}

// BatchConsumerConfig is the durable consumer of EVENTS_BATCH every bridge replica
// shares: it hands held events back when their batch may be due.
func BatchConsumerConfig(ackWait time.Duration) jetstream.ConsumerConfig {
	return windowConsumerConfig(BatchConsumer, "flowbridge bridge: delivers batches of held events", BatchSubjects, ackWait)
}

func windowConsumerConfig(name, description, subjects string, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   description,
		FilterSubject: subjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: WindowMaxAckPending,
	}
}
