package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/activities"
)

// flowbridgeTables are the tables the migrations create; a backup holds at least these.
var flowbridgeTables = []string{"deploys", "ledger_attempts", "ledger_events", "notifications", "payments", "flowbridge_schema_migrations", "sent_emails", "tenants"}

func (f *scheduledFixture) backup(t *testing.T, in activities.BackupInput) activities.BackupResult {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.BackupDatabase, in)
	require.NoError(t, err)
	var res activities.BackupResult
	require.NoError(t, v.Get(&res))
	return res
}

// requireBackup checks the backup at res.Path: a CSV per table of the manifest, whose
// rows and SHA-256 are the manifest's, and nothing else but the manifest.
func requireBackup(t *testing.T, res activities.BackupResult) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(res.Path, activities.BackupManifestFile))
	require.NoError(t, err)
	var m activities.BackupManifest
	require.NoError(t, json.Unmarshal(data, &m))
	require.Equal(t, res.Manifest, m, "the result is the manifest on disk")

	var names []string
	for _, tb := range m.Tables {
		names = append(names, tb.Name)
		body, err := os.ReadFile(filepath.Join(res.Path, tb.File))
		require.NoError(t, err)
		sum := sha256.Sum256(body)
		require.Equal(t, hex.EncodeToString(sum[:]), tb.SHA256, "sha256 of %s", tb.File)
		require.Equal(t, int64(len(body)), tb.Bytes, "size of %s", tb.File)
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		require.NoError(t, err, "%s is CSV", tb.File)
		require.Len(t, recs, int(tb.Rows)+1, "%s: a header and its rows", tb.File)
	}
	for _, want := range flowbridgeTables {
		require.Contains(t, names, want)
	}
	entries, err := os.ReadDir(res.Path)
	require.NoError(t, err)
	require.Len(t, entries, len(m.Tables)+1, "a file per table and the manifest")
}

func TestBackupDatabase(t *testing.T) {
	f := newScheduledFixture(t)
	ctx := context.Background()
	for _, u := range []string{"u-1", "u-2", "u-3"} {
		_, err := f.store.EnsureTenant(ctx, u, u+"@example.com")
		require.NoError(t, err)
	}
	require.NoError(t, f.store.MarkEmailSent(ctx, "k1", "a@example.com", "Comma, \"quotes\"\nand a newline"))
	dir := filepath.Join(t.TempDir(), "backups") // made by the activity
	at := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

	res := f.backup(t, activities.BackupInput{Dir: dir, Time: at})
	require.Equal(t, filepath.Join(dir, "20260302T020000Z"), res.Path)
	requireBackup(t, res)
	rows := map[string]int64{}
	for _, tb := range res.Manifest.Tables {
		rows[tb.Name] = tb.Rows
	}
	require.Equal(t, int64(3), rows["tenants"])
	require.Equal(t, int64(1), rows["sent_emails"])
	require.Equal(t, int64(0), rows["payments"])
	require.Positive(t, rows["flowbridge_schema_migrations"])
	body, err := os.ReadFile(filepath.Join(res.Path, "sent_emails.csv"))
	require.NoError(t, err)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "Comma, \"quotes\"\nand a newline", recs[1][2], "values survive CSV quoting")

	// A retry finds the backup it made and writes nothing.
	_, err = f.store.EnsureTenant(ctx, "u-4", "u-4@example.com")
	require.NoError(t, err)
	again := f.backup(t, activities.BackupInput{Dir: dir, Time: at})
	require.Equal(t, res, again)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "one backup, no temporary directory left")

	// A later backup sees the new row.
	later := f.backup(t, activities.BackupInput{Dir: dir, Time: at.Add(24 * time.Hour)})
	requireBackup(t, later)
	i := slices.IndexFunc(later.Manifest.Tables, func(tb activities.BackupTable) bool { return tb.Name == "tenants" })
	require.Equal(t, int64(4), later.Manifest.Tables[i].Rows)

	_, err = f.env.ExecuteActivity(f.acts.BackupDatabase, activities.BackupInput{Dir: dir})
	requireNonRetryable(t, err, "no time")
}

func TestPruneBackups(t *testing.T) {
	f := newScheduledFixture(t)
	dir := t.TempDir()
	first := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	var made []string
	for i := range 4 {
		res := f.backup(t, activities.BackupInput{Dir: dir, Time: first.AddDate(0, 0, i)})
		made = append(made, filepath.Base(res.Path))
	}
	old := time.Now().Add(-48 * time.Hour)
	// Left by workers that died while writing: one long ago, one maybe still writing.
	makeTree(t, filepath.Join(dir, ".partial-20260220T020000Z-123"), old, "tenants")
	makeTree(t, filepath.Join(dir, ".partial-20260305T020000Z-456"), time.Now(), "tenants")
	// Not backups: an incomplete one without a manifest, and things of others.
	makeTree(t, filepath.Join(dir, "20260101T020000Z"), old, "tenants")
	makeTree(t, filepath.Join(dir, "keep-me"), old, "src")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "20250101T020000Z"), []byte("a file"), 0o640))

	v, err := f.env.ExecuteActivity(f.acts.PruneBackups, activities.PruneInput{Dir: dir, Keep: 2})
	require.NoError(t, err)
	var res activities.PruneResult
	require.NoError(t, v.Get(&res))
	want := activities.PruneResult{Removed: made[:2], Partial: 1}
	require.Equal(t, want, res, "got %v, want %v", res, want)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	wantLeft := []string{".partial-20260305T020000Z-456", "20250101T020000Z", "20260101T020000Z", made[2], made[3], "keep-me"}
	require.Equal(t, wantLeft, left, "got %v, want %v", left, wantLeft)

	v, err = f.env.ExecuteActivity(f.acts.PruneBackups, activities.PruneInput{Dir: dir, Keep: 2})
	require.NoError(t, err)
	var again activities.PruneResult
	require.NoError(t, v.Get(&again))
	require.Empty(t, again.Removed, "pruning again removes nothing")

	v, err = f.env.ExecuteActivity(f.acts.PruneBackups, activities.PruneInput{Dir: filepath.Join(dir, "missing")})
	require.NoError(t, err, "a missing directory has nothing to prune")
	var none activities.PruneResult
	require.NoError(t, v.Get(&none))
	require.Empty(t, none.Removed)
}
