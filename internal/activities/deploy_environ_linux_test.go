package activities_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A blueprint step runs as the worker's user: the worker must be non-dumpable, so the
// step cannot read /proc/<worker>/environ (and the secrets in it) or ptrace the worker.
func TestNewDeploysHidesTheWorkersEnvironment(t *testing.T) {
	newDeployFixture(t)
	dumpable, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_GET_DUMPABLE, 0, 0)
	require.Zero(t, errno)
	require.Zero(t, dumpable, "PR_GET_DUMPABLE: got %d, want 0", dumpable)
}
