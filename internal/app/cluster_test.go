package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// floodEvents is how many events TestClusterNodeLossMidFlood sends.
const floodEvents = 5000

// On a three-node JetStream cluster with R3 streams (EVENTS_REPLICAS=3, made by `bridge
// setup`), two bridges and their ingress keep working while one node at a time dies
// mid-flood and comes back: 5,000 events sent to POST /events (each sent again until it
// is answered 2xx, as a client would); the leader of EVENTS killed once a third is in
// and restarted once a thousand more have come in without it; then the leader of the
// consumer bridge killed and restarted once a hundred more workflows have started
// without it. Every event starts exactly one workflow in Temporal, none is
// dead-lettered, and the stream holds each event once: an event answered 2xx was
// stored, or its workflow would be missing.
func TestClusterNodeLossMidFlood(t *testing.T) {
	tc := testenv.Temporal(t)
	cl := testenv.StartNATSCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()

	prefix := testenv.ID("flood-")
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	// No worker polls the task queue: the workflows only have to exist, and end by
	// themselves.
	require.NoError(t, os.WriteFile(routes, []byte(`unmatched: dead_letter
routes:
  - name: flood
    events: [user.signedup]
    action: start
    workflow: UserOnboarding
    id: '`+prefix+`-{{ .data.user_id }}'
    execution_timeout: 2m
`), 0o600))
	env := map[string]string{
		"NATS_URL":              cl.URL,
		"EVENTS_REPLICAS":       "3",
		"BRIDGE_PROVISION":      "false",
		"TEMPORAL_ADDRESS":      testenv.TemporalAddress(),
		"TEMPORAL_TASK_QUEUE":   prefix,
		"ROUTES_FILE":           routes,
		"DATABASE_URL":          "postgres://postgres@127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/flowbridge?sslmode=disable",
		"INGRESS_EVENTS_TOKENS": sweepToken + "=user.>",
	}
	getenv := func(k string) string { return env[k] }

	setupCfg, err := config.LoadSetup(nil, getenv)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, RunSetup(ctx, setupCfg, &out, testenv.Logger(t)), out.String())
	for _, name := range []string{events.Stream, events.DLQStream, events.WaitingStream} {
		s, err := cl.JS.Stream(ctx, name)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, info.Config.Replicas, "stream %s", name)
		require.Len(t, info.Cluster.Replicas, 2, "stream %s: replicas besides the leader", name)
	}

	var bridges []*testBridge
	for range 2 {
		cfg, err := config.LoadBridge(nil, getenv)
		require.NoError(t, err)
		cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		p, err := newBridgeProcess(t.Context(), cfg, testenv.Logger(t))
		require.NoError(t, err)
		b := &testBridge{bridgeProcess: p, public: "http://" + p.publicLn.Addr().String(), admin: "http://" + p.adminLn.Addr().String()}
		b.start(t)
		bridges = append(bridges, b)
	}
	for _, b := range bridges {
		poll(t, 30*time.Second, func() (bool, string) {
			return doRequest(t, http.MethodGet, b.public+"/readyz").status == http.StatusOK, "bridge " + b.public + " never became ready"
		})
	}

	f := &flood{bridges: bridges, prefix: prefix, client: &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	flooded := make(chan error, 1)
	go func() { flooded <- f.send(ctx, floodEvents, 32) }()

	// A third in: kill the leader of EVENTS, the node every write goes through.
	f.waitAccepted(t, floodEvents/3, 90*time.Second)
	victim, err := cl.StreamLeader(ctx, events.Stream)
	require.NoError(t, err)
	t.Logf("killing %s, leader of stream %s (bridges' consumer connections on %s and %s)", cl.Nodes[victim].Name, events.Stream,
		bridges[0].consumerNATS.ConnectedServerName(), bridges[1].consumerNATS.ConnectedServerName())
	cl.Kill(victim)
	killedAt := f.accepted.Load()
	// Without it, the ingress keeps storing events.
	f.waitAccepted(t, killedAt+floodEvents/5, 60*time.Second)
	t.Logf("%d events accepted while %s was down", f.accepted.Load()-killedAt, cl.Nodes[victim].Name)
	cl.Restart(victim)
	cl.WaitReady(60 * time.Second)

	// Routing outlasts the ingress's part of the flood (Temporal is the slower): kill the
	// leader of the consumer bridge too, once the first node is back.
	query := fmt.Sprintf("TaskQueue = '%s'", prefix)
	routed := func() (int64, string) {
		res, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return -1, err.Error()
		}
		return res.GetCount(), fmt.Sprintf("workflows in Temporal: %d of %d", res.GetCount(), floodEvents)
	}
	victim, err = cl.ConsumerLeader(ctx, events.Stream, events.BridgeConsumer)
	require.NoError(t, err)
	before, _ := routed()
	t.Logf("killing %s, leader of consumer %s, with %d workflows started", cl.Nodes[victim].Name, events.BridgeConsumer, before)
	cl.Kill(victim)
	// Without it, the bridges keep routing.
	pollProgress(t, 60*time.Second, func() (int64, bool, string) {
		n, state := routed()
		return n, n >= min(before+100, floodEvents), state
	})
	cl.Restart(victim)
	cl.WaitReady(60 * time.Second)

	require.NoError(t, <-flooded)
	t.Logf("flood: %d events accepted; %d answers not 2xx and %d failed requests, each sent again", f.accepted.Load(), f.refused.Load(), f.failed.Load())

	// Every event routed once: one workflow per event, no more, none dead-lettered.
	// Temporal sets the pace (a shared dev server on a busy machine can be slow): this
	// fails when nothing more was routed for a minute.
	began := time.Now()
	pollProgress(t, 60*time.Second, func() (int64, bool, string) {
		n, state := routed()
		return n, n >= floodEvents, state
	})
	t.Logf("the last workflows started %s after the second node came back", time.Since(began).Round(time.Second))
	requireConsumerSettled(t, cl.JS, 60*time.Second)
	ids := listWorkflowIDs(t, tc, query)
	require.Len(t, ids, floodEvents, "workflow executions on the task queue")
	for i := range floodEvents {
		id := fmt.Sprintf("%s-u%d", prefix, i)
		require.Equal(t, 1, ids[id], "executions of workflow %s", id)
	}
	for _, name := range []string{events.Stream, events.DLQStream} {
		s, err := cl.JS.Stream(ctx, name)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		want := uint64(0)
		if name == events.Stream {
			want = floodEvents // each event once: a resend within the duplicate window is dropped
		}
		require.Equal(t, want, info.State.Msgs, "messages in %s", name)
	}
	var outcomes = map[string]float64{}
	for _, b := range bridges {
		for outcome, n := range eventOutcomes(t, b.admin+"/metrics") {
			outcomes[outcome] += n
		}
	}
	t.Logf("bridge outcomes: %v", outcomes)
	require.Zero(t, outcomes[bridge.OutcomeDeadLettered], "dead letters")
	require.GreaterOrEqual(t, outcomes[bridge.OutcomeRouted], float64(floodEvents), "routed")
}

