package activities_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

func deployTypes(evs []events.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Type())
	}
	return out
}

// deployData decodes a deploy event's data, after checking it against its schema.
func deployData(t *testing.T, ev events.Event) contract.DeployEvent {
	t.Helper()
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	require.NoError(t, sch.Validate(ev), "%s data breaks schemas/%s.json", ev.Type(), ev.Type())
	var d contract.DeployEvent
	require.NoError(t, json.Unmarshal(ev.Data(), &d))
	return d
}

// cancelCalls is a WorkflowCanceller that records its calls and answers errs[id].
type cancelCalls struct {
	mu   sync.Mutex
	ids  []string
	errs map[string]error
}

func (c *cancelCalls) CancelWorkflow(_ context.Context, workflowID, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, workflowID)
	return c.errs[workflowID]
}

// gitHost serves the git repositories under its root over HTTPS, with git's own smart
// HTTP server (git http-backend), as a git host would: deploys take only https:// and
// ssh:// URLs of repositories on their allow-list, never a local path.
type gitHost struct {
	root string
	url  string // https://127.0.0.1:<port>
	host string // 127.0.0.1:<port>, as DEPLOY_ALLOWED_REPOS entries name it
}

func newGitHost(t *testing.T) *gitHost {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	require.NoError(t, err)
	root := t.TempDir()
	srv := httptest.NewTLSServer(&cgi.Handler{
		Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	})
	t.Cleanup(srv.Close)
	// git trusts the test server's certificate through GIT_SSL_CAINFO, which the worker
	// passes to git (and only to git).
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	t.Setenv("GIT_SSL_CAINFO", ca)
	return &gitHost{root: root, url: srv.URL, host: strings.TrimPrefix(srv.URL, "https://")}
}

// blueprintRepo is a git repository in a temporary directory, served by a gitHost.
type blueprintRepo struct {
	dir  string
	name string // owner/repo
	url  string
}

// newRepo creates the repository name (owner/repo) on h.
func (h *gitHost) newRepo(t *testing.T, name string) *blueprintRepo {
	t.Helper()
	r := &blueprintRepo{dir: filepath.Join(h.root, name+".git"), name: name, url: h.url + "/" + name + ".git"}
	require.NoError(t, os.MkdirAll(r.dir, 0o755))
	r.git(t, "init", "--quiet", "--initial-branch=main")
	return r
}

func (r *blueprintRepo) URL() string { return r.url }

func (r *blueprintRepo) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content) and commits them, returning the commit's sha.
func (r *blueprintRepo) commit(t *testing.T, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	r.git(t, "add", "-A")
	r.git(t, "commit", "--quiet", "-m", msg)
	return r.git(t, "rev-parse", "HEAD")
}

// blueprintYAML is a blueprint whose commands are small shell commands; deploy writes
// state (what the health server answers) into file.
func blueprintYAML(build, test, deployState, stateFile, healthURL string) string {
	return fmt.Sprintf(`build: %q
test: %q
deploy:
  run: %q
  timeout: 30s
health:
  url: %s
  timeout: 3s
  interval: 50ms
`, build, test, fmt.Sprintf("echo deploying && printf %%s %s > %s", deployState, stateFile), healthURL)
}

