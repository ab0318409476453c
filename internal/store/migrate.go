package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Schema migrations are a deploy step: `worker migrate` (Migrate) applies them and exits;
// the running bridge and worker only check the version (Open, CheckSchema) and run no DDL.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationsTable records the applied migrations, one row per version. The name is
// flowbridge's own, so it never collides with the table of another migration tool
// (golang-migrate, Rails, sqlx, dbmate all use schema_migrations) in a shared schema.
const MigrationsTable = "flowbridge_schema_migrations"

// legacyMigrationsTable is where flowbridge recorded migrations before MigrationsTable
// (name, sha256, applied_at). Migrate copies its rows once and leaves it in place, so that
// a worker of the previous release, which still reads it, can start during a rollout.
const legacyMigrationsTable = "schema_migrations"

// migrationLock is the first key of the pg_advisory_lock that serialises migrations of
// one schema (the second key is the schema's name), for several `worker migrate` at once.
const migrationLock = 0x666c6f77 // "flow"

// ErrMigrationChanged is wrapped by Migrate's, Open's and CheckSchema's error when a
// migration the database applied differs from the one embedded in this binary.
var ErrMigrationChanged = errors.New("migration changed after it was applied")

// ErrSchemaBehind is matched (errors.Is) by Open's and CheckSchema's error when the
// database's schema is older than this build's migrations; the error is a *SchemaError.
var ErrSchemaBehind = errors.New("database schema is behind this build")

// SchemaError says that the database's schema is at version Have and this build needs
// Want: `worker migrate` brings it there.
type SchemaError struct {
	Have, Want int
	// Legacy: the migrations are recorded in the table of earlier releases
	// (schema_migrations), which `worker migrate` moves to MigrationsTable.
	Legacy bool
}

func (e *SchemaError) Error() string {
	if e.Legacy {
		return fmt.Sprintf("database schema records its migrations the old way (table %s), this build needs version %d in %s: run `worker migrate`",
			legacyMigrationsTable, e.Want, MigrationsTable)
	}
	return fmt.Sprintf("database schema is at version %d, this build needs %d: run `worker migrate`", e.Have, e.Want)
}

// Is makes errors.Is(err, ErrSchemaBehind) true.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaBehind }

type migration struct {
	version int
	name    string // file name, 0001_onboarding.sql
	sql     string
	sum     string // hex sha256 of sql
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// migrations are the embedded migrations in version order, numbered 1..n without gaps
// (a test holds them to it).
var migrations = sync.OnceValues(func() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, path := range names { // fs.Glob returns names in lexical order
		name := strings.TrimPrefix(path, "migrations/")
		m := migrationName.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("migration %s: want a name like 0001_what_it_does.sql", name)
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(out)+1 {
			return nil, fmt.Errorf("migration %s: want version %d next (no gaps, no repeats)", name, len(out)+1)
		}
		b, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b), sum: fmt.Sprintf("%x", sha256.Sum256(b))})
	}
	return out, nil
})

// Version is the schema version this build needs: that of its newest migration.
func Version() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // the embedded files are fixed at build time; TestMigrationsAreNumbered catches this
	}
	return len(ms)
}

// MigrateResult is what Migrate did.
type MigrateResult struct {
	From, To int      // schema version before and after
	Applied  []string // file names of the migrations applied, in order
	// Adopted: the migrations recorded by an earlier release in schema_migrations were
	// copied to MigrationsTable.
	Adopted bool
}

// Migrate brings the database at databaseURL to this build's schema version: it creates
// the database when it does not exist, and the schema a search_path in the URL's options
// names (as pgx reads it), then applies each migration not yet applied in its own
// transaction, under an advisory lock so concurrent runs do not race. Running it again is
// a no-op. It returns an error wrapping ErrMigrationChanged when a migration the database
// applied differs from this build's. A database ahead of this build (migrated by a newer
// release) is left as it is.
func Migrate(ctx context.Context, databaseURL string) (MigrateResult, error) {
	ms, err := migrations()
	if err != nil {
		return MigrateResult{}, err
	}
	return migrate(ctx, databaseURL, ms)
}

