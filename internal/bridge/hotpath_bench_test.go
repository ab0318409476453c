package bridge

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// The benchmarks here measure the bridge's own CPU per event, without Temporal: what the
// bridge adds on top of the gRPC call. Run them with a fixed count, e.g.
//
//	go test -run '^$' -bench 'Prepare|Handle' -benchmem -benchtime 20000x ./internal/bridge/

// acceptingTemporal answers every start at once, so a benchmark of handle measures the
// bridge and not the Temporal server. Benchmarks only: tests talk to a real server.
type acceptingTemporal struct {
	workflowservice.WorkflowServiceClient
}

func (acceptingTemporal) WorkflowService() workflowservice.WorkflowServiceClient {
	return acceptingTemporal{}
}

func (acceptingTemporal) StartWorkflowExecution(context.Context, *workflowservice.StartWorkflowExecutionRequest, ...grpc.CallOption) (*workflowservice.StartWorkflowExecutionResponse, error) {
	return &workflowservice.StartWorkflowExecutionResponse{RunId: "run-1", Started: true}, nil
}

// benchMessages publishes n user.signedup events on a NATS server of the benchmark's own
// and returns them as the bridge's consumer receives them (taken, not yet acked).
func benchMessages(b *testing.B, n int) (*testenv.NATS, []jetstream.Msg) {
	b.Helper()
	nt := testenv.StartNATS(b)
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, nt.JS, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	pub := events.NewPublisher(nt.JS)
	prefix := testenv.ID("u")
	for i := range n {
		user := fmt.Sprintf("%s-%d", prefix, i)
		ev := events.Event{}
		ev.SetSpecVersion("1.0")
		ev.SetID("evt-" + user)
		ev.SetType("user.signedup")
		ev.SetSource("/bench")
		ev.SetTime(time.Now())
		if err := ev.SetData("application/json", map[string]any{"user_id": user, "email": user + "@example.com", "name": "Ada Lovelace", "plan": "pro"}); err != nil {
			b.Fatal(err)
		}
		if _, err := pub.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	cfg := events.BridgeConsumerConfig("bench", 10*time.Minute)
	cons, err := nt.JS.CreateOrUpdateConsumer(ctx, events.Stream, cfg)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]jetstream.Msg, 0, n)
	for len(msgs) < n {
		batch, err := cons.Fetch(min(n-len(msgs), 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil {
			b.Fatal(err)
		}
	}
	return nt, msgs
}

func benchBridge(b *testing.B, js jetstream.JetStream) *Bridge {
	b.Helper()
	sch, err := events.LoadSchemas(schemas.FS)
	if err != nil {
		b.Fatal(err)
	}
	routes, err := routing.Default()
	if err != nil {
		b.Fatal(err)
	}
	// Production's level, into a sink: the cost of building lines, not of writing them.
	log := zerolog.New(io.Discard).Level(zerolog.InfoLevel).With().Timestamp().Str("service", "bridge").Logger()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(js, acceptingTemporal{}, sch, routes, m, log, Config{TaskQueue: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkBridgePrepare is prepare() on a typical user.signedup as the consumer receives
// it: decode the CloudEvent, validate its data against the schema, route it.
func BenchmarkBridgePrepare(b *testing.B) {
	nt, msgs := benchMessages(b, 1)
	br := benchBridge(b, nt.JS)
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if it := br.prepare(msgs[0]); it.err != nil || len(it.decisions) != 1 {
			b.Fatalf("got %v, %d decisions; want one decision", it.err, len(it.decisions))
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkBridgeHandle is prepare() then handle() of user.signedup events against a
// Temporal that accepts every start at once: everything the bridge does per routed event
// (log, outcome, metrics, ack) except the gRPC call.
func BenchmarkBridgeHandle(b *testing.B) {
	nt, msgs := benchMessages(b, b.N)
	br := benchBridge(b, nt.JS)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for _, m := range msgs {
		br.handle(ctx, br.prepare(m))
	}
	b.StopTimer()
	reportCPU(b, cpu)
	if got := br.settled.Load(); got != int64(b.N) {
		b.Fatalf("got %d settled, want %d", got, b.N)
	}
}

// processCPU is the CPU time this process has used (user and system, every thread: the
// garbage collector's work and the in-process NATS server's included). On a shared
// machine it varies less than the wall time per op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(processCPU()-since)/float64(b.N), "cpu-ns/op")
}
