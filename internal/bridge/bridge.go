// Package bridge consumes the EVENTS stream and turns each CloudEvent into Temporal
// starts, signals and cancels.
//
// The guarantees come from the ack discipline (see outcome.go): a message is acked only
// after Temporal accepted the call or after its dead letter was stored; a transient
// failure is NAKed with a delay and redelivered; nothing is acked on a path that could
// lose the event. Events aimed at one workflow id share a lane, so one bridge applies
// them in stream order; lanes run in parallel. A message waiting in a lane or for
// Temporal is kept from redelivery with InProgress (see held.go).
package bridge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// Config tunes a Bridge. Zero fields take the defaults noted.
type Config struct {
	// TaskQueue is where started workflows run, unless a route names another. Required.
	TaskQueue string
	// Namespace is the Temporal namespace. Optional: defaults to "default".
	Namespace string
	// Lanes is how many events are handed to Temporal at once. Optional: defaults to 32,
	// near the point where a single Temporal server gives its best throughput.
	Lanes int
	// SignalWait is how long a signal for a workflow that does not exist yet is retried
	// before the event is dead-lettered. Optional: defaults to 10m.
	SignalWait time.Duration
	// MaxRetryAge and MaxAttempts bound the retries of an event that keeps failing
	// transiently, for routes whose file sets no limit of its own (max_retry_age,
	// max_attempts): past MaxRetryAge since the event was stored, or at its MaxAttempts-th
	// delivery, it is dead-lettered as "retries exhausted". Optional: MaxRetryAge defaults
	// to 24h; MaxAttempts to 0, no limit on attempts. BRIDGE_SIGNAL_WAIT, not these, bounds
	// a signal waiting for its workflow to be started.
	MaxRetryAge time.Duration
	MaxAttempts int
	// CallTimeout bounds each Temporal call. Optional: defaults to 10s.
	CallTimeout time.Duration
	// DrainTimeout bounds how long Run waits for in-flight events on shutdown.
	// Optional: defaults to 20s (inside Kubernetes' default 30s grace period).
	DrainTimeout time.Duration
	// AckWait is how long the stream waits for a bridge that took an event and went
	// silent (it crashed) before giving the event to another. Optional: defaults to 30s.
	AckWait time.Duration
	// Consumer is the durable consumer's name. Optional: defaults to "bridge".
	Consumer string
	// Recorder receives the outcome of every delivery (the event ledger). Optional:
	// defaults to none.
	Recorder Recorder
	// PayloadCodecs encode every payload the bridge sends to Temporal — workflow input,
	// memo, signal arguments; not search attributes, which Temporal must read — after the
	// SDK's default data converter, applied last to first as converter.NewCodecDataConverter
	// applies them (encryption, compression, a codec server's converter.NewRemotePayloadCodec).
	// Workers of the routed workflows decode with the same codecs. A codec's error is
	// transient: the event is retried. Optional: defaults to none.
	PayloadCodecs []converter.PayloadCodec
}

