package admin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// `bridge dlq` takes the bridge's NATS settings, from the environment or from matching
// flags: it lists the dead letters of a server that wants a credential, and a refused one
// is an error naming the setting.
func TestDLQCommandWithNATSCredentials(t *testing.T) {
	creds, tlsAuth := testenv.NATSCreds(t), testenv.NATSMutualTLS(t)
	credsNATS, tlsNATS := testenv.StartNATSWith(t, creds), testenv.StartNATSWith(t, tlsAuth)
	for _, n := range []*testenv.NATS{credsNATS, tlsNATS} {
		require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, time.Minute))
		storeDeadLetter(t, n.JS, "user.signedup", "evt-natsauth-1", "no route", []byte(`{}`))
	}
	xdg := t.TempDir()
	dir := filepath.Join(xdg, "nats", "context")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	b, err := json.Marshal(map[string]string{"url": credsNATS.URL, "creds": creds.Env["NATS_CREDS"]})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ops.json"), b, 0o600))

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in the error; "" : lists the dead letter
	}{
		{name: "creds from the environment", env: map[string]string{"NATS_URL": credsNATS.URL, "NATS_CREDS": creds.Env["NATS_CREDS"]}, args: []string{"ls"}},
		{name: "creds flag", args: []string{"ls", "--nats-url", credsNATS.URL, "--nats-creds", creds.Env["NATS_CREDS"]}},
		{name: "context", env: map[string]string{"NATS_CONTEXT": "ops", "XDG_CONFIG_HOME": xdg}, args: []string{"ls", "--type", "user.>"}},
		{name: "context flag, for show", env: map[string]string{"XDG_CONFIG_HOME": xdg}, args: []string{"show", "--nats-context", "ops", "1"}},
		{name: "mutual TLS flags", args: []string{"ls", "--nats-url", tlsNATS.URL, "--nats-ca", tlsAuth.Env["NATS_CA"], "--nats-cert", tlsAuth.Env["NATS_CERT"], "--nats-key", tlsAuth.Env["NATS_KEY"]}},
		{name: "refused creds", env: map[string]string{"NATS_URL": credsNATS.URL, "NATS_CREDS": creds.WrongEnv["NATS_CREDS"]}, args: []string{"ls"}, want: "NATS authorization failed (NATS_CREDS)"},
		{name: "no credential", env: map[string]string{"NATS_URL": credsNATS.URL}, args: []string{"purge", "--yes"}, want: "the server wants a credential"},
		{name: "TLS without the CA", args: []string{"replay", "--nats-url", tlsNATS.URL}, want: "set NATS_CA"},
		{name: "a bad setting", env: map[string]string{"NATS_CREDS": filepath.Join(xdg, "none.creds")}, args: []string{"ls"}, want: "NATS_CREDS cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o, e bytes.Buffer
			err := Run(testCtx(t), IO{Stdout: &o, Stderr: &e, Getenv: func(k string) string { return tt.env[k] }}, append([]string{"dlq"}, tt.args...))
			t.Logf("bridge dlq %s\n%s%s(err: %v)", strings.Join(tt.args, " "), o.String(), e.String(), err)
			if tt.want != "" {
				require.Error(t, err)
				require.ErrorContains(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			require.Contains(t, o.String(), "evt-natsauth-1")
		})
	}
}
