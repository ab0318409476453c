package events_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

// deploy/nats holds the stream and consumer definitions for operators who create them
// with the nats CLI; they must say what the bridge itself would create.
func TestDeployFilesMatchTheCode(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "nats")
	read := func(name string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, v), name)
	}
	for _, want := range events.StreamConfigs(10 * time.Minute) {
		var got jetstream.StreamConfig
		read(want.Name+".stream.json", &got)
		require.Equal(t, want.Name, got.Name)
		require.Equal(t, want.Subjects, got.Subjects, want.Name)
		require.Equal(t, want.Storage, got.Storage, want.Name)
		require.Equal(t, want.Retention, got.Retention, want.Name)
		require.Equal(t, want.Duplicates, got.Duplicates, want.Name)
		require.Equal(t, want.MaxAge, got.MaxAge, want.Name)
		require.Equal(t, want.AllowDirect, got.AllowDirect, want.Name)
		require.Equal(t, max(want.MaxMsgsPerSubject, 0), max(got.MaxMsgsPerSubject, 0), want.Name) // 0 and -1: no limit
		require.Equal(t, want.Discard, got.Discard, want.Name)
		require.Equal(t, want.Replicas, got.Replicas, want.Name)
		if want.MaxBytes > 0 || got.MaxBytes > 0 {
			require.Equal(t, want.MaxBytes, got.MaxBytes, want.Name)
		}
	}
	for file, want := range map[string]jetstream.ConsumerConfig{
		"EVENTS.bridge.consumer.json":                   events.BridgeConsumerConfig(events.BridgeConsumer, 30*time.Second),
		"EVENTS_WAITING.bridge-waiting.consumer.json":   events.WaitingConsumerConfig(30 * time.Second),
		"EVENTS_DEBOUNCE.bridge-debounce.consumer.json": events.DebounceConsumerConfig(30 * time.Second),
		"EVENTS_BATCH.bridge-batch.consumer.json":       events.BatchConsumerConfig(30 * time.Second),
	} {
		var got jetstream.ConsumerConfig
		read(file, &got)
		require.Equal(t, want.Durable, got.Durable, file)
		require.Equal(t, want.FilterSubject, got.FilterSubject, file)
		require.Equal(t, want.DeliverPolicy, got.DeliverPolicy, file)
		require.Equal(t, want.AckPolicy, got.AckPolicy, file)
		require.Equal(t, want.AckWait, got.AckWait, file)
		require.Equal(t, want.MaxDeliver, got.MaxDeliver, file)
		require.Equal(t, want.MaxAckPending, got.MaxAckPending, file)
	}
}
