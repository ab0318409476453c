package app

import (
	"context"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/metrics"
	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/retry"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/telemetry"
	"github.com/flowbridge/flowbridge/schemas"
)

// RunBridge runs the bridge — the consumer, the public HTTP ingress (HTTP_ADDR) and the
// operators' admin server (ADMIN_ADDR) — until ctx ends. It returns an error, so that the
// process exits non-zero and is restarted, when a part fails or NATS closes one of its
// connections for good.
func RunBridge(ctx context.Context, cfg config.Bridge, log zerolog.Logger) error {
	p, err := newBridgeProcess(ctx, cfg, log)
	if err != nil {
		return err
	}
	return p.run(ctx)
}

// bridgeProcess is the bridge's parts, connected and listening, before they run.
type bridgeProcess struct {
	cfg config.Bridge
	log zerolog.Logger
	// The ingress publishes on a connection of its own: the server closes a connection
	// over one bad publish, and that must not stop the consumer.
	ingressNATS, consumerNATS *NATSConn
	temporal                  client.Client
	temporalMetrics           *metrics.Temporal
	metrics                   *bridge.Metrics
	pool                      *pgxpool.Pool
	ledger                    *ledger.Ledger
	bridge                    *bridge.Bridge
	public                    *ingress.Server
	admin                     *ops.Server
	publicLn, adminLn         net.Listener
	stopTracing               func() // flushes the spans; nil before tracing started
}

