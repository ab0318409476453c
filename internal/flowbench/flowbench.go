// Package flowbench measures the built bridge against direct Temporal SDK starts on one
// Temporal dev server, in one run, and holds the results against issue 9's targets:
// direct starts over a concurrency sweep, the bridge draining a prefilled backlog (rate,
// CPU per event, peak RSS), publish → started latency at half the bridged rate, and the
// Stripe webhook's ingress rate with the consumer paused; then, on servers of its own,
// issue 13's ten thousand alive (alive.go). `make bench` runs it through cmd/flowbench;
// the numbers are ratios within one run, not absolutes.
package flowbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// Config sizes a run. The zero value of a field means its default (Defaults).
type Config struct {
	// TemporalAddress, when set, is a running server to use; otherwise the run starts a
	// fresh dev server (in memory, headless) from TemporalBin on 127.0.0.1:TemporalPort
	// and stops it at the end.
	TemporalAddress string
	TemporalBin     string
	TemporalPort    int
	Namespace       string
	// TaskQueue is the bridge's (TEMPORAL_TASK_QUEUE) and the direct starts'. No worker
	// polls it during the run.
	TaskQueue string
	// BridgeBin is the built bridge binary.
	BridgeBin string
	// DatabaseURL is where the bridge's ledger writes: a fresh schema of it, dropped at
	// the end (a URL with a search_path is used as is).
	DatabaseURL string

	Backlog      int           // user.signedup events prefilled before the bridge starts
	Levels       []int         // direct-start concurrency sweep
	DirectTime   time.Duration // per sweep level
	LatencyTime  time.Duration // per side of the half-load latency measure
	IngressTime  time.Duration
	IngressConns int
	DrainTimeout time.Duration
	// EarlySignals is how many email.verified are published before their user.signedup
	// (issue 9: 10,000); -1 skips the measure.
	EarlySignals int
	// Alive is how many onboarding workflows the ten-thousand-alive measure (issue 13)
	// keeps waiting for their email.verified, run by a real worker (WorkerBin); -1 skips
	// it. AlivePings is the size of each burst of the second stream of starts it routes.
	Alive      int
	AlivePings int
	// AliveOnly skips issue 9's measures: only the ten-thousand-alive measure runs.
	AliveOnly bool
	// WorkerBin is the built worker binary, for the ten-thousand-alive measure.
	WorkerBin string
	// SMTPAddr and StripeAPIBase are the mail server and Stripe API the worker uses. Empty,
	// the measure starts a mailpit (MailpitBin) and a stripe-mock (StripeMockBin) of its
	// own on free ports, and stops them at the end.
	SMTPAddr      string
	StripeAPIBase string
	MailpitBin    string
	StripeMockBin string
	// WorkDir holds the logs (temporal.log, bridge.log) and NATS's storage; a temporary
	// directory, removed after a run that succeeded, when empty.
	WorkDir string
	// CPUProfile, if set, is where the bridge's CPU profile over the drain (its first
	// minute at most) is written, for `go tool pprof`.
	CPUProfile string
	// Progress receives a line per step and every few seconds of a long step.
	Progress io.Writer
}

// Defaults is the full benchmark; Quick a smoke run of a few seconds.
func Defaults() Config {
	return Config{
		TemporalBin: "bin/temporal", TemporalPort: 7253, Namespace: "default", TaskQueue: "flowbridge",
		BridgeBin: "bin/bridge", DatabaseURL: "postgres://postgres@127.0.0.1:5432/flowbridge?sslmode=disable",
		Backlog: 20000, Levels: []int{1, 8, 32, 128}, DirectTime: 15 * time.Second, LatencyTime: 20 * time.Second,
		IngressTime: 10 * time.Second, IngressConns: 16, DrainTimeout: 30 * time.Minute, EarlySignals: 10000,
		Alive: 10000, AlivePings: 4000, WorkerBin: "bin/worker", MailpitBin: "bin/mailpit", StripeMockBin: "bin/stripe-mock",
	}
}

// Quick shrinks c to a smoke run.
func Quick(c Config) Config {
	c.Backlog, c.DirectTime, c.LatencyTime, c.IngressTime, c.EarlySignals = 300, time.Second, 2*time.Second, time.Second, 200
	c.Alive, c.AlivePings = 300, 200
	return c
}

// Targets of issue 9 on a 2-core machine.
const (
	targetRatio      = 1.0
	targetCPU        = 300 * time.Microsecond
	targetRSS        = 64 << 20
	targetP99Slack   = 5 * time.Millisecond
	targetIngressPer = 5000.0
)

