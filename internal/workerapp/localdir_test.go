package workerapp

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
)

// A BACKUP_DIR in the temporary directory (its default) is local to the worker, and the
// worker says so at start.
func TestWarnIfLocalBackupDir(t *testing.T) {
	var buf bytes.Buffer
	warnIfLocal(zerolog.New(&buf), "BACKUP_DIR", filepath.Join(os.TempDir(), "flowbridge-backups"), "docs/CONTRACT.md")
	require.Contains(t, buf.String(), `"level":"warn"`)
	require.Contains(t, buf.String(), "BACKUP_DIR looks local to this worker (it is in the temporary directory)")
	require.Contains(t, buf.String(), "set BACKUP_DIR to one shared, durable volume")
}

// Unset, the worker's own task queue is the shared one's name with the host and the
// process id, unique among running workers; WORKER_TASK_QUEUE names it.
func TestWorkerTaskQueue(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	tests := []struct {
		name string
		cfg  config.Worker
		want string
	}{
		{"default", config.Worker{Common: config.Common{TaskQueue: "flowbridge"}}, "flowbridge-worker-" + host + "-" + strconv.Itoa(os.Getpid())},
		{"WORKER_TASK_QUEUE", config.Worker{Common: config.Common{TaskQueue: "flowbridge"}, WorkerTaskQueue: "flowbridge-worker-0"}, "flowbridge-worker-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := workerTaskQueue(tt.cfg)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}
