package activities

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
)

// Outcomes FinishDeploy records.
const (
	DeployStatusSucceeded = store.DeploySucceeded
	DeployStatusFailed    = store.DeployFailed
	DeployStatusCancelled = store.DeployCancelled
)

// WorkflowCanceller requests the cancellation of a workflow; client.Client is one.
type WorkflowCanceller interface {
	CancelWorkflow(ctx context.Context, workflowID, runID string) error
}

var _ WorkflowCanceller = client.Client(nil)

// Deploys carries the dependencies of BlueprintDeploy's activities. Workflows call its
// methods through a nil *Deploys; the worker registers the one NewDeploys returns.
//
// Its method names must not clash with those of Activities: both are registered on the
// same worker, where an activity's name is its method's name.
type Deploys struct {
	Store     *store.Store
	Publisher Publisher
	// Temporal cancels the deploys that a newer push supersedes.
	Temporal WorkflowCanceller
	// WorkspaceRoot holds a directory per running deploy, removed when the deploy ends.
	// With TaskQueue set, it is this worker's alone; without, the steps of one deploy may
	// run on any worker, which must then all share it.
	WorkspaceRoot string
	// TaskQueue is the task queue that this worker alone polls, with the activities of
	// PinnedDeployActivities registered on it (WORKER_TASK_QUEUE). PrepareDeploy returns
	// it, so that BlueprintDeploy runs the deploy's steps in the workspace it checked
	// out. Optional: empty means the steps run on any worker of the workflow's task
	// queue, and WorkspaceRoot must be shared storage.
	TaskQueue string
	// AllowedRepos are the repositories that may deploy (DEPLOY_ALLOWED_REPOS), as
	// host/owner/repo or host/owner/*, matched against the clone URL, which must be an
	// https:// or ssh:// (or git@host:owner/repo) URL of the event's repository. Any other
	// deploy fails with a non-retryable contract.ErrorTypeRepositoryNotAllowed error before git
	// runs. Optional: empty means no repository may deploy.
	AllowedRepos []string
	Log          zerolog.Logger

	allow repoAllowList
}

// NewDeploys checks d's dependencies and allow-list, creates its workspace root (made
// absolute) and checks that git and sh are on PATH, so that a misconfigured worker fails
// at start-up.
//
// Blueprint steps run as the worker's user, so NewDeploys also makes the process
// non-dumpable (Linux): a step cannot read the worker's environment, and its secrets,
// from /proc/<pid>/environ, nor attach to it with ptrace.
func NewDeploys(d Deploys) (*Deploys, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("deploys: Store is nil")
	case d.Publisher == nil:
		return nil, errors.New("deploys: Publisher is nil")
	case d.Temporal == nil:
		return nil, errors.New("deploys: Temporal is nil")
	case d.WorkspaceRoot == "":
		return nil, errors.New("deploys: WorkspaceRoot is empty")
	}
	allow, err := newRepoAllowList(d.AllowedRepos)
	if err != nil {
		return nil, fmt.Errorf("deploys: %w", err)
	}
	d.allow = allow
	root, err := filepath.Abs(d.WorkspaceRoot)
	if err != nil {
		return nil, fmt.Errorf("deploys: workspace root %s: %w", d.WorkspaceRoot, err)
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("deploys: create workspace root: %w", err)
	}
	for _, bin := range []string{"git", "sh"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("deploys: %s is needed to run deploys: %w", bin, err)
		}
	}
	if err := protectEnviron(); err != nil {
		return nil, fmt.Errorf("deploys: hide the worker's environment from blueprint steps: %w", err)
	}
	d.WorkspaceRoot = root
	if len(allow) == 0 {
		d.Log.Warn().Msg("DEPLOY_ALLOWED_REPOS is empty: every deploy fails with " + contract.ErrorTypeRepositoryNotAllowed)
	}
	d.Log.Info().Str("workspace_root", root).Strs("allowed_repos", d.AllowedRepos).Msg("Deploy activities ready")
	return &d, nil
}

// DeployTarget is the commit one BlueprintDeploy deploys.
type DeployTarget struct {
	DeployID   string    `json:"deploy_id"` // the workflow id
	RunID      string    `json:"run_id,omitempty"`
	Repository string    `json:"repository"`
	CloneURL   string    `json:"clone_url"`
	Ref        string    `json:"ref"`
	CommitSHA  string    `json:"commit_sha"`
	PushedAt   time.Time `json:"pushed_at,omitzero"` // orders pushes to the same ref
}

// DeployEventInput is a result event for EmitDeployEvent.
type DeployEventInput struct {
	Type  string               `json:"type"` // contract.TypeDeployStarted, contract.TypeDeploySucceeded or contract.TypeDeployFailed
	Data  contract.DeployEvent `json:"data"`
	Cause Cause                `json:"cause"`
}

