package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func createConnector(t *testing.T, st *store.Store, c store.Connector) store.Connector {
	t.Helper()
	if c.ID == "" {
		c.ID = testenv.ID("conn-")
	}
	if c.Kind == "" {
		c.Kind = store.ConnectorHTTPJSON
	}
	if c.SourceURL == "" {
		c.SourceURL = "https://source.example.com/records"
	}
	stored, err := st.CreateConnector(context.Background(), c)
	require.NoError(t, err)
	return stored
}

func TestCreateConnector(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	tenant := billedTenant(t, st, testenv.ID("u-"), "")

	got := createConnector(t, st, store.Connector{ID: "c-owned", TenantID: tenant.ID, SourceURL: "http://127.0.0.1:9/x?key=1", Cursor: "p7"})
	want := store.Connector{ID: "c-owned", TenantID: tenant.ID, Kind: store.ConnectorHTTPJSON, SourceURL: "http://127.0.0.1:9/x?key=1", Cursor: "p7", Enabled: true}
	require.Equal(t, want, got, "got %v, want %v", got, want)
	read, err := st.ConnectorByID(ctx, "c-owned")
	require.NoError(t, err)
	require.Equal(t, want, read, "got %v, want %v", read, want)

	unowned := createConnector(t, st, store.Connector{ID: "c-unowned"})
	require.Empty(t, unowned.TenantID)

	_, err = st.ConnectorByID(ctx, "c-missing")
	require.ErrorIs(t, err, store.ErrNotFound)

	tests := []struct {
		name string
		c    store.Connector
	}{
		{name: "duplicate id", c: store.Connector{ID: "c-owned", Kind: store.ConnectorHTTPJSON, SourceURL: "https://a.example"}},
		{name: "empty id", c: store.Connector{Kind: store.ConnectorHTTPJSON, SourceURL: "https://a.example"}},
		{name: "unknown kind", c: store.Connector{ID: "c-kind", Kind: "ftp-csv", SourceURL: "https://a.example"}},
		{name: "source not http", c: store.Connector{ID: "c-url", Kind: store.ConnectorHTTPJSON, SourceURL: "file:///etc/passwd"}},
		{name: "unknown tenant", c: store.Connector{ID: "c-tenant", TenantID: "00000000-0000-0000-0000-000000000000", Kind: store.ConnectorHTTPJSON, SourceURL: "https://a.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.CreateConnector(ctx, tt.c)
			require.Error(t, err)
			require.ErrorContains(t, err, "create connector "+tt.c.ID)
		})
	}
	require.Equal(t, 2, count(t, st, "SELECT count(*) FROM connectors"))
}

