// Package config reads the settings of the flowbridge binaries.
//
// Every setting is a flag whose default comes from the environment variable named in
// docs/CONTRACT.md, so `NATS_URL=... bridge` and `bridge --nats-url ...` are the same
// thing. Flags are pflag's (two dashes); one dash, as earlier releases took, works too
// (DoubleDash). Each binary's flags are registered by New*Flags on the flag set of its
// command (package cli) and read by Load once parsed; Load* do both for a bare command line.
// Load validates what it read: a misconfigured process fails at start-up with a message
// naming the setting, not on its first event.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	flag "github.com/spf13/pflag"
)

// Defaults from the contract; they work against a local dev stack.
const (
	DefaultNATSURL           = "nats://127.0.0.1:4222"
	DefaultTemporalAddress   = "127.0.0.1:7233"
	DefaultTemporalNamespace = "default"
	DefaultTaskQueue         = "flowbridge"
	DefaultDatabaseURL       = "postgres://postgres@127.0.0.1:5432/flowbridge?sslmode=disable"
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultWorkerHTTPAddr    = "127.0.0.1:8081"
	DefaultAdminAddr         = "127.0.0.1:9090"
	// DefaultTemporalGRPCCompression is "none": measured on the 2-core dev box, gzip costs
	// the client and the Temporal server CPU on every request and reply for messages a
	// few hundred bytes long (docs/ARCHITECTURE.md, "What limits speed").
	DefaultTemporalGRPCCompression = "none"
)

// ErrInvalid is wrapped by every validation error Load returns.
var ErrInvalid = errors.New("invalid configuration")

// ErrUsage is wrapped by Load's error for a command line the binary does not take: an
// unknown flag, a malformed flag value, or an argument that is not a flag. The binaries
// exit with ExitUsage on it, having started nothing.
var ErrUsage = errors.New("usage")

// Exit statuses of the binaries.
const (
	ExitFailure = 1 // a configuration error, or the process failed
	ExitUsage   = 2 // a command line it does not take (ErrUsage)
)

// ExitCode is the exit status for err, the result of a binary's run: 0 for nil,
// ExitUsage for an error wrapping ErrUsage, ExitFailure otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return ExitUsage
	}
	return ExitFailure
}

// Common holds what both binaries need.
type Common struct {
	NATS NATS // NATS_URL, its credential and TLS, NATS_CONTEXT (type NATS)
	// Temporal is how the process reaches Temporal (temporal.go); the loaders call its Load.
	Temporal    Temporal
	TaskQueue   string
	DatabaseURL string
	LogLevel    string // trace, debug, info, warn, error
	LogFormat   string // json or console
	// Tracing is where spans go (OTEL_*, tracing.go); off unless an exporter is set.
	Tracing Tracing
}

func (c *Common) register(fs *flag.FlagSet, env func(string) string) {
	c.NATS.AddFlags(fs, env)
	c.Temporal.Register(fs, env)
	fs.StringVar(&c.TaskQueue, "task-queue", or(env("TEMPORAL_TASK_QUEUE"), DefaultTaskQueue), "Temporal task queue (TEMPORAL_TASK_QUEUE)")
	c.DatabaseURL = or(env("DATABASE_URL"), DefaultDatabaseURL)
	fs.Var(secret{&c.DatabaseURL, redactURL}, "database-url", databaseURLUsage)
	fs.StringVar(&c.LogLevel, "log-level", or(env("LOG_LEVEL"), "info"), "log level: trace, debug, info, warn, error (LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", or(env("LOG_FORMAT"), "json"), "log format: json or console (LOG_FORMAT)")
	c.Tracing.register(fs, env)
}

func (c *Common) validate() error {
	var errs []error
	if c.TaskQueue == "" {
		errs = append(errs, invalid("TEMPORAL_TASK_QUEUE", "must not be empty"))
	}
	errs = append(errs, checkDatabaseURL(c.DatabaseURL))
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		errs = append(errs, invalid("LOG_LEVEL", fmt.Sprintf("%q is not one of trace, debug, info, warn, error", c.LogLevel)))
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		errs = append(errs, invalid("LOG_FORMAT", fmt.Sprintf("%q is not json or console", c.LogFormat)))
	}
	errs = append(errs, c.Tracing.validate())
	return errors.Join(errs...)
}

