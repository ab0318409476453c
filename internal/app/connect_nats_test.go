package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// authBridgeEnv is the environment of a bridge on NATS at url, with auth's settings (and
// extra), and Temporal and PostgreSQL at ports where nothing listens.
func authBridgeEnv(t *testing.T, url string, settings ...map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"NATS_URL":              url,
		"TEMPORAL_ADDRESS":      "127.0.0.1:" + strconv.Itoa(closedPort(t)),
		"DATABASE_URL":          "postgres://postgres@127.0.0.1:" + strconv.Itoa(closedPort(t)) + "/flowbridge?sslmode=disable",
		"INGRESS_EVENTS_TOKENS": sweepToken + "=user.>",
	}
	for _, s := range settings {
		maps.Copy(env, s)
	}
	return env
}

// newBridgeFromEnv loads the bridge's configuration from env, as the binary does, and
// builds the process on ports of its own.
func newBridgeFromEnv(t *testing.T, env map[string]string) (*bridgeProcess, error) {
	t.Helper()
	cfg, err := config.LoadBridge(nil, func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	return newBridgeProcess(t.Context(), cfg, testenv.Logger(t))
}

// writeNATSContext writes a nats context as the nats CLI stores it, under a new
// XDG_CONFIG_HOME it returns.
func writeNATSContext(t *testing.T, name string, fields map[string]any) (xdg string) {
	t.Helper()
	xdg = t.TempDir()
	dir := filepath.Join(xdg, "nats", "context")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	b, err := json.MarshalIndent(fields, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), b, 0o600))
	return xdg
}

// A whole bridge connects through each kind of NATS auth (and through a nats context
// naming a creds file): its ingress publishes an event through its connection, and its
// consumer takes it from the stream and starts the workflow in Temporal.
func TestBridgeThroughEachNATSAuth(t *testing.T) {
	tc := testenv.Temporal(t)
	type mode struct {
		name string
		auth testenv.NATSAuth
		env  func(n *testenv.NATS) map[string]string // the NATS settings
	}
	var modes []mode
	for _, a := range testenv.NATSAuths(t) {
		modes = append(modes, mode{name: a.Name, auth: a, env: func(n *testenv.NATS) map[string]string {
			return with(a.Env, map[string]string{"NATS_URL": n.URL})
		}})
	}
	creds := testenv.NATSCreds(t)
	modes = append(modes, mode{name: "creds from NATS_CONTEXT", auth: creds, env: func(n *testenv.NATS) map[string]string {
		xdg := writeNATSContext(t, "prod", map[string]any{"description": "test", "url": n.URL, "creds": creds.Env["NATS_CREDS"]})
		return map[string]string{"NATS_CONTEXT": "prod", "XDG_CONFIG_HOME": xdg, "NATS_URL": ""}
	}})

	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			n := testenv.StartNATSWith(t, m.auth)
			env := authBridgeEnv(t, n.URL, m.env(n), map[string]string{
				"TEMPORAL_ADDRESS":    testenv.TemporalAddress(),
				"TEMPORAL_TASK_QUEUE": testenv.ID("natsauth-"),
			})
			p, err := newBridgeFromEnv(t, env)
			require.NoError(t, err)
			b := &testBridge{bridgeProcess: p, nats: n, public: "http://" + p.publicLn.Addr().String()}
			b.start(t)

			user := testenv.ID("natsauth-user-")
			workflowID := "onboarding-" + user
			t.Cleanup(func() {
				_ = tc.TerminateWorkflow(context.Background(), workflowID, "", "test over")
			})
			ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":"user.signedup","source":"/natsauth","data":{"user_id":%q,"email":"natsauth@example.com"}}`, testenv.ID("evt-"), user)
			var status int
			var body []byte
			testenv.Eventually(t, 15*time.Second, func() bool {
				status, _, body = sweepRequest(t, http.MethodPost, b.public+"/events", structured(), []byte(ev))
				return status == http.StatusAccepted
			}, "POST /events through the ingress's NATS connection: got %d %s, want 202", &status, &body)
			testenv.Eventually(t, 30*time.Second, func() bool {
				_, err := tc.DescribeWorkflowExecution(t.Context(), workflowID, "")
				return err == nil
			}, "the consumer never started %s", workflowID)
			require.True(t, b.consumerNATS.IsConnected() && b.ingressNATS.IsConnected())
		})
	}
}