// healthServer answers 200 while file holds "ok", 503 with its content otherwise.
func healthServer(t *testing.T, file string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b, err := os.ReadFile(file)
		if err == nil && strings.TrimSpace(string(b)) == "ok" {
			fmt.Fprintln(w, "ok")
			return
		}
		http.Error(w, "state: "+string(b), http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// deployFixture is one test's deploy activities: its own PostgreSQL schema, workspace
// root and git host, whose acme/* repositories are allowed to deploy, a recording
// publisher and canceller.
type deployFixture struct {
	deploys *activities.Deploys
	store   *store.Store
	pub     *testenv.Events
	cancels *cancelCalls
	env     *testsuite.TestActivityEnvironment
	git     *gitHost
}

func newDeployFixture(t *testing.T) *deployFixture {
	t.Helper()
	return newDeployFixtureAllowing(t, func(h *gitHost) []string { return []string{h.host + "/acme/*"} })
}

// newDeployFixtureAllowing is newDeployFixture with the allow-list allowed(its git host).
func newDeployFixtureAllowing(t *testing.T, allowed func(*gitHost) []string) *deployFixture {
	t.Helper()
	st := testenv.Store(t)
	f := &deployFixture{store: st, pub: &testenv.Events{}, cancels: &cancelCalls{errs: map[string]error{}}, git: newGitHost(t)}
	var err error
	f.deploys, err = activities.NewDeploys(activities.Deploys{
		Store: st, Publisher: f.pub, Temporal: f.cancels, WorkspaceRoot: filepath.Join(t.TempDir(), "ws"), Log: testenv.Logger(t),
		AllowedRepos: allowed(f.git),
	})
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	f.env = s.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.deploys)
	return f
}

// repo creates the repository acme/site on f's git host.
func (f *deployFixture) repo(t *testing.T) *blueprintRepo {
	t.Helper()
	return f.git.newRepo(t, "acme/site")
}

func (f *deployFixture) target(repo *blueprintRepo, sha string) activities.DeployTarget {
	return activities.DeployTarget{
		DeployID: "deploy-" + strings.ReplaceAll(repo.name, "/", "-") + "-" + sha, Repository: repo.name, CloneURL: repo.URL(), Ref: "refs/heads/main", CommitSHA: sha,
	}
}

func (f *deployFixture) prepare(t *testing.T, tg activities.DeployTarget) activities.Blueprint {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.deploys.PrepareDeploy, tg)
	require.NoError(t, err)
	var b activities.Blueprint
	require.NoError(t, v.Get(&b))
	return b
}

func (f *deployFixture) step(t *testing.T, in activities.DeployStepInput) activities.StepResult {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.deploys.RunDeployStep, in)
	require.NoError(t, err)
	var res activities.StepResult
	require.NoError(t, v.Get(&res))
	return res
}

