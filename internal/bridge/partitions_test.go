package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// Partitioned mode (EVENTS_PARTITIONS): three bridge processes on one stream, 50
// workflows × 40 signals published in order. The partitions spread over the three; the
// bridge holding the most consumers is killed (SIGKILL) a third of the way through or
// later, and the others take its partitions over. Every workflow takes its 40 signals
// in the order they were published, each once in Temporal's history, and nothing is
// dead-lettered. (Without partitions two replicas may signal one workflow at once, and
// order across replicas is not promised: this test fails then.)
func TestPartitionedOrderAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bridge binary")
	}
	const workflows, notesEach, partitions = 50, 40, 8
	h := newHarness(t)
	queue := testenv.ID("ord-")
	w := worker.New(h.temporal, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(RecordSignals, workflow.RegisterOptions{Name: "RecordSignals"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	require.NoError(t, os.WriteFile(routesFile, fmt.Appendf(nil, `
routes:
  - name: start-recorder
    events: [test.start]
    action: start
    workflow: RecordSignals
    task_queue: %s
    id: 'rec-{{ .data.key }}'
    run_timeout: 1h
  - name: note
    events: [test.note]
    action: signal
    signal: note
    id: 'rec-{{ .data.key }}'
`, queue), 0o600))
	keyed := []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["key"],"properties":{"key":{"type":"string","minLength":1}}}`)
	for _, typ := range []string{"test.start", "test.note"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, typ+".json"), keyed, 0o600))
	}
	bin := buildBridge(t)
	env := []string{"EVENTS_PARTITIONS=" + fmt.Sprint(partitions), "ROUTES_FILE=" + routesFile, "SCHEMAS_DIR=" + dir, "LOG_LEVEL=info"}
	bridges := make([]*os.Process, 3)
	logs := make([]string, 3)
	for i := range bridges {
		cmd, log := h.startBridgeProcess(bin, fmt.Sprintf("bridge-%d", i), append(env, "ADMIN_ADDR="+freeAddr(t))...)
		bridges[i], logs[i] = cmd.Process, log
	}

	prefix := testenv.ID("o") + "-"
	key := func(i int) string { return fmt.Sprintf("%s%02d", prefix, i) }
	want := map[string][]string{} // workflow id → its note event ids, in publish order
	var publish []events.Event
	for i := range workflows {
		publish = append(publish, newEvent(t, testenv.ID("evt-"), "test.start", map[string]string{"key": key(i)}))
	}
	for range notesEach {
		for i := range workflows {
			ev := newEvent(t, testenv.ID("evt-"), "test.note", map[string]string{"key": key(i)})
			want["rec-"+key(i)] = append(want["rec-"+key(i)], ev.ID())
			publish = append(publish, ev)
		}
	}
	// Published in order by one publisher while the bridges route (its async window keeps
	// stream order: one connection, one stream), a round of notes every 400 ms: the
	// events keep coming for about 16 s however fast the machine, so the bridges have
	// the time to spread the partitions (every 5 s) before one is killed.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, ev := range publish {
			h.publishBinary(ev)
			if i >= workflows && (i-workflows)%workflows == workflows-1 {
				time.Sleep(400 * time.Millisecond)
			}
		}
	})

	// The first bridge to pull takes every partition; within seconds it gives the others
	// their share (balance).
	total := uint64(len(publish))
	holders := func() (n int) {
		for _, l := range logs {
			b, err := os.ReadFile(l)
			require.NoError(t, err)
			if holdsPartition.Match(b) {
				n++
			}
		}
		return n
	}
	testenv.Eventually(t, 3*time.Minute, func() bool { return h.partitionsAcked() >= total/3 && holders() == len(logs) },
		"the bridges routed %d of %d events; %d of %d bridges hold partitions", h.partitionsAcked(), total, holders(), len(logs))
	// Kill the bridge that took the most consumers (pinned ones, on this server): the
	// two others must take its partitions over, in order.
	victim, most := 0, -1
	for i, l := range logs {
		b, err := os.ReadFile(l)
		require.NoError(t, err)
		if n := bytes.Count(b, []byte("This bridge holds the consumer now")); n > most {
			victim, most = i, n
		}
	}
	require.Positive(t, most, "a bridge says which pinned consumers it holds")
	require.NoError(t, bridges[victim].Signal(syscall.SIGKILL))
	logSizeAtKill := make([]int, len(logs))
	for i, l := range logs {
		b, err := os.ReadFile(l)
		require.NoError(t, err)
		logSizeAtKill[i] = len(b)
	}
	t.Logf("killed bridge-%d, which had taken %d consumers, after %d of %d events were routed", victim, most, h.partitionsAcked(), total)
	wg.Wait()

	for i := range workflows {
		id := "rec-" + key(i)
		testenv.Eventually(t, 3*time.Minute, func() bool { return h.status(id) != 0 && len(h.recorderState(id).Notes) == notesEach },
			"%s has %d of %d notes", id, len(h.recorderState(id).Notes), notesEach)
		require.Equal(t, want[id], h.recorderState(id).Notes, "%s took its notes in the order they were published", id)
		require.Equal(t, notesEach, signalsInHistory(t, h.temporal, id, "note"), "%s: one signal per note event in Temporal's history", id)
	}
	require.Empty(t, h.dlq(), "nothing dead-lettered")

	// The killed bridge's partitions went to the others (which of them, and how many each,
	// depends on who pulled first and on the balancing; a loaded machine may finish the
	// rest before the second survivor gets its share).
	tookOver := 0
	for i, l := range logs {
		if i == victim {
			continue
		}
		b, err := os.ReadFile(l)
		require.NoError(t, err)
		tookOver += len(holdsPartition.FindAllString(string(b[logSizeAtKill[i]:]), -1))
	}
	require.Positive(t, tookOver, "the other bridges took the killed one's partitions over")
}

// holdsPartition matches a bridge's log line saying it was given a partition.
var holdsPartition = regexp.MustCompile(`"consumer":"bridge-partition-\d+"[^\n]*"message":"This bridge holds the consumer now"`)

// partitionsAcked sums the events the partitions' consumers have acked (their ack floor:
// a partition's events are acked one at a time, in order).
func (h *harness) partitionsAcked() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.nats.JS.Stream(ctx, events.PartitionStream)
	if err != nil {
		return 0
	}
	var n uint64
	for c := range s.ListConsumers(ctx).Info() {
		n += c.AckFloor.Consumer
	}
	return n
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
