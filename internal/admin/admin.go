// Package admin holds the bridge's operator subcommands: `bridge routes ...`,
// `bridge events ...`, `bridge dlq ...`. Each reads the same environment as the bridge
// (docs/CONTRACT.md) and prints for people; errors say what to do.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
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
	run     func(ctx context.Context, io IO, args []string) error
}

// ErrUsage is returned for a command line that names no known command.
var ErrUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"dlq":    dlqCommand(),
		"events": eventsCommand(),
		"routes": routesCommand(),
	}
}

// Is reports whether name is a subcommand (the bridge otherwise treats arguments as
// flags of the server).
func Is(name string) bool {
	_, ok := commands()[name]
	return ok || name == "help"
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
		return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
	}
	return c.run(ctx, io, args[1:])
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
		fmt.Fprintf(&b, "       bridge %-18s %s\n", n+" ...", cmds[n].summary)
	}
	fmt.Fprint(w, b.String())
}
