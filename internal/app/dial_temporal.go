package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/config"
)

// DialTemporal connects to the Temporal of cfg for an operator command: it fails within
// a few seconds, naming TEMPORAL_ADDRESS, when nothing answers there. The caller closes
// the client.
func DialTemporal(ctx context.Context, cfg config.Temporal, log zerolog.Logger) (client.Client, error) {
	opts, err := TemporalOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("Temporal at %s (TEMPORAL_ADDRESS) did not answer: %w", opts.HostPort, err)
	}
	return tc, nil
}
