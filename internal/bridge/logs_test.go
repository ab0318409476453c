package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// lines is a log sink the test reads back, one JSON object per line.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// about returns the lines whose ce_id is id.
func (l *lines) about(t *testing.T, id string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m), "log line %q", s)
		if m["ce_id"] == id {
			out = append(out, m)
		}
	}
	return out
}

// TestLogsAtProductionLevel: at info, a routed event writes no line (routine lines are at
// debug), and a signal waiting for its workflow logs once, on its first delivery, not on
// every redelivery.
func TestLogsAtProductionLevel(t *testing.T) {
	h := newHarness(t)
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	routes, err := routing.Default()
	require.NoError(t, err)
	sink := &lines{}
	rec := &recorder{}
	log := zerolog.New(sink).Level(zerolog.InfoLevel)
	b, err := bridge.New(h.nats.JS, h.temporal, sch, routes, newMetrics(t, prometheus.NewRegistry()), log,
		bridge.Config{TaskQueue: h.taskQueue, Recorder: rec})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("bridge.Run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	user := testenv.ID("u-")
	signup := newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"})
	early := newEvent(t, testenv.ID("evt-"), "email.verified", map[string]string{"user_id": testenv.ID("nobody-")})
	h.publishBinary(signup)
	h.publishBinary(early)

	testenv.Eventually(t, 20*time.Second, func() bool {
		return len(rec.byEvent(signup.ID())) == 1 && len(rec.byEvent(early.ID())) >= 3
	}, "want the signup routed, the early signal parked and retried from EVENTS_WAITING at least twice")
	require.Equal(t, bridge.OutcomeRouted, rec.byEvent(signup.ID())[0].Outcome)
	for i, o := range rec.byEvent(early.ID()) {
		want := bridge.OutcomeRetried // tried again from EVENTS_WAITING
		if i == 0 {
			want = bridge.OutcomeWaiting // parked
		}
		require.Equal(t, want, o.Outcome, "the early signal waits")
	}

	require.Empty(t, sink.about(t, signup.ID()), "a routed event writes no line at info")
	got := sink.about(t, early.ID())
	require.Len(t, got, 1, "a waiting signal logs once, got %v", got)
	require.Equal(t, "info", got[0]["level"])
	require.Contains(t, got[0]["message"], "Signal parked in EVENTS_WAITING until its workflow is started")
	require.Equal(t, "email-verified", got[0]["route"], "the line names the route")
	require.EqualValues(t, 1, got[0]["delivered"], "on its first delivery")
}