// A credential the server refuses ends start-up at once, with an error naming the
// setting and showing no secret: the bridge and the worker alike.
func TestWrongNATSCredentialFailsStartUp(t *testing.T) {
	type tcase struct {
		name   string
		auth   testenv.NATSAuth
		env    map[string]string // the NATS settings
		want   []string
		hidden []string // secrets the error must not show
	}
	var cases []tcase
	for _, a := range testenv.NATSAuths(t) {
		want := []string{a.WrongSetting, "NATS authorization failed"}
		if a.Name == "mutual TLS" {
			want = []string{a.WrongSetting, "NATS TLS failed", "client certificate"}
		}
		cases = append(cases, tcase{name: a.Name, auth: a, env: with(a.Env, a.WrongEnv), want: want,
			hidden: append(slicesOf(a.Env, "NATS_PASSWORD", "NATS_TOKEN"), slicesOf(a.WrongEnv, "NATS_PASSWORD", "NATS_TOKEN")...)})
	}
	up, tlsAuth, creds := testenv.NATSUserPassword(t), testenv.NATSMutualTLS(t), testenv.NATSCreds(t)
	noCA := with(tlsAuth.Env, nil)
	delete(noCA, "NATS_CA")
	noCert := with(tlsAuth.Env, nil)
	delete(noCert, "NATS_CERT")
	delete(noCert, "NATS_KEY")
	xdg := writeNATSContext(t, "stale", map[string]any{"creds": creds.WrongEnv["NATS_CREDS"]})
	cases = append(cases,
		tcase{name: "no credential", auth: up, env: nil, want: []string{"NATS authorization failed", "the server wants a credential", "NATS_CREDS"}},
		tcase{name: "TLS without NATS_CA", auth: tlsAuth, env: noCA, want: []string{"NATS TLS failed", "set NATS_CA"}},
		tcase{name: "TLS without a client certificate", auth: tlsAuth, env: noCert, want: []string{"NATS TLS failed", "set NATS_CERT and NATS_KEY"}},
		tcase{name: "creds from NATS_CONTEXT", auth: creds, env: map[string]string{"NATS_CONTEXT": "stale", "XDG_CONFIG_HOME": xdg},
			want: []string{"NATS authorization failed (NATS_CREDS of NATS_CONTEXT stale)"}},
	)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			n := testenv.StartNATSWith(t, tt.auth)
			env := authBridgeEnv(t, n.URL, tt.env)
			_, err := newBridgeFromEnv(t, env)
			require.Error(t, err, "the bridge started with a wrong credential")
			t.Logf("the bridge: %v", err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			for _, s := range tt.hidden {
				require.NotContains(t, err.Error(), s, "the error shows a secret")
			}

			wcfg, err := config.LoadWorker(nil, func(k string) string {
				return with(env, map[string]string{"STRIPE_API_KEY": "sk_test_1", "WORKER_HTTP_ADDR": "127.0.0.1:0"})[k]
			})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err = RunWorker(ctx, wcfg, testenv.Logger(t))
			require.Error(t, err, "the worker started with a wrong credential")
			require.NoError(t, ctx.Err(), "the worker failed only at its deadline")
			require.ErrorContains(t, err, tt.want[0])
		})
	}
}

// A server that cannot be reached at start-up is retried in the background, as before:
// once it is up, a good credential connects; a refused one closes the connection, and
// Watch ends the run naming the setting.
func TestUnreachableNATSIsRetriedThenTheCredentialDecides(t *testing.T) {
	auth := testenv.NATSUserPassword(t)
	tests := []struct {
		name  string
		env   map[string]string
		wants string // "" : connects
	}{
		{name: "good credential", env: auth.Env},
		{name: "refused credential", env: with(auth.Env, auth.WrongEnv), wants: "NATS authorization failed (NATS_USER/NATS_PASSWORD)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := closedPort(t)
			cfg, err := config.LoadBridge(nil, func(k string) string {
				return with(tt.env, map[string]string{"NATS_URL": "nats://127.0.0.1:" + strconv.Itoa(port)})[k]
			})
			require.NoError(t, err)
			nc, err := ConnectNATS(cfg.Common, "flowbridge-test", testenv.Logger(t))
			require.NoError(t, err, "an unreachable server does not fail start-up")
			t.Cleanup(nc.Close)
			require.False(t, nc.IsConnected())

			testenv.StartNATSWith(t, auth, func(o *server.Options) { o.Port = port })
			if tt.wants == "" {
				testenv.Eventually(t, 15*time.Second, nc.IsConnected, "never connected once NATS was up: %v", nc.Status())
				return
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err = nc.Watch(ctx)
			require.NoError(t, ctx.Err(), "the refused connection was never closed")
			require.ErrorContains(t, err, tt.wants)
			require.NotContains(t, err.Error(), auth.WrongEnv["NATS_PASSWORD"])
		})
	}
}

func with(base, extra map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, extra)
	return out
}

// slicesOf returns the values of keys set in m.
func slicesOf(m map[string]string, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if v := strings.TrimSpace(m[k]); v != "" {
			out = append(out, v)
		}
	}
	return out
}
