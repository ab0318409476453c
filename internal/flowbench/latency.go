package flowbench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// paced calls f(i) for i in [0,n) at a fixed rate, each in its own goroutine (an open
// loop: a slow call does not delay the next), and waits for all of them.
func paced(ctx context.Context, n int, rate float64, f func(i int)) {
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range n {
		at := begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-time.After(d):
			}
		}
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// startTimes asks Temporal when it started each workflow (the start time it records).
func startTimes(ctx context.Context, tc client.Client, namespace string, ids []string) ([]time.Time, error) {
	out := make([]time.Time, len(ids))
	err := parallel(len(ids), 8, func(i int) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := tc.WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
			Namespace: namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: ids[i]},
		})
		if err != nil {
			return fmt.Errorf("describe %s: %w", ids[i], err)
		}
		out[i] = resp.GetWorkflowExecutionInfo().GetStartTime().AsTime()
		return nil
	})
	return out, err
}

// p99 of to[i] - from[i].
func p99(from, to []time.Time) time.Duration {
	d := make([]time.Duration, len(from))
	for i := range from {
		d[i] = to[i].Sub(from[i])
	}
	return percentile(d, 0.99)
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[max(i, 0)]
}
