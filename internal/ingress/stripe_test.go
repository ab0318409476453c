package ingress_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

const (
	stripeSecret    = "whsec_test_current"
	stripeOldSecret = "whsec_test_previous"
	stripeCreated   = 1777636800 // 2026-05-01T12:00:00Z
)

// stripePayload is a Stripe event as Stripe sends it to a webhook endpoint.
func stripePayload(t *testing.T, id, typ string, object map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id":               id,
		"object":           "event",
		"api_version":      "2024-06-20",
		"created":          stripeCreated,
		"livemode":         false,
		"pending_webhooks": 1,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             typ,
		"data":             map[string]any{"object": object},
	})
	require.NoError(t, err)
	return b
}

// signStripe returns the Stripe-Signature header for payload, made with secret at when.
func signStripe(payload []byte, secret string, when time.Time) http.Header {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: when})
	return http.Header{"Stripe-Signature": {signed.Header}}
}

// payment is one card payment of a one-off Checkout: the ids Stripe gives its objects.
type payment struct {
	session, intent, invoice, customer string
}

func newPayment() payment {
	return payment{
		session:  testenv.ID("cs_test_"),
		intent:   testenv.ID("pi_"),
		invoice:  testenv.ID("in_"),
		customer: testenv.ID("cus_"),
	}
}

func (p payment) checkoutSession(status string) map[string]any {
	return map[string]any{
		"id": p.session, "object": "checkout.session", "mode": "payment", "status": "complete",
		"amount_subtotal": 2000, "amount_total": 2000, "currency": "eur",
		"customer":         p.customer,
		"customer_details": map[string]any{"email": "ada@example.com", "name": "Ada Lovelace"},
		"customer_email":   nil,
		"invoice":          p.invoice,
		"payment_intent":   p.intent,
		"payment_status":   status,
	}
}

func (p payment) invoicePaid() map[string]any {
	return map[string]any{
		"id": p.invoice, "object": "invoice", "status": "paid",
		"amount_due": 2000, "amount_paid": 2000, "currency": "eur",
		"customer": p.customer, "customer_email": "ada@example.com",
		"payment_intent": p.intent,
		"lines": map[string]any{"object": "list", "has_more": false, "data": []any{
			map[string]any{"id": "il_1", "object": "line_item", "amount": 1500, "currency": "eur", "description": "Pro plan", "quantity": 1},
			map[string]any{"id": "il_2", "object": "line_item", "amount": 500, "currency": "eur", "description": "Extra seat", "quantity": nil},
		}},
	}
}

func (p payment) intentSucceeded() map[string]any {
	return map[string]any{
		"id": p.intent, "object": "payment_intent", "status": "succeeded",
		"amount": 2000, "amount_received": 2000, "currency": "eur",
		"customer": p.customer, "receipt_email": "ada@example.com",
		"invoice": p.invoice, "latest_charge": "ch_1",
	}
}

