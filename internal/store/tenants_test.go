package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
)

// billedTenant creates the tenant of user with Stripe customer customerID.
func billedTenant(t *testing.T, st *store.Store, user, customerID string) store.Tenant {
	t.Helper()
	ctx := context.Background()
	tn, err := st.EnsureTenant(ctx, user, user+"@example.com")
	require.NoError(t, err)
	if customerID != "" {
		_, err = st.SetStripeCustomer(ctx, tn.ID, customerID)
		require.NoError(t, err)
		tn.StripeCustomerID = customerID
	}
	return tn
}

func TestTenantByStripeCustomer(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	billed := billedTenant(t, st, "u-billed", "cus_billed")
	billedTenant(t, st, "u-unbilled", "")
	first := billedTenant(t, st, "u-first", "cus_shared")
	billedTenant(t, st, "u-second", "cus_shared")
	// now() can repeat across quick transactions; make the order certain.
	_, err := st.Pool().Exec(ctx, "UPDATE tenants SET created_at = created_at + interval '1 second' WHERE owner_user_id = 'u-second'")
	require.NoError(t, err)

	tests := []struct {
		name     string
		customer string
		want     store.Tenant
		wantErr  error
	}{
		{name: "billed tenant", customer: "cus_billed", want: billed},
		{name: "unknown customer", customer: "cus_nobody", wantErr: store.ErrNotFound},
		{name: "empty customer does not match a tenant without one", customer: "", wantErr: store.ErrNotFound},
		{name: "shared customer: the oldest tenant", customer: "cus_shared", want: first},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.TenantByStripeCustomer(ctx, tt.customer)
			if tt.wantErr != nil {
				require.True(t, errors.Is(err, tt.wantErr), "got %v, want %v", err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}
