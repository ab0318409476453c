package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDeleteSentEmailsBefore(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	cutoff := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		mustExec(t, st, `INSERT INTO sent_emails (key, recipient, subject, sent_at) VALUES ($1, 'a@example.com', 's', $2)`,
			fmt.Sprintf("old-%d", i), cutoff.Add(-time.Duration(i+1)*time.Hour))
	}
	mustExec(t, st, `INSERT INTO sent_emails (key, recipient, subject, sent_at) VALUES ('at-cutoff', 'a@example.com', 's', $1)`, cutoff)
	mustExec(t, st, `INSERT INTO sent_emails (key, recipient, subject, sent_at) VALUES ('new', 'a@example.com', 's', $1)`, cutoff.Add(time.Hour))

	// Batches of two: 2, 2, 1, then nothing.
	var got []int64
	for range 4 {
		n, err := st.DeleteSentEmailsBefore(ctx, cutoff, 2)
		require.NoError(t, err)
		got = append(got, n)
	}
	require.Equal(t, []int64{2, 2, 1, 0}, got, "got %v, want %v", got, []int64{2, 2, 1, 0})
	require.Equal(t, 2, count(t, st, "SELECT count(*) FROM sent_emails WHERE key IN ('at-cutoff', 'new')"))
	require.Equal(t, 2, count(t, st, "SELECT count(*) FROM sent_emails"))

	_, err := st.DeleteSentEmailsBefore(ctx, cutoff, 0)
	require.ErrorContains(t, err, "limit 0 must be positive")
}

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

func TestRunningDeploys(t *testing.T) {
	st, _ := openStore(t)
	for _, d := range []struct{ id, status string }{{"deploy-b", "running"}, {"deploy-a", "running"}, {"deploy-c", "succeeded"}, {"deploy-d", "failed"}} {
		mustExec(t, st, `INSERT INTO deploys (workflow_id, repository, ref, commit_sha, status) VALUES ($1, 'acme/app', 'main', 'abc', $2)`, d.id, d.status)
	}
	got, err := st.RunningDeploys(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"deploy-a", "deploy-b"}, got)
}