// TestStripeOnePaymentOneWorkflow sends the three events Stripe sends for one payment
// and checks that they are stored as three stripe.paid events with one payment_id, so
// they target one workflow.
func TestStripeOnePaymentOneWorkflow(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}})
	p := newPayment()
	sent := []struct {
		id, typ string
		object  map[string]any
	}{
		{testenv.ID("evt_"), "checkout.session.completed", p.checkoutSession("paid")},
		{testenv.ID("evt_"), "invoice.paid", p.invoicePaid()},
		{testenv.ID("evt_"), "payment_intent.succeeded", p.intentSucceeded()},
	}
	for _, s := range sent {
		body := stripePayload(t, s.id, s.typ, s.object)
		res := w.post("/webhooks/stripe", signStripe(body, stripeSecret, time.Now()), body)
		requireStatus(t, http.StatusAccepted, res)
		require.Equal(t, []any{s.id}, res.Body["ids"], "ids: got %v, want [%s]", res.Body["ids"], s.id)
	}

	got := w.stored()
	require.Len(t, got, 3, "stored events: got %d, want 3 (one per Stripe event)", len(got))
	// The contract's route: stripe.paid starts PaymentProcessing as payment-<payment_id>.
	workflows := map[string]bool{}
	for i, ev := range got {
		require.Equal(t, sent[i].id, ev.ID(), "id: got %v, want the Stripe event id %v", ev.ID(), sent[i].id)
		require.Equal(t, "stripe.paid", ev.Type(), "type of %s: got %v, want stripe.paid", sent[i].typ, ev.Type())
		require.Equal(t, "/stripe", ev.Source(), "source: got %v, want /stripe", ev.Source())
		require.True(t, ev.Time().Equal(time.Unix(stripeCreated, 0)), "time: got %v, want the event's created", ev.Time())
		var data struct {
			PaymentID string `json:"payment_id"`
		}
		require.NoError(t, json.Unmarshal(ev.Data(), &data))
		workflows["payment-"+data.PaymentID] = true
	}
	require.Equal(t, map[string]bool{"payment-" + p.intent: true}, workflows, "workflow ids: got %v, want only payment-%s", workflows, p.intent)

	wantData := []string{
		`{"payment_id":"` + p.intent + `","customer_id":"` + p.customer + `","amount":2000,"currency":"eur","email":"ada@example.com"}`,
		`{"payment_id":"` + p.intent + `","customer_id":"` + p.customer + `","amount":2000,"currency":"eur","email":"ada@example.com",
		  "line_items":[{"description":"Pro plan","amount":1500,"quantity":1},{"description":"Extra seat","amount":500}]}`,
		`{"payment_id":"` + p.intent + `","customer_id":"` + p.customer + `","amount":2000,"currency":"eur","email":"ada@example.com"}`,
	}
	for i, ev := range got {
		require.JSONEq(t, wantData[i], string(ev.Data()), "data of %s: got %s, want %s", sent[i].typ, ev.Data(), wantData[i])
	}
}

// TestStripePaidPaymentID covers where payment_id comes from in the shapes other API
// versions and Checkout modes send.
func TestStripePaidPaymentID(t *testing.T) {
	intent := stripeMockIntent(t)
	tests := []struct {
		name   string
		typ    string
		object map[string]any
		want   string
	}{
		{
			name: "invoice after API 2025-03-31 lists its payment intent under payments",
			typ:  "invoice.paid",
			object: map[string]any{"id": "in_basil", "object": "invoice", "amount_paid": 900, "currency": "usd", "customer": "cus_1",
				"payments": map[string]any{"object": "list", "data": []any{
					map[string]any{"object": "invoice_payment", "status": "paid", "payment": map[string]any{"type": "payment_intent", "payment_intent": "pi_listed"}},
				}}},
			want: "pi_listed",
		},
		{
			name: "only a payment intent that paid counts",
			typ:  "invoice.paid",
			object: map[string]any{"id": "in_basil", "object": "invoice", "amount_paid": 900, "currency": "usd", "customer": "cus_1",
				"payments": map[string]any{"object": "list", "data": []any{
					map[string]any{"object": "invoice_payment", "status": "canceled", "is_default": true, "payment": map[string]any{"type": "payment_intent", "payment_intent": "pi_canceled"}},
					map[string]any{"object": "invoice_payment", "status": "paid", "is_default": false, "payment": map[string]any{"type": "payment_intent", "payment_intent": "pi_paid"}},
				}}},
			want: "pi_paid",
		},
		{
			name:   "invoice whose payment_intent is null (before API 2025-03-31) is keyed by its id",
			typ:    "invoice.paid",
			object: map[string]any{"id": "in_only", "object": "invoice", "amount_paid": 900, "currency": "usd", "customer": "cus_1", "payment_intent": nil},
			want:   "in_only",
		},
		{
			name:   "invoice naming no payment intent (from API 2025-03-31 on): Stripe says which paid it",
			typ:    "invoice.paid",
			object: map[string]any{"id": "in_basil", "object": "invoice", "amount_paid": 900, "currency": "usd", "customer": "cus_1"},
			want:   intent,
		},
		{
			name: "subscription checkout: Stripe says which payment intent paid its invoice",
			typ:  "checkout.session.completed",
			object: map[string]any{"id": "cs_sub", "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
				"amount_total": 900, "currency": "usd", "customer": "cus_1", "payment_intent": nil, "invoice": "in_sub"},
			want: intent,
		},
		{
			name: "expanded payment intent and customer",
			typ:  "checkout.session.completed",
			object: map[string]any{"id": "cs_exp", "object": "checkout.session", "payment_status": "paid", "amount_total": 900, "currency": "usd",
				"customer": map[string]any{"id": "cus_1", "object": "customer"}, "payment_intent": map[string]any{"id": "pi_expanded", "object": "payment_intent"}},
			want: "pi_expanded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, withStripeMock(t))
			body := stripePayload(t, testenv.ID("evt_"), tt.typ, tt.object)
			requireStatus(t, http.StatusAccepted, w.post("/webhooks/stripe", signStripe(body, stripeSecret, time.Now()), body))
			got := w.stored()
			require.Len(t, got, 1)
			var data struct {
				PaymentID  string `json:"payment_id"`
				CustomerID string `json:"customer_id"`
			}
			require.NoError(t, json.Unmarshal(got[0].Data(), &data))
			require.Equal(t, "stripe.paid", got[0].Type(), "type: got %v, want stripe.paid", got[0].Type())
			require.Equal(t, tt.want, data.PaymentID, "payment_id: got %v, want %v", data.PaymentID, tt.want)
			require.Equal(t, "cus_1", data.CustomerID, "customer_id: got %v, want cus_1", data.CustomerID)
		})
	}
}

