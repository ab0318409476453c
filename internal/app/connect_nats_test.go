package app

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"
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
		"TEMPORAL_ADDRESS":      "127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)),
		"DATABASE_URL":          "postgres://postgres@127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/flowbridge?sslmode=disable",
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
			return testenv.With(a.Env, map[string]string{"NATS_URL": n.URL})
		}})
	}
	creds := testenv.NATSCreds(t)
	modes = append(modes, mode{name: "creds from NATS_CONTEXT", auth: creds, env: func(n *testenv.NATS) map[string]string {
		xdg := testenv.WriteNATSContext(t, "prod", map[string]any{"description": "test", "url": n.URL, "creds": creds.Env["NATS_CREDS"]})
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
		{name: "refused credential", env: testenv.With(auth.Env, auth.WrongEnv), wants: "NATS authorization failed (NATS_USER/NATS_PASSWORD)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := testenv.ClosedPort(t)
			cfg, err := config.LoadBridge(nil, func(k string) string {
				return testenv.With(tt.env, map[string]string{"NATS_URL": "nats://127.0.0.1:" + strconv.Itoa(port)})[k]
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
