package flowbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// The ten-thousand-alive measure (issue 13, part 3): Alive user.signedup start as many
// UserOnboarding workflows through the bridge, which a real worker (WorkerBin) runs to
// their wait for email.verified; bursts of a second stream of starts are routed before
// (baseline), while they wait, and after; then Alive email.verified complete them all.
// It runs on servers of its own: a fresh dev server (unless one is given), an in-process
// NATS, a fresh PostgreSQL schema, a mailpit and a stripe-mock (unless given).

// targetAliveRatio: the second stream, with the workflows waiting, at 0.9× its rate
// without them.
const targetAliveRatio = 0.9

// pingType is the second stream's event type: the ping route starts a FlowbenchPing
// workflow for each, on a task queue no worker polls, so the burst measures the bridge's
// starts and nothing else. It has no schema, so the bridge counts it as type "other".
const (
	pingType   = "flowbench.ping"
	pingMetric = "other"
)

// pingRoute is appended to the default routes (ROUTES_FILE); %s is the task queue.
const pingRoute = `
  # flowbench's second stream of starts: a workflow no worker runs (issue 13's measure).
  - name: flowbench-ping
    events: [` + pingType + `]
    action: start
    workflow: FlowbenchPing
    id: 'ping-{{ .data.id }}'
    task_queue: %s
`

// aliveResult is the ten-thousand-alive measure.
type aliveResult struct {
	n, pings  int
	prefix    string // of the onboarding workflows' users: <prefix><i>
	temporal  string // the server, and whether it was fresh
	mail      string // where the worker's email went
	stripe    string // the Stripe API the worker called
	phases    []alivePhase
	baseline  float64 // the second stream's starts per second, nothing waiting
	with      float64 // the same with the n workflows waiting
	after     float64 // the same once they completed
	confirmed int64   // workflows found waiting, each described, after phase 1
	completed int64   // workflows Temporal counts completed after phase 3
	// VmHWM of each process at the end; temporalHWM is 0 for a server the run was given.
	bridgeHWM, workerHWM, temporalHWM int64
}

// alivePhase is one timed step.
type alivePhase struct {
	name      string
	events    int
	elapsed   time.Duration
	bridgeRSS int64 // the highest VmRSS sampled (every 200ms) during the step
	workerRSS int64
	load      string // the 1-minute load average at its end: others' work skews the rates
	// cpu is the CPU time the bridge, the worker and (when the run started it) the dev
	// server used during the step.
	cpu []time.Duration
}

// cpuPer is process i's CPU per event of the step, in milliseconds; -1 when unknown.
func (p alivePhase) cpuPer(i int) float64 {
	if i >= len(p.cpu) || p.events == 0 {
		return -1
	}
	return ms(p.cpu[i]) / float64(p.events)
}

func (p alivePhase) rate() float64 { return float64(p.events) / p.elapsed.Seconds() }

// ratio is the second stream's rate with the workflows waiting over its baseline.
func (a *aliveResult) ratio() float64 {
	if a.baseline <= 0 {
		return 0
	}
	return a.with / a.baseline
}

// aliveRun holds what the measure's steps share.
type aliveRun struct {
	cfg     Config
	say     func(string, ...any)
	tc      client.Client
	js      jetstream.JetStream
	b       *bridgeProc
	w       *workerProc
	dbURL   string
	timeout time.Duration
}

