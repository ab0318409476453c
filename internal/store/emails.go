package store

import (
	"context"
	"fmt"
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
