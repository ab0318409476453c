package config

import (
	flag "github.com/spf13/pflag"
)

// Migrate configures `worker migrate`, which applies the embedded schema migrations to
// DATABASE_URL and exits. It reads nothing else, so a deploy's migration Job needs no
// other setting or secret.
type Migrate struct {
	DatabaseURL string
}

// MigrateFlags reads the settings of `worker migrate` from a command line.
type MigrateFlags struct {
	db Database
}

// NewMigrateFlags registers the flag of `worker migrate` on fs: --database-url.
func NewMigrateFlags(fs *flag.FlagSet, env func(string) string) *MigrateFlags {
	m := &MigrateFlags{}
	m.db.addFlags(fs, env, "PostgreSQL URL (DATABASE_URL or DATABASE_URL_FILE); the database and a search_path schema are created if missing")
	return m
}

// Load completes and checks the settings once the flags are parsed.
func (m *MigrateFlags) Load() (Migrate, error) {
	err := m.db.Resolve()
	return Migrate{DatabaseURL: m.db.URL}, err
}

// LoadMigrate reads the settings of `worker migrate` from args (after "migrate") and env.
func LoadMigrate(args []string, env func(string) string) (Migrate, error) {
	fs := newFlagSet("worker migrate")
	m := NewMigrateFlags(fs, env)
	if err := parse(fs, args); err != nil {
		return Migrate{}, err
	}
	return m.Load()
}