func runAlive(ctx context.Context, cfg Config, res *Results, say func(string, ...any)) error {
	n, m := cfg.Alive, cfg.AlivePings
	r := &aliveResult{n: n, pings: m}
	res.Alive = r
	cfg.WorkDir = filepath.Join(cfg.WorkDir, "alive")
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return err
	}
	dir, run := cfg.WorkDir, randHex(3)
	say("==> ten thousand alive (issue 13): %d onboarding workflows waiting, run by a real worker, and bursts of %d other starts (logs: %s)", n, m, dir)

	var temporal *process
	r.temporal = cfg.TemporalAddress + " (given)"
	if cfg.TemporalAddress == "" {
		cfg.TemporalAddress = fmt.Sprintf("127.0.0.1:%d", cfg.TemporalPort)
		r.temporal = cfg.TemporalAddress + " (fresh dev server, in memory)"
		say("==> starting a fresh Temporal dev server on %s for this measure", cfg.TemporalAddress)
		tp, err := startTemporal(cfg.TemporalBin, cfg.TemporalAddress, dir)
		if err != nil {
			return err
		}
		temporal = tp
		defer func() { say("==> stopping the Temporal dev server"); tp.stop(15 * time.Second) }()
	}
	tc, err := dialTemporal(ctx, cfg.TemporalAddress, cfg.Namespace, 90*time.Second)
	if err != nil {
		return err
	}
	defer tc.Close()
	// Queues of their own: on a given server the other measures' workflows wait on
	// TaskQueue, and this worker must not run them.
	pingQueue := cfg.TaskQueue + "-unpolled"
	cfg.TaskQueue += "-alive"

	srv, js, closeNATS, err := startEventsNATS(ctx, filepath.Join(dir, "nats"))
	if err != nil {
		return err
	}
	defer closeNATS()
	dbURL, dropSchema, err := freshSchema(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer dropSchema()

	smtpAddr, stripeBase := cfg.SMTPAddr, cfg.StripeAPIBase
	r.mail, r.stripe = smtpAddr+" (given)", stripeBase+" (given)"
	if smtpAddr == "" {
		mp, addr, err := startMailpit(cfg.MailpitBin, dir)
		if err != nil {
			return err
		}
		defer mp.stop(5 * time.Second)
		smtpAddr, r.mail = addr, "mailpit of its own at "+addr
	}
	if stripeBase == "" {
		sm, base, err := startStripeMock(cfg.StripeMockBin, dir)
		if err != nil {
			return err
		}
		defer sm.stop(5 * time.Second)
		stripeBase, r.stripe = base, "stripe-mock of its own at "+base
	}
	say("  the worker's email goes to %s, its Stripe calls to %s", r.mail, r.stripe)

	routesFile, err := writePingRoutes(dir, pingQueue)
	if err != nil {
		return err
	}
	say("==> bridge %s (default settings and routes, plus route flowbench-ping: %s) and worker %s on task queue %s (logs: bridge.log, worker.log)",
		cfg.BridgeBin, routesFile, cfg.WorkerBin, cfg.TaskQueue)
	b, err := startBridge(ctx, cfg, srv.ClientURL(), dbURL, "ROUTES_FILE="+routesFile)
	if err != nil {
		return err
	}
	defer func() { say("==> stopping the bridge"); b.stop(15 * time.Second) }()
	w, err := startWorker(ctx, cfg, srv.ClientURL(), dbURL, smtpAddr, stripeBase)
	if err != nil {
		return err
	}
	defer func() { say("==> stopping the worker"); w.stop(30 * time.Second) }()

	a := &aliveRun{cfg: cfg, say: say, tc: tc, js: js, b: b, w: w, dbURL: dbURL, timeout: cfg.DrainTimeout}
	pids := []int{b.pid(), w.pid()}
	if temporal != nil {
		pids = append(pids, temporal.pid()) // for the progress lines
	}
	rss := sampleRSS(pids...)
	defer rss.stop()
	phase := func(name string, events int, elapsed time.Duration) alivePhase {
		cpu := rss.cpuSince()
		peak := rss.take()
		p := alivePhase{name: name, events: events, elapsed: elapsed, bridgeRSS: peak[0], workerRSS: peak[1], load: strings.Fields(loadAvg())[0], cpu: cpu}
		r.phases = append(r.phases, p)
		line := fmt.Sprintf("  %d in %.1fs: %.0f/s; peak RSS bridge %.1f MiB, worker %.1f MiB; CPU bridge %.1fs, worker %.1fs",
			events, elapsed.Seconds(), p.rate(), mib(p.bridgeRSS), mib(p.workerRSS), cpu[0].Seconds(), cpu[1].Seconds())
		if len(peak) > 2 {
			line += fmt.Sprintf("; Temporal %.1fs, peak RSS %.1f MiB", cpu[2].Seconds(), mib(peak[2]))
		}
		say("%s", line)
		return p
	}

	// A burst first, untimed: the bridge's adaptive limit starts low, and the server has
	// not seen the ping task queue yet; the baseline should not pay for either.
	say("==> warm-up: %d %s at once, not measured", m, pingType)
	if _, err := a.pingBurst(ctx, "pw-"+run+"-", m, rss); err != nil {
		return err
	}

	// Baseline: the second stream with nothing waiting.
	say("==> baseline: %d %s at once (workflow FlowbenchPing on task queue %s, which no worker polls), nothing waiting", m, pingType, pingQueue)
	el, err := a.pingBurst(ctx, "p0-"+run+"-", m, rss)
	if err != nil {
		return err
	}
	r.baseline = phase("baseline: second stream, nothing waiting", m, el).rate()

	// Phase 1: n signups; each workflow sends its verification email and waits.
	prefix := "alive-" + run + "-"
	r.prefix = prefix
	say("==> phase 1: %d user.signedup; each UserOnboarding sends its verification email and waits for email.verified", n)
	rss.take()
	begin := time.Now()
	if err := publishEach(ctx, js, prefix, n, signup, say); err != nil {
		return err
	}
	if err := a.waitEmails(ctx, "onboarding-"+prefix, n); err != nil {
		return err
	}
	phase(fmt.Sprintf("1: %d user.signedup → %d workflows waiting", n, n), n, time.Since(begin))
	say("==> describing the %d workflows: each running, no activity or workflow task pending", n)
	confirmBegin := time.Now()
	if r.confirmed, err = a.confirmWaiting(ctx, "onboarding-"+prefix, n); err != nil {
		return err
	}
	say("  %d of %d waiting (described in %.1fs)", r.confirmed, n, time.Since(confirmBegin).Seconds())

	// Phase 2: the second stream again, with the n waiting.
	say("==> phase 2: %d %s at once, %d onboarding workflows waiting", m, pingType, n)
	if el, err = a.pingBurst(ctx, "p1-"+run+"-", m, rss); err != nil {
		return err
	}
	r.with = phase(fmt.Sprintf("2: second stream, %d waiting", n), m, el).rate()
	say("  %.2f× the baseline (target ≥ %.1f×)", r.ratio(), targetAliveRatio)

	// Phase 3: their signals; each creates its tenant and Stripe customer and completes.
	say("==> phase 3: %d email.verified; each workflow creates its tenant and Stripe customer and completes", n)
	rss.take()
	begin = time.Now()
	if err := publishEach(ctx, js, prefix, n, verified, say); err != nil {
		return err
	}
	if r.completed, err = a.waitCompleted(ctx, "onboarding-"+prefix, n); err != nil {
		return err
	}
	phase(fmt.Sprintf("3: %d email.verified → %d completed", n, n), n, time.Since(begin))

	// After: the second stream once more, as a check on drift over the run.
	say("==> after: %d %s at once, the %d workflows completed", m, pingType, n)
	if el, err = a.pingBurst(ctx, "p2-"+run+"-", m, rss); err != nil {
		return err
	}
	r.after = phase(fmt.Sprintf("after: second stream, %d completed", n), m, el).rate()

	// The kernel updates VmHWM lazily: a sample of VmRSS may exceed it.
	if r.bridgeHWM, err = procHWM(b.pid()); err != nil {
		return err
	}
	if r.workerHWM, err = procHWM(w.pid()); err != nil {
		return err
	}
	for _, p := range r.phases {
		r.bridgeHWM, r.workerHWM = max(r.bridgeHWM, p.bridgeRSS), max(r.workerHWM, p.workerRSS)
	}
	if temporal != nil {
		if r.temporalHWM, err = procHWM(temporal.pid()); err != nil {
			return err
		}
	}
	return nil
}

