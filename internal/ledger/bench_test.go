package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func benchOutcome(id string) bridge.Outcome {
	now := time.Now()
	return bridge.Outcome{
		EventID: id, EventType: "user.signedup", Source: "/signup", Subject: "events.user.signedup",
		CorrelationID: id, StreamSeq: 1, Delivered: 1, ReceivedAt: now, SettledAt: now,
		Outcome: bridge.OutcomeRouted,
		Routes:  []bridge.RouteResult{{Route: "user-onboarding", Action: "start", WorkflowID: "onboarding-" + id, RunID: "0195b9d4-7c1e-7f3a-9d2b-5f0c8e6a4b21", Result: "done"}},
	}
}

func benchLedger(b *testing.B, cfg Config) *Ledger {
	b.Helper()
	l, err := New(func(context.Context) (*store.Store, error) { return nil, errors.New("not used") }, nil, zerolog.Nop(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkRecord is what the ledger costs the bridge's hot path per delivery. "queued"
// is Record into a buffer with room (it is emptied off the clock); "dropped" is Record
// from many goroutines into a full buffer, so every call takes the drop path.
func BenchmarkRecord(b *testing.B) {
	o := benchOutcome("e1")
	b.Run("queued", func(b *testing.B) {
		l := benchLedger(b, Config{Buffer: 1 << 16})
		b.ReportAllocs()
		for done := 0; done < b.N; {
			n := min(b.N-done, cap(l.in))
			for range n {
				l.Record(o)
			}
			done += n
			b.StopTimer() // empty the buffer, as the writer would, off the clock
			l.discard()
			b.StartTimer()
		}
		b.StopTimer()
		s := l.Stats()
		b.ReportMetric(float64(s.Dropped[DropBufferFull]+s.Dropped[DropUnavailable])/float64(b.N), "dropped/op")
	})
	b.Run("dropped", func(b *testing.B) {
		l := benchLedger(b, Config{Buffer: 1})
		l.Record(o)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Record(o)
			}
		})
	})
}

// BenchmarkWriter is how many outcomes per second the writer puts into PostgreSQL, by
// batch size: outcomes are fed to it as fast as it takes them, each a new event.
func BenchmarkWriter(b *testing.B) {
	for _, batch := range []int{100, 500, 2000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			url := testenv.Postgres(b)
			l, err := New(func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, url) }, nil, zerolog.Nop(),
				Config{BatchSize: batch, Buffer: 4 * batch})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()
			defer func() { cancel(); <-done }()
			deadline := time.Now().Add(30 * time.Second)
			for l.store.Load() == nil {
				if time.Now().After(deadline) {
					b.Fatal("the ledger did not open its store in 30s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			prefix := testenv.ID("b")
			outs := make([]bridge.Outcome, b.N)
			for i := range outs {
				outs[i] = benchOutcome(fmt.Sprintf("%s-%d", prefix, i))
			}

			b.ResetTimer()
			begin := time.Now()
			for _, o := range outs {
				l.in <- o // the writer's pace, not Record's drop path
			}
			for l.written.Load() < uint64(b.N) {
				if l.dropped[reasonWriteFailed].Load() > 0 {
					b.Fatalf("writes failed: %+v", l.Stats())
				}
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(begin)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "outcomes/s")
		})
	}
}
