package workerapp

import (
	"path/filepath"
	"syscall"
)

// ephemeralFS names the file system of path, or of its nearest existing parent, when it
// is a tmpfs or an overlay (a container's own root), or returns "".
func ephemeralFS(path string) string {
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(path, &st); err == nil {
			switch st.Type {
			case 0x01021994: // TMPFS_MAGIC
				return "a tmpfs"
			case 0x794c7630: // OVERLAYFS_SUPER_MAGIC
				return "the container's overlay file system (no volume mounted there)"
			}
			return ""
		}
		parent := filepath.Dir(path)
		if parent == path {
			return ""
		}
		path = parent
	}
}
