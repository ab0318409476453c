package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
)

// DeployConfig holds BlueprintDeploy's timings. Zero fields take the defaults.
type DeployConfig struct {
	// HeartbeatTimeout is how long a checkout, step, health check or rollback may go
	// without heartbeating before Temporal retries it on another worker. A cancelled step
	// notices within about 80% of it. Optional: defaults to 10s.
	HeartbeatTimeout time.Duration
	// WorkerLostAfter is how long a step waits for the worker that checked the deploy out
	// to pick it up: its ScheduleToStart timeout. Past it that worker is taken for lost
	// and the deploy starts over from a fresh checkout on another worker, at most
	// DeployCheckouts times in all. Optional: defaults to 1m.
	WorkerLostAfter time.Duration
}

func (c DeployConfig) withDefaults() DeployConfig {
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 10 * time.Second
	}
	if c.WorkerLostAfter <= 0 {
		c.WorkerLostAfter = time.Minute
	}
	return c
}

// DeployCheckouts is how often one deploy checks its commit out at most: a deploy whose
// worker is lost starts over on another (see DeployConfig.WorkerLostAfter) twice.
const DeployCheckouts = 3

// Deploy carries the configuration of BlueprintDeploy; the worker registers its method.
type Deploy struct {
	Config DeployConfig
}

// DeployResult is what BlueprintDeploy returns, and the details of its DeployFailed
// error.
type DeployResult struct {
	Status       string `json:"status"`         // DeploySucceeded, DeployFailed, DeploySuperseded or DeploySkipped
	Step         string `json:"step,omitempty"` // where it failed: one of activities.Step*
	Reason       string `json:"reason,omitempty"`
	RolledBackTo string `json:"rolled_back_to,omitempty"`
	SupersededBy string `json:"superseded_by,omitempty"`
}

// Deploy outcomes.
const (
	DeploySucceeded = "succeeded"
	DeployFailed    = "failed"
	// DeploySuperseded: a newer push to the same ref was already deploying when this one
	// began, so it did nothing.
	DeploySuperseded = "superseded"
	// DeployCancelled: cancelled while running, by a newer push or by hand. The workflow
	// ends cancelled rather than returning this.
	DeployCancelled = "cancelled"
	// DeploySkipped: the pushed commit is already deployed, or older than the last deploy
	// of its ref (a replayed push), so it did nothing: no deploy event, no deploy row, and
	// no deploy of the ref cancelled. Reason says which.
	DeploySkipped = "skipped"
)

// ChangeCheckPushFirst is the workflow.GetVersion change id that marks the runs of
// BlueprintDeploy which check the push against its lane (SupersedeOlderDeploys) before
// emitting deploy.started; earlier runs emitted it first.
const ChangeCheckPushFirst = "check-push-before-deploy-started"

// ChangePinStepsToWorker is the workflow.GetVersion change id that marks the runs of
// BlueprintDeploy which run a deploy's steps on the worker that checked it out (the task
// queue PrepareDeploy returns) and start over on another when that worker is lost;
// earlier runs let any worker of the shared task queue run each step.
const ChangePinStepsToWorker = "pin-deploy-steps-to-worker"