func TestParseBlueprint(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    activities.Blueprint
		wantErr string
	}{
		{
			name: "commands as strings take the defaults",
			yaml: "build: make\ntest: make test\ndeploy: ./deploy.sh\nhealth:\n  url: http://127.0.0.1:8080/healthz\n",
			want: activities.Blueprint{
				Build:  activities.BlueprintStep{Run: "make", Timeout: activities.DefaultStepTimeout},
				Test:   activities.BlueprintStep{Run: "make test", Timeout: activities.DefaultStepTimeout},
				Deploy: activities.BlueprintStep{Run: "./deploy.sh", Timeout: activities.DefaultStepTimeout},
				Health: activities.BlueprintHealth{URL: "http://127.0.0.1:8080/healthz", Timeout: activities.DefaultHealthTimeout, Interval: activities.DefaultHealthInterval},
			},
		},
		{
			name: "steps as mappings with timeouts; build and test may be left out",
			yaml: "deploy:\n  run: kubectl apply -f k8s/\n  timeout: 15m\nhealth:\n  url: https://site.example.com/healthz\n  timeout: 5m\n  interval: 10s\n",
			want: activities.Blueprint{
				Build:  activities.BlueprintStep{Timeout: activities.DefaultStepTimeout},
				Test:   activities.BlueprintStep{Timeout: activities.DefaultStepTimeout},
				Deploy: activities.BlueprintStep{Run: "kubectl apply -f k8s/", Timeout: 15 * time.Minute},
				Health: activities.BlueprintHealth{URL: "https://site.example.com/healthz", Timeout: 5 * time.Minute, Interval: 10 * time.Second},
			},
		},
		{name: "empty", yaml: "", wantErr: "blueprint.yaml is empty"},
		{name: "no deploy command", yaml: "build: make\nhealth:\n  url: http://x/\n", wantErr: "deploy: a command is required"},
		{name: "no health url", yaml: "deploy: ./d.sh\n", wantErr: "health.url: want an absolute http(s) URL"},
		{name: "relative health url", yaml: "deploy: ./d.sh\nhealth:\n  url: /healthz\n", wantErr: "health.url"},
		{name: "unknown field", yaml: "deploy: ./d.sh\nhealthcheck: http://x/\n", wantErr: "field healthcheck not found"},
		{name: "unknown step field", yaml: "deploy:\n  command: ./d.sh\nhealth:\n  url: http://x/\n", wantErr: `unknown step field "command"`},
		{name: "timeout over the maximum", yaml: "deploy:\n  run: ./d.sh\n  timeout: 2h\nhealth:\n  url: http://x/\n", wantErr: "deploy.timeout 2h0m0s: must be positive and at most 1h0m0s"},
		{name: "timeout without a unit", yaml: "deploy:\n  run: ./d.sh\n  timeout: 30\nhealth:\n  url: http://x/\n", wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := activities.ParseBlueprint([]byte(tt.yaml))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// The four steps against a real git repository: checkout and blueprint, build, test and
// deploy in one workspace, health from a server that reads what deploy wrote, cleanup.
func TestDeployStepsAgainstGitRepo(t *testing.T) {
	f := newDeployFixture(t)
	state := filepath.Join(t.TempDir(), "state")
	srv := healthServer(t, state)
	repo := f.repo(t)
	sha := repo.commit(t, "first", map[string]string{
		activities.BlueprintFile: blueprintYAML("echo building && mkdir -p out && echo ok > out/artifact", "test -f out/artifact && echo tested", "ok", state, srv.URL+"/healthz"),
	})
	tg := f.target(repo, sha)

	b := f.prepare(t, tg)
	require.Equal(t, srv.URL+"/healthz", b.Health.URL)
	require.Equal(t, 30*time.Second, b.Deploy.Timeout)
	for _, s := range []struct {
		name string
		step activities.BlueprintStep
		want string
	}{{contract.StepBuild, b.Build, "building"}, {contract.StepTest, b.Test, "tested"}, {contract.StepDeploy, b.Deploy, "deploying"}} {
		res := f.step(t, activities.DeployStepInput{Target: tg, Step: s.name, Run: s.step.Run, Timeout: s.step.Timeout})
		require.True(t, res.OK, "%s: %+v", s.name, res)
		require.Equal(t, []string{s.want}, res.Tail, s.name)
	}
	state1, err := os.ReadFile(state)
	require.NoError(t, err)
	require.Equal(t, "ok", string(state1))

	v, err := f.env.ExecuteActivity(f.deploys.CheckDeployHealth, activities.DeployHealthInput{URL: b.Health.URL, Timeout: b.Health.Timeout, Interval: b.Health.Interval})
	require.NoError(t, err)
	var health activities.HealthResult
	require.NoError(t, v.Get(&health))
	require.True(t, health.Healthy, "%+v", health)
	require.Equal(t, 1, health.Probes)

	ws := filepath.Join(f.deploys.WorkspaceRoot, tg.DeployID)
	require.DirExists(t, filepath.Join(ws, "src", "out"))
	_, err = f.env.ExecuteActivity(f.deploys.CleanupDeployWorkspace, tg)
	require.NoError(t, err)
	require.NoDirExists(t, ws)

	// A step whose workspace is gone checks the commit out again, without the build.
	res := f.step(t, activities.DeployStepInput{Target: tg, Step: contract.StepTest, Run: b.Test.Run, Timeout: b.Test.Timeout})
	require.False(t, res.OK)
	require.Equal(t, "exit status 1", res.Reason)
}

func TestPrepareDeployWithoutBlueprint(t *testing.T) {
	f := newDeployFixture(t)
	repo := f.repo(t)
	sha := repo.commit(t, "no blueprint", map[string]string{"README": "hello\n"})
	_, err := f.env.ExecuteActivity(f.deploys.PrepareDeploy, f.target(repo, sha))
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, contract.ErrorTypeInvalidBlueprint, app.Type())
	require.True(t, app.NonRetryable())
	require.Contains(t, app.Message(), "has no blueprint.yaml")

	_, err = f.env.ExecuteActivity(f.deploys.PrepareDeploy, f.target(repo, "0123456789abcdef0123456789abcdef01234567"))
	require.ErrorContains(t, err, "commit 0123456789abcdef0123456789abcdef01234567 is not on a branch or tag of "+repo.URL())
}

func TestRunDeployStepFailureKeepsTheTail(t *testing.T) {
	f := newDeployFixture(t)
	repo := f.repo(t)
	sha := repo.commit(t, "c", map[string]string{"README": "x\n"})
	res := f.step(t, activities.DeployStepInput{
		Target: f.target(repo, sha), Step: contract.StepTest,
		Run: `i=1; while [ $i -le 100 ]; do echo "line $i"; i=$((i+1)); done; echo "to stderr" >&2; printf "no newline"; exit 3`,
	})
	require.False(t, res.OK)
	require.Equal(t, "exit status 3", res.Reason)
	require.Equal(t, 3, res.ExitCode)
	require.Equal(t, 102, res.Lines)
	require.Len(t, res.Tail, activities.TailLines)
	require.Equal(t, "line 63", res.Tail[0])
	require.Equal(t, []string{"line 100", "to stderr", "no newline"}, res.Tail[len(res.Tail)-3:])
}

// A step that outlives its timeout is killed with every process it started, and its
// result says so.
func TestRunDeployStepTimeoutKillsItsProcessGroup(t *testing.T) {
	f := newDeployFixture(t)
	repo := f.repo(t)
	sha := repo.commit(t, "c", map[string]string{"README": "x\n"})
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	res := f.step(t, activities.DeployStepInput{
		Target: f.target(repo, sha), Step: contract.StepBuild, Timeout: 500 * time.Millisecond,
		Run: fmt.Sprintf("sleep 300 & echo $! > %s; echo started; wait", pidFile),
	})
	require.False(t, res.OK)
	require.Equal(t, "timed out after 500ms", res.Reason)
	require.Equal(t, []string{"started"}, res.Tail)
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	testenv.Eventually(t, 5*time.Second, func() bool { return !processRunning(pid) }, "sleep (pid %d) still runs after its step timed out", pid)
}

// processRunning reports whether pid is a live process (a zombie is not).
func processRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestCheckDeployHealthNotHealthy(t *testing.T) {
	f := newDeployFixture(t)
	state := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.WriteFile(state, []byte("broken"), 0o644))
	srv := healthServer(t, state)
	v, err := f.env.ExecuteActivity(f.deploys.CheckDeployHealth, activities.DeployHealthInput{URL: srv.URL, Timeout: 300 * time.Millisecond, Interval: 50 * time.Millisecond})
	require.NoError(t, err)
	var res activities.HealthResult
	require.NoError(t, v.Get(&res))
	require.False(t, res.Healthy)
	require.Greater(t, res.Probes, 1)
	require.Contains(t, res.Reason, "503 Service Unavailable: state: broken (not healthy after 300ms")
	require.Len(t, res.Tail, res.Probes)
}

