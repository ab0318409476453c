package testenv

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Build compiles the main package in the current directory into t.TempDir and returns
// the binary's path.
func Build(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

// Run is how one run of a binary went.
type Run struct {
	Code           int
	Stdout, Stderr string
}

// RunBinary runs bin with args and an environment of env only. A run still going after
// timeout is killed and fails the test: a command line that should have been refused
// started the process instead.
func RunBinary(t testing.TB, bin string, env []string, timeout time.Duration, args ...string) Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q still ran after %v: it started instead of exiting\nstderr: %s", filepath.Base(bin), args, timeout, stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s %q: %v", filepath.Base(bin), args, err)
	}
	return Run{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
}

// Trap is a TCP listener that accepts nothing: point a binary's servers at it, and
// Connected says whether the binary tried to reach one of them.
type Trap struct {
	l *net.TCPListener
}

// NewTrap listens on a free port of 127.0.0.1 until the test ends.
func NewTrap(t testing.TB) *Trap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return &Trap{l: l.(*net.TCPListener)}
}

// Addr is the trap's host:port.
func (tr *Trap) Addr() string { return tr.l.Addr().String() }

// Connected reports whether a connection reached the trap since the last call. A
// connection whose process has exited since is still counted.
func (tr *Trap) Connected(t testing.TB) bool {
	t.Helper()
	if err := tr.l.SetDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatalf("trap: %v", err)
	}
	c, err := tr.l.Accept()
	if err == nil {
		_ = c.Close()
		return true
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("trap: %v", err)
	}
	return false
}
