package workerapp

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/store"
)

// RunMigrate applies the embedded migrations to cfg.DatabaseURL (`worker migrate`) and
// says on out what it did. Running it again changes nothing.
func RunMigrate(ctx context.Context, cfg config.Migrate, out io.Writer) error {
	res, err := store.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if res.Adopted {
		fmt.Fprintf(out, "moved the record of applied migrations to table %s (table schema_migrations is left for workers of the previous release: drop it once none runs)\n", store.MigrationsTable)
	}
	switch {
	case len(res.Applied) > 0:
		fmt.Fprintf(out, "database schema migrated from version %d to %d: applied %s\n", res.From, res.To, strings.Join(res.Applied, ", "))
	case res.To > store.Version():
		fmt.Fprintf(out, "database schema is at version %d, newer than this build's %d: nothing to apply\n", res.To, store.Version())
	default:
		fmt.Fprintf(out, "database schema is at version %d: nothing to apply\n", res.To)
	}
	return nil
}
