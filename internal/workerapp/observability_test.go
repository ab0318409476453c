package workerapp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"

	"strconv"
)

// What deploy/ holds for Prometheus and Grafana, from this package's directory.
var (
	dashboardFiles = "../../deploy/grafana/dashboards/*.json"
	ruleFiles      = "../../deploy/prometheus/rules/*.yml"
	ruleTestFiles  = "../../deploy/prometheus/tests/*.yml"
)

const obsToken = "obs-token"

// Every metric a dashboard panel or an alert rule names is on a live /metrics — the
// bridge's admin address or the worker's — after traffic: a bridge process and a worker on
// the real NATS, Temporal and PostgreSQL, a user who signs up and verifies (a workflow
// started, signalled and completed), a verification whose workflow does not exist (a
// signal parked, a NotFound from Temporal) and a message that cannot be decoded (a dead
// letter). The names come from the dashboards' and the rules' PromQL, parsed; there is no
// list of them here.
func TestDashboardsAndAlertsNameLiveMetrics(t *testing.T) {
	want := map[string][]string{} // metric name -> where it is used
	for _, q := range dashboardQueries(t) {
		for _, name := range metricNames(t, q.expr) {
			want[name] = append(want[name], q.where)
		}
	}
	for _, q := range ruleQueries(t) {
		for _, name := range metricNames(t, q.expr) {
			want[name] = append(want[name], q.where)
		}
	}
	require.Greater(t, len(want), 20, "metric names found in the dashboards and rules: %v", slices.Sorted(maps.Keys(want)))

	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	db := testenv.Postgres(t)
	stripeBase := testenv.StripeMock(t)
	smtpAddr, _ := testenv.Mailpit(t)
	queue := testenv.ID("obs-")
	env := map[string]string{
		"NATS_URL":              n.URL,
		"TEMPORAL_ADDRESS":      testenv.TemporalAddress(),
		"DATABASE_URL":          db,
		"TEMPORAL_TASK_QUEUE":   queue,
		"STRIPE_API_KEY":        "sk_test_obs",
		"STRIPE_API_BASE":       stripeBase,
		"INGRESS_EVENTS_TOKENS": obsToken,
		"SMTP_ADDR":             smtpAddr,
		"SMTP_TLS":              "none",
	}
	getenv := func(k string) string { return env[k] }

	// The bridge, as RunBridge runs it.
	bcfg, err := config.LoadBridge(nil, getenv)
	require.NoError(t, err)
	bcfg.HTTPAddr = "127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t))
	bcfg.AdminAddr = "127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t))
	public, admin := "http://"+bcfg.HTTPAddr, "http://"+bcfg.AdminAddr
	bctx, stopBridge := context.WithCancel(t.Context())
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- app.RunBridge(bctx, bcfg, testenv.Logger(t)) }()
	t.Cleanup(func() {
		stopBridge()
		require.NoError(t, <-bridgeDone, "the bridge's run")
	})

	// The worker, as runWorker builds it, without the schedules (their ids are global on
	// the shared Temporal server).
	wcfg, err := config.LoadWorker(nil, getenv)
	require.NoError(t, err)
	worker := startObservedWorker(t, wcfg)

	testenv.Eventually(t, 30*time.Second, func() bool {
		res, err := (&http.Client{Timeout: 5 * time.Second}).Get(public + "/readyz")
		if err != nil {
			return false // not listening yet
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "the bridge never became ready")

	// Traffic.
	user, stranger := testenv.ID("obs-user-"), testenv.ID("obs-stranger-")
	postEvent(t, public, "user.signedup", map[string]any{"user_id": user, "email": user + "@example.com"})
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, err := tc.DescribeWorkflowExecution(t.Context(), "onboarding-"+user, "")
		return err == nil
	}, "onboarding-%s was never started", user)
	postEvent(t, public, "email.verified", map[string]any{"user_id": user})
	postEvent(t, public, "email.verified", map[string]any{"user_id": stranger})
	_, err = n.JS.Publish(t.Context(), events.Subject("user.signedup"), []byte("not a CloudEvent"))
	require.NoError(t, err)
	var status enumspb.WorkflowExecutionStatus
	testenv.Eventually(t, 60*time.Second, func() bool {
		d, err := tc.DescribeWorkflowExecution(t.Context(), "onboarding-"+user, "")
		require.NoError(t, err)
		status = d.GetWorkflowExecutionInfo().GetStatus()
		return status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}, "onboarding-%s: got status %v, want completed", user, &status)

	// Counters and gauges reach /metrics within a second or two, the sampled ones within
	// the sampling interval.
	var missing []string
	var exposed map[string]bool
	testenv.Eventually(t, 60*time.Second, func() bool {
		exposed = scrapeNames(t, admin+"/metrics")
		maps.Copy(exposed, scrapeNames(t, worker+"/metrics"))
		missing = missing[:0]
		for name, where := range want {
			if !exposed[name] {
				missing = append(missing, name+" (in "+strings.Join(where, "; ")+")")
			}
		}
		slices.Sort(missing)
		return len(missing) == 0
	}, "named by a dashboard or rule but on neither /metrics: %v", &missing)
}

