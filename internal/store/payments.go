package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// TenantByStripeCustomer returns the tenant whose Stripe customer is customerID, or
// ErrNotFound. Should two tenants ever share a customer, the oldest is returned.
func (s *Store) TenantByStripeCustomer(ctx context.Context, customerID string) (Tenant, error) {
	var t Tenant
	err := s.pool.QueryRow(ctx, `
		SELECT id::text, owner_user_id, owner_email, stripe_customer_id
		FROM tenants WHERE stripe_customer_id = $1
		ORDER BY created_at, id LIMIT 1`, customerID).Scan(&t.ID, &t.OwnerUserID, &t.OwnerEmail, &t.StripeCustomerID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("tenant of Stripe customer %s: %w", customerID, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("tenant of Stripe customer %s: %w", customerID, err)
	}
	return t, nil
}

// Payment is a row of payments.
type Payment struct {
	ID         string // Stripe's payment id
	TenantID   string
	CustomerID string
	Amount     int64  // in the currency's minor unit
	Currency   string // ISO 4217, lower case
	LineItems  []contract.LineItem
	EventID    string // the event that carried the payment
	RecordedAt time.Time
}

const paymentColumns = `payment_id, tenant_id::text, customer_id, amount, currency, line_items, event_id, recorded_at`

func scanPayment(row pgx.Row) (Payment, error) {
	var p Payment
	var items []byte
	if err := row.Scan(&p.ID, &p.TenantID, &p.CustomerID, &p.Amount, &p.Currency, &items, &p.EventID, &p.RecordedAt); err != nil {
		return Payment{}, err
	}
	if err := json.Unmarshal(items, &p.LineItems); err != nil {
		return Payment{}, fmt.Errorf("decode line items: %w", err)
	}
	return p, nil
}

// RecordPayment stores p, unless a payment with p.ID is already stored. It returns the
// stored payment (the first one recorded wins, RecordedAt filled in) and whether this call
// created it.
func (s *Store) RecordPayment(ctx context.Context, p Payment) (Payment, bool, error) {
	items := p.LineItems
	if items == nil {
		items = []contract.LineItem{}
	}
	itemsJSON, err := json.Marshal(items)
	if err != nil {
		return Payment{}, false, fmt.Errorf("record payment %s: encode line items: %w", p.ID, err)
	}
	stored, err := scanPayment(s.pool.QueryRow(ctx, `
		INSERT INTO payments (payment_id, tenant_id, customer_id, amount, currency, line_items, event_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (payment_id) DO NOTHING
		RETURNING `+paymentColumns,
		p.ID, p.TenantID, p.CustomerID, p.Amount, p.Currency, itemsJSON, p.EventID))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, false, fmt.Errorf("record payment %s: %w", p.ID, err)
	}
	// Already recorded. This is a new statement, so it sees the row even when it was
	// committed by a concurrent call after the INSERT's snapshot was taken.
	stored, err = s.PaymentByID(ctx, p.ID)
	if err != nil {
		return Payment{}, false, fmt.Errorf("record payment %s: %w", p.ID, err)
	}
	return stored, false, nil
}

// PaymentByID returns the payment with Stripe payment id id, or ErrNotFound.
func (s *Store) PaymentByID(ctx context.Context, id string) (Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payment_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("payment %s: %w", id, err)
	}
	return p, nil
}

// Notification is a row of notifications: a message shown to a tenant's users in the app.
type Notification struct {
	ID        string
	Key       string // unique per fact, so adding it again is harmless
	TenantID  string
	Kind      string
	Title     string
	Body      string
	CreatedAt time.Time
}

const notificationColumns = `id::text, key, tenant_id::text, kind, title, body, created_at`

func scanNotification(row pgx.Row) (Notification, error) {
	var n Notification
	err := row.Scan(&n.ID, &n.Key, &n.TenantID, &n.Kind, &n.Title, &n.Body, &n.CreatedAt)
	return n, err
}

// AddNotification stores n unless a notification with n.Key is already stored. It
// returns the stored notification (ID and CreatedAt filled in) and whether this call
// created it.
func (s *Store) AddNotification(ctx context.Context, n Notification) (Notification, bool, error) {
	stored, err := scanNotification(s.pool.QueryRow(ctx, `
		INSERT INTO notifications (key, tenant_id, kind, title, body) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (key) DO NOTHING
		RETURNING `+notificationColumns, n.Key, n.TenantID, n.Kind, n.Title, n.Body))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, false, fmt.Errorf("add notification %s: %w", n.Key, err)
	}
	stored, err = scanNotification(s.pool.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE key = $1`, n.Key))
	if err != nil {
		return Notification{}, false, fmt.Errorf("add notification %s: read the stored one: %w", n.Key, err)
	}
	return stored, false, nil
}
