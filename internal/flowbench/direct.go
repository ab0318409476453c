package flowbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// signup is the user.signedup event the bridge would receive for user.
func signup(user string) (events.Event, error) {
	return benchEvent("evt-"+user, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"})
}

// benchEvent is an event flowbench publishes: source /flowbench, JSON data, now.
func benchEvent(id, typ string, data any) (events.Event, error) {
	ev := events.Event{}
	ev.SetSpecVersion("1.0")
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource("/flowbench")
	ev.SetTime(time.Now())
	err := ev.SetData("application/json", data)
	return ev, err
}

// starter builds, from an event, the StartWorkflowExecutionRequest the bridge sends for
// it: the same routing table decides the workflow type, id, input (the event envelope)
// and memo, and they are encoded as internal/bridge encodes them.
type starter struct {
	routes    *routing.Table
	namespace string
	taskQueue string
	identity  string
}

func (s *starter) request(ev events.Event) (*workflowservice.StartWorkflowExecutionRequest, error) {
	ds, _, err := s.routes.Decide(ev)
	if err != nil {
		return nil, err
	}
	if len(ds) != 1 || ds[0].Action != routing.Start {
		return nil, fmt.Errorf("routing %s: want one start, got %d decisions", ev.Type(), len(ds))
	}
	d := ds[0]
	dc := converter.GetDefaultDataConverter()
	input, err := dc.ToPayloads(d.Input)
	if err != nil {
		return nil, err
	}
	memo := &commonpb.Memo{Fields: map[string]*commonpb.Payload{}}
	for k, v := range d.Memo {
		if memo.Fields[k], err = dc.ToPayload(v); err != nil {
			return nil, err
		}
	}
	var attrs *commonpb.SearchAttributes
	if len(d.SearchAttributes) > 0 {
		attrs = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{}}
		for k, v := range d.SearchAttributes {
			if attrs.IndexedFields[k], err = dc.ToPayload(v); err != nil {
				return nil, err
			}
		}
	}
	queue := d.TaskQueue
	if queue == "" {
		queue = s.taskQueue
	}
	return &workflowservice.StartWorkflowExecutionRequest{
		Namespace: s.namespace, WorkflowId: d.WorkflowID, WorkflowType: &commonpb.WorkflowType{Name: d.WorkflowType},
		TaskQueue: &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:     input, Memo: memo, SearchAttributes: attrs, Identity: s.identity, RequestId: uuid.NewString(),
		WorkflowIdReusePolicy: d.ReusePolicy, WorkflowIdConflictPolicy: d.ConflictPolicy,
		WorkflowRunTimeout: optDuration(d.RunTimeout), WorkflowExecutionTimeout: optDuration(d.ExecutionTimeout),
	}, nil
}

func optDuration(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

// start sends one start for user and returns when Temporal answered; sent, when not
// nil, is called just before the request goes out.
func (s *starter) start(ctx context.Context, tc client.Client, user string, sent func()) error {
	ev, err := signup(user)
	if err != nil {
		return err
	}
	req, err := s.request(ev)
	if err != nil {
		return err
	}
	if sent != nil {
		sent()
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := tc.WorkflowService().StartWorkflowExecution(ctx, req); err != nil {
		return fmt.Errorf("start %s: %w", req.WorkflowId, err)
	}
	return nil
}

// sweep runs closed-loop direct starts with conc goroutines for d and returns starts/s.
func (s *starter) sweep(ctx context.Context, tc client.Client, prefix string, conc int, d time.Duration, progress func(string, ...any)) (float64, int64, error) {
	var (
		next, done atomic.Int64
		firstErr   error
		errOnce    sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	begin := time.Now()
	stopAt := begin.Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for time.Now().Before(stopAt) && ctx.Err() == nil {
				i := next.Add(1)
				if err := s.start(ctx, tc, fmt.Sprintf("%s%d", prefix, i), nil); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				done.Add(1)
			}
		})
	}
	stopTicker := ticker(5*time.Second, func() {
		progress("  direct c=%d: %d starts in %.0fs", conc, done.Load(), time.Since(begin).Seconds())
	})
	wg.Wait()
	stopTicker()
	elapsed := time.Since(begin)
	if firstErr != nil {
		return 0, done.Load(), firstErr
	}
	return float64(done.Load()) / elapsed.Seconds(), done.Load(), nil
}

// ticker calls f every period until the returned function is called.
func ticker(period time.Duration, f func()) func() {
	t := time.NewTicker(period)
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-t.C:
				f()
			case <-stop:
				return
			}
		}
	}()
	return func() {
		t.Stop()
		close(stop)
		<-finished
	}
}
