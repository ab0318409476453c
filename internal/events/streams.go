package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamSettings are an operator's choices for the streams flowbridge uses. Its zero
// value but DuplicateWindow is the defaults.
type StreamSettings struct {
	// DuplicateWindow is every stream's Nats-Msg-Id duplicate window. Required: the
	// contract asks for at least 2 minutes.
	DuplicateWindow time.Duration
	// Replicas of every stream; the durable consumers follow their stream's. Optional:
	// defaults to 1.
	Replicas int
	// Storage of every stream. Optional: defaults to file storage.
	Storage jetstream.StorageType
	// Placement of every stream: a cluster and server tags. Optional: defaults to none,
	// where NATS chooses.
	Placement *jetstream.Placement
	// DLQMaxAge and DLQMaxBytes bound EVENTS_DLQ. Optional: defaults to 0, no limit. A
	// full EVENTS_DLQ refuses new dead letters (discard new): the bridge keeps their events
	// on EVENTS and retries, rather than dropping older dead letters unseen.
	DLQMaxAge   time.Duration
	DLQMaxBytes int64
	// Partitions, when above 0, is partitioned mode's number of partitions
	// (partitions.go): EVENTS_PARTITIONS is among the streams. Optional: defaults to 0,
	// no partitions.
	Partitions int
}

// Configs returns the definitions of EVENTS, EVENTS_DLQ, EVENTS_WAITING, EVENTS_DEBOUNCE,
// EVENTS_BATCH and, with Partitions, EVENTS_PARTITIONS with these settings (deploy/nats
// holds them with the defaults, for the nats CLI).
func (s StreamSettings) Configs() []jetstream.StreamConfig {
	replicas := max(s.Replicas, 1)
	var placement *jetstream.Placement
	if s.Placement != nil && (s.Placement.Cluster != "" || len(s.Placement.Tags) > 0) {
		p := *s.Placement
		placement = &p
	}
	dlqMaxBytes := s.DLQMaxBytes
	if dlqMaxBytes <= 0 {
		dlqMaxBytes = -1 // NATS's "no limit"
	}
	return append([]jetstream.StreamConfig{
		{
			Name:        Stream,
			Description: "flowbridge domain events (CloudEvents), one subject per type",
			Subjects:    []string{StreamSubjects},
			Storage:     s.Storage,
			Replicas:    replicas,
			Placement:   placement,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  s.DuplicateWindow,
			MaxAge:      7 * 24 * time.Hour,
		},
		{
			Name:        DLQStream,
			Description: "flowbridge dead letters: events the bridge could not route, with Flowbridge-Error",
			Subjects:    []string{DLQSubjects},
			Storage:     s.Storage,
			Replicas:    replicas,
			Placement:   placement,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  s.DuplicateWindow,
			MaxAge:      s.DLQMaxAge,
			MaxBytes:    dlqMaxBytes,
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:        WaitingStream,
			Description: "flowbridge waiting room: signals parked until their workflow is started, one subject per workflow id",
			Subjects:    []string{WaitingSubjects},
			Storage:     s.Storage,
			Replicas:    replicas,
			Placement:   placement,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  s.DuplicateWindow,
			// No MaxAge: a parked signal leaves only when delivered or dead-lettered by the
			// bridge (BRIDGE_SIGNAL_WAIT), never silently. Direct gets let a bridge that just
			// started a workflow look up the signals parked for it.
			AllowDirect: true,
		},
	}, s.optionalStreamConfigs(replicas, placement)...)
}

// optionalStreamConfigs are the windows' streams and, in partitioned mode,
// EVENTS_PARTITIONS.
func (s StreamSettings) optionalStreamConfigs(replicas int, placement *jetstream.Placement) []jetstream.StreamConfig {
	out := s.windowStreamConfigs(replicas, placement)
	if s.Partitions > 0 {
		out = append(out, s.partitionStreamConfig(replicas, placement))
	}
	return out
}

// StreamConfigs returns the definitions of flowbridge's streams (Configs) with the
// default settings and this duplicate window.
func StreamConfigs(duplicateWindow time.Duration) []jetstream.StreamConfig {
	return StreamSettings{DuplicateWindow: duplicateWindow}.Configs()
}

// EnsureStreams creates flowbridge's streams (Configs) with the default settings
// when they are missing. An existing stream is left as it is (it is never updated or
// deleted), but it must capture the subjects flowbridge publishes to. (The bridge and
// `bridge setup` provision with internal/setup, which applies the settings.)
func EnsureStreams(ctx context.Context, js jetstream.JetStream, duplicateWindow time.Duration) error {
	for _, cfg := range StreamConfigs(duplicateWindow) {
		_, err := js.CreateStream(ctx, cfg)
		if err == nil {
			continue
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			return fmt.Errorf("look up stream %s: %w", cfg.Name, err)
		}
		if !slices.Contains(s.CachedInfo().Config.Subjects, cfg.Subjects[0]) {
			return fmt.Errorf("stream %s exists with subjects %v, want it to include %s: fix the stream or point NATS_URL elsewhere",
				cfg.Name, s.CachedInfo().Config.Subjects, cfg.Subjects[0])
		}
	}
	return nil
}

// BridgeMaxAckPending is the EVENTS consumer's MaxAckPending: large, and not a
// concurrency setting. Each bridge takes from the stream only what it can start soon (its
// adaptive limit); ack-pending beyond that is events queued behind a busy workflow id, and
// this bounds them.
const BridgeMaxAckPending = 20000

// WaitingMaxAckPending bounds the signals parked in EVENTS_WAITING between two tries: each
// is pending (NAKed with a delay) while it waits.
const WaitingMaxAckPending = 100000

// BridgeConsumerConfig is the durable consumer every bridge replica shares. Messages are
// acked explicitly; redelivery timing is chosen by the bridge (NakWithDelay), with AckWait
// only as the backstop for a bridge that died holding a message.
func BridgeConsumerConfig(name string, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "flowbridge bridge: routes events to Temporal",
		FilterSubject: StreamSubjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: BridgeMaxAckPending,
	}
}

// WaitingConsumerConfig is the durable consumer of EVENTS_WAITING every bridge replica
// shares: it hands parked signals back to be tried again.
func WaitingConsumerConfig(ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       WaitingConsumer,
		Description:   "flowbridge bridge: retries signals parked until their workflow exists",
		FilterSubject: WaitingSubjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: WaitingMaxAckPending,
	}
}

// Consumer returns the durable consumer cfg on stream. With provision it creates or
// updates the consumer to cfg; without, it looks the consumer up as it is (`bridge setup`
// made it), which needs no right to manage consumers, and a missing one is an error that
// says to run `bridge setup`.
func Consumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, provision bool) (jetstream.Consumer, error) {
	if provision {
		c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
		if err != nil {
			return nil, fmt.Errorf("create or update consumer %s on stream %s: %w", cfg.Durable, stream, err)
		}
		return c, nil
	}
	c, err := js.Consumer(ctx, stream, cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("look up consumer %s on stream %s: %w: run `bridge setup` to create it (BRIDGE_PROVISION=false: the bridge creates no consumer)", cfg.Durable, stream, err)
	}
	if err != nil {
		return nil, fmt.Errorf("look up consumer %s on stream %s: %w", cfg.Durable, stream, err)
	}
	return c, nil
}
