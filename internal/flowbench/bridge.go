package flowbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/events"
)

// bridgeProc is the built bridge binary, run with its default settings.
type bridgeProc struct {
	*process
	httpAddr, adminAddr string
	logPath             string
}

// stripeSecret signs the benchmark's webhooks; it protects nothing.
const stripeSecret = "whsec_flowbench"

// startBridge runs cfg.BridgeBin with its logs in cfg.WorkDir/bridge.log; extraEnv adds
// settings (NAME=value) to the few the benchmark sets.
func startBridge(ctx context.Context, cfg Config, natsURL, databaseURL string, extraEnv ...string) (*bridgeProc, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// Only what the benchmark must set: everything else keeps the bridge's defaults.
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"NATS_URL=" + natsURL,
		"TEMPORAL_ADDRESS=" + cfg.TemporalAddress,
		"TEMPORAL_NAMESPACE=" + cfg.Namespace,
		"TEMPORAL_TASK_QUEUE=" + cfg.TaskQueue,
		"DATABASE_URL=" + databaseURL,
		"HTTP_ADDR=" + httpAddr,
		"ADMIN_ADDR=" + adminAddr,
		"LOG_LEVEL=info",
		"LOG_FORMAT=json",
		"STRIPE_WEBHOOK_SECRET=" + stripeSecret,
		"STRIPE_API_KEY=sk_test_flowbench", // required with the secret; customer.* never asks Stripe
		"STRIPE_API_BASE=http://127.0.0.1:1",
	}
	env = append(env, extraEnv...)
	logPath := filepath.Join(cfg.WorkDir, "bridge.log")
	p, err := startProcess("bridge", logPath, env, cfg.BridgeBin)
	if err != nil {
		return nil, err
	}
	b := &bridgeProc{process: p, httpAddr: httpAddr, adminAddr: adminAddr, logPath: logPath}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := b.metrics(ctx); err == nil {
			return b, nil
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("the bridge did not serve %s/metrics within 30s (%v); its log: %s", adminAddr, p.err, logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metrics reads flowbridge_bridge_events_total for user.signedup from the admin
// address: outcome → count.
func (b *bridgeProc) metrics(ctx context.Context) (map[string]float64, error) {
	return b.metricsOf(ctx, "user.signedup")
}

// metricsOf reads flowbridge_bridge_events_total for events of type typ: outcome → count.
func (b *bridgeProc) metricsOf(ctx context.Context, typ string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.adminAddr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "flowbridge_bridge_events_total{") || !strings.Contains(line, `type="`+typ+`"`) {
			continue
		}
		_, after, _ := strings.Cut(line, `outcome="`)
		outcome, _, _ := strings.Cut(after, `"`)
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[outcome] += v
	}
	return out, sc.Err()
}

// settled is how many user.signedup events the bridge has routed or found already done.
func settled(m map[string]float64) int64 { return int64(m["routed"] + m["duplicate"]) }

// publishBacklog stores n signups for users prefix0..prefix<n-1>, a window of async
// publishes at a time.
func publishBacklog(ctx context.Context, js jetstream.JetStream, prefix string, n int, progress func(string, ...any)) error {
	return publishEach(ctx, js, prefix, n, signup, progress)
}

