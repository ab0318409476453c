package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Promtool returns the path of promtool (PROMTOOL, else on PATH): Debian's `prometheus`
// package, which scripts/test.sh installs when it is missing. Without it the test fails
// under CI and skips elsewhere.
func Promtool(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath(env("PROMTOOL", "promtool"))
	if err != nil {
		msg := "promtool is not installed (" + err.Error() + "); `make test` installs it (apt-get install prometheus)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}
