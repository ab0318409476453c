package store

import "context"

// MigrateTo applies the first version migrations only: the schema an older release left.
func MigrateTo(ctx context.Context, databaseURL string, version int) (MigrateResult, error) {
	ms, err := migrations()
	if err != nil {
		return MigrateResult{}, err
	}
	return migrate(ctx, databaseURL, ms[:version])
}
