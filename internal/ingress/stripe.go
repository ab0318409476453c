package ingress

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/flowbridge/flowbridge/internal/contract"
)

const (
	stripeSource    = "/stripe"
	stripeTolerance = 5 * time.Minute
)

// stripeEvent is the part of a Stripe event the bridge reads. It is decoded by hand,
// not as stripe.Event, so that an endpoint on another API version than stripe-go's
// still works.
type stripeEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// stripe serves POST /webhooks/stripe: it verifies Stripe-Signature and publishes the
// event as stripe.paid (a successful payment) or stripe.<type>, with the Stripe event id
// as the CloudEvent id so that Stripe's retries are dropped as duplicates.
func (in *Ingest) stripe(r *http.Request) answer {
	if len(in.cfg.StripeSecrets) == 0 {
		return refusef(http.StatusServiceUnavailable, "the Stripe webhook is not configured: set STRIPE_WEBHOOK_SECRET")
	}
	body, fail := readBody(r)
	if fail != nil {
		return *fail
	}
	if err := verifyStripe(body, r.Header.Get("Stripe-Signature"), in.cfg.StripeSecrets, time.Now()); err != nil {
		return refuse(http.StatusUnauthorized, failure{Error: err.Error()})
	}
	var se stripeEvent
	if err := json.Unmarshal(body, &se); err != nil {
		return refusef(http.StatusBadRequest, "Stripe event is not JSON: %v", err)
	}
	if se.ID == "" || se.Type == "" || len(se.Data.Object) == 0 {
		return refusef(http.StatusBadRequest, "Stripe event lacks id, type or data.object: configure the endpoint for snapshot events (thin events are not supported)")
	}
	when := in.cfg.Now()
	if se.Created > 0 {
		when = time.Unix(se.Created, 0)
	}
	typ, data := contract.TypePrefixStripe+se.Type, []byte(se.Data.Object)
	paid, lookupInvoice, ok, err := stripePayment(se.Type, se.Data.Object)
	if err != nil {
		return refuse(http.StatusBadRequest, failure{Error: "Stripe " + se.Type + " " + se.ID + ": data.object: " + err.Error(), ID: se.ID})
	}
	if ok {
		typ = contract.TypeStripePaid
		data, _ = json.Marshal(paid) // cannot fail: strings and numbers
	}
	ev := newEvent(se.ID, typ, stripeSource, when, data)
	if f := in.check(ev); f != nil {
		return refuse(http.StatusBadRequest, *f)
	}
	// Only an event that will be published is worth a question to Stripe.
	if ok && lookupInvoice != "" {
		intent, fail := in.invoicePaymentIntent(r.Context(), se.ID, lookupInvoice)
		if fail != nil {
			return *fail
		}
		if intent != "" {
			paid.PaymentID = intent
			ev.DataEncoded, _ = json.Marshal(paid)
			if f := in.check(ev); f != nil { // the id came from Stripe's answer
				return refuse(http.StatusBadRequest, *f)
			}
		}
	}
	return in.store(r.Context(), ev)
}

// invoicePaymentIntent asks Stripe which PaymentIntent paid invoice, for the Stripe
// event eventID. It answers 503 when it cannot tell, so that Stripe retries the event:
// keying the payment by the invoice instead would start a second workflow for it.
func (in *Ingest) invoicePaymentIntent(ctx context.Context, eventID, invoice string) (string, *answer) {
	if in.stripeAPI == nil {
		a := refuse(http.StatusServiceUnavailable, failure{ID: eventID, Error: "cannot tell which PaymentIntent paid invoice " + invoice +
			": the bridge has no Stripe API key; set STRIPE_API_KEY (Stripe retries this event)"})
		return "", &a
	}
	intent, err := in.stripeAPI.invoicePaymentIntent(ctx, invoice)
	if err != nil {
		var le *stripeLookupError
		reason := "the Stripe API failed"
		if errors.As(err, &le) {
			reason = le.reason()
		}
		a := refuse(http.StatusServiceUnavailable, failure{ID: eventID, Error: "cannot tell which PaymentIntent paid invoice " + invoice +
			": " + reason + " (Stripe retries this event)"})
		a.cause = err
		return "", &a
	}
	return intent, nil
}

// verifyStripe accepts the payload when any v1 signature in header is the HMAC-SHA256
// of "t.payload" under any of secrets, and t lies within stripeTolerance of now, before
// or after: a timestamp from the future is refused like a stale one, so a signature
// cannot be made to live longer than the tolerance. Signatures are compared in constant
// time.
func verifyStripe(payload []byte, header string, secrets []string, now time.Time) error {
	signed, sigs, err := parseStripeSignature(header)
	if err != nil {
		return err
	}
	if !stripeSigned(payload, signed, sigs, secrets) {
		return errors.New("no Stripe-Signature v1 signature matches a configured secret: check STRIPE_WEBHOOK_SECRET against the endpoint's signing secret")
	}
	switch age := now.Sub(signed); {
	case age > stripeTolerance:
		return fmt.Errorf("Stripe-Signature timestamp %s is more than %v old: a replay, or the clock of this host is off", signed.UTC().Format(time.RFC3339), stripeTolerance)
	case age < -stripeTolerance:
		return fmt.Errorf("Stripe-Signature timestamp %s is more than %v in the future: a forged or replayed signature, or the clock of this host is off", signed.UTC().Format(time.RFC3339), stripeTolerance)
	}
	return nil
}

