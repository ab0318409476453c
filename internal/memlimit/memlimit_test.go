package memlimit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "memory.max")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestCgroupLimit(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no file
		want    int64
		wantOK  bool
		wantErr string
	}{
		{name: "limit", content: ptr("536870912\n"), want: 512 << 20, wantOK: true},
		{name: "no limit", content: ptr("max\n")},
		{name: "no file"},
		{name: "garbage", content: ptr("lots\n"), wantErr: `"lots"`},
		{name: "zero", content: ptr("0\n"), wantErr: `"0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "memory.max")
			if tt.content != nil {
				path = writeFile(t, *tt.content)
			}
			got, ok, err := CgroupLimit(path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantOK, ok, "ok: got %v, want %v", ok, tt.wantOK)
			require.Equal(t, tt.want, got, "got %d, want %d", got, tt.want)
		})
	}
}

func TestApply(t *testing.T) {
	limited := writeFile(t, "1000000000\n")
	tests := []struct {
		name string
		env  map[string]string
		path string
		want int64 // -1: not set
	}{
		{name: "from the cgroup", path: limited, want: 900000000},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "100MiB"}, path: limited, want: -1},
		{name: "no limit", path: writeFile(t, "max"), want: -1},
		{name: "unreadable value", path: writeFile(t, "x"), want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := int64(-1)
			apply(func(k string) string { return tt.env[k] }, tt.path, func(n int64) int64 { got = n; return 0 }, zerolog.Nop())
			require.Equal(t, tt.want, got, "soft limit: got %d, want %d", got, tt.want)
		})
	}
}

func ptr(s string) *string { return &s }