func invalid(setting, why string) error {
	return fmt.Errorf("%w: %s %s", ErrInvalid, setting, why)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// durationVar registers a duration flag whose default is read from env; a malformed
// environment value is reported by Load rather than silently replaced.
func durationVar(fs *flag.FlagSet, p *time.Duration, name, envName string, env func(string) string, def time.Duration, usage string, errs *[]error) {
	v := def
	if s := env(envName); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			*errs = append(*errs, invalid(envName, fmt.Sprintf("%q is not a duration such as 30s or 24h", s)))
		} else {
			v = d
		}
	}
	fs.DurationVar(p, name, v, usage+" ("+envName+")")
}

func intVar(fs *flag.FlagSet, p *int, name, envName string, env func(string) string, def int, usage string, errs *[]error) {
	v := def
	if s := env(envName); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			*errs = append(*errs, invalid(envName, fmt.Sprintf("%q is not a whole number", s)))
		} else {
			v = n
		}
	}
	fs.IntVar(p, name, v, usage+" ("+envName+")")
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i <= 0 || i == len(addr)-1 {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q has no valid port", addr)
	}
	return addr[:i], port, nil
}

// SecretList splits a comma-separated list of secrets, dropping empty entries, so a
// secret can be rotated by listing the new one beside the old one.
func SecretList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// secret is a string flag whose value is redacted wherever the flag package prints it
// (usage, errors), so a mistyped flag does not print a password or an API key.
type secret struct {
	p      *string
	redact func(string) string
}

func (s secret) String() string {
	if s.p == nil {
		return ""
	}
	return s.redact(*s.p)
}

func (s secret) Set(v string) error {
	*s.p = v
	return nil
}

func (s secret) Type() string { return "string" }

// RedactURLs is a comma-separated list of server URLs with any password replaced by
// "xxxxx" (a user name or token in the URL too): fit for an error or a log.
func RedactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			u.User = url.User("xxxxx")
			p = u.String()
		} else if err != nil {
			p = "(unparsable)"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

func redactAll(s string) string {
	if s == "" {
		return ""
	}
	return "(set)"
}

// newFlagSet is a flag set for Load*: errors are returned, not printed.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args. A command line the binary does not take — an unknown flag, a
// malformed flag value, or an argument that is not a flag — is an error wrapping
// ErrUsage; -h returns flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(DoubleDash(args, fs, nil))
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s takes flags only, got the argument %q (%s -h lists the flags)", ErrUsage, fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// DoubleDash returns args with each long flag given with one dash ("-nats-url",
// "-lanes=4"), as the flag package of earlier releases took them and docs/CONTRACT.md
// writes them, spelt with two ("--nats-url"), the only form pflag reads as a long flag.
// Nothing after "--" is changed, nor a flag's value ("--reason -x"), nor a one-letter
// flag ("-h").
//
// fs is the flag set the command line is parsed with. next, when not nil, is called with
// each argument that is neither a flag nor a flag's value and returns the flag set that
// applies from there on (a subcommand's), or nil to keep the current one.
func DoubleDash(args []string, fs *flag.FlagSet, next func(arg string) *flag.FlagSet) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case strings.HasPrefix(a, "--"):
		case len(a) > 2 && a[0] == '-' && isLetter(a[1]):
			a = "-" + a
		case len(a) > 1 && a[0] == '-':
			out = append(out, a)
			continue // a one-letter flag, or a negative number
		default:
			out = append(out, a)
			if next != nil {
				if n := next(a); n != nil {
					fs = n
				}
			}
			continue
		}
		out = append(out, a)
		name, _, hasValue := strings.Cut(a[2:], "=")
		if f := fs.Lookup(name); f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			out = append(out, args[i]) // its value, whatever it looks like
		}
	}
	return out
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
