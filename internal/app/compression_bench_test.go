package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// BenchmarkTemporalCompression starts workflows from 8 goroutines through the client the
// binaries build, once per TEMPORAL_GRPC_COMPRESSION value, with the bridge's request for
// a user.signedup (input, memo). It reports this process's CPU per start and, when
// BENCH_TEMPORAL_PID names the Temporal server's process, the server's CPU per start.
// Temporal-bound: run it alone, with a fixed count, e.g.
//
//	BENCH_TEMPORAL_PID=$(pgrep -f 'port 7243') go test -run '^$' -bench TemporalCompression -benchtime 2000x ./internal/app/
func BenchmarkTemporalCompression(b *testing.B) {
	testenv.Temporal(b) // skips or fails with a hint when there is no server
	pid, _ := strconv.Atoi(os.Getenv("BENCH_TEMPORAL_PID"))
	for _, mode := range []string{"gzip", "none"} {
		b.Run(mode, func(b *testing.B) {
			tc, err := newTemporalClient(config.Temporal{Client: envconfig.ClientConfigProfile{Address: testenv.TemporalAddress(), Namespace: "default"}, GRPCCompression: mode}, zerolog.Nop(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tc.Close()
			svc := tc.WorkflowService()
			queue := testenv.ID("bench-compression-")
			req := func(i int64) *workflowservice.StartWorkflowExecutionRequest {
				user := fmt.Sprintf("%s-%d", queue, i)
				data, _ := json.Marshal(map[string]string{"user_id": user, "email": user + "@example.com"})
				in, err := converter.GetDefaultDataConverter().ToPayloads(contract.Event{ID: "evt-" + user, Type: "user.signedup", Source: "/bench", Time: time.Now(), CorrelationID: "evt-" + user, Data: data})
				if err != nil {
					b.Fatal(err)
				}
				memo, err := converter.GetDefaultDataConverter().ToPayload("evt-" + user)
				if err != nil {
					b.Fatal(err)
				}
				return &workflowservice.StartWorkflowExecutionRequest{
					Namespace: "default", WorkflowId: "onboarding-" + user, RequestId: user,
					WorkflowType: &commonpb.WorkflowType{Name: contract.UserOnboardingWorkflow},
					TaskQueue:    &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
					Input:        in, Memo: &commonpb.Memo{Fields: map[string]*commonpb.Payload{contract.MemoEventID: memo}},
					Identity: "bench", WorkflowIdReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
				}
			}
			if _, err := svc.StartWorkflowExecution(context.Background(), req(0)); err != nil { // connect
				b.Fatal(err)
			}
			var next atomic.Int64
			self, server := cpuOf(0), cpuOf(pid)
			b.ResetTimer()
			begin := time.Now()
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if _, err := svc.StartWorkflowExecution(context.Background(), req(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(begin)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "starts/s")
			b.ReportMetric(float64(cpuOf(0)-self)/float64(time.Microsecond)/float64(b.N), "client-cpu-us/op")
			if pid > 0 {
				b.ReportMetric(float64(cpuOf(pid)-server)/float64(time.Microsecond)/float64(b.N), "server-cpu-us/op")
			}
		})
	}
}

// cpuOf is the user+system CPU time of process pid so far (0: this process).
func cpuOf(pid int) time.Duration {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start at ") "; utime and stime are
	// the 14th and 15th fields of the line, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
