package config

import (
	"errors"
	"net/url"

	flag "github.com/spf13/pflag"
)

// Database is how a process reaches PostgreSQL: DATABASE_URL, or the file DATABASE_URL_FILE
// names, or the flag --database-url. The binaries and the operator commands that read the
// database (`bridge events`, `worker migrate`) share this one definition: AddFlags, parse,
// then Resolve.
//
// Its URL is never printed with its password: the flag's default is shown redacted.
type Database struct {
	// URL is a postgres:// URL; default DefaultDatabaseURL.
	URL string

	err error // reading DATABASE_URL_FILE
}

// databaseURLUsage is the help of --database-url.
const databaseURLUsage = "PostgreSQL URL (DATABASE_URL or DATABASE_URL_FILE)"

// AddFlags registers --database-url on fs, its default read from env.
func (d *Database) AddFlags(fs *flag.FlagSet, env func(string) string) {
	d.addFlags(fs, env, databaseURLUsage)
}

func (d *Database) addFlags(fs *flag.FlagSet, env func(string) string, usage string) {
	v, err := secretSetting(env, "DATABASE_URL")
	d.URL, d.err = or(v, DefaultDatabaseURL), err
	fs.Var(secret{&d.URL, redactURL}, "database-url", usage)
}

// Resolve checks the setting once the flags are parsed: DATABASE_URL_FILE was readable,
// and the URL is a postgres:// URL. Its errors wrap ErrInvalid and never show the URL.
func (d *Database) Resolve() error {
	return errors.Join(d.err, checkDatabaseURL(d.URL))
}

func checkDatabaseURL(s string) error {
	if u, err := url.Parse(s); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return invalid("DATABASE_URL", "must be a postgres:// URL")
	}
	return nil
}