func TestStripeForwardsOtherEvents(t *testing.T) {
	p := newPayment()
	tests := []struct {
		name     string
		typ      string
		object   map[string]any
		wantType string
	}{
		{
			name:     "customer.created",
			typ:      "customer.created",
			object:   map[string]any{"id": p.customer, "object": "customer", "email": "ada@example.com"},
			wantType: "stripe.customer.created",
		},
		{
			name:     "checkout not paid yet",
			typ:      "checkout.session.completed",
			object:   p.checkoutSession("unpaid"),
			wantType: "stripe.checkout.session.completed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}})
			id := testenv.ID("evt_")
			body := stripePayload(t, id, tt.typ, tt.object)
			requireStatus(t, http.StatusAccepted, w.post("/webhooks/stripe", signStripe(body, stripeSecret, time.Now()), body))

			got := w.stored()
			require.Len(t, got, 1)
			ev := got[0]
			require.Equal(t, id, ev.ID(), "id: got %v, want %v", ev.ID(), id)
			require.Equal(t, tt.wantType, ev.Type(), "type: got %v, want %v", ev.Type(), tt.wantType)
			require.Equal(t, "/stripe", ev.Source(), "source: got %v, want /stripe", ev.Source())
			want, err := json.Marshal(tt.object)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(ev.Data()), "data: got %s, want data.object %s", ev.Data(), want)
		})
	}
}

func TestStripeRetryStoredOnce(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}})
	id := testenv.ID("evt_")
	body := stripePayload(t, id, "payment_intent.succeeded", newPayment().intentSucceeded())

	first := w.post("/webhooks/stripe", signStripe(body, stripeSecret, time.Now()), body)
	requireStatus(t, http.StatusAccepted, first)
	require.Nil(t, first.Body["duplicates"], "first delivery: got duplicates %v, want none", first.Body["duplicates"])
	// Stripe signs each retry anew.
	retry := w.post("/webhooks/stripe", signStripe(body, stripeSecret, time.Now().Add(time.Second)), body)
	requireStatus(t, http.StatusAccepted, retry)
	require.Equal(t, []any{id}, retry.Body["duplicates"], "retry: got duplicates %v, want [%s]", retry.Body["duplicates"], id)

	got := w.stored()
	require.Len(t, got, 1, "stored events: got %d, want 1 (the retry is a duplicate)", len(got))
}