// BlueprintDeploy deploys the pushed commit of a blueprint repository. A push whose
// commit is already deployed, or older than the last deploy of its ref (a replayed
// webhook or dead letter), ends at once as skipped, emitting nothing. Otherwise it
// supersedes (cancels) the older deploys of the same ref still running, emits
// deploy.started, checks the commit out and reads its blueprint.yaml, runs its build,
// test and deploy commands on the worker that checked it out, then polls its health URL.
// A deploy that is not healthy in time is rolled back: the last good commit of the ref
// is deployed again. It ends with deploy.succeeded
// (recording the commit as the last good one) or deploy.failed saying which step failed,
// why, and the tail of its output.
//
// That worker lost — a step it does not pick up within WorkerLostAfter — the deploy
// starts over from a fresh checkout on another worker, at most DeployCheckouts times in
// all; the health check and the rollback need no checkout and run on any worker.
//
// Cancelled — a newer push superseded it — it kills the running step, emits
// deploy.failed "superseded by <sha>" and ends cancelled. A failed deploy ends the
// workflow with a DeployFailed error.
func (d *Deploy) BlueprintDeploy(ctx workflow.Context, ev contract.Event) (DeployResult, error) {
	status, err := newProgress(ctx)
	if err != nil {
		return DeployResult{}, err
	}
	var in contract.BlueprintPushed
	if err := ev.DecodeData(&in); err != nil || in.Repository == "" || in.CloneURL == "" || in.Ref == "" || in.CommitSHA == "" {
		return DeployResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("event %s: data must carry repository, clone_url, ref and commit_sha", ev.ID), contract.ErrorTypeInvalidInput, err)
	}
	var cfg DeployConfig
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return d.Config.withDefaults() }).Get(&cfg); err != nil {
		return DeployResult{}, err
	}
	cfg = cfg.withDefaults() // a run begun before a field existed recorded it zero
	info := workflow.GetInfo(ctx)
	r := &deployRun{
		cfg:    cfg,
		status: status,
		lost:   map[string]bool{},
		in:     in,
		cause:  activities.Cause{EventID: ev.ID, CorrelationID: ev.CorrelationID},
		target: activities.DeployTarget{
			DeployID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
			Repository: in.Repository, CloneURL: in.CloneURL, Ref: in.Ref, CommitSHA: in.CommitSHA, PushedAt: ev.Time,
		},
	}
	return r.run(ctx)
}

// deployRun is one run of BlueprintDeploy.
type deployRun struct {
	cfg       DeployConfig
	status    *progress
	in        contract.BlueprintPushed
	cause     activities.Cause
	target    activities.DeployTarget
	healthURL string
	// queue is the task queue of the worker that holds the current checkout; "" while
	// there is none, or when any worker will do. queues are all the deploy checked out
	// on, in order, lost those it gave up on, and restarts how often it started over.
	queue    string
	queues   []string
	lost     map[string]bool
	restarts int
}

func (r *deployRun) run(ctx workflow.Context) (DeployResult, error) {
	var a *activities.Deploys
	log := workflow.GetLogger(ctx)
	defer r.cleanup(ctx)

	r.status.set(ctx, contract.StepQueued, activitySupersede, fmt.Sprintf("Checking push %s of %s %s against the other deploys of its ref", r.target.CommitSHA, r.target.Repository, r.target.Ref))
	// Deploys begun before the stale-push check emitted deploy.started first.
	startedFirst := workflow.GetVersion(ctx, ChangeCheckPushFirst, workflow.DefaultVersion, 1) == workflow.DefaultVersion
	if startedFirst {
		if err := r.emitStarted(ctx); err != nil {
			return r.stopped(ctx, contract.StepQueued, err, nil)
		}
	}
	var sup activities.SupersedeResult
	if err := workflow.ExecuteActivity(withSummary(r.lane(ctx), "supersede older deploys"), a.SupersedeOlderDeploys, r.target).Get(ctx, &sup); err != nil {
		return r.stopped(ctx, contract.StepQueued, err, nil)
	}
	if sup.Skipped != "" {
		return r.skipped(ctx, sup.Skipped, startedFirst)
	}
	if !startedFirst {
		if err := r.emitStarted(ctx); err != nil {
			return r.stopped(ctx, contract.StepQueued, err, nil)
		}
	}
	if sup.SupersededBy != "" {
		res := DeployResult{Status: DeploySuperseded, Step: contract.StepQueued, Reason: "superseded by " + sup.SupersededBy, SupersededBy: sup.SupersededBy}
		return r.end(ctx, res, nil)
	}

	// Deploys begun before pinning ran each step on any worker.
	pin := workflow.GetVersion(ctx, ChangePinStepsToWorker, workflow.DefaultVersion, 1) == 1
	var (
		bp   activities.Blueprint
		step string
		res  activities.StepResult
		err  error
	)
	for checkout := 1; ; checkout++ {
		bp, step, res, err = r.build(ctx, pin)
		if !pin || !workerLost(err) {
			break
		}
		r.lost[r.queue] = true
		if checkout == DeployCheckouts {
			break
		}
		r.restarts++
		log.Warn("The worker of the deploy's checkout is lost; starting over on another", "task_queue", r.queue, "step", step, "checkout", checkout)
	}
	if pin && workerLost(err) {
		reason := fmt.Sprintf("%s failed: the worker of the checkout was lost %d times in a row (no step picked up within %s)", step, DeployCheckouts, r.cfg.WorkerLostAfter)
		return r.end(ctx, DeployResult{Status: DeployFailed, Step: step, Reason: reason}, nil)
	}
	if err != nil {
		return r.stopped(ctx, step, err, nil)
	}
	if step != "" {
		return r.end(ctx, DeployResult{Status: DeployFailed, Step: step, Reason: step + " failed: " + res.Reason}, res.Tail)
	}

	r.status.set(ctx, contract.StepHealth, activityCheckHealth, "Waiting for "+bp.Health.URL+" to answer healthy")
	health, err := r.health(ctx, bp.Health)
	if err != nil {
		return r.stopped(ctx, contract.StepHealth, err, nil)
	}
	if !health.Healthy {
		return r.rollback(ctx, health)
	}
	return r.end(ctx, DeployResult{Status: DeploySucceeded}, nil)
}

