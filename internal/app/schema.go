package app

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/store"
)

// schemaCheckTimeout bounds the bridge's start-up look at the schema: routing does not
// need PostgreSQL, so an unreachable one must not hold the bridge for long.
const schemaCheckTimeout = 5 * time.Second

// checkBridgeSchema refuses to start the bridge on a database whose schema is behind
// this build (or whose applied migrations differ from it): `worker migrate` must run
// first. A PostgreSQL that cannot answer now does not stop the bridge; the event ledger
// keeps trying, and refuses such a schema in turn.
func checkBridgeSchema(ctx context.Context, db store.Querier, log zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, schemaCheckTimeout)
	defer cancel()
	err := store.CheckSchema(ctx, db)
	if errors.Is(err, store.ErrSchemaBehind) || errors.Is(err, store.ErrMigrationChanged) {
		return err
	}
	if err != nil {
		log.Warn().Err(err).Msg("Cannot check the database schema now (PostgreSQL at DATABASE_URL); routing starts, the event ledger waits for it")
	}
	return nil
}