func TestStoreConnectorPage(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	c := createConnector(t, st, store.Connector{})
	other := createConnector(t, st, store.Connector{})
	rec := func(id, payload string) store.ConnectorRecord {
		return store.ConnectorRecord{ExternalID: id, Payload: json.RawMessage(payload)}
	}
	payload := func(connectorID, id string) string {
		var p string
		require.NoError(t, st.Pool().QueryRow(ctx, "SELECT payload::text FROM connector_records WHERE connector_id = $1 AND external_id = $2", connectorID, id).Scan(&p))
		return p
	}
	updatedAt := func(id string) time.Time {
		var at time.Time
		require.NoError(t, st.Pool().QueryRow(ctx, "SELECT updated_at FROM connector_records WHERE connector_id = $1 AND external_id = $2", c.ID, id).Scan(&at))
		return at
	}

	changed, err := st.StoreConnectorPage(ctx, c.ID, []store.ConnectorRecord{
		rec("a", `{"id":"a","n":1}`), rec("b", `{"id":"b","n":1}`), rec("a", `{"id":"a","n":2}`),
	}, "page-2")
	require.NoError(t, err)
	require.Equal(t, 2, changed, "a record repeated in a page is stored once")
	require.JSONEq(t, `{"id":"a","n":2}`, payload(c.ID, "a"), "the last of a repeated record wins")
	got, err := st.ConnectorByID(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "page-2", got.Cursor)
	bAt := updatedAt("b")

	// The same page again (a retried sync), with the keys in another order: nothing changes.
	changed, err = st.StoreConnectorPage(ctx, c.ID, []store.ConnectorRecord{rec("b", `{"n":1, "id":"b"}`), rec("a", `{"id":"a","n":2}`)}, "page-2")
	require.NoError(t, err)
	require.Zero(t, changed, "got %d records changed by the same page, want 0", changed)
	require.Equal(t, bAt, updatedAt("b"), "an unchanged record keeps its updated_at")

	changed, err = st.StoreConnectorPage(ctx, c.ID, []store.ConnectorRecord{rec("b", `{"id":"b","n":3}`), rec("c", `{"id":"c"}`)}, "page-3")
	require.NoError(t, err)
	require.Equal(t, 2, changed, "one changed, one new")
	require.JSONEq(t, `{"id":"b","n":3}`, payload(c.ID, "b"))
	require.True(t, updatedAt("b").After(bAt), "a changed record's updated_at moves")
	require.Equal(t, 3, count(t, st, "SELECT count(*) FROM connector_records WHERE connector_id = $1", c.ID))

	// Records are per connector: the same external id elsewhere is another record.
	changed, err = st.StoreConnectorPage(ctx, other.ID, []store.ConnectorRecord{rec("a", `{"id":"a","other":true}`)}, "")
	require.NoError(t, err)
	require.Equal(t, 1, changed)
	require.JSONEq(t, `{"id":"a","n":2}`, payload(c.ID, "a"))

	// An empty page moves only the cursor.
	changed, err = st.StoreConnectorPage(ctx, c.ID, nil, "page-4")
	require.NoError(t, err)
	require.Zero(t, changed)
	got, err = st.ConnectorByID(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "page-4", got.Cursor)

	_, err = st.StoreConnectorPage(ctx, "c-missing", []store.ConnectorRecord{rec("a", `{}`)}, "x")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Zero(t, count(t, st, "SELECT count(*) FROM connector_records WHERE connector_id = 'c-missing'"))

	// A payload that is not JSON stores nothing of the page, cursor included.
	_, err = st.StoreConnectorPage(ctx, c.ID, []store.ConnectorRecord{rec("d", `{"id":"d"}`), rec("e", `{`)}, "page-5")
	require.Error(t, err)
	got, err = st.ConnectorByID(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "page-4", got.Cursor, "the cursor stays with the records")
	require.Equal(t, 3, count(t, st, "SELECT count(*) FROM connector_records WHERE connector_id = $1", c.ID))
}

func TestConnectorSyncOutcome(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	c := createConnector(t, st, store.Connector{})
	read := func() store.Connector {
		got, err := st.ConnectorByID(ctx, c.ID)
		require.NoError(t, err)
		return got
	}

	require.NoError(t, st.MarkConnectorFailed(ctx, c.ID, "GET https://source.example.com/records: 404 Not Found"))
	got := read()
	require.Equal(t, "GET https://source.example.com/records: 404 Not Found", got.LastError)
	require.True(t, got.LastSyncedAt.IsZero(), "got last_synced_at %v, want none", got.LastSyncedAt)

	require.NoError(t, st.MarkConnectorSynced(ctx, c.ID))
	got = read()
	require.Empty(t, got.LastError, "a success clears the last error")
	require.WithinDuration(t, time.Now(), got.LastSyncedAt, time.Minute)
	synced := got.LastSyncedAt

	require.NoError(t, st.MarkConnectorFailed(ctx, c.ID, "source down"))
	got = read()
	require.Equal(t, "source down", got.LastError)
	require.Equal(t, synced, got.LastSyncedAt, "a failure keeps the last success")

	require.NoError(t, st.SetConnectorEnabled(ctx, c.ID, false))
	require.False(t, read().Enabled)
	require.NoError(t, st.SetConnectorEnabled(ctx, c.ID, true))
	require.True(t, read().Enabled)

	for name, err := range map[string]error{
		"synced":  st.MarkConnectorSynced(ctx, "c-missing"),
		"failed":  st.MarkConnectorFailed(ctx, "c-missing", "x"),
		"enabled": st.SetConnectorEnabled(ctx, "c-missing", false),
	} {
		require.True(t, errors.Is(err, store.ErrNotFound), "%s: got %v, want ErrNotFound", name, err)
	}
}
