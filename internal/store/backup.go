package store

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// CopyFunc writes one table to w as CSV with a header row and returns its row count.
type CopyFunc func(w io.Writer) (rows int64, err error)

// Export calls fn for every table of flowbridge's schema (the first schema of the
// search path), in name order, with a CopyFunc that writes the table with
// `COPY ... TO STDOUT (FORMAT csv, HEADER)`. Every table is read from the same snapshot,
// in one read-only transaction, so the tables agree with each other as pg_dump's would.
// It stops at fn's first error and returns it.
func (s *Store) Export(ctx context.Context, fn func(table string, copyTo CopyFunc) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var schema string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("current schema: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, schema)
		if err != nil {
			return fmt.Errorf("list tables of schema %s: %w", schema, err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list tables of schema %s: %w", schema, err)
		}
		for _, table := range tables {
			sql := "COPY " + pgx.Identifier{schema, table}.Sanitize() + " TO STDOUT (FORMAT csv, HEADER)"
			copyTo := func(w io.Writer) (int64, error) {
				tag, err := tx.Conn().PgConn().CopyTo(ctx, w, sql)
				if err != nil {
					return 0, fmt.Errorf("copy table %s: %w", table, err)
				}
				return tag.RowsAffected(), nil
			}
			if err := fn(table, copyTo); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export tables: %w", err)
	}
	return nil
}