// ping is the second stream's event for id.
func ping(id string) (events.Event, error) {
	return benchEvent("evt-"+id, pingType, map[string]string{"id": id})
}

// writePingRoutes writes the default routes plus the ping route to dir/routes.yaml.
func writePingRoutes(dir, queue string) (string, error) {
	path := filepath.Join(dir, "routes.yaml")
	data := append(routing.DefaultYAML(), fmt.Sprintf(pingRoute, queue)...)
	if _, err := routing.Parse(data, path); err != nil {
		return "", fmt.Errorf("the benchmark's routes: %w", err)
	}
	return path, os.WriteFile(path, data, 0o644)
}

// pingBurst waits until the bridge's consumer is idle, then publishes m pings at once and
// returns the time from the first publish until the bridge routed them all: its rate of
// starts when they queue up. It watches the consumer every 100ms (a request to NATS) and
// scrapes the bridge only when that is empty, or every 5 s for progress.
func (a *aliveRun) pingBurst(ctx context.Context, prefix string, m int, rss *rssSampler) (time.Duration, error) {
	if err := a.waitIdle(ctx); err != nil {
		return 0, err
	}
	m0, err := a.b.metricsOf(ctx, pingMetric)
	if err != nil {
		return 0, err
	}
	rss.take() // the peaks of the burst alone
	begin := time.Now()
	if err := publishEach(ctx, a.js, prefix, m, ping, a.say); err != nil {
		return 0, err
	}
	var elapsed time.Duration
	err = a.poll(ctx, 100*time.Millisecond, "pings routed", func(report bool) (bool, string, error) {
		info, err := consumerInfo(ctx, a.js)
		empty := err == nil && info.NumPending == 0 && info.NumAckPending == 0
		if !empty && !report {
			return false, "", nil
		}
		now := time.Now()
		mt, err := a.b.metricsOf(ctx, pingMetric)
		if err != nil {
			return false, "", nil
		}
		if mt["dead_lettered"] > m0["dead_lettered"] {
			return false, "", fmt.Errorf("the bridge dead-lettered %v pings (log: %s)", mt["dead_lettered"]-m0["dead_lettered"], a.b.logPath)
		}
		got := int(mt["routed"] - m0["routed"])
		if empty && got >= m {
			elapsed = now.Sub(begin)
			return true, "", nil
		}
		return false, fmt.Sprintf("%d of %d pings routed", got, m), nil
	})
	return elapsed, err
}

