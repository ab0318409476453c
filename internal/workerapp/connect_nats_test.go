package workerapp

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

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
		cases = append(cases, tcase{name: a.Name, auth: a, env: testenv.With(a.Env, a.WrongEnv), want: want,
			hidden: append(testenv.ValuesOf(a.Env, "NATS_PASSWORD", "NATS_TOKEN"), testenv.ValuesOf(a.WrongEnv, "NATS_PASSWORD", "NATS_TOKEN")...)})
	}
	up, tlsAuth, creds := testenv.NATSUserPassword(t), testenv.NATSMutualTLS(t), testenv.NATSCreds(t)
	noCA := testenv.With(tlsAuth.Env, nil)
	delete(noCA, "NATS_CA")
	noCert := testenv.With(tlsAuth.Env, nil)
	delete(noCert, "NATS_CERT")
	delete(noCert, "NATS_KEY")
	xdg := testenv.WriteNATSContext(t, "stale", map[string]any{"creds": creds.WrongEnv["NATS_CREDS"]})
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
			env := testenv.With(map[string]string{
				"NATS_URL":              n.URL,
				"TEMPORAL_ADDRESS":      "127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)),
				"DATABASE_URL":          "postgres://postgres@127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/flowbridge?sslmode=disable",
				"INGRESS_EVENTS_TOKENS": "wrong-credential-token=user.>",
			}, tt.env)
			bcfg, err := config.LoadBridge(nil, func(k string) string { return env[k] })
			require.NoError(t, err)
			bcfg.HTTPAddr, bcfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
			bctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err = app.RunBridge(bctx, bcfg, testenv.Logger(t))
			require.Error(t, err, "the bridge started with a wrong credential")
			require.NoError(t, bctx.Err(), "the bridge failed only at its deadline")
			t.Logf("the bridge: %v", err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			for _, s := range tt.hidden {
				require.NotContains(t, err.Error(), s, "the error shows a secret")
			}

			wcfg, err := config.LoadWorker(nil, func(k string) string {
				return testenv.With(env, map[string]string{"STRIPE_API_KEY": "sk_test_1", "WORKER_HTTP_ADDR": "127.0.0.1:0"})[k]
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
