package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

var dep *activities.Deploys

const (
	deploySHA = "c0ffee1"
	goodSHA   = "900d000"
	newerSHA  = "bbbbbbb"
)

func blueprintPushed(t *testing.T) contract.Event {
	t.Helper()
	data, err := json.Marshal(contract.BlueprintPushed{
		Repository: "acme/site", CloneURL: "https://git.example/acme/site.git", Ref: "refs/heads/main", CommitSHA: deploySHA,
		Pusher: "ada", Message: "Update the landing page",
	})
	require.NoError(t, err)
	return contract.Event{ID: "evt-push", Type: "blueprint.pushed", Source: "/test", Data: data, Time: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
}

var testBlueprint = activities.Blueprint{
	Build:  activities.BlueprintStep{Run: "make", Timeout: time.Minute},
	Test:   activities.BlueprintStep{Run: "make test", Timeout: time.Minute},
	Deploy: activities.BlueprintStep{Run: "./deploy.sh", Timeout: time.Minute},
	Health: activities.BlueprintHealth{URL: "http://site.test/healthz", Timeout: time.Minute, Interval: time.Second},
}

// deployEnv registers BlueprintDeploy and answers its activities as its fields say,
// recording the calls.
type deployEnv struct {
	*testsuite.TestWorkflowEnvironment

	// answers
	supersededBy string                           // SupersedeOlderDeploys: a newer push runs
	skipped      string                           // SupersedeOlderDeploys: the push is stale
	failStep     map[string]activities.StepResult // RunDeployStep: steps that fail
	healthy      []bool                           // CheckDeployHealth, call by call; then healthy
	lastGood     string                           // LastGoodDeploy
	rollbackFail string                           // RollbackDeploy: its deploy's failure reason
	blockStep    string                           // RunDeployStep: cancel the workflow in this step
	prepareErr   error                            // PrepareDeploy
	supersedeErr error                            // SupersedeOlderDeploys
	workerQueues []string                         // PrepareDeploy, call by call: the task queue it returns
	lostQueues   map[string]int                   // RunDeployStep on these: how many calls no worker picks up (ScheduleToStart)
	release      chan struct{}                    // closed when the test ends

	mu        sync.Mutex
	emitted   []activities.DeployEventInput
	steps     []string
	healthURL []string
	rollbacks []string
	finished  []activities.FinishDeployInput
	cleanups  int
	// the task queue of each RunDeployStep ("step@queue") and CleanupDeployWorkspace
	stepQueues    []string
	cleanupQueues []string
}

func newDeployEnv(t *testing.T) *deployEnv {
	var s testsuite.WorkflowTestSuite
	e := &deployEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), failStep: map[string]activities.StepResult{}, release: make(chan struct{})}
	t.Cleanup(func() { close(e.release) })
	d := &workflows.Deploy{Config: workflows.DeployConfig{HeartbeatTimeout: 5 * time.Second}}
	e.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: contract.BlueprintDeployWorkflow})

	e.OnActivity(dep.EmitDeployEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeployEventInput) error {
		e.record(func() { e.emitted = append(e.emitted, in) })
		return nil
	})
	e.OnActivity(dep.SupersedeOlderDeploys, mock.Anything, mock.Anything).Return(func(_ context.Context, tg activities.DeployTarget) (activities.SupersedeResult, error) {
		require.Equal(t, "acme/site", tg.Repository)
		require.Equal(t, "refs/heads/main", tg.Ref)
		require.Equal(t, deploySHA, tg.CommitSHA)
		require.Equal(t, time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), tg.PushedAt.UTC())
		require.NotEmpty(t, tg.DeployID)
		return activities.SupersedeResult{SupersededBy: e.supersededBy, Skipped: e.skipped}, e.supersedeErr
	})
	e.OnActivity(dep.PrepareDeploy, mock.Anything, mock.Anything).Return(func(context.Context, activities.DeployTarget) (activities.PreparedDeploy, error) {
		if e.prepareErr != nil {
			return activities.PreparedDeploy{}, e.prepareErr
		}
		var queue string
		e.record(func() {
			if len(e.workerQueues) > 0 {
				queue, e.workerQueues = e.workerQueues[0], e.workerQueues[1:]
			}
		})
		return activities.PreparedDeploy{Blueprint: testBlueprint, TaskQueue: queue}, nil
	})
	e.OnActivity(dep.RunDeployStep, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.DeployStepInput) (activities.StepResult, error) {
		queue := activity.GetInfo(ctx).TaskQueue
		e.record(func() { e.stepQueues = append(e.stepQueues, in.Step+"@"+queue) })
		lost := false
		e.record(func() {
			if e.lostQueues[queue] > 0 {
				lost = true
				e.lostQueues[queue]--
			}
		})
		if lost {
			return activities.StepResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
		}
		e.record(func() { e.steps = append(e.steps, in.Step) })
		if in.Step == e.blockStep {
			e.CancelWorkflow() // as a newer push would
			select {
			case <-ctx.Done():
			case <-e.release:
			}
			return activities.StepResult{}, temporal.NewCanceledError()
		}
		if res, ok := e.failStep[in.Step]; ok {
			res.Step = in.Step
			return res, nil
		}
		return activities.StepResult{Step: in.Step, OK: true}, nil
	})
	e.OnActivity(dep.CheckDeployHealth, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeployHealthInput) (activities.HealthResult, error) {
		healthy := true
		e.record(func() {
			e.healthURL = append(e.healthURL, in.URL)
			if len(e.healthy) > 0 {
				healthy, e.healthy = e.healthy[0], e.healthy[1:]
			}
		})
		if healthy {
			return activities.HealthResult{Healthy: true, Probes: 1}, nil
		}
		return activities.HealthResult{Reason: "GET " + in.URL + ": 503 Service Unavailable", Probes: 3, Tail: []string{"probe 1: 503", "probe 2: 503", "probe 3: 503"}}, nil
	})
	e.OnActivity(dep.LastGoodDeploy, mock.Anything, mock.Anything).Return(func(context.Context, activities.DeployTarget) (string, error) {
		return e.lastGood, nil
	})
	e.OnActivity(dep.RollbackDeploy, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RollbackInput) (activities.RollbackResult, error) {
		e.record(func() { e.rollbacks = append(e.rollbacks, in.CommitSHA) })
		res := activities.RollbackResult{Deploy: activities.StepResult{Step: contract.StepRollback, OK: true}, Health: activities.BlueprintHealth{URL: "http://site.test/old-healthz"}}
		if e.rollbackFail != "" {
			res.Deploy = activities.StepResult{Step: contract.StepRollback, Reason: e.rollbackFail, Tail: []string{"rollback broke"}}
		}
		return res, nil
	})
	e.OnActivity(dep.DeploySupersededBy, mock.Anything, mock.Anything).Return(newerSHA, nil)
	e.OnActivity(dep.FinishDeploy, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishDeployInput) error {
		e.record(func() { e.finished = append(e.finished, in) })
		return nil
	})
	e.OnActivity(dep.CleanupDeployWorkspace, mock.Anything, mock.Anything).Return(func(ctx context.Context, _ activities.DeployTarget) error {
		e.record(func() {
			e.cleanups++
			e.cleanupQueues = append(e.cleanupQueues, activity.GetInfo(ctx).TaskQueue)
		})
		return nil
	})
	return e
}

