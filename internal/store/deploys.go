package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Deploy statuses.
const (
	DeployRunning   = "running"
	DeploySucceeded = "succeeded"
	DeployFailed    = "failed"
	DeployCancelled = "cancelled"
)

// Deploy is a row of deploys: one BlueprintDeploy workflow.
type Deploy struct {
	WorkflowID string
	RunID      string
	Repository string
	Ref        string
	CommitSHA  string
	PushedAt   time.Time // zero when the push event carried no time
	Status     string    // DeployRunning, DeploySucceeded, DeployFailed or DeployCancelled
	// SupersededBy is the workflow id of the deploy of a newer push that replaced this
	// one, if any.
	SupersededBy string
	Step         string
	Reason       string
	RolledBackTo string
	StartedAt    time.Time
	FinishedAt   time.Time // zero while running
}

// DeployClaim is what ClaimDeploy found in the deploy's lane.
type DeployClaim struct {
	// Newer is the running deploy of a newer push to the same repository and ref, if
	// there is one: the claiming deploy is superseded by it and must not run.
	Newer *Deploy
	// Superseded are the running deploys of older pushes that the claiming deploy
	// replaced; the caller cancels them.
	Superseded []Deploy
}

const deployColumns = `workflow_id, run_id, repository, ref, commit_sha, pushed_at, status,
	coalesce(superseded_by, ''), coalesce(step, ''), coalesce(reason, ''), coalesce(rolled_back_to, ''),
	started_at, finished_at`

