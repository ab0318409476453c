// Package mail sends plain-text email over SMTP, with STARTTLS or implicit TLS and SMTP
// AUTH (PLAIN, LOGIN, CRAM-MD5), through github.com/wneessen/go-mail.
//
// Send's errors say whether sending again can help: a permanent refusal by the server
// wraps ErrRejected, and refused credentials wrap ErrAuthFailed; anything else (the
// server unreachable, a TLS handshake that failed, a 4xx reply) is worth retrying.
package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS is how the connection to the SMTP server is encrypted.
type TLS string

const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS before anything else;
	// a server that does not offer it is not sent to (no downgrade). Port 587 usually.
	TLSStartTLS TLS = "starttls"
	// TLSImplicit speaks TLS from the first byte ("SMTPS"). Port 465 usually.
	TLSImplicit TLS = "tls"
	// TLSNone sends in plain text: a relay on a network you trust, or mailpit locally.
	TLSNone TLS = "none"
)

// Auth is the SMTP AUTH mechanism used when Config.Username is set.
type Auth string

const (
	// AuthAuto takes the first of PLAIN, LOGIN and CRAM-MD5 the server offers.
	AuthAuto    Auth = "auto"
	AuthPlain   Auth = "plain"
	AuthLogin   Auth = "login"
	AuthCRAMMD5 Auth = "cram-md5"
)

// DefaultTimeout bounds each exchange with the server when ctx has no deadline.
const DefaultTimeout = 30 * time.Second

// ErrRejected is wrapped by Send's error when the server refused the email with a
// permanent (5xx) reply: sending it again cannot succeed.
var ErrRejected = errors.New("the SMTP server refused the email for good")

// ErrAuthFailed is wrapped by Send's error when the server refused the credentials with
// a permanent (5xx) reply to AUTH: nothing will be sent until they are corrected.
var ErrAuthFailed = errors.New("the SMTP server refused the credentials")

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Body    string
	// MessageID, when set, is the Message-ID header (without angle brackets). A stable id
	// lets receiving systems and people spot a resend.
	MessageID string
}

// Config configures a Mailer.
type Config struct {
	Addr string // host:port of the SMTP server
	From string // "Name <address>" or a bare address
	// TLS: Optional: defaults to TLSStartTLS.
	TLS TLS
	// CAFile: Optional: a PEM file of the CAs that verify the server's certificate, in
	// place of the system's (a private CA). Empty: the system's.
	CAFile string
	// Username and Password: Optional: SMTP AUTH when Username is set.
	Username, Password string
	// Auth: Optional: defaults to AuthAuto.
	Auth Auth
	// AllowInsecureAuth permits AUTH over a connection without TLS (TLSNone) to a host
	// that is not on loopback, which sends the password as good as in clear text.
	// Optional: defaults to false, and New refuses such a Config.
	AllowInsecureAuth bool
}

// Mailer sends email through one SMTP server. It is safe for concurrent use.
type Mailer struct {
	cfg  Config
	host string
	port int
	from *mail.Address
	tls  *tls.Config
}

// New validates cfg and returns a mailer; it does not connect.
func New(cfg Config) (*Mailer, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("SMTP address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("SMTP address %q: no valid port", cfg.Addr)
	}
	f, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from address %q: %w", cfg.From, err)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Auth == "" {
		cfg.Auth = AuthAuto
	}
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("SMTP TLS %q: want starttls, tls or none", cfg.TLS)
	}
	switch cfg.Auth {
	case AuthAuto, AuthPlain, AuthLogin, AuthCRAMMD5:
	default:
		return nil, fmt.Errorf("SMTP AUTH %q: want auto, plain, login or cram-md5", cfg.Auth)
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("SMTP AUTH needs both a username and a password")
	}
	if cfg.Username != "" && cfg.TLS == TLSNone && !isLoopback(host) && !cfg.AllowInsecureAuth {
		return nil, fmt.Errorf("SMTP AUTH without TLS to %s would send the password in clear text: use STARTTLS or TLS, or allow it explicitly", host)
	}
	m := &Mailer{cfg: cfg, host: host, port: port, from: f, tls: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}}
	if cfg.CAFile != "" {
		if m.tls.RootCAs, err = loadCAs(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// isLoopback reports whether host is localhost or a loopback address, where a password
// in clear text never leaves the machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers msg to the SMTP server over a connection of its own. It honours ctx's
// deadline (DefaultTimeout without one) for each exchange with the server. Its error
// wraps ErrAuthFailed or ErrRejected when sending again cannot help.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	to, err := mail.ParseAddress(msg.To)
	if err != nil {
		return fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	email, err := m.compose(to, msg)
	if err != nil {
		return err
	}
	// A client per email: go-mail's client keeps per-connection AUTH state.
	c, err := gomail.NewClient(m.host, m.options(ctx)...)
	if err != nil {
		return fmt.Errorf("SMTP client for %s: %w", m.cfg.Addr, err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return m.classify("connect to SMTP server "+m.cfg.Addr, err, true)
	}
	err = c.SendWithSMTPClient(conn, email)
	_ = c.CloseWithSMTPClient(conn) // QUIT: the server's reply to the data already settled it
	if err != nil {
		return m.classify("send to SMTP server "+m.cfg.Addr, err, false)
	}
	return nil
}

func (m *Mailer) options(ctx context.Context) []gomail.Option {
	timeout := DefaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(m.tls.Clone())}
	switch m.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if m.cfg.Username == "" {
		return opts
	}
	// go-mail refuses PLAIN and LOGIN without TLS (as net/smtp does) unless told that is
	// meant: New allowed it only to loopback or with AllowInsecureAuth.
	clear := m.cfg.TLS == TLSNone
	plain, login := gomail.SMTPAuthPlain, gomail.SMTPAuthLogin
	if clear {
		plain, login = gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc
	}
	opts = append(opts, gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	switch m.cfg.Auth {
	case AuthPlain:
		return append(opts, gomail.WithSMTPAuth(plain))
	case AuthLogin:
		return append(opts, gomail.WithSMTPAuth(login))
	case AuthCRAMMD5:
		return append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthCramMD5))
	}
	return append(opts, gomail.WithOpportunisticSMTPAuth(plain, login, gomail.SMTPAuthCramMD5))
}

func (m *Mailer) compose(to *mail.Address, msg Message) (*gomail.Msg, error) {
	email := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := email.From(m.from.String()); err != nil {
		return nil, fmt.Errorf("from address %q: %w", m.from, err)
	}
	if err := email.To(to.String()); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	email.Subject(msg.Subject)
	email.SetDate()
	if msg.MessageID != "" {
		email.SetMessageIDWithValue(msg.MessageID)
	}
	email.SetBodyString(gomail.TypeTextPlain, strings.ReplaceAll(msg.Body, "\r\n", "\n"))
	return email, nil
}

// classify wraps err, from op, with ErrAuthFailed or ErrRejected when the server
// answered with a permanent (5xx) reply: during the connection's set-up (auth) only
// AUTH can be refused that way, since EHLO and STARTTLS are not.
func (m *Mailer) classify(op string, err error, auth bool) error {
	code := replyCode(err)
	switch {
	case code >= 500 && auth && m.cfg.Username != "":
		return fmt.Errorf("%s: %w (%v): check SMTP_USERNAME and SMTP_PASSWORD", op, ErrAuthFailed, err)
	case code >= 500:
		return fmt.Errorf("%s: %w: %v", op, ErrRejected, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// replyCode is the SMTP reply code in err, 0 when the server sent none (a network error).
func replyCode(err error) int {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	return 0
}