func (e *deployEnv) record(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

func (e *deployEnv) emittedTypes() []string {
	out := []string{}
	for _, ev := range e.emitted {
		out = append(out, ev.Type)
	}
	return out
}

// failed returns the data of the deploy.failed event, which must be the last emitted.
func (e *deployEnv) failed(t *testing.T) contract.DeployEvent {
	t.Helper()
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeployFailed}, e.emittedTypes())
	return e.emitted[1].Data
}

// failedResult checks that the workflow ended with a DeployFailed error and returns its
// result.
func (e *deployEnv) failedResult(t *testing.T) workflows.DeployResult {
	t.Helper()
	require.True(t, e.IsWorkflowCompleted())
	var app *temporal.ApplicationError
	require.ErrorAs(t, e.GetWorkflowError(), &app)
	require.Equal(t, contract.ErrorTypeDeployFailed, app.Type())
	var res workflows.DeployResult
	require.NoError(t, app.Details(&res))
	return res
}

func TestBlueprintDeploySucceeds(t *testing.T) {
	e := newDeployEnv(t)
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	var res workflows.DeployResult
	require.NoError(t, e.GetWorkflowResult(&res))
	require.Equal(t, workflows.DeployResult{Status: workflows.DeploySucceeded}, res)

	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeploySucceeded}, e.emittedTypes())
	started, succeeded := e.emitted[0], e.emitted[1]
	require.Equal(t, contract.DeployEvent{Repository: "acme/site", CommitSHA: deploySHA, Ref: "refs/heads/main", Pusher: "ada", Message: "Update the landing page"}, started.Data)
	require.Equal(t, activities.Cause{EventID: "evt-push"}, started.Cause)
	require.Equal(t, contract.DeployEvent{Repository: "acme/site", CommitSHA: deploySHA, Ref: "refs/heads/main", HealthURL: "http://site.test/healthz"}, succeeded.Data)
	require.Equal(t, []string{"build", "test", "deploy"}, e.steps)
	require.Equal(t, []string{"http://site.test/healthz"}, e.healthURL)
	require.Len(t, e.finished, 1)
	require.Equal(t, activities.DeployStatusSucceeded, e.finished[0].Status)
	require.Empty(t, e.rollbacks)
	require.Equal(t, 1, e.cleanups)
}

