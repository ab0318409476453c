package activities

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
)

// BackupStampLayout names a backup's directory after its time, in UTC; names sort in
// time order.
const BackupStampLayout = "20060102T150405Z"

// BackupManifestFile is the file of a backup directory that lists its tables. A backup
// directory without one is incomplete and never counted as a backup.
const BackupManifestFile = "manifest.json"

// DefaultBackupKeep is how many backups PruneBackups keeps when its input sets no Keep.
const DefaultBackupKeep = 7

// partialPrefix starts the name of the directory a backup is written to before it is
// renamed into place.
const partialPrefix = ".partial-"

// DefaultBackupDir is the backup directory when BACKUP_DIR is not set:
// $TMPDIR/flowbridge-backups.
func DefaultBackupDir() string { return filepath.Join(os.TempDir(), "flowbridge-backups") }

// BackupInput asks BackupDatabase for a backup.
type BackupInput struct {
	// Dir holds the backups, one directory each. Optional: defaults to DefaultBackupDir().
	Dir string `json:"dir,omitempty"`
	// Time names the backup: its directory is Dir/<Time in BackupStampLayout>. A retried
	// activity with the same Time finds the backup it made.
	Time time.Time `json:"time"`
}

// BackupManifest is a backup's manifest.json.
type BackupManifest struct {
	Time      time.Time     `json:"time"`       // the backup's name, as a time
	CreatedAt time.Time     `json:"created_at"` // when it was written
	Tables    []BackupTable `json:"tables"`
}

// BackupTable is one table of a backup: <name>.csv, written by COPY ... TO STDOUT
// (FORMAT csv, HEADER).
type BackupTable struct {
	Name   string `json:"name"`
	File   string `json:"file"` // relative to the backup's directory
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // of the file, in hex
}

// BackupResult is what BackupDatabase made.
type BackupResult struct {
	Path     string         `json:"path"` // the backup's directory
	Manifest BackupManifest `json:"manifest"`
}

// BackupDatabase writes a logical backup of every table of flowbridge's schema, all from
// one snapshot: a CSV file per table and a manifest.json with each table's row count and
// the SHA-256 of its file. The files are written to a temporary directory beside the
// backup's and renamed into place once complete and synced, so Dir/<time> is either
// absent or a whole backup. It heartbeats as it writes, naming the table.
//
// A backup with the same time that already exists is returned as it is, so a retry
// does not write it twice.
func (a *Activities) BackupDatabase(ctx context.Context, in BackupInput) (BackupResult, error) {
	if in.Time.IsZero() {
		return BackupResult{}, temporal.NewNonRetryableApplicationError("backup: no time to name it by", contract.ErrorTypeInvalidInput, nil)
	}
	dir := in.Dir
	if dir == "" {
		dir = DefaultBackupDir()
	}
	final := filepath.Join(dir, in.Time.UTC().Format(BackupStampLayout))
	if m, err := readManifest(final); err == nil {
		return BackupResult{Path: final, Manifest: m}, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return BackupResult{}, fmt.Errorf("backup: create backup directory (BACKUP_DIR): %w", err)
	}
	tmp, err := os.MkdirTemp(dir, partialPrefix+filepath.Base(final)+"-")
	if err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = os.RemoveAll(tmp)
		}
	}()

	m := BackupManifest{Time: in.Time.UTC(), Tables: []BackupTable{}}
	err = a.Store.Export(ctx, func(table string, copyTo store.CopyFunc) error {
		activity.RecordHeartbeat(ctx, table)
		t, err := writeTable(ctx, tmp, table, copyTo)
		if err != nil {
			return err
		}
		m.Tables = append(m.Tables, t)
		return nil
	})
	if err != nil {
		return BackupResult{}, fmt.Errorf("backup to %s: %w", final, err)
	}
	m.CreatedAt = time.Now().UTC()
	if err := writeManifest(tmp, m); err != nil {
		return BackupResult{}, fmt.Errorf("backup to %s: %w", final, err)
	}
	if err := syncDir(tmp); err != nil {
		return BackupResult{}, fmt.Errorf("backup to %s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another attempt, still running on a worker thought dead, may have finished it.
		if done, rerr := readManifest(final); rerr == nil {
			return BackupResult{Path: final, Manifest: done}, nil
		}
		return BackupResult{}, fmt.Errorf("backup: move %s into place: %w", final, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return BackupResult{}, fmt.Errorf("backup to %s: %w", final, err)
	}
	activity.GetLogger(ctx).Info("Backup written", "path", final, "tables", len(m.Tables))
	return BackupResult{Path: final, Manifest: m}, nil
}

// writeTable writes table to dir/<table>.csv with copyTo, synced, and describes it.
func writeTable(ctx context.Context, dir, table string, copyTo store.CopyFunc) (BackupTable, error) {
	if table == "" || table != filepath.Base(table) || strings.HasPrefix(table, ".") {
		return BackupTable{}, fmt.Errorf("table %q cannot name a file", table)
	}
	t := BackupTable{Name: table, File: table + ".csv"}
	f, err := os.OpenFile(filepath.Join(dir, t.File), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return BackupTable{}, err
	}
	defer f.Close()
	sum := sha256.New()
	counted := &progressWriter{ctx: ctx, table: table, w: io.MultiWriter(f, sum)}
	buf := bufio.NewWriterSize(counted, 256<<10)
	if t.Rows, err = copyTo(buf); err != nil {
		return BackupTable{}, err
	}
	if err := buf.Flush(); err != nil {
		return BackupTable{}, fmt.Errorf("write %s: %w", t.File, err)
	}
	if err := f.Sync(); err != nil {
		return BackupTable{}, fmt.Errorf("sync %s: %w", t.File, err)
	}
	if err := f.Close(); err != nil {
		return BackupTable{}, fmt.Errorf("close %s: %w", t.File, err)
	}
	t.Bytes, t.SHA256 = counted.n, hex.EncodeToString(sum.Sum(nil))
	return t, nil
}

// progressWriter counts what passes through it and heartbeats the count, so a table
// that takes longer than the heartbeat timeout to copy is not taken for a dead worker.
// The SDK throttles the heartbeats it sends.
type progressWriter struct {
	ctx   context.Context
	table string
	w     io.Writer
	n     int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	activity.RecordHeartbeat(p.ctx, p.table, p.n)
	return n, err
}

func writeManifest(dir string, m BackupManifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, BackupManifestFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", BackupManifestFile, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", BackupManifestFile, err)
	}
	return f.Close()
}

