package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// The bridge never migrates: on a schema behind its build it does not start, and says
// what to run; on a migrated one it does.
func TestBridgeChecksTheSchema(t *testing.T) {
	n := testenv.StartNATS(t)
	trap := testenv.NewTrap(t)
	load := func(url string) config.Bridge {
		cfg, err := config.LoadBridge(nil, func(k string) string {
			return map[string]string{"NATS_URL": n.URL, "TEMPORAL_ADDRESS": trap.Addr(), "DATABASE_URL": url}[k]
		})
		require.NoError(t, err)
		cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		return cfg
	}
	_, err := newBridgeProcess(t.Context(), load(testenv.PostgresUnmigrated(t)), testenv.Logger(t))
	require.ErrorIs(t, err, store.ErrSchemaBehind)
	require.ErrorContains(t, err, "database schema is at version 0, this build needs")
	require.ErrorContains(t, err, "run `worker migrate`")

	p, err := newBridgeProcess(t.Context(), load(testenv.Postgres(t)), testenv.Logger(t))
	require.NoError(t, err)
	p.close()
}