func TestBlueprintDeployStepFails(t *testing.T) {
	tests := []struct {
		name      string
		step      string
		result    activities.StepResult
		wantSteps []string
	}{
		{"test fails: no deploy", contract.StepTest, activities.StepResult{Reason: "exit status 1", ExitCode: 1, Tail: []string{"--- FAIL: TestHome", "FAIL"}}, []string{"build", "test"}},
		{"build times out", contract.StepBuild, activities.StepResult{Reason: "timed out after 1m0s", ExitCode: -1, Tail: []string{"compiling"}}, []string{"build"}},
		{"deploy fails: no health check", contract.StepDeploy, activities.StepResult{Reason: "exit status 2", ExitCode: 2}, []string{"build", "test", "deploy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDeployEnv(t)
			e.failStep[tt.step] = tt.result
			e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
			wantReason := tt.step + " failed: " + tt.result.Reason
			require.Equal(t, workflows.DeployResult{Status: workflows.DeployFailed, Step: tt.step, Reason: wantReason}, e.failedResult(t))
			require.Equal(t, contract.DeployEvent{
				Repository: "acme/site", CommitSHA: deploySHA, Ref: "refs/heads/main",
				Step: tt.step, Reason: wantReason, OutputTail: strings.Join(tt.result.Tail, "\n"),
			}, e.failed(t))
			require.Equal(t, tt.wantSteps, e.steps)
			require.Empty(t, e.healthURL)
			require.Equal(t, []activities.FinishDeployInput{{Target: e.finished[0].Target, Status: activities.DeployStatusFailed, Step: tt.step, Reason: wantReason}}, e.finished)
			require.Equal(t, 1, e.cleanups)
			st := envStatus(t, e.TestWorkflowEnvironment)
			require.Equal(t, contract.StepDone, st.Step, "got %v", st)
			require.Equal(t, workflows.DeployFailed, st.Outcome)
			require.Equal(t, wantReason, st.Detail)
		})
	}
}