// waitIdle waits until the bridge's consumer has nothing pending or unacknowledged.
func (a *aliveRun) waitIdle(ctx context.Context) error {
	return a.poll(ctx, 200*time.Millisecond, "bridge idle", func(bool) (bool, string, error) {
		info, err := consumerInfo(ctx, a.js)
		if err != nil {
			return false, "", nil
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return true, "", nil
		}
		return false, fmt.Sprintf("waiting for the bridge to settle: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending), nil
	})
}

// waitEmails waits until the worker recorded the verification email of n workflows whose
// id starts with idPrefix (the sent_emails rows SendEmail writes after sending, keyed
// "<workflow id>/verification"): each workflow then waits for its signal.
func (a *aliveRun) waitEmails(ctx context.Context, idPrefix string, n int) error {
	conn, err := pgx.Connect(ctx, a.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return a.poll(ctx, time.Second, "verification emails", func(report bool) (bool, string, error) {
		var sent int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM sent_emails WHERE key LIKE $1", idPrefix+"%/verification").Scan(&sent); err != nil {
			return false, "", fmt.Errorf("count the sent emails: %w", err)
		}
		if sent >= n {
			return true, "", nil
		}
		if !report {
			return false, "", nil
		}
		line := fmt.Sprintf("%d of %d verification emails sent", sent, n)
		if mt, err := a.b.metrics(ctx); err == nil {
			line += fmt.Sprintf("; the bridge routed %d user.signedup", settled(mt))
			if mt["dead_lettered"] > 0 {
				return false, "", fmt.Errorf("the bridge dead-lettered %v user.signedup (log: %s)", mt["dead_lettered"], a.b.logPath)
			}
		}
		return false, line, nil
	})
}

// confirmWaiting describes each workflow idPrefix0..idPrefix<n-1> and counts those
// running with no activity and no workflow task pending: waiting for a signal. Those not
// yet (their last workflow task still running) are described again, until the timeout.
func (a *aliveRun) confirmWaiting(ctx context.Context, idPrefix string, n int) (int64, error) {
	left := make([]int, n)
	for i := range left {
		left[i] = i
	}
	var done atomic.Int64
	var firstBad atomic.Value
	stop := ticker(5*time.Second, func() { a.say("  %d of %d described and waiting", done.Load(), n) })
	defer stop()
	deadline := time.Now().Add(a.timeout)
	for len(left) > 0 {
		var mu sync.Mutex
		var again []int
		err := parallel(len(left), 16, func(j int) error {
			id := fmt.Sprintf("%s%d", idPrefix, left[j])
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			resp, err := a.tc.WorkflowService().DescribeWorkflowExecution(dctx, &workflowservice.DescribeWorkflowExecutionRequest{
				Namespace: a.cfg.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: id},
			})
			if err != nil {
				return fmt.Errorf("describe %s: %w", id, err)
			}
			st := resp.GetWorkflowExecutionInfo().GetStatus()
			if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return fmt.Errorf("%s is %s, want running and waiting for its signal", id, st)
			}
			if len(resp.GetPendingActivities()) == 0 && resp.GetPendingWorkflowTask() == nil {
				done.Add(1)
				return nil
			}
			firstBad.Store(fmt.Sprintf("%s: %d activities pending, workflow task pending %v", id, len(resp.GetPendingActivities()), resp.GetPendingWorkflowTask() != nil))
			mu.Lock()
			again = append(again, left[j])
			mu.Unlock()
			return nil
		})
		if err != nil {
			return done.Load(), err
		}
		if left = again; len(left) > 0 {
			if time.Now().After(deadline) {
				return done.Load(), fmt.Errorf("%d workflows still not waiting after %v; one: %v", len(left), a.timeout, firstBad.Load())
			}
			slices.Sort(left)
			select {
			case <-ctx.Done():
				return done.Load(), ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	return done.Load(), nil
}

// waitCompleted waits until Temporal's visibility counts n completed UserOnboarding
// workflows whose id starts with idPrefix; one that closed otherwise fails the measure.
func (a *aliveRun) waitCompleted(ctx context.Context, idPrefix string, n int) (int64, error) {
	base := fmt.Sprintf(`WorkflowType = 'UserOnboarding' AND WorkflowId STARTS_WITH '%s' AND `, idPrefix)
	var completed int64
	err := a.poll(ctx, time.Second, "workflows completed", func(report bool) (bool, string, error) {
		var err error
		if completed, err = a.count(ctx, base+`ExecutionStatus = 'Completed'`); err != nil {
			return false, "", err
		}
		if completed >= int64(n) {
			return true, "", nil
		}
		if !report {
			return false, "", nil
		}
		bad, err := a.count(ctx, base+`ExecutionStatus != 'Running' AND ExecutionStatus != 'Completed'`)
		if err != nil {
			return false, "", err
		}
		if bad > 0 {
			return false, "", fmt.Errorf("%d onboarding workflows closed without completing (failed, timed out or terminated; worker log: %s)", bad, a.w.logPath)
		}
		line := fmt.Sprintf("%d of %d workflows completed", completed, n)
		if mt, err := a.b.metricsOf(ctx, "email.verified"); err == nil {
			line += fmt.Sprintf("; the bridge signalled %d", int64(mt["routed"]))
		}
		return false, line, nil
	})
	return completed, err
}

func (a *aliveRun) count(ctx context.Context, query string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := a.tc.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: a.cfg.Namespace, Query: query})
	if err != nil {
		return 0, fmt.Errorf("count workflows: %w", err)
	}
	return resp.GetCount(), nil
}

