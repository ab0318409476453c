// Package testenv finds and starts the real servers flowbridge's tests use: an in-process
// NATS server per test, the Temporal dev server, PostgreSQL (a fresh schema per test),
// mailpit and stripe-mock. A missing server fails the test when CI is set and skips it
// otherwise, always saying how to start it — CI never passes by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/store"
)

const howTo = "run the tests with `make test`, which starts it"

// Where `make test` runs the test servers when the environment names no others: ports of
// their own, so tests never touch a `make dev` stack (7233, 1025, 8025, 12111-12112).
const (
	DefaultTemporalAddress = "127.0.0.1:7243"
	DefaultSMTPAddr        = "127.0.0.1:11025"
	DefaultMailpitAddr     = "127.0.0.1:18025"
	DefaultStripeAPIBase   = "http://127.0.0.1:12211"
)

// missing fails under CI and skips elsewhere.
func missing(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not reachable: %v; %s", what, err, howTo)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// ID returns a short random id, unique per call, for test data.
func ID(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Logger returns a logger that writes to the test log.
func Logger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// NATS is an in-process NATS server with JetStream, owned by one test.
type NATS struct {
	t      testing.TB
	srv    *server.Server
	opts   *server.Options
	URL    string
	Conn   *nats.Conn
	JS     jetstream.JetStream
	closed bool
}

// NATSOption changes the in-process server's configuration before it starts.
type NATSOption func(*server.Options)

// MaxPayload sets the server's max_payload: the largest message (headers and body) it
// takes. The server's default is 1 MiB.
func MaxPayload(n int32) NATSOption {
	return func(o *server.Options) { o.MaxPayload = n }
}

// StartNATS starts a NATS server with JetStream storing in a temporary directory, and
// connects to it. Both are shut down when the test ends.
func StartNATS(t testing.TB, options ...NATSOption) *NATS {
	t.Helper()
	return startNATS(t, nil, options...)
}

// startNATS is StartNATS with the test's own connection made with client.
func startNATS(t testing.TB, client []nats.Option, options ...NATSOption) *NATS {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	for _, o := range options {
		o(opts)
	}
	n := &NATS{t: t, opts: opts}
	n.start()
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port // keep the port across Restart
	nc, err := nats.Connect(n.URL, append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}, client...)...)
	if err != nil {
		t.Fatalf("connect to in-process NATS: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	n.Conn, n.JS = nc, js
	t.Cleanup(func() {
		nc.Close()
		n.Shutdown()
	})
	return n
}

func (n *NATS) start() {
	n.t.Helper()
	srv, err := server.NewServer(n.opts)
	if err != nil {
		n.t.Fatalf("NATS server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("in-process NATS server did not start in 10s")
	}
	n.srv, n.URL, n.closed = srv, srv.ClientURL(), false
}

// Shutdown stops the server (as a crash or restart of NATS would).
func (n *NATS) Shutdown() {
	if !n.closed {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.closed = true
	}
}

// Restart starts the server again on the same port and storage.
func (n *NATS) Restart() {
	n.Shutdown()
	n.start()
}

// Temporal returns a client of the Temporal server at TEMPORAL_ADDRESS (the dev server
// that `make test` starts), closed when the test ends.
func Temporal(t testing.TB) client.Client {
	t.Helper()
	addr := TemporalAddress()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  addr,
		Namespace: env("TEMPORAL_NAMESPACE", config.DefaultTemporalNamespace),
		Logger:    logging.NewTemporal(Logger(t).Level(zerolog.WarnLevel)),
	})
	if err != nil {
		missing(t, "Temporal at "+addr+" (TEMPORAL_ADDRESS)", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TemporalAddress is the address Temporal tests use.
func TemporalAddress() string { return env("TEMPORAL_ADDRESS", DefaultTemporalAddress) }

// Postgres returns a DATABASE_URL confined to a new schema of its own (search_path),
// migrated as `worker migrate` does, and dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	url := PostgresUnmigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatalf("migrate the test schema: %v", err)
	}
	return url
}

// PostgresUnmigrated is Postgres without the migrations: the schema does not exist yet
// (store.Migrate creates it).
func PostgresUnmigrated(t testing.TB) string {
	t.Helper()
	base := env("DATABASE_URL", config.DefaultDatabaseURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin := withDatabase(base, "postgres")
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		missing(t, "PostgreSQL (DATABASE_URL)", err)
	}
	conn.Close(ctx)
	schema := ID("test_")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	url := base + sep + "search_path=" + schema
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return // the database was never created: nothing to drop
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return url
}

func withDatabase(url, db string) string {
	i := strings.Index(url, "://")
	rest := url[i+3:]
	slash := strings.Index(rest, "/")
	if slash < 0 {
		return url + "/" + db
	}
	q := ""
	if j := strings.Index(rest[slash:], "?"); j >= 0 {
		q = rest[slash+j:]
	}
	return url[:i+3] + rest[:slash] + "/" + db + q
}

// Mailpit returns the SMTP and HTTP API addresses of mailpit (SMTP_ADDR, MAILPIT_ADDR).
func Mailpit(t testing.TB) (smtpAddr, apiAddr string) {
	t.Helper()
	smtpAddr = env("SMTP_ADDR", DefaultSMTPAddr)
	apiAddr = env("MAILPIT_ADDR", DefaultMailpitAddr)
	for _, a := range []string{smtpAddr, apiAddr} {
		if err := dial(a); err != nil {
			missing(t, "mailpit at "+a+" (SMTP_ADDR, MAILPIT_ADDR)", err)
		}
	}
	return smtpAddr, apiAddr
}

// StripeMock returns the base URL of stripe-mock (STRIPE_API_BASE).
func StripeMock(t testing.TB) string {
	t.Helper()
	base := env("STRIPE_API_BASE", DefaultStripeAPIBase)
	if err := dial(strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")); err != nil {
		missing(t, "stripe-mock at "+base+" (STRIPE_API_BASE)", err)
	}
	return base
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// Eventually polls cond every 50ms until it is true or timeout passes, then fails with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Store opens flowbridge's database on a schema of the test's own (Postgres), migrated,
// and closes it when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, Postgres(t))
	if err != nil {
		t.Fatalf("open the test database: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// ForceCloseNATS makes the NATS server close nc for good, as one bad publish did through
// the ingress (issue 7): a subject longer than the server's control-line limit (4 KiB) is
// a protocol violation, and nats.go does not reconnect after it.
func ForceCloseNATS(t testing.TB, nc *nats.Conn) {
	t.Helper()
	Eventually(t, 10*time.Second, nc.IsConnected, "not connected to NATS")
	_ = nc.Publish("events."+strings.Repeat("x", 5000), nil) // the server answers with -ERR
	_ = nc.Flush()
	Eventually(t, 10*time.Second, nc.IsClosed, "the server did not close the connection: %v", nc.Status())
}
