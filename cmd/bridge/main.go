// Command bridge consumes the EVENTS stream and routes each CloudEvent to Temporal, and
// serves the HTTP ingress. Settings: `bridge -h`, and docs/CONTRACT.md. Operator
// subcommands (routes, events, dlq, version): `bridge help`. A command line it does not
// take exits 2 without starting anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowbridge/flowbridge/internal/admin"
	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/memlimit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
	}
	os.Exit(config.ExitCode(err))
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && admin.Is(args[0]) {
		return admin.Run(ctx, admin.IO{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, args)
	}
	cfg, err := config.LoadBridge(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat, "bridge")
	if err != nil {
		return err
	}
	memlimit.Apply(os.Getenv, log)
	return app.RunBridge(ctx, cfg, log)
}