// Results are one run's measures.
type Results struct {
	Started     time.Time
	CPUs        int
	LoadAvg     string
	Temporal    string // the server's address, and whether it was fresh
	Direct      []Level
	Drain       drainResult
	Verified    int64 // UserOnboarding workflows of the backlog Temporal counts
	LatencyRate float64
	LatencyN    int
	DirectP99   time.Duration // Temporal's start time − request sent
	DirectAns99 time.Duration // answer received − request sent
	BridgedP99  time.Duration // Temporal's start time − publish
	Ingress     ingressResult
	IngressConn int
	StoredByIng uint64 // messages the stream gained during the ingress measure
	Early       earlyResult
	Alive       *aliveResult // nil when the measure was skipped
}

// Level is one concurrency level of the direct sweep.
type Level struct {
	Concurrency int
	Starts      int64
	Rate        float64
	CPUPerStart time.Duration // this process's CPU over the level (the SDK client's cost), per start
}

// Best is the fastest level of the sweep.
func (r *Results) Best() Level {
	var b Level
	for _, l := range r.Direct {
		if l.Rate > b.Rate {
			b = l
		}
	}
	return b
}

// Run runs the benchmark and returns its results; an error means a measure could not be
// taken (a missed target is not an error).
func Run(ctx context.Context, cfg Config) (res *Results, err error) {
	def := Defaults()
	fill(&cfg, def)
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Progress, format+"\n", args...) }
	res = &Results{Started: time.Now().UTC(), CPUs: runtime.NumCPU(), LoadAvg: loadAvg()}

	if cfg.WorkDir != "" {
		if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
			return nil, err
		}
	} else {
		if cfg.WorkDir, err = os.MkdirTemp("", "flowbench-"); err != nil {
			return nil, err
		}
		defer func() {
			if err == nil {
				_ = os.RemoveAll(cfg.WorkDir)
			} else {
				say("logs kept in %s", cfg.WorkDir)
			}
		}()
	}
	if !cfg.AliveOnly {
		if err := runMain(ctx, cfg, res, say); err != nil {
			return nil, err
		}
	}
	if cfg.Alive > 0 {
		if err := runAlive(ctx, cfg, res, say); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// runMain takes issue 9's measures, each step on the one server it starts (or is given).
func runMain(ctx context.Context, cfg Config, res *Results, say func(string, ...any)) error {
	run := randHex(3)
	routes, err := routing.Default()
	if err != nil {
		return err
	}

	// Temporal: fresh, unless the caller named one.
	res.Temporal = cfg.TemporalAddress + " (given)"
	if cfg.TemporalAddress == "" {
		cfg.TemporalAddress = fmt.Sprintf("127.0.0.1:%d", cfg.TemporalPort)
		res.Temporal = cfg.TemporalAddress + " (fresh dev server, in memory)"
		say("==> starting a fresh Temporal dev server on %s (log: %s/temporal.log)", cfg.TemporalAddress, cfg.WorkDir)
		tp, err := startTemporal(cfg.TemporalBin, cfg.TemporalAddress, cfg.WorkDir)
		if err != nil {
			return err
		}
		defer func() { say("==> stopping the Temporal dev server"); tp.stop(15 * time.Second) }()
	}
	tc, err := dialTemporal(ctx, cfg.TemporalAddress, cfg.Namespace, 90*time.Second)
	if err != nil {
		return err
	}
	defer tc.Close()

	// 1. Direct starts over the sweep.
	st := &starter{routes: routes, namespace: cfg.Namespace, taskQueue: cfg.TaskQueue, identity: fmt.Sprintf("flowbench@%d", os.Getpid())}
	for _, c := range cfg.Levels {
		say("==> direct SDK starts, %d concurrent, for %v", c, cfg.DirectTime)
		cpu0, err := procCPU(os.Getpid())
		if err != nil {
			return err
		}
		rate, n, err := st.sweep(ctx, tc, fmt.Sprintf("d%d-%s-", c, run), c, cfg.DirectTime, say)
		if err != nil {
			return fmt.Errorf("direct starts at %d concurrent: %w", c, err)
		}
		cpu1, err := procCPU(os.Getpid())
		if err != nil {
			return err
		}
		l := Level{Concurrency: c, Starts: n, Rate: rate}
		if n > 0 {
			l.CPUPerStart = (cpu1 - cpu0) / time.Duration(n)
		}
		res.Direct = append(res.Direct, l)
		say("  %.0f starts/s; %.3f ms CPU per start in this process (the SDK client)", rate, ms(l.CPUPerStart))
	}

	// 2. NATS with the backlog, then the bridge.
	say("==> NATS (in-process, JetStream in %s), %d user.signedup events before the bridge starts", cfg.WorkDir, cfg.Backlog)
	srv, js, closeNATS, err := startEventsNATS(ctx, cfg.WorkDir+"/nats")
	if err != nil {
		return err
	}
	defer closeNATS()
	backlogPrefix := "b-" + run + "-"
	if err := publishBacklog(ctx, js, backlogPrefix, cfg.Backlog, say); err != nil {
		return err
	}
	dbURL, dropSchema, err := freshSchema(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer dropSchema()

	say("==> bridge %s, default settings, LOG_LEVEL=info LOG_FORMAT=json, ledger on (log: %s/bridge.log)", cfg.BridgeBin, cfg.WorkDir)
	launched := time.Now()
	b, err := startBridge(ctx, cfg, srv.ClientURL(), dbURL)
	if err != nil {
		return err
	}
	defer func() { say("==> stopping the bridge"); b.stop(15 * time.Second) }()
	m0, err := b.metrics(ctx)
	if err != nil {
		return err
	}
	cpu0, err := procCPU(b.pid())
	if err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		stopProfile := b.profile(ctx, cfg.CPUProfile, say)
		defer stopProfile()
	}
	got, err := waitDrained(ctx, b, js, 0, int64(cfg.Backlog), cfg.DrainTimeout, say)
	if err != nil {
		return err
	}
	drained := time.Now()
	cpu1, err := procCPU(b.pid())
	if err != nil {
		return err
	}
	if res.Drain.peakRSS, err = procHWM(b.pid()); err != nil {
		return err
	}
	res.Drain.events = got
	res.Drain.elapsed = drained.Sub(launched)
	res.Drain.rate = float64(got) / res.Drain.elapsed.Seconds()
	// CPU from the moment the admin address answered, over the events settled since.
	if n := got - settled(m0); n > 0 {
		res.Drain.cpuPerEv = (cpu1 - cpu0) / time.Duration(n)
	}
	say("  %d routed in %.1fs: %.0f/s; %.3f ms CPU per event; peak RSS %.1f MiB", got, res.Drain.elapsed.Seconds(), res.Drain.rate,
		ms(res.Drain.cpuPerEv), float64(res.Drain.peakRSS)/(1<<20))
	say("==> counting the backlog's workflows in Temporal")
	if res.Verified, err = countWorkflows(ctx, tc, cfg.Namespace, "onboarding-"+backlogPrefix, int64(cfg.Backlog), time.Minute); err != nil {
		return err
	}
	if res.Verified != int64(cfg.Backlog) {
		return fmt.Errorf("Temporal counts %d workflows of the backlog, want %d", res.Verified, cfg.Backlog)
	}

	// 3. Latency at half the bridged ceiling.
	res.LatencyRate = res.Drain.rate / 2
	if err := latency(ctx, cfg, res, st, tc, js, b, run, say); err != nil {
		return err
	}

	// 4. Early signals: parked, then woken by their starts.
	if cfg.EarlySignals > 0 {
		if err := earlySignals(ctx, cfg, res, tc, js, b, run, say); err != nil {
			return err
		}
	}

	// 5. Ingress with the consumer paused: the events only go to the stream.
	say("==> Stripe webhooks (customer.created), %d connections, for %v, consumer paused", cfg.IngressConns, cfg.IngressTime)
	if _, err := js.PauseConsumer(ctx, events.Stream, events.BridgeConsumer, time.Now().Add(24*time.Hour)); err != nil {
		return fmt.Errorf("pause the bridge's consumer: %w", err)
	}
	s0, err := streamMsgs(ctx, js)
	if err != nil {
		return err
	}
	res.IngressConn = cfg.IngressConns
	if res.Ingress, err = stripeWebhooks(ctx, b.httpAddr, "i"+run, cfg.IngressConns, cfg.IngressTime, say); err != nil {
		return err
	}
	s1, err := streamMsgs(ctx, js)
	if err != nil {
		return err
	}
	res.StoredByIng = s1 - s0
	if res.Ingress.accepted == 0 {
		return fmt.Errorf("no Stripe webhook was answered 202 (%d refused, first: %s)", res.Ingress.refused, res.Ingress.firstBad)
	}
	say("  %.0f/s answered 202 (%d refused)", res.Ingress.rate, res.Ingress.refused)
	return nil
}

// latencySlice is how long each side runs before the other takes over: the two sides
// alternate, so that both meet the server in the same states (catching up after the
// drain, growing) rather than one side always going first.
const latencySlice = 2 * time.Second

func latency(ctx context.Context, cfg Config, res *Results, st *starter, tc client.Client, js jetstream.JetStream, b *bridgeProc, run string, say func(string, ...any)) error {
	rate := res.LatencyRate
	perSlice := max(1, int(rate*latencySlice.Seconds()))
	slices := max(1, int((cfg.LatencyTime+latencySlice-1)/latencySlice))
	n := perSlice * slices
	res.LatencyN = n
	say("==> p99 publish → started at %.0f/s (half the bridged rate): %d direct starts and %d bridged events, alternating every %v",
		rate, n, n, latencySlice)
	m, err := b.metrics(ctx)
	if err != nil {
		return err
	}
	before := settled(m)
	directIDs, bridgedIDs := make([]string, n), make([]string, n)
	directSent, answered, published := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	errs := make([]error, 2*n)
	pub := events.NewPublisher(js)
	for s := range slices {
		off := s * perSlice
		paced(ctx, perSlice, rate, func(i int) {
			i += off
			user := fmt.Sprintf("ld-%s-%d", run, i)
			directIDs[i] = "onboarding-" + user
			errs[i] = st.start(ctx, tc, user, func() { directSent[i] = time.Now() })
			answered[i] = time.Now()
		})
		paced(ctx, perSlice, rate, func(i int) {
			i += off
			user := fmt.Sprintf("lb-%s-%d", run, i)
			bridgedIDs[i] = "onboarding-" + user
			ev, err := signup(user)
			if err != nil {
				errs[n+i] = err
				return
			}
			published[i] = time.Now()
			_, errs[n+i] = pub.Publish(ctx, ev)
		})
		say("  %d of %d each sent", off+perSlice, n)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if _, err := waitDrained(ctx, b, js, before, int64(n), cfg.DrainTimeout, say); err != nil {
		return err
	}
	say("  asking Temporal for %d start times", 2*n)
	started, err := startTimes(ctx, tc, cfg.Namespace, directIDs)
	if err != nil {
		return err
	}
	res.DirectP99, res.DirectAns99 = p99(directSent, started), p99(directSent, answered)
	if started, err = startTimes(ctx, tc, cfg.Namespace, bridgedIDs); err != nil {
		return err
	}
	res.BridgedP99 = p99(published, started)
	say("  p99 to Temporal's start time: direct %.1f ms (%.1f ms to its answer), bridged %.1f ms", ms(res.DirectP99), ms(res.DirectAns99), ms(res.BridgedP99))
	return nil
}

func streamMsgs(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	s, err := js.Stream(ctx, events.Stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// Table writes the results as a Markdown table, each target with "meets" or "MISSES".
func (r *Results) Table(w io.Writer) {
	fmt.Fprintf(w, "flowbench %s: %d CPUs, load average at start %s\n\n", r.Started.Format(time.RFC3339), r.CPUs, r.LoadAvg)
	if len(r.Direct) > 0 {
		r.mainTable(w)
	}
	if r.Alive != nil {
		r.Alive.table(w)
	}
}

// mainTable writes issue 9's measures.
func (r *Results) mainTable(w io.Writer) {
	fmt.Fprintf(w, "Temporal %s\n\n", r.Temporal)
	fmt.Fprintln(w, "| measure | result | target (issue 9) | verdict |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	row := func(measure, result, target, verdict string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", measure, result, target, verdict)
	}
	for _, l := range r.Direct {
		row(fmt.Sprintf("direct SDK starts, %d concurrent", l.Concurrency), fmt.Sprintf("%.0f/s (%d starts; SDK client CPU %.3f ms per start)", l.Rate, l.Starts, ms(l.CPUPerStart)), "", "")
	}
	best := r.Best()
	row("bridge, default settings, draining the backlog", fmt.Sprintf("%.0f/s (%d events in %.1f s, from launch)", r.Drain.rate, r.Drain.events, r.Drain.elapsed.Seconds()), "", "")
	ratio := 0.0
	if best.Rate > 0 {
		ratio = r.Drain.rate / best.Rate
	}
	row(fmt.Sprintf("bridged ÷ best direct (%d concurrent)", best.Concurrency), fmt.Sprintf("%.2f×", ratio), "≥ 1.0", verdict(ratio >= targetRatio))
	row("bridge CPU per routed event (info logs, ledger on)", fmt.Sprintf("%.3f ms", ms(r.Drain.cpuPerEv)), "≤ 0.3 ms", verdict(r.Drain.cpuPerEv <= targetCPU))
	row("bridge peak RSS (VmHWM) after the drain", fmt.Sprintf("%.1f MiB", float64(r.Drain.peakRSS)/(1<<20)), "≤ 64 MiB", verdict(r.Drain.peakRSS <= targetRSS))
	row(fmt.Sprintf("p99 request → started, direct, %.0f/s × %d", r.LatencyRate, r.LatencyN), fmt.Sprintf("%.1f ms (answer: %.1f ms)", ms(r.DirectP99), ms(r.DirectAns99)), "", "")
	row(fmt.Sprintf("p99 publish → started, bridged, %.0f/s × %d", r.LatencyRate, r.LatencyN), fmt.Sprintf("%.1f ms", ms(r.BridgedP99)),
		fmt.Sprintf("≤ direct + 5 ms (%.1f ms)", ms(r.DirectP99+targetP99Slack)), verdict(r.BridgedP99 <= r.DirectP99+targetP99Slack))
	ing := fmt.Sprintf("%.0f/s (%d in all", r.Ingress.rate, r.Ingress.accepted)
	if r.Ingress.refused > 0 {
		ing += fmt.Sprintf("; %d not 202, first: %s", r.Ingress.refused, r.Ingress.firstBad)
	}
	ing += fmt.Sprintf("; stream +%d)", r.StoredByIng)
	row(fmt.Sprintf("signed Stripe webhooks answered 202, %d connections, consumer paused", r.IngressConn), ing, "≥ 5,000/s", verdict(r.Ingress.rate >= targetIngressPer))
	if e := r.Early; e.n > 0 {
		row(fmt.Sprintf("%d early email.verified, then their user.signedup", e.n),
			fmt.Sprintf("%d of %d workflows took their own signal once; %d dead letters; parked in %.1f s, delivered %.1f s after the signups began (signups routed at %.0f/s meanwhile)",
				e.delivered, e.n, int64(e.deadLet), e.parkedIn.Seconds(), e.routedIn.Seconds(), e.startRate),
			"all, none dead-lettered", verdict(e.delivered == int64(e.n) && e.deadLet == 0))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Order: direct sweep, bridge drain, latency (direct and bridged alternating every 2 s), early signals, ingress — all on the one server, which holds every workflow started before each step. Latency is to the start time Temporal records; direct also shows the time to its answer.")
	fmt.Fprintln(w)
}

func verdict(ok bool) string {
	if ok {
		return "meets"
	}
	return "MISSES"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func fill(c *Config, d Config) {
	if c.TemporalBin == "" {
		c.TemporalBin = d.TemporalBin
	}
	if c.TemporalPort == 0 {
		c.TemporalPort = d.TemporalPort
	}
	if c.Namespace == "" {
		c.Namespace = d.Namespace
	}
	if c.TaskQueue == "" {
		c.TaskQueue = d.TaskQueue
	}
	if c.BridgeBin == "" {
		c.BridgeBin = d.BridgeBin
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = d.DatabaseURL
	}
	if c.Backlog == 0 {
		c.Backlog = d.Backlog
	}
	if len(c.Levels) == 0 {
		c.Levels = d.Levels
	}
	if c.DirectTime == 0 {
		c.DirectTime = d.DirectTime
	}
	if c.LatencyTime == 0 {
		c.LatencyTime = d.LatencyTime
	}
	if c.IngressTime == 0 {
		c.IngressTime = d.IngressTime
	}
	if c.IngressConns == 0 {
		c.IngressConns = d.IngressConns
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.EarlySignals == 0 {
		c.EarlySignals = d.EarlySignals
	}
	if c.Alive == 0 {
		c.Alive = d.Alive
	}
	if c.AlivePings <= 0 {
		c.AlivePings = d.AlivePings
	}
	if c.WorkerBin == "" {
		c.WorkerBin = d.WorkerBin
	}
	if c.MailpitBin == "" {
		c.MailpitBin = d.MailpitBin
	}
	if c.StripeMockBin == "" {
		c.StripeMockBin = d.StripeMockBin
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}
