// Package cli builds flowbridge's command lines on cobra, the same way for both binaries:
// usage errors (an unknown command, argument or flag) wrap config.ErrUsage, so the
// binaries exit 2 on them; flags may follow arguments, and the flags of earlier releases
// written with one dash (-nats-url) still work; --version and a version command print the
// build; help goes to stdout; shell completion comes with every binary.
//
// Commands write through an IO, so tests run them in-process: JSON with WriteJSON,
// colours with IO.Style, which follows NO_COLOR and whether stdout is a terminal.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/version"
)

// IO is where a command reads its environment and writes its output.
type IO struct {
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; nil: an empty one.
	Getenv func(string) string
	// IsTerminal reports whether w is a terminal; nil: whether w is an *os.File on a
	// character device. Colours (Style) and progress bars depend on it.
	IsTerminal func(w io.Writer) bool
}

// Std is the process's own IO.
func Std() IO {
	return IO{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Env reads the environment variable name; "" when io has no Getenv.
func (io IO) Env(name string) string {
	if io.Getenv == nil {
		return ""
	}
	return io.Getenv(name)
}

// Terminal reports whether w is a terminal.
func (io IO) Terminal(w io.Writer) bool {
	if io.IsTerminal != nil {
		return io.IsTerminal(w)
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// NewRoot returns the root command of the binary name, writing to io, with --version
// and a version command (its --json too). Add its subcommands, and a RunE for what the
// binary does without one, then run it with Execute.
func NewRoot(name, short, long string, io IO) *cobra.Command {
	root := &cobra.Command{
		Use:           name,
		Short:         short,
		Long:          long,
		Version:       version.String(),
		SilenceErrors: true, // the binary prints the error, once
		SilenceUsage:  true, // errors say what to run instead of printing all the flags
	}
	root.SetOut(io.Stdout)
	root.SetErr(io.Stderr)
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.Flags().Bool("version", false, "print the version and commit of this build, then exit")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c.HasParent() {
			return fmt.Errorf("%w: %s: %v (%s --help lists its flags)", config.ErrUsage, c.CommandPath(), err, c.CommandPath())
		}
		return fmt.Errorf("%w: %v (%s --help lists its flags)", config.ErrUsage, err, c.CommandPath())
	})
	root.AddCommand(versionCommand(name, io))
	return root
}

// Execute runs root, built by NewRoot, with args (without the program name) and ctx. Its
// error wraps config.ErrUsage for a command line root does not take; -h and --help print
// the help on stdout and return nil.
func Execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	prepare(root)
	if len(args) == 0 || !strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		args = doubleDash(root, args)
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// prepare makes every command of the tree refuse what it does not take: a group of
// commands refuses an unknown command (and prints its help when given none), and any
// error from a command's argument check is a usage error.
func prepare(c *cobra.Command) {
	if c.SuggestionsMinimumDistance == 0 {
		c.SuggestionsMinimumDistance = 2
	}
	if c.HasSubCommands() {
		if c.Args == nil {
			c.Args = unknownCommand
		}
		if !c.Runnable() {
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
		if check := c.Args; check != nil { // `bridge dlq help` is `bridge help dlq`
			c.Args = func(c *cobra.Command, args []string) error {
				if len(args) == 1 && args[0] == "help" {
					return nil
				}
				return check(c, args)
			}
		}
	}
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			err := check(c, args)
			if err != nil && !errors.Is(err, config.ErrUsage) {
				return fmt.Errorf("%w: %v (%s --help says what it takes)", config.ErrUsage, err, c.CommandPath())
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		prepare(sub)
	}
}

// unknownCommand refuses any argument of a group of commands: it names no command.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return fmt.Errorf("%w: %s; %s --help lists the commands", config.ErrUsage, msg, c.CommandPath())
}

// Usage is a usage error: the command line is wrong, the message says how.
func Usage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", config.ErrUsage, fmt.Sprintf(format, args...))
}

// NoArgs refuses any argument, saying where one belongs (hint, such as "a type goes in
// --type"; may be empty).
func NoArgs(hint string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("%s takes flags only, got the argument %q", c.CommandPath(), args[0])
		if hint != "" {
			msg += " (" + hint + ")"
		}
		return Usage("%s", msg)
	}
}

// Args takes from min to max arguments, described by what ("one event id").
func Args(min, max int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			got := "nothing"
			if len(args) > 0 {
				got = fmt.Sprintf("%q", strings.Join(args, " "))
			}
			return Usage("%s takes %s, got %s", c.CommandPath(), what, got)
		}
		return nil
	}
}

// doubleDash is config.DoubleDash over the command tree: each argument that names a
// subcommand switches to its flags.
func doubleDash(root *cobra.Command, args []string) []string {
	cur, descend := root, true
	return config.DoubleDash(args, flagsOf(root), func(arg string) *pflag.FlagSet {
		if !descend {
			return nil
		}
		for _, c := range cur.Commands() {
			if c.Name() == arg || c.HasAlias(arg) {
				cur = c
				return flagsOf(c)
			}
		}
		descend = false // an argument: what follows are arguments and flags of cur
		return nil
	})
}

func flagsOf(c *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	fs.AddFlagSet(c.Flags())
	fs.AddFlagSet(c.InheritedFlags())
	return fs
}

func versionCommand(name string, io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "version",
		Short: "print the version and commit of this build",
		Args:  NoArgs(""),
	}
	asJSON := JSONFlag(c)
	c.RunE = func(*cobra.Command, []string) error {
		if *asJSON {
			b := version.Read()
			return WriteJSON(io.Stdout, struct {
				Program   string `json:"program"`
				Version   string `json:"version"`
				Commit    string `json:"commit,omitempty"`
				Time      string `json:"time,omitempty"`
				GoVersion string `json:"go_version,omitempty"`
			}{name, b.Version, b.Commit, b.Time, b.GoVersion})
		}
		_, err := fmt.Fprintln(io.Stdout, name, version.String())
		return err
	}
	return c
}
