// Package version says which build of flowbridge is running, from what the Go toolchain
// recorded in the binary.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Build is what the toolchain recorded about the running binary.
type Build struct {
	// Version is the main module's version: a tag such as "v1.2.0", a pseudo-version, or
	// "(devel)" for a build from a work tree; "unknown" without module information.
	Version string
	// Commit is the VCS revision, in full, with "-modified" when the work tree had
	// uncommitted changes; empty when the build was not stamped (go build
	// -buildvcs=false, go run, go test).
	Commit string
	// Time is the commit's time (RFC 3339), empty when Commit is.
	Time string
	// GoVersion is the toolchain that built the binary, such as "go1.26.0".
	GoVersion string
}

// Read returns what the toolchain recorded about the running binary.
func Read() Build {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Build{Version: "unknown"}
	}
	b := Build{Version: info.Main.Version, GoVersion: info.GoVersion}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if b.Commit != "" && modified {
		b.Commit += "-modified"
	}
	return b
}

// String is one line naming the program's module version, VCS revision and Go version,
// such as "v1.2.0 (rev 50de237a1b2c, 2026-05-01T12:00:00Z) go1.26.0". A build without
// VCS stamping (go build -buildvcs=false, go run) says "(devel)" and leaves the revision out.
func String() string {
	b := Read()
	if b.GoVersion == "" {
		return "unknown (built without module information)"
	}
	var s strings.Builder
	s.WriteString(b.Version)
	if rev, modified := strings.CutSuffix(b.Commit, "-modified"); rev != "" {
		fmt.Fprintf(&s, " (rev %s", rev[:min(12, len(rev))])
		if b.Time != "" {
			s.WriteString(", " + b.Time)
		}
		if modified {
			s.WriteString(", modified")
		}
		s.WriteString(")")
	}
	s.WriteString(" " + b.GoVersion)
	return s.String()
}
