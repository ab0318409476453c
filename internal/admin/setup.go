package admin

import (
	"context"
	"errors"
	"flag"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
)

func setupCommand() command {
	return command{
		summary: "create or update the streams, consumers and Temporal search attributes, then exit",
		run:     runSetup,
	}
}

// runSetup is `bridge setup [--dry-run] [bridge flags]`: it reads the bridge's settings,
// so that it provisions what a bridge with the same environment uses.
func runSetup(ctx context.Context, io IO, args []string) error {
	env := io.Getenv
	if env == nil {
		env = func(string) string { return "" }
	}
	cfg, err := config.LoadSetup(args, env)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := logging.New(io.Stderr, cfg.LogLevel, cfg.LogFormat, "bridge")
	if err != nil {
		return err
	}
	return app.RunSetup(ctx, cfg, io.Stdout, log.With().Str("command", "setup").Logger())
}
