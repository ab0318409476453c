package admin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runRoutesCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut strings.Builder
	err = Run(context.Background(), IO{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}, append([]string{"routes"}, args...))
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestRoutesCheck(t *testing.T) {
	out, _, err := runRoutesCmd(t, nil, "check")
	require.NoError(t, err)
	require.Contains(t, out, "default routes: ok")

	good := writeFile(t, "good.yaml", "routes:\n  - {name: a, events: [user.signedup], action: start, workflow: UserOnboarding, id: 'x-{{ .data.user_id }}'}\n")
	out, _, err = runRoutesCmd(t, map[string]string{"ROUTES_FILE": good}, "check")
	require.NoError(t, err)
	require.Contains(t, out, good+": ok (event types user.signedup)")

	bad := writeFile(t, "bad.yaml", `routes:
  - {name: a, events: [user.signedup], action: start, workflow: UserOnboarding, id: 'x', filter: 'data.x >'}
  - {name: b, events: [no.schema], action: ignore}
`)
	_, stderr, err := runRoutesCmd(t, nil, "check", bad)
	require.Error(t, err)
	require.Contains(t, stderr, bad+":2: route a: filter")

	noSchema := writeFile(t, "noschema.yaml", "routes:\n  - {name: b, events: [no.schema], action: ignore}\n")
	out, _, err = runRoutesCmd(t, nil, "check", noSchema)
	require.NoError(t, err, "a type without a schema is a warning")
	require.Contains(t, out, "warning: "+noSchema+":2: route b: event type no.schema has no schema: its events are routed without validation (add no.schema.json to SCHEMAS_DIR)")

	// With a schema for it in SCHEMAS_DIR, no warning; a field it lacks is an error.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "no.schema.json"), []byte(`{"type":"object","properties":{"key":{"type":"string"}}}`), 0o600))
	out, _, err = runRoutesCmd(t, map[string]string{"SCHEMAS_DIR": dir}, "check", noSchema)
	require.NoError(t, err)
	require.NotContains(t, out, "warning")
	badField := writeFile(t, "badfield.yaml", "routes:\n  - {name: b, events: [no.schema], action: ignore, filter: 'data.kee == \"x\"'}\n")
	_, stderr, err = runRoutesCmd(t, nil, "check", "--schemas-dir", dir, badField)
	require.Error(t, err)
	require.Contains(t, stderr, "route b: filter reads data.kee, which the schema of no.schema does not declare")
}

func TestRoutesTest(t *testing.T) {
	ev := writeFile(t, "ev.json", `{"specversion":"1.0","id":"e1","type":"user.signedup","source":"/t","data":{"user_id":"u1","email":"u1@example.com","plan":"free"}}`)
	out, _, err := runRoutesCmd(t, nil, "test", "-", ev)
	require.NoError(t, err)
	require.Contains(t, out, "route user-signedup: start UserOnboarding id=onboarding-u1")
	require.Contains(t, out, `"ce_id":"e1"`)

	routes := writeFile(t, "r.yaml", `unmatched: dead_letter
routes:
  - {name: pro, events: [user.signedup], filter: 'has(data.plan) && data.plan == "pro"', action: start, workflow: UserOnboarding, id: 'onboarding-{{ .data.user_id }}'}
`)
	out, _, err = runRoutesCmd(t, nil, "test", routes, ev)
	require.NoError(t, err)
	require.Contains(t, out, "route pro does not take it: filter is false")
	require.Contains(t, out, "dead letter: unroutable event: no route takes user.signedup")

	broken := writeFile(t, "broken.json", `{"specversion":"1.0","id":"e2","type":"user.signedup","source":"/t","data":{"user_id":"u1"}}`)
	out, _, err = runRoutesCmd(t, nil, "test", "-", broken)
	require.NoError(t, err)
	require.Contains(t, out, "dead letter: event data breaks its schema")

	other := writeFile(t, "other.json", `{"specversion":"1.0","id":"e3","type":"tenant.created","source":"/t","data":{"user_id":"u1","tenant_id":"t"}}`)
	out, _, err = runRoutesCmd(t, nil, "test", "-", other)
	require.NoError(t, err)
	require.Contains(t, out, "ignored: no route takes tenant.created")

	_, _, err = runRoutesCmd(t, nil, "test", "-")
	require.ErrorIs(t, err, ErrUsage)
}

func TestRoutesDefaultPrintsTheBuiltInTable(t *testing.T) {
	out, _, err := runRoutesCmd(t, nil, "default")
	require.NoError(t, err)
	require.Contains(t, out, "name: user-signedup")
	// What it prints is itself a valid file.
	p := writeFile(t, "default.yaml", out)
	_, _, err = runRoutesCmd(t, nil, "check", p)
	require.NoError(t, err)
}

// `routes test` says an event would be held, and in which window.
func TestRoutesTestShowsWindows(t *testing.T) {
	ev := writeFile(t, "ev.json", `{"specversion":"1.0","id":"e1","type":"user.signedup","source":"/t","data":{"user_id":"u1","email":"u1@example.com"}}`)
	routes := writeFile(t, "r.yaml", `routes:
  - {name: quiet, events: [user.signedup], action: start, workflow: UserOnboarding, id: 'a-{{ .data.user_id }}', debounce: {key: '{{ .data.user_id }}', quiet: 30s}}
  - {name: digest, events: [user.signedup], action: start, workflow: UserOnboarding, id: 'b-{{ .id }}', args: [data.user_id], batch: {size: 10, window: 1m}}
`)
	out, _, err := runRoutesCmd(t, nil, "test", routes, ev)
	require.NoError(t, err)
	require.Contains(t, out, `debounce key="u1" quiet=30s (held`)
	require.Contains(t, out, `batch key="" size=10 window=1m0s (held`)
	out, _, err = runRoutesCmd(t, nil, "test", "--json", routes, ev)
	require.NoError(t, err)
	require.Contains(t, out, `"window": {`)
	require.Contains(t, out, `"kind": "debounce"`)
}