func TestRollbackDeployRunsTheGoodCommitsDeploy(t *testing.T) {
	f := newDeployFixture(t)
	state := filepath.Join(t.TempDir(), "state")
	from := filepath.Join(t.TempDir(), "from")
	repo := f.repo(t)
	good := repo.commit(t, "good", map[string]string{
		activities.BlueprintFile: fmt.Sprintf("deploy: echo v1 > %s && echo $BLUEPRINT_ROLLBACK_FROM > %s\nhealth:\n  url: http://good.example/healthz\n", state, from),
	})
	bad := repo.commit(t, "bad", map[string]string{
		activities.BlueprintFile: fmt.Sprintf("deploy: echo v2 > %s\nhealth:\n  url: http://bad.example/healthz\n", state),
	})
	v, err := f.env.ExecuteActivity(f.deploys.RollbackDeploy, activities.RollbackInput{Target: f.target(repo, bad), CommitSHA: good})
	require.NoError(t, err)
	var res activities.RollbackResult
	require.NoError(t, v.Get(&res))
	require.True(t, res.Deploy.OK, "%+v", res.Deploy)
	require.Equal(t, "http://good.example/healthz", res.Health.URL)
	for file, want := range map[string]string{state: "v1", from: bad} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, want, strings.TrimSpace(string(b)))
	}
}

