package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
	"github.com/flowbridge/flowbridge/schemas"
)

// The three webhooks Stripe sends for one payment, through the HTTP ingress, the stream
// and the bridge, become one PaymentProcessing workflow, which records the payment and
// emails the invoice.
func TestStripeWebhooksToOnePaymentWorkflow(t *testing.T) {
	const secret = "whsec_e2e"
	h := newHarness(t)
	h.startWorker(workflows.OnboardingConfig{})
	rb := h.startBridge(h.temporal, bridge.Config{})

	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	log := testenv.Logger(t)
	srv := ingress.New(ingress.Config{}, log)
	ing, err := ingress.NewIngest(h.pub, sch, prometheus.NewRegistry(), log, ingress.IngestConfig{StripeSecrets: []string{secret}})
	require.NoError(t, err)
	ing.Mount(srv)
	web := httptest.NewServer(srv.Handler())
	defer web.Close()

	ctx := context.Background()
	customer, intent, invoice := testenv.ID("cus_"), testenv.ID("pi_"), testenv.ID("in_")
	email := testenv.ID("payer-") + "@example.com"
	tenant, err := h.store.EnsureTenant(ctx, testenv.ID("u-"), email)
	require.NoError(t, err)
	_, err = h.store.SetStripeCustomer(ctx, tenant.ID, customer)
	require.NoError(t, err)

	objects := []struct{ typ string }{{"checkout.session.completed"}, {"invoice.paid"}, {"payment_intent.succeeded"}}
	bodies := map[string]map[string]any{
		"checkout.session.completed": {"id": testenv.ID("cs_"), "object": "checkout.session", "payment_status": "paid",
			"payment_intent": intent, "customer": customer, "amount_total": 4900, "currency": "eur",
			"customer_details": map[string]any{"email": email}},
		"invoice.paid": {"id": invoice, "object": "invoice", "payment_intent": intent, "customer": customer,
			"amount_paid": 4900, "currency": "eur", "customer_email": email,
			"lines": map[string]any{"object": "list", "data": []any{map[string]any{"amount": 4900, "description": "Pro plan", "quantity": 1}}}},
		"payment_intent.succeeded": {"id": intent, "object": "payment_intent", "customer": customer,
			"amount_received": 4900, "currency": "eur", "receipt_email": email},
	}
	for _, o := range objects {
		payload, err := json.Marshal(map[string]any{
			"id": testenv.ID("evt_"), "object": "event", "type": o.typ, "created": time.Now().Unix(),
			"api_version": "2025-01-27.acacia", "livemode": false, "data": map[string]any{"object": bodies[o.typ]},
		})
		require.NoError(t, err)
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
		req, err := http.NewRequest(http.MethodPost, web.URL+"/webhooks/stripe", bytes.NewReader(payload))
		require.NoError(t, err)
		req.Header.Set("Stripe-Signature", signed.Header)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, o.typ)
	}

	wfID := "payment-" + intent
	h.waitExists(wfID)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, h.temporal.GetWorkflow(cctx, wfID, "").Get(cctx, nil))
	h.consumerSettled(10 * time.Second)

	require.Equal(t, 1.0, rb.count(t, "routed"), "one of the three started the workflow")
	require.Equal(t, 2.0, rb.count(t, "duplicate"), "the other two found it started")
	var stored string
	require.NoError(t, h.store.Pool().QueryRow(ctx, "SELECT tenant_id::text FROM payments WHERE payment_id = $1", intent).Scan(&stored))
	require.Equal(t, tenant.ID, stored)
	testenv.Eventually(t, 10*time.Second, func() bool { return h.mailsTo(email) == 1 }, "one invoice email to %s", email)
	done, ok := h.lastEvent("payment.processed")
	require.True(t, ok)
	require.Equal(t, wfID, done.Subject())
	require.Empty(t, h.dlq())
}
