package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/admin"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// bridgeCmd runs `bridge args...` in-process with env; terminal says whether stdout and
// stderr are terminals.
func bridgeCmd(t *testing.T, env map[string]string, terminal bool, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	cio := admin.IO{Stdout: &o, Stderr: &e, Getenv: func(k string) string { return env[k] }}
	if terminal {
		cio.IsTerminal = func(io.Writer) bool { return true }
	}
	err = admin.Run(ctx, cio, args)
	t.Logf("bridge %s\n%s%s(err: %v)", strings.Join(args, " "), o.String(), e.String(), err)
	return o.String(), e.String(), err
}

func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(out), v), "not JSON: %s", out)
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// Every read command prints JSON with --json, wherever the flag goes.
func TestReadCommandsPrintJSON(t *testing.T) {
	signup := writeTemp(t, "signup.json", `{"specversion":"1.0","id":"e1","type":"user.signedup","source":"/t","data":{"user_id":"u1","email":"a@example.com"}}`)
	bad := writeTemp(t, "bad.yaml", "routes:\n  - {name: b, events: [user.signedup], action: ignore, filter: 'data.x >'}\n")

	t.Run("version", func(t *testing.T) {
		out, _, err := bridgeCmd(t, nil, false, "version", "--json")
		require.NoError(t, err)
		var v struct{ Program, Version string }
		decodeJSON(t, out, &v)
		require.Equal(t, "bridge", v.Program)
		require.NotEmpty(t, v.Version)
	})
	t.Run("routes check", func(t *testing.T) {
		out, _, err := bridgeCmd(t, nil, false, "routes", "check", "--json")
		require.NoError(t, err)
		var v struct {
			File       string   `json:"file"`
			Valid      bool     `json:"valid"`
			EventTypes []string `json:"event_types"`
		}
		decodeJSON(t, out, &v)
		require.True(t, v.Valid)
		require.Contains(t, v.EventTypes, "user.signedup")
	})
	t.Run("routes check of a bad file", func(t *testing.T) {
		out, stderr, err := bridgeCmd(t, nil, false, "routes", "check", bad, "--json")
		require.ErrorContains(t, err, "invalid routes")
		require.Empty(t, stderr, "with --json the errors are in the JSON")
		var v struct {
			Valid  bool     `json:"valid"`
			Errors []string `json:"errors"`
		}
		decodeJSON(t, out, &v)
		require.False(t, v.Valid)
		require.NotEmpty(t, v.Errors)
	})
	t.Run("routes test, flags after the arguments", func(t *testing.T) {
		out, _, err := bridgeCmd(t, nil, false, "routes", "test", "-", signup, "--json")
		require.NoError(t, err)
		var v struct {
			Outcome string `json:"outcome"`
			Routes  []struct {
				Route      string `json:"route"`
				Action     string `json:"action"`
				WorkflowID string `json:"workflow_id"`
			} `json:"routes"`
		}
		decodeJSON(t, out, &v)
		require.Equal(t, "routed", v.Outcome)
		require.Len(t, v.Routes, 1)
		require.Equal(t, "start", v.Routes[0].Action)
		require.NotEmpty(t, v.Routes[0].WorkflowID)
	})
	t.Run("routes default", func(t *testing.T) {
		out, _, err := bridgeCmd(t, nil, false, "routes", "default", "--json")
		require.NoError(t, err)
		var v struct {
			Routes []struct {
				Name string `json:"name"`
			} `json:"routes"`
		}
		decodeJSON(t, out, &v)
		require.NotEmpty(t, v.Routes)
	})

	t.Run("events", func(t *testing.T) {
		url := seedLedger(t)
		env := map[string]string{"DATABASE_URL": url}
		out, _, err := bridgeCmd(t, env, false, "events", "ls", "--json", "--type", "user.signedup")
		require.NoError(t, err)
		var ls struct {
			Events []struct {
				ID      string `json:"id"`
				Outcome string `json:"outcome"`
			} `json:"events"`
		}
		decodeJSON(t, out, &ls)
		require.Len(t, ls.Events, 1)
		require.Equal(t, "e1", ls.Events[0].ID)
		require.Equal(t, "routed", ls.Events[0].Outcome)

		out, _, err = bridgeCmd(t, env, false, "events", "ls", "--type", "nope", "--json")
		require.NoError(t, err)
		require.JSONEq(t, `{"events": []}`, out, "none: an empty list, not null")

		out, _, err = bridgeCmd(t, env, false, "events", "show", "e1", "--json")
		require.NoError(t, err)
		var show struct {
			ID string `json:"id"`
		}
		decodeJSON(t, out, &show)
		require.Equal(t, "e1", show.ID)

		// The flag wins over the environment, as for the bridge.
		out, _, err = bridgeCmd(t, map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/x?connect_timeout=1"}, false,
			"events", "show", "e1", "--json", "--database-url", url)
		require.NoError(t, err)
		decodeJSON(t, out, &show)
	})

	t.Run("dlq", func(t *testing.T) {
		n := testenv.StartNATS(t)
		require.NoError(t, events.EnsureStreams(t.Context(), n.JS, 10*time.Minute))
		seq := admin.StoreDeadLetter(t, n.JS, "user.signedup", "e-9", "malformed event", []byte(`{"user_id":"u9"}`))
		env := map[string]string{"NATS_URL": n.URL}

		out, _, err := bridgeCmd(t, env, false, "dlq", "ls", "--json")
		require.NoError(t, err)
		var ls struct {
			DeadLetters []struct {
				Seq     uint64 `json:"seq"`
				Type    string `json:"type"`
				EventID string `json:"event_id"`
				Reason  string `json:"reason"`
			} `json:"dead_letters"`
			More bool `json:"more"`
		}
		decodeJSON(t, out, &ls)
		require.Len(t, ls.DeadLetters, 1)
		require.Equal(t, seq, ls.DeadLetters[0].Seq)
		require.Equal(t, "user.signedup", ls.DeadLetters[0].Type)
		require.Equal(t, "malformed event", ls.DeadLetters[0].Reason)
		require.False(t, ls.More)

		out, _, err = bridgeCmd(t, env, false, "dlq", "show", fmt.Sprint(seq), "--json")
		require.NoError(t, err)
		var show struct {
			Seq     uint64              `json:"seq"`
			Headers map[string][]string `json:"headers"`
			Data    json.RawMessage     `json:"data"`
		}
		decodeJSON(t, out, &show)
		require.Equal(t, seq, show.Seq)
		require.Equal(t, []string{"e-9"}, show.Headers["ce-id"])
		require.JSONEq(t, `{"user_id":"u9"}`, string(show.Data))

		out, _, err = bridgeCmd(t, env, false, "dlq", "replay", "--dry-run", "--json")
		require.NoError(t, err)
		var replay struct {
			DryRun   bool `json:"dry_run"`
			Replayed []struct {
				Seq uint64 `json:"seq"`
				To  string `json:"to"`
			} `json:"replayed"`
		}
		decodeJSON(t, out, &replay)
		require.True(t, replay.DryRun)
		require.Len(t, replay.Replayed, 1)
		require.Equal(t, "events.user.signedup", replay.Replayed[0].To)

		out, _, err = bridgeCmd(t, env, false, "dlq", "purge", "--json", "--dry-run")
		require.NoError(t, err)
		var purge struct {
			DryRun  bool `json:"dry_run"`
			Deleted []struct {
				Seq uint64 `json:"seq"`
			} `json:"deleted"`
		}
		decodeJSON(t, out, &purge)
		require.True(t, purge.DryRun)
		require.Len(t, purge.Deleted, 1)
		require.Equal(t, seq, purge.Deleted[0].Seq)

		// The connection flags of the group go anywhere after it.
		out, _, err = bridgeCmd(t, map[string]string{"NATS_URL": "nats://127.0.0.1:1"}, false, "dlq", "--nats-url", n.URL, "ls", "--json")
		require.NoError(t, err)
		decodeJSON(t, out, &ls)
		require.Len(t, ls.DeadLetters, 1)
	})
}

