// Package version says which build of flowbridge is running, from what the Go toolchain
// recorded in the binary.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// String is one line naming the program's module version, VCS revision and Go version,
// such as "v1.2.0 (rev 50de237a1b2c, 2026-05-01T12:00:00Z) go1.26.0". A build without
// VCS stamping (go build -buildvcs=false, go run) says "(devel)" and leaves the revision out.
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (built without module information)"
	}
	var rev, when, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	var b strings.Builder
	b.WriteString(info.Main.Version)
	if rev != "" {
		fmt.Fprintf(&b, " (rev %s", rev)
		if when != "" {
			b.WriteString(", " + when)
		}
		b.WriteString(dirty + ")")
	}
	b.WriteString(" " + info.GoVersion)
	return b.String()
}