func (c *Config) defaults() error {
	if c.TaskQueue == "" {
		return errors.New("bridge: TaskQueue is required")
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.Lanes == 0 {
		c.Lanes = 32
	}
	if c.Lanes < 0 {
		return fmt.Errorf("bridge: Lanes %d must be positive", c.Lanes)
	}
	if c.SignalWait == 0 {
		c.SignalWait = 10 * time.Minute
	}
	if c.MaxRetryAge == 0 {
		c.MaxRetryAge = 24 * time.Hour
	}
	if c.MaxRetryAge < 0 || c.MaxAttempts < 0 {
		return fmt.Errorf("bridge: MaxRetryAge %s and MaxAttempts %d must not be negative", c.MaxRetryAge, c.MaxAttempts)
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 20 * time.Second
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Consumer == "" {
		c.Consumer = events.BridgeConsumer
	}
	if c.Recorder == nil {
		c.Recorder = nopRecorder{}
	}
	return nil
}

// Bridge routes events from the stream to Temporal.
type Bridge struct {
	js       jetstream.JetStream
	temporal Temporal
	schemas  *events.Schemas
	routes   *routing.Table
	metrics  *Metrics
	recorder Recorder
	limits   *limits
	held     *held
	log      zerolog.Logger
	// taken and settled count messages handed to the bridge and acked or NAKed by it.
	taken, settled atomic.Int64
	cfg            Config
}

// New returns a bridge. Every routed event type must have a schema, so that a
// misconfiguration is found here rather than on the first event.
func New(js jetstream.JetStream, tc Temporal, schemas *events.Schemas, routes *routing.Table, m *Metrics, log zerolog.Logger, cfg Config) (*Bridge, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := routes.CheckSchemas(schemas.Types()); err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Bridge{js: js, temporal: tc, schemas: schemas, routes: routes, metrics: m, recorder: cfg.Recorder, limits: newLimits(), held: newHeld(), log: log, cfg: cfg}, nil
}

// Run consumes the durable consumer until ctx is cancelled, then stops fetching, lets
// every event already taken finish (up to DrainTimeout) and returns. Events it did not
// finish are redelivered to another replica after the consumer's AckWait.
func (b *Bridge) Run(ctx context.Context) error {
	cons, err := b.js.CreateOrUpdateConsumer(ctx, events.Stream, events.BridgeConsumerConfig(b.cfg.Consumer, b.cfg.Lanes*8, b.cfg.AckWait))
	if err != nil {
		if ctx.Err() != nil { // stopped while starting: a shutdown, not a failure
			return nil
		}
		return fmt.Errorf("create consumer %s on %s: %w", b.cfg.Consumer, events.Stream, err)
	}
	// Work in flight must outlive ctx so shutdown can drain it; drainCtx bounds that.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	lanes := make([]*lane, b.cfg.Lanes)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = newLane()
		wg.Add(1)
		go func(in *lane) {
			defer wg.Done()
			for it, ok := in.pop(); ok; it, ok = in.pop() {
				b.handleOrSurvive(workCtx, it)
			}
		}(lanes[i])
	}
	// The keeper outlives ctx with the work it keeps: until drained, or until the drain
	// times out and the unfinished events are left to redelivery.
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		b.held.keep(workCtx, b.cfg.AckWait, b.metrics.ackExtended, func(err error) {
			b.log.Debug().Err(err).Msg("Could not extend a held message's ack deadline")
		})
	}()
	defer func() { cancelWork(); <-keeperDone }()

	cc, err := cons.Consume(func(msg jetstream.Msg) {
		b.taken.Add(1)
		hold := b.held.add(msg)
		it := b.prepare(msg)
		it.hold = hold
		lanes[laneOf(it.key, len(lanes))].push(it)
	},
		// Bounded in bytes as well as count: a burst of large events cannot fill memory.
		// The limit is per pull request and must exceed the largest message, or delivery
		// stalls: 8 MiB, or twice the server's max_payload when that is larger.
		jetstream.PullMaxMessagesWithBytesLimit(b.cfg.Lanes*4, max(8<<20, 2*b.maxPayload())),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.log.Warn().Err(err).Msg("consume: NATS reported a problem; the client retries")
		}),
	)
	if err != nil {
		return fmt.Errorf("consume %s: %w", b.cfg.Consumer, err)
	}
	b.log.Info().Str("consumer", b.cfg.Consumer).Int("lanes", b.cfg.Lanes).Msg("Bridge consuming")

	<-ctx.Done()
	b.log.Info().Msg("Bridge draining in-flight events")
	cc.Drain()
	drained := make(chan struct{})
	go func() {
		<-cc.Closed()
		for _, l := range lanes {
			l.close()
		}
		wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		// Every event the bridge took is settled. (A message the server sent while the
		// pull subscription was closing never reached the bridge: it is redelivered to
		// another replica after AckWait.)
		b.log.Info().Int64("taken", b.taken.Load()).Int64("settled", b.settled.Load()).Msg("Bridge drained")
	case <-time.After(b.cfg.DrainTimeout):
		cancelWork()
		b.log.Warn().Dur("timeout", b.cfg.DrainTimeout).Int64("taken", b.taken.Load()).Int64("settled", b.settled.Load()).
			Msg("Bridge drain timed out; unfinished events will be redelivered")
	}
	return nil
}

func laneOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
