package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/store"
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
		{name: "--version", args: []string{"--version"}, wantCode: 0, wantStdout: "worker "},
		{name: "version --json", args: []string{"version", "--json"}, wantCode: 0, wantStdout: `"program": "worker"`},
		{name: "version with an argument", args: []string{"version", "extra"}, wantCode: config.ExitUsage, wantStderr: `worker version takes flags only, got the argument "extra"`},
		{name: "unknown command", args: []string{"start"}, wantCode: config.ExitUsage, wantStderr: `unknown command "start" for "worker"`},
		{name: "unknown flag", args: []string{"-no-such-flag"}, wantCode: config.ExitUsage, wantStderr: "unknown flag: --no-such-flag"},
		{name: "malformed flag value", args: []string{"-onboarding-expire-after=3d"}, wantCode: config.ExitUsage, wantStderr: "--onboarding-expire-after"},
		{name: "argument after flags", args: []string{"-log-level=debug", "x"}, wantCode: config.ExitUsage, wantStderr: `unknown command "x"`},
		{name: "-h", args: []string{"-h"}, wantCode: 0, wantStdout: "--smtp-addr"},
		{name: "migrate -h", args: []string{"migrate", "-h"}, wantCode: 0, wantStdout: "--database-url"},
		{name: "migrate with an argument", args: []string{"migrate", "now"}, wantCode: config.ExitUsage, wantStderr: `worker migrate takes flags only, got the argument "now"`},
		{name: "migrate with an unknown flag", args: []string{"migrate", "-smtp-addr=x:25"}, wantCode: config.ExitUsage, wantStderr: "unknown flag: --smtp-addr"},
		{name: "migrate with a bad setting after an argument", args: []string{"migrate", "now", "--database-url=mysql://x"}, wantCode: config.ExitUsage, wantStderr: `got the argument "now"`},
		{name: "bad configuration", args: []string{"-log-level=loud"}, wantCode: config.ExitFailure, wantStderr: "LOG_LEVEL"},
		{name: "completion bash", args: []string{"completion", "bash"}, wantCode: 0, wantStdout: "bash completion V2 for worker"},
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

// `worker migrate` brings a database to the build's schema and says so; a second run
// changes nothing. The worker itself never migrates: on a schema behind its build it exits
// 1 saying what to run; on a migrated one it opens the database, and SIGTERM stops it
// cleanly.
func TestMigrateThenStart(t *testing.T) {
	bin := testenv.Build(t, "worker")
	n := testenv.StartNATS(t)
	trap := testenv.NewTrap(t) // Temporal: the worker gets no further than PostgreSQL here
	httpAddr := freeAddr(t)
	env := func(dbURL string) []string {
		return []string{
			"NATS_URL=" + n.URL,
			"TEMPORAL_ADDRESS=" + trap.Addr(),
			"DATABASE_URL=" + dbURL,
			"STRIPE_API_KEY=sk_test_x",
			"WORKER_HTTP_ADDR=" + httpAddr,
			"DEPLOY_WORKSPACE=" + t.TempDir(),
			"BACKUP_DIR=" + t.TempDir(),
		}
	}
	want := store.Version()

	t.Run("refuses a schema behind its build", func(t *testing.T) {
		never := testenv.PostgresUnmigrated(t)
		behind := testenv.Postgres(t)
		conn, err := pgx.Connect(t.Context(), behind)
		require.NoError(t, err)
		_, err = conn.Exec(t.Context(), "DELETE FROM "+store.MigrationsTable+" WHERE version = $1", want) // as an older release left it
		require.NoError(t, err)
		require.NoError(t, conn.Close(t.Context()))
		for _, tt := range []struct {
			name string
			url  string
			have int
		}{{"never migrated", never, 0}, {"one migration behind", behind, want - 1}} {
			t.Run(tt.name, func(t *testing.T) {
				got := testenv.RunBinary(t, bin, env(tt.url), time.Minute)
				require.Equal(t, config.ExitFailure, got.Code, "stderr: %s", got.Stderr)
				require.Contains(t, got.Stderr, fmt.Sprintf("database schema is at version %d, this build needs %d: run `worker migrate`", tt.have, want))
			})
		}
	})

	url := testenv.PostgresUnmigrated(t)
	got := testenv.RunBinary(t, bin, env(url), time.Minute, "migrate")
	require.Equal(t, 0, got.Code, "stderr: %s", got.Stderr)
	require.Contains(t, got.Stdout, fmt.Sprintf("database schema migrated from version 0 to %d: applied 0001_onboarding.sql, ", want))
	got = testenv.RunBinary(t, bin, env(url), time.Minute, "migrate")
	require.Equal(t, 0, got.Code, "stderr: %s", got.Stderr)
	require.Equal(t, fmt.Sprintf("database schema is at version %d: nothing to apply\n", want), got.Stdout)

	cmd := exec.Command(bin)
	cmd.Env = env(url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	var checks map[string]string
	testenv.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Checks map[string]string `json:"checks"`
		}
		checks = nil
		if json.NewDecoder(resp.Body).Decode(&body) == nil {
			checks = body.Checks
		}
		return checks["postgresql"] == "ok"
	}, "the worker did not open the migrated database: /readyz checks %v; stderr: %s", &checks, &stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "SIGTERM: a clean exit; stderr: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not exit within 30s of SIGTERM")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
