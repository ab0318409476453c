package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
)

func TestMigrationsApplyOnce(t *testing.T) {
	st, url := openStore(t)
	again, err := store.Open(context.Background(), url)
	require.NoError(t, err, "opening a migrated schema again")
	again.Close()
	got := count(t, st, "SELECT count(*) FROM flowbridge_schema_migrations WHERE name = '0002_payments.sql'")
	require.Equal(t, 1, got, "got %v rows for 0002, want 1", got)
}

func TestRecordPayment(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	tn := billedTenant(t, st, "u1", "cus_1")
	p := store.Payment{
		ID: "pi_1", TenantID: tn.ID, CustomerID: "cus_1", Amount: 4900, Currency: "eur", EventID: "evt-1",
		LineItems: []contract.LineItem{{Description: "Seat", Amount: 4000, Quantity: 2}, {Description: "Support", Amount: 900, Quantity: 1}},
	}

	got, created, err := st.RecordPayment(ctx, p)
	require.NoError(t, err)
	require.True(t, created, "first RecordPayment: got created false, want true")
	require.False(t, got.RecordedAt.IsZero(), "RecordedAt not filled in")
	want := p
	want.RecordedAt = got.RecordedAt
	require.Equal(t, want, got)

	// A second recording (a retried activity, or another event for the same payment) keeps
	// the first.
	other := p
	other.Amount, other.EventID, other.LineItems = 1, "evt-2", nil
	again, created, err := st.RecordPayment(ctx, other)
	require.NoError(t, err)
	require.False(t, created, "second RecordPayment: got created true, want false")
	require.Equal(t, want, again)

	byID, err := st.PaymentByID(ctx, "pi_1")
	require.NoError(t, err)
	require.Equal(t, want, byID)
	require.Equal(t, 1, count(t, st, "SELECT count(*) FROM payments"))
}

func TestRecordPaymentWithoutLineItems(t *testing.T) {
	st, _ := openStore(t)
	tn := billedTenant(t, st, "u1", "cus_1")
	got, _, err := st.RecordPayment(context.Background(), store.Payment{ID: "pi_1", TenantID: tn.ID, CustomerID: "cus_1", Amount: 500, Currency: "jpy", EventID: "evt-1"})
	require.NoError(t, err)
	require.Empty(t, got.LineItems)
	require.Equal(t, `[]`, func() string {
		var s string
		require.NoError(t, st.Pool().QueryRow(context.Background(), "SELECT line_items::text FROM payments").Scan(&s))
		return s
	}())
}

func TestRecordPaymentErrors(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	tn := billedTenant(t, st, "u1", "cus_1")
	tests := []struct {
		name string
		p    store.Payment
	}{
		{name: "unknown tenant", p: store.Payment{ID: "pi_x", TenantID: "00000000-0000-0000-0000-000000000000", CustomerID: "cus_1", Currency: "eur", EventID: "e"}},
		{name: "negative amount", p: store.Payment{ID: "pi_y", TenantID: tn.ID, CustomerID: "cus_1", Amount: -1, Currency: "eur", EventID: "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := st.RecordPayment(ctx, tt.p)
			require.ErrorContains(t, err, "record payment "+tt.p.ID)
		})
	}
	_, err := st.PaymentByID(ctx, "pi_nothing")
	require.True(t, errors.Is(err, store.ErrNotFound), "got %v, want ErrNotFound", err)
}

// Concurrent recordings of one payment (two workers racing after a lost heartbeat) store
// one row, and exactly one of them reports creating it.
func TestRecordPaymentConcurrently(t *testing.T) {
	st, _ := openStore(t)
	tn := billedTenant(t, st, "u1", "cus_1")
	const n = 8
	var wg sync.WaitGroup
	results := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, results[i], errs[i] = st.RecordPayment(context.Background(), store.Payment{ID: "pi_1", TenantID: tn.ID, CustomerID: "cus_1", Amount: 100, Currency: "usd", EventID: "evt-1"})
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		require.NoError(t, errs[i])
		if results[i] {
			created++
		}
	}
	require.Equal(t, 1, created, "got %v callers creating the row, want 1", created)
	require.Equal(t, 1, count(t, st, "SELECT count(*) FROM payments"))
}
