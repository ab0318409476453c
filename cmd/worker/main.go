// Command worker runs flowbridge's Temporal workflows and activities on its task queue.
// Settings: `worker --help`, and docs/CONTRACT.md; `worker version` prints the build;
// `worker migrate` applies the database migrations and exits (the worker itself only
// checks the schema version). A command line it does not take exits 2 without starting
// anything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/memlimit"
	"github.com/flowbridge/flowbridge/internal/workerapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Execute(ctx, newCommand(cli.Std()), os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
	}
	os.Exit(config.ExitCode(err))
}

// newCommand is the worker's command line: without a command it runs the worker.
func newCommand(io cli.IO) *cobra.Command {
	root := cli.NewRoot("worker", "run flowbridge's Temporal workflows and activities",
		`worker runs flowbridge's workflows and activities on its Temporal task queue. Run without a
command, it runs the worker with the settings below, each also read from the environment
variable it names (docs/CONTRACT.md).`, io)
	flags := config.NewWorkerFlags(root.Flags(), io.Env)
	root.RunE = func(c *cobra.Command, _ []string) error {
		cfg, err := flags.Load()
		if err != nil {
			return err
		}
		log, err := logging.New(io.Stderr, cfg.LogLevel, cfg.LogFormat, "worker")
		if err != nil {
			return err
		}
		memlimit.Apply(io.Getenv, log)
		return workerapp.RunWorker(c.Context(), cfg, log)
	}

	migrate := &cobra.Command{
		Use:   "migrate [flags]",
		Short: "apply the database migrations built into the worker, then exit",
		Long: `Applies the database migrations built into the worker to DATABASE_URL, creating the
database and a search_path schema when missing, and prints what it applied. A second run
applies nothing. It reads no other setting.`,
		Args: cli.NoArgs(""),
	}
	mflags := config.NewMigrateFlags(migrate.Flags(), io.Env)
	migrate.RunE = func(c *cobra.Command, _ []string) error {
		cfg, err := mflags.Load()
		if err != nil {
			return err
		}
		return workerapp.RunMigrate(c.Context(), cfg, io.Stdout)
	}
	root.AddCommand(migrate)
	return root
}
