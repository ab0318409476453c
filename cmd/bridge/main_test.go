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
		{name: "unknown command", args: []string{"versoin"}, wantCode: config.ExitUsage, wantStderr: `unknown command "versoin"`},
		{name: "version with an argument", args: []string{"version", "extra"}, wantCode: config.ExitUsage, wantStderr: "version takes no arguments"},
		{name: "unknown flag", args: []string{"-no-such-flag"}, wantCode: config.ExitUsage, wantStderr: "flag provided but not defined: -no-such-flag"},
		{name: "malformed flag value", args: []string{"-lanes=many"}, wantCode: config.ExitUsage, wantStderr: "-lanes"},
		{name: "argument after flags", args: []string{"-lanes=4", "start"}, wantCode: config.ExitUsage, wantStderr: `bridge takes flags only, got the argument "start"`},
		{name: "argument after --", args: []string{"--", "x"}, wantCode: config.ExitUsage, wantStderr: `got the argument "x"`},
		{name: "unknown subcommand of a command", args: []string{"dlq", "bogus"}, wantCode: config.ExitUsage, wantStderr: `unknown command "dlq bogus"`},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "usage: bridge [flags]"},
		{name: "help lists setup", args: []string{"help"}, wantCode: 0, wantStdout: "bridge setup ..."},
		{name: "setup -h", args: []string{"setup", "-h"}, wantCode: 0, wantStderr: "usage: bridge setup [-dry-run] [flags]"},
		{name: "setup with an argument", args: []string{"setup", "now"}, wantCode: config.ExitUsage, wantStderr: `bridge setup takes flags only, got the argument "now"`},
		{name: "setup with an unknown flag", args: []string{"setup", "--force"}, wantCode: config.ExitUsage, wantStderr: "flag provided but not defined: -force"},
		{name: "setup with a bad setting", args: []string{"setup", "--events-replicas=9"}, wantCode: config.ExitFailure, wantStderr: "EVENTS_REPLICAS"},
		{name: "-h", args: []string{"-h"}, wantCode: 0, wantStderr: "-nats-url"},
		{name: "bad configuration", args: []string{"-log-level=loud"}, wantCode: config.ExitFailure, wantStderr: "LOG_LEVEL"},
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
