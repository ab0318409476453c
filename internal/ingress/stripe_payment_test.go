package ingress_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// Stripe API versions of the fixtures in testdata/stripe: the last one whose invoices
// name their PaymentIntent, and the first one whose invoices do not.
const (
	apiAcacia = "2024-06-20"
	apiBasil  = "2025-03-31.basil"
)

// stripeFixture is a webhook payload of testdata/stripe/<version>/<scenario>/<type>.json:
// the event as Stripe sends it to an endpoint on that API version.
type stripeFixture struct {
	typ, id string
	body    []byte
	object  map[string]any
}

func loadStripeFixture(t *testing.T, version, scenario, typ string) stripeFixture {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "stripe", version, scenario, typ+".json"))
	require.NoError(t, err)
	var ev struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		APIVersion string `json:"api_version"`
		Data       struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &ev))
	require.Equal(t, typ, ev.Type, "fixture %s/%s/%s: type", version, scenario, typ)
	require.Equal(t, version, ev.APIVersion, "fixture %s/%s/%s: api_version", version, scenario, typ)
	return stripeFixture{typ: typ, id: ev.ID, body: body, object: ev.Data.Object}
}

// stripeMockIntent returns the PaymentIntent stripe-mock says paid an invoice: it answers
// every invoice with the same one, its fixture. The subscription fixtures were paid by
// it. Asked over plain HTTP, not through the ingress's client.
func stripeMockIntent(t *testing.T) string {
	t.Helper()
	q := url.Values{"invoice": {"in_any"}, "status": {"paid"}, "expand[]": {"data.payment.payment_intent"}}
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, testenv.StripeMock(t)+"/v1/invoice_payments?"+q.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk_test_123")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "stripe-mock GET /v1/invoice_payments")
	var list struct {
		Data []struct {
			Payment struct {
				PaymentIntent struct {
					ID string `json:"id"`
				} `json:"payment_intent"`
			} `json:"payment"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	require.NotEmpty(t, list.Data, "stripe-mock listed no invoice payment")
	return list.Data[0].Payment.PaymentIntent.ID
}

// closedBase returns the URL of a port nothing listens on: a Stripe API that cannot be
// reached, so a test fails if the ingress asks it anything.
func closedBase(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func withStripeMock(t *testing.T) ingress.IngestConfig {
	return ingress.IngestConfig{StripeSecrets: []string{stripeSecret}, StripeAPIKey: "sk_test_123", StripeAPIBase: testenv.StripeMock(t)}
}

// postFixture delivers f, freshly signed, and returns the answer.
func (w *world) postFixture(f stripeFixture) response {
	w.t.Helper()
	return w.post("/webhooks/stripe", signStripe(f.body, stripeSecret, time.Now()), f.body)
}

// paidData decodes the data of a stored stripe.paid event.
func paidData(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var d map[string]any
	require.NoError(t, json.Unmarshal(data, &d))
	return d
}

// TestStripeSubscriptionOnePaymentID: the three events Stripe sends for a subscription's
// first payment — its checkout session, its invoice and its PaymentIntent — carry one
// payment_id, the PaymentIntent's, on the API version before 2025-03-31.basil (where the
// session names only the invoice) and from it on (where the invoice does not name its
// PaymentIntent either). So they start one workflow, payment-<PaymentIntent>, in
// whatever order they come: the ingress maps each on its own.
func TestStripeSubscriptionOnePaymentID(t *testing.T) {
	intent := stripeMockIntent(t)
	for _, version := range []string{apiAcacia, apiBasil} {
		t.Run(version, func(t *testing.T) {
			w := newWorld(t, withStripeMock(t))
			session := loadStripeFixture(t, version, "subscription", "checkout.session.completed")
			invoice := loadStripeFixture(t, version, "subscription", "invoice.paid")
			pi := loadStripeFixture(t, version, "subscription", "payment_intent.succeeded")
			require.Equal(t, intent, pi.object["id"], "the fixtures' subscription must be paid by the PaymentIntent stripe-mock names for every invoice: update testdata/stripe")
			require.Nil(t, session.object["payment_intent"], "a subscription's checkout session names no PaymentIntent")
			_, named := invoice.object["payment_intent"]
			require.Equal(t, version == apiAcacia, named, "invoice.payment_intent is there before 2025-03-31.basil only")

			sent := []stripeFixture{pi, invoice, session}
			for _, f := range sent {
				res := w.postFixture(f)
				requireStatus(t, http.StatusAccepted, res)
			}
			got := w.stored()
			require.Len(t, got, len(sent), "stored events: got %d, want one per Stripe event", len(got))
			email := "jenny.rosen@example.com"
			want := map[string]map[string]any{
				"payment_intent.succeeded": {"payment_id": intent, "customer_id": "cus_QjRkZ8sUbs4fTn", "amount": 2000.0, "currency": "usd"},
				"invoice.paid": {"payment_id": intent, "customer_id": "cus_QjRkZ8sUbs4fTn", "amount": 2000.0, "currency": "usd", "email": email,
					"line_items": []any{map[string]any{"description": "1 × Pro (at $20.00 / month)", "amount": 2000.0, "quantity": 1.0}}},
				"checkout.session.completed": {"payment_id": intent, "customer_id": "cus_QjRkZ8sUbs4fTn", "amount": 2000.0, "currency": "usd", "email": email},
			}
			for i, ev := range got {
				f := sent[i]
				require.Equal(t, f.id, ev.ID(), "id: got %v, want the Stripe event id %v", ev.ID(), f.id)
				require.Equal(t, "stripe.paid", ev.Type(), "type of %s: got %v, want stripe.paid", f.typ, ev.Type())
				d := paidData(t, ev.Data())
				require.Equal(t, want[f.typ], d, "data of %s: got %v, want %v", f.typ, d, want[f.typ])
			}
		})
	}
}

// TestStripePaymentsWithoutLookup: a one-off Checkout payment names its PaymentIntent,
// and an invoice paid out of band on an API version that still has
// invoice.payment_intent says it has none: neither asks the Stripe API (here
// unreachable), and the out-of-band invoice is keyed by its own id.
func TestStripePaymentsWithoutLookup(t *testing.T) {
	tests := []struct {
		name     string
		version  string
		scenario string
		types    []string
		want     string
	}{
		{name: "one-off checkout " + apiAcacia, version: apiAcacia, scenario: "payment", types: []string{"checkout.session.completed", "payment_intent.succeeded"}, want: "pi_3PsUa2B7WZ01zgkW1xQmT9cK"},
		{name: "one-off checkout " + apiBasil, version: apiBasil, scenario: "payment", types: []string{"checkout.session.completed", "payment_intent.succeeded"}, want: "pi_3PsUa2B7WZ01zgkW1xQmT9cK"},
		{name: "invoice paid out of band " + apiAcacia, version: apiAcacia, scenario: "out_of_band", types: []string{"invoice.paid"}, want: "in_1PsUc9B7WZ01zgkWq2YtDk5N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}, StripeAPIKey: "sk_test_123", StripeAPIBase: closedBase(t)})
			for _, typ := range tt.types {
				requireStatus(t, http.StatusAccepted, w.postFixture(loadStripeFixture(t, tt.version, tt.scenario, typ)))
			}
			got := w.stored()
			require.Len(t, got, len(tt.types))
			for i, ev := range got {
				require.Equal(t, "stripe.paid", ev.Type(), "type of %s: got %v, want stripe.paid", tt.types[i], ev.Type())
				d := paidData(t, ev.Data())
				require.Equal(t, tt.want, d["payment_id"], "payment_id of %s: got %v, want %v", tt.types[i], d["payment_id"], tt.want)
			}
		})
	}
}

// TestStripeInvoiceOfNothingPaid: an invoice of nothing paid (a trial's, from API
// 2025-03-31.basil on) was paid by no PaymentIntent, so the Stripe API (here
// unreachable) is not asked and the payment is keyed by the invoice.
func TestStripeInvoiceOfNothingPaid(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}, StripeAPIKey: "sk_test_123", StripeAPIBase: closedBase(t)})
	f := loadStripeFixture(t, apiBasil, "subscription", "invoice.paid")
	var ev map[string]any
	require.NoError(t, json.Unmarshal(f.body, &ev))
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	obj["amount_due"], obj["amount_paid"], obj["total"], obj["subtotal"] = 0, 0, 0, 0
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	requireStatus(t, http.StatusAccepted, w.post("/webhooks/stripe", signStripe(body, stripeSecret, time.Now()), body))
	got := w.stored()
	require.Len(t, got, 1)
	d := paidData(t, got[0].Data())
	require.Equal(t, obj["id"], d["payment_id"], "payment_id: got %v, want the invoice id %v", d["payment_id"], obj["id"])
}

// TestStripeLookupRefusals: when the ingress cannot ask Stripe which PaymentIntent paid
// an invoice, it answers 503 naming what to fix and publishes nothing, so Stripe
// retries the event; the retry, once Stripe can be asked, is stored keyed by the
// PaymentIntent. Keying it by the invoice instead would make a second workflow.
func TestStripeLookupRefusals(t *testing.T) {
	intent := stripeMockIntent(t)
	tests := []struct {
		name      string
		key, base string
		wantError string
	}{
		{name: "no API key", base: testenv.StripeMock(t), wantError: "set STRIPE_API_KEY"},
		{name: "Stripe unreachable", key: "sk_test_123", base: closedBase(t), wantError: "could not be reached (STRIPE_API_BASE)"},
		// stripe-mock takes test keys only.
		{name: "key refused", key: "sk_live_refused", base: testenv.StripeMock(t), wantError: "refused the bridge's STRIPE_API_KEY (401)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testenv.StartNATS(t)
			require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 2*time.Minute))
			broken := newWorldOn(t, n, n.JS, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}, StripeAPIKey: tt.key, StripeAPIBase: tt.base})
			f := loadStripeFixture(t, apiBasil, "subscription", "invoice.paid")

			res := broken.postFixture(f)
			requireStatus(t, http.StatusServiceUnavailable, res)
			require.Contains(t, res.Body["error"], tt.wantError, "error: got %v", res.Body["error"])
			require.Contains(t, res.Body["error"], "Stripe retries")
			require.Equal(t, f.id, res.Body["id"], "id: got %v, want the Stripe event id %v", res.Body["id"], f.id)
			require.NotContains(t, res.Raw, "sk_live", "an answer never carries the key")
			broken.requireNothingStored(res)

			fixed := newWorldOn(t, n, n.JS, withStripeMock(t))
			requireStatus(t, http.StatusAccepted, fixed.postFixture(f))
			got := fixed.stored()
			require.Len(t, got, 1)
			d := paidData(t, got[0].Data())
			require.Equal(t, intent, d["payment_id"], "payment_id of the retry: got %v, want %v", d["payment_id"], intent)
		})
	}
}