func scanDeploy(row pgx.Row) (Deploy, error) {
	var d Deploy
	var pushed, finished *time.Time
	err := row.Scan(&d.WorkflowID, &d.RunID, &d.Repository, &d.Ref, &d.CommitSHA, &pushed, &d.Status,
		&d.SupersededBy, &d.Step, &d.Reason, &d.RolledBackTo, &d.StartedAt, &finished)
	if pushed != nil {
		d.PushedAt = *pushed
	}
	if finished != nil {
		d.FinishedAt = *finished
	}
	return d, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ErrLaneMoved is wrapped by ClaimDeploy's error when another deploy became the head of
// the lane after the caller read it with DeployLane: read the lane again, check the push
// against the new head, and claim again.
var ErrLaneMoved = errors.New("another deploy took the lane meanwhile")

// DeployLane is a repository and ref's lane as a push about to claim it sees it.
type DeployLane struct {
	// Head is the lane's last deploy: the one claimed last that no newer push
	// superseded, running or finished however it ended. Nil for an empty lane.
	Head *Deploy
	// Good is the lane's last succeeded deploy, whose commit is the one deployed; nil if
	// none succeeded.
	Good *Deploy
	// Claimed is set when the asking run has claimed the lane already: its claim is
	// being retried.
	Claimed bool
}

// laneHeadQuery selects the head of lane ($1, $2) as a deploy of workflow id $3, run $4
// sees it: its own claim is not part of it, but an earlier run of the same workflow id is.
const laneHeadQuery = `SELECT ` + deployColumns + ` FROM deploys
	WHERE repository = $1 AND ref = $2 AND superseded_by IS NULL AND NOT (workflow_id = $3 AND run_id = $4)
	ORDER BY started_at DESC, workflow_id DESC LIMIT 1`

// DeployLane returns the lane of repository and ref as the deploy of workflowID, run
// runID sees it before claiming it.
func (s *Store) DeployLane(ctx context.Context, repository, ref, workflowID, runID string) (DeployLane, error) {
	var lane DeployLane
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deploys WHERE workflow_id = $1 AND run_id = $2)`, workflowID, runID).Scan(&lane.Claimed)
	if err != nil {
		return lane, fmt.Errorf("deploy lane %s %s: %w", repository, ref, err)
	}
	if lane.Head, err = optionalDeploy(s.pool.QueryRow(ctx, laneHeadQuery, repository, ref, workflowID, runID)); err != nil {
		return lane, fmt.Errorf("deploy lane %s %s: head: %w", repository, ref, err)
	}
	good, err := s.LastGoodDeploy(ctx, repository, ref)
	switch {
	case err == nil:
		lane.Good = &good
	case !errors.Is(err, ErrNotFound):
		return lane, err
	}
	return lane, nil
}

func optionalDeploy(row pgx.Row) (*Deploy, error) {
	d, err := scanDeploy(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func sameDeploy(a, b *Deploy) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.WorkflowID == b.WorkflowID && a.RunID == b.RunID
}

// ClaimDeploy records d as running and makes it the deploy in flight for its repository
// and ref. Every other running deploy of that lane is marked as superseded by d and
// returned in Superseded, for the caller to cancel. But when a running deploy of a newer
// push (a later PushedAt) already holds the lane, d is marked as superseded by that one,
// which is returned in Newer, and nothing else changes. Pushes without a time are ordered
// by their claims.
//
// seen is the lane as the caller read it (DeployLane) and checked d against: when another
// deploy has become the lane's head since, nothing changes and the error wraps
// ErrLaneMoved. A new run of a workflow id that has a row (the id reused, once Temporal
// forgot the earlier run) starts that row afresh.
//
// Claiming again (a retried activity, same run) returns the same answer while the
// deploys it names are still running, whatever seen says.
func (s *Store) ClaimDeploy(ctx context.Context, d Deploy, seen DeployLane) (DeployClaim, error) {
	var claim DeployClaim
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One claim per lane at a time: the lane's state is read, then written.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", d.Repository+"\n"+d.Ref); err != nil {
			return err
		}
		var run, supersededBy string
		err := tx.QueryRow(ctx, `SELECT run_id, coalesce(superseded_by, '') FROM deploys WHERE workflow_id = $1`, d.WorkflowID).Scan(&run, &supersededBy)
		switch {
		case err == nil && run == d.RunID: // a retried claim
		case err == nil, errors.Is(err, pgx.ErrNoRows):
			head, err := optionalDeploy(tx.QueryRow(ctx, laneHeadQuery, d.Repository, d.Ref, d.WorkflowID, d.RunID))
			if err != nil {
				return err
			}
			if !sameDeploy(head, seen.Head) {
				return ErrLaneMoved
			}
			_, err = tx.Exec(ctx, `
				INSERT INTO deploys (workflow_id, run_id, repository, ref, commit_sha, pushed_at)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (workflow_id) DO UPDATE SET run_id = EXCLUDED.run_id, repository = EXCLUDED.repository,
					ref = EXCLUDED.ref, commit_sha = EXCLUDED.commit_sha, pushed_at = EXCLUDED.pushed_at, status = 'running',
					superseded_by = NULL, step = NULL, reason = NULL, rolled_back_to = NULL, started_at = now(), finished_at = NULL`,
				d.WorkflowID, d.RunID, d.Repository, d.Ref, d.CommitSHA, nullTime(d.PushedAt))
			if err != nil {
				return err
			}
			supersededBy = ""
		default:
			return err
		}
		if supersededBy == "" {
			newer, err := scanDeploy(tx.QueryRow(ctx, `SELECT `+deployColumns+` FROM deploys
				WHERE repository = $1 AND ref = $2 AND status = 'running' AND workflow_id <> $3
				  AND superseded_by IS NULL AND pushed_at > $4
				ORDER BY pushed_at DESC LIMIT 1`, d.Repository, d.Ref, d.WorkflowID, nullTime(d.PushedAt)))
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return err
			default:
				supersededBy = newer.WorkflowID
				if _, err := tx.Exec(ctx, "UPDATE deploys SET superseded_by = $2 WHERE workflow_id = $1", d.WorkflowID, supersededBy); err != nil {
					return err
				}
			}
		}
		if supersededBy != "" {
			newer, err := scanDeploy(tx.QueryRow(ctx, `SELECT `+deployColumns+` FROM deploys WHERE workflow_id = $1`, supersededBy))
			if err != nil {
				return err
			}
			claim.Newer = &newer
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE deploys SET superseded_by = $3
			WHERE repository = $1 AND ref = $2 AND status = 'running' AND workflow_id <> $3 AND superseded_by IS NULL`,
			d.Repository, d.Ref, d.WorkflowID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+deployColumns+` FROM deploys
			WHERE superseded_by = $1 AND status = 'running' ORDER BY started_at, workflow_id`, d.WorkflowID)
		if err != nil {
			return err
		}
		claim.Superseded, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Deploy, error) { return scanDeploy(r) })
		return err
	})
	if err != nil {
		return DeployClaim{}, fmt.Errorf("claim deploy lane %s %s for %s: %w", d.Repository, d.Ref, d.WorkflowID, err)
	}
	return claim, nil
}

