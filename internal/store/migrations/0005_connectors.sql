-- Connectors: external sources that ConnectorSync copies records from. A row is created by
-- hand (or by an admin tool) and synced on each connector.sync.requested event.
CREATE TABLE connectors (
    id             text PRIMARY KEY CHECK (id <> ''),
    tenant_id      uuid REFERENCES tenants (id),          -- NULL: not owned by a tenant
    kind           text NOT NULL CHECK (kind IN ('http-json')),
    source_url     text NOT NULL CHECK (source_url ~ '^https?://'),
    cursor         text NOT NULL DEFAULT '',              -- where the next sync starts; '' = the beginning
    last_synced_at timestamptz,                           -- the last sync that succeeded
    last_error     text,                                  -- why the last sync failed; NULL once one succeeds
    enabled        boolean NOT NULL DEFAULT true
);
CREATE INDEX connectors_tenant_id ON connectors (tenant_id) WHERE tenant_id IS NOT NULL;

-- The records a connector's source returned, by the source's own id. A page stored again
-- (a retried or repeated sync) rewrites nothing unless a record changed; updated_at is
-- when its payload last changed.
CREATE TABLE connector_records (
    connector_id text NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    payload      jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, external_id)
);