// parseStripeSignature reads "t=<unix time>,v1=<hex>[,v1=<hex>...]". Other schemes
// (v0) and unknown keys are ignored, as Stripe asks; a header with no t, more than one
// t or no valid v1 is refused.
func parseStripeSignature(header string) (signed time.Time, sigs [][]byte, err error) {
	if header == "" {
		return signed, nil, errors.New("missing Stripe-Signature header")
	}
	bad := errors.New("Stripe-Signature header is not t=<unix time>,v1=<hex signature>")
	seenT := false
	for pair := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return signed, nil, bad
		}
		switch k {
		case "t":
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil || seenT {
				return signed, nil, bad
			}
			signed, seenT = time.Unix(sec, 0), true
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	if !seenT || len(sigs) == 0 {
		return signed, nil, bad
	}
	return signed, sigs, nil
}

// stripeSigned reports whether any of sigs is the signature of payload at signed under
// any of secrets (two during a secret's rotation).
func stripeSigned(payload []byte, signed time.Time, sigs [][]byte, secrets []string) bool {
	for _, secret := range secrets {
		want := webhook.ComputeSignature(signed, payload, secret)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				return true
			}
		}
	}
	return false
}

// stripeObject holds the fields stripe.paid needs from a checkout session, an invoice
// or a payment intent; each type fills its own.
type stripeObject struct {
	ID            string      `json:"id"`
	Customer      stripeRef   `json:"customer"`
	Currency      string      `json:"currency"`
	PaymentIntent stripeField `json:"payment_intent"` // checkout session; invoice before API 2025-03-31
	Invoice       stripeRef   `json:"invoice"`        // checkout session in subscription mode
	PaymentStatus string      `json:"payment_status"` // checkout session

	AmountTotal    int64 `json:"amount_total"`    // checkout session
	AmountPaid     int64 `json:"amount_paid"`     // invoice
	AmountReceived int64 `json:"amount_received"` // payment intent

	CustomerDetails struct {
		Email string `json:"email"`
	} `json:"customer_details"` // checkout session
	CustomerEmail string `json:"customer_email"` // invoice
	ReceiptEmail  string `json:"receipt_email"`  // payment intent

	Lines struct {
		Data []contract.LineItem `json:"data"`
	} `json:"lines"` // invoice
	Payments struct {
		Data []stripeInvoicePayment `json:"data"`
	} `json:"payments"` // invoice from API 2025-03-31 on, when expanded (never in a webhook)
}

// stripePayment maps the three events Stripe sends for one payment onto the same
// stripe.paid data, keyed by the PaymentIntent id, so they lead to one workflow
// (payment-<payment_id>). ok is false for any other event, and for a checkout session
// that is not paid yet: those are forwarded as stripe.<type>.
//
// Where the object does not name the PaymentIntent although one may have paid it — a
// subscription's checkout session, or an invoice from API 2025-03-31.basil on —
// lookupInvoice says which invoice's PaymentIntent to ask Stripe for; p's PaymentID then
// holds the invoice id, for when no PaymentIntent paid it. An invoice that no
// PaymentIntent paid (out of band, say) is keyed by its own id.
func stripePayment(typ string, raw json.RawMessage) (p contract.StripePaid, lookupInvoice string, ok bool, err error) {
	switch typ {
	case "checkout.session.completed", "invoice.paid", "payment_intent.succeeded":
	default:
		return p, "", false, nil
	}
	var o stripeObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return p, "", false, err
	}
	switch typ {
	case "checkout.session.completed":
		if o.PaymentStatus != "paid" {
			return p, "", false, nil
		}
		// A subscription's session names no PaymentIntent, only the invoice it paid.
		p.PaymentID = first(string(o.PaymentIntent.stripeRef), string(o.Invoice), o.ID)
		if o.PaymentIntent.stripeRef == "" && o.Invoice != "" {
			lookupInvoice = string(o.Invoice)
		}
		p.Amount, p.Email = o.AmountTotal, o.CustomerDetails.Email
	case "invoice.paid":
		p.PaymentID = first(string(o.PaymentIntent.stripeRef), paidBy(o.Payments.Data), o.ID)
		// Before API 2025-03-31 an invoice has payment_intent, null when none paid it;
		// from then on it has no such field, and a webhook never expands payments. An
		// invoice of nothing paid has no PaymentIntent whatever the version.
		if p.PaymentID == o.ID && !o.PaymentIntent.present && o.AmountPaid > 0 {
			lookupInvoice = o.ID
		}
		p.Amount, p.Email, p.LineItems = o.AmountPaid, o.CustomerEmail, o.Lines.Data
	case "payment_intent.succeeded":
		p.PaymentID = o.ID
		p.Amount, p.Email = o.AmountReceived, o.ReceiptEmail
	}
	p.CustomerID, p.Currency = string(o.Customer), o.Currency
	return p, lookupInvoice, true, nil
}

func first(ids ...string) string {
	for _, id := range ids {
		if id != "" {
			return id
		}
	}
	return ""
}

// stripeRef is a reference to another Stripe object: its id, or the object itself when
// the endpoint expands it, or null.
type stripeRef string

func (r *stripeRef) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, (*string)(r))
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*r = stripeRef(obj.ID)
	return nil
}

// stripeField is a stripeRef that remembers whether the object had the field at all:
// Stripe removes fields in new API versions, and an absent field says something that a
// null one does not.
type stripeField struct {
	stripeRef
	present bool
}

func (f *stripeField) UnmarshalJSON(b []byte) error {
	f.present = true
	return f.stripeRef.UnmarshalJSON(b)
}
