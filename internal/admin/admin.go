// Package admin holds the bridge's operator subcommands: `bridge routes ...`,
// `bridge events ...`, `bridge dlq ...`, `bridge setup`. Each reads the same environment as the bridge
// (docs/CONTRACT.md) and prints for people; errors say what to do.
package admin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/version"
)

// IO is where a subcommand reads its environment and writes its output.
type IO struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// command is one subcommand group ("dlq") with its own sub-subcommands.
type command struct {
	summary string
	bare    bool // takes no arguments
	run     func(ctx context.Context, io IO, args []string) error
}

// ErrUsage is wrapped by the error for a command line that names no known command or
// misuses one; the bridge exits with config.ExitUsage on it.
var ErrUsage = config.ErrUsage

func commands() map[string]command {
	return map[string]command{
		"dlq":     dlqCommand(),
		"events":  eventsCommand(),
		"routes":  routesCommand(),
		"setup":   setupCommand(),
		"version": versionCommand(),
	}
}

// Is reports whether the command line whose first argument is arg names a subcommand
// rather than the bridge's flags: any word that is not a flag does, and Run refuses the
// ones it does not know, so that a mistyped command never starts a bridge.
func Is(arg string) bool {
	return arg != "" && !strings.HasPrefix(arg, "-")
}

// Run runs the subcommand args[0] with the rest of args.
func Run(ctx context.Context, io IO, args []string) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" {
		usage(io.Stdout, cmds)
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(io.Stderr, cmds)
		return fmt.Errorf("%w: unknown command %q: bridge help lists the commands", ErrUsage, args[0])
	}
	return c.run(ctx, io, args[1:])
}

func versionCommand() command {
	return command{
		summary: "print the version of this build",
		bare:    true,
		run: func(_ context.Context, io IO, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: version takes no arguments, got %q", ErrUsage, args[0])
			}
			fmt.Fprintln(io.Stdout, "bridge", version.String())
			return nil
		},
	}
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: bridge [flags]            run the bridge (bridge -h for its settings)\n")
	for _, n := range names {
		name := n + " ..."
		if cmds[n].bare {
			name = n
		}
		fmt.Fprintf(&b, "       bridge %-18s %s\n", name, cmds[n].summary)
	}
	fmt.Fprint(w, b.String())
}
