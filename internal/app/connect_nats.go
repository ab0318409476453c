package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/config"
)

// NATSOptions are the nats.go options for cfg's credential and TLS settings. Each is
// checked as it is built, so a file that went bad since config.Load checked it fails here
// with its setting named. The files are read again on every connect, so rotated
// credentials and certificates are used from the next reconnect on.
func NATSOptions(cfg config.NATS) ([]nats.Option, error) {
	var opts []nats.Option
	probe := nats.GetDefaultOptions()
	add := func(setting string, o nats.Option) error {
		if err := o(&probe); err != nil {
			return fmt.Errorf("%s: %w", cfg.Label(setting), err)
		}
		opts = append(opts, o)
		return nil
	}
	var err error
	switch {
	case cfg.User != "":
		err = add("NATS_USER/NATS_PASSWORD", nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		err = add("NATS_TOKEN", nats.Token(cfg.Token))
	case cfg.Creds != "":
		err = add("NATS_CREDS", nats.UserCredentials(cfg.Creds))
	case cfg.NKey != "":
		var o nats.Option
		if o, err = nats.NkeyOptionFromSeed(cfg.NKey); err != nil {
			err = fmt.Errorf("%s: %w", cfg.Label("NATS_NKEY"), err)
		} else {
			err = add("NATS_NKEY", o)
		}
	}
	if err != nil {
		return nil, err
	}
	if cfg.CA != "" {
		if err := add("NATS_CA", nats.RootCAs(cfg.CA)); err != nil {
			return nil, err
		}
	}
	if cfg.Cert != "" {
		if err := add("NATS_CERT/NATS_KEY", nats.ClientCert(cfg.Cert, cfg.Key)); err != nil {
			return nil, err
		}
	}
	if cfg.TLSFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	return opts, nil
}

// DialNATS connects once to cfg's servers as name, for a command that runs and exits: no
// retry, and an error that says which setting to look at.
func DialNATS(cfg config.NATS, name string, opts ...nats.Option) (*nats.Conn, error) {
	auth, err := NATSOptions(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL, append(append([]nats.Option{nats.Name(name)}, auth...), opts...)...)
	if err != nil {
		return nil, natsConnectError(cfg, err)
	}
	return nc, nil
}

// dialNATS connects a long-running process with opts and cfg's credential and TLS. A
// server that cannot be reached is retried in the background (the connection starts out
// reconnecting), so a process can start before NATS; a server that refuses the credential
// or the TLS handshake fails start-up at once, with an error naming the setting, since
// retrying cannot mend it. (Refused later, the connection is closed by nats.go after the
// same authorization error twice, and Watch reports it with the setting.)
func dialNATS(cfg config.NATS, log zerolog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	auth, err := NATSOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err == nil {
		return nc, nil
	}
	if refused(err) {
		return nil, natsConnectError(cfg, err)
	}
	log.Warn().Err(natsConnectError(cfg, err)).Msg("NATS is not reachable yet; connecting in the background")
	nc, err = nats.Connect(cfg.URL, append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, natsConnectError(cfg, err)
	}
	return nc, nil
}

// refused reports whether err is the server refusing the credential, or TLS failing on a
// certificate or on a server without TLS: errors no retry mends.
func refused(err error) bool { return isNATSAuthError(err) || isNATSTLSError(err) }

func isNATSAuthError(err error) bool {
	for _, e := range []error{nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func isNATSTLSError(err error) bool {
	var verify *tls.CertificateVerificationError
	return errors.Is(err, nats.ErrTLS) || errors.Is(err, nats.ErrSecureConnWanted) ||
		errors.Is(err, nats.ErrSecureConnRequired) || errors.As(err, &verify) || isTLSRefusal(err)
}

// isTLSRefusal reports whether err is the server refusing the TLS handshake, most often
// the client's certificate: an alert it sent (crypto/tls reports those as a net.OpError
// "remote error"), or the connection it closed right after the handshake (nats.go wraps
// that in ErrTLS).
func isTLSRefusal(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	return errors.Is(err, nats.ErrTLS) &&
		(errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
}

// natsConnectError is err, from connecting to cfg's servers, with the setting to look at.
func natsConnectError(cfg config.NATS, err error) error {
	at := config.RedactURLs(cfg.URL)
	switch {
	case isNATSAuthError(err):
		if c := cfg.Credential(); c != "" {
			return fmt.Errorf("NATS authorization failed (%s) at %s: %w: check the credential, and that the server knows its user", c, at, err)
		}
		return fmt.Errorf("NATS authorization failed at %s: %w: the server wants a credential: set NATS_CREDS, NATS_NKEY, NATS_USER and NATS_PASSWORD, NATS_TOKEN, or NATS_CONTEXT", at, err)
	case isNATSTLSError(err):
		return fmt.Errorf("NATS TLS failed at %s: %w: %s", at, err, tlsHint(cfg, err))
	}
	return fmt.Errorf("connect to NATS at %s (%s): %w: is the server up, and %s right?", at, cfg.Label("NATS_URL"), err, cfg.Label("NATS_URL"))
}

// natsClosedReason is why a connection was closed, from its last error, with the setting
// to look at when the server refused the credential.
func natsClosedReason(cfg config.NATS, err error) string {
	if !isNATSAuthError(err) {
		return err.Error()
	}
	if c := cfg.Credential(); c != "" {
		return fmt.Sprintf("%v: NATS authorization failed (%s)", err, c)
	}
	return fmt.Sprintf("%v: the server wants a credential (NATS_CREDS, NATS_NKEY, NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CONTEXT)", err)
}

// tlsHint says which TLS setting err points at.
func tlsHint(cfg config.NATS, err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown) && cfg.CA == "":
		return "the server's certificate is signed by a CA this host does not trust: set NATS_CA to that CA's PEM file"
	case errors.As(err, &unknown):
		return "the server's certificate is not signed by a CA in " + cfg.Label("NATS_CA")
	case errors.As(err, &host):
		return "the server's certificate is not for the host in " + cfg.Label("NATS_URL") + ": connect by a name or address the certificate holds"
	case errors.As(err, &invalid):
		return "the server's certificate is not valid (expired, or not for serving)"
	case errors.Is(err, nats.ErrSecureConnWanted):
		return "TLS is set (NATS_CA, NATS_CERT, or a tls:// URL) but the server does not offer it"
	case isTLSRefusal(err) && cfg.Cert == "":
		return "the server refused the handshake; if it verifies clients, set NATS_CERT and NATS_KEY to a client certificate it trusts"
	case isTLSRefusal(err):
		return "the server refused the handshake, most likely the client certificate of " + cfg.Label("NATS_CERT") + ": is it signed by a CA the server trusts, and valid?"
	}
	return "check NATS_CA, NATS_CERT and NATS_KEY"
}
