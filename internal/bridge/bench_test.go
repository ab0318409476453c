package bridge_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// BenchmarkStarts compares workflow starts per second through the bridge (publish to
// JetStream, consume, route, start, ack) with direct starts from 32 goroutines on the same
// Temporal server in the same run. Run with `make bench` (it starts the Temporal dev server:
// in memory, so the numbers are the server's in-memory rate).
func BenchmarkStarts(b *testing.B) {
	tc := testenv.Temporal(b)
	b.Run("direct", func(b *testing.B) {
		queue := testenv.ID("bench-")
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					_, err := tc.WorkflowService().StartWorkflowExecution(context.Background(), &workflowservice.StartWorkflowExecutionRequest{
						Namespace: "default", WorkflowId: fmt.Sprintf("%s-%d", queue, i),
						WorkflowType: &commonpb.WorkflowType{Name: "UserOnboarding"},
						TaskQueue:    &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
						RequestId:    fmt.Sprintf("%s-%d", queue, i),
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "starts/s")
	})
	b.Run("bridged", func(b *testing.B) {
		n := testenv.StartNATS(b)
		ctx := context.Background()
		if err := events.EnsureStreams(ctx, n.JS, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
		pub := events.NewPublisher(n.JS)
		prefix := testenv.ID("b") + "-"
		for i := range b.N {
			user := fmt.Sprintf("%s%d", prefix, i)
			ev := newEventTB(b, "evt-"+user, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"})
			if _, err := pub.Publish(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		sch, err := events.LoadSchemas(schemas.FS)
		if err != nil {
			b.Fatal(err)
		}
		routes, err := routing.Default()
		if err != nil {
			b.Fatal(err)
		}
		br, err := bridge.New(n.JS, tc, sch, routes, newMetrics(b, prometheus.NewRegistry()), testenv.Logger(b).Level(4), bridge.Config{TaskQueue: testenv.ID("bench-")})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = br.Run(runCtx); close(done) }()
		for {
			c, err := n.JS.Consumer(ctx, events.Stream, events.BridgeConsumer)
			if err == nil {
				if info, err := c.Info(ctx); err == nil && info.AckFloor.Stream >= uint64(b.N) {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "starts/s")
	})
}

func newEventTB(tb testing.TB, id, typ string, data any) events.Event {
	tb.Helper()
	ev := events.Event{}
	ev.SetSpecVersion("1.0")
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource("/bench")
	if err := ev.SetData("application/json", data); err != nil {
		tb.Fatal(err)
	}
	return ev
}

// BenchmarkPrepare is the bridge's CPU per event before it calls Temporal: decode,
// validate against the schema, route.
func BenchmarkPrepare(b *testing.B) {
	sch, err := events.LoadSchemas(schemas.FS)
	if err != nil {
		b.Fatal(err)
	}
	routes, err := routing.Default()
	if err != nil {
		b.Fatal(err)
	}
	m, err := events.Encode(newEventTB(b, "evt-1", "user.signedup", map[string]string{"user_id": "u1", "email": "u1@example.com"}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ev, err := events.Decode(m.Header, m.Data)
		if err != nil {
			b.Fatal(err)
		}
		data := events.DecodeData(ev.Data()) // once, for the schema and the routes, as the bridge does
		if err := sch.ValidateData(ev.Type(), data); err != nil {
			b.Fatal(err)
		}
		if _, _, err := routes.DecideData(ev, data); err != nil {
			b.Fatal(err)
		}
	}
}
