package config_test

import (
	"os"
	"path/filepath"
	"testing"

	flag "github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
)

// The operator commands and `worker migrate` read DATABASE_URL as the binaries do: the
// variable, its _FILE, or the flag.
func TestDatabase(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db")
	require.NoError(t, os.WriteFile(file, []byte("postgres://app:s3cret@db/fb\n"), 0o600))
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{name: "default", want: config.DefaultDatabaseURL},
		{name: "variable", env: map[string]string{"DATABASE_URL": "postgres://env/fb"}, want: "postgres://env/fb"},
		{name: "file", env: map[string]string{"DATABASE_URL_FILE": file}, want: "postgres://app:s3cret@db/fb"},
		{name: "flag wins", env: map[string]string{"DATABASE_URL": "postgres://env/fb"}, args: []string{"--database-url=postgres://flag/fb"}, want: "postgres://flag/fb"},
		{name: "both set", env: map[string]string{"DATABASE_URL": "postgres://env/fb", "DATABASE_URL_FILE": file}, wantErr: "DATABASE_URL and DATABASE_URL_FILE are both set"},
		{name: "not postgres", args: []string{"--database-url", "mysql://app:s3cret@db/fb"}, wantErr: "DATABASE_URL must be a postgres:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			var db config.Database
			db.AddFlags(fs, envOf(tt.env))
			require.NoError(t, fs.Parse(tt.args))
			err := db.Resolve()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorIs(t, err, config.ErrInvalid)
				require.NotContains(t, err.Error(), "s3cret")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, db.URL)

			m, err := config.LoadMigrate(tt.args, envOf(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.want, m.DatabaseURL, "worker migrate reads it the same way")
		})
	}
}
