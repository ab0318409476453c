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
