package contract

// StripePaid is the data of stripe.paid: one paid Stripe payment, keyed by its
// PaymentIntent (docs/ARCHITECTURE.md, "One Stripe payment, one workflow").
type StripePaid struct {
	PaymentID string `json:"payment_id"`
	// CustomerID is omitted when Stripe named none, so the schema names it as missing.
	CustomerID string     `json:"customer_id,omitempty"`
	Amount     int64      `json:"amount"`   // minor unit
	Currency   string     `json:"currency"` // ISO 4217, lower case
	Email      string     `json:"email,omitempty"`
	LineItems  []LineItem `json:"line_items,omitempty"`
}

// LineItem is one line of a payment, as Stripe reports it. Amount is the line's total
// (Stripe's convention), in the currency's minor unit.
type LineItem struct {
	Description string `json:"description,omitempty"`
	Amount      int64  `json:"amount"`
	Quantity    int64  `json:"quantity,omitempty"`
}

// PaymentRecorded is the data of payment.recorded.
type PaymentRecorded struct {
	PaymentID  string `json:"payment_id"`
	TenantID   string `json:"tenant_id"`
	CustomerID string `json:"customer_id"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
}

// InvoiceSent is the data of invoice.sent.
type InvoiceSent struct {
	PaymentID string `json:"payment_id"`
	TenantID  string `json:"tenant_id"`
	Email     string `json:"email"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
}

// PaymentProcessed is the data of payment.processed.
type PaymentProcessed struct {
	PaymentID      string `json:"payment_id"`
	TenantID       string `json:"tenant_id"`
	NotificationID string `json:"notification_id"`
}
