package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/rs/zerolog"
)

// StartTemporal runs a Temporal dev server of the test's own (in memory, on a free port of
// 127.0.0.1) with extra arguments, such as "--dynamic-config-value",
// "frontend.namespaceRPS=50", and returns a client of it; both end with the test. The
// server is the pinned CLI in bin/ (TEMPORAL_BIN overrides), which `make test` builds.
func StartTemporal(t testing.TB, extra ...string) client.Client {
	t.Helper()
	bin := os.Getenv("TEMPORAL_BIN")
	if bin == "" {
		bin = filepath.Join(moduleRoot(t), "bin", "temporal")
	}
	if _, err := os.Stat(bin); err != nil {
		missing(t, "the Temporal CLI at "+bin+" (make tools builds it; TEMPORAL_BIN overrides)", err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	_, uiPort, _ := net.SplitHostPort(freeAddr(t))
	args := append([]string{"server", "start-dev", "--ip", "127.0.0.1", "--port", port,
		"--ui-port", uiPort, "--headless", "--log-level", "error"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: logging.NewTemporal(Logger(t).Level(zerolog.WarnLevel))})
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
			if err != nil {
				c.Close()
			}
		}
		cancel()
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("Temporal dev server at %s did not answer within 60s: %v", addr, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