func TestBlueprintDeployUnhealthyRollsBack(t *testing.T) {
	tests := []struct {
		name          string
		lastGood      string
		rollbackFail  string
		healthy       []bool
		wantReason    string
		wantRollbacks []string
		wantRolledTo  string
	}{
		{
			name: "rolled back to the last good commit", lastGood: goodSHA, healthy: []bool{false, true},
			wantReason:    "health check failed: GET http://site.test/healthz: 503 Service Unavailable; rolled back to " + goodSHA,
			wantRollbacks: []string{goodSHA}, wantRolledTo: goodSHA,
		},
		{
			name: "rolled back, but that is not healthy either", lastGood: goodSHA, healthy: []bool{false, false},
			wantReason: "health check failed: GET http://site.test/healthz: 503 Service Unavailable; rolled back to " + goodSHA +
				", which is not healthy either: GET http://site.test/old-healthz: 503 Service Unavailable",
			wantRollbacks: []string{goodSHA}, wantRolledTo: goodSHA,
		},
		{
			name: "the rollback's deploy fails", lastGood: goodSHA, rollbackFail: "exit status 2", healthy: []bool{false},
			wantReason:    "health check failed: GET http://site.test/healthz: 503 Service Unavailable; rollback to " + goodSHA + " failed: deploy exit status 2",
			wantRollbacks: []string{goodSHA},
		},
		{
			name: "nothing to roll back to", healthy: []bool{false},
			wantReason: "health check failed: GET http://site.test/healthz: 503 Service Unavailable; no earlier good deploy to roll back to",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDeployEnv(t)
			e.lastGood, e.rollbackFail, e.healthy = tt.lastGood, tt.rollbackFail, tt.healthy
			e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
			want := workflows.DeployResult{Status: workflows.DeployFailed, Step: contract.StepHealth, Reason: tt.wantReason, RolledBackTo: tt.wantRolledTo}
			require.Equal(t, want, e.failedResult(t))
			failed := e.failed(t)
			require.Equal(t, contract.StepHealth, failed.Step)
			require.Equal(t, tt.wantReason, failed.Reason)
			require.Equal(t, tt.wantRolledTo, failed.RolledBackTo)
			require.True(t, strings.HasPrefix(failed.OutputTail, "probe 1: 503\nprobe 2: 503\nprobe 3: 503"), failed.OutputTail)
			require.Equal(t, tt.wantRollbacks, e.rollbacks)
			require.Len(t, e.finished, 1)
			require.Equal(t, tt.wantRolledTo, e.finished[0].RolledBackTo)
			require.Equal(t, []string{"build", "test", "deploy"}, e.steps)
		})
	}
}

// A newer push cancels the deploy in its build: the step is interrupted, deploy.failed
// says what superseded it, and the workflow ends cancelled.
func TestBlueprintDeployCancelledBySupersedingPush(t *testing.T) {
	e := newDeployEnv(t)
	e.blockStep = contract.StepBuild
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	err := e.GetWorkflowError()
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "got %v, want a CanceledError", err)

	failed := e.failed(t)
	require.Equal(t, contract.StepBuild, failed.Step)
	require.Equal(t, "superseded by "+newerSHA, failed.Reason)
	require.Equal(t, newerSHA, failed.SupersededBy)
	require.Equal(t, []string{"build"}, e.steps)
	require.Len(t, e.finished, 1)
	require.Equal(t, activities.DeployStatusCancelled, e.finished[0].Status)
	require.Equal(t, 1, e.cleanups)
}

// A newer push was already deploying when this one began: it does nothing but say so.
func TestBlueprintDeploySupersededBeforeItBegins(t *testing.T) {
	e := newDeployEnv(t)
	e.supersededBy = newerSHA
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	var res workflows.DeployResult
	require.NoError(t, e.GetWorkflowResult(&res))
	require.Equal(t, workflows.DeployResult{Status: workflows.DeploySuperseded, Step: contract.StepQueued, Reason: "superseded by " + newerSHA, SupersededBy: newerSHA}, res)
	failed := e.failed(t)
	require.Equal(t, contract.StepQueued, failed.Step)
	require.Equal(t, "superseded by "+newerSHA, failed.Reason)
	require.Empty(t, e.steps)
	require.Equal(t, activities.DeployStatusCancelled, e.finished[0].Status)
}