// migrate applies ms, the embedded migrations or (in tests) the first of them.
func migrate(ctx context.Context, databaseURL string, ms []migration) (MigrateResult, error) {
	var res MigrateResult
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return res, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if err := ensureDatabase(ctx, databaseURL, cfg.Database); err != nil {
		return res, err
	}
	if sp := cfg.RuntimeParams["search_path"]; sp != "" {
		if err := ensureSchema(ctx, cfg, sp); err != nil {
			return res, err
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return res, fmt.Errorf("migrate: connect to PostgreSQL at %s: %w", redact(databaseURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, hashtext(current_schema()))", migrationLock); err != nil {
		return res, fmt.Errorf("migrate: lock: %w", err)
	}
	// Released with the session (conn.Close) in any case.
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1, hashtext(current_schema()))", migrationLock) //nolint:errcheck

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+MigrationsTable+` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		sha256     text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return res, fmt.Errorf("migrate: create %s: %w", MigrationsTable, err)
	}
	if res.Adopted, err = adoptLegacy(ctx, conn, ms); err != nil {
		return res, err
	}
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return res, err
	}
	if res.From, err = checkApplied(applied, ms); err != nil {
		return res, err
	}
	res.To = res.From
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+MigrationsTable+" (version, name, sha256) VALUES ($1, $2, $3)", m.version, m.name, m.sum)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("migrate %s: %w", m.name, err)
		}
		res.Applied = append(res.Applied, m.name)
		res.To = max(res.To, m.version)
	}
	return res, nil
}

// Querier runs a query: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// CheckSchema reports whether db's schema is at this build's version or newer. It runs
// no DDL. It returns a *SchemaError (errors.Is ErrSchemaBehind) when the schema is
// behind, an error wrapping ErrMigrationChanged when an applied migration differs from
// this build's, and the query's error when PostgreSQL cannot answer.
func CheckSchema(ctx context.Context, db Querier) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	applied, err := appliedMigrations(ctx, db)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
		legacy, lerr := hasLegacyTable(ctx, db)
		if lerr != nil {
			return fmt.Errorf("check the database schema: %w", lerr)
		}
		return &SchemaError{Have: 0, Want: len(ms), Legacy: legacy}
	}
	if err != nil {
		return err
	}
	have, err := checkApplied(applied, ms)
	if err != nil {
		return err
	}
	if have < len(ms) {
		return &SchemaError{Have: have, Want: len(ms)}
	}
	return nil
}

// appliedMigrations returns the sha256 of each applied migration by version.
func appliedMigrations(ctx context.Context, db Querier) (map[int]string, error) {
	rows, err := db.Query(ctx, "SELECT version, sha256 FROM "+MigrationsTable)
	if err != nil {
		return nil, err
	}
	applied := map[int]string{}
	var v int
	var sum string
	_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error {
		applied[v] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", MigrationsTable, err)
	}
	return applied, nil
}

// checkApplied returns the schema version applied records (the highest version with
// every one below it applied), or an error wrapping ErrMigrationChanged.
func checkApplied(applied map[int]string, ms []migration) (int, error) {
	for _, m := range ms {
		if sum, ok := applied[m.version]; ok && sum != m.sum {
			// A migration must never change once applied: this database has a different
			// version of it than this binary, and migrating further could corrupt it.
			return 0, fmt.Errorf("migration %s: %w: the database applied a different version of it (sha256 %.12s, this binary has %.12s)",
				m.name, ErrMigrationChanged, sum, m.sum)
		}
	}
	have := 0
	for {
		if _, ok := applied[have+1]; !ok {
			return have, nil
		}
		have++
	}
}

func hasLegacyTable(ctx context.Context, db Querier) (bool, error) {
	rows, err := db.Query(ctx, "SELECT to_regclass($1) IS NOT NULL", legacyMigrationsTable)
	if err != nil {
		return false, err
	}
	return pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
}

// adoptLegacy copies the migrations an earlier release recorded in schema_migrations into
// MigrationsTable, once (while MigrationsTable is empty). A schema_migrations that is not
// flowbridge's — another tool's, with other columns or other names — is left alone.
func adoptLegacy(ctx context.Context, conn *pgx.Conn, ms []migration) (bool, error) {
	var ours bool
	err := conn.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM `+MigrationsTable+`)
		AND (SELECT count(*) FROM pg_attribute
		     WHERE attrelid = to_regclass($1) AND attname IN ('name', 'sha256', 'applied_at') AND NOT attisdropped) = 3`,
		legacyMigrationsTable).Scan(&ours)
	if err != nil || !ours {
		return false, wrapIf("migrate: look for "+legacyMigrationsTable, err)
	}
	type row struct {
		Name      string
		Sum       string
		AppliedAt time.Time
	}
	rows, _ := conn.Query(ctx, "SELECT name, coalesce(sha256, ''), applied_at FROM "+legacyMigrationsTable+" ORDER BY name")
	legacy, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return false, fmt.Errorf("migrate: read %s: %w", legacyMigrationsTable, err)
	}
	byName := map[string]migration{}
	for _, m := range ms {
		byName[m.name] = m
	}
	var versions []int
	for _, r := range legacy {
		name := strings.TrimPrefix(r.Name, "migrations/")
		m := migrationName.FindStringSubmatch(name)
		if m == nil || !strings.HasPrefix(r.Name, "migrations/") {
			return false, nil // not flowbridge's records
		}
		v, _ := strconv.Atoi(m[1])
		versions = append(versions, v)
		if r.Sum == "" { // recorded before checksums were
			r.Sum = byName[name].sum
		}
		legacy[len(versions)-1] = row{Name: name, Sum: r.Sum, AppliedAt: r.AppliedAt}
	}
	if len(legacy) == 0 {
		return false, nil
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for i, r := range legacy {
			if _, err := tx.Exec(ctx, "INSERT INTO "+MigrationsTable+" (version, name, sha256, applied_at) VALUES ($1, $2, $3, $4)",
				versions[i], r.Name, r.Sum, r.AppliedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("migrate: copy %s to %s: %w", legacyMigrationsTable, MigrationsTable, err)
	}
	return true, nil
}

func wrapIf(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
