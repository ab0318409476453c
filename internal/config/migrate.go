package config

import (
	"errors"
	"flag"
	"net/url"
)

// Migrate configures `worker migrate`, which applies the embedded schema migrations to
// DATABASE_URL and exits. It reads nothing else, so a deploy's migration Job needs no
// other setting or secret.
type Migrate struct {
	DatabaseURL string
}

// LoadMigrate reads the settings of `worker migrate` from args (after "migrate") and env.
func LoadMigrate(args []string, env func(string) string) (Migrate, error) {
	var c Migrate
	fs := flag.NewFlagSet("worker migrate", flag.ContinueOnError)
	c.DatabaseURL = or(env("DATABASE_URL"), DefaultDatabaseURL)
	fs.Var(secret{&c.DatabaseURL, redactURL}, "database-url", "PostgreSQL URL (DATABASE_URL); the database and a search_path schema are created if missing")
	if err := parse(fs, args); err != nil {
		return c, err
	}
	var errs []error
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, invalid("DATABASE_URL", "must be a postgres:// URL"))
	}
	return c, errors.Join(errs...)
}
