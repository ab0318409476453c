package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func mustOpenStore(t *testing.T, url string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// Open creates a missing database and migrates it; opening again (a second worker)
// applies nothing twice.
func TestOpenCreatesDatabaseAndMigratesOnce(t *testing.T) {
	base := testenv.Postgres(t) // skips or fails with advice when PostgreSQL is missing
	db := testenv.ID("flowbridge_test_")
	url := strings.Replace(base[:strings.Index(base, "?")], "/flowbridge", "/"+db, 1) + "?sslmode=disable"
	if !strings.Contains(url, "/"+db) {
		t.Skipf("DATABASE_URL %s does not name the flowbridge database; cannot derive a new one", base)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), strings.Replace(url, "/"+db, "/postgres", 1))
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})

	s1 := mustOpenStore(t, url)
	s2 := mustOpenStore(t, url)
	var applied int
	require.NoError(t, s2.Pool().QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&applied))
	require.Positive(t, applied)
	var again int
	require.NoError(t, s1.Pool().QueryRow(context.Background(), "SELECT count(DISTINCT name) FROM schema_migrations").Scan(&again))
	require.Equal(t, applied, again, "each migration recorded once")
}

func TestOpenReportsUnreachableServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/flowbridge?sslmode=disable&connect_timeout=2")
	require.ErrorContains(t, err, "start PostgreSQL or set DATABASE_URL")
}

func TestTenants(t *testing.T) {
	s := mustOpenStore(t, testenv.Postgres(t))
	ctx := context.Background()

	a, err := s.EnsureTenant(ctx, "u1", "u1@example.com")
	require.NoError(t, err)
	b, err := s.EnsureTenant(ctx, "u1", "other@example.com")
	require.NoError(t, err)
	require.Equal(t, a, b, "the second call finds the first tenant unchanged")

	got, err := s.TenantByID(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, a, got)

	stored, err := s.SetStripeCustomer(ctx, a.ID, "cus_1")
	require.NoError(t, err)
	require.Equal(t, "cus_1", stored)
	stored, err = s.SetStripeCustomer(ctx, a.ID, "cus_2")
	require.NoError(t, err)
	require.Equal(t, "cus_1", stored, "the first customer is kept")

	_, err = s.TenantByID(ctx, "00000000-0000-0000-0000-000000000000")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.SetStripeCustomer(ctx, "00000000-0000-0000-0000-000000000000", "cus_3")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestSentEmails(t *testing.T) {
	s := mustOpenStore(t, testenv.Postgres(t))
	ctx := context.Background()
	sent, err := s.EmailSent(ctx, "k1")
	require.NoError(t, err)
	require.False(t, sent)
	require.NoError(t, s.MarkEmailSent(ctx, "k1", "a@example.com", "hi"))
	require.NoError(t, s.MarkEmailSent(ctx, "k1", "a@example.com", "hi"), "marking twice is harmless")
	sent, err = s.EmailSent(ctx, "k1")
	require.NoError(t, err)
	require.True(t, sent)
}

// A migration edited after a database applied it stops Open instead of being skipped.
func TestOpenRefusesAChangedMigration(t *testing.T) {
	url := testenv.Postgres(t)
	s := mustOpenStore(t, url)
	_, err := s.Pool().Exec(context.Background(), "UPDATE schema_migrations SET sha256 = 'abc' WHERE name = 'migrations/0001_onboarding.sql'")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = store.Open(ctx, url)
	require.ErrorIs(t, err, store.ErrMigrationChanged)
	require.ErrorContains(t, err, "0001_onboarding.sql")
}
