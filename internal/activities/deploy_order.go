package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
)

// stalePush says why the push t deploys nothing, or "" when it may deploy: a push whose
// commit is already the lane's last deploy or its last good one, or an ancestor of
// either, is a replay (a webhook delivered again, a dead letter replayed) or out of date,
// and must neither redeploy old code nor cancel the newer deploy. Ancestry is read from
// the repository's commit graph, fetched without trees or blobs where the server allows.
func (d *Deploys) stalePush(ctx context.Context, t DeployTarget, lane store.DeployLane) (string, error) {
	var (
		g      *gitHistory // cloned when first needed
		pushed string      // t.CommitSHA's full id
	)
	defer func() {
		if g != nil {
			_ = removeAll(g.dir) // CleanupDeployWorkspace removes it too
		}
	}()
	for _, k := range []struct {
		d    *store.Deploy
		what string
	}{{lane.Head, "the last deploy"}, {lane.Good, "the deployed commit (last good deploy)"}} {
		if k.d == nil {
			continue
		}
		if k.d.CommitSHA == t.CommitSHA {
			return alreadyDeployed(t, k.d, k.what), nil
		}
		if g == nil {
			var err error
			if g, err = d.history(ctx, t); err != nil {
				return "", err
			}
			if pushed, err = g.resolve(ctx, t.CommitSHA); err != nil {
				return "", err
			}
			if pushed == "" {
				return "", temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("commit %s is not on a branch or tag of %s", t.CommitSHA, t.CloneURL), contract.ErrorTypeCommitNotFound, nil)
			}
		}
		oid, err := g.resolve(ctx, k.d.CommitSHA)
		switch {
		case err != nil:
			return "", err
		case oid == "":
			// Force-pushed away and gone: nothing left to be older than.
			activity.GetLogger(ctx).Warn("Cannot order the push against an earlier deploy: its commit is no longer in the repository",
				"deploy_commit_sha", k.d.CommitSHA, "deploy_workflow_id", k.d.WorkflowID)
			continue
		case oid == pushed:
			return alreadyDeployed(t, k.d, k.what), nil
		}
		older, err := g.isAncestor(ctx, pushed, oid)
		if err != nil {
			return "", err
		}
		if older {
			return fmt.Sprintf("commit %s is older than %s, %s of %s %s (%s, %s): a replayed or out-of-date push deploys nothing; to go back, push a revert",
				t.CommitSHA, k.d.CommitSHA, k.what, t.Repository, t.Ref, k.d.WorkflowID, k.d.Status), nil
		}
	}
	return "", nil
}

func alreadyDeployed(t DeployTarget, d *store.Deploy, what string) string {
	return fmt.Sprintf("commit %s is already %s of %s %s (%s, %s): a replayed push deploys nothing; push a new commit to deploy again",
		t.CommitSHA, what, t.Repository, t.Ref, d.WorkflowID, d.Status)
}

// gitHistory is a bare, treeless clone of a deploy's repository in its workspace.
type gitHistory struct {
	d     *Deploys
	t     DeployTarget
	dir   string
	hooks runHooks
}

// history clones t's repository's commits, without trees or blobs where the server
// allows (elsewhere git says it ignores the filter and clones everything).
func (d *Deploys) history(ctx context.Context, t DeployTarget) (*gitHistory, error) {
	ws, err := d.workspace(t.DeployID)
	if err != nil {
		return nil, err
	}
	g := &gitHistory{d: d, t: t, dir: filepath.Join(ws, "history.git"), hooks: activityHooks(ctx)}
	if err := os.RemoveAll(g.dir); err != nil {
		return nil, fmt.Errorf("history of %s: %w", t.CloneURL, err)
	}
	if err := os.MkdirAll(ws, 0o750); err != nil {
		return nil, fmt.Errorf("history of %s: %w", t.CloneURL, err)
	}
	if _, err := g.git(ctx, ws, "clone", "--quiet", "--bare", "--filter=tree:0", "--", t.CloneURL, g.dir); err != nil {
		return nil, fmt.Errorf("fetch the history of %s: %w", t.CloneURL, err)
	}
	return g, nil
}

// resolve returns the full id of commit sha, fetching it when no branch or tag has it
// (a commit the branch no longer holds), or "" when the repository does not have it.
func (g *gitHistory) resolve(ctx context.Context, sha string) (string, error) {
	rev := func() (string, error) {
		res, err := runCommand(ctx, g.command("rev-parse", "--quiet", "--verify", "--end-of-options", sha+"^{commit}"), g.hooks)
		if err != nil || !res.OK || len(res.Tail) == 0 {
			return "", err
		}
		return strings.TrimSpace(res.Tail[len(res.Tail)-1]), nil
	}
	if oid, err := rev(); oid != "" || err != nil {
		return oid, err
	}
	// Servers may refuse a commit no ref points at; that is an answer, not a failure.
	if _, err := runCommand(ctx, g.command("fetch", "--quiet", "--filter=tree:0", "--", "origin", sha), g.hooks); err != nil {
		return "", err
	}
	return rev()
}

// isAncestor reports whether commit a is an ancestor of commit b.
func (g *gitHistory) isAncestor(ctx context.Context, a, b string) (bool, error) {
	res, err := runCommand(ctx, g.command("merge-base", "--is-ancestor", a, b), g.hooks)
	switch {
	case err != nil:
		return false, err
	case res.OK:
		return true, nil
	case res.ExitCode == 1:
		return false, nil
	}
	return false, fmt.Errorf("git merge-base --is-ancestor %s %s: %s: %s", a, b, res.Reason, strings.Join(lastN(res.Tail, 3), " | "))
}

func (g *gitHistory) command(args ...string) command {
	return command{step: contract.StepQueued, dir: g.dir, argv: append([]string{"git"}, args...), env: gitEnv(), timeout: gitTimeout}
}

// git runs a git command in dir that must succeed.
func (g *gitHistory) git(ctx context.Context, dir string, args ...string) (StepResult, error) {
	c := g.command(args...)
	c.dir = dir
	res, err := runCommand(ctx, c, g.hooks)
	if err == nil && !res.OK {
		err = fmt.Errorf("git %s: %s: %s", strings.Join(args, " "), res.Reason, strings.Join(lastN(res.Tail, 3), " | "))
	}
	return res, err
}
