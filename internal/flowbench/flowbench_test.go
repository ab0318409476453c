package flowbench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowbridge/flowbridge/internal/testenv"
)

// logWriter sends progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestQuickRun runs the whole benchmark small against the test servers: every measure is
// taken, the backlog's workflows all exist, and the table holds a verdict per target.
func TestQuickRun(t *testing.T) {
	testenv.Temporal(t) // fails (CI) or skips with how to start it
	db := testenv.Postgres(t)
	bridge := filepath.Join(t.TempDir(), "bridge")
	if out, err := exec.Command("go", "build", "-o", bridge, "github.com/flowbridge/flowbridge/cmd/bridge").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/bridge: %v\n%s", err, out)
	}
	cfg := Quick(Defaults())
	cfg.TemporalAddress = testenv.TemporalAddress()
	cfg.TaskQueue = testenv.ID("flowbench-") // no worker of another test picks these up
	cfg.BridgeBin = bridge
	cfg.DatabaseURL = db
	cfg.Backlog = 200
	cfg.WorkDir = t.TempDir()
	cfg.Progress = logWriter{t}

	res, err := Run(context.Background(), cfg)
	if err != nil {
		if log, rerr := os.ReadFile(filepath.Join(cfg.WorkDir, "bridge.log")); rerr == nil {
			t.Logf("bridge.log:\n%s", tail(log, 4000))
		}
		t.Fatal(err)
	}
	for _, l := range res.Direct {
		if l.Rate <= 0 {
			t.Errorf("direct at %d concurrent: got %v starts/s, want > 0", l.Concurrency, l.Rate)
		}
	}
	if len(res.Direct) != len(cfg.Levels) {
		t.Errorf("got %d sweep levels, want %d", len(res.Direct), len(cfg.Levels))
	}
	if res.Drain.events != int64(cfg.Backlog) || res.Verified != int64(cfg.Backlog) {
		t.Errorf("bridge settled %d, Temporal counts %d; want %d each", res.Drain.events, res.Verified, cfg.Backlog)
	}
	if res.Drain.cpuPerEv <= 0 || res.Drain.peakRSS <= 0 {
		t.Errorf("got CPU %v per event and peak RSS %d, want both > 0", res.Drain.cpuPerEv, res.Drain.peakRSS)
	}
	if res.DirectP99 <= 0 || res.BridgedP99 <= 0 {
		t.Errorf("got p99 direct %v, bridged %v; want both > 0", res.DirectP99, res.BridgedP99)
	}
	if res.Ingress.accepted == 0 || res.StoredByIng != uint64(res.Ingress.accepted) {
		t.Errorf("ingress: %d answered 202, the stream gained %d; want the same, > 0", res.Ingress.accepted, res.StoredByIng)
	}
	if e := res.Early; e.n != cfg.EarlySignals || e.delivered != int64(cfg.EarlySignals) || e.deadLet != 0 {
		t.Errorf("early signals: %d of %d workflows took their own signal once, %v dead letters; want all, none", e.delivered, e.n, e.deadLet)
	}
	var table bytes.Buffer
	res.Table(&table)
	t.Log("\n" + table.String())
	verdicts := strings.Count(table.String(), "| meets |") + strings.Count(table.String(), "| MISSES |")
	if verdicts != 6 {
		t.Errorf("got %d verdicts in the table, want 6 (one per target)", verdicts)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
