package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workerapp"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// pinE2E is BlueprintDeploy on the Temporal dev server with two workers on one shared
// task queue, as two worker processes would run it: each has a Temporal client, a
// workspace root and a task queue of its own, registered as the worker binary registers
// them (workerapp.Register, workerapp.RegisterPinned). The steps append
// "<step> <repository> <working directory>" to steps, so the test sees where each ran.
type pinE2E struct {
	store   *store.Store
	pub     *testenv.Events
	queue   string
	git     *gitHost
	state   string
	health  string
	steps   string
	t0      time.Time
	workers []*pinWorker
	control client.Client // starts the deploys and reads their histories
}

type pinWorker struct {
	name   string
	tc     client.Client
	root   string
	queue  string
	shared worker.Worker
	pinned worker.Worker
}

// pinDeployConfig: a lost worker is noticed within about 2s (heartbeat) + 1s (retry
// backoff) + 10s (WorkerLostAfter), which a live worker on a loaded machine never takes
// to pick a step up.
var pinDeployConfig = workflows.DeployConfig{HeartbeatTimeout: 2 * time.Second, WorkerLostAfter: 10 * time.Second}

func newPinE2E(t *testing.T) *pinE2E {
	t.Helper()
	e := &pinE2E{
		store: testenv.Store(t), pub: &testenv.Events{}, queue: testenv.ID("pin-"), git: newGitHost(t),
		state: filepath.Join(t.TempDir(), "state"), steps: filepath.Join(t.TempDir(), "steps"), t0: time.Now().UTC(),
		control: testenv.Temporal(t),
	}
	e.health = healthServer(t, e.state).URL + "/healthz"
	for _, name := range []string{"a", "b"} {
		w := &pinWorker{name: name, tc: testenv.Temporal(t), root: filepath.Join(t.TempDir(), "worker-"+name), queue: e.queue + "-worker-" + name}
		d, err := activities.NewDeploys(activities.Deploys{
			Store: e.store, Publisher: e.pub, Temporal: w.tc, WorkspaceRoot: w.root, TaskQueue: w.queue,
			AllowedRepos: []string{e.git.host + "/acme/*"}, Log: testenv.Logger(t),
		})
		require.NoError(t, err)
		w.shared = worker.New(w.tc, e.queue, worker.Options{})
		workerapp.Register(w.shared, &activities.Activities{}, d, workerapp.Workflows{Deploy: pinDeployConfig})
		w.pinned = worker.New(w.tc, w.queue, worker.Options{DisableWorkflowWorker: true})
		workerapp.RegisterPinned(w.pinned, d)
		require.NoError(t, w.pinned.Start())
		require.NoError(t, w.shared.Start())
		t.Cleanup(func() { w.shared.Stop(); w.pinned.Stop() })
		e.workers = append(e.workers, w)
	}
	return e
}

// commit commits to repo a blueprint whose steps record where they ran; build runs
// first, if given, and test fails unless build's output is in its working directory.
func (e *pinE2E) commit(t *testing.T, repo *blueprintRepo, first string) string {
	t.Helper()
	record := func(step string) string {
		return fmt.Sprintf(`echo "%s %s $PWD" >> %s`, step, repo.name, e.steps)
	}
	build := record("build") + " && " + first + " && mkdir -p out && echo ok > out/artifact"
	if first == "" {
		build = record("build") + " && mkdir -p out && echo ok > out/artifact"
	}
	bp := fmt.Sprintf("build: %q\ntest: %q\ndeploy:\n  run: %q\n  timeout: 30s\nhealth:\n  url: %s\n  timeout: 3s\n  interval: 50ms\n",
		build, "test -f out/artifact && "+record("test"), record("deploy")+" && printf ok > "+e.state, e.health)
	return repo.commit(t, "deploy", map[string]string{activities.BlueprintFile: bp})
}

func (e *pinE2E) push(t *testing.T, repo *blueprintRepo, sha string) client.WorkflowRun {
	t.Helper()
	data, err := json.Marshal(contract.BlueprintPushed{Repository: repo.name, CloneURL: repo.URL(), Ref: "refs/heads/main", CommitSHA: sha, Pusher: "ada"})
	require.NoError(t, err)
	ev := contract.Event{ID: testenv.ID("evt-"), Type: "blueprint.pushed", Source: "/test", Time: e.t0, Data: data}
	run, err := e.control.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: "deploy-" + strings.ReplaceAll(repo.name, "/", "-") + "-" + sha, TaskQueue: e.queue,
	}, contract.BlueprintDeployWorkflow, ev)
	require.NoError(t, err)
	return run
}

// ranOn returns, for each repository, where its steps ran, in order: "<step>@<worker>",
// the worker whose workspace root held the working directory.
func (e *pinE2E) ranOn(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(e.steps)
	require.NoError(t, err)
	out := map[string][]string{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		require.Len(t, f, 3, "steps line %q", line)
		where := "elsewhere:" + f[2]
		for _, w := range e.workers {
			if strings.HasPrefix(f[2], w.root+string(filepath.Separator)) {
				where = w.name
			}
		}
		out[f[1]] = append(out[f[1]], f[0]+"@"+where)
	}
	return out
}

func (e *pinE2E) worker(name string) *pinWorker {
	for _, w := range e.workers {
		if w.name == name {
			return w
		}
	}
	return nil
}

func (e *pinE2E) history(t *testing.T, run client.WorkflowRun) *historypb.History {
	t.Helper()
	iter := e.control.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return &h
}

