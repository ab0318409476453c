package admin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runSchemasCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut strings.Builder
	err := Run(context.Background(), IO{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}, append([]string{"schemas"}, args...))
	return out.String(), err
}

// `bridge schemas ls|show` list the built-in schemas and SCHEMAS_DIR's, which add types
// and replace built-in ones; show prints a schema as written.
func TestSchemasCommands(t *testing.T) {
	out, err := runSchemasCmd(t, nil, "ls")
	require.NoError(t, err)
	require.Regexp(t, `user\.signedup\s+built-in`, out)

	dir := t.TempDir()
	custom := `{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"}}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "order.placed.json"), []byte(custom), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "user.signedup.json"), []byte(`{"type":"object"}`), 0o600))
	env := map[string]string{"SCHEMAS_DIR": dir}

	out, err = runSchemasCmd(t, env, "ls", "--json")
	require.NoError(t, err)
	var ls struct {
		Schemas []struct{ Type, Source string } `json:"schemas"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &ls))
	sources := map[string]string{}
	for _, s := range ls.Schemas {
		sources[s.Type] = s.Source
	}
	require.Equal(t, filepath.Join(dir, "order.placed.json"), sources["order.placed"], "a type added by SCHEMAS_DIR")
	require.Equal(t, filepath.Join(dir, "user.signedup.json"), sources["user.signedup"], "a built-in type replaced")
	require.Equal(t, "built-in", sources["stripe.paid"])

	out, err = runSchemasCmd(t, env, "show", "order.placed")
	require.NoError(t, err)
	require.Equal(t, custom, out)
	out, err = runSchemasCmd(t, nil, "show", "--json", "email.verified")
	require.NoError(t, err)
	var show struct {
		Type, Source string
		Schema       map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(out), &show))
	require.Equal(t, "email.verified", show.Type)
	require.Equal(t, "built-in", show.Source)
	require.Equal(t, "object", show.Schema["type"])

	_, err = runSchemasCmd(t, env, "show", "order.cancelled")
	require.ErrorContains(t, err, `no schema for event type "order.cancelled"`)

	// A file SCHEMAS_DIR cannot compile stops the command, naming it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.type.json"), []byte(`{"type": 12}`), 0o600))
	_, err = runSchemasCmd(t, env, "ls")
	require.ErrorContains(t, err, "bad.type")
}