// poll calls check every period until it is done or fails, the bridge or the worker
// exits, or the run's timeout passes. Every 5 s check is called with report set, and the
// line it returns is printed.
func (a *aliveRun) poll(ctx context.Context, period time.Duration, what string, check func(report bool) (done bool, line string, err error)) error {
	begin, lastSay := time.Now(), time.Now()
	for {
		report := time.Since(lastSay) >= 5*time.Second
		done, line, err := check(report)
		if err != nil || done {
			return err
		}
		if report {
			if line != "" {
				a.say("  %s (%.0fs)", line, time.Since(begin).Seconds())
			}
			lastSay = time.Now()
		}
		if a.b.exited() {
			return fmt.Errorf("the bridge exited: %v (log: %s)", a.b.err, a.b.logPath)
		}
		if a.w.exited() {
			return fmt.Errorf("the worker exited: %v (log: %s)", a.w.err, a.w.logPath)
		}
		if time.Since(begin) > a.timeout {
			return fmt.Errorf("%s: not done within %v (logs: %s)", what, a.timeout, a.cfg.WorkDir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(period):
		}
	}
}

// workerProc is the built worker binary.
type workerProc struct {
	*process
	httpAddr, logPath string
}

// startWorker runs cfg.WorkerBin on cfg.TaskQueue and waits until its /readyz answers
// 200 (PostgreSQL, NATS and Temporal reached, the worker polling). It keeps no Temporal
// Schedules (an empty SCHEDULES_FILE): their runs are not the measure.
func startWorker(ctx context.Context, cfg Config, natsURL, databaseURL, smtpAddr, stripeBase string) (*workerProc, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	schedules := filepath.Join(cfg.WorkDir, "schedules.yaml")
	if err := os.WriteFile(schedules, []byte("# flowbench's worker keeps no schedules\nschedules: []\n"), 0o644); err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"NATS_URL=" + natsURL,
		"TEMPORAL_ADDRESS=" + cfg.TemporalAddress,
		"TEMPORAL_NAMESPACE=" + cfg.Namespace,
		"TEMPORAL_TASK_QUEUE=" + cfg.TaskQueue,
		"DATABASE_URL=" + databaseURL,
		"WORKER_HTTP_ADDR=" + httpAddr,
		"LOG_LEVEL=info",
		"LOG_FORMAT=json",
		"SMTP_ADDR=" + smtpAddr,
		"SMTP_TLS=none", // mailpit takes mail in plain text
		"STRIPE_API_KEY=sk_test_flowbench",
		"STRIPE_API_BASE=" + stripeBase,
		"SCHEDULES_FILE=" + schedules,
		"DEPLOY_WORKSPACE=" + filepath.Join(cfg.WorkDir, "deploys"),
		"BACKUP_DIR=" + filepath.Join(cfg.WorkDir, "backups"),
	}
	logPath := filepath.Join(cfg.WorkDir, "worker.log")
	p, err := startProcess("worker", logPath, env, cfg.WorkerBin)
	if err != nil {
		return nil, err
	}
	w := &workerProc{process: p, httpAddr: httpAddr, logPath: logPath}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ready(ctx, "http://"+httpAddr+"/readyz") {
			return w, nil
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("the worker was not ready at %s/readyz within 60s (%v); its log: %s", httpAddr, p.err, logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ready(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startMailpit starts a mailpit of the measure's own and returns its SMTP address.
func startMailpit(bin, dir string) (*process, string, error) {
	smtp, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	api, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProcess("mailpit", filepath.Join(dir, "mailpit.log"), os.Environ(), bin,
		"--smtp", smtp, "--listen", api, "--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet")
	if err != nil {
		return nil, "", err
	}
	return p, smtp, waitListening(p, smtp, 30*time.Second)
}

// startStripeMock starts a stripe-mock of the measure's own and returns its base URL.
func startStripeMock(bin, dir string) (*process, string, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	httpsAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProcess("stripe-mock", filepath.Join(dir, "stripe-mock.log"), os.Environ(), bin, "-http-addr", httpAddr, "-https-addr", httpsAddr)
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + httpAddr, waitListening(p, httpAddr, 30*time.Second)
}

// waitListening waits until p listens on addr; it stops p if it does not in time.
func waitListening(p *process, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !portOpen(addr) {
		if p.exited() || time.Now().After(deadline) {
			p.stop(5 * time.Second)
			return fmt.Errorf("%s did not listen on %s within %v (%v)", p.name, addr, within, p.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// rssSampler reads the VmRSS of a few processes every 200ms and keeps each one's highest
// since the last take; take also says how much CPU each used since the last take.
type rssSampler struct {
	pids []int
	mu   sync.Mutex
	peak []int64
	cpu  []time.Duration // at the last take
	stop func()
}

func sampleRSS(pids ...int) *rssSampler {
	s := &rssSampler{pids: pids, peak: make([]int64, len(pids)), cpu: make([]time.Duration, len(pids))}
	s.read()
	for i, pid := range pids {
		s.cpu[i], _ = procCPU(pid)
	}
	s.stop = ticker(200*time.Millisecond, s.read)
	return s
}

// cpuSince returns each process's CPU time since the last take.
func (s *rssSampler) cpuSince() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Duration, len(s.pids))
	for i, pid := range s.pids {
		if c, err := procCPU(pid); err == nil {
			out[i] = c - s.cpu[i]
		}
	}
	return out
}

func (s *rssSampler) read() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, pid := range s.pids {
		if v, err := procRSS(pid); err == nil && v > s.peak[i] {
			s.peak[i] = v
		}
	}
}

// take returns each process's highest VmRSS since the last take, and starts over.
func (s *rssSampler) take() []int64 {
	s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.peak)
	clear(s.peak)
	for i, pid := range s.pids {
		s.cpu[i], _ = procCPU(pid)
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// burst is phase i, or a zero phase when the run did not get that far.
func (a *aliveResult) burst(i int) alivePhase {
	if i < len(a.phases) {
		return a.phases[i]
	}
	return alivePhase{}
}

// table writes the measure as two Markdown tables: the phases, then the verdicts.
func (a *aliveResult) table(w io.Writer) {
	fmt.Fprintf(w, "Ten thousand alive (issue 13): %d onboarding workflows, bursts of %d other starts; Temporal %s; the worker's email to %s, Stripe at %s\n\n",
		a.n, a.pings, a.temporal, a.mail, a.stripe)
	cpuHead := "CPU per event: bridge / worker"
	if a.temporalHWM > 0 {
		cpuHead += " / dev server"
	}
	fmt.Fprintf(w, "| phase | events | seconds | rate | bridge peak RSS | worker peak RSS | %s | load at its end |\n", cpuHead)
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, p := range a.phases {
		cpu := fmt.Sprintf("%.2f / %.2f", p.cpuPer(0), p.cpuPer(1))
		if len(p.cpu) > 2 {
			cpu += fmt.Sprintf(" / %.2f", p.cpuPer(2))
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.0f/s | %.1f MiB | %.1f MiB | %s ms | %s |\n", p.name, p.events, p.elapsed.Seconds(), p.rate(), mib(p.bridgeRSS), mib(p.workerRSS), cpu, p.load)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measure | result | target (issue 13) | verdict |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	afterRatio := 0.0
	if a.after > 0 {
		afterRatio = a.with / a.after
	}
	fmt.Fprintf(w, "| second stream with %d waiting ÷ nothing waiting (the baseline) | %.2f× (%.0f/s vs %.0f/s; against the burst after they completed, %.0f/s: %.2f×) | ≥ %.1f× | %s |\n",
		a.n, a.ratio(), a.with, a.baseline, a.after, afterRatio, targetAliveRatio, verdict(a.ratio() >= targetAliveRatio))
	if base, with := a.burst(0), a.burst(2); base.cpuPer(2) > 0 && with.cpuPer(2) > 0 {
		fmt.Fprintf(w, "| the dev server's CPU per start of the second stream, %d waiting ÷ nothing waiting | %.2f× (%.2f ms vs %.2f ms; the bridge's: %.2f×) | | |\n",
			a.n, with.cpuPer(2)/base.cpuPer(2), with.cpuPer(2), base.cpuPer(2), with.cpuPer(0)/base.cpuPer(0))
	}
	fmt.Fprintf(w, "| workflows waiting after phase 1 (each described) | %d of %d | all | %s |\n", a.confirmed, a.n, verdict(a.confirmed == int64(a.n)))
	fmt.Fprintf(w, "| workflows completed after phase 3 | %d of %d | all | %s |\n", a.completed, a.n, verdict(a.completed == int64(a.n)))
	hwm := fmt.Sprintf("bridge %.1f MiB, worker %.1f MiB", mib(a.bridgeHWM), mib(a.workerHWM))
	if a.temporalHWM > 0 {
		hwm += fmt.Sprintf(", Temporal dev server %.1f MiB", mib(a.temporalHWM))
	}
	fmt.Fprintf(w, "| peak RSS over the measure (VmHWM, or a higher sample) | %s | | |\n", hwm)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each burst publishes its events at once and is timed from the first publish to the last routed. Phase 1 ends when the worker recorded every verification email (each workflow then waits for its signal; all are then described to confirm), phase 3 when Temporal counts every workflow completed. Peak RSS per phase: the highest VmRSS sampled every 200 ms.")
}