// EmitDeployEvent publishes a deploy result event on behalf of the calling workflow.
func (d *Deploys) EmitDeployEvent(ctx context.Context, in DeployEventInput) error {
	switch in.Type {
	case contract.TypeDeployStarted, contract.TypeDeploySucceeded, contract.TypeDeployFailed:
	default:
		return temporal.NewNonRetryableApplicationError("EmitDeployEvent: unknown event type "+in.Type, contract.ErrorTypeInvalidEvent, nil)
	}
	return emitResult(ctx, d.Publisher, in.Cause, in.Type, in.Data)
}

// SupersedeResult is what SupersedeOlderDeploys did.
type SupersedeResult struct {
	// Skipped says why this push deploys nothing: its commit is already the last deploy
	// or the deployed commit of its ref, or older than either (a replayed push). The lane
	// was left alone: nothing was claimed or cancelled.
	Skipped string `json:"skipped,omitempty"`
	// SupersededBy is the commit of a newer push to the same ref whose deploy is already
	// running: this deploy must not run.
	SupersededBy string `json:"superseded_by,omitempty"`
	// Cancelled are the workflow ids of the older deploys asked to cancel.
	Cancelled []string `json:"cancelled,omitempty"`
}

// laneAttempts bounds how often SupersedeOlderDeploys checks a push again because
// another deploy took the lane while it looked; beyond that the activity fails and
// Temporal retries it.
const laneAttempts = 5

// SupersedeOlderDeploys checks that t's push is new to its repository and ref, then
// records t as the deploy in flight there and asks Temporal to cancel the older deploys
// of that ref that are still running. A push that is not new (see stalePush) is Skipped
// before anything changes, so a replayed push never cancels the deploy of a newer one. A
// repeated call cancels the same ones again, which is harmless.
//
// A deploy that may not run (contract.ErrorTypeRepositoryNotAllowed) is refused before it is
// recorded, so it cancels nothing.
func (d *Deploys) SupersedeOlderDeploys(ctx context.Context, t DeployTarget) (SupersedeResult, error) {
	if err := d.allow.checkTarget(t, t.CommitSHA); err != nil {
		return SupersedeResult{}, err
	}
	log := activity.GetLogger(ctx)
	row := store.Deploy{
		WorkflowID: t.DeployID, RunID: t.RunID, Repository: t.Repository, Ref: t.Ref, CommitSHA: t.CommitSHA, PushedAt: t.PushedAt,
	}
	var claim store.DeployClaim
	for attempt := 1; ; attempt++ {
		lane, err := d.Store.DeployLane(ctx, t.Repository, t.Ref, t.DeployID, t.RunID)
		if err != nil {
			return SupersedeResult{}, err
		}
		if !lane.Claimed { // a retried claim was checked the first time
			why, err := d.stalePush(ctx, t, lane)
			if err != nil {
				return SupersedeResult{}, err
			}
			if why != "" {
				log.Info("Push deploys nothing", "reason", why)
				return SupersedeResult{Skipped: why}, nil
			}
		}
		claim, err = d.Store.ClaimDeploy(ctx, row, lane)
		if errors.Is(err, store.ErrLaneMoved) && attempt < laneAttempts {
			log.Info("Another deploy took the lane meanwhile; checking the push again", "attempt", attempt)
			continue
		}
		if err != nil {
			return SupersedeResult{}, err
		}
		break
	}
	if claim.Newer != nil {
		log.Info("A newer push is already deploying", "newer_workflow_id", claim.Newer.WorkflowID, "newer_commit_sha", claim.Newer.CommitSHA)
		return SupersedeResult{SupersededBy: claim.Newer.CommitSHA}, nil
	}
	var res SupersedeResult
	for _, old := range claim.Superseded {
		err := d.Temporal.CancelWorkflow(ctx, old.WorkflowID, "")
		var (
			notFound *serviceerror.NotFound
			already  *serviceerror.CancellationAlreadyRequested
		)
		switch {
		case err == nil, errors.As(err, &already):
		case errors.As(err, &notFound):
			// It closed without finishing its row (or just finished it): nothing runs
			// that could.
			outcome := store.DeployOutcome{Status: store.DeployFailed, Reason: "workflow closed without an outcome; superseded by " + t.CommitSHA}
			if err := d.Store.FinishDeploy(ctx, old.WorkflowID, outcome); err != nil {
				return SupersedeResult{}, err
			}
		default:
			return SupersedeResult{}, fmt.Errorf("cancel superseded deploy %s: %w", old.WorkflowID, err)
		}
		log.Info("Cancelled a superseded deploy", "superseded_workflow_id", old.WorkflowID, "superseded_commit_sha", old.CommitSHA)
		res.Cancelled = append(res.Cancelled, old.WorkflowID)
	}
	return res, nil
}

