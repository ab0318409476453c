package setup_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/setup"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// Streams and consumers created from deploy/nats with the nats CLI's definitions are what
// `bridge setup` wants with the default settings: it finds nothing to change.
func TestDeployFilesAreWhatSetupWants(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := t.Context()
	read := func(name string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats", name))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, v), name)
	}
	for _, name := range []string{events.Stream, events.DLQStream, events.WaitingStream, events.DebounceStream, events.BatchStream} {
		var cfg jetstream.StreamConfig
		read(name+".stream.json", &cfg)
		_, err := n.JS.CreateStream(ctx, cfg)
		require.NoError(t, err, name)
	}
	for stream, file := range map[string]string{events.Stream: "EVENTS.bridge.consumer.json", events.WaitingStream: "EVENTS_WAITING.bridge-waiting.consumer.json",
		events.DebounceStream: "EVENTS_DEBOUNCE.bridge-debounce.consumer.json", events.BatchStream: "EVENTS_BATCH.bridge-batch.consumer.json"} {
		var cfg jetstream.ConsumerConfig
		read(file, &cfg)
		_, err := n.JS.CreateConsumer(ctx, stream, cfg)
		require.NoError(t, err, file)
	}

	p, err := setup.PlanJetStream(ctx, n.JS, events.StreamSettings{DuplicateWindow: 10 * time.Minute}, 30*time.Second)
	require.NoError(t, err)
	var lines []string
	for _, c := range p.Changes {
		lines = append(lines, c.Lines()...)
	}
	require.Empty(t, lines, "bridge setup would change what deploy/nats creates")
	require.Len(t, p.Unchanged, 9, "got %v", p.Unchanged)
}