// scheduled lists the activities h scheduled as "<type>@<task queue>", with
// " timed out: <timeout type>" for those that timed out.
func scheduled(h *historypb.History) []string {
	var out []string
	index := map[int64]int{}
	for _, ev := range h.Events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			index[ev.GetEventId()] = len(out)
			out = append(out, a.GetActivityType().GetName()+"@"+a.GetTaskQueue().GetName())
		}
		if a := ev.GetActivityTaskTimedOutEventAttributes(); a != nil {
			i := index[a.GetScheduledEventId()]
			out[i] += " timed out: " + a.GetFailure().GetTimeoutFailureInfo().GetTimeoutType().String()
		}
	}
	return out
}

func replayPinned(t *testing.T, h *historypb.History) {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	d := &workflows.Deploy{Config: pinDeployConfig}
	r.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: contract.BlueprintDeployWorkflow})
	require.NoError(t, r.ReplayWorkflowHistory(nil, h))
}

// TestBlueprintDeployStepsStayOnOneWorker: two workers with workspace roots of their own
// share the task queue; of several deploys running at once, each runs its build, test
// and deploy in the one checkout, on the worker that made it — test finds build's
// output — and that worker's own task queue is where its steps went. Its workspace is
// gone afterwards.
func TestBlueprintDeployStepsStayOnOneWorker(t *testing.T) {
	e := newPinE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const deploys = 6
	runs := map[string]client.WorkflowRun{}
	for i := range deploys {
		repo := e.git.newRepo(t, testenv.ID(fmt.Sprintf("acme/pin-%d-", i)))
		runs[repo.name] = e.push(t, repo, e.commit(t, repo, ""))
	}
	var wg sync.WaitGroup
	results := make(chan error, deploys)
	for _, run := range runs {
		wg.Go(func() { results <- run.Get(ctx, nil) })
	}
	wg.Wait()
	close(results)
	for err := range results {
		require.NoError(t, err)
	}

	ran := e.ranOn(t)
	perWorker := map[string]int{}
	for name, run := range runs {
		got := ran[name]
		require.Len(t, got, 3, "steps of %s: %v", name, got)
		w := e.worker(strings.TrimPrefix(got[0], "build@"))
		require.NotNil(t, w, "%s built outside both workspace roots: %v", name, got)
		require.Equal(t, []string{"build@" + w.name, "test@" + w.name, "deploy@" + w.name}, got, "steps of %s", name)
		perWorker[w.name]++

		h := e.history(t, run)
		var steps []string
		for _, s := range scheduled(h) {
			if strings.HasPrefix(s, "RunDeployStep@") || strings.HasPrefix(s, "CleanupDeployWorkspace@") {
				steps = append(steps, s)
			}
		}
		want := []string{"RunDeployStep@" + w.queue, "RunDeployStep@" + w.queue, "RunDeployStep@" + w.queue, "CleanupDeployWorkspace@" + w.queue}
		require.Equal(t, want, steps, "task queues of %s", name)
		require.NoDirExists(t, filepath.Join(w.root, run.GetID()), "workspace of a finished deploy")
		replayPinned(t, h)
	}
	t.Logf("deploys per worker: %v", perWorker)
}

// TestBlueprintDeployStartsOverWhenItsWorkerDies: the worker that checked a deploy out
// is cut off from Temporal in the deploy's build — its client closed, so it polls,
// heartbeats and answers no more, as a crashed host looks to the server. The retried
// build waits on that worker's queue until WorkerLostAfter, then the deploy checks out
// again on the other worker and completes there: one deploy.started, one
// deploy.succeeded.
func TestBlueprintDeployStartsOverWhenItsWorkerDies(t *testing.T) {
	e := newPinE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gate := filepath.Join(t.TempDir(), "gate")
	repo := e.git.newRepo(t, testenv.ID("acme/pin-kill-"))
	sha := e.commit(t, repo, fmt.Sprintf("while [ ! -e %s ]; do sleep 0.1; done", gate))
	run := e.push(t, repo, sha)

	var first []string
	testenv.Eventually(t, time.Minute, func() bool {
		b, err := os.ReadFile(e.steps)
		if err != nil || len(b) == 0 {
			return false
		}
		first = e.ranOn(t)[repo.name]
		return len(first) == 1
	}, "the build of %s never started", sha)
	dead := e.worker(strings.TrimPrefix(first[0], "build@"))
	require.NotNil(t, dead, "built outside both workspace roots: %v", first)
	alive := e.workers[0]
	if alive == dead {
		alive = e.workers[1]
	}
	dead.tc.Close()
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	require.NoError(t, run.Get(ctx, nil))
	require.Equal(t, []string{"build@" + dead.name, "build@" + alive.name, "test@" + alive.name, "deploy@" + alive.name}, e.ranOn(t)[repo.name])
	h := e.history(t, run)
	var got []string
	for _, s := range scheduled(h) {
		if !strings.HasPrefix(s, "EmitDeployEvent@") {
			got = append(got, s)
		}
	}
	want := []string{
		"SupersedeOlderDeploys@" + e.queue,
		"PrepareDeploy@" + e.queue,
		"RunDeployStep@" + dead.queue + " timed out: ScheduleToStart",
		"PrepareDeploy@" + e.queue,
		"RunDeployStep@" + alive.queue, "RunDeployStep@" + alive.queue, "RunDeployStep@" + alive.queue,
		"CheckDeployHealth@" + e.queue,
		"FinishDeploy@" + e.queue,
		"CleanupDeployWorkspace@" + alive.queue,
	}
	require.Equal(t, want, got)
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeploySucceeded}, deployTypes(e.pub.About(run.GetID())))
	require.NoDirExists(t, filepath.Join(alive.root, run.GetID()), "the live worker's workspace")
	require.DirExists(t, filepath.Join(dead.root, run.GetID(), "src"), "the lost worker's workspace is the Cleanup workflow's to remove")
	replayPinned(t, h)
}