// TestAlertRulesPromtool: the rules load (promtool check rules) and behave as their unit
// tests say (promtool test rules).
func TestAlertRulesPromtool(t *testing.T) {
	promtool := testenv.Promtool(t)
	rules, err := filepath.Glob(ruleFiles)
	require.NoError(t, err)
	require.NotEmpty(t, rules, "no rule files at %s", ruleFiles)
	tests, err := filepath.Glob(ruleTestFiles)
	require.NoError(t, err)
	require.NotEmpty(t, tests, "no rule tests at %s", ruleTestFiles)
	for _, args := range [][]string{append([]string{"check", "rules"}, rules...), append([]string{"test", "rules"}, tests...)} {
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// A broken expression or a metric name hidden in a label matcher is found, not skipped.
func TestMetricNames(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{name: "histogram quantile", expr: `histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket[5m])))`, want: []string{"a_seconds_bucket"}},
		{name: "binary and or", expr: `(sum(rate(a_total[5m])) or b * 0) == 0 and on (job) c > 0`, want: []string{"a_total", "b", "c"}},
		{name: "name as a matcher", expr: `{__name__="a_total", x="y"}`, want: []string{"a_total"}},
		{name: "grafana interval", expr: `rate(a_total[$__rate_interval])`, want: []string{"a_total"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := metricNames(t, tt.expr)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

type query struct{ expr, where string }

// dashboardQueries returns every "expr" of the dashboards' panels (rows' panels too) and
// every query of their variables.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	files, err := filepath.Glob(dashboardFiles)
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards at %s", dashboardFiles)
	var out []query
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			Panels     []dashboardPanel `json:"panels"`
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		require.NoError(t, json.Unmarshal(raw, &d), "%s", f)
		var walk func(ps []dashboardPanel)
		walk = func(ps []dashboardPanel) {
			for _, p := range ps {
				for _, tg := range p.Targets {
					require.NotEmpty(t, tg.Expr, "%s: panel %q has a target without expr", f, p.Title)
					out = append(out, query{tg.Expr, filepath.Base(f) + ": " + p.Title})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			if q, ok := v.Query.(string); ok && v.Type == "query" {
				q = strings.TrimSuffix(strings.TrimPrefix(q, "query_result("), ")")
				out = append(out, query{q, filepath.Base(f) + ": variable " + v.Name})
			}
		}
	}
	return out
}

type dashboardPanel struct {
	Title   string                  `json:"title"`
	Targets []struct{ Expr string } `json:"targets"`
	Panels  []dashboardPanel        `json:"panels"`
}

// ruleQueries returns the expr of every alerting and recording rule.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	files, err := filepath.Glob(ruleFiles)
	require.NoError(t, err)
	require.NotEmpty(t, files, "no rule files at %s", ruleFiles)
	var out []query
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var rf struct {
			Groups []struct {
				Rules []struct {
					Alert  string `yaml:"alert"`
					Record string `yaml:"record"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &rf), "%s", f)
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				out = append(out, query{r.Expr, filepath.Base(f) + ": " + r.Alert + r.Record})
			}
		}
	}
	return out
}

// grafanaVars are the variables Grafana fills in before a query reaches Prometheus.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// metricNames parses expr as PromQL (github.com/VictoriaMetrics/metricsql: a real parser,
// whose language is a superset of PromQL) and returns the metric names its selectors name,
// sorted.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := metricsql.Parse(grafanaVars.Replace(expr))
	require.NoError(t, err, "parse %q", expr)
	names := map[string]bool{}
	metricsql.VisitAll(e, func(e metricsql.Expr) {
		me, ok := e.(*metricsql.MetricExpr)
		if !ok {
			return
		}
		for _, group := range me.LabelFilterss {
			named := false
			for _, f := range group {
				if f.Label == "__name__" {
					require.False(t, f.IsRegexp || f.IsNegative, "%q: a selector matching names by regexp or negation cannot be checked", expr)
					names[f.Value] = true
					named = true
				}
			}
			require.True(t, named, "%q: a selector without a metric name", expr)
		}
	})
	require.NotEmpty(t, names, "%q names no metric", expr)
	return slices.Sorted(maps.Keys(names))
}

// scrapeNames returns the names of the series url serves, as PromQL sees them: a
// histogram's _bucket, _sum and _count, a summary's _sum and _count.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "GET %s", url)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "GET %s: not the text format", url)
	names := map[string]bool{}
	for name, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		switch f.GetType().String() {
		case "HISTOGRAM":
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case "SUMMARY":
			names[name+"_sum"], names[name+"_count"] = true, true
			names[name] = true
		default:
			names[name] = true
		}
	}
	return names
}

// startObservedWorker runs the worker's metrics, server and Temporal worker with real
// activities until the test ends, and returns its server's base URL.
func startObservedWorker(t *testing.T, cfg config.Worker) string {
	t.Helper()
	log := testenv.Logger(t)
	nc, err := app.ConnectNATS(cfg.Common, "flowbridge-worker", log)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	web, err := newWorkerHTTP("127.0.0.1:0", log, map[string]ops.Check{"nats": nc.Alive}, nc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, web.Temporal.Close()) })
	srv := httptest.NewServer(web.Server.Handler())
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	opts, err := app.TemporalOptions(cfg.Temporal, log)
	require.NoError(t, err)
	opts.MetricsHandler = web.Temporal.Handler()
	tc, err := client.DialContext(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	st, err := store.Open(ctx, cfg.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	mailer, err := mail.New(mail.Config{Addr: cfg.SMTPAddr, From: "flowbridge <no-reply@flowbridge.test>", TLS: mail.TLSNone})
	require.NoError(t, err)
	acts := &activities.Activities{
		Store: st, Mailer: mailer, Stripe: activities.NewStripeClient(cfg.StripeAPIKey, cfg.StripeAPIBase),
		Publisher: events.NewPublisher(nc.JS), Log: log, AppURL: "http://app.test",
	}
	require.NoError(t, acts.Validate())
	w := newTemporalWorker(tc, cfg, web, func(err error) { t.Errorf("worker stopped: %v", err) })
	Register(w, acts, nil, Workflows{})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	web.Ready.Started()
	return srv.URL
}

// postEvent publishes one structured CloudEvent through POST /events and wants 202.
func postEvent(t *testing.T, base, typ string, data map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"specversion": "1.0", "id": testenv.ID("obs-ev-"), "type": typ, "source": "/observability-test",
		"time": time.Now().UTC().Format(time.RFC3339Nano), "data": data,
	})
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/events", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Authorization", "Bearer "+obsToken)
	res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusAccepted, res.StatusCode, "POST /events %s: %s", typ, out)
}
