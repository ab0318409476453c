package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// deployE2E is BlueprintDeploy on the Temporal dev server, with a worker of its own on
// a unique task queue, real PostgreSQL and git, and a recording publisher.
type deployE2E struct {
	tc      client.Client
	store   *store.Store
	pub     *testenv.Events
	deploys *activities.Deploys
	queue   string
	repo    *blueprintRepo
	name    string // the repository's owner/name
	state   string // what the deploys write and the health server reads
	health  string // the health URL
	t0      time.Time
}

func newDeployE2E(t *testing.T) *deployE2E {
	t.Helper()
	tc := testenv.Temporal(t)
	st := testenv.Store(t)
	e := &deployE2E{
		tc: tc, store: st, pub: &testenv.Events{}, queue: testenv.ID("test-"),
		name: testenv.ID("acme/site-"), state: filepath.Join(t.TempDir(), "state"), t0: time.Now().UTC(),
	}
	git := newGitHost(t)
	e.repo = git.newRepo(t, e.name)
	e.health = healthServer(t, e.state).URL + "/healthz"
	var err error
	e.deploys, err = activities.NewDeploys(activities.Deploys{
		Store: st, Publisher: e.pub, Temporal: tc, WorkspaceRoot: filepath.Join(t.TempDir(), "ws"), Log: testenv.Logger(t),
		AllowedRepos: []string{git.host + "/" + e.name},
	})
	require.NoError(t, err)
	w := worker.New(tc, e.queue, worker.Options{})
	e.register(w)
	w.RegisterActivity(e.deploys)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return e
}

func (e *deployE2E) register(r worker.WorkflowRegistry) {
	// A short heartbeat timeout makes a cancelled step notice within about 1.6s.
	d := &workflows.Deploy{Config: workflows.DeployConfig{HeartbeatTimeout: 2 * time.Second}}
	r.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: contract.BlueprintDeployWorkflow})
}

// commit commits a blueprint whose deploy leaves deployState for the health server.
func (e *deployE2E) commit(t *testing.T, msg, build, deployState string) string {
	t.Helper()
	return e.repo.commit(t, msg, map[string]string{
		activities.BlueprintFile: blueprintYAML(build, "test -f out/artifact", deployState, e.state, e.health),
	})
}

// push starts BlueprintDeploy as the bridge would for a blueprint.pushed event.
func (e *deployE2E) push(t *testing.T, sha string, after time.Duration) client.WorkflowRun {
	t.Helper()
	return e.pushFrom(t, e.repo.URL(), sha, after)
}

// pushFrom is push with the event's clone_url set to cloneURL.
func (e *deployE2E) pushFrom(t *testing.T, cloneURL, sha string, after time.Duration) client.WorkflowRun {
	t.Helper()
	data, err := json.Marshal(contract.BlueprintPushed{Repository: e.name, CloneURL: cloneURL, Ref: "refs/heads/main", CommitSHA: sha, Pusher: "ada"})
	require.NoError(t, err)
	ev := contract.Event{ID: testenv.ID("evt-"), Type: "blueprint.pushed", Source: "/test", Time: e.t0.Add(after), Data: data}
	run, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:                    "deploy-" + strings.ReplaceAll(e.name, "/", "-") + "-" + sha,
		TaskQueue:             e.queue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, contract.BlueprintDeployWorkflow, ev)
	require.NoError(t, err)
	return run
}

// emitted returns the types of the events run emitted, and the data of the last one.
func (e *deployE2E) emitted(t *testing.T, run client.WorkflowRun) ([]string, contract.DeployEvent) {
	t.Helper()
	evs := e.pub.About(run.GetID())
	require.NotEmpty(t, evs, "events of %s", run.GetID())
	return deployTypes(evs), deployData(t, evs[len(evs)-1])
}

func (e *deployE2E) lastGood(t *testing.T) string {
	t.Helper()
	good, err := e.store.LastGoodDeploy(context.Background(), e.name, "refs/heads/main")
	require.NoError(t, err)
	return good.CommitSHA
}

func (e *deployE2E) requireStateFile(t *testing.T, want string) {
	t.Helper()
	b, err := os.ReadFile(e.state)
	require.NoError(t, err)
	require.Equal(t, want, string(b))
}

// replay replays the histories of runs against the workflow code, which must be
// deterministic.
func (e *deployE2E) replay(t *testing.T, runs ...client.WorkflowRun) {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	e.register(r)
	for _, run := range runs {
		iter := e.tc.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var h historypb.History
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			h.Events = append(h.Events, ev)
		}
		require.NoError(t, r.ReplayWorkflowHistory(nil, &h), "replay %s", run.GetID())
	}
}

