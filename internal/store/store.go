// Package store is flowbridge's PostgreSQL: the embedded migrations and the queries the
// activities and the bridge run. Every write is idempotent, because Temporal retries
// activities and JetStream redelivers events.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned by lookups that find no row.
var ErrNotFound = errors.New("not found")

// Store is a pool of connections to flowbridge's database.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to databaseURL and checks that its schema is at this build's version
// (CheckSchema); it creates nothing and runs no DDL: `worker migrate` (Migrate) does. A
// search_path in the URL's options (as pgx reads it) confines flowbridge's tables to that
// schema. It returns a *SchemaError (errors.Is ErrSchemaBehind) when the schema is behind,
// and an error saying to start PostgreSQL or set DATABASE_URL when it cannot connect.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
			return nil, fmt.Errorf("database %s does not exist: run `worker migrate`, which creates it (or set DATABASE_URL)", cfg.ConnConfig.Database)
		}
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w (start PostgreSQL or set DATABASE_URL)", redact(databaseURL), err)
	}
	if err := CheckSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
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
