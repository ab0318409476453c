package config_test

import (
	"testing"

	flag "github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
)

// Command lines written for the flag package (-nats-url) keep working under pflag.
func TestDoubleDash(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("reason", "", "")
	fs.Int("limit", 0, "")
	fs.Bool("yes", false, "")
	sub := flag.NewFlagSet("sub", flag.ContinueOnError)
	sub.String("type", "", "")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "long flag with a value", args: []string{"-reason", "x"}, want: []string{"--reason", "x"}},
		{name: "long flag with =", args: []string{"-limit=3"}, want: []string{"--limit=3"}},
		{name: "two dashes kept", args: []string{"--reason=x", "--yes"}, want: []string{"--reason=x", "--yes"}},
		{name: "a value that looks like a flag", args: []string{"-reason", "-not-a-flag"}, want: []string{"--reason", "-not-a-flag"}},
		{name: "a negative value", args: []string{"--limit", "-10"}, want: []string{"--limit", "-10"}},
		{name: "a bool flag takes no value", args: []string{"-yes", "-limit=1"}, want: []string{"--yes", "--limit=1"}},
		{name: "one-letter flag", args: []string{"-h"}, want: []string{"-h"}},
		{name: "unknown long flag", args: []string{"-no-such-flag"}, want: []string{"--no-such-flag"}},
		{name: "after --", args: []string{"-yes", "--", "-reason"}, want: []string{"--yes", "--", "-reason"}},
		{name: "arguments", args: []string{"ls", "-", "-yes"}, want: []string{"ls", "-", "--yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := config.DoubleDash(tt.args, fs, nil)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}

	t.Run("a subcommand's flags", func(t *testing.T) {
		next := func(arg string) *flag.FlagSet {
			if arg == "sub" {
				return sub
			}
			return nil
		}
		got := config.DoubleDash([]string{"sub", "-type", "-x", "arg"}, fs, next)
		want := []string{"sub", "--type", "-x", "arg"}
		require.Equal(t, want, got, "got %v, want %v", got, want)
	})
}
