package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/events"
)

// DefaultSampleInterval is how often SampleStreams asks the server, unless told otherwise.
const DefaultSampleInterval = 5 * time.Second

// sampledConsumers are the durable consumers whose lag SampleStreams reports.
var sampledConsumers = []struct{ stream, consumer string }{
	{events.Stream, events.BridgeConsumer},
	{events.WaitingStream, events.WaitingConsumer},
	{events.DebounceStream, events.DebounceConsumer}, // only where routes use windows
	{events.BatchStream, events.BatchConsumer},
}

// SampleStreams keeps the gauges the server knows best current until ctx ends: each
// durable consumer's lag (flowbridge_bridge_consumer_pending) and unacknowledged
// deliveries (flowbridge_bridge_consumer_ack_pending) — bridge on EVENTS, bridge-waiting
// on EVENTS_WAITING, bridge-debounce and bridge-batch on the windows' streams — and the
// dead letters on EVENTS_DLQ (flowbridge_bridge_dlq_messages).
// It asks at once, then every interval (0: DefaultSampleInterval): a request per consumer
// and one for the stream, each bounded by the interval. A consumer that does not exist
// (not created yet) has no series, and an EVENTS_DLQ that does not exist holds 0; when
// the server does not answer, the gauges keep their last values, and the failure is
// logged when it starts and when it ends. It returns nil when ctx ends.
func (m *Metrics) SampleStreams(ctx context.Context, js jetstream.JetStream, interval time.Duration, log zerolog.Logger) error {
	if interval <= 0 {
		interval = DefaultSampleInterval
	}
	log = log.With().Str("component", "stream_metrics").Logger()
	var failing error
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := m.sample(ctx, js, interval)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && failing == nil:
			log.Warn().Err(err).Msg("Could not sample consumer lag and dead letters from NATS; the gauges keep their last values until it answers")
		case err == nil && failing != nil:
			log.Info().Msg("Sampling consumer lag and dead letters from NATS again")
		}
		failing = err
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sample takes one sample of every gauge; it returns the first error.
func (m *Metrics) sample(ctx context.Context, js jetstream.JetStream, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for _, c := range sampledConsumers {
		cons, err := js.Consumer(ctx, c.stream, c.consumer)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
			m.pending.DeleteLabelValues(c.stream, c.consumer)
			m.ackPending.DeleteLabelValues(c.stream, c.consumer)
		case err != nil:
			errs = append(errs, err)
		default:
			info := cons.CachedInfo()
			m.pending.WithLabelValues(c.stream, c.consumer).Set(float64(info.NumPending))
			m.ackPending.WithLabelValues(c.stream, c.consumer).Set(float64(info.NumAckPending))
		}
	}
	dlq, err := js.Stream(ctx, events.DLQStream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		m.dlqDepth.Set(0)
	case err != nil:
		errs = append(errs, err)
	default:
		m.dlqDepth.Set(float64(dlq.CachedInfo().State.Msgs))
	}
	return errors.Join(errs...)
}
