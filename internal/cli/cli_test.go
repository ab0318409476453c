package cli_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
)

// tool is a command line with a group (db) of one command (db get NAME), and a root that
// runs with --level.
type tool struct {
	ran   string
	name  string
	level int
	yes   bool
}

func run(t *testing.T, args ...string) (*tool, string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	tl := &tool{}
	root := cli.NewRoot("tool", "a tool", "", cli.IO{Stdout: &out, Stderr: &errOut})
	root.Flags().IntVar(&tl.level, "level", 1, "level")
	root.RunE = func(*cobra.Command, []string) error { tl.ran = "tool"; return nil }
	db := &cobra.Command{Use: "db", Short: "the database"}
	get := &cobra.Command{Use: "get NAME", Short: "get one", Args: cli.Args(1, 1, "one NAME")}
	get.Flags().BoolVar(&tl.yes, "yes", false, "yes")
	get.Flags().IntVar(&tl.level, "level", 1, "level")
	get.RunE = func(_ *cobra.Command, args []string) error { tl.ran, tl.name = "db get", args[0]; return nil }
	db.AddCommand(get)
	root.AddCommand(db)
	err := cli.Execute(context.Background(), root, args)
	return tl, out.String(), errOut.String(), err
}

func TestCommandLines(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		ran     string
		level   int
		getName string
		usage   string // the usage error, "" for none
		stdout  string
	}{
		{name: "root", args: nil, ran: "tool", level: 1},
		{name: "root flag, one dash", args: []string{"-level", "3"}, ran: "tool", level: 3},
		{name: "root flag, two dashes", args: []string{"--level=4"}, ran: "tool", level: 4},
		{name: "flags after the argument", args: []string{"db", "get", "x", "--yes", "-level", "-2"}, ran: "db get", getName: "x", level: -2},
		{name: "flags before the argument", args: []string{"db", "get", "--level", "5", "x"}, ran: "db get", getName: "x", level: 5},
		{name: "unknown command", args: []string{"dbb"}, usage: `unknown command "dbb" for "tool" (did you mean db?)`},
		{name: "unknown command of a group", args: []string{"db", "put"}, usage: `unknown command "put" for "tool db"`},
		{name: "unknown flag", args: []string{"--nope"}, usage: "unknown flag: --nope"},
		{name: "unknown flag, one dash", args: []string{"-nope"}, usage: "unknown flag: --nope"},
		{name: "unknown flag of a command", args: []string{"db", "get", "x", "--nope"}, usage: "tool db get: unknown flag: --nope"},
		{name: "malformed value", args: []string{"--level=high"}, usage: `invalid argument "high" for "--level"`},
		{name: "missing argument", args: []string{"db", "get"}, usage: "tool db get takes one NAME, got nothing"},
		{name: "extra argument", args: []string{"db", "get", "a", "b"}, usage: `tool db get takes one NAME, got "a b"`},
		{name: "an argument to version", args: []string{"version", "x"}, usage: `tool version takes flags only, got the argument "x"`},
		{name: "completion of an unknown shell", args: []string{"completion", "csh"}, usage: `unknown command "csh"`},
		{name: "help", args: []string{"--help"}, stdout: "Usage:\n  tool [flags]\n  tool [command]"},
		{name: "group without a command", args: []string{"db"}, stdout: "  tool db [command]"},
		{name: "group help", args: []string{"db", "help"}, stdout: "  tool db [command]"},
		{name: "--version", args: []string{"--version"}, stdout: "tool "},
		{name: "version", args: []string{"version"}, stdout: "tool "},
		{name: "completion zsh", args: []string{"completion", "zsh"}, stdout: "#compdef tool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stdout, stderr, err := run(t, tt.args...)
			if tt.usage != "" {
				require.ErrorIs(t, err, config.ErrUsage, "got %v, want a usage error", err)
				require.Equal(t, config.ExitUsage, config.ExitCode(err))
				require.ErrorContains(t, err, tt.usage)
				require.Empty(t, got.ran, "a usage error runs nothing")
				return
			}
			require.NoError(t, err)
			require.Empty(t, stderr)
			require.Contains(t, stdout, tt.stdout)
			require.Equal(t, tt.ran, got.ran)
			if tt.ran != "" {
				require.Equal(t, tt.level, got.level, "got level %d, want %d", got.level, tt.level)
				require.Equal(t, tt.getName, got.name)
			}
		})
	}
}

func TestStyle(t *testing.T) {
	terminal := func(io.Writer) bool { return true }
	tests := []struct {
		name string
		io   cli.IO
		want bool
	}{
		{name: "terminal", io: cli.IO{IsTerminal: terminal}, want: true},
		{name: "NO_COLOR", io: cli.IO{IsTerminal: terminal, Getenv: func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }}},
		{name: "TERM=dumb", io: cli.IO{IsTerminal: terminal, Getenv: func(k string) string { return map[string]string{"TERM": "dumb"}[k] }}},
		{name: "not a terminal", io: cli.IO{Stdout: &bytes.Buffer{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.io.Style().Bad("x") != "x"
			require.Equal(t, tt.want, got, "coloured: got %v, want %v", got, tt.want)
		})
	}

	// A column painted throughout stays aligned in a table.
	st := cli.IO{IsTerminal: terminal}.Style()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, row := range [][2]string{{st.Plain("OUTCOME"), "WORKFLOW"}, {st.Bad("dead-lettered"), "w1"}, {st.Good("ok"), "w2"}} {
		_, _ = io.WriteString(tw, row[0]+"\t"+row[1]+"\n")
	}
	require.NoError(t, tw.Flush())
	strip := strings.NewReplacer("\x1b[39m", "", "\x1b[31m", "", "\x1b[32m", "", "\x1b[0m", "")
	lines := strings.Split(strip.Replace(b.String()), "\n")
	for _, l := range lines[:3] {
		require.Equal(t, len("dead-lettered  "), strings.IndexAny(l, "wW"), "the second column is misaligned: %q", l)
	}
}