// DeployOutcome is how a deploy ended.
type DeployOutcome struct {
	Status       string // DeploySucceeded, DeployFailed or DeployCancelled
	Step         string // the step it failed or was cancelled in
	Reason       string
	RolledBackTo string // the commit redeployed after a failed health check
}

// FinishDeploy records how the deploy of workflowID ended, which frees its lane; a
// succeeded deploy becomes its lane's last good commit. Only a running deploy is
// updated, so finishing twice keeps the first outcome; finishing a deploy that was never
// claimed does nothing.
func (s *Store) FinishDeploy(ctx context.Context, workflowID string, o DeployOutcome) error {
	switch o.Status {
	case DeploySucceeded, DeployFailed, DeployCancelled:
	default:
		return fmt.Errorf("finish deploy %s: status %q is not succeeded, failed or cancelled", workflowID, o.Status)
	}
	_, err := s.pool.Exec(ctx, `UPDATE deploys
		SET status = $2, step = nullif($3, ''), reason = nullif($4, ''), rolled_back_to = nullif($5, ''), finished_at = now()
		WHERE workflow_id = $1 AND status = 'running'`, workflowID, o.Status, o.Step, o.Reason, o.RolledBackTo)
	if err != nil {
		return fmt.Errorf("finish deploy %s: %w", workflowID, err)
	}
	return nil
}

// LastGoodDeploy returns the deploy of repository and ref that succeeded last, or
// ErrNotFound.
func (s *Store) LastGoodDeploy(ctx context.Context, repository, ref string) (Deploy, error) {
	d, err := scanDeploy(s.pool.QueryRow(ctx, `SELECT `+deployColumns+` FROM deploys
		WHERE repository = $1 AND ref = $2 AND status = 'succeeded'
		ORDER BY finished_at DESC, started_at DESC LIMIT 1`, repository, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return Deploy{}, fmt.Errorf("last good deploy of %s %s: %w", repository, ref, ErrNotFound)
	}
	if err != nil {
		return Deploy{}, fmt.Errorf("last good deploy of %s %s: %w", repository, ref, err)
	}
	return d, nil
}

// DeployByID returns the deploy of workflowID, or ErrNotFound.
func (s *Store) DeployByID(ctx context.Context, workflowID string) (Deploy, error) {
	d, err := scanDeploy(s.pool.QueryRow(ctx, `SELECT `+deployColumns+` FROM deploys WHERE workflow_id = $1`, workflowID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Deploy{}, fmt.Errorf("deploy %s: %w", workflowID, ErrNotFound)
	}
	if err != nil {
		return Deploy{}, fmt.Errorf("deploy %s: %w", workflowID, err)
	}
	return d, nil
}

// DeploySupersededBy returns the deploy that superseded the deploy of workflowID, or
// ErrNotFound when nothing did.
func (s *Store) DeploySupersededBy(ctx context.Context, workflowID string) (Deploy, error) {
	d, err := scanDeploy(s.pool.QueryRow(ctx, `SELECT `+deployColumns+` FROM deploys
		WHERE workflow_id = (SELECT superseded_by FROM deploys WHERE workflow_id = $1)`, workflowID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Deploy{}, fmt.Errorf("deploy superseding %s: %w", workflowID, ErrNotFound)
	}
	if err != nil {
		return Deploy{}, fmt.Errorf("deploy superseding %s: %w", workflowID, err)
	}
	return d, nil
}

// RunningDeploys returns the workflow ids of the deploys still running, whose workspaces
// are in use.
func (s *Store) RunningDeploys(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT workflow_id FROM deploys WHERE status = 'running' ORDER BY workflow_id`)
	if err != nil {
		return nil, fmt.Errorf("list running deploys: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list running deploys: %w", err)
	}
	return ids, nil
}
