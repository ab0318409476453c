package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
)

func TestExport(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	billedTenant(t, st, "u-1", "cus_1")
	billedTenant(t, st, "u-2", "")
	mustExec(t, st, `INSERT INTO sent_emails (key, recipient, subject) VALUES ('k1', 'a@example.com', 'Hello, "you"')`)

	csvs := map[string][]byte{}
	rows := map[string]int64{}
	var order []string
	err := st.Export(ctx, func(table string, copyTo store.CopyFunc) error {
		if len(order) == 0 {
			// Written after the snapshot was taken: no table may show it.
			mustExec(t, st, `INSERT INTO sent_emails (key, recipient, subject) VALUES ('late', 'b@example.com', 's')`)
		}
		order = append(order, table)
		var buf bytes.Buffer
		n, err := copyTo(&buf)
		if err != nil {
			return err
		}
		csvs[table], rows[table] = buf.Bytes(), n
		return nil
	})
	require.NoError(t, err)

	for _, want := range []string{"deploys", "ledger_attempts", "ledger_events", "notifications", "payments", "flowbridge_schema_migrations", "sent_emails", "tenants"} {
		require.Contains(t, order, want, "tables exported")
	}
	require.IsIncreasing(t, order, "tables in name order")
	require.Equal(t, int64(2), rows["tenants"])
	require.Equal(t, int64(1), rows["sent_emails"], "the row written after the snapshot is not in it")
	require.Equal(t, int64(0), rows["payments"])

	recs, err := csv.NewReader(bytes.NewReader(csvs["sent_emails"])).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"key", "recipient", "subject", "sent_at"}, recs[0], "header row")
	require.Len(t, recs, 2)
	require.Equal(t, []string{"k1", "a@example.com", `Hello, "you"`}, recs[1][:3])
	recs, err = csv.NewReader(bytes.NewReader(csvs["payments"])).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1, "an empty table still has its header")

	stop := errors.New("stop")
	calls := 0
	err = st.Export(ctx, func(string, store.CopyFunc) error { calls++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, calls, "Export stops at the first error")
}
