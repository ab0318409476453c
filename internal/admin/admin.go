// Package admin holds the bridge's command line: `bridge` itself, which runs the bridge,
// and its operator commands `bridge routes ...`, `bridge events ...`, `bridge dlq ...`,
// `bridge setup`, `bridge schedules ...`, `bridge version`. Each reads the same settings
// as the bridge, from the environment or their flags (docs/CONTRACT.md), prints for
// people or, with --json, for scripts; errors say what to do.
package admin

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
)

// IO is where a command reads its environment and writes its output.
type IO = cli.IO

// ErrUsage is wrapped by the error for a command line that names no known command or
// misuses one; the bridge exits with config.ExitUsage on it.
var ErrUsage = config.ErrUsage

// bridgeLong heads `bridge --help`.
const bridgeLong = `bridge consumes the stream EVENTS and routes each CloudEvent to Temporal, and serves the
HTTP ingress (webhooks, POST /events). Run without a command, it runs the bridge with the
settings below, each also read from the environment variable it names (docs/CONTRACT.md).
The commands run and exit; they never start a bridge.`

// NewBridge returns the bridge's command line, writing to io. Without a command it loads
// the bridge's settings and calls serve; a nil serve prints the help instead.
func NewBridge(io IO, serve func(ctx context.Context, cfg config.Bridge) error) *cobra.Command {
	root := cli.NewRoot("bridge", "route CloudEvents from NATS JetStream to Temporal", bridgeLong, io)
	flags := config.NewBridgeFlags(root.Flags(), io.Env)
	root.RunE = func(c *cobra.Command, _ []string) error {
		if serve == nil {
			return c.Help()
		}
		cfg, err := flags.Load()
		if err != nil {
			return err
		}
		return serve(c.Context(), cfg)
	}
	root.AddCommand(dlqCommand(io), eventsCommand(io), routesCommand(io), schemasCommand(io), schedulesCommand(io), setupCommand(io))
	return root
}

// Run runs the bridge's operator command args (without the program name): NewBridge with
// no serve.
func Run(ctx context.Context, io IO, args []string) error {
	return cli.Execute(ctx, NewBridge(io, nil), args)
}
