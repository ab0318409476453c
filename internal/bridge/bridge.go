// Package bridge consumes the EVENTS stream and turns each CloudEvent into Temporal
// starts, signals and cancels.
//
// The guarantees come from the ack discipline (see outcome.go): a message is acked only
// after Temporal accepted the call or after its dead letter was stored; a transient
// failure is NAKed with a delay and redelivered; nothing is acked on a path that could
// lose the event. Events for one workflow id run one at a time, in stream order; events
// for different ids run in parallel, as many as the adaptive limit allows (sched.go,
// limiter.go). A message waiting for its turn or for Temporal is kept from redelivery with
// InProgress (held.go); a signal whose workflow does not exist yet waits in
// EVENTS_WAITING, outside the stream's ack-pending window (waiting.go).
package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
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
	// Lanes is the most Temporal calls in flight at once: a ceiling for the adaptive limit,
	// which finds Temporal's best concurrency by itself (limiter.go). Optional: defaults
	// to 256; nobody should need to set it.
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
	// Partitions, above 0, runs the bridge in partitioned mode (partitions.go): events of
	// one workflow id reach Temporal in stream order across all replicas, which must all
	// run with the same count. Optional: defaults to 0, order per workflow id within one
	// bridge only.
	Partitions int
	// Consumer is the durable consumer's name. Optional: defaults to "bridge".
	Consumer string
	// LookUpConsumers makes Run look its durable consumers up rather than create or update
	// them: `bridge setup` made them, and the bridge's NATS user may not manage consumers.
	// Optional: defaults to false, creating or updating them.
	LookUpConsumers bool
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
	// TracerProvider receives a span per delivery, whose context the Temporal calls carry
	// to the worker (trace.go). Optional: nil, the default, traces nothing.
	TracerProvider trace.TracerProvider
}

