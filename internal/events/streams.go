package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfigs returns the definitions of EVENTS and EVENTS_DLQ the bridge creates when
// they are missing (deploy/nats holds the same definitions for the nats CLI).
func StreamConfigs(duplicateWindow time.Duration) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        Stream,
			Description: "flowbridge domain events (CloudEvents), one subject per type",
			Subjects:    []string{StreamSubjects},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  duplicateWindow,
			MaxAge:      7 * 24 * time.Hour,
		},
		{
			Name:        DLQStream,
			Description: "flowbridge dead letters: events the bridge could not route, with Flowbridge-Error",
			Subjects:    []string{DLQSubjects},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  duplicateWindow,
		},
		{
			Name:        WaitingStream,
			Description: "flowbridge waiting room: signals parked until their workflow is started, one subject per workflow id",
			Subjects:    []string{WaitingSubjects},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  duplicateWindow,
			// No MaxAge: a parked signal leaves only when delivered or dead-lettered by the
			// bridge (BRIDGE_SIGNAL_WAIT), never silently. Direct gets let a bridge that just
			// started a workflow look up the signals parked for it.
			AllowDirect: true,
		},
	}
}

// EnsureStreams creates EVENTS and EVENTS_DLQ when they are missing. An existing stream
// is left as the operator configured it (it is never updated or deleted), but it must
// capture the subjects flowbridge publishes to.
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