func TestSupersedeOlderDeploys(t *testing.T) {
	f := newDeployFixture(t)
	repo := f.repo(t)
	c1 := repo.commit(t, "one", map[string]string{"f": "1"})
	c2 := repo.commit(t, "two", map[string]string{"f": "2"})
	// A commit beside main's, neither older nor newer than c2.
	repo.git(t, "checkout", "--quiet", "-b", "side", c1)
	side := repo.commit(t, "side", map[string]string{"f": "side"})
	repo.git(t, "checkout", "--quiet", "main")
	c3 := repo.commit(t, "three", map[string]string{"f": "3"})
	c4 := repo.commit(t, "four", map[string]string{"f": "4"})
	t0 := time.Now().UTC().Add(-time.Hour)
	older, newer, late := f.target(repo, c1), f.target(repo, c2), f.target(repo, side)
	older.PushedAt, newer.PushedAt, late.PushedAt = t0, t0.Add(time.Minute), t0.Add(30*time.Second)

	supersede := func(tg activities.DeployTarget) activities.SupersedeResult {
		t.Helper()
		v, err := f.env.ExecuteActivity(f.deploys.SupersedeOlderDeploys, tg)
		require.NoError(t, err)
		var res activities.SupersedeResult
		require.NoError(t, v.Get(&res))
		return res
	}
	require.Equal(t, activities.SupersedeResult{}, supersede(older))
	require.Equal(t, activities.SupersedeResult{Cancelled: []string{older.DeployID}}, supersede(newer))
	require.Equal(t, []string{older.DeployID}, f.cancels.ids)
	v, err := f.env.ExecuteActivity(f.deploys.DeploySupersededBy, older)
	require.NoError(t, err)
	var by string
	require.NoError(t, v.Get(&by))
	require.Equal(t, c2, by)

	// A push beside the running one and older than it, delivered late, is superseded by it.
	require.Equal(t, activities.SupersedeResult{SupersededBy: c2}, supersede(late))

	// A superseded deploy whose workflow is gone is marked failed.
	next := f.target(repo, c3)
	next.PushedAt = t0.Add(2 * time.Minute)
	f.cancels.errs[newer.DeployID] = serviceerror.NewNotFound("workflow execution already completed")
	require.Equal(t, activities.SupersedeResult{Cancelled: []string{newer.DeployID}}, supersede(next))
	d, err := f.store.DeployByID(context.Background(), newer.DeployID)
	require.NoError(t, err)
	require.Equal(t, store.DeployFailed, d.Status)

	// Any other error is returned, for Temporal to retry.
	f.cancels.errs[next.DeployID] = serviceerror.NewUnavailable("try later")
	last := f.target(repo, c4)
	last.PushedAt = t0.Add(3 * time.Minute)
	_, err = f.env.ExecuteActivity(f.deploys.SupersedeOlderDeploys, last)
	require.ErrorContains(t, err, "cancel superseded deploy "+next.DeployID)
}

// TestSupersedeOlderDeploysSkipsStalePushes: a push of the commit already deployed, or
// of an older one, claims nothing and cancels nothing, however new its time.
func TestSupersedeOlderDeploysSkipsStalePushes(t *testing.T) {
	f := newDeployFixture(t)
	repo := f.repo(t)
	a := repo.commit(t, "a", map[string]string{"f": "a"})
	b := repo.commit(t, "b", map[string]string{"f": "b"})
	t0 := time.Now().UTC().Add(-time.Hour)
	push := func(sha, run string, after time.Duration) activities.DeployTarget {
		tg := f.target(repo, sha)
		tg.RunID, tg.PushedAt = run, t0.Add(after)
		return tg
	}
	supersede := func(tg activities.DeployTarget) activities.SupersedeResult {
		t.Helper()
		v, err := f.env.ExecuteActivity(f.deploys.SupersedeOlderDeploys, tg)
		require.NoError(t, err)
		var res activities.SupersedeResult
		require.NoError(t, v.Get(&res))
		return res
	}
	withID := func(tg activities.DeployTarget, id string) activities.DeployTarget {
		tg.DeployID = id
		return tg
	}
	ctx := context.Background()
	pushA, pushB := push(a, "run-a", 0), push(b, "run-b", time.Minute)
	require.Equal(t, activities.SupersedeResult{}, supersede(pushA))
	require.NoError(t, f.store.FinishDeploy(ctx, pushA.DeployID, store.DeployOutcome{Status: store.DeploySucceeded}))
	require.Equal(t, activities.SupersedeResult{}, supersede(pushB)) // a finished: nothing to cancel

	tests := []struct {
		name  string
		push  activities.DeployTarget
		wants string
	}{
		{name: "replay of a, older than b which runs", push: push(a, "run-a-again", time.Hour),
			wants: "commit " + a + " is older than " + b + ", the last deploy of acme/site refs/heads/main (" + pushB.DeployID + ", running)"},
		{name: "replay of b while it runs", push: push(b, "run-b-again", time.Hour),
			wants: "commit " + b + " is already the last deploy of acme/site refs/heads/main (" + pushB.DeployID + ", running)"},
		{name: "a under another workflow id", push: withID(push(a, "run-x", time.Hour), "replayed-a"), wants: "is older than " + b},
		{name: "a short sha of a", push: push(a[:7], "run-y", time.Hour), wants: "commit " + a[:7] + " is older than " + b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := supersede(tt.push)
			require.Contains(t, res.Skipped, tt.wants)
			require.Empty(t, res.Cancelled)
			require.Empty(t, res.SupersededBy)
		})
	}
	require.Empty(t, f.cancels.ids, "a stale push cancelled a deploy")
	rowB, err := f.store.DeployByID(ctx, pushB.DeployID)
	require.NoError(t, err)
	require.Equal(t, store.DeployRunning, rowB.Status)
	require.Empty(t, rowB.SupersededBy)
	rowA, err := f.store.DeployByID(ctx, pushA.DeployID)
	require.NoError(t, err)
	require.Equal(t, "run-a", rowA.RunID, "a skipped push must leave the earlier run's row alone")
	require.Equal(t, store.DeploySucceeded, rowA.Status)

	// b succeeds; its replay is still nothing to do, and a commit on no branch is refused.
	require.NoError(t, f.store.FinishDeploy(ctx, pushB.DeployID, store.DeployOutcome{Status: store.DeploySucceeded}))
	require.Contains(t, supersede(push(b, "run-b-3", 2*time.Hour)).Skipped, "is already the last deploy")
	_, err = f.env.ExecuteActivity(f.deploys.SupersedeOlderDeploys, push("0123456789abcdef0123456789abcdef01234567", "run-z", 2*time.Hour))
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, contract.ErrorTypeCommitNotFound, app.Type())

	// A newer commit deploys, and its claim cancels nothing that runs.
	c := repo.commit(t, "c", map[string]string{"f": "c"})
	require.Equal(t, activities.SupersedeResult{}, supersede(push(c, "run-c", 3*time.Hour)))
}

