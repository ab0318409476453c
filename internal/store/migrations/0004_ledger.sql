-- The event ledger: what the bridge did with each event, by event id ("where did my event
-- go"). Written in batches by internal/ledger from the bridge's delivery outcomes, read by
-- GET /events/{id} and `bridge events`. Rows are deleted after a retention period.
CREATE TABLE ledger_events (
    event_id       text PRIMARY KEY,
    event_type     text NOT NULL,
    source         text NOT NULL,
    subject        text NOT NULL,        -- the NATS subject it arrived on
    correlation_id text,
    causation_id   text,                 -- the event that started the workflow that emitted this one
    received_at    timestamptz NOT NULL, -- when the stream first stored it
    settled_at     timestamptz NOT NULL, -- when the delivery that decided outcome settled
    outcome        text NOT NULL,        -- routed, duplicate, ignored, dead_lettered, retried
    deliveries     integer NOT NULL DEFAULT 0, -- deliveries recorded (ledger_attempts rows)
    retries        integer NOT NULL DEFAULT 0, -- of which NAKed for a retry
    routes         jsonb NOT NULL DEFAULT '[]', -- [{route, action, workflow_id, run_id, result}]
    unmatched      jsonb NOT NULL DEFAULT '[]', -- [{route, reason}]: routes whose filters did not match
    workflow_id    text,                 -- of the first route that names one
    run_id         text,
    error          text NOT NULL DEFAULT '', -- the latest error; kept when a later delivery succeeds
    error_at       timestamptz           -- when the delivery that reported error settled
);
CREATE INDEX ledger_events_received_at ON ledger_events (received_at);
CREATE INDEX ledger_events_type ON ledger_events (event_type, received_at);
CREATE INDEX ledger_events_causation_id ON ledger_events (causation_id);

-- One row per delivery of an event (a stream message and its delivery count), so a
-- batch written twice, or an outcome recorded twice, is counted once.
CREATE TABLE ledger_attempts (
    event_id   text NOT NULL REFERENCES ledger_events (event_id) ON DELETE CASCADE,
    stream_seq bigint NOT NULL,
    delivered  bigint NOT NULL,
    outcome    text NOT NULL,
    error      text NOT NULL DEFAULT '',
    settled_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, stream_seq, delivered)
);

-- ledger_supersedes reports whether a delivery settled at new_at with new_outcome replaces
-- the outcome recorded from one settled at old_at: the later one does, except that a
-- duplicate never hides a routed (a redelivery of an event that did its work finds it
-- done), whichever arrives first.
CREATE FUNCTION ledger_supersedes(old_outcome text, old_at timestamptz, new_outcome text, new_at timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN old_outcome = 'routed' AND new_outcome = 'duplicate' THEN false
        WHEN old_outcome = 'duplicate' AND new_outcome = 'routed' THEN true
        ELSE new_at >= old_at
    END
$$;