// build checks the commit out and runs its blueprint's build, test and deploy commands;
// pinned, on the worker that checked it out. It returns the step whose command failed,
// with its result, or the step an error stopped, with the error; no step when all went
// well.
func (r *deployRun) build(ctx workflow.Context, pin bool) (bp activities.Blueprint, step string, res activities.StepResult, err error) {
	var a *activities.Deploys
	var prep activities.PreparedDeploy
	detail := "Checking out " + r.target.CommitSHA + " and reading its blueprint.yaml"
	if r.restarts > 0 {
		detail = fmt.Sprintf("The worker of the checkout is lost (%d of %d); checking out %s again on another", r.restarts, DeployCheckouts, r.target.CommitSHA)
	}
	r.status.set(ctx, contract.StepCheckout, activityPrepareDeploy, detail)
	if err := workflow.ExecuteActivity(withSummary(r.long(ctx, 0), contract.StepCheckout), a.PrepareDeploy, r.target).Get(ctx, &prep); err != nil {
		return bp, contract.StepCheckout, res, err
	}
	bp = prep.Blueprint
	r.healthURL = bp.Health.URL
	if pin {
		// A worker taken for lost that checks the commit out again is back (it was only
		// slow): its workspace is removed at the end after all.
		r.queue = prep.TaskQueue
		delete(r.lost, r.queue)
		if r.queue != "" && !slices.Contains(r.queues, r.queue) {
			r.queues = append(r.queues, r.queue)
		}
	}
	steps := []struct {
		name string
		step activities.BlueprintStep
	}{{contract.StepBuild, bp.Build}, {contract.StepTest, bp.Test}, {contract.StepDeploy, bp.Deploy}}
	for _, s := range steps {
		if s.step.Run == "" {
			workflow.GetLogger(ctx).Info("Blueprint has no command for this step; skipped", "step", s.name)
			continue
		}
		in := activities.DeployStepInput{Target: r.target, Step: s.name, Run: s.step.Run, Timeout: s.step.Timeout}
		r.status.set(ctx, s.name, activityRunDeployStep, fmt.Sprintf("Running %s: `%s`", s.name, s.step.Run))
		if err := workflow.ExecuteActivity(withSummary(r.onCheckoutWorker(r.long(ctx, s.step.Timeout)), s.name), a.RunDeployStep, in).Get(ctx, &res); err != nil {
			return bp, s.name, activities.StepResult{}, err
		}
		if !res.OK {
			return bp, s.name, res, nil
		}
	}
	return bp, "", res, nil
}