func (c *Config) defaults() error {
	if c.TaskQueue == "" {
		return errors.New("bridge: TaskQueue is required")
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.Lanes == 0 {
		c.Lanes = 256
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
	if c.Partitions < 0 || c.Partitions > events.MaxPartitions {
		return fmt.Errorf("bridge: Partitions %d must be between 0 and %d", c.Partitions, events.MaxPartitions)
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
	lim      *limiter
	inflight atomic.Int64         // Temporal calls in flight
	waiting  *waitingRoom         // nil without EVENTS_WAITING
	pins     map[string]*pinState // pinned consumers (partitioned mode) by name; set before the pulls start
	windows  windows              // the debounce and batch streams the routes use
	tracing  *tracing             // nil without Config.TracerProvider
	attrs    defaultAttrs         // whether starts carry flowbridge's search attributes
	log      zerolog.Logger
	// taken and settled count messages handed to the bridge and acked or NAKed by it.
	taken, settled atomic.Int64
	cfg            Config
}

// New returns a bridge. The routes are checked against the schemas (routing.CheckSchemas),
// so that a route reading a field its event type lacks is found here rather than on the
// first event; a routed type without a schema is logged as a warning.
func New(js jetstream.JetStream, tc Temporal, schemas *events.Schemas, routes *routing.Table, m *Metrics, log zerolog.Logger, cfg Config) (*Bridge, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	warnings, err := routes.CheckSchemas(schemas)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	for _, w := range warnings {
		log.Warn().Msg(w)
	}
	if m == nil {
		m = newMetrics()
	}
	tr, err := newTracing(cfg.TracerProvider)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	return &Bridge{js: js, temporal: tc, schemas: schemas, routes: routes, metrics: m, recorder: cfg.Recorder, limits: newLimits(), held: newHeld(), lim: newLimiter(cfg.Lanes), tracing: tr, log: log, cfg: cfg}, nil
}

// Run consumes the durable consumers (EVENTS' and EVENTS_WAITING's) until ctx is
// cancelled, then stops fetching, lets every event already taken finish (up to
// DrainTimeout) and returns. Events it did not finish are redelivered to another replica
// after the consumer's AckWait.
//
// It takes from the stream only what it can start soon (pull, sched.waitRoom), so the rest
// stays on the server, pending for whichever replica has room.
func (b *Bridge) Run(ctx context.Context) error {
	ccfg, prepare := events.BridgeConsumerConfig(b.cfg.Consumer, b.cfg.AckWait), b.prepare
	if b.cfg.Partitions > 0 {
		ccfg, prepare = events.SequencerConsumerConfig(b.cfg.Consumer, b.cfg.AckWait), b.prepareSequenced
	}
	cons, err := events.Consumer(ctx, b.js, events.Stream, ccfg, !b.cfg.LookUpConsumers)
	if err != nil {
		if ctx.Err() != nil { // stopped while starting: a shutdown, not a failure
			return nil
		}
		return err
	}
	parts, err := b.openPartitions(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	wcons, err := b.openWaitingRoom(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	wins, err := b.openWindows(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	b.checkDefaultAttrs(ctx)
	// Work in flight must outlive ctx so shutdown can drain it; DrainTimeout bounds that.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	s := newSched(b.lim, func(j job) { b.handleOrSurvive(workCtx, j.it) })

	// The keeper outlives ctx with the work it keeps: until drained, or until the drain
	// times out and the unfinished events are left to redelivery.
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		b.held.keep(workCtx, b.cfg.AckWait, b.metrics.ackExtended, func(err error) {
			b.log.Debug().Err(err).Msg("Could not extend a held message's ack deadline")
		})
	}()
	go func() { defer bg.Done(); b.gauge(workCtx) }()
	if wcons != nil {
		bg.Add(1)
		go func() { defer bg.Done(); b.sampleWaiting(workCtx, wcons, 2*time.Second) }()
	}
	defer func() { cancelWork(); bg.Wait() }()

	// Bounded in bytes as well as count: a burst of large events cannot fill memory. A
	// pull must admit the largest message, or delivery stalls: 8 MiB, or twice the
	// server's max_payload when that is larger.
	maxBytes := max(8<<20, 2*b.maxPayload())
	// One bridge at a time pulls each pinned consumer; the partitions are spread over the
	// bridges that pull them (balance).
	if len(parts) > 0 && pinned(parts[0]) {
		b.pins = map[string]*pinState{consumerName(cons): {}}
		for _, c := range parts {
			b.pins[consumerName(c)] = &pinState{}
		}
		bg.Add(1)
		go func() { defer bg.Done(); b.balance(workCtx, parts, balanceEvery) }()
	}
	var pulling sync.WaitGroup
	pulling.Add(1)
	go func() { defer pulling.Done(); b.pull(ctx, cons, s, false, prepare, maxBytes) }()
	if wcons != nil {
		pulling.Add(1)
		go func() { defer pulling.Done(); b.pull(ctx, wcons, s, true, b.prepareParked, maxBytes) }()
	}
	for kind, c := range wins {
		pulling.Add(1)
		go func() { defer pulling.Done(); b.pull(ctx, c, s, false, b.prepareWindow(kind), maxBytes) }()
	}
	for _, c := range parts {
		pulling.Add(1)
		go func() { defer pulling.Done(); b.pull(ctx, c, s, false, b.preparePartitioned, maxBytes) }()
	}
	l := b.log.Info().Str("consumer", b.cfg.Consumer).Int("max_in_flight", b.cfg.Lanes).Bool("waiting_room", wcons != nil)
	if len(parts) > 0 {
		l = l.Int("partitions", len(parts)).Bool("pinned", pinned(cons) && pinned(parts[0]))
		if !pinned(cons) {
			b.log.Warn().Msg("This NATS server has no priority groups (2.11 on): every bridge pulls every partition, one event at a time; order holds, but a partition is not kept by one bridge")
		}
	}
	l.Msg("Bridge consuming")

	<-ctx.Done()
	b.log.Info().Msg("Bridge draining in-flight events")
	drained := make(chan struct{})
	go func() {
		pulling.Wait() // the last pull ends within pullWait; what it brought is handled
		s.close()
		<-s.idle
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

// pullWait is how long one pull waits on the server for messages it has room for. Each
// message arrives as soon as it is there; a pull ends when its count is reached or after
// this, and a stopping bridge waits for its last pull to end.
const pullWait = time.Second

// pull takes messages from cons, as many as the scheduler has room for, until ctx ends.
// Every message it takes is held (InProgress keeps it from redelivery) and scheduled at
// once: none waits unheld in a client buffer, so however slow Temporal gets, no delivery
// passes AckWait while the bridge is alive. What there is no room for stays on the server.
func (b *Bridge) pull(ctx context.Context, cons jetstream.Consumer, s *sched, low bool, prepare func(jetstream.Msg) item, maxBytes int) {
	byCount := replicated(cons)
	var opts []jetstream.FetchOpt
	ps := b.pins[consumerName(cons)] // nil: not pinned
	if ps != nil {
		opts = append(opts, jetstream.FetchPriorityGroup(events.PartitionGroup))
	}
	failures := 0
	for ctx.Err() == nil {
		if ps != nil {
			ps.waitPause(ctx) // it gave this consumer to another bridge a moment ago
		}
		n := s.waitRoom(ctx, low)
		if n == 0 {
			return
		}
		batch, err := fetch(cons, min(n, maxPullBatch), maxBytes, b.maxPayload(), byCount, opts...)
		if err == nil {
			for msg := range batch.Messages() {
				if ps != nil && ps.saw(msg.Headers().Get(headerPinID)) {
					b.log.Info().Str("consumer", consumerName(cons)).Msg("This bridge holds the consumer now")
				}
				b.taken.Add(1)
				hold := b.held.add(msg)
				it := prepare(msg)
				it.hold = hold
				s.push(job{key: it.key, low: low, it: it})
			}
			err = batch.Error()
		}
		if errors.Is(err, jetstream.ErrBatchCompleted) {
			// Only a replicated consumer makes a pull end this way (fetch): the rest of
			// this batch comes back after AckWait, and later pulls go by count.
			if !byCount {
				b.log.Warn().Str("consumer", consumerName(cons)).Msg("The consumer is replicated: pulls are bounded by count from now on (messages of the last pull are redelivered after AckWait)")
			}
			byCount, err = true, nil
		}
		if errors.Is(err, jetstream.ErrPinIDMismatch) {
			// Another bridge holds this consumer now (this one paused its pulls for longer
			// than the pinned TTL); this one's pulls wait for its turn.
			b.log.Info().Str("consumer", consumerName(cons)).Msg("Another bridge holds this consumer now")
			err = nil
		}
		if err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			failures = 0
			continue
		}
		failures++
		b.log.Warn().Err(err).Str("consumer", consumerName(cons)).Msg("Pull from the stream failed; trying again")
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)):
		}
	}
}

// headerPinID names the pin of the client a pinned consumer's message was delivered to.
const headerPinID = "Nats-Pin-Id"

// maxPullBatch bounds one pull's count (the scheduler's room bounds it too).
const maxPullBatch = 256

// fetch pulls up to n messages from cons, bounded in bytes by maxBytes. With byCount the
// bound is a count instead, max(1, maxBytes/maxPayload) at most, which holds the same
// bytes. A replicated consumer (an R3 stream on a NATS cluster) needs that: nats-server
// (2.11 on, 2.15.3 still) holds each message of such a consumer until its replicas have
// recorded the delivery, but answers a pull that reached its count with bytes to spare
// ("409 Batch Completed") at once, ahead of the messages, so the fetch ends without them
// and they wait out AckWait on the server. A pull bounded by count alone ends on its last
// message, and the server holds its timeout until its held messages have gone.
func fetch(cons jetstream.Consumer, n, maxBytes, maxPayload int, byCount bool, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if byCount {
		return cons.Fetch(min(n, max(1, maxBytes/maxPayload)), append(opts, jetstream.FetchMaxWait(pullWait))...)
	}
	return cons.Fetch(n, append(opts, jetstream.FetchMaxWait(pullWait), jetstream.FetchMaxBytes(maxBytes))...)
}

// replicated reports whether the consumer has replicas besides its leader, as the server
// described it when the bridge looked it up.
func replicated(c jetstream.Consumer) bool {
	info := c.CachedInfo()
	return info != nil && info.Cluster != nil && len(info.Cluster.Replicas) > 0
}

func consumerName(c jetstream.Consumer) string {
	if info := c.CachedInfo(); info != nil {
		return info.Name
	}
	return ""
}

// openWaitingRoom finds EVENTS_WAITING and creates or updates its consumer. Without the
// stream (an operator who created EVENTS and EVENTS_DLQ only) the bridge runs without a
// waiting room: waiting signals are retried on EVENTS, and it says so.
func (b *Bridge) openWaitingRoom(ctx context.Context) (jetstream.Consumer, error) {
	ws, err := b.js.Stream(ctx, events.WaitingStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		b.log.Warn().Msg("Stream EVENTS_WAITING does not exist: signals that wait for their workflow are retried on EVENTS, inside its ack-pending window (create the stream: deploy/nats)")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", events.WaitingStream, err)
	}
	wcons, err := events.Consumer(ctx, b.js, events.WaitingStream, events.WaitingConsumerConfig(b.cfg.AckWait), !b.cfg.LookUpConsumers)
	if err != nil {
		return nil, err
	}
	b.waiting = &waitingRoom{stream: ws}
	b.waiting.maybe.Store(true) // until the sampler has looked
	return wcons, nil
}

// gauge keeps the concurrency gauges current until ctx ends.
func (b *Bridge) gauge(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.metrics.limit.Set(float64(b.lim.Limit()))
			b.metrics.inflight.Set(float64(b.inflight.Load()))
		}
	}
}