func TestFinishDeployRecordsTheLastGoodCommit(t *testing.T) {
	f := newDeployFixture(t)
	repo := f.repo(t)
	lastGood := func(tg activities.DeployTarget) string {
		t.Helper()
		v, err := f.env.ExecuteActivity(f.deploys.LastGoodDeploy, tg)
		require.NoError(t, err)
		var sha string
		require.NoError(t, v.Get(&sha))
		return sha
	}
	c1 := repo.commit(t, "one", map[string]string{"f": "1"})
	c2 := repo.commit(t, "two", map[string]string{"f": "2"})
	for _, c := range []struct{ sha, status, wantGood string }{{c1, activities.DeployStatusSucceeded, ""}, {c2, activities.DeployStatusFailed, c1}} {
		tg := f.target(repo, c.sha)
		_, err := f.env.ExecuteActivity(f.deploys.SupersedeOlderDeploys, tg)
		require.NoError(t, err)
		require.Equal(t, c.wantGood, lastGood(tg))
		_, err = f.env.ExecuteActivity(f.deploys.FinishDeploy, activities.FinishDeployInput{Target: tg, Status: c.status})
		require.NoError(t, err)
	}
	require.Equal(t, c1, lastGood(f.target(repo, "3333333")))
}

func TestEmitDeployEvent(t *testing.T) {
	f := newDeployFixture(t)
	cause := activities.Cause{EventID: "evt-push", CorrelationID: "corr-1"}
	in := activities.DeployEventInput{Type: contract.TypeDeployFailed, Cause: cause, Data: contract.DeployEvent{
		Repository: "acme/site", CommitSHA: "abc1234", Ref: "refs/heads/main", Step: contract.StepTest, Reason: "test failed: exit status 1", OutputTail: "FAIL",
	}}
	for range 2 { // a retried activity emits the same id, which the stream drops
		_, err := f.env.ExecuteActivity(f.deploys.EmitDeployEvent, in)
		require.NoError(t, err)
	}
	require.Len(t, f.pub.Stored(), 1)
	ev := f.pub.Stored()[0]
	require.Equal(t, contract.ResultEventID(ev.Subject(), contract.TypeDeployFailed), ev.ID())
	require.Equal(t, "evt-push", ev.Extensions()[events.ExtCausationID])
	require.Equal(t, in.Data, deployData(t, ev))

	_, err := f.env.ExecuteActivity(f.deploys.EmitDeployEvent, activities.DeployEventInput{Type: "deploy.exploded"})
	require.ErrorContains(t, err, "unknown event type deploy.exploded")
}

