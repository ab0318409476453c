package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/store"
)

// CustomerInput asks FindTenantByStripeCustomer for the tenant of a Stripe customer.
type CustomerInput struct {
	CustomerID string `json:"customer_id"`
}

// CustomerTenant is the tenant that owns a Stripe customer.
type CustomerTenant struct {
	TenantID    string `json:"tenant_id"`
	OwnerUserID string `json:"owner_user_id"`
	OwnerEmail  string `json:"owner_email"`
}

// FindTenantByStripeCustomer returns the tenant whose stripe_customer_id is
// in.CustomerID. While there is none it fails with a retryable contract.ErrorTypeTenantNotFound
// application error: onboarding may not have reached SetupBilling yet.
func (a *Activities) FindTenantByStripeCustomer(ctx context.Context, in CustomerInput) (CustomerTenant, error) {
	t, err := a.Store.TenantByStripeCustomer(ctx, in.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		// Benign: waiting is normal, so the worker logs these attempts at debug level, not
		// as an error a minute for a day.
		return CustomerTenant{}, temporal.NewApplicationErrorWithOptions("no tenant has Stripe customer "+in.CustomerID+" yet",
			contract.ErrorTypeTenantNotFound, temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
	}
	if err != nil {
		return CustomerTenant{}, err
	}
	return CustomerTenant{TenantID: t.ID, OwnerUserID: t.OwnerUserID, OwnerEmail: t.OwnerEmail}, nil
}

// PaymentInput asks RecordPayment to store a payment.
type PaymentInput struct {
	PaymentID  string              `json:"payment_id"`
	TenantID   string              `json:"tenant_id"`
	CustomerID string              `json:"customer_id"`
	Amount     int64               `json:"amount"`   // minor unit
	Currency   string              `json:"currency"` // ISO 4217, lower case
	LineItems  []contract.LineItem `json:"line_items,omitempty"`
	Cause      Cause               `json:"cause"`
}

// RecordPayment stores the payment (once: a retry, or a second event for the same
// payment, finds the stored row, which wins) and emits payment.recorded with what is stored.
func (a *Activities) RecordPayment(ctx context.Context, in PaymentInput) error {
	p, _, err := a.Store.RecordPayment(ctx, store.Payment{
		ID: in.PaymentID, TenantID: in.TenantID, CustomerID: in.CustomerID,
		Amount: in.Amount, Currency: in.Currency, LineItems: in.LineItems, EventID: in.Cause.EventID,
	})
	if err != nil {
		return err
	}
	return a.emit(ctx, in.Cause, contract.TypePaymentRecorded, contract.PaymentRecorded{
		PaymentID: p.ID, TenantID: p.TenantID, CustomerID: p.CustomerID, Amount: p.Amount, Currency: p.Currency,
	})
}

// InvoiceInput asks SendInvoice to email the invoice of a payment.
type InvoiceInput struct {
	PaymentID string              `json:"payment_id"`
	TenantID  string              `json:"tenant_id"`
	Email     string              `json:"email"`
	Amount    int64               `json:"amount"`
	Currency  string              `json:"currency"`
	LineItems []contract.LineItem `json:"line_items,omitempty"`
	Cause     Cause               `json:"cause"`
}

// SendInvoice emails the invoice, at most once per payment, and emits invoice.sent.
func (a *Activities) SendInvoice(ctx context.Context, in InvoiceInput) error {
	if in.Email == "" {
		return temporal.NewNonRetryableApplicationError("invoice of payment "+in.PaymentID+": no recipient", contract.ErrorTypeInvalidInput, nil)
	}
	key := "payment/" + in.PaymentID + "/invoice"
	if err := a.sendEmailOnce(ctx, key, fmt.Sprintf("send invoice of payment %s to %s", in.PaymentID, in.Email), invoiceEmail(in)); err != nil {
		return err
	}
	return a.emit(ctx, in.Cause, contract.TypeInvoiceSent, contract.InvoiceSent{
		PaymentID: in.PaymentID, TenantID: in.TenantID, Email: in.Email, Amount: in.Amount, Currency: in.Currency,
	})
}

func invoiceEmail(in InvoiceInput) mail.Message {
	total := FormatAmount(in.Amount, in.Currency)
	var b strings.Builder
	b.WriteString("Hello,\n\nThank you for your payment. Here is your invoice.\n\n")
	fmt.Fprintf(&b, "Payment: %s\n\n", in.PaymentID)
	width := len(total)
	for _, li := range in.LineItems {
		width = max(width, len(FormatAmount(li.Amount, in.Currency)))
	}
	for _, li := range in.LineItems {
		line := li.Description
		if li.Quantity > 0 {
			line = strconv.FormatInt(li.Quantity, 10) + " × " + line
		}
		fmt.Fprintf(&b, "  %-40s %*s\n", line, width, FormatAmount(li.Amount, in.Currency))
	}
	if len(in.LineItems) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Total paid: %s\n", total)
	return mail.Message{To: in.Email, Subject: "Your invoice: " + total + " paid", Body: b.String()}
}

// NotifyInput asks NotifyUser to tell a tenant's users about a processed payment.
type NotifyInput struct {
	PaymentID string `json:"payment_id"`
	TenantID  string `json:"tenant_id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Cause     Cause  `json:"cause"`
}

// NotifyOutput is the notification NotifyUser added or found.
type NotifyOutput struct {
	NotificationID string `json:"notification_id"`
}

// NotificationPaymentReceived is the kind of the notification NotifyUser adds.
const NotificationPaymentReceived = "payment.received"

// NotifyUser adds the in-app notification of the payment (once per payment) and emits
// payment.processed.
func (a *Activities) NotifyUser(ctx context.Context, in NotifyInput) (NotifyOutput, error) {
	total := FormatAmount(in.Amount, in.Currency)
	n, _, err := a.Store.AddNotification(ctx, store.Notification{
		Key:      "payment/" + in.PaymentID + "/processed",
		TenantID: in.TenantID,
		Kind:     NotificationPaymentReceived,
		Title:    "Payment received: " + total,
		Body:     "We received your payment of " + total + " (" + in.PaymentID + "). The invoice is on its way to your inbox.",
	})
	if err != nil {
		return NotifyOutput{}, err
	}
	err = a.emit(ctx, in.Cause, contract.TypePaymentProcessed, contract.PaymentProcessed{PaymentID: in.PaymentID, TenantID: in.TenantID, NotificationID: n.ID})
	if err != nil {
		return NotifyOutput{}, err
	}
	return NotifyOutput{NotificationID: n.ID}, nil
}

// currencyExponents lists the currencies whose minor unit is not a hundredth of the
// major one (Stripe's zero- and three-decimal currencies). All others have two decimals.
var currencyExponents = map[string]int{
	"bif": 0, "clp": 0, "djf": 0, "gnf": 0, "jpy": 0, "kmf": 0, "krw": 0, "mga": 0,
	"pyg": 0, "rwf": 0, "ugx": 0, "vnd": 0, "vuv": 0, "xaf": 0, "xof": 0, "xpf": 0,
	"bhd": 3, "jod": 3, "kwd": 3, "omr": 3, "tnd": 3,
}

// FormatAmount renders an amount in currency's minor unit in the major unit with the
// currency's decimals and its upper-case code: 4900 eur is "49.00 EUR", 500 jpy is
// "500 JPY".
func FormatAmount(minor int64, currency string) string {
	code := strings.ToUpper(currency)
	exp, ok := currencyExponents[strings.ToLower(currency)]
	if !ok {
		exp = 2
	}
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor) // -minor overflows for MinInt64, whose uint64 is right anyway
	}
	digits := strconv.FormatUint(u, 10)
	if exp == 0 {
		return sign + digits + " " + code
	}
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-exp] + "." + digits[len(digits)-exp:] + " " + code
}
