package contract

// ConnectorSyncRequested is the data of connector.sync.requested.
type ConnectorSyncRequested struct {
	ConnectorID string `json:"connector_id"`
}

// ConnectorSynced is the data of connector.synced: what one sync did.
type ConnectorSynced struct {
	ConnectorID string `json:"connector_id"`
	Records     int    `json:"records"` // records read this sync
	Pages       int    `json:"pages"`   // pages read this sync
	Cursor      string `json:"cursor"`  // where the next sync starts
	// HasMore is true when the sync stopped at its page limit before the end of the
	// source: the next sync continues from Cursor.
	HasMore bool `json:"has_more"`
}
