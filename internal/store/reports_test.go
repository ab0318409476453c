package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
)

// mustExec runs a statement on st, failing the test on error.
func mustExec(t *testing.T, st *store.Store, sql string, args ...any) {
	t.Helper()
	_, err := st.Pool().Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

// seedDay fills st with rows around the UTC day of from: inside it, on its edges, and
// just outside.
func seedDay(t *testing.T, st *store.Store, from time.Time) {
	t.Helper()
	to := from.AddDate(0, 0, 1)
	in1, in2, last := from, from.Add(12*time.Hour), to.Add(-time.Microsecond)
	before, after := from.Add(-time.Microsecond), to

	for i, at := range []time.Time{in1, in2, last, before, after} {
		mustExec(t, st, `INSERT INTO tenants (owner_user_id, owner_email, created_at) VALUES ($1, $2, $3)`,
			"u-"+string(rune('a'+i)), "u@example.com", at)
	}
	var tenant string
	require.NoError(t, st.Pool().QueryRow(context.Background(), "SELECT id::text FROM tenants LIMIT 1").Scan(&tenant))
	payments := []struct {
		id       string
		amount   int64
		currency string
		at       time.Time
	}{
		{"pi_1", 4900, "eur", in1},
		{"pi_2", 100, "eur", last},
		{"pi_3", 500, "jpy", in2},
		{"pi_4", 0, "usd", in2},
		{"pi_before", 7777, "eur", before},
		{"pi_after", 8888, "gbp", after},
	}
	for _, p := range payments {
		mustExec(t, st, `INSERT INTO payments (payment_id, tenant_id, customer_id, amount, currency, event_id, recorded_at)
			VALUES ($1, $2, 'cus_1', $3, $4, 'evt', $5)`, p.id, tenant, p.amount, p.currency, p.at)
	}
	deploys := []struct {
		status   string
		finished *time.Time
	}{
		{"succeeded", &in1}, {"succeeded", &in2}, {"succeeded", &before},
		{"failed", &last}, {"failed", &after},
		{"cancelled", &in2}, // neither succeeded nor failed
		{"running", nil},
	}
	for i, d := range deploys {
		mustExec(t, st, `INSERT INTO deploys (workflow_id, repository, ref, commit_sha, status, finished_at)
			VALUES ($1, 'acme/app', 'refs/heads/main', 'abc', $2, $3)`, "deploy-"+string(rune('a'+i)), d.status, d.finished)
	}
	ledger := []struct {
		outcome string
		at      time.Time
	}{
		{"routed", in1}, {"routed", in2}, {"routed", last}, {"dead_lettered", in2}, {"ignored", in2},
		{"routed", before}, {"duplicate", after},
	}
	for i, e := range ledger {
		mustExec(t, st, `INSERT INTO ledger_events (event_id, event_type, source, subject, received_at, settled_at, outcome)
			VALUES ($1, 'user.signedup', '/test', 'events.user.signedup', $2, $2, $3)`, "e-"+string(rune('a'+i)), e.at, e.outcome)
	}
}

func TestReportNumbers(t *testing.T) {
	st, _ := openStore(t)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	seedDay(t, st, day)

	tests := []struct {
		name     string
		from, to time.Time
		want     store.ReportNumbers
	}{
		{
			name: "the day: its first and last instant count, the next day's first does not",
			from: day, to: day.AddDate(0, 0, 1),
			want: store.ReportNumbers{
				Signups: 3,
				Payments: []store.CurrencyTotal{
					{Currency: "eur", Count: 2, Amount: 5000},
					{Currency: "jpy", Count: 1, Amount: 500},
					{Currency: "usd", Count: 1, Amount: 0},
				},
				DeploysSucceeded: 2, DeploysFailed: 1,
				Events: map[string]int64{"routed": 3, "dead_lettered": 1, "ignored": 1},
			},
		},
		{
			name: "a day with nothing",
			from: day.AddDate(0, 0, 5), to: day.AddDate(0, 0, 6),
			want: store.ReportNumbers{Payments: []store.CurrencyTotal{}, Events: map[string]int64{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.ReportNumbers(context.Background(), tt.from, tt.to)
			require.NoError(t, err)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}

	_, err := st.ReportNumbers(context.Background(), day, day)
	require.ErrorContains(t, err, "is empty")
}
