// Package app wires the bridge binary together from its configuration — RunBridge and
// the operator's RunSetup — and holds the connections both binaries share (NATS,
// Temporal, tracing, the metrics registry, readiness checks). The worker's wiring is
// internal/workerapp, so the bridge links no workflow, activity or mail code. The mains
// in cmd/ only read configuration and handle signals; tests run the same wiring.
package app

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

	"github.com/flowbridge/flowbridge/internal/config"
)

// NATSConn is a connection to NATS that reconnects for ever, and reports when it is closed
// all the same: nats.go gives a connection up for good when the server closes it with an
// error (a protocol violation such as a subject over the control-line limit, an
// authorization error), and a process holding such a connection would stay up doing
// nothing. Watch turns that into an error that ends the process, so that its supervisor
// restarts it; our own Close is not reported.
type NATSConn struct {
	*nats.Conn
	JS   jetstream.JetStream
	name string
	cfg  config.NATS
	lost chan struct{} // closed once the connection is closed, by whomever
	ours atomic.Bool   // Close was called: the close is our own shutdown
}

// ConnectNATS connects to NATS as name (the connection's name on the server), keeps
// reconnecting for ever and logs each change. It fails on malformed settings, and when
// the server refuses the credential or the TLS handshake (dialNATS): an unreachable
// server is retried in the background.
func ConnectNATS(cfg config.Common, name string, log zerolog.Logger) (*NATSConn, error) {
	c := &NATSConn{name: name, cfg: cfg.NATS, lost: make(chan struct{})}
	log = log.With().Str("nats_connection", name).Logger()
	var lostOnce sync.Once
	nc, err := dialNATS(cfg.NATS, log,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// No reconnect buffer: a publish while NATS is away fails at once instead of being
		// flushed later, so the ingress never answers 503 for an event that is stored
		// after all, and activities retry rather than believe a buffered publish.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if !c.IsClosed() { // closed: ClosedHandler says why
				log.Warn().Err(err).Msg("Disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("Reconnected to NATS")
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			lostOnce.Do(func() { close(c.lost) })
			if err := c.failure(nc); err != nil {
				log.Error().Err(err).Msg("NATS connection closed for good; the process exits so that it is restarted")
			}
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
		return nil, err
	}
	c.Conn = nc
	js, err := jetstream.New(nc)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	c.JS = js
	return c, nil
}

// Close closes the connection; that close is not a failure.
func (c *NATSConn) Close() {
	c.ours.Store(true)
	c.Conn.Close()
}

// Watch waits until ctx ends, and returns nil, or until the connection is closed other
// than by Close, and returns an error naming the connection and why.
func (c *NATSConn) Watch(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-c.lost:
		return c.failure(c.Conn)
	}
}

// failure is why nc, the connection, was closed, or nil while it is not closed or was
// closed by Close.
func (c *NATSConn) failure(nc *nats.Conn) error {
	if !nc.IsClosed() || c.ours.Load() {
		return nil
	}
	reason := "no reason given"
	if err := nc.LastError(); err != nil {
		reason = natsClosedReason(c.cfg, err)
	}
	return fmt.Errorf("NATS connection %s was closed for good (%s): exiting so that the process is restarted with a new one", c.name, reason)
}

// Ready is a readiness check: the connection is up.
func (c *NATSConn) Ready(context.Context) error {
	if !c.IsConnected() {
		return fmt.Errorf("NATS at NATS_URL: connection %s is %s", c.name, c.Status())
	}
	return nil
}

// Alive is a liveness check: the connection was not closed for good.
func (c *NATSConn) Alive(context.Context) error { return c.failure(c.Conn) }

// IgnoreCanceled returns err, or nil when err is context.Canceled: a process's own
// shutdown is not a failure.
func IgnoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
