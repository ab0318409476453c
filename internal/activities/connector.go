package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
)

// SourceRequestTimeout bounds one page request to a connector's source, from dialling to
// the last byte of the answer.
const SourceRequestTimeout = 30 * time.Second

// maxPageBytes bounds the answer for one page, so a source cannot exhaust the worker's
// memory.
const maxPageBytes = 32 << 20

// sourceClient fetches pages from connectors' sources. It is shared, so connections to a
// source are reused from page to page.
var sourceClient = &http.Client{Timeout: SourceRequestTimeout}

// SyncPagesInput asks SyncConnectorPages to read pages of a connector's source.
type SyncPagesInput struct {
	ConnectorID string `json:"connector_id"`
	// MaxPages is the most pages this call reads. Optional: zero reads one.
	MaxPages int `json:"max_pages,omitempty"`
}

// SyncProgress is how far one SyncConnectorPages call got: its result, and the details
// of its heartbeats.
type SyncProgress struct {
	Pages   int    `json:"pages"`   // pages read and stored
	Records int    `json:"records"` // records in those pages
	Cursor  string `json:"cursor"`  // the connector's stored cursor after them
	// Done is true once the source answered a page without a next_cursor: the sync has
	// read everything there is.
	Done bool `json:"done"`
}

// SyncConnectorPages reads up to in.MaxPages pages of an http-json connector's source,
// from the connector's stored cursor on: GET <source_url>?cursor=<cursor> (no cursor
// parameter for the first page) answers {"records": [{"id": ...}, ...], "next_cursor": ...}.
// Each page's records are upserted by id together with the cursor that follows them, in
// one transaction, so a sync that stops anywhere continues from the page after the last one
// stored, and reading a page again stores nothing twice.
//
// The last page (no next_cursor, or the cursor it was read with) leaves the cursor where
// it is: the next sync reads it again, picking up what the source added to it since.
//
// It heartbeats its progress when it starts and after each page, and a retry resumes from
// the last heartbeat: after the last stored page when the attempt failed (the SDK sends
// the last heartbeat with the failure), or from an older one when its worker died (the SDK
// throttles heartbeats), reading again the pages stored after it. Either way the counts
// it returns cover every page of the call once.
//
// Errors: non-retryable contract.ErrorTypeConnectorNotFound, contract.ErrorTypeConnectorDisabled,
// contract.ErrorTypeInvalidConnector, contract.ErrorTypeSourceRejected and contract.ErrorTypeBadSourceResponse;
// retryable contract.ErrorTypeSourceUnavailable and PostgreSQL's errors.
func (a *Activities) SyncConnectorPages(ctx context.Context, in SyncPagesInput) (SyncProgress, error) {
	c, err := a.Store.ConnectorByID(ctx, in.ConnectorID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return SyncProgress{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no connector %s: create it in table connectors", in.ConnectorID), contract.ErrorTypeConnectorNotFound, nil)
	case err != nil:
		return SyncProgress{}, err
	case !c.Enabled:
		return SyncProgress{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("connector %s is disabled: set enabled = true in table connectors to sync it", c.ID), contract.ErrorTypeConnectorDisabled, nil)
	case c.Kind != store.ConnectorHTTPJSON:
		return SyncProgress{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("connector %s has kind %q; this worker syncs only %q connectors", c.ID, c.Kind, store.ConnectorHTTPJSON), contract.ErrorTypeInvalidConnector, nil)
	}
	src, err := url.Parse(c.SourceURL)
	if err != nil || (src.Scheme != "http" && src.Scheme != "https") || src.Host == "" {
		return SyncProgress{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("connector %s: source_url %q is not an http(s) URL: correct it in table connectors", c.ID, c.SourceURL), contract.ErrorTypeInvalidConnector, err)
	}

	log := activity.GetLogger(ctx)
	p := SyncProgress{Cursor: c.Cursor}
	if activity.HasHeartbeatDetails(ctx) {
		var last SyncProgress
		if err := activity.GetHeartbeatDetails(ctx, &last); err == nil {
			p = last
			log.Info("Resuming the sync from the last heartbeat", "connector_id", c.ID, "pages", p.Pages, "records", p.Records, "cursor", p.Cursor)
		}
	}
	activity.RecordHeartbeat(ctx, p)
	for !p.Done && p.Pages < max(in.MaxPages, 1) {
		page, err := fetchPage(ctx, c.ID, src, p.Cursor)
		if err != nil {
			return p, err
		}
		p.Done = page.nextCursor == "" || page.nextCursor == p.Cursor
		if !p.Done {
			p.Cursor = page.nextCursor
		}
		changed, err := a.Store.StoreConnectorPage(ctx, c.ID, page.records, p.Cursor)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return p, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("connector %s was deleted during its sync", c.ID), contract.ErrorTypeConnectorNotFound, err)
			}
			return p, err
		}
		p.Pages++
		p.Records += len(page.records)
		activity.RecordHeartbeat(ctx, p)
		log.Debug("Stored a page", "connector_id", c.ID, "page", p.Pages, "records", len(page.records), "changed", changed, "cursor", p.Cursor)
	}
	log.Info("Synced pages", "connector_id", c.ID, "pages", p.Pages, "records", p.Records, "cursor", p.Cursor, "done", p.Done)
	return p, nil
}

