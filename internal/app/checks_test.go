package app

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// The checks' errors name the setting and a cause, never the user, host, port, database
// or password that the driver's own message carries.
func TestChecksSayNoConnectionDetails(t *testing.T) {
	testenv.Postgres(t) // skips (or fails under CI) when PostgreSQL is not there
	port := strconv.Itoa(testenv.ClosedPort(t))
	secrets := []string{"alice", "s3cret", "secretdb", port, "5432", "db.invalid"}
	tests := []struct {
		name string
		dsn  string
		want string
	}{
		{name: "closed port", dsn: "postgres://alice:s3cret@127.0.0.1:" + port + "/secretdb?sslmode=disable", want: "PostgreSQL at DATABASE_URL unreachable: connection refused"},
		{name: "unknown role", dsn: "postgres://alice:s3cret@127.0.0.1:5432/secretdb?sslmode=disable", want: "PostgreSQL at DATABASE_URL unreachable: the server refused: SQLSTATE 28"},
		{name: "unknown host", dsn: "postgres://alice:s3cret@db.invalid:5432/secretdb?sslmode=disable&connect_timeout=2", want: "PostgreSQL at DATABASE_URL unreachable: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := pgxpool.New(t.Context(), tt.dsn)
			require.NoError(t, err)
			defer pool.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			err = PostgresCheck(pool.Ping)(ctx)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), tt.want), "got %q, want it to start with %q", err.Error(), tt.want)
			for _, s := range secrets {
				require.NotContains(t, err.Error(), s)
			}
		})
	}

	t.Run("Temporal", func(t *testing.T) {
		tc, err := newTemporalClient(config.Temporal{Client: envconfig.ClientConfigProfile{Address: "127.0.0.1:" + port, Namespace: "default"}}, testenv.Logger(t), nil)
		require.NoError(t, err)
		defer tc.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		err = TemporalCheck(tc)(ctx)
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), "Temporal at TEMPORAL_ADDRESS unreachable: "), "got %q", err.Error())
		require.NotContains(t, err.Error(), port)
	})
}