// DeploySupersededBy returns the commit of the push that superseded t, or "".
func (d *Deploys) DeploySupersededBy(ctx context.Context, t DeployTarget) (string, error) {
	by, err := d.Store.DeploySupersededBy(ctx, t.DeployID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return by.CommitSHA, nil
}

// PreparedDeploy is what PrepareDeploy returns: the commit's blueprint, and where its
// checkout is.
type PreparedDeploy struct {
	Blueprint
	// TaskQueue is the task queue of the worker that holds the checkout (Deploys.TaskQueue),
	// on which the deploy's steps must run; "" when any worker will do.
	TaskQueue string `json:"task_queue,omitempty"`
}

// PrepareDeploy checks out t's commit into the deploy's workspace and returns its
// blueprint and this worker's own task queue. A commit without a valid blueprint.yaml is
// a non-retryable contract.ErrorTypeInvalidBlueprint error.
//
// On a worker with a task queue of its own, a failed checkout leaves no workspace: its
// retry may run on another worker, and nothing else would remove it from this one.
func (d *Deploys) PrepareDeploy(ctx context.Context, t DeployTarget) (PreparedDeploy, error) {
	ws, err := d.workspace(t.DeployID)
	if err != nil {
		return PreparedDeploy{}, err
	}
	dir := filepath.Join(ws, "src")
	bp, err := d.prepare(ctx, t, dir)
	if err != nil && d.TaskQueue != "" {
		_ = removeAll(ws)
	}
	return PreparedDeploy{Blueprint: bp, TaskQueue: d.TaskQueue}, err
}

func (d *Deploys) prepare(ctx context.Context, t DeployTarget, dir string) (Blueprint, error) {
	if err := d.checkout(ctx, t, t.CommitSHA, dir, false, activityHooks(ctx)); err != nil {
		return Blueprint{}, cancelled(ctx, StepResult{Step: contract.StepCheckout}, err)
	}
	return readBlueprint(dir, t.CommitSHA)
}

// DeployStepInput asks RunDeployStep to run one command of the blueprint.
type DeployStepInput struct {
	Target  DeployTarget  `json:"target"`
	Step    string        `json:"step"` // contract.StepBuild, contract.StepTest or contract.StepDeploy
	Run     string        `json:"run"`
	Timeout time.Duration `json:"timeout"` // Optional: defaults to DefaultStepTimeout.
}

// RunDeployStep runs one step in the deploy's workspace (checking the commit out again
// if the workspace is gone), streaming its output to the log and heartbeating its
// progress. A step that fails or times out is a StepResult that is not OK. When the
// activity is cancelled, the step's processes are killed and the error is a
// CanceledError whose details are the StepResult so far.
func (d *Deploys) RunDeployStep(ctx context.Context, in DeployStepInput) (StepResult, error) {
	dir, err := d.srcDir(in.Target)
	if err != nil {
		return StepResult{}, err
	}
	hooks := activityHooks(ctx)
	if err := d.checkout(ctx, in.Target, in.Target.CommitSHA, dir, false, hooks); err != nil {
		return StepResult{}, cancelled(ctx, StepResult{Step: in.Step}, err)
	}
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = DefaultStepTimeout
	}
	res, err := runCommand(ctx, command{
		step: in.Step, dir: dir, argv: []string{"sh", "-c", in.Run},
		env: commandEnv(in.Target, in.Target.CommitSHA, in.Step, dir), timeout: timeout,
	}, hooks)
	if err != nil {
		return res, cancelled(ctx, res, err)
	}
	activity.GetLogger(ctx).Info("Step finished", "step", in.Step, "ok", res.OK, "reason", res.Reason, "duration", res.Duration)
	return res, nil
}

// LastGoodDeploy returns the commit of t's repository and ref that deployed
// successfully last, or "".
func (d *Deploys) LastGoodDeploy(ctx context.Context, t DeployTarget) (string, error) {
	good, err := d.Store.LastGoodDeploy(ctx, t.Repository, t.Ref)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return good.CommitSHA, nil
}

// RollbackInput asks RollbackDeploy to deploy an earlier commit again.
type RollbackInput struct {
	Target    DeployTarget `json:"target"`     // the deploy whose health check failed
	CommitSHA string       `json:"commit_sha"` // the last good commit
}

// RollbackResult is how the redeploy went, and how to check its health.
type RollbackResult struct {
	Deploy StepResult      `json:"deploy"`
	Health BlueprintHealth `json:"health"`
}

