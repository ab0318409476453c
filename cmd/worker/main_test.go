package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// TestCommandLine runs the built worker with command lines it must refuse or answer
// without starting: every server it could reach is a trap that must see no connection.
func TestCommandLine(t *testing.T) {
	bin := testenv.Build(t, "worker")
	trap := testenv.NewTrap(t)
	env := []string{
		"NATS_URL=nats://" + trap.Addr(),
		"TEMPORAL_ADDRESS=" + trap.Addr(),
		"DATABASE_URL=postgres://postgres@" + trap.Addr() + "/flowbridge?sslmode=disable",
		"SMTP_ADDR=" + trap.Addr(),
		"STRIPE_API_BASE=http://" + trap.Addr(),
		"STRIPE_API_KEY=sk_test_x",
		"WORKER_HTTP_ADDR=127.0.0.1:0",
		"DEPLOY_WORKSPACE=" + t.TempDir(),
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "worker "},
		{name: "version with an argument", args: []string{"version", "extra"}, wantCode: config.ExitUsage, wantStderr: "version takes no arguments"},
		{name: "unknown command", args: []string{"start"}, wantCode: config.ExitUsage, wantStderr: `worker takes flags only, got the argument "start"`},
		{name: "unknown flag", args: []string{"-no-such-flag"}, wantCode: config.ExitUsage, wantStderr: "flag provided but not defined: -no-such-flag"},
		{name: "malformed flag value", args: []string{"-onboarding-expire-after=3d"}, wantCode: config.ExitUsage, wantStderr: "-onboarding-expire-after"},
		{name: "argument after flags", args: []string{"-log-level=debug", "x"}, wantCode: config.ExitUsage, wantStderr: `got the argument "x"`},
		{name: "-h", args: []string{"-h"}, wantCode: 0, wantStderr: "-smtp-addr"},
		{name: "bad configuration", args: []string{"-log-level=loud"}, wantCode: config.ExitFailure, wantStderr: "LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testenv.RunBinary(t, bin, env, time.Minute, tt.args...)
			require.Equal(t, tt.wantCode, got.Code, "exit code: got %d, want %d\nstdout: %s\nstderr: %s", got.Code, tt.wantCode, got.Stdout, got.Stderr)
			require.Contains(t, got.Stdout, tt.wantStdout)
			require.Contains(t, got.Stderr, tt.wantStderr)
			require.False(t, trap.Connected(t), "worker %q connected to a server", tt.args)
		})
	}
}
