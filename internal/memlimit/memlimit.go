// Package memlimit sets the Go runtime's soft memory limit from the container's memory
// limit, so that the garbage collector works harder as the process nears the limit
// instead of the kernel killing it there.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// CgroupMemoryMax is the cgroup v2 file holding the memory limit of the process's cgroup
// ("max": none).
const CgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// Fraction of the cgroup's memory limit that becomes the soft limit: the rest is room for
// what the Go runtime does not count (C memory, page cache charged to the cgroup).
const Fraction = 0.9

// Apply sets the soft memory limit to Fraction of the cgroup's memory.max, and logs what
// it chose. It does nothing when GOMEMLIMIT is set (the runtime applied it already) or
// the cgroup has no limit (memory.max is "max" or absent, as outside a container).
func Apply(getenv func(string) string, log zerolog.Logger) {
	apply(getenv, CgroupMemoryMax, debug.SetMemoryLimit, log)
}

func apply(getenv func(string) string, path string, set func(int64) int64, log zerolog.Logger) {
	if v := getenv("GOMEMLIMIT"); v != "" {
		log.Info().Str("gomemlimit", v).Msg("Soft memory limit from GOMEMLIMIT")
		return
	}
	max, ok, err := CgroupLimit(path)
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("Soft memory limit not set: set GOMEMLIMIT (e.g. 90% of the container's memory)")
	case !ok:
		log.Debug().Str("file", path).Msg("No cgroup memory limit; no soft memory limit set")
	default:
		limit := int64(float64(max) * Fraction)
		set(limit)
		log.Info().Int64("limit_bytes", limit).Int64("cgroup_memory_max", max).Str("file", path).
			Msgf("Soft memory limit set to %.0f%% of the cgroup's memory limit (GOMEMLIMIT overrides it)", Fraction*100)
	}
}

// CgroupLimit reads a cgroup v2 memory.max file: the limit in bytes and true, or false when
// there is none ("max", or no such file).
func CgroupLimit(path string) (int64, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read cgroup memory limit: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n == math.MaxInt64 {
		return 0, false, fmt.Errorf("cgroup memory limit in %s is %q, not a positive number of bytes or \"max\"", path, s)
	}
	return n, true, nil
}