func TestNewDeploysChecksItsDependencies(t *testing.T) {
	ok := activities.Deploys{Store: &store.Store{}, Publisher: &testenv.Events{}, Temporal: &cancelCalls{}, WorkspaceRoot: t.TempDir()}
	tests := []struct {
		name    string
		edit    func(*activities.Deploys)
		wantErr string
	}{
		{"complete", func(*activities.Deploys) {}, ""},
		{"no store", func(d *activities.Deploys) { d.Store = nil }, "Store is nil"},
		{"no publisher", func(d *activities.Deploys) { d.Publisher = nil }, "Publisher is nil"},
		{"no Temporal client", func(d *activities.Deploys) { d.Temporal = nil }, "Temporal is nil"},
		{"no workspace root", func(d *activities.Deploys) { d.WorkspaceRoot = "" }, "WorkspaceRoot is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ok
			tt.edit(&d)
			got, err := activities.NewDeploys(d)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.True(t, filepath.IsAbs(got.WorkspaceRoot))
		})
	}
}

// The worker registers Activities and Deploys side by side, where an activity's name is
// its method's name: the two must not share one.
func TestDeploysRegisterBesideActivities(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"}) // never dialled
	require.NoError(t, err)
	defer c.Close()
	w := worker.New(c, "registry-only", worker.Options{})
	w.RegisterActivity(&activities.Activities{})
	require.Panics(t, func() { w.RegisterActivity(&activities.Activities{}) }, "a clash must panic")
	require.NotPanics(t, func() { w.RegisterActivity(&activities.Deploys{}) })
}

