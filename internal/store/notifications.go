package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification is a row of notifications: a message shown to a tenant's users in the app.
type Notification struct {
	ID        string
	Key       string // unique per fact, so adding it again is harmless
	TenantID  string
	Kind      string
	Title     string
	Body      string
	CreatedAt time.Time
}

const notificationColumns = `id::text, key, tenant_id::text, kind, title, body, created_at`

func scanNotification(row pgx.Row) (Notification, error) {
	var n Notification
	err := row.Scan(&n.ID, &n.Key, &n.TenantID, &n.Kind, &n.Title, &n.Body, &n.CreatedAt)
	return n, err
}

// AddNotification stores n unless a notification with n.Key is already stored. It
// returns the stored notification (ID and CreatedAt filled in) and whether this call
// created it.
func (s *Store) AddNotification(ctx context.Context, n Notification) (Notification, bool, error) {
	stored, err := scanNotification(s.pool.QueryRow(ctx, `
		INSERT INTO notifications (key, tenant_id, kind, title, body) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (key) DO NOTHING
		RETURNING `+notificationColumns, n.Key, n.TenantID, n.Kind, n.Title, n.Body))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, false, fmt.Errorf("add notification %s: %w", n.Key, err)
	}
	stored, err = scanNotification(s.pool.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE key = $1`, n.Key))
	if err != nil {
		return Notification{}, false, fmt.Errorf("add notification %s: read the stored one: %w", n.Key, err)
	}
	return stored, false, nil
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
