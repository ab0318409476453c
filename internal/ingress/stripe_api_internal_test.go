package ingress

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v85"
)

// TestPaidBy: which of an invoice's payments is the PaymentIntent that paid it. The
// Stripe API answers with paid payments only; an invoice paid out of band lists a
// payment record, or nothing, and is keyed by its own id.
func TestPaidBy(t *testing.T) {
	pay := func(status, typ, intent string, isDefault bool) stripeInvoicePayment {
		p := stripeInvoicePayment{Status: status, IsDefault: isDefault}
		p.Payment.Type, p.Payment.PaymentIntent = typ, stripeRef(intent)
		return p
	}
	tests := []struct {
		name     string
		payments []stripeInvoicePayment
		want     string
	}{
		{name: "none", want: ""},
		{name: "out of band: a payment record", payments: []stripeInvoicePayment{pay("paid", "payment_record", "", false)}, want: ""},
		{name: "paid by a charge without a PaymentIntent", payments: []stripeInvoicePayment{pay("paid", "charge", "", true)}, want: ""},
		{name: "the default payment", payments: []stripeInvoicePayment{pay("paid", "payment_intent", "pi_partial", false), pay("paid", "payment_intent", "pi_default", true)}, want: "pi_default"},
		{name: "else the first listed (the newest)", payments: []stripeInvoicePayment{pay("paid", "payment_intent", "pi_new", false), pay("paid", "payment_intent", "pi_old", false)}, want: "pi_new"},
		{name: "an open or canceled payment did not pay", payments: []stripeInvoicePayment{pay("open", "payment_intent", "pi_open", true), pay("canceled", "payment_intent", "pi_canceled", false)}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := paidBy(tt.payments); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStripeLookupErrorHoldsNoKey: Stripe's message for a refused key quotes it (stripe-mock
// quotes the whole Authorization header), so it is kept out of the logged error.
func TestStripeLookupErrorHoldsNoKey(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		err := &stripeLookupError{invoice: "in_1", err: &stripe.Error{HTTPStatusCode: status, Type: stripe.ErrorTypeInvalidRequest,
			Msg: "Invalid API Key provided: Authorization was 'Bearer sk_live_secret'", RequestID: "req_1"}}
		for _, text := range []string{err.Error(), err.reason()} {
			if strings.Contains(text, "sk_live_secret") {
				t.Errorf("%d: %q carries the key", status, text)
			}
		}
		if !strings.Contains(err.Error(), "in_1") || !strings.Contains(err.Error(), "req_1") {
			t.Errorf("%d: got %q, want the invoice and Stripe's request id", status, err.Error())
		}
	}
	notFound := &stripeLookupError{invoice: "in_2", err: &stripe.Error{HTTPStatusCode: http.StatusNotFound, Msg: "No such invoice: 'in_2'"}}
	if !strings.Contains(notFound.Error(), "No such invoice") {
		t.Errorf("got %q, want Stripe's message", notFound.Error())
	}
	if !errors.Is(notFound, notFound.err) {
		t.Errorf("the Stripe error does not unwrap")
	}
}