// A deploy of a repository that is not allowed, or of a clone_url that is not an https
// or ssh URL of the event's repository, is refused by every activity that would run git
// or record the deploy, before it does: git never runs, nothing is recorded or
// cancelled.
func TestDeployRefusesRepositoriesNotAllowed(t *testing.T) {
	f := newDeployFixture(t)
	repo := f.repo(t)
	other := f.git.newRepo(t, "other/site")
	marker := filepath.Join(t.TempDir(), "pwned")
	sha := repo.commit(t, "c", map[string]string{activities.BlueprintFile: "deploy: touch " + marker + "\nhealth:\n  url: http://x/\n"})
	other.commit(t, "c", map[string]string{activities.BlueprintFile: "deploy: touch " + marker + "\nhealth:\n  url: http://x/\n"})
	tests := []struct {
		name     string
		edit     func(*activities.DeployTarget)
		wantText string
	}{
		{"file URL", func(tg *activities.DeployTarget) { tg.CloneURL = "file://" + repo.dir }, "has scheme file"},
		{"local path", func(tg *activities.DeployTarget) { tg.CloneURL = repo.dir }, "is a local path"},
		{"option as the URL", func(tg *activities.DeployTarget) { tg.CloneURL = "--upload-pack=touch " + marker }, "starts with '-'"},
		{"ext transport", func(tg *activities.DeployTarget) { tg.CloneURL = "ext::sh -c touch% " + marker }, "clone_url"},
		{"plain http", func(tg *activities.DeployTarget) { tg.CloneURL = "http://" + f.git.host + "/acme/site.git" }, "has scheme http"},
		{"credentials in the URL", func(tg *activities.DeployTarget) {
			tg.CloneURL = "https://x-access-token:ghp_secret@" + f.git.host + "/acme/site.git"
		}, "carries credentials"},
		{"option as the commit", func(tg *activities.DeployTarget) { tg.CommitSHA = "--upload-pack=touch " + marker }, "is not a hex commit id"},
		{"repository not on the list", func(tg *activities.DeployTarget) { tg.Repository, tg.CloneURL = other.name, other.URL() },
			"repository " + f.git.host + "/other/site is not allowed to deploy: add it to DEPLOY_ALLOWED_REPOS"},
		{"URL of another repository", func(tg *activities.DeployTarget) { tg.CloneURL = other.URL() }, `not the event's repository "acme/site"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := f.target(repo, sha)
			tt.edit(&tg)
			requireNotAllowed := func(err error) {
				t.Helper()
				var app *temporal.ApplicationError
				require.ErrorAs(t, err, &app)
				require.Equal(t, contract.ErrorTypeRepositoryNotAllowed, app.Type())
				require.True(t, app.NonRetryable())
				require.Contains(t, app.Message(), tt.wantText)
				require.NotContains(t, app.Message(), "ghp_secret")
			}
			_, err := f.env.ExecuteActivity(f.deploys.SupersedeOlderDeploys, tg)
			requireNotAllowed(err)
			_, err = f.env.ExecuteActivity(f.deploys.PrepareDeploy, tg)
			requireNotAllowed(err)
			_, err = f.env.ExecuteActivity(f.deploys.RunDeployStep, activities.DeployStepInput{Target: tg, Step: contract.StepDeploy, Run: "touch " + marker})
			requireNotAllowed(err)
			_, err = f.env.ExecuteActivity(f.deploys.RollbackDeploy, activities.RollbackInput{Target: tg, CommitSHA: sha})
			requireNotAllowed(err)

			require.NoFileExists(t, marker)
			require.NoDirExists(t, filepath.Join(f.deploys.WorkspaceRoot, tg.DeployID, "src.clone"), "git ran")
			_, err = f.store.DeployByID(context.Background(), tg.DeployID)
			require.ErrorIs(t, err, store.ErrNotFound)
			require.Empty(t, f.cancels.ids)
		})
	}

	// The same repository through its https URL deploys.
	b := f.prepare(t, f.target(repo, sha))
	require.Equal(t, "touch "+marker, b.Deploy.Run)
}

// With DEPLOY_ALLOWED_REPOS empty, no repository deploys.
func TestDeployWithEmptyAllowListRefusesAll(t *testing.T) {
	f := newDeployFixtureAllowing(t, func(*gitHost) []string { return nil })
	repo := f.repo(t)
	sha := repo.commit(t, "c", map[string]string{"README": "x\n"})
	_, err := f.env.ExecuteActivity(f.deploys.PrepareDeploy, f.target(repo, sha))
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, contract.ErrorTypeRepositoryNotAllowed, app.Type())
	require.Contains(t, app.Message(), "DEPLOY_ALLOWED_REPOS is empty")
}

// A blueprint step sees none of the worker's environment but PATH, HOME, USER, LANG,
// LC_ALL, TZ, TMPDIR and its BLUEPRINT_* variables: no secret, and not what only git
// needs (the SSH agent).
func TestBlueprintStepsSeeNoWorkerSecrets(t *testing.T) {
	secrets := map[string]string{
		"DATABASE_URL":          "postgres://app:pg-secret@db/flowbridge",
		"STRIPE_API_KEY":        "sk_live_secret",
		"SMTP_PASSWORD":         "smtp-secret",
		"TEMPORAL_API_KEY":      "temporal-secret",
		"NATS_URL":              "nats://user:nats-secret@nats:4222",
		"NATS_CREDS":            "/secrets/nats.creds",
		"NATS_TOKEN":            "nats-token-secret",
		"STRIPE_WEBHOOK_SECRET": "whsec_secret",
		"AWS_SECRET_ACCESS_KEY": "aws-secret",
		"SSH_AUTH_SOCK":         "/tmp/ssh-agent.sock",
		"GIT_SSH_COMMAND":       "ssh -i /secrets/deploy_key",
	}
	f := newDeployFixture(t)
	repo := f.repo(t)
	sha := repo.commit(t, "c", map[string]string{"README": "x\n"})
	for k, v := range secrets { // in the worker's environment
		t.Setenv(k, v)
	}
	tg := f.target(repo, sha)
	res := f.step(t, activities.DeployStepInput{Target: tg, Step: contract.StepBuild, Run: "env"})
	require.True(t, res.OK, "%+v", res)

	allowed := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LANG": true, "LC_ALL": true, "TZ": true, "TMPDIR": true,
		"PWD": true, "SHLVL": true, "_": true, "OLDPWD": true} // the last four the shell sets itself
	got := map[string]string{}
	for _, line := range res.Tail {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
		require.True(t, allowed[k] || strings.HasPrefix(k, "BLUEPRINT_"), "a step sees %s", k)
		for name, secret := range secrets {
			require.NotContains(t, line, secret, "a step sees the value of %s", name)
		}
	}
	require.Equal(t, sha, got["BLUEPRINT_COMMIT_SHA"])
	require.Equal(t, "acme/site", got["BLUEPRINT_REPOSITORY"])
}
