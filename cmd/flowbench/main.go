// Command flowbench measures the built bridge against direct Temporal SDK starts on one
// fresh Temporal dev server it starts itself, and prints a results table with issue 9's
// targets; then issue 13's ten thousand alive, with the built worker, on another fresh
// server (`make bench` runs it). Progress goes to stderr, the tables to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/flowbridge/flowbridge/internal/flowbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	d := flowbench.Defaults()
	cfg := d
	fs := flag.NewFlagSet("flowbench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a smoke run of a minute or two: small backlog, 1 s per measure, a few hundred alive")
	levels := fs.String("levels", "1,8,32,128", "direct-start concurrency sweep")
	fs.StringVar(&cfg.TemporalAddress, "temporal-address", "", "use this running Temporal instead of starting a fresh dev server")
	fs.StringVar(&cfg.TemporalBin, "temporal-bin", d.TemporalBin, "the Temporal CLI that starts the dev server")
	fs.IntVar(&cfg.TemporalPort, "temporal-port", d.TemporalPort, "port of the fresh dev server on 127.0.0.1")
	fs.StringVar(&cfg.Namespace, "namespace", d.Namespace, "Temporal namespace")
	fs.StringVar(&cfg.TaskQueue, "task-queue", d.TaskQueue, "task queue of the bridge and of the direct starts")
	fs.StringVar(&cfg.BridgeBin, "bridge-bin", d.BridgeBin, "the built bridge binary")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL of the bridge's ledger; a fresh schema of it is used (default: DATABASE_URL, else "+d.DatabaseURL+")")
	fs.IntVar(&cfg.Backlog, "backlog", d.Backlog, "user.signedup events prefilled before the bridge starts")
	fs.DurationVar(&cfg.DirectTime, "direct-time", d.DirectTime, "duration of each sweep level")
	fs.DurationVar(&cfg.LatencyTime, "latency-time", d.LatencyTime, "duration of each side of the half-load latency measure")
	fs.DurationVar(&cfg.IngressTime, "ingress-time", d.IngressTime, "duration of the webhook ingress measure")
	fs.IntVar(&cfg.IngressConns, "ingress-conns", d.IngressConns, "connections posting webhooks")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", d.DrainTimeout, "give up when the bridge has not drained within this")
	fs.IntVar(&cfg.EarlySignals, "early-signals", d.EarlySignals, "email.verified published before their user.signedup (-1: skip the measure)")
	alive := fs.Int("alive", d.Alive, "ten thousand alive: onboarding workflows started and left waiting for email.verified, run by the worker (0: skip the measure)")
	fs.IntVar(&cfg.AlivePings, "alive-pings", d.AlivePings, "events of each burst of the second stream of starts in the ten-thousand-alive measure")
	fs.BoolVar(&cfg.AliveOnly, "alive-only", false, "take only the ten-thousand-alive measure")
	fs.StringVar(&cfg.WorkerBin, "worker-bin", d.WorkerBin, "the built worker binary (ten thousand alive)")
	fs.StringVar(&cfg.MailpitBin, "mailpit-bin", d.MailpitBin, "the mailpit the worker's email goes to, started on a free port (ten thousand alive)")
	fs.StringVar(&cfg.StripeMockBin, "stripe-mock-bin", d.StripeMockBin, "the stripe-mock the worker calls, started on a free port (ten thousand alive)")
	fs.StringVar(&cfg.SMTPAddr, "smtp-addr", "", "use this running SMTP server (plain text) instead of starting mailpit")
	fs.StringVar(&cfg.StripeAPIBase, "stripe-api-base", "", "use this running Stripe API (stripe-mock) instead of starting one")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the bridge's CPU profile over the backlog drain (its first minute at most) to this file")
	fs.StringVar(&cfg.WorkDir, "workdir", "", "directory for logs and NATS storage (default: a temporary one, removed after a successful run)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if cfg.DatabaseURL == "" { // read here, not as the flag's default: -h must not print it
		cfg.DatabaseURL = envOr("DATABASE_URL", d.DatabaseURL)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("flowbench takes flags only, got %q", fs.Arg(0))
	}
	cfg.Levels = nil
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-levels: %q is not a positive whole number", s)
		}
		cfg.Levels = append(cfg.Levels, n)
	}
	if *quick {
		q := flowbench.Quick(d)
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["backlog"] {
			cfg.Backlog = q.Backlog
		}
		if !set["early-signals"] {
			cfg.EarlySignals = q.EarlySignals
		}
		if !set["direct-time"] {
			cfg.DirectTime = q.DirectTime
		}
		if !set["latency-time"] {
			cfg.LatencyTime = q.LatencyTime
		}
		if !set["ingress-time"] {
			cfg.IngressTime = q.IngressTime
		}
		if !set["alive"] {
			*alive = q.Alive
		}
		if !set["alive-pings"] {
			cfg.AlivePings = q.AlivePings
		}
	}
	cfg.Alive = *alive
	if cfg.Alive <= 0 {
		cfg.Alive = -1 // skipped (0 is the default in Config)
		if cfg.AliveOnly {
			return fmt.Errorf("-alive-only with -alive %d: nothing to measure", *alive)
		}
	}
	cfg.Progress = os.Stderr
	res, err := flowbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Table(os.Stdout)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
