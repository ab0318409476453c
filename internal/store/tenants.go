package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Tenant is a row of tenants.
type Tenant struct {
	ID               string
	OwnerUserID      string
	OwnerEmail       string
	StripeCustomerID string // empty until billing is set up
}

// EnsureTenant returns the tenant owned by userID, creating it on first call. Calling it
// again with the same userID returns the same tenant.
func (s *Store) EnsureTenant(ctx context.Context, userID, email string) (Tenant, error) {
	var t Tenant
	err := s.pool.QueryRow(ctx, `
		INSERT INTO tenants (owner_user_id, owner_email) VALUES ($1, $2)
		ON CONFLICT (owner_user_id) DO UPDATE SET owner_user_id = EXCLUDED.owner_user_id
		RETURNING id::text, owner_user_id, owner_email, coalesce(stripe_customer_id, '')`,
		userID, email).Scan(&t.ID, &t.OwnerUserID, &t.OwnerEmail, &t.StripeCustomerID)
	if err != nil {
		return Tenant{}, fmt.Errorf("ensure tenant for user %s: %w", userID, err)
	}
	return t, nil
}

// TenantByID returns the tenant with id, or ErrNotFound.
func (s *Store) TenantByID(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	err := s.pool.QueryRow(ctx, `
		SELECT id::text, owner_user_id, owner_email, coalesce(stripe_customer_id, '')
		FROM tenants WHERE id = $1`, id).Scan(&t.ID, &t.OwnerUserID, &t.OwnerEmail, &t.StripeCustomerID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("tenant %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("tenant %s: %w", id, err)
	}
	return t, nil
}

// SetStripeCustomer records the tenant's Stripe customer. A tenant keeps the first
// customer recorded; the one stored is returned.
func (s *Store) SetStripeCustomer(ctx context.Context, tenantID, customerID string) (string, error) {
	var stored string
	err := s.pool.QueryRow(ctx, `
		UPDATE tenants SET stripe_customer_id = coalesce(stripe_customer_id, $2)
		WHERE id = $1 RETURNING stripe_customer_id`, tenantID, customerID).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("set Stripe customer of tenant %s: %w", tenantID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("set Stripe customer of tenant %s: %w", tenantID, err)
	}
	return stored, nil
}

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
