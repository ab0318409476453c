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
