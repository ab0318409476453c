package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/stripe/stripe-go/v85"
)

// stripeLookupTimeout bounds the Stripe API calls of one webhook request, retries
// included, so that Stripe's delivery does not time out first.
const stripeLookupTimeout = 10 * time.Second

// stripeAPI asks Stripe which PaymentIntent paid an invoice. Since API 2025-03-31.basil
// an invoice no longer names its PaymentIntent (nor a PaymentIntent its invoice); the
// link is an InvoicePayment. stripe-go sends its own pinned API version, so the answer
// has the same shape whatever version the webhook endpoint is on.
type stripeAPI struct {
	client *stripe.Client
}

// newStripeAPI returns a client of the Stripe API at base (https://api.stripe.com when
// empty) authenticated with key.
func newStripeAPI(key, base string) (*stripeAPI, error) {
	if base == "" {
		base = stripe.APIURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ingress: Stripe API base %q is not an http(s) URL: check STRIPE_API_BASE", base)
	}
	retries := int64(1)
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(base),
		MaxNetworkRetries: &retries,
		// Failures are answered and logged by the ingress, with the event they concern.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &stripeAPI{client: stripe.NewClient(key, stripe.WithBackends(backends))}, nil
}

// invoicePaymentIntent returns the id of the PaymentIntent that paid invoice, or ""
// when none did: paid out of band, from the customer's credit balance, or with nothing
// to pay. An error means Stripe could not be asked, or refused: it is a
// *stripeLookupError.
func (s *stripeAPI) invoicePaymentIntent(ctx context.Context, invoice string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stripeLookupTimeout)
	defer cancel()
	params := &stripe.InvoicePaymentListParams{Invoice: stripe.String(invoice), Status: stripe.String("paid")}
	// Expanded, the PaymentIntent is there however the payment is rendered (stripe-mock
	// leaves the unexpanded id out).
	params.AddExpand("data.payment.payment_intent")
	var paid []stripeInvoicePayment
	for ip, err := range s.client.V1InvoicePayments.List(ctx, params).All(ctx) {
		if err != nil {
			return "", &stripeLookupError{invoice: invoice, err: err}
		}
		p := stripeInvoicePayment{Status: "paid", IsDefault: ip.IsDefault} // listed as paid
		if ip.Payment != nil {
			p.Payment.Type = string(ip.Payment.Type)
			if ip.Payment.PaymentIntent != nil {
				p.Payment.PaymentIntent = stripeRef(ip.Payment.PaymentIntent.ID)
			}
		}
		paid = append(paid, p)
	}
	return paidBy(paid), nil
}

// stripeInvoicePayment is the part of an InvoicePayment (API 2025-03-31.basil on) that
// says which PaymentIntent paid an invoice.
type stripeInvoicePayment struct {
	Status    string `json:"status"`
	IsDefault bool   `json:"is_default"`
	Payment   struct {
		Type          string    `json:"type"`
		PaymentIntent stripeRef `json:"payment_intent"`
	} `json:"payment"`
}

// paidBy returns the PaymentIntent of the paid payments of an invoice: the default
// one's (the PaymentIntent the invoice made when it was finalized) if it paid, else the
// first listed (the newest). It returns "" when no PaymentIntent paid the invoice.
func paidBy(payments []stripeInvoicePayment) string {
	var first string
	for _, p := range payments {
		if p.Status != "paid" || p.Payment.Type != "payment_intent" || p.Payment.PaymentIntent == "" {
			continue
		}
		if p.IsDefault {
			return string(p.Payment.PaymentIntent)
		}
		if first == "" {
			first = string(p.Payment.PaymentIntent)
		}
	}
	return first
}

// stripeLookupError is a failed question to the Stripe API. Its Error is for the logs;
// reason is for the answer to Stripe, which the operator sees in Stripe's dashboard and
// which says what to do. Neither holds the API key.
type stripeLookupError struct {
	invoice string
	err     error
}

func (e *stripeLookupError) Error() string {
	msg := "ask Stripe which PaymentIntent paid invoice " + e.invoice + ": "
	var se *stripe.Error
	if !errors.As(e.err, &se) {
		return msg + e.err.Error()
	}
	msg += fmt.Sprintf("Stripe answered %d %s", se.HTTPStatusCode, se.Type)
	if se.Code != "" {
		msg += " " + string(se.Code)
	}
	if se.RequestID != "" {
		msg += ", request " + se.RequestID
	}
	// The message of a refused key quotes the key, or part of it.
	if se.HTTPStatusCode != http.StatusUnauthorized && se.HTTPStatusCode != http.StatusForbidden && se.Msg != "" {
		msg += ": " + se.Msg
	}
	return msg
}

func (e *stripeLookupError) Unwrap() error { return e.err }

func (e *stripeLookupError) reason() string {
	var se *stripe.Error
	if !errors.As(e.err, &se) {
		// No answer from Stripe: a network failure or the lookup's time ran out.
		return "the Stripe API did not answer in time or could not be reached (STRIPE_API_BASE)"
	}
	switch se.HTTPStatusCode {
	case http.StatusUnauthorized:
		return "the Stripe API refused the bridge's STRIPE_API_KEY (401): set a valid secret or restricted key"
	case http.StatusForbidden:
		return "the bridge's STRIPE_API_KEY may not read invoice payments (403): allow the restricted key to read invoices"
	case http.StatusNotFound:
		return "the Stripe API does not know the invoice (404): STRIPE_API_KEY must belong to the webhook's account and mode (test or live)"
	case http.StatusTooManyRequests:
		return "the Stripe API is rate limiting the bridge (429)"
	default:
		return fmt.Sprintf("the Stripe API answered %d", se.HTTPStatusCode)
	}
}
