package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/retry"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/setup"
)

// setupTimeout bounds `bridge setup`'s whole run: a server that does not answer fails it,
// and the Job running it tries again.
const setupTimeout = 2 * time.Minute

// RunSetup is `bridge setup`: it compares the streams, the durable consumers and the
// Temporal search attributes the bridge with cfg uses with cfg, prints what differs field
// by field, and with cfg.DryRun stops there; otherwise it creates or updates them and
// exits. A second run finds nothing to change and says so. A change NATS or Temporal
// cannot make is refused, and then nothing is changed.
func RunSetup(ctx context.Context, cfg config.Setup, out io.Writer, log zerolog.Logger) error {
	ctx, cancelTimeout := context.WithTimeout(ctx, setupTimeout)
	defer cancelTimeout()
	// NATS answers a request the user may not make with an asynchronous error, not a
	// reply: without this, setup would wait out its timeout.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	routes, err := routing.Load(cfg.RoutesFile)
	if err != nil {
		return err
	}
	url := config.RedactURLs(cfg.NATS.URL)
	nc, err := DialNATS(cfg.NATS, "flowbridge-bridge-setup", nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				cancel(fmt.Errorf("%w at %s: bridge setup needs a NATS user allowed to manage streams and consumers ($JS.API.>), unlike the bridge's own", err, url))
			}
		}))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream at %s: %w", url, err)
	}
	plan, err := setup.PlanJetStream(ctx, js, streamSettings(cfg.Bridge), cfg.AckWait)
	if err != nil {
		return withCause(ctx, fmt.Errorf("NATS at %s (NATS_URL): %w", url, err))
	}

	tc, err := newTemporalClient(cfg.Temporal, log, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	attrs, err := setup.PlanSearchAttributes(ctx, tc.OperatorService(), cfg.Temporal.Client.Namespace, setup.SearchAttributes(routes))
	if err != nil {
		return fmt.Errorf("Temporal at %s (TEMPORAL_ADDRESS): %w", cfg.Temporal.Client.Address, err)
	}
	plan.Add(attrs)

	plan.Write(out)
	n := len(plan.Changes)
	switch {
	case len(plan.Refused()) > 0:
		return plan.Apply(ctx) // refuses, changing nothing
	case n == 0:
		fmt.Fprintln(out, "Nothing to change: everything is as configured.")
	case cfg.DryRun:
		fmt.Fprintf(out, "Dry run: %s to make, none made.\n", changes(n))
	default:
		if err := plan.Apply(ctx); err != nil {
			return withCause(ctx, err)
		}
		fmt.Fprintf(out, "Made %s.\n", changes(n))
	}
	return nil
}

// withCause is err, or the cause that cancelled ctx (a permissions violation) when there
// is one: that says what to do, where err says only that the request was cancelled.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, ctx.Err()) {
		return cause
	}
	return err
}

func changes(n int) string {
	if n == 1 {
		return "1 change"
	}
	return fmt.Sprintf("%d changes", n)
}

// streamSettings are the settings of cfg's streams.
func streamSettings(cfg config.Bridge) events.StreamSettings {
	s := events.StreamSettings{
		DuplicateWindow: cfg.DuplicateWindow,
		Replicas:        cfg.Streams.Replicas,
		DLQMaxAge:       cfg.Streams.DLQMaxAge,
		DLQMaxBytes:     cfg.Streams.DLQMaxBytes,
		Partitions:      cfg.Streams.Partitions,
	}
	if cfg.Streams.Storage == config.StorageMemory {
		s.Storage = jetstream.MemoryStorage
	}
	if cfg.Streams.PlacementCluster != "" || len(cfg.Streams.PlacementTags) > 0 {
		s.Placement = &jetstream.Placement{Cluster: cfg.Streams.PlacementCluster, Tags: cfg.Streams.PlacementTags}
	}
	return s
}

// prepareJetStream readies the streams and consumers before the bridge consumes them.
// With BRIDGE_PROVISION it creates the streams that are missing (bridge.Run creates or
// updates the consumers). Without, it only looks them up, and one missing is a permanent
// error that says to run `bridge setup`. A stream or consumer that differs from the
// settings is logged, not changed: `bridge setup` changes them.
func prepareJetStream(ctx context.Context, js jetstream.JetStream, cfg config.Bridge, log zerolog.Logger) error {
	plan, err := setup.PlanJetStream(ctx, js, streamSettings(cfg), cfg.AckWait)
	if err != nil {
		return err
	}
	var create setup.Plan
	var missing []string
	for _, c := range plan.Changes {
		switch {
		case c.Action == setup.Create && !cfg.Provision:
			missing = append(missing, c.Object)
		case c.Action == setup.Create && c.Kind == setup.KindStream:
			create.Changes = append(create.Changes, c)
		case cfg.Provision && c.Kind == setup.KindConsumer:
			// bridge.Run creates or updates it.
		default:
			log.Warn().Strs("differences", c.Lines()).Str("object", c.Object).
				Msg("A stream or consumer differs from the bridge's settings; `bridge setup` applies them")
		}
	}
	if len(missing) > 0 {
		return retry.Permanent(fmt.Errorf("%s missing at NATS_URL %s: run `bridge setup` first, as a NATS user allowed to manage streams (with BRIDGE_PROVISION=false the bridge creates no stream or consumer)",
			strings.Join(missing, ", "), config.RedactURLs(cfg.NATS.URL)))
	}
	return create.Apply(ctx) // one another bridge created meanwhile is there when retried
}
