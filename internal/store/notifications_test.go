package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
)

func TestDeleteNotificationsBefore(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	tn := billedTenant(t, st, "u-notified", "")
	cutoff := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	old, recent := cutoff.Add(-48*time.Hour), cutoff.Add(time.Hour)
	tests := []struct {
		key        string
		created    time.Time
		read       *time.Time
		wantDelete bool
	}{
		{key: "read-long-ago", created: old, read: &old, wantDelete: true},
		{key: "unread-old", created: old, wantDelete: true},
		{key: "old-but-read-recently", created: old, read: &recent},
		{key: "unread-recent", created: recent},
		{key: "read-recent", created: recent, read: &recent},
		{key: "unread-at-cutoff", created: cutoff},
	}
	for _, tt := range tests {
		mustExec(t, st, `INSERT INTO notifications (key, tenant_id, kind, title, body, created_at, read_at)
			VALUES ($1, $2, 'k', 't', 'b', $3, $4)`, tt.key, tn.ID, tt.created, tt.read)
	}

	n, err := st.DeleteNotificationsBefore(ctx, cutoff, 1)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "one batch of one")
	n, err = st.DeleteNotificationsBefore(ctx, cutoff, 100)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the rest")

	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			left := count(t, st, "SELECT count(*) FROM notifications WHERE key = $1", tt.key)
			want := 1
			if tt.wantDelete {
				want = 0
			}
			require.Equal(t, want, left, "got %v rows, want %v", left, want)
		})
	}
}

func TestAddNotification(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	tn := billedTenant(t, st, "u1", "cus_1")
	n := store.Notification{Key: "payment/pi_1/processed", TenantID: tn.ID, Kind: "payment.received", Title: "Payment received", Body: "Thanks"}

	got, created, err := st.AddNotification(ctx, n)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEmpty(t, got.ID)
	require.False(t, got.CreatedAt.IsZero())
	want := n
	want.ID, want.CreatedAt = got.ID, got.CreatedAt
	require.Equal(t, want, got)

	other := n
	other.Title = "Something else"
	again, created, err := st.AddNotification(ctx, other)
	require.NoError(t, err)
	require.False(t, created, "second AddNotification: got created true, want false")
	require.Equal(t, want, again)
	require.Equal(t, 1, count(t, st, "SELECT count(*) FROM notifications WHERE tenant_id = $1", tn.ID))

	_, _, err = st.AddNotification(ctx, store.Notification{Key: "k2", TenantID: "00000000-0000-0000-0000-000000000000", Kind: "x", Title: "x", Body: "x"})
	require.ErrorContains(t, err, "add notification k2")
}
