// Package app wires flowbridge's binaries together from their configuration: it connects
// to NATS, Temporal and PostgreSQL, builds the components and runs them until the context
// ends. The mains in cmd/ only read configuration and handle signals; tests run the same
// wiring.
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
)

// connectNATS connects to NATS and keeps reconnecting for ever, logging each change.
func connectNATS(cfg config.Common, name string, log zerolog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// No reconnect buffer: a publish while NATS is away fails at once instead of being
		// flushed later, so the ingress never answers 503 for an event that is stored
		// after all, and activities retry rather than believe a buffered publish.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if !c.IsClosed() { // not our own shutdown
				log.Warn().Err(err).Msg("Disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("Reconnected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Warn().Err(err)
			if sub != nil {
				ev = ev.Str("nats_subject", sub.Subject)
			}
			ev.Msg("NATS async error")
		}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s (NATS_URL): %w", cfg.NATSURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("JetStream: %w", err)
	}
	return nc, js, nil
}

// newTemporalClient returns a client that connects on first use, so a process can start
// (and report not-ready) while Temporal is down.
func newTemporalClient(cfg config.Common, log zerolog.Logger) (client.Client, error) {
	c, err := client.NewLazyClient(client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    temporalLogger(log),
	})
	if err != nil {
		return nil, fmt.Errorf("Temporal client for %s (TEMPORAL_ADDRESS): %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

func natsCheck(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS %s", nc.Status())
		}
		return nil
	}
}

func temporalCheck(c client.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}
}

func temporalLogger(log zerolog.Logger) logging.Temporal {
	return logging.NewTemporal(log.With().Str("component", "temporal").Logger())
}
