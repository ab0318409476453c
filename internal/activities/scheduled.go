package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// ReportInput asks DailyReportNumbers for the numbers of one UTC day.
type ReportInput struct {
	Date string `json:"date"` // YYYY-MM-DD
}

// DailyReportNumbers reads the numbers of in.Date from PostgreSQL. A date that is not
// YYYY-MM-DD is a non-retryable InvalidInput error.
func (a *Activities) DailyReportNumbers(ctx context.Context, in ReportInput) (contract.DailyReport, error) {
	day, err := time.Parse(contract.DateLayout, in.Date)
	if err != nil {
		return contract.DailyReport{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("report date %q is not YYYY-MM-DD", in.Date), contract.ErrorTypeInvalidInput, err)
	}
	n, err := a.Store.ReportNumbers(ctx, day, day.AddDate(0, 0, 1))
	if err != nil {
		return contract.DailyReport{}, err
	}
	r := contract.DailyReport{
		Date:     in.Date,
		Signups:  n.Signups,
		Payments: contract.ReportPayments{ByCurrency: make([]contract.CurrencyTotal, len(n.Payments))},
		Deploys:  contract.ReportDeploys{Succeeded: n.DeploysSucceeded, Failed: n.DeploysFailed},
		Events:   n.Events,
	}
	for i, p := range n.Payments {
		r.Payments.ByCurrency[i] = contract.CurrencyTotal(p)
		r.Payments.Count += p.Count
	}
	return r, nil
}

// EmitDailyReport publishes report.daily with r as its data and contract.ReportEventID(r.Date) as
// its id, so a retried or repeated run for the same date publishes the same event, which
// the stream drops.
func (a *Activities) EmitDailyReport(ctx context.Context, r contract.DailyReport) error {
	if _, err := time.Parse(contract.DateLayout, r.Date); err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("report date %q is not YYYY-MM-DD", r.Date), contract.ErrorTypeInvalidInput, err)
	}
	return emitResultWithID(ctx, a.Publisher, contract.ReportEventID(r.Date), Cause{}, contract.TypeReportDaily, r)
}

// DefaultPurgeBatch is the rows one statement of a purge deletes when PurgeInput sets
// no BatchSize.
const DefaultPurgeBatch = 1000

// PurgeInput asks a purge activity to delete the rows past their use at Before.
type PurgeInput struct {
	Before time.Time `json:"before"`
	// BatchSize bounds the rows one statement deletes, so no statement holds many locks
	// for long. Optional: defaults to DefaultPurgeBatch.
	BatchSize int `json:"batch_size,omitempty"`
}

// PurgeSentEmails deletes the sent_emails rows of emails sent before in.Before, in
// batches, heartbeating the count so far after each, and returns how many it deleted.
func (a *Activities) PurgeSentEmails(ctx context.Context, in PurgeInput) (int64, error) {
	return purge(ctx, in, a.Store.DeleteSentEmailsBefore)
}

// PurgeNotifications deletes the notifications read before in.Before, or never read and
// created before it, in batches, heartbeating the count so far after each, and returns
// how many it deleted.
func (a *Activities) PurgeNotifications(ctx context.Context, in PurgeInput) (int64, error) {
	return purge(ctx, in, a.Store.DeleteNotificationsBefore)
}

func purge(ctx context.Context, in PurgeInput, deleteBatch func(context.Context, time.Time, int) (int64, error)) (int64, error) {
	if in.Before.IsZero() {
		return 0, temporal.NewNonRetryableApplicationError("purge: no cut-off time (before)", contract.ErrorTypeInvalidInput, nil)
	}
	batch := in.BatchSize
	if batch <= 0 {
		batch = DefaultPurgeBatch
	}
	var total int64
	for {
		n, err := deleteBatch(ctx, in.Before, batch)
		if err != nil {
			return total, err
		}
		total += n
		activity.RecordHeartbeat(ctx, total)
		if n < int64(batch) {
			return total, nil
		}
	}
}

// DefaultWorkspaceLimit is how many workspaces one RemoveStaleWorkspaces call removes
// at most when its input sets no Limit.
const DefaultWorkspaceLimit = 100

// StaleWorkspacesInput asks RemoveStaleWorkspaces to remove the deploy workspaces left
// under Root.
type StaleWorkspacesInput struct {
	Root string `json:"root"` // DEPLOY_WORKSPACE: absolute, and not the file system root
	// Before: workspaces with nothing modified at their top since are removed.
	Before time.Time `json:"before"`
	// Limit bounds the workspaces one call removes; the next call removes more.
	// Optional: defaults to DefaultWorkspaceLimit.
	Limit int `json:"limit,omitempty"`
}

// workspaceEntries are the only names a deploy workspace holds at its top (see
// Deploys.checkout and RollbackDeploy). A directory holding anything else was not made
// by BlueprintDeploy, and is left alone.
var workspaceEntries = map[string]bool{"src": true, "src.clone": true, "rollback": true}

// RemoveStaleWorkspaces removes the deploy workspaces that BlueprintDeploy left under
// in.Root (a worker that died mid-deploy does not clean up) and returns how many it
// removed. It only considers the directories directly under the root, never follows a
// symbolic link, and removes a directory only when it has the shape of a workspace
// (nothing at its top but src, src.clone and rollback), nothing at its top was modified
// since in.Before, and it does not belong to a deploy still running. A missing root is
// nothing to clean.
func (a *Activities) RemoveStaleWorkspaces(ctx context.Context, in StaleWorkspacesInput) (int, error) {
	root := filepath.Clean(in.Root)
	if !filepath.IsAbs(root) || filepath.Dir(root) == root {
		return 0, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("deploy workspace root %q must be an absolute directory other than the file system root (DEPLOY_WORKSPACE)", in.Root), contract.ErrorTypeInvalidInput, nil)
	}
	if in.Before.IsZero() {
		return 0, temporal.NewNonRetryableApplicationError("remove stale workspaces: no cut-off time (before)", contract.ErrorTypeInvalidInput, nil)
	}
	limit := in.Limit
	if limit <= 0 {
		limit = DefaultWorkspaceLimit
	}
	entries, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list deploy workspaces in %s: %w", root, err)
	}
	running, err := a.Store.RunningDeploys(ctx)
	if err != nil {
		return 0, err
	}
	inUse := make(map[string]bool, len(running))
	ws := &Deploys{WorkspaceRoot: root}
	for _, id := range running {
		if dir, err := ws.workspace(id); err == nil {
			inUse[filepath.Base(dir)] = true
		}
	}
	log := activity.GetLogger(ctx)
	removed := 0
	for _, e := range entries {
		if removed >= limit || ctx.Err() != nil {
			break
		}
		// A DirEntry from ReadDir describes the entry itself: a link to a directory is not
		// a directory here.
		if !e.IsDir() || inUse[e.Name()] {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if !staleWorkspace(dir, in.Before) {
			continue
		}
		if err := removeAll(dir); err != nil {
			return removed, fmt.Errorf("remove stale deploy workspace %s: %w", dir, err)
		}
		removed++
		log.Info("Removed a stale deploy workspace", "workspace", dir)
		activity.RecordHeartbeat(ctx, removed)
	}
	return removed, ctx.Err()
}

// staleWorkspace reports whether dir has the shape of a deploy workspace and neither it
// nor anything at its top was modified since before.
func staleWorkspace(dir string, before time.Time) bool {
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() || !info.ModTime().Before(before) {
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return false
	}
	for _, e := range entries {
		if !workspaceEntries[e.Name()] || !e.IsDir() {
			return false
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			return false
		}
	}
	return true
}
