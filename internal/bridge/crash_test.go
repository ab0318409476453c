package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// SIGKILL the bridge process in the middle of 1,000 events and start it again: every
// event is routed, and no workflow is started twice.
func TestBridgeKilledMidStreamRoutesEveryEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bridge binary")
	}
	const n = 1000
	h := newHarness(t)
	bin := buildBridge(t)
	prefix := testenv.ID("k") + "-"
	for i := range n {
		user := fmt.Sprintf("%s%04d", prefix, i)
		h.publishBinary(newEvent(t, "evt-"+user, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	}

	first, _ := h.startBridgeProcess(bin, "first")
	var acked uint64
	testenv.Eventually(t, 60*time.Second, func() bool {
		acked = h.consumerAckFloor()
		return acked >= n/4
	}, "the first bridge routed only %d events", acked)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	acked = h.consumerAckFloor()
	t.Logf("killed the bridge after %d deliveries, %d acked", h.consumerDelivered(), acked)
	require.Less(t, acked, uint64(n), "the bridge was killed before it finished")

	h.startBridgeProcess(bin, "second")
	h.consumerSettled(90 * time.Second)

	// Each of the n workflow ids exists, and there are exactly n executions on the task
	// queue: no id was started twice.
	h.waitExecutions(n)
	for _, i := range []int{0, n / 3, n / 2, n - 1} {
		h.waitExists(fmt.Sprintf("onboarding-%s%04d", prefix, i))
	}
	require.Empty(t, h.dlq())
}

func buildBridge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bridge")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/flowbridge/flowbridge/cmd/bridge").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// startBridgeProcess runs the bridge binary against the harness's servers; its log goes
// to the test log when the test fails.
func (h *harness) startBridgeProcess(bin, name string, env ...string) (*exec.Cmd, string) {
	h.t.Helper()
	logPath := filepath.Join(h.t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(h.t, err)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"NATS_URL="+h.nats.URL,
		"TEMPORAL_ADDRESS="+testenv.TemporalAddress(),
		"TEMPORAL_TASK_QUEUE="+h.taskQueue,
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_LEVEL=warn",
		"BRIDGE_ACK_WAIT=2s",
		// A migrated schema of its own for the ledger: the bridge never migrates.
		"DATABASE_URL="+testenv.Postgres(h.t),
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(h.t, cmd.Start())
	h.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if h.t.Failed() {
			b, _ := os.ReadFile(logPath)
			h.t.Logf("%s bridge log:\n%s", name, b)
		}
	})
	return cmd, logPath
}

func (h *harness) consumerInfo() (delivered, ackFloor uint64) {
	c, err := h.nats.JS.Consumer(context.Background(), events.Stream, events.BridgeConsumer)
	if err != nil {
		return 0, 0
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return 0, 0
	}
	return info.Delivered.Stream, info.AckFloor.Stream
}

func (h *harness) consumerDelivered() uint64 { d, _ := h.consumerInfo(); return d }
func (h *harness) consumerAckFloor() uint64  { _, a := h.consumerInfo(); return a }

// SIGTERM stops taking events and finishes the ones in flight before the process exits:
// nothing is left waiting for AckWait.
func TestBridgeSIGTERMDrainsInFlightEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bridge binary")
	}
	const n = 300
	h := newHarness(t)
	bin := buildBridge(t)
	prefix := testenv.ID("d") + "-"
	for i := range n {
		user := fmt.Sprintf("%s%04d", prefix, i)
		h.publishBinary(newEvent(t, "evt-"+user, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	}
	cmd, logPath := h.startBridgeProcess(bin, "drained", "BRIDGE_ACK_WAIT=10m", "LOG_LEVEL=info")
	testenv.Eventually(t, 60*time.Second, func() bool { return h.consumerDelivered() >= n/3 }, "the bridge took too few events")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "the bridge exits 0 on SIGTERM")

	c, err := h.nats.JS.Consumer(context.Background(), events.Stream, events.BridgeConsumer)
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	drained := drainedLine(t, logPath)
	t.Logf("after SIGTERM: delivered %d, acked through %d, unacked %d; the bridge took %d and settled %d",
		info.Delivered.Consumer, info.AckFloor.Consumer, info.NumAckPending, drained.Taken, drained.Settled)
	require.Equal(t, drained.Taken, drained.Settled, "every event the bridge took was settled before it exited")
	require.GreaterOrEqual(t, drained.Taken, int64(n/3))
	// The only unacked messages are ones the server sent while the subscription was
	// closing, which never reached the bridge: they are redelivered after AckWait.
	require.Equal(t, int64(info.Delivered.Consumer)-drained.Taken, int64(info.NumAckPending), "every settlement reached the server")
}

// drainedLine finds the bridge's "Bridge drained" log line.
func drainedLine(t *testing.T, logPath string) (line struct{ Taken, Settled int64 }) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		var rec struct {
			Message string `json:"message"`
			Taken   int64  `json:"taken"`
			Settled int64  `json:"settled"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Message == "Bridge drained" {
			line.Taken, line.Settled = rec.Taken, rec.Settled
			return line
		}
	}
	t.Fatalf("no \"Bridge drained\" line in the bridge's log:\n%s", b)
	return line
}

// A restart of NATS in the middle of the stream (its JetStream files kept, as a restarted
// server keeps them) loses nothing and starts nothing twice: the bridge reconnects and
// carries on with the durable consumer.
func TestNATSRestartLosesNothing(t *testing.T) {
	const n = 200
	h := newHarness(t)
	h.startBridge(h.temporal, bridge.Config{AckWait: 2 * time.Second})
	prefix := testenv.ID("nr") + "-"
	publish := func(i int) {
		user := fmt.Sprintf("%s%04d", prefix, i)
		ev := newEvent(t, "evt-"+user, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"})
		// While NATS is restarting a publish fails at once: a publisher retries, and the
		// stream's duplicate window makes a retry after a lost answer harmless.
		testenv.Eventually(t, 30*time.Second, func() bool {
			_, err := h.pub.Publish(context.Background(), ev)
			return err == nil
		}, "could not publish %s", ev.ID())
	}
	for i := range n / 2 {
		publish(i)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return h.consumerAckFloor() >= n/4 }, "the bridge routed too few events before the restart")
	h.nats.Restart()
	for i := n / 2; i < n; i++ {
		publish(i)
	}
	h.consumerSettled(90 * time.Second)

	h.waitExecutions(n)
	require.Empty(t, h.dlq())
}

// waitExecutions waits until the harness's task queue has exactly n workflow executions
// (runs, not ids: a workflow started twice would count twice). Visibility lags a little.
func (h *harness) waitExecutions(n int64) {
	h.t.Helper()
	var count int64
	testenv.Eventually(h.t, 30*time.Second, func() bool {
		resp, err := h.temporal.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{
			Query: fmt.Sprintf("TaskQueue = '%s'", h.taskQueue),
		})
		if err != nil {
			return false
		}
		count = resp.GetCount()
		return count == n
	}, "%d workflow executions on the task queue, want %d", count, n)
}
