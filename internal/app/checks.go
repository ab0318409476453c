package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/ops"
)

// The health checks of both binaries. What a check's error says is shown on the operations
// address, so it names the setting to look at and a cause from a fixed vocabulary
// (cause), never the driver's message: PostgreSQL's names the user, host and database,
// gRPC's the address. The driver's error is kept for the log (ops.Redact).

// PostgresCheck checks PostgreSQL with ping (a pool's or a store's Ping).
func PostgresCheck(ping func(context.Context) error) ops.Check {
	return func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return ops.Redact("PostgreSQL at DATABASE_URL unreachable: "+cause(err), err)
		}
		return nil
	}
}

// TemporalCheck asks Temporal's frontend whether it is serving.
func TemporalCheck(c client.Client) ops.Check {
	return func(ctx context.Context) error {
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return ops.Redact("Temporal at TEMPORAL_ADDRESS unreachable: "+cause(err), err)
		}
		return nil
	}
}

// cause says why a connection failed in words that hold no address, name or credential.
func cause(err error) string {
	var (
		pgErr   *pgconn.PgError
		dnsErr  *net.DNSError
		netErr  net.Error
		svcErr  serviceerror.ServiceError
		certErr *tls.CertificateVerificationError
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "check cancelled"
	case errors.As(err, &pgErr):
		return fmt.Sprintf("the server refused: SQLSTATE %s (see the log)", pgErr.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.As(err, &dnsErr):
		return "host name not resolved"
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr):
		return "TLS certificate not trusted"
	case errors.As(err, &recErr):
		return "TLS handshake failed (is TLS on at both ends?)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.As(err, &svcErr) && strings.Contains(svcErr.Error(), "tls: "):
		return grpcTLSCause(svcErr.Error())
	case errors.As(err, &svcErr):
		return "gRPC " + svcErr.Status().Code().String() + " (see the log)"
	default:
		return "failed (see the log)"
	}
}

// grpcTLSCause says which end refused a TLS handshake that gRPC reported only as a
// message (its status errors keep no cause), and which settings to check.
func grpcTLSCause(msg string) string {
	switch {
	case strings.Contains(msg, "x509: "), strings.Contains(msg, "failed to verify certificate"):
		return "TLS handshake failed: the server's certificate is not trusted (check TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME; see the log)"
	case strings.Contains(msg, "remote error: tls: "):
		return "TLS handshake failed: the server refused this client (check TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH; see the log)"
	default:
		return "TLS handshake failed (is TLS on at both ends? see the log)"
	}
}