// A push of a commit already deployed, or older than the last deploy of its ref (a
// replayed webhook), ends at once: no deploy event, nothing recorded, no step run.
func TestBlueprintDeploySkipsAStalePush(t *testing.T) {
	e := newDeployEnv(t)
	e.skipped = "commit c0ffee1 is older than bbbbbbb, the last deploy of acme/site refs/heads/main"
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	var res workflows.DeployResult
	require.NoError(t, e.GetWorkflowResult(&res))
	require.Equal(t, workflows.DeployResult{Status: workflows.DeploySkipped, Step: contract.StepQueued, Reason: e.skipped}, res)
	require.Empty(t, e.emitted, "a skipped push emitted deploy events")
	require.Empty(t, e.finished)
	require.Empty(t, e.steps)
	require.Equal(t, 1, e.cleanups)
}

// A run begun before the stale-push check existed emitted deploy.started first; skipped,
// it pairs it with deploy.failed.
func TestBlueprintDeploySkipsAStalePushInAnOlderRun(t *testing.T) {
	e := newDeployEnv(t)
	e.OnGetVersion(workflows.ChangeCheckPushFirst, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	e.skipped = "commit c0ffee1 is already the last deploy of acme/site refs/heads/main"
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	failed := e.failed(t)
	require.Equal(t, contract.StepQueued, failed.Step)
	require.Equal(t, e.skipped, failed.Reason)
	require.Equal(t, activities.DeployStatusCancelled, e.finished[0].Status)
	require.Empty(t, e.steps)
}

func TestBlueprintDeployWithoutValidBlueprint(t *testing.T) {
	e := newDeployEnv(t)
	e.prepareErr = temporal.NewNonRetryableApplicationError("commit c0ffee1 has no blueprint.yaml at its root", contract.ErrorTypeInvalidBlueprint, nil)
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	res := e.failedResult(t)
	require.Equal(t, contract.StepCheckout, res.Step)
	require.Equal(t, "checkout failed: commit c0ffee1 has no blueprint.yaml at its root", res.Reason)
	require.Equal(t, contract.StepCheckout, e.failed(t).Step)
	require.Empty(t, e.steps)
}

// A repository that is not on the worker's allow-list fails the deploy before it starts
// (no deploy.started), and deploy.failed says why in the activity's own words.
func TestBlueprintDeployRepositoryNotAllowed(t *testing.T) {
	e := newDeployEnv(t)
	const why = "repository git.example/acme/site is not allowed to deploy: add it to DEPLOY_ALLOWED_REPOS (git.example/acme/site, or git.example/acme/*)"
	e.supersedeErr = temporal.NewNonRetryableApplicationError(why, contract.ErrorTypeRepositoryNotAllowed, nil)
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	res := e.failedResult(t)
	require.Equal(t, workflows.DeployResult{Status: workflows.DeployFailed, Step: contract.StepCheckout, Reason: why}, res)
	require.Equal(t, []string{contract.TypeDeployFailed}, e.emittedTypes())
	failed := e.emitted[0].Data
	require.Equal(t, contract.StepCheckout, failed.Step)
	require.Equal(t, why, failed.Reason)
	require.Empty(t, e.steps)
	require.Len(t, e.finished, 1)
	require.Equal(t, activities.DeployStatusFailed, e.finished[0].Status)
}

func TestBlueprintDeployRejectsBadInput(t *testing.T) {
	e := newDeployEnv(t)
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, contract.Event{ID: "bad", Data: json.RawMessage(`{"repository":"acme/site"}`)})
	require.True(t, e.IsWorkflowCompleted())
	require.ErrorContains(t, e.GetWorkflowError(), "data must carry repository, clone_url, ref and commit_sha")
	require.Empty(t, e.emitted)
}

