package admin

import (
	"github.com/spf13/cobra"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
)

// setupLong describes `bridge setup` for its help.
const setupLong = `Creates or updates what the bridge uses, then exits: the streams EVENTS, EVENTS_DLQ,
EVENTS_WAITING, EVENTS_DEBOUNCE and EVENTS_BATCH, the durable consumers bridge,
bridge-waiting, bridge-debounce and bridge-batch, and the Temporal custom
search attributes (FlowbridgeEventId, FlowbridgeEventType, FlowbridgeCorrelationId, and those
the routes file sets). A second run changes nothing; --dry-run prints what differs and
changes nothing. It reads the bridge's settings (environment or flags) and uses the NATS and
Temporal connections, --routes-file, --ack-wait, --duplicate-window, --events-* and --dlq-*.`

// setupCommand is `bridge setup [--dry-run] [bridge flags]`: it reads the bridge's
// settings, so that it provisions what a bridge with the same environment uses.
func setupCommand(io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "setup [--dry-run] [flags]",
		Short: "create or update the streams, consumers and Temporal search attributes, then exit",
		Long:  setupLong,
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
