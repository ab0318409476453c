package store

import (
	"context"
	"fmt"
	"time"
)

// EmailSent reports whether an email with key was already handed to the SMTP server.
func (s *Store) EmailSent(ctx context.Context, key string) (bool, error) {
	var sent bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM sent_emails WHERE key = $1)", key).Scan(&sent)
	if err != nil {
		return false, fmt.Errorf("look up sent email %s: %w", key, err)
	}
	return sent, nil
}

// MarkEmailSent records that the email with key was sent. Marking twice is harmless.
func (s *Store) MarkEmailSent(ctx context.Context, key, recipient, subject string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sent_emails (key, recipient, subject) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO NOTHING`, key, recipient, subject)
	if err != nil {
		return fmt.Errorf("record sent email %s: %w", key, err)
	}
	return nil
}

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
