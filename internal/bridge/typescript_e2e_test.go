package bridge_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// Nothing flowbridge sends is Go-specific: a TypeScript worker (examples/typescript, the
// Temporal TypeScript SDK from npm) runs userOnboardingWorkflow(userId, email), started by
// a route with two positional arguments and completed by the emailVerified signal, which
// carries the event envelope. It needs node and npm; CI fails without them.
func TestTypeScriptWorker(t *testing.T) {
	dir := typescriptWorker(t)
	h := newHarness(t)
	queue := testenv.ID("ts-")
	runNodeWorker(t, dir, queue)
	h.routes = parseRoutes(t, fmt.Sprintf(`
routes:
  - name: ts-onboarding
    events: [user.signedup]
    action: start
    workflow: userOnboardingWorkflow
    task_queue: %[1]s
    id: 'ts-onboarding-{{ .data.user_id }}'
    args: [data.user_id, data.email]
  - name: ts-verified
    events: [email.verified]
    action: signal
    signal: emailVerified
    id: 'ts-onboarding-{{ .data.user_id }}'
`, queue))
	h.startBridge(h.temporal, bridge.Config{})

	user := testenv.ID("u-")
	h.publishStructured(newEvent(t, testenv.ID("ev-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	verified := newEvent(t, testenv.ID("ev-"), "email.verified", map[string]string{"user_id": user})
	h.publishBinary(verified)

	id := "ts-onboarding-" + user
	testenv.Eventually(t, 30*time.Second, func() bool {
		return h.status(id) != enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
	}, "the bridge did not start %s", id)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var got struct {
		UserID        string `json:"userId"`
		Email         string `json:"email"`
		VerifiedBy    string `json:"verifiedBy"`
		CorrelationID string `json:"correlationId"`
	}
	require.NoError(t, h.temporal.GetWorkflow(ctx, id, "").Get(ctx, &got), "the TypeScript workflow did not complete")
	require.Equal(t, user, got.UserID)
	require.Equal(t, user+"@example.com", got.Email)
	require.Equal(t, verified.ID(), got.VerifiedBy, "the signal's envelope carries the event id")
	require.Equal(t, verified.ID(), got.CorrelationID, "an event without correlationid correlates by its own id")
}

// typescriptWorker copies examples/typescript to .dev/typescript-worker (outside the Go
// packages: npm packages hold Go files), installs its locked packages with npm ci unless
// they are installed already for this lockfile and node, compiles it, and returns the
// directory.
func typescriptWorker(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s is not installed (%v): TestTypeScriptWorker needs Node.js 20.3 or later with npm (Debian: apt-get install nodejs npm)", tool, err)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	src := filepath.Join(root, "examples", "typescript")
	dir := filepath.Join(root, ".dev", "typescript-worker")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	for _, f := range []string{"package.json", "package-lock.json", "tsconfig.json"} {
		copyFile(t, filepath.Join(src, f), filepath.Join(dir, f))
	}
	ts, err := filepath.Glob(filepath.Join(src, "src", "*.ts"))
	require.NoError(t, err)
	for _, f := range ts {
		copyFile(t, f, filepath.Join(dir, "src", filepath.Base(f)))
	}

	nodeVersion := strings.TrimSpace(run(t, dir, "node", "--version"))
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	require.NoError(t, err)
	sum := sha256.Sum256(append(lock, nodeVersion...))
	stamp, want := filepath.Join(dir, "node_modules", ".flowbridge-installed"), hex.EncodeToString(sum[:])
	if have, _ := os.ReadFile(stamp); string(have) != want {
		t.Logf("npm ci in %s (node %s; the first run downloads the Temporal SDK, about 150 packages)", dir, nodeVersion)
		began := time.Now()
		run(t, dir, "npm", "ci", "--no-audit", "--no-fund")
		require.NoError(t, os.WriteFile(stamp, []byte(want), 0o644))
		t.Logf("npm ci took %s", time.Since(began).Round(time.Second))
	}
	run(t, dir, "node", filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", ".")
	return dir
}

// runNodeWorker runs the compiled worker on queue until the test ends, its output in the
// test's log.
func runNodeWorker(t *testing.T, dir, queue string) {
	t.Helper()
	cmd := exec.Command("node", filepath.Join("lib", "worker.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+testenv.TemporalAddress(), "TEMPORAL_NAMESPACE=default", "TEMPORAL_TASK_QUEUE="+queue)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() {
		defer close(done)
		logLines(t, "node worker: ", out)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // the SDK shuts the worker down on SIGTERM
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = cmd.Wait()
	})
}

// run runs a command in dir, its output in the test's log as it comes, and returns it.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start(), "%s %s", name, strings.Join(args, " "))
	var b strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		logLines(t, name+": ", io.TeeReader(pr, &b))
	}()
	err := cmd.Wait()
	_ = pw.Close()
	<-done
	require.NoError(t, err, "%s %s in %s failed:\n%s", name, strings.Join(args, " "), dir, b.String())
	return b.String()
}

func logLines(t *testing.T, prefix string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t.Log(prefix + sc.Text())
	}
	_, _ = io.Copy(io.Discard, r)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o644))
}