// flood posts events to the bridges' POST /events.
type flood struct {
	bridges                   []*testBridge
	prefix                    string
	client                    *http.Client
	accepted, refused, failed atomic.Int64
}

// send posts n user.signedup events (user ids u0 to u<n-1>) with the given concurrency,
// alternating between the bridges. An event not answered 2xx is sent again, with the
// same id, until it is.
func (f *flood) send(ctx context.Context, n, concurrency int) error {
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				if err := f.post(ctx, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (f *flood) post(ctx context.Context, i int) error {
	body := fmt.Appendf(nil, `{"specversion":"1.0","id":"%s-e%d","type":"user.signedup","source":"/flood","data":{"user_id":"u%d","email":"u%d@example.com"}}`, f.prefix, i, i, i)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.bridges[(i+attempt)%len(f.bridges)].public+"/events", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = structured()
		res, err := f.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode/100 == 2 {
				f.accepted.Add(1)
				return nil
			}
			f.refused.Add(1)
		} else {
			f.failed.Add(1)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("event %d not accepted before the test's deadline: %w", i, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAccepted waits until n events have been answered 2xx.
func (f *flood) waitAccepted(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, func() (bool, string) {
		return f.accepted.Load() >= n, fmt.Sprintf("events accepted: %d, want %d (refused %d, failed %d)", f.accepted.Load(), n, f.refused.Load(), f.failed.Load())
	})
}

// requireConsumerSettled waits until the consumer bridge has acknowledged everything
// stored in EVENTS.
func requireConsumerSettled(t *testing.T, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, func() (bool, string) {
		s, err := js.Stream(t.Context(), events.Stream)
		if err != nil {
			return false, err.Error()
		}
		si, err := s.Info(t.Context())
		if err != nil {
			return false, err.Error()
		}
		c, err := s.Consumer(t.Context(), events.BridgeConsumer)
		if err != nil {
			return false, err.Error()
		}
		ci, err := c.Info(t.Context())
		if err != nil {
			return false, err.Error()
		}
		return ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream >= si.State.LastSeq,
			fmt.Sprintf("consumer %s: pending %d, ack pending %d, redelivered %d, ack floor %d of %d",
				events.BridgeConsumer, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.AckFloor.Stream, si.State.LastSeq)
	})
}

// pollProgress calls cond every 100ms until it says done, and fails the test with what it
// said last when its count has not grown for stall.
func pollProgress(t *testing.T, stall time.Duration, cond func() (count int64, done bool, state string)) {
	t.Helper()
	last, since := int64(-1), time.Now()
	for {
		n, done, state := cond()
		if done {
			return
		}
		if n > last {
			last, since = n, time.Now()
		}
		if time.Since(since) > stall {
			t.Fatalf("no progress for %s: %s", stall, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// poll calls cond every 100ms until it says true, and fails the test with what it said
// last when timeout passes first.
func poll(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listWorkflowIDs counts the executions of each workflow id that query finds.
func listWorkflowIDs(t *testing.T, tc client.Client, query string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	var token []byte
	for {
		res, err := tc.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 1000, NextPageToken: token})
		require.NoError(t, err)
		for _, e := range res.GetExecutions() {
			ids[e.GetExecution().GetWorkflowId()]++
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			return ids
		}
	}
}

// eventOutcomes sums flowbridge_bridge_events_total by outcome on a /metrics page.
func eventOutcomes(t *testing.T, url string) map[string]float64 {
	t.Helper()
	a := doRequest(t, http.MethodGet, url)
	require.Equal(t, http.StatusOK, a.status, "GET %s", url)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader([]byte(a.body)))
	require.NoError(t, err)
	out := map[string]float64{}
	for _, m := range fams[bridge.EventsMetric].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "outcome" {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}