// publishEach publishes n events, mk(prefix+i) for each i, in windows of async publishes.
func publishEach(ctx context.Context, js jetstream.JetStream, prefix string, n int, mk func(user string) (events.Event, error), progress func(string, ...any)) error {
	const window = 256
	begin := time.Now()
	var pending []jetstream.PubAckFuture
	flush := func() error {
		for _, f := range pending {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("publish: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}
	last := time.Now()
	for i := range n {
		ev, err := mk(fmt.Sprintf("%s%d", prefix, i))
		if err != nil {
			return err
		}
		m, err := events.Encode(ev)
		if err != nil {
			return err
		}
		f, err := js.PublishMsgAsync(m, jetstream.WithExpectStream(events.Stream))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if pending = append(pending, f); len(pending) == window {
			if err := flush(); err != nil {
				return err
			}
		}
		if time.Since(last) > 5*time.Second {
			progress("  published %d of %d", i+1, n)
			last = time.Now()
		}
	}
	if err := flush(); err != nil {
		return err
	}
	progress("  published %d %s in %.1fs", n, typeOf(mk), time.Since(begin).Seconds())
	return nil
}

// drainResult is how the bridge drained a backlog.
type drainResult struct {
	events   int64
	elapsed  time.Duration
	rate     float64
	cpuPerEv time.Duration
	peakRSS  int64
}

// waitDrained polls until the bridge settled want more events than before and the
// consumer has nothing pending or unacknowledged. It watches the consumer (a request to
// NATS, in this process) every 200ms and reads the bridge's /metrics only every 5s for
// progress and once the consumer is empty: scraping the bridge several times a second
// would add its own CPU to the bridge's CPU per event (Prometheus scrapes every 15s).
func waitDrained(ctx context.Context, b *bridgeProc, js jetstream.JetStream, before, want int64, timeout time.Duration, progress func(string, ...any)) (int64, error) {
	deadline := time.Now().Add(timeout)
	begin, lastSay := time.Now(), time.Now()
	for {
		info, err := consumerInfo(ctx, js)
		empty := err == nil && info.NumPending == 0 && info.NumAckPending == 0
		if empty || time.Since(lastSay) >= 5*time.Second {
			m, err := b.metrics(ctx)
			if err == nil {
				got := settled(m) - before
				if m["dead_lettered"] > 0 {
					return got, fmt.Errorf("the bridge dead-lettered %v user.signedup events (log: %s)", m["dead_lettered"], b.logPath)
				}
				if empty && got >= want {
					return got, nil
				}
				if time.Since(lastSay) >= 5*time.Second {
					progress("  bridge: %d of %d routed in %.0fs (%.0f/s so far)", got, want, time.Since(begin).Seconds(), float64(got)/time.Since(begin).Seconds())
					lastSay = time.Now()
				}
			}
		}
		if b.exited() {
			return 0, fmt.Errorf("the bridge exited: %v (log: %s)", b.err, b.logPath)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the bridge did not drain %d events within %v (log: %s)", want, timeout, b.logPath)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func consumerInfo(ctx context.Context, js jetstream.JetStream) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, events.Stream, events.BridgeConsumer)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// countWorkflows waits until Temporal's visibility counts want workflows whose id starts
// with idPrefix, and returns the last count.
func countWorkflows(ctx context.Context, tc client.Client, namespace, idPrefix string, want int64, within time.Duration) (int64, error) {
	deadline := time.Now().Add(within)
	for {
		resp, err := tc.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: namespace, Query: fmt.Sprintf(`WorkflowType = 'UserOnboarding' AND WorkflowId STARTS_WITH '%s'`, idPrefix),
		})
		if err != nil {
			return 0, fmt.Errorf("count workflows: %w", err)
		}
		if resp.GetCount() >= want || time.Now().After(deadline) {
			return resp.GetCount(), nil
		}
		select {
		case <-ctx.Done():
			return resp.GetCount(), ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// parallel runs f(i) for i in [0,n) on conc goroutines and returns the first error.
func parallel(n, conc int, f func(i int) error) error {
	var (
		next     atomic.Int64
		firstErr error
		once     sync.Once
		failed   atomic.Bool
		wg       sync.WaitGroup
	)
	for range conc {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err; failed.Store(true) })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// profileSeconds is the length of the CPU profile -cpuprofile takes at the start of the
// drain: long enough for a steady state, short enough to end inside a default drain.
const profileSeconds = 30

// profile starts taking the bridge's CPU profile from its admin address into path. The
// returned func waits for it to be written (it logs, rather than fails the run, if it
// could not be).
func (b *bridgeProc) profile(ctx context.Context, path string, say func(string, ...any)) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := func() error {
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.adminAddr, profileSeconds)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}()
		if err != nil {
			say("  could not take the CPU profile: %v", err)
			return
		}
		say("  the bridge's CPU profile over the first %ds of the drain: %s", profileSeconds, path)
	}()
	return func() { <-done }
}

// typeOf is the type of the events mk makes, for progress lines.
func typeOf(mk func(user string) (events.Event, error)) string {
	ev, err := mk("x")
	if err != nil {
		return "events"
	}
	return ev.Type()
}