// newBridgeProcess connects (NATS, Temporal and PostgreSQL lazily: none needs to be up),
// builds the parts and opens both listeners, so that an address in use fails start-up.
func newBridgeProcess(ctx context.Context, cfg config.Bridge, log zerolog.Logger) (_ *bridgeProcess, err error) {
	p := &bridgeProcess{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	sch, err := events.LoadSchemasDir(schemas.FS, cfg.SchemasDir)
	if err != nil {
		return nil, err
	}
	routes, err := routing.Load(cfg.RoutesFile)
	if err != nil {
		return nil, err
	}
	if p.consumerNATS, err = ConnectNATS(cfg.Common, "flowbridge-bridge-consumer", log); err != nil {
		return nil, err
	}
	if p.ingressNATS, err = ConnectNATS(cfg.Common, "flowbridge-bridge-ingress", log); err != nil {
		return nil, err
	}
	reg, err := NewRegistry("bridge", p.consumerNATS, p.ingressNATS)
	if err != nil {
		return nil, err
	}
	// The SDK's metrics of the bridge's own Temporal calls (temporal_request_*).
	if p.temporalMetrics, err = metrics.NewTemporal(reg, log); err != nil {
		return nil, err
	}
	if p.temporal, err = newTemporalClient(cfg.Temporal, log, p.temporalMetrics.Handler()); err != nil {
		return nil, err
	}
	tp, stopTracing, err := StartTracing(ctx, cfg.Tracing, "flowbridge-bridge", log)
	if err != nil {
		return nil, err
	}
	p.stopTracing = stopTracing
	// The bridge does not need PostgreSQL to route; this pool is opened lazily, for the
	// admin address's readiness.
	if p.pool, err = pgxpool.New(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if err := checkBridgeSchema(ctx, p.pool, log); err != nil {
		return nil, err
	}

	// The event ledger connects (and migrates) in the background: routing never waits for
	// PostgreSQL, and what the ledger cannot write is counted.
	p.ledger, err = ledger.New(func(ctx context.Context) (*store.Store, error) {
		return store.Open(ctx, cfg.DatabaseURL)
	}, reg, log, ledger.Config{Buffer: cfg.LedgerBuffer, BufferBytes: cfg.LedgerBufferBytes, Retention: cfg.LedgerRetention})
	if err != nil {
		return nil, err
	}
	p.metrics, err = bridge.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	p.bridge, err = bridge.New(p.consumerNATS.JS, p.temporal, sch, routes, p.metrics, log, bridge.Config{
		TaskQueue:   cfg.TaskQueue,
		Namespace:   cfg.Temporal.Client.Namespace,
		Lanes:       cfg.Lanes,
		SignalWait:  cfg.SignalWait,
		MaxRetryAge: cfg.MaxRetryAge,
		MaxAttempts: cfg.MaxAttempts,
		AckWait:     cfg.AckWait,
		Partitions:  cfg.Streams.Partitions,
		Recorder:    p.ledger,
		// With TEMPORAL_CODEC_ENDPOINT, what the bridge sends is encoded as the worker's is.
		PayloadCodecs: temporalCodecs(cfg.Temporal),
		// Without BRIDGE_PROVISION, `bridge setup` made the consumers.
		LookUpConsumers: !cfg.Provision,
		TracerProvider:  tp,
	})
	if err != nil {
		return nil, err
	}

	// Alive while neither NATS connection is closed for good. The public port is ready
	// when the ingress can publish: a Temporal or PostgreSQL outage must not take the
	// webhooks out of a load balancer, since the stream keeps the events until they are
	// back. The admin address shows every dependency.
	live := map[string]ops.Check{
		"nats_ingress":  p.ingressNATS.Alive,
		"nats_consumer": p.consumerNATS.Alive,
	}
	p.public = ingress.New(ingress.Config{
		Addr:           cfg.HTTPAddr,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		Live:           live,
		Ready:          map[string]ops.Check{"nats": p.ingressNATS.Ready},
	}, log)
	// With tracing on, every request is a span and every event it publishes carries the
	// trace in its traceparent extension.
	ing, err := ingress.NewIngest(telemetry.TracePublisher(events.NewPublisher(p.ingressNATS.JS), tp), sch, reg, log, ingress.IngestConfig{
		StripeSecrets: cfg.StripeWebhookSecrets,
		StripeAPIKey:  cfg.StripeAPIKey,
		StripeAPIBase: cfg.StripeAPIBase,
		GitHubSecrets: cfg.GitHubWebhookSecrets,
		EventsTokens:  eventsTokens(cfg.EventsTokens),
		EventsOpen:    cfg.EventsOpen,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		MaxInFlight:   cfg.MaxInFlight,
	})
	if err != nil {
		return nil, err
	}
	ing.Mount(telemetry.TraceHTTP(p.public, tp))
	p.admin = ops.New(ops.Config{
		Addr:     cfg.AdminAddr,
		Setting:  "ADMIN_ADDR",
		Gatherer: reg,
		Live:     live,
		Ready: map[string]ops.Check{
			"nats_ingress":  p.ingressNATS.Ready,
			"nats_consumer": p.consumerNATS.Ready,
			"temporal":      TemporalCheck(p.temporal),
			"postgresql":    PostgresCheck(p.pool.Ping),
		},
	}, log)
	p.admin.Handle(ledger.Pattern, p.ledger.Handler())

	if p.publicLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on %s (HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	if p.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		return nil, fmt.Errorf("listen on %s (ADMIN_ADDR): %w", cfg.AdminAddr, err)
	}
	return p, nil
}

// run runs the parts until ctx ends or one fails, then closes everything.
func (p *bridgeProcess) run(ctx context.Context) error {
	defer p.close()
	// The ledger stops after the bridge, so it writes the outcomes of the drain; the admin
	// address too, so the drain can be watched; and the watch of the NATS connections, so
	// a connection lost during the drain still fails the run.
	afterDrain, stopAfterDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAfterDrain()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.ingressNATS.Watch(afterDrain) })
	g.Go(func() error { return p.consumerNATS.Watch(afterDrain) })
	g.Go(func() error { return p.ledger.Run(afterDrain) })
	g.Go(func() error { return p.admin.Serve(afterDrain, p.adminLn) })
	g.Go(func() error {
		return p.metrics.SampleStreams(afterDrain, p.consumerNATS.JS, bridge.DefaultSampleInterval, p.log)
	})
	g.Go(func() error { return p.public.Serve(ctx, p.publicLn) })
	g.Go(func() error {
		defer stopAfterDrain()
		err := retry.Until(ctx, p.log, "NATS JetStream (streams "+events.Stream+", "+events.DLQStream+", "+events.WaitingStream+", "+events.DebounceStream+", "+events.BatchStream+")", func(ctx context.Context) error {
			return prepareJetStream(ctx, p.consumerNATS.JS, p.cfg, p.log)
		})
		if err != nil {
			return IgnoreCanceled(err)
		}
		return p.bridge.Run(ctx)
	})
	return g.Wait()
}

// close releases what newBridgeProcess opened.
func (p *bridgeProcess) close() {
	for _, ln := range []net.Listener{p.publicLn, p.adminLn} {
		if ln != nil {
			_ = ln.Close() // already closed once served
		}
	}
	if p.pool != nil {
		p.pool.Close()
	}
	if p.temporal != nil {
		p.temporal.Close()
	}
	if p.temporalMetrics != nil {
		_ = p.temporalMetrics.Close() // only stops its reporting
	}
	for _, nc := range []*NATSConn{p.ingressNATS, p.consumerNATS} {
		if nc != nil {
			nc.Close()
		}
	}
	if p.stopTracing != nil {
		p.stopTracing()
	}
}

func eventsTokens(in []config.EventsToken) []ingress.EventsToken {
	out := make([]ingress.EventsToken, len(in))
	for i, t := range in {
		out[i] = ingress.EventsToken{Token: t.Token, Types: t.Types}
	}
	return out
}