// onCheckoutWorker is ctx with its activities sent to the worker that holds the
// checkout, if the deploy is pinned to one: they must start within WorkerLostAfter, or
// fail with a ScheduleToStart timeout (workerLost), which no retry would cure.
func (r *deployRun) onCheckoutWorker(ctx workflow.Context) workflow.Context {
	if r.queue == "" {
		return ctx
	}
	opts := workflow.GetActivityOptions(ctx)
	opts.TaskQueue = r.queue
	opts.ScheduleToStartTimeout = r.cfg.WorkerLostAfter
	return workflow.WithActivityOptions(ctx, opts)
}

// workerLost reports whether err says that an activity's worker never picked it up: the
// worker it was pinned to is gone.
func workerLost(err error) bool {
	var timeout *temporal.TimeoutError
	return errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

func (r *deployRun) emitStarted(ctx workflow.Context) error {
	var a *activities.Deploys
	started := r.event(contract.TypeDeployStarted, contract.DeployEvent{Pusher: r.in.Pusher, Message: r.in.Message})
	return workflow.ExecuteActivity(withSummary(withShortOptions(ctx), contract.TypeDeployStarted), a.EmitDeployEvent, started).Get(ctx, nil)
}

// skipped ends a deploy whose push is stale (see activities.SupersedeResult.Skipped):
// quietly, with no deploy event, unless deploy.started went out already.
func (r *deployRun) skipped(ctx workflow.Context, reason string, started bool) (DeployResult, error) {
	res := DeployResult{Status: DeploySkipped, Step: contract.StepQueued, Reason: reason}
	if started {
		return r.end(ctx, res, nil)
	}
	workflow.GetLogger(ctx).Info("Deploy skipped", "reason", reason)
	r.status.done(ctx, DeploySkipped, reason)
	return res, nil
}

// rollback deploys the last good commit again after health failed the deploy, and
// checks that commit's health.
func (r *deployRun) rollback(ctx workflow.Context, health activities.HealthResult) (DeployResult, error) {
	var a *activities.Deploys
	res := DeployResult{Status: DeployFailed, Step: contract.StepHealth, Reason: "health check failed: " + health.Reason}
	tail := health.Tail
	var good string
	r.status.set(ctx, contract.StepRollback, activityLastGoodDeploy, "Health check failed; looking up the last good commit of "+r.target.Ref)
	if err := workflow.ExecuteActivity(withSummary(withShortOptions(ctx), "last good commit"), a.LastGoodDeploy, r.target).Get(ctx, &good); err != nil {
		return r.stopped(ctx, contract.StepRollback, err, tail)
	}
	switch good {
	case "":
		res.Reason += "; no earlier good deploy to roll back to"
		return r.end(ctx, res, tail)
	case r.target.CommitSHA:
		res.Reason += "; this commit is the last good one, so there is nothing to roll back to"
		return r.end(ctx, res, tail)
	}
	var rb activities.RollbackResult
	in := activities.RollbackInput{Target: r.target, CommitSHA: good}
	r.status.set(ctx, contract.StepRollback, activityRollbackDeploy, "Health check failed; deploying the last good commit "+good+" again")
	if err := workflow.ExecuteActivity(withSummary(r.long(ctx, activities.MaxStepTimeout), "rollback to "+good), a.RollbackDeploy, in).Get(ctx, &rb); err != nil {
		if r.isCancel(ctx, err) {
			return r.stopped(ctx, contract.StepRollback, err, tail)
		}
		res.Reason += fmt.Sprintf("; rollback to %s failed: %s", good, reasonOf(err))
		return r.end(ctx, res, tail)
	}
	if !rb.Deploy.OK {
		res.Reason += fmt.Sprintf("; rollback to %s failed: deploy %s", good, rb.Deploy.Reason)
		return r.end(ctx, res, append(tail, rb.Deploy.Tail...))
	}
	res.RolledBackTo = good
	res.Reason += "; rolled back to " + good
	r.status.set(ctx, contract.StepRollback, activityCheckHealth, "Rolled back to "+good+"; waiting for "+rb.Health.URL+" to answer healthy")
	after, err := r.health(ctx, rb.Health)
	if err != nil {
		return r.stopped(ctx, contract.StepRollback, err, tail)
	}
	if !after.Healthy {
		res.Reason += ", which is not healthy either: " + after.Reason
	}
	return r.end(ctx, res, tail)
}

func (r *deployRun) health(ctx workflow.Context, h activities.BlueprintHealth) (activities.HealthResult, error) {
	var a *activities.Deploys
	var res activities.HealthResult
	in := activities.DeployHealthInput{URL: h.URL, Timeout: h.Timeout, Interval: h.Interval}
	err := workflow.ExecuteActivity(withSummary(r.long(ctx, h.Timeout), contract.StepHealth), a.CheckDeployHealth, in).Get(ctx, &res)
	return res, err
}

// stopped ends the deploy after an activity error: a cancellation, or a failure that
// retries did not fix. A repository that may not deploy fails the checkout, whichever
// activity found it out (SupersedeOlderDeploys does, before anything else runs).
func (r *deployRun) stopped(ctx workflow.Context, step string, err error, tail []string) (DeployResult, error) {
	if r.isCancel(ctx, err) {
		return r.cancelled(ctx, step, err, tail)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == contract.ErrorTypeRepositoryNotAllowed {
		return r.end(ctx, DeployResult{Status: DeployFailed, Step: contract.StepCheckout, Reason: app.Message()}, tail)
	}
	return r.end(ctx, DeployResult{Status: DeployFailed, Step: step, Reason: step + " failed: " + reasonOf(err)}, tail)
}

func (r *deployRun) isCancel(ctx workflow.Context, err error) bool {
	return temporal.IsCanceledError(err) && ctx.Err() != nil
}

// cancelled reports a deploy cancelled in step — by a newer push, or by hand — and ends
// the workflow cancelled. The interrupted activity's CanceledError carries its output so
// far.
func (r *deployRun) cancelled(ctx workflow.Context, step string, err error, tail []string) (DeployResult, error) {
	var a *activities.Deploys
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() {
		// StepResult and HealthResult carry a tail; RollbackResult carries its deploy's.
		var details struct {
			Tail   []string `json:"tail"`
			Deploy struct {
				Tail []string `json:"tail"`
			} `json:"deploy"`
		}
		if canceled.Details(&details) == nil {
			tail = append(append(tail, details.Tail...), details.Deploy.Tail...)
		}
	}
	res := DeployResult{Status: DeployCancelled, Step: step, Reason: "cancelled"}
	var by string
	if err := workflow.ExecuteActivity(withSummary(withShortOptions(dctx), "superseded by"), a.DeploySupersededBy, r.target).Get(dctx, &by); err != nil {
		workflow.GetLogger(ctx).Warn("Could not tell what superseded the deploy", "err", err)
	}
	if by != "" {
		res.Reason, res.SupersededBy = "superseded by "+by, by
	}
	if _, err := r.end(dctx, res, tail); err != nil {
		return res, err
	}
	return res, temporal.NewCanceledError(res.Reason)
}

// end records how the deploy ended and emits deploy.succeeded or deploy.failed, on a
// disconnected context: an outcome once reached is reported even if a cancellation
// arrives meanwhile. A failed deploy is returned as a DeployFailed error.
func (r *deployRun) end(ctx workflow.Context, res DeployResult, tail []string) (DeployResult, error) {
	var a *activities.Deploys
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	sctx := withShortOptions(dctx)
	status := activities.DeployStatusFailed
	switch res.Status {
	case DeploySucceeded:
		status = activities.DeployStatusSucceeded
	case DeploySuperseded, DeployCancelled, DeploySkipped:
		status = activities.DeployStatusCancelled
	}
	finish := activities.FinishDeployInput{Target: r.target, Status: status, Step: res.Step, Reason: res.Reason, RolledBackTo: res.RolledBackTo}
	r.status.set(ctx, contract.StepFinish, activityFinishDeploy, "Recording the deploy as "+res.Status)
	if err := workflow.ExecuteActivity(withSummary(sctx, "record "+res.Status), a.FinishDeploy, finish).Get(sctx, nil); err != nil {
		return res, err
	}
	ev := r.event(contract.TypeDeployFailed, contract.DeployEvent{
		Step: res.Step, Reason: res.Reason, OutputTail: strings.Join(tail[max(0, len(tail)-activities.TailLines):], "\n"),
		RolledBackTo: res.RolledBackTo, SupersededBy: res.SupersededBy,
	})
	if res.Status == DeploySucceeded {
		ev = r.event(contract.TypeDeploySucceeded, contract.DeployEvent{HealthURL: r.healthURL})
	}
	r.status.set(ctx, contract.StepFinish, activityEmitDeployEvent, "Emitting "+ev.Type)
	if err := workflow.ExecuteActivity(withSummary(sctx, ev.Type), a.EmitDeployEvent, ev).Get(sctx, nil); err != nil {
		return res, err
	}
	detail := res.Reason
	if res.Status == DeploySucceeded {
		detail = "Deployed " + r.target.CommitSHA + " of " + r.target.Ref
	}
	r.status.done(ctx, res.Status, detail)
	workflow.GetLogger(ctx).Info("Deploy ended", "status", res.Status, "step", res.Step, "reason", res.Reason)
	if res.Status == DeployFailed {
		return res, temporal.NewNonRetryableApplicationError(res.Reason, contract.ErrorTypeDeployFailed, nil, res)
	}
	return res, nil
}

// cleanup removes the deploy's workspace, however the deploy ended: on every worker it
// checked out on but those it gave up on as lost (a stale workspace left there is the
// Cleanup workflow's), or, never pinned, on any worker.
func (r *deployRun) cleanup(ctx workflow.Context) {
	var a *activities.Deploys
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	opts := workflow.ActivityOptions{StartToCloseTimeout: 5 * time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 5}}
	opts.Summary = "remove workspace"
	if len(r.queues) == 0 {
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, opts), a.CleanupDeployWorkspace, r.target).Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("Deploy workspace not removed", "err", err)
		}
		return
	}
	for _, q := range r.queues {
		if r.lost[q] {
			continue
		}
		opts.TaskQueue, opts.ScheduleToStartTimeout = q, r.cfg.WorkerLostAfter
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, opts), a.CleanupDeployWorkspace, r.target).Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("Deploy workspace not removed", "task_queue", q, "err", err)
		}
	}
}

// event is a deploy result event about this deploy's commit.
func (r *deployRun) event(eventType string, data contract.DeployEvent) activities.DeployEventInput {
	data.Repository, data.CommitSHA, data.Ref = r.target.Repository, r.target.CommitSHA, r.target.Ref
	return activities.DeployEventInput{Type: eventType, Data: data, Cause: r.cause}
}

// lane is for SupersedeOlderDeploys: PostgreSQL and Temporal, and a fetch of the
// repository's commit graph (heartbeating) when the push must be ordered against earlier
// deploys. Retries ride out a few minutes of either being away.
func (r *deployRun) lane(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    r.cfg.HeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         retryEveryMinute(10),
	})
}

// long is for the checkout, the steps, the health check and the rollback, which run
// for up to timeout plus a checkout. A failing command is a result, not an error, so
// retries are for lost workers and unreachable git servers; they heartbeat, and a
// cancellation waits until their processes are gone.
func (r *deployRun) long(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout + 15*time.Minute,
		HeartbeatTimeout:    r.cfg.HeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         retryEveryMinute(3),
	})
}

// reasonOf is the message of the failure behind an activity error.
func reasonOf(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}
