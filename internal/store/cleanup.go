package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeleteSentEmailsBefore deletes at most limit rows of sent_emails for emails sent
// before t, and returns how many it deleted. Rows locked by a writer at that moment are
// left for the next call.
//
// A sent_emails row is what stops a retried activity from sending its email twice, so t
// must be older than the longest a workflow may retry a send (days, not hours).
func (s *Store) DeleteSentEmailsBefore(ctx context.Context, t time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete sent emails before %s: limit %d must be positive", t.Format(time.RFC3339), limit)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM sent_emails WHERE key IN (
		SELECT key FROM sent_emails WHERE sent_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, t, limit)
	if err != nil {
		return 0, fmt.Errorf("delete sent emails before %s: %w", t.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// DeleteNotificationsBefore deletes at most limit notifications that are past their use
// at t: read before t, or never read and created before t. It returns how many it
// deleted. Rows locked by a writer at that moment are left for the next call.
func (s *Store) DeleteNotificationsBefore(ctx context.Context, t time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete notifications before %s: limit %d must be positive", t.Format(time.RFC3339), limit)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM notifications WHERE id IN (
		SELECT id FROM notifications WHERE coalesce(read_at, created_at) < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, t, limit)
	if err != nil {
		return 0, fmt.Errorf("delete notifications before %s: %w", t.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// RunningDeploys returns the workflow ids of the deploys still running, whose workspaces
// are in use.
func (s *Store) RunningDeploys(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT workflow_id FROM deploys WHERE status = 'running' ORDER BY workflow_id`)
	if err != nil {
		return nil, fmt.Errorf("list running deploys: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list running deploys: %w", err)
	}
	return ids, nil
}
