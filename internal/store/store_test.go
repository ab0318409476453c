package store_test

import (
	"context"
	"fmt"
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

// Migrate creates a missing database and migrates it; migrating again (a second
// `worker migrate`) applies nothing.
func TestMigrateCreatesDatabaseAndIsANoOpTheSecondTime(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := store.Open(ctx, url)
	require.ErrorContains(t, err, "database "+db+" does not exist: run `worker migrate`", "Open creates no database")

	first, err := store.Migrate(ctx, url)
	require.NoError(t, err)
	require.Equal(t, 0, first.From)
	require.Equal(t, store.Version(), first.To)
	require.Len(t, first.Applied, store.Version())
	require.Equal(t, "0001_onboarding.sql", first.Applied[0])

	second, err := store.Migrate(ctx, url)
	require.NoError(t, err)
	require.Equal(t, store.MigrateResult{From: store.Version(), To: store.Version()}, second, "got %+v, want nothing applied", second)

	s := mustOpenStore(t, url)
	var rows, distinct int
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(*), count(DISTINCT name) FROM flowbridge_schema_migrations").Scan(&rows, &distinct))
	require.Equal(t, store.Version(), rows, "one row per migration")
	require.Equal(t, rows, distinct)
}

// The embedded migrations are numbered 1..n: Version is the newest.
func TestMigrationsAreNumbered(t *testing.T) {
	require.GreaterOrEqual(t, store.Version(), 5)
}

// Open runs no DDL: on a schema never migrated, or one an older release migrated, it
// refuses with the versions and what to run, and creates nothing.
func TestOpenRefusesASchemaBehind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name    string
		version int // migrated to; 0: never
		wantErr string
	}{
		{name: "never migrated", version: 0, wantErr: fmt.Sprintf("database schema is at version 0, this build needs %d: run `worker migrate`", store.Version())},
		{name: "an older release", version: store.Version() - 1, wantErr: fmt.Sprintf("database schema is at version %d, this build needs %d: run `worker migrate`", store.Version()-1, store.Version())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := testenv.PostgresUnmigrated(t)
			if tt.version > 0 {
				_, err := store.MigrateTo(ctx, url, tt.version)
				require.NoError(t, err)
			}
			_, err := store.Open(ctx, url)
			require.ErrorIs(t, err, store.ErrSchemaBehind)
			require.EqualError(t, err, tt.wantErr)
			var se *store.SchemaError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.version, se.Have)

			res, err := store.Migrate(ctx, url)
			require.NoError(t, err)
			require.Equal(t, tt.version, res.From)
			require.Len(t, res.Applied, store.Version()-tt.version)
			mustOpenStore(t, url)
		})
	}
}

// A schema migrated by a release that recorded its migrations in schema_migrations is
// taken over once: Open asks for `worker migrate`, which copies the records (the old
// table stays for a worker of that release still starting) and applies nothing twice.
func TestMigrateAdoptsTheLegacyTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	// What the previous release left: names with their directory, the first without a
	// checksum (recorded before there were any), and no flowbridge_schema_migrations.
	_, err = conn.Exec(ctx, `CREATE TABLE schema_migrations AS
			SELECT 'migrations/' || name AS name, applied_at, CASE WHEN version = 1 THEN NULL ELSE sha256 END AS sha256
			FROM flowbridge_schema_migrations;
		DROP TABLE flowbridge_schema_migrations`)
	require.NoError(t, err)

	_, err = store.Open(ctx, url)
	require.ErrorIs(t, err, store.ErrSchemaBehind)
	require.ErrorContains(t, err, "table schema_migrations")
	require.ErrorContains(t, err, "run `worker migrate`")

	res, err := store.Migrate(ctx, url)
	require.NoError(t, err)
	require.Equal(t, store.MigrateResult{From: store.Version(), To: store.Version(), Adopted: true}, res, "got %+v", res)
	mustOpenStore(t, url)
	var legacyRows int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&legacyRows))
	require.Equal(t, store.Version(), legacyRows, "the old table is left as it was")

	res, err = store.Migrate(ctx, url)
	require.NoError(t, err)
	require.False(t, res.Adopted, "adopted once only")
}

// Another tool's schema_migrations in the same schema is none of flowbridge's business.
func TestMigrateLeavesAnotherToolsTableAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := testenv.PostgresUnmigrated(t)
	_, err := store.MigrateTo(ctx, url, 0) // creates the schema and an empty flowbridge table
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	// golang-migrate's table.
	_, err = conn.Exec(ctx, `DROP TABLE flowbridge_schema_migrations;
		CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (20240101, false)`)
	require.NoError(t, err)

	res, err := store.Migrate(ctx, url)
	require.NoError(t, err)
	require.False(t, res.Adopted)
	require.Len(t, res.Applied, store.Version())
	var version int64
	require.NoError(t, conn.QueryRow(ctx, "SELECT version FROM schema_migrations").Scan(&version))
	require.Equal(t, int64(20240101), version, "the other tool's record is untouched")
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

// A migration edited after a database applied it stops Open and Migrate instead of
// being skipped.
func TestOpenAndMigrateRefuseAChangedMigration(t *testing.T) {
	url := testenv.Postgres(t)
	s := mustOpenStore(t, url)
	_, err := s.Pool().Exec(context.Background(), "UPDATE flowbridge_schema_migrations SET sha256 = 'abc' WHERE name = '0001_onboarding.sql'")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = store.Open(ctx, url)
	require.ErrorIs(t, err, store.ErrMigrationChanged)
	require.ErrorContains(t, err, "0001_onboarding.sql")
	_, err = store.Migrate(ctx, url)
	require.ErrorIs(t, err, store.ErrMigrationChanged)
}

// openStore opens a store on a fresh schema of the test's own.
func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st, url
}

func count(t *testing.T, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, st.Pool().QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}