func readManifest(dir string) (BackupManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, BackupManifestFile))
	if err != nil {
		return BackupManifest{}, err
	}
	var m BackupManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return BackupManifest{}, fmt.Errorf("read %s: %w", filepath.Join(dir, BackupManifestFile), err)
	}
	return m, nil
}

// syncDir makes the names in dir durable: the files created in it, or a rename into it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}

// PruneInput asks PruneBackups to remove the older backups in Dir.
type PruneInput struct {
	// Dir holds the backups. Optional: defaults to DefaultBackupDir().
	Dir string `json:"dir,omitempty"`
	// Keep is how many backups, the newest, to keep. Optional: defaults to
	// DefaultBackupKeep.
	Keep int `json:"keep,omitempty"`
}

// PruneResult names what PruneBackups removed.
type PruneResult struct {
	Removed []string `json:"removed,omitempty"` // backup directories, oldest first
	// Partial counts the unfinished backup directories it removed: those a worker that
	// died while writing left behind, over a day old.
	Partial int `json:"partial,omitempty"`
}

// partialMaxAge is how old an unfinished backup directory must be before PruneBackups
// takes it for abandoned: no backup takes this long to write.
const partialMaxAge = 24 * time.Hour

// PruneBackups keeps the newest in.Keep backups in in.Dir and removes the others, and
// the unfinished backups that workers that died left behind. It only touches
// directories named as BackupDatabase names them, complete ones only when they hold a
// manifest.json, so nothing else in the directory is at risk. A missing directory has
// nothing to prune.
func (a *Activities) PruneBackups(ctx context.Context, in PruneInput) (PruneResult, error) {
	dir := in.Dir
	if dir == "" {
		dir = DefaultBackupDir()
	}
	keep := in.Keep
	if keep <= 0 {
		keep = DefaultBackupKeep
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return PruneResult{}, nil
	}
	if err != nil {
		return PruneResult{}, fmt.Errorf("prune backups in %s: %w", dir, err)
	}
	var res PruneResult
	var backups []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if stamp, ok := strings.CutPrefix(name, partialPrefix); ok {
			info, err := e.Info()
			if err != nil || !isStamp(strings.SplitN(stamp, "-", 2)[0]) || time.Since(info.ModTime()) < partialMaxAge {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return res, fmt.Errorf("prune backups: remove unfinished backup %s: %w", name, err)
			}
			res.Partial++
			continue
		}
		if !isStamp(name) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name, BackupManifestFile)); err != nil {
			continue
		}
		backups = append(backups, name)
	}
	slices.Sort(backups) // oldest first: the names are times
	for _, name := range backups[:max(len(backups)-keep, 0)] {
		activity.RecordHeartbeat(ctx, name)
		// Renamed first, so a removal cut short leaves an unfinished backup, which a later
		// prune removes, rather than a backup without its manifest, which none would.
		doomed := filepath.Join(dir, partialPrefix+name+"-pruned")
		if err := os.Rename(filepath.Join(dir, name), doomed); err != nil {
			return res, fmt.Errorf("prune backups: %w", err)
		}
		if err := os.RemoveAll(doomed); err != nil {
			return res, fmt.Errorf("prune backups: remove %s: %w", doomed, err)
		}
		res.Removed = append(res.Removed, name)
	}
	if len(res.Removed) > 0 || res.Partial > 0 {
		activity.GetLogger(ctx).Info("Pruned backups", "dir", dir, "removed", len(res.Removed), "partial", res.Partial, "kept", min(len(backups), keep))
	}
	return res, nil
}

func isStamp(name string) bool {
	_, err := time.Parse(BackupStampLayout, name)
	return err == nil
}
