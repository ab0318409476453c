// Command bridge consumes the EVENTS stream and routes each CloudEvent to Temporal, and
// serves the HTTP ingress. Settings: `bridge --help`, and docs/CONTRACT.md. Operator
// commands (routes, events, dlq, setup, version, completion) are listed there too. A
// command line it does not take exits 2 without starting anything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowbridge/flowbridge/internal/admin"
	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/memlimit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Execute(ctx, admin.NewBridge(cli.Std(), run), os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
	}
	os.Exit(config.ExitCode(err))
}

// run runs the bridge.
func run(ctx context.Context, cfg config.Bridge) error {
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat, "bridge")
	if err != nil {
		return err
	}
	memlimit.Apply(os.Getenv, log)
	return app.RunBridge(ctx, cfg, log)
}
