package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// TestCommandLine runs the built bridge with command lines it must refuse or answer
// without starting: every server it could reach is a trap that must see no connection.
func TestCommandLine(t *testing.T) {
	bin := testenv.Build(t, "bridge")
	trap := testenv.NewTrap(t)
	env := []string{
		"NATS_URL=nats://" + trap.Addr(),
		"TEMPORAL_ADDRESS=" + trap.Addr(),
		"DATABASE_URL=postgres://postgres@" + trap.Addr() + "/flowbridge?sslmode=disable",
		"HTTP_ADDR=127.0.0.1:0",
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "bridge "},
		{name: "--version", args: []string{"--version"}, wantCode: 0, wantStdout: "bridge "},
		{name: "version --json", args: []string{"version", "--json"}, wantCode: 0, wantStdout: `"program": "bridge"`},
		{name: "unknown command", args: []string{"versoin"}, wantCode: config.ExitUsage, wantStderr: `unknown command "versoin" for "bridge" (did you mean version?)`},
		{name: "version with an argument", args: []string{"version", "extra"}, wantCode: config.ExitUsage, wantStderr: `bridge version takes flags only, got the argument "extra"`},
		{name: "unknown flag", args: []string{"-no-such-flag"}, wantCode: config.ExitUsage, wantStderr: "unknown flag: --no-such-flag"},
		{name: "unknown flag, two dashes", args: []string{"--no-such-flag"}, wantCode: config.ExitUsage, wantStderr: "unknown flag: --no-such-flag"},
		{name: "malformed flag value", args: []string{"-lanes=many"}, wantCode: config.ExitUsage, wantStderr: "--lanes"},
		{name: "argument after flags", args: []string{"-lanes=4", "start"}, wantCode: config.ExitUsage, wantStderr: `unknown command "start" for "bridge"`},
		{name: "argument after --", args: []string{"--", "x"}, wantCode: config.ExitUsage, wantStderr: `unknown command "x"`},
		{name: "unknown subcommand of a command", args: []string{"dlq", "bogus"}, wantCode: config.ExitUsage, wantStderr: `unknown command "bogus" for "bridge dlq"`},
		{name: "unknown flag of a command", args: []string{"dlq", "ls", "--bogus"}, wantCode: config.ExitUsage, wantStderr: "bridge dlq ls: unknown flag: --bogus"},
		{name: "a flag of another command", args: []string{"routes", "check", "--lanes=3"}, wantCode: config.ExitUsage, wantStderr: "unknown flag: --lanes"},
		{name: "an argument to a command that takes none", args: []string{"routes", "default", "x"}, wantCode: config.ExitUsage, wantStderr: `bridge routes default takes flags only, got the argument "x"`},
		{name: "too many arguments", args: []string{"routes", "test", "a", "b", "c"}, wantCode: config.ExitUsage, wantStderr: "takes FILE and EVENT.json"},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "Usage:\n  bridge [flags]"},
		{name: "help lists setup", args: []string{"help"}, wantCode: 0, wantStdout: "  setup  "},
		{name: "help of a command", args: []string{"help", "dlq"}, wantCode: 0, wantStdout: "bridge dlq [command]"},
		{name: "setup -h", args: []string{"setup", "-h"}, wantCode: 0, wantStdout: "bridge setup [--dry-run] [flags]"},
		{name: "setup with an argument", args: []string{"setup", "now"}, wantCode: config.ExitUsage, wantStderr: `bridge setup takes flags only, got the argument "now"`},
		{name: "setup with an unknown flag", args: []string{"setup", "--force"}, wantCode: config.ExitUsage, wantStderr: "unknown flag: --force"},
		{name: "setup with a bad setting", args: []string{"setup", "--events-replicas=9"}, wantCode: config.ExitFailure, wantStderr: "EVENTS_REPLICAS"},
		{name: "setup with a bad setting, one dash", args: []string{"setup", "-events-replicas", "9"}, wantCode: config.ExitFailure, wantStderr: "EVENTS_REPLICAS"},
		{name: "-h", args: []string{"-h"}, wantCode: 0, wantStdout: "--nats-url"},
		{name: "--help", args: []string{"--help"}, wantCode: 0, wantStdout: "--nats-url"},
		{name: "bad configuration", args: []string{"-log-level=loud"}, wantCode: config.ExitFailure, wantStderr: "LOG_LEVEL"},
		{name: "completion bash", args: []string{"completion", "bash"}, wantCode: 0, wantStdout: "bash completion V2 for bridge"},
		{name: "completion zsh", args: []string{"completion", "zsh"}, wantCode: 0, wantStdout: "#compdef bridge"},
		{name: "completion fish", args: []string{"completion", "fish"}, wantCode: 0, wantStdout: "complete -c bridge"},
		{name: "completion of an unknown shell", args: []string{"completion", "tcsh"}, wantCode: config.ExitUsage, wantStderr: `unknown command "tcsh"`},
		{name: "completes commands", args: []string{"__complete", "dl"}, wantCode: 0, wantStdout: "dlq\t"},
		{name: "completes flags", args: []string{"__complete", "dlq", "ls", "--ty"}, wantCode: 0, wantStdout: "--type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testenv.RunBinary(t, bin, env, time.Minute, tt.args...)
			require.Equal(t, tt.wantCode, got.Code, "exit code: got %d, want %d\nstdout: %s\nstderr: %s", got.Code, tt.wantCode, got.Stdout, got.Stderr)
			require.Contains(t, got.Stdout, tt.wantStdout)
			require.Contains(t, got.Stderr, tt.wantStderr)
			require.False(t, trap.Connected(t), "bridge %q connected to a server", tt.args)
		})
	}
}
