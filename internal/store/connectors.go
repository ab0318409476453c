package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnectorHTTPJSON is the kind of a connector whose source is an HTTP endpoint serving
// pages of JSON records. It is the only kind so far.
const ConnectorHTTPJSON = "http-json"

// Connector is a row of connectors: an external source that ConnectorSync copies records
// from.
type Connector struct {
	ID        string
	TenantID  string // empty when no tenant owns it
	Kind      string // ConnectorHTTPJSON
	SourceURL string
	// Cursor is where the next sync starts reading the source; empty: at the beginning.
	Cursor       string
	LastSyncedAt time.Time // zero until a sync succeeds
	LastError    string    // why the last sync failed; empty once one succeeds
	Enabled      bool
}

// ConnectorRecord is one record a connector's source returned.
type ConnectorRecord struct {
	ExternalID string          // the source's id of the record
	Payload    json.RawMessage // the record as the source returned it
}

const connectorColumns = `id, coalesce(tenant_id::text, ''), kind, source_url, cursor, last_synced_at, coalesce(last_error, ''), enabled`

func scanConnector(row pgx.Row) (Connector, error) {
	var c Connector
	var synced *time.Time
	err := row.Scan(&c.ID, &c.TenantID, &c.Kind, &c.SourceURL, &c.Cursor, &synced, &c.LastError, &c.Enabled)
	if synced != nil {
		c.LastSyncedAt = *synced
	}
	return c, err
}

// CreateConnector stores a new connector with c's ID, TenantID, Kind, SourceURL and
// Cursor. It starts enabled and never synced; the stored row is returned. The table's
// checks reject an empty id, an unknown kind and a source URL that is not http(s).
func (s *Store) CreateConnector(ctx context.Context, c Connector) (Connector, error) {
	var tenant *string
	if c.TenantID != "" {
		tenant = &c.TenantID
	}
	stored, err := scanConnector(s.pool.QueryRow(ctx, `
		INSERT INTO connectors (id, tenant_id, kind, source_url, cursor) VALUES ($1, $2, $3, $4, $5)
		RETURNING `+connectorColumns, c.ID, tenant, c.Kind, c.SourceURL, c.Cursor))
	if err != nil {
		return Connector{}, fmt.Errorf("create connector %s: %w", c.ID, err)
	}
	return stored, nil
}

// ConnectorByID returns the connector with id, or ErrNotFound.
func (s *Store) ConnectorByID(ctx context.Context, id string) (Connector, error) {
	c, err := scanConnector(s.pool.QueryRow(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Connector{}, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Connector{}, fmt.Errorf("connector %s: %w", id, err)
	}
	return c, nil
}

// SetConnectorEnabled enables or disables the connector; a disabled one is not synced.
// It returns ErrNotFound when there is no such connector.
func (s *Store) SetConnectorEnabled(ctx context.Context, id string, enabled bool) error {
	return s.updateConnector(ctx, id, "set enabled", `UPDATE connectors SET enabled = $2 WHERE id = $1`, enabled)
}

// StoreConnectorPage stores a page of the connector's records and moves its cursor to
// cursor, in one transaction, so the cursor never gets ahead of the records stored. A
// record is keyed by its ExternalID: storing it again replaces its payload, and leaves the
// row untouched when the payload is the same, so a page stored twice changes nothing.
// Of records sharing an ExternalID, the last wins. It returns how many records were
// inserted or changed, and ErrNotFound when there is no such connector.
func (s *Store) StoreConnectorPage(ctx context.Context, connectorID string, records []ConnectorRecord, cursor string) (changed int, err error) {
	ids := make([]string, 0, len(records))
	payloads := make([]string, 0, len(records))
	at := make(map[string]int, len(records))
	for _, r := range records {
		if i, ok := at[r.ExternalID]; ok {
			payloads[i] = string(r.Payload)
			continue
		}
		at[r.ExternalID] = len(ids)
		ids = append(ids, r.ExternalID)
		payloads = append(payloads, string(r.Payload))
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE connectors SET cursor = $2 WHERE id = $1`, connectorID, cursor)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		tag, err = tx.Exec(ctx, `
			INSERT INTO connector_records (connector_id, external_id, payload)
			SELECT $1, r.id, r.payload::jsonb FROM unnest($2::text[], $3::text[]) AS r (id, payload)
			ON CONFLICT (connector_id, external_id) DO UPDATE SET payload = EXCLUDED.payload, updated_at = now()
			WHERE connector_records.payload IS DISTINCT FROM EXCLUDED.payload`,
			connectorID, ids, payloads)
		if err != nil {
			return err
		}
		changed = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store a page of connector %s: %w", connectorID, err)
	}
	return changed, nil
}

// MarkConnectorSynced records that a sync of the connector succeeded now, and clears its
// last error. It returns ErrNotFound when there is no such connector.
func (s *Store) MarkConnectorSynced(ctx context.Context, id string) error {
	return s.updateConnector(ctx, id, "mark synced", `UPDATE connectors SET last_synced_at = now(), last_error = NULL WHERE id = $1`)
}

// MarkConnectorFailed records why the last sync of the connector failed; last_synced_at
// keeps the last success. It returns ErrNotFound when there is no such connector.
func (s *Store) MarkConnectorFailed(ctx context.Context, id, reason string) error {
	return s.updateConnector(ctx, id, "mark failed", `UPDATE connectors SET last_error = $2 WHERE id = $1`, reason)
}

func (s *Store) updateConnector(ctx context.Context, id, op, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, append([]any{id}, args...)...)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("connector %s: %s: %w", id, op, err)
	}
	return nil
}
