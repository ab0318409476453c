package workerapp

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
)

// warnIfLocal warns, pointing at doc, when dir (the setting name's) looks like storage that dies with this
// machine or container and that no other worker sees: the temporary directory, or (on
// Linux) a tmpfs or a container's overlay root. Backups there are lost with the worker,
// and with several workers each keeps its own.
func warnIfLocal(log zerolog.Logger, name, dir, doc string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	why := ""
	if tmp, err := filepath.Abs(os.TempDir()); err == nil && (abs == tmp || strings.HasPrefix(abs, tmp+string(filepath.Separator))) {
		why = "it is in the temporary directory"
	} else if fs := ephemeralFS(abs); fs != "" {
		why = "it is on " + fs
	}
	if why == "" {
		return
	}
	log.Warn().Str("setting", name).Str("dir", abs).
		Msgf("%s looks local to this worker (%s): what is written there is lost with the worker, and no other worker sees it. With several workers, set %s to one shared, durable volume (%s)", name, why, name, doc)
}