// TestBlueprintDeployOnTemporal pushes commits of a local repository through
// BlueprintDeploy on the Temporal dev server: a good deploy, an unhealthy one that is
// rolled back, and a slow one superseded by a newer push.
func TestBlueprintDeployOnTemporal(t *testing.T) {
	e := newDeployE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const build = "echo building && mkdir -p out && echo ok > out/artifact"

	// 1. Build, test, deploy, healthy: succeeded, and the last good commit.
	sha1 := e.commit(t, "first", build, "ok")
	run1 := e.push(t, sha1, 0)
	var res workflows.DeployResult
	require.NoError(t, run1.Get(ctx, &res))
	require.Equal(t, workflows.DeploySucceeded, res.Status)
	types, data := e.emitted(t, run1)
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeploySucceeded}, types)
	require.Equal(t, contract.DeployEvent{Repository: e.name, CommitSHA: sha1, Ref: "refs/heads/main", HealthURL: e.health}, data)
	require.Equal(t, sha1, e.lastGood(t))
	require.NoDirExists(t, filepath.Join(e.deploys.WorkspaceRoot, run1.GetID()), "workspace of a finished deploy")

	// 2. Deployed but unhealthy: the first commit is deployed again.
	sha2 := e.commit(t, "second", build, "broken")
	run2 := e.push(t, sha2, time.Minute)
	err := run2.Get(ctx, &res)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, contract.ErrorTypeDeployFailed, app.Type())
	types, data = e.emitted(t, run2)
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeployFailed}, types)
	require.Equal(t, contract.StepHealth, data.Step)
	require.Equal(t, sha1, data.RolledBackTo)
	require.True(t, strings.HasPrefix(data.Reason, "health check failed: GET "+e.health+": 503 Service Unavailable: state: broken"), data.Reason)
	require.True(t, strings.HasSuffix(data.Reason, "; rolled back to "+sha1), data.Reason)
	require.Contains(t, data.OutputTail, "503 Service Unavailable")
	e.requireStateFile(t, "ok") // the first commit's deploy ran again
	require.Equal(t, sha1, e.lastGood(t))

	// 3. A newer push to the same ref supersedes a deploy still building.
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	sha3 := e.commit(t, "slow", fmt.Sprintf("echo building slowly; sleep 120 & echo $! > %s; wait", pidFile), "ok")
	run3 := e.push(t, sha3, 2*time.Minute)
	testenv.Eventually(t, time.Minute, func() bool {
		desc, err := e.tc.DescribeWorkflowExecution(ctx, run3.GetID(), "")
		if err != nil || len(desc.PendingActivities) == 0 || desc.PendingActivities[0].HeartbeatDetails == nil {
			return false
		}
		var p activities.DeployProgress
		err = converter.GetDefaultDataConverter().FromPayloads(desc.PendingActivities[0].HeartbeatDetails, &p)
		return err == nil && p.Step == contract.StepBuild && p.LastLine == "building slowly"
	}, "the slow build of %s never heartbeat its progress", sha3)
	sha4 := e.commit(t, "fix", build, "ok")
	run4 := e.push(t, sha4, 3*time.Minute)

	err = run3.Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "superseded deploy: got %v, want it cancelled", err)
	types, data = e.emitted(t, run3)
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeployFailed}, types)
	require.Equal(t, contract.StepBuild, data.Step)
	require.Equal(t, "superseded by "+sha4, data.Reason)
	require.Equal(t, sha4, data.SupersededBy)
	require.Contains(t, data.OutputTail, "building slowly")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	testenv.Eventually(t, 10*time.Second, func() bool { return !processRunning(pid) }, "the superseded build's sleep (pid %d) still runs", pid)
	d3, err := e.store.DeployByID(ctx, run3.GetID())
	require.NoError(t, err)
	require.Equal(t, store.DeployCancelled, d3.Status)

	require.NoError(t, run4.Get(ctx, &res))
	require.Equal(t, workflows.DeploySucceeded, res.Status)
	require.Equal(t, sha4, e.lastGood(t))

	e.replay(t, run1, run2, run3, run4)
}

// A push whose clone_url is not an allowed repository's https URL — a forged event
// naming a local path, say — runs no git and no step: the deploy fails before it starts
// (no deploy.started) and deploy.failed says why.
func TestBlueprintDeployOnTemporalRefusesRepositoryNotAllowed(t *testing.T) {
	e := newDeployE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sha := e.commit(t, "first", "echo building", "ok")

	run := e.pushFrom(t, "file://"+e.repo.dir, sha, 0)
	err := run.Get(ctx, nil)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, contract.ErrorTypeDeployFailed, app.Type())
	types, data := e.emitted(t, run)
	require.Equal(t, []string{contract.TypeDeployFailed}, types)
	require.Equal(t, contract.StepCheckout, data.Step)
	require.Contains(t, data.Reason, "has scheme file")
	_, err = e.store.DeployByID(ctx, run.GetID())
	require.ErrorIs(t, err, store.ErrNotFound, "a refused deploy is never recorded, so it supersedes nothing")
	require.NoFileExists(t, e.state, "no step ran")
	e.replay(t, run)
}
