package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"
	"go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
	"github.com/flowbridge/flowbridge/schemas"
)

// TestStripeSubscriptionPaymentOneWorkflow: the three webhooks Stripe sends for a
// subscription's first payment (testdata/stripe in internal/ingress: Stripe's payloads
// for an endpoint on API 2024-06-20 and on 2025-03-31.basil), through the HTTP ingress
// asking stripe-mock which PaymentIntent paid the invoice, the stream and the bridge,
// start one PaymentProcessing workflow, which records one payment and sends one invoice
// email, whichever event comes first.
func TestStripeSubscriptionPaymentOneWorkflow(t *testing.T) {
	tests := []struct {
		version string
		order   []string
	}{
		{version: "2024-06-20", order: []string{"checkout.session.completed", "invoice.paid", "payment_intent.succeeded"}},
		{version: "2025-03-31.basil", order: []string{"payment_intent.succeeded", "invoice.paid", "checkout.session.completed"}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			const secret = "whsec_e2e"
			h := newHarness(t)
			// stripe-mock names one PaymentIntent for every invoice, so every run of this
			// test pays with it: the workflow ids get a prefix of this run's own.
			prefix := testenv.ID("sub-")
			const paymentID = "id: 'payment-{{ .data.payment_id }}'"
			require.Contains(t, string(routing.DefaultYAML()), paymentID, "the default route of stripe.paid")
			routes, err := routing.Parse(bytes.Replace(routing.DefaultYAML(),
				[]byte(paymentID), []byte("id: '"+prefix+"-payment-{{ .data.payment_id }}'"), 1), "routes.yaml")
			require.NoError(t, err)
			h.routes = routes
			h.startWorker(workflows.OnboardingConfig{})
			rb := h.startBridge(h.temporal, bridge.Config{})

			sch, err := events.LoadSchemas(schemas.FS)
			require.NoError(t, err)
			log := testenv.Logger(t)
			srv := ingress.New(ingress.Config{}, log)
			ing, err := ingress.NewIngest(h.pub, sch, prometheus.NewRegistry(), log, ingress.IngestConfig{
				StripeSecrets: []string{secret}, StripeAPIKey: "sk_test_123", StripeAPIBase: testenv.StripeMock(t),
			})
			require.NoError(t, err)
			ing.Mount(srv)
			web := httptest.NewServer(srv.Handler())
			defer web.Close()

			// The fixtures' customer is this test's tenant, and their email address one of
			// its own, so that mailpit's count is this run's.
			const fixtureEmail = "jenny.rosen@example.com"
			email := testenv.ID("subscriber-") + "@example.com"
			payloads := map[string][]byte{}
			var intent, invoice, customer string
			for _, typ := range tt.order {
				b, err := os.ReadFile(filepath.Join("..", "ingress", "testdata", "stripe", tt.version, "subscription", typ+".json"))
				require.NoError(t, err)
				payloads[typ] = bytes.ReplaceAll(b, []byte(fixtureEmail), []byte(email))
				var ev struct {
					Data struct {
						Object struct {
							ID       string `json:"id"`
							Customer string `json:"customer"`
						} `json:"object"`
					} `json:"data"`
				}
				require.NoError(t, json.Unmarshal(b, &ev))
				customer = ev.Data.Object.Customer
				switch typ {
				case "payment_intent.succeeded":
					intent = ev.Data.Object.ID
				case "invoice.paid":
					invoice = ev.Data.Object.ID
				}
			}
			ctx := context.Background()
			tenant, err := h.store.EnsureTenant(ctx, testenv.ID("u-"), email)
			require.NoError(t, err)
			_, err = h.store.SetStripeCustomer(ctx, tenant.ID, customer)
			require.NoError(t, err)

			for _, typ := range tt.order {
				signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payloads[typ], Secret: secret, Timestamp: time.Now()})
				req, err := http.NewRequest(http.MethodPost, web.URL+"/webhooks/stripe", bytes.NewReader(payloads[typ]))
				require.NoError(t, err)
				req.Header.Set("Stripe-Signature", signed.Header)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s: got %d, want 202", typ, resp.StatusCode)
			}

			wfID := prefix + "-payment-" + intent
			h.waitExists(wfID)
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var res workflows.PaymentResult
			require.NoError(t, h.temporal.GetWorkflow(cctx, wfID, "").Get(cctx, &res))
			require.Equal(t, tenant.ID, res.TenantID, "tenant: got %v, want %v", res.TenantID, tenant.ID)
			h.consumerSettled(10 * time.Second)

			require.Equal(t, 1.0, rb.count(t, "routed"), "one of the three events started the workflow")
			require.Equal(t, 2.0, rb.count(t, "duplicate"), "the other two found it started")
			h.waitExecutions(1)
			require.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED, h.status(prefix+"-payment-"+invoice), "no workflow is keyed by the invoice")
			var rows int
			var stored string
			require.NoError(t, h.store.Pool().QueryRow(ctx, "SELECT count(*), min(payment_id) FROM payments").Scan(&rows, &stored))
			require.Equal(t, 1, rows, "payments rows: got %d, want 1", rows)
			require.Equal(t, intent, stored, "payment_id: got %v, want the PaymentIntent %v", stored, intent)
			testenv.Eventually(t, 10*time.Second, func() bool { return h.mailsTo(email) == 1 }, "one invoice email to %s", email)
			require.Empty(t, h.dlq())
		})
	}
}
