package admin_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// `bridge events` only reads: on a schema never migrated it says what to run, and
// creates nothing.
func TestEventsNeverMigrate(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresUnmigrated(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var schema string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&schema))
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)

	_, _, err = bridgeEvents(t, url, "events", "ls")
	require.ErrorIs(t, err, store.ErrSchemaBehind)
	require.ErrorContains(t, err, "database schema is at version 0")
	require.ErrorContains(t, err, "run `worker migrate`")

	var tables int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema).Scan(&tables))
	require.Zero(t, tables, "no table was created")
}
