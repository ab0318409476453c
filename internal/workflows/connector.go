package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
)

// ConnectorConfig holds ConnectorSync's limits. Zero fields take the defaults.
type ConnectorConfig struct {
	// MaxPages is the most pages of its source one sync reads. A sync that reaches it ends
	// with has_more set in connector.synced, and the next sync continues from there.
	// Optional: defaults to 1000.
	MaxPages int
}

func (c ConnectorConfig) withDefaults() ConnectorConfig {
	if c.MaxPages <= 0 {
		c.MaxPages = 1000
	}
	return c
}

// pagesPerActivity is the most pages one SyncConnectorPages call reads.
//
// A sync is a loop of such calls rather than one call or one call per page. A call of
// ten pages stays within a plain StartToCloseTimeout, and its heartbeats (one per page)
// let a retry resume after the last stored page; the connector's cursor in PostgreSQL
// carries the position from call to call and from sync to sync. Each call adds about six
// events to the history, so a sync of 1000 pages (the default limit) stays near 600:
// small enough that no continue-as-new is needed, and each sync is a new run anyway.
const pagesPerActivity = 10

// sourceAttempts bounds the attempts of one SyncConnectorPages call. With retries 1s
// apart at first, backing off to a minute, a source that stays unavailable fails the
// sync after about a quarter of an hour (the connector records why); the next request
// continues from the stored cursor.
const sourceAttempts = 20

// Connectors carries the configuration of ConnectorSync; the worker registers its method.
type Connectors struct {
	Config ConnectorConfig
}

// ConnectorSync copies the records of a connector's source into connector_records: it
// reads the source page by page from the connector's stored cursor until the source has
// no next page or the sync has read MaxPages pages, then records the sync on the
// connector (last_synced_at) and emits connector.synced with what it read; it returns
// the same data. A source that is down is retried with backoff for about a quarter of an
// hour.
//
// It fails with a non-retryable error: contract.ErrorTypeInvalidInput for an event without a
// connector_id; contract.ErrorTypeConnectorNotFound or contract.ErrorTypeConnectorDisabled
// when the connector does not exist or is disabled; otherwise the failing activity's type
// (contract.ErrorTypeSourceRejected for a 4xx answer, ...) or contract.ErrorTypeConnectorSyncFailed,
// after recording the reason in the connector's last_error. The pages stored before a
// failure stay stored, with the cursor after them.
func (c *Connectors) ConnectorSync(ctx workflow.Context, ev contract.Event) (contract.ConnectorSynced, error) {
	status, err := newProgress(ctx)
	if err != nil {
		return contract.ConnectorSynced{}, err
	}
	var in contract.ConnectorSyncRequested
	if err := ev.DecodeData(&in); err != nil || in.ConnectorID == "" {
		return contract.ConnectorSynced{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("event %s: data must carry connector_id", ev.ID), contract.ErrorTypeInvalidInput, err)
	}
	var cfg ConnectorConfig
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return c.Config.withDefaults() }).Get(&cfg); err != nil {
		return contract.ConnectorSynced{}, err
	}
	var a *activities.Activities
	pagesCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A page is one request (at most SourceRequestTimeout) and one transaction.
		HeartbeatTimeout:    activities.SourceRequestTimeout + 30*time.Second,
		StartToCloseTimeout: pagesPerActivity * (activities.SourceRequestTimeout + 30*time.Second),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: sourceAttempts,
		},
	})
	res := contract.ConnectorSynced{ConnectorID: in.ConnectorID}
	status.set(ctx, contract.StepSyncPages, activitySyncPages, fmt.Sprintf("Reading the source of connector %s from its stored cursor, at most %d pages", in.ConnectorID, cfg.MaxPages))
	done := false
	for !done && res.Pages < cfg.MaxPages {
		var p activities.SyncProgress
		call := activities.SyncPagesInput{ConnectorID: in.ConnectorID, MaxPages: min(pagesPerActivity, cfg.MaxPages-res.Pages)}
		summary := fmt.Sprintf("pages %d-%d", res.Pages+1, res.Pages+call.MaxPages)
		if err := workflow.ExecuteActivity(withSummary(pagesCtx, summary), a.SyncConnectorPages, call).Get(ctx, &p); err != nil {
			return contract.ConnectorSynced{}, syncFailed(ctx, in.ConnectorID, err)
		}
		res.Pages += p.Pages
		res.Records += p.Records
		res.Cursor = p.Cursor
		done = p.Done
		status.st.Pages, status.st.Records = res.Pages, res.Records
		status.note(ctx, fmt.Sprintf("Read %d records in %d pages of connector %s's source; cursor %q", res.Records, res.Pages, in.ConnectorID, res.Cursor))
	}
	res.HasMore = !done

	shortCtx := withShortOptions(ctx)
	complete := activities.CompleteSyncInput{Synced: res, Cause: activities.Cause{EventID: ev.ID, CorrelationID: ev.CorrelationID}}
	status.set(ctx, contract.StepCompleteSync, activityCompleteSync, "Recording the sync on connector "+in.ConnectorID+" and emitting "+contract.TypeConnectorSynced)
	if err := workflow.ExecuteActivity(withSummary(shortCtx, contract.TypeConnectorSynced), a.CompleteConnectorSync, complete).Get(ctx, nil); err != nil {
		return contract.ConnectorSynced{}, syncFailed(ctx, in.ConnectorID, err)
	}
	more := ""
	if res.HasMore {
		more = "; the source has more, from the cursor on"
	}
	status.done(ctx, contract.ConnectorStatusSynced, fmt.Sprintf("Read %d records in %d pages%s", res.Records, res.Pages, more))
	return res, nil
}

// syncFailed records why the sync of connector id failed in the connector's last_error,
// and returns the error ConnectorSync ends with: a non-retryable application error whose
// message is the activity's own ("no connector c1: create it in table connectors", not
// "activity error (...)"), with err as its cause. A cancelled sync records nothing.
func syncFailed(ctx workflow.Context, id string, err error) error {
	if temporal.IsCanceledError(err) {
		return err
	}
	reason, typ := fmt.Sprintf("connector %s: sync failed: %v", id, err), contract.ErrorTypeConnectorSyncFailed
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case contract.ErrorTypeConnectorNotFound, contract.ErrorTypeConnectorDisabled:
			// Nothing to record: no row, or a connector that someone turned off.
			return temporal.NewNonRetryableApplicationError(appErr.Message(), appErr.Type(), err)
		case contract.ErrorTypeInvalidConnector, contract.ErrorTypeSourceRejected,
			contract.ErrorTypeBadSourceResponse, contract.ErrorTypeSourceUnavailable:
			reason, typ = appErr.Message(), appErr.Type()
		}
	}
	var a *activities.Activities
	opts := shortOptions()
	opts.RetryPolicy.MaximumAttempts = 10
	recordCtx := workflow.WithActivityOptions(ctx, opts)
	if rerr := workflow.ExecuteActivity(withSummary(recordCtx, "record the failure"), a.FailConnectorSync, activities.FailSyncInput{ConnectorID: id, Reason: reason}).Get(ctx, nil); rerr != nil {
		workflow.GetLogger(ctx).Error("Could not record the failed sync on its connector", "connector_id", id, "reason", reason, "err", rerr)
	}
	return temporal.NewNonRetryableApplicationError(reason, typ, err)
}
