package admin

import (
	"github.com/spf13/cobra"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
)

// setupCommand is `bridge setup [--dry-run] [bridge flags]`: it reads the bridge's
// settings, so that it provisions what a bridge with the same environment uses.
func setupCommand(io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "setup [--dry-run] [flags]",
		Short: "create or update the streams, consumers and Temporal search attributes, then exit",
		Long:  config.SetupLong,
		Args:  cli.NoArgs(""),
	}
	flags := config.NewSetupFlags(c.Flags(), io.Env)
	c.RunE = func(c *cobra.Command, _ []string) error {
		cfg, err := flags.Load()
		if err != nil {
			return err
		}
		log, err := logging.New(io.Stderr, cfg.LogLevel, cfg.LogFormat, "bridge")
		if err != nil {
			return err
		}
		return app.RunSetup(c.Context(), cfg, io.Stdout, log.With().Str("command", "setup").Logger())
	}
	return c
}
