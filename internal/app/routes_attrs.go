package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/setup"
)

// CheckRouteSearchAttributes compares the search attributes the bridge sets with routes
// (setup.SearchAttributes) with those of the Temporal namespace of cfg
// (setup.CheckSearchAttributes). An error means nothing was checked: Temporal did not
// answer within a few seconds, or refused to list them.
func CheckRouteSearchAttributes(ctx context.Context, cfg config.Temporal, routes *routing.Table, log zerolog.Logger) (warnings, problems []string, err error) {
	opts, err := TemporalOptions(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	// A quick look first: without a server the SDK would retry until the deadline.
	conn, err := net.DialTimeout("tcp", opts.HostPort, 2*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("Temporal at %s (TEMPORAL_ADDRESS) is not reachable: %w", opts.HostPort, err)
	}
	_ = conn.Close()
	tc, err := newTemporalClient(cfg, log, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	warnings, problems, err = setup.CheckSearchAttributes(ctx, tc.OperatorService(), cfg.Client.Namespace, setup.SearchAttributes(routes))
	if err != nil {
		return nil, nil, fmt.Errorf("Temporal at %s (TEMPORAL_ADDRESS): %w", opts.HostPort, err)
	}
	return warnings, problems, nil
}
