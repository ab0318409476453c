package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReportNumbers are the numbers of a period that DailyReport publishes.
type ReportNumbers struct {
	Signups int64 // tenants created
	// Payments are the payments recorded, one entry per currency, ordered by currency.
	// Amounts in different currencies do not add up, so there is no grand total.
	Payments         []CurrencyTotal
	DeploysSucceeded int64 // deploys that finished in the period, by outcome
	DeploysFailed    int64
	// Events counts the events the bridge received in the period by their ledger outcome
	// (routed, duplicate, ignored, dead_lettered, retried). Outcomes with no event are
	// absent.
	Events map[string]int64
}

// CurrencyTotal is the payments of one currency.
type CurrencyTotal struct {
	Currency string // ISO 4217, lower case
	Count    int64
	Amount   int64 // sum, in the currency's minor unit
}

// ReportNumbers returns the numbers of the period [from, to), all read from one snapshot
// of the database so they agree with each other.
func (s *Store) ReportNumbers(ctx context.Context, from, to time.Time) (ReportNumbers, error) {
	if !from.Before(to) {
		return ReportNumbers{}, fmt.Errorf("report numbers: the period %s to %s is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	n := ReportNumbers{Payments: []CurrencyTotal{}, Events: map[string]int64{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT count(*) FROM tenants WHERE created_at >= $1 AND created_at < $2`, from, to).Scan(&n.Signups)
		if err != nil {
			return fmt.Errorf("signups: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT currency, count(*), sum(amount)::bigint FROM payments
			WHERE recorded_at >= $1 AND recorded_at < $2 GROUP BY currency ORDER BY currency`, from, to)
		if err != nil {
			return fmt.Errorf("payments: %w", err)
		}
		n.Payments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CurrencyTotal, error) {
			var c CurrencyTotal
			err := r.Scan(&c.Currency, &c.Count, &c.Amount)
			return c, err
		})
		if err != nil {
			return fmt.Errorf("payments: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed')
			FROM deploys WHERE finished_at >= $1 AND finished_at < $2`, from, to).Scan(&n.DeploysSucceeded, &n.DeploysFailed)
		if err != nil {
			return fmt.Errorf("deploys: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT outcome, count(*) FROM ledger_events
			WHERE received_at >= $1 AND received_at < $2 GROUP BY outcome`, from, to)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		var (
			outcome string
			count   int64
		)
		_, err = pgx.ForEachRow(rows, []any{&outcome, &count}, func() error {
			n.Events[outcome] = count
			return nil
		})
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		return nil
	})
	if err != nil {
		return ReportNumbers{}, fmt.Errorf("report numbers from %s to %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	if n.Payments == nil {
		n.Payments = []CurrencyTotal{}
	}
	return n, nil
}