// The steps run on the task queue of the worker that checked the commit out, which
// PrepareDeploy returns; the health check runs on the workflow's own; the workspace is
// removed on the checkout's worker.
func TestBlueprintDeployPinsItsStepsToTheCheckoutWorker(t *testing.T) {
	e := newDeployEnv(t)
	e.workerQueues = []string{"flowbridge-worker-a"}
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	require.Equal(t, []string{"build@flowbridge-worker-a", "test@flowbridge-worker-a", "deploy@flowbridge-worker-a"}, e.stepQueues)
	require.Equal(t, []string{"flowbridge-worker-a"}, e.cleanupQueues)
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeploySucceeded}, e.emittedTypes())
}

// A checkout worker that never picks a step up (its ScheduleToStart timeout) is lost:
// the deploy checks the commit out again, on whichever worker PrepareDeploy lands, and
// runs every step there; the lost worker's workspace is left to the Cleanup workflow.
func TestBlueprintDeployStartsOverWhenItsWorkerIsLost(t *testing.T) {
	e := newDeployEnv(t)
	e.workerQueues = []string{"worker-a", "worker-b"}
	e.lostQueues = map[string]int{"worker-a": 100}
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	var res workflows.DeployResult
	require.NoError(t, e.GetWorkflowResult(&res))
	require.Equal(t, workflows.DeploySucceeded, res.Status)
	require.Equal(t, []string{"build@worker-a", "build@worker-b", "test@worker-b", "deploy@worker-b"}, e.stepQueues)
	require.Equal(t, []string{"build", "test", "deploy"}, e.steps)
	require.Equal(t, []string{"worker-b"}, e.cleanupQueues)
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeploySucceeded}, e.emittedTypes(), "one deploy, however often it checked out")
}

// Workers lost DeployCheckouts times in a row fail the deploy, saying so, rather than
// starting over for ever.
func TestBlueprintDeployGivesUpAfterDeployCheckoutsLostWorkers(t *testing.T) {
	e := newDeployEnv(t)
	e.workerQueues = []string{"worker-a", "worker-b", "worker-c", "worker-d"}
	e.lostQueues = map[string]int{"worker-a": 100, "worker-b": 100, "worker-c": 100, "worker-d": 100}
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	res := e.failedResult(t)
	require.Equal(t, workflows.DeployResult{Status: workflows.DeployFailed, Step: contract.StepBuild, Reason: "build failed: the worker of the checkout was lost 3 times in a row (no step picked up within 1m0s)"}, res)
	require.Equal(t, []string{"build@worker-a", "build@worker-b", "build@worker-c"}, e.stepQueues)
	require.Empty(t, e.steps)
	require.Empty(t, e.cleanupQueues, "every worker it checked out on is lost")
	require.Equal(t, contract.StepBuild, e.failed(t).Step)
}

// A worker taken for lost that then checks the commit out again was only slow: the
// deploy runs there, and removes its workspace there at the end.
func TestBlueprintDeployBackOnAWorkerTakenForLost(t *testing.T) {
	e := newDeployEnv(t)
	e.workerQueues = []string{"worker-a", "worker-a"}
	e.lostQueues = map[string]int{"worker-a": 1}
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	require.Equal(t, []string{"build@worker-a", "build@worker-a", "test@worker-a", "deploy@worker-a"}, e.stepQueues)
	require.Equal(t, []string{"worker-a"}, e.cleanupQueues)
}

// A run begun before pinning lets any worker run each step, even when PrepareDeploy
// names its worker's queue, and never starts over.
func TestBlueprintDeployUnpinnedInAnOlderRun(t *testing.T) {
	e := newDeployEnv(t)
	e.OnGetVersion(workflows.ChangePinStepsToWorker, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	e.workerQueues = []string{"worker-a"}
	e.ExecuteWorkflow(contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	q := "default-test-taskqueue"
	require.Equal(t, []string{"build@" + q, "test@" + q, "deploy@" + q}, e.stepQueues)
	require.Equal(t, []string{q}, e.cleanupQueues)
}