// RollbackDeploy runs the deploy command of in.CommitSHA's own blueprint from a fresh
// checkout of that commit, with BLUEPRINT_ROLLBACK_FROM set to the failed commit. It
// needs nothing of the deploy's own checkout, so any worker may run it.
func (d *Deploys) RollbackDeploy(ctx context.Context, in RollbackInput) (RollbackResult, error) {
	ws, err := d.workspace(in.Target.DeployID)
	if err != nil {
		return RollbackResult{}, err
	}
	dir := filepath.Join(ws, "rollback", "src")
	defer func() {
		// CleanupDeployWorkspace removes it too, but it may run on another worker.
		_ = removeAll(filepath.Dir(dir))
		_ = os.Remove(ws) // only if empty: the deploy's own checkout may be here
	}()
	hooks := activityHooks(ctx)
	if err := d.checkout(ctx, in.Target, in.CommitSHA, dir, true, hooks); err != nil {
		return RollbackResult{}, cancelled(ctx, RollbackResult{Deploy: StepResult{Step: contract.StepRollback}}, err)
	}
	b, err := readBlueprint(dir, in.CommitSHA)
	if err != nil {
		return RollbackResult{}, err
	}
	res, err := runCommand(ctx, command{
		step: contract.StepRollback, dir: dir, argv: []string{"sh", "-c", b.Deploy.Run},
		env:     commandEnv(in.Target, in.CommitSHA, contract.StepDeploy, dir, "BLUEPRINT_ROLLBACK_FROM="+in.Target.CommitSHA),
		timeout: b.Deploy.Timeout,
	}, hooks)
	out := RollbackResult{Deploy: res, Health: b.Health}
	if err != nil {
		return out, cancelled(ctx, out, err)
	}
	activity.GetLogger(ctx).Info("Rollback deploy finished", "commit_sha", in.CommitSHA, "ok", res.OK, "reason", res.Reason)
	return out, nil
}

// FinishDeployInput records how a deploy ended.
type FinishDeployInput struct {
	Target       DeployTarget `json:"target"`
	Status       string       `json:"status"` // DeployStatusSucceeded, DeployStatusFailed or DeployStatusCancelled
	Step         string       `json:"step,omitempty"`
	Reason       string       `json:"reason,omitempty"`
	RolledBackTo string       `json:"rolled_back_to,omitempty"`
}

// FinishDeploy records the deploy's outcome, which frees its lane; a succeeded deploy
// becomes the last good commit of its repository and ref.
func (d *Deploys) FinishDeploy(ctx context.Context, in FinishDeployInput) error {
	return d.Store.FinishDeploy(ctx, in.Target.DeployID, store.DeployOutcome{
		Status: in.Status, Step: in.Step, Reason: in.Reason, RolledBackTo: in.RolledBackTo,
	})
}

// CleanupDeployWorkspace removes the deploy's workspace.
func (d *Deploys) CleanupDeployWorkspace(ctx context.Context, t DeployTarget) error {
	ws, err := d.workspace(t.DeployID)
	if err != nil {
		return err
	}
	if err := removeAll(ws); err != nil {
		return fmt.Errorf("remove workspace of %s: %w", t.DeployID, err)
	}
	return nil
}

func (d *Deploys) srcDir(t DeployTarget) (string, error) {
	ws, err := d.workspace(t.DeployID)
	if err != nil {
		return "", err
	}
	return filepath.Join(ws, "src"), nil
}

func readBlueprint(dir, sha string) (Blueprint, error) {
	data, err := os.ReadFile(filepath.Join(dir, BlueprintFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Blueprint{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("commit %s has no %s at its root (see docs/blueprint.md)", sha, BlueprintFile), contract.ErrorTypeInvalidBlueprint, err)
	}
	if err != nil {
		return Blueprint{}, fmt.Errorf("read %s of %s: %w", BlueprintFile, sha, err)
	}
	b, err := ParseBlueprint(data)
	if err != nil {
		return Blueprint{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("commit %s: %v", sha, err), contract.ErrorTypeInvalidBlueprint, err)
	}
	return b, nil
}

// activityHooks log each output line through the activity logger and heartbeat the
// progress.
func activityHooks(ctx context.Context) runHooks {
	log := activity.GetLogger(ctx)
	return runHooks{
		line: func(step, line string) { log.Info("Step output", "step", step, "line", line) },
		beat: func(p DeployProgress) { activity.RecordHeartbeat(ctx, p) },
	}
}

// cancelled turns err into a CanceledError carrying details when the activity was
// cancelled, so the workflow gets the output of the interrupted step.
func cancelled(ctx context.Context, details any, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return temporal.NewCanceledError(details)
	}
	return err
}

// removeAll is os.RemoveAll that also removes read-only directories a step made.
func removeAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	_ = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}