// sourcePage is one page of a connector's source, its records keyed by their ids.
type sourcePage struct {
	records    []store.ConnectorRecord
	nextCursor string
}

// fetchPage reads the page of connector id's source src at cursor. Its errors are
// contract.ErrorTypeSourceUnavailable, contract.ErrorTypeSourceRejected and contract.ErrorTypeBadSourceResponse
// application errors naming the connector and the request (any password in the URL
// redacted).
func fetchPage(ctx context.Context, id string, src *url.URL, cursor string) (sourcePage, error) {
	u := *src
	if cursor != "" {
		q := u.Query()
		q.Set("cursor", cursor)
		u.RawQuery = q.Encode()
	}
	op := "connector " + id + ": GET " + u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return sourcePage{}, temporal.NewNonRetryableApplicationError(op+": "+err.Error(), contract.ErrorTypeInvalidConnector, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "flowbridge-connector-sync")
	resp, err := sourceClient.Do(req)
	if err != nil {
		return sourcePage{}, temporal.NewApplicationErrorWithCause(op+": "+err.Error(), contract.ErrorTypeSourceUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return sourcePage{}, temporal.NewApplicationErrorWithCause(op+": read the answer: "+err.Error(), contract.ErrorTypeSourceUnavailable, err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return sourcePage{}, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %s%s", op, resp.Status, excerpt(body)),
			contract.ErrorTypeSourceUnavailable, temporal.ApplicationErrorOptions{NextRetryDelay: retryAfter(resp.Header.Get("Retry-After"))})
	case code >= 400:
		return sourcePage{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: %s%s: correct the source or the connector's source_url, then request a sync again", op, resp.Status, excerpt(body)),
			contract.ErrorTypeSourceRejected, nil)
	case code < 200 || code > 299:
		return sourcePage{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s, want 200 with a page of records", op, resp.Status), contract.ErrorTypeBadSourceResponse, nil)
	}
	if len(body) > maxPageBytes {
		return sourcePage{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: the page is larger than %d MiB: make the source serve smaller pages", op, maxPageBytes>>20), contract.ErrorTypeBadSourceResponse, nil)
	}
	page, err := parsePage(body)
	if err != nil {
		return sourcePage{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf(`%s: %v; want {"records": [{"id": ...}, ...], "next_cursor": "..."}`, op, err), contract.ErrorTypeBadSourceResponse, nil)
	}
	return page, nil
}

func parsePage(body []byte) (sourcePage, error) {
	var raw struct {
		Records    []json.RawMessage `json:"records"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return sourcePage{}, fmt.Errorf("not a page of records: %w", err)
	}
	if raw.Records == nil {
		return sourcePage{}, errors.New("no records array")
	}
	page := sourcePage{records: make([]store.ConnectorRecord, len(raw.Records)), nextCursor: raw.NextCursor}
	for i, r := range raw.Records {
		var rec struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(r, &rec); err != nil || r[0] != '{' {
			return sourcePage{}, fmt.Errorf("record %d is not an object", i)
		}
		id, err := recordID(rec.ID)
		if err != nil {
			return sourcePage{}, fmt.Errorf("record %d: %w", i, err)
		}
		page.records[i] = store.ConnectorRecord{ExternalID: id, Payload: r}
	}
	return page, nil
}

// recordID reads a record's id: a non-empty string, or a number as written.
func recordID(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && s != "" {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil && n != "" {
		return n.String(), nil
	}
	return "", errors.New(`no "id": want a non-empty string or a number`)
}

// excerpt returns the start of an error answer's body, for the error message.
func excerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return ": " + s
}

// retryAfter reads a Retry-After header in seconds, capped at ten minutes; zero (the
// retry policy's backoff) when there is none or it is a date.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, 10*time.Minute)
}

// CompleteSyncInput asks CompleteConnectorSync to record a successful sync.
type CompleteSyncInput struct {
	Synced contract.ConnectorSynced `json:"synced"`
	Cause  Cause                    `json:"cause"`
}

// CompleteConnectorSync records the sync as the connector's last successful one (clearing
// its last error) and emits connector.synced, with an id of the workflow run
// (contract.RunResultEventID). A connector deleted during the sync is a non-retryable
// contract.ErrorTypeConnectorNotFound error.
func (a *Activities) CompleteConnectorSync(ctx context.Context, in CompleteSyncInput) error {
	err := a.Store.MarkConnectorSynced(ctx, in.Synced.ConnectorID)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("connector %s was deleted during its sync", in.Synced.ConnectorID), contract.ErrorTypeConnectorNotFound, err)
	}
	if err != nil {
		return err
	}
	wf := activity.GetInfo(ctx).WorkflowExecution
	id := contract.RunResultEventID(wf.ID, wf.RunID, contract.TypeConnectorSynced)
	return emitResultWithID(ctx, a.Publisher, id, in.Cause, contract.TypeConnectorSynced, in.Synced)
}

// FailSyncInput asks FailConnectorSync to record why a sync failed.
type FailSyncInput struct {
	ConnectorID string `json:"connector_id"`
	Reason      string `json:"reason"`
}

// FailConnectorSync records in.Reason as the connector's last error. A connector that
// does not exist has nowhere to record it, which is not an error.
func (a *Activities) FailConnectorSync(ctx context.Context, in FailSyncInput) error {
	err := a.Store.MarkConnectorFailed(ctx, in.ConnectorID, in.Reason)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