// Colours only on a terminal, and never with NO_COLOR set.
func TestColoursFollowNoColorAndTheTerminal(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		terminal bool
		colour   bool
	}{
		{name: "terminal", terminal: true, colour: true},
		{name: "terminal with NO_COLOR", env: map[string]string{"NO_COLOR": "1"}, terminal: true},
		{name: "terminal with NO_COLOR empty", env: map[string]string{"NO_COLOR": ""}, terminal: true, colour: true},
		{name: "dumb terminal", env: map[string]string{"TERM": "dumb"}, terminal: true},
		{name: "pipe", terminal: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := bridgeCmd(t, tt.env, tt.terminal, "routes", "check")
			require.NoError(t, err)
			if tt.colour {
				require.Contains(t, out, "\x1b[32mok\x1b[0m")
			} else {
				require.NotContains(t, out, "\x1b")
				require.Contains(t, out, ": ok (")
			}
		})
	}
}

// Secrets from the environment are never shown by the help, however it is asked for.
func TestHelpShowsNoSecret(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": "postgres://app:db-s3cret@db/flowbridge", "NATS_URL": "nats://u:url-s3cret@n1:4222",
		"NATS_PASSWORD": "nats-s3cret", "NATS_TOKEN": "token-s3cret", "STRIPE_API_KEY": "sk_live_s3cret",
		"TEMPORAL_API_KEY": "temporal-s3cret", "TEMPORAL_CODEC_AUTH": "Bearer codec-s3cret",
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help", "setup"}, {"dlq", "ls", "-h"}, {"events", "--help"}, {"setup", "--help"}} {
		out, stderr, err := bridgeCmd(t, env, false, args...)
		require.NoError(t, err)
		require.Contains(t, out, "Flags:")
		require.NotContains(t, out+stderr, "s3cret", "bridge %v", args)
	}
}
