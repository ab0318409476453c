// Command worker runs flowbridge's Temporal workflows and activities on its task queue.
// Settings: `worker -h`, and docs/CONTRACT.md; `worker version` prints the build;
// `worker migrate` applies the database migrations and exits (the worker itself only
// checks the schema version). A command line it does not take exits 2 without starting
// anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/memlimit"
	"github.com/flowbridge/flowbridge/internal/version"
	"github.com/flowbridge/flowbridge/internal/workerapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
	}
	os.Exit(config.ExitCode(err))
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "version" {
		if len(args) > 1 {
			return fmt.Errorf("%w: version takes no arguments, got %q", config.ErrUsage, args[1])
		}
		fmt.Println("worker", version.String())
		return nil
	}
	if len(args) > 0 && args[0] == "migrate" {
		cfg, err := config.LoadMigrate(args[1:], os.Getenv)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		if err != nil {
			return err
		}
		return workerapp.RunMigrate(ctx, cfg, os.Stdout)
	}
	cfg, err := config.LoadWorker(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat, "worker")
	if err != nil {
		return err
	}
	memlimit.Apply(os.Getenv, log)
	return workerapp.RunWorker(ctx, cfg, log)
}
