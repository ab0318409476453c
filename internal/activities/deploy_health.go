package activities

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// DeployHealthInput asks CheckDeployHealth to wait for a deploy to answer healthy.
type DeployHealthInput struct {
	URL      string        `json:"url"`
	Timeout  time.Duration `json:"timeout"`  // Optional: defaults to DefaultHealthTimeout.
	Interval time.Duration `json:"interval"` // Optional: defaults to DefaultHealthInterval.
}

// HealthResult is what CheckDeployHealth saw.
type HealthResult struct {
	Healthy  bool          `json:"healthy"`
	Reason   string        `json:"reason,omitempty"` // why it is not healthy
	Probes   int           `json:"probes"`
	Tail     []string      `json:"tail,omitempty"` // the outcomes of the last TailLines probes
	Duration time.Duration `json:"duration"`
}

// CheckDeployHealth GETs in.URL every in.Interval until it answers 2xx (healthy) or
// in.Timeout has passed (not healthy: a result, not an error), heartbeating meanwhile.
// When the activity is cancelled, the error is a CanceledError carrying the result so
// far.
func (d *Deploys) CheckDeployHealth(ctx context.Context, in DeployHealthInput) (HealthResult, error) {
	return checkHealth(ctx, in, activityHooks(ctx))
}

func checkHealth(ctx context.Context, in DeployHealthInput, hooks runHooks) (HealthResult, error) {
	if in.Timeout <= 0 {
		in.Timeout = DefaultHealthTimeout
	}
	if in.Interval <= 0 {
		in.Interval = DefaultHealthInterval
	}
	start := time.Now()
	deadline := start.Add(in.Timeout)
	out := &outputLines{step: contract.StepHealth, emit: hooks.line}
	stop := keepBeating(ctx, func() {
		lines, last := out.progress()
		hooks.beat(DeployProgress{Step: contract.StepHealth, Lines: lines, LastLine: last, Elapsed: time.Since(start).Round(time.Millisecond)})
	})
	defer stop()
	client := &http.Client{Timeout: min(max(in.Interval, 2*time.Second), 10*time.Second)}
	var res HealthResult
	for {
		res.Probes++
		healthy, outcome := probe(ctx, client, in.URL)
		fmt.Fprintf(out, "probe %d: GET %s: %s\n", res.Probes, in.URL, outcome)
		if healthy {
			res.Healthy = true
			break
		}
		if time.Until(deadline) < in.Interval {
			res.Reason = fmt.Sprintf("GET %s: %s (not healthy after %s, %d probes)", in.URL, outcome, in.Timeout, res.Probes)
			break
		}
		wait := time.NewTimer(in.Interval)
		select {
		case <-ctx.Done():
			wait.Stop()
		case <-wait.C:
		}
		if ctx.Err() != nil {
			res.Reason = "cancelled"
			_, res.Tail = out.result()
			return res, cancelled(ctx, res, ctx.Err())
		}
	}
	_, res.Tail = out.result()
	res.Duration = time.Since(start)
	return res, nil
}

// probe GETs url once: healthy on a 2xx answer; outcome describes the answer.
func probe(ctx context.Context, c *http.Client, url string) (healthy bool, outcome string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	outcome = resp.Status
	if b := strings.Join(strings.Fields(string(body)), " "); b != "" {
		outcome += ": " + b
	}
	return resp.StatusCode >= 200 && resp.StatusCode < 300, outcome
}
