// Package store is flowbridge's PostgreSQL: the embedded migrations and the queries the
// activities and the bridge run. Every write is idempotent, because Temporal retries
// activities and JetStream redelivers events.
package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrMigrationChanged is wrapped by Open's error when a migration the database applied
// differs from the one embedded in this binary.
var ErrMigrationChanged = errors.New("migration changed after it was applied")

// migrationLock is the pg_advisory_lock key that serialises migrations when several
// workers start at once.
const migrationLock = 0x666c6f77 // "flow"

// Store is a pool of connections to flowbridge's database.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to databaseURL, creating the database when it does not exist, and
// applies any migration not yet applied. A search_path in the URL's options (as pgx
// reads it) confines flowbridge's tables to that schema, which is created if missing.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if err := ensureDatabase(ctx, databaseURL, cfg.ConnConfig.Database); err != nil {
		return nil, err
	}
	if sp := cfg.ConnConfig.RuntimeParams["search_path"]; sp != "" {
		if err := ensureSchema(ctx, cfg.ConnConfig, sp); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool exposes the pool to tests and to queries in other files of this package.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func ensureDatabase(ctx context.Context, databaseURL, name string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect to PostgreSQL at %s: %w (start PostgreSQL or set DATABASE_URL)", redact(databaseURL), err)
	}
	admin, err := withDatabase(databaseURL, "postgres")
	if err != nil {
		return err
	}
	aconn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("create database %s: connect to the postgres database: %w", name, err)
	}
	defer aconn.Close(ctx)
	_, err = aconn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func ensureSchema(ctx context.Context, cfg *pgx.ConnConfig, searchPath string) error {
	c := cfg.Copy()
	delete(c.RuntimeParams, "search_path")
	conn, err := pgx.ConnectConfig(ctx, c)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	schema := strings.TrimSpace(strings.Split(searchPath, ",")[0])
	_, err = conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

func isDuplicate(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "42P06" || pgErr.Code == "23505")
}

func withDatabase(databaseURL, db string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

func redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "DATABASE_URL"
	}
	return u.Redacted()
}

// migrate applies the embedded migrations in name order, each in its own transaction,
// under an advisory lock so concurrent starters do not race.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck // released with the session anyway
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
		ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS sha256 text`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(sql))
		var applied string
		err = conn.QueryRow(ctx, "SELECT coalesce(sha256, '') FROM schema_migrations WHERE name = $1", name).Scan(&applied)
		switch {
		case err == nil && applied != "" && applied != sum:
			// A migration must never change once applied: this database has a different
			// version of it than this binary, and migrating further could corrupt it.
			return fmt.Errorf("migrate %s: %w: the database applied a different version of it (sha256 %.12s, this binary has %.12s)",
				name, ErrMigrationChanged, applied, sum)
		case err == nil:
			continue
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)", name, sum)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}
