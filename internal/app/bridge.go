package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/retry"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/schemas"
)

// RunBridge runs the bridge — consumer and HTTP ingress — until ctx ends.
func RunBridge(ctx context.Context, cfg config.Bridge, log zerolog.Logger) error {
	sch, err := events.LoadSchemas(schemas.FS)
	if err != nil {
		return err
	}
	routes, err := routing.Load(cfg.RoutesFile)
	if err != nil {
		return err
	}
	nc, js, err := connectNATS(cfg.Common, "flowbridge-bridge", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	tc, err := newTemporalClient(cfg.Common, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	// The bridge does not need PostgreSQL to route; this pool is opened lazily, for
	// readiness.
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The event ledger connects (and migrates) in the background: routing never waits for
	// PostgreSQL, and what the ledger cannot write is counted.
	led, err := ledger.New(func(ctx context.Context) (*store.Store, error) {
		return store.Open(ctx, cfg.DatabaseURL)
	}, reg, log, ledger.Config{Buffer: cfg.LedgerBuffer, Retention: cfg.LedgerRetention})
	if err != nil {
		return err
	}
	br, err := bridge.New(js, tc, sch, routes, bridge.NewMetrics(reg), log, bridge.Config{
		TaskQueue:  cfg.TaskQueue,
		Namespace:  cfg.TemporalNamespace,
		Lanes:      cfg.Lanes,
		SignalWait: cfg.SignalWait,
		AckWait:    cfg.AckWait,
		Recorder:   led,
	})
	if err != nil {
		return err
	}
	srv := ingress.New(ingress.Config{Addr: cfg.HTTPAddr, MaxHeaderBytes: cfg.MaxHeaderBytes}, log, reg, map[string]ingress.Check{
		"nats":       natsCheck(nc),
		"temporal":   temporalCheck(tc),
		"postgresql": pool.Ping,
	})
	ing, err := ingress.NewIngest(events.NewPublisher(js), sch, reg, log, ingress.IngestConfig{
		StripeSecrets: cfg.StripeWebhookSecrets,
		GitHubSecrets: cfg.GitHubWebhookSecrets,
		EventsTokens:  eventsTokens(cfg.EventsTokens),
		EventsOpen:    cfg.EventsOpen,
		MaxBodyBytes:  cfg.MaxBodyBytes,
	})
	if err != nil {
		return err
	}
	ing.Mount(srv)
	srv.Handle(ledger.Pattern, led.Handler())

	// The ledger stops after the bridge, so it writes the outcomes of the drain.
	ledgerCtx, stopLedger := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLedger()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return led.Run(ledgerCtx) })
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error {
		defer stopLedger()
		err := retry.Until(ctx, log, "NATS JetStream (create streams "+events.Stream+", "+events.DLQStream+")", func(ctx context.Context) error {
			return events.EnsureStreams(ctx, js, cfg.DuplicateWindow)
		})
		if err != nil {
			return ignoreCanceled(err)
		}
		return br.Run(ctx)
	})
	return g.Wait()
}

func eventsTokens(in []config.EventsToken) []ingress.EventsToken {
	out := make([]ingress.EventsToken, len(in))
	for i, t := range in {
		out[i] = ingress.EventsToken{Token: t.Token, Types: t.Types}
	}
	return out
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