func TestStripeSignature(t *testing.T) {
	body := stripePayload(t, "evt_sig", "payment_intent.succeeded", newPayment().intentSucceeded())
	tests := []struct {
		name       string
		secrets    []string
		header     http.Header
		body       []byte
		wantStatus int
		wantError  string // part of the refusal's error
	}{
		{
			name:       "rotated: the second of two secrets",
			secrets:    []string{stripeOldSecret, stripeSecret},
			header:     signStripe(body, stripeSecret, time.Now()),
			wantStatus: http.StatusAccepted,
		},
		{
			name:       "just inside the 5 minute tolerance",
			secrets:    []string{stripeSecret},
			header:     signStripe(body, stripeSecret, time.Now().Add(-4*time.Minute)),
			wantStatus: http.StatusAccepted,
		},
		{
			name:       "wrong secret",
			secrets:    []string{stripeSecret},
			header:     signStripe(body, "whsec_someone_else", time.Now()),
			wantStatus: http.StatusUnauthorized,
			wantError:  "check STRIPE_WEBHOOK_SECRET",
		},
		{
			name:       "stale timestamp",
			secrets:    []string{stripeSecret},
			header:     signStripe(body, stripeSecret, time.Now().Add(-6*time.Minute)),
			wantStatus: http.StatusUnauthorized,
			wantError:  "more than 5m0s old",
		},
		{
			name:       "just inside the tolerance ahead: a clock a little fast",
			secrets:    []string{stripeSecret},
			header:     signStripe(body, stripeSecret, time.Now().Add(4*time.Minute)),
			wantStatus: http.StatusAccepted,
		},
		{
			name:       "timestamp an hour in the future",
			secrets:    []string{stripeSecret},
			header:     signStripe(body, stripeSecret, time.Now().Add(time.Hour)),
			wantStatus: http.StatusUnauthorized,
			wantError:  "more than 5m0s in the future",
		},
		{
			// A genuine stale signature with a fresh t put in front: the HMAC covers the
			// stale t, so a parser that read the first t would check the wrong one.
			name:    "two timestamps",
			secrets: []string{stripeSecret},
			header: http.Header{"Stripe-Signature": {"t=" + strconv.FormatInt(time.Now().Unix(), 10) + "," +
				signStripe(body, stripeSecret, time.Now().Add(-time.Hour)).Get("Stripe-Signature")}},
			wantStatus: http.StatusUnauthorized,
			wantError:  "is not t=<unix time>,v1=<hex signature>",
		},
		{
			name:       "tampered body",
			secrets:    []string{stripeSecret},
			header:     signStripe(body, stripeSecret, time.Now()),
			body:       []byte(string(body[:len(body)-1]) + ` `),
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "missing header",
			secrets:    []string{stripeSecret},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "garbled header",
			secrets:    []string{stripeSecret},
			header:     http.Header{"Stripe-Signature": {"v1"}},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "no secret configured",
			header:     signStripe(body, stripeSecret, time.Now()),
			wantStatus: http.StatusServiceUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{StripeSecrets: tt.secrets})
			sent := body
			if tt.body != nil {
				sent = tt.body
			}
			res := w.post("/webhooks/stripe", tt.header, sent)
			requireStatus(t, tt.wantStatus, res)
			if tt.wantStatus != http.StatusAccepted {
				require.NotEmpty(t, res.Body["error"], "refusal without an error message: %s", res.Raw)
				require.Contains(t, res.Body["error"], tt.wantError)
				w.requireNothingStored(res)
				return
			}
			require.Len(t, w.stored(), 1)
		})
	}
}

// TestStripeSchemaViolation: a payment without a customer cannot start PaymentProcessing
// (customer_id is required), so it is refused, naming the field, and Stripe retries it.
func TestStripeSchemaViolation(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}})
	obj := newPayment().intentSucceeded()
	obj["customer"] = nil
	body := stripePayload(t, testenv.ID("evt_"), "payment_intent.succeeded", obj)
	res := w.post("/webhooks/stripe", signStripe(body, stripeSecret, time.Now()), body)
	requireStatus(t, http.StatusBadRequest, res)
	require.Equal(t, "data", res.Body["field"], "field: got %v, want data", res.Body["field"])
	require.Contains(t, res.Body["error"], "customer_id")
	w.requireNothingStored(res)
}
