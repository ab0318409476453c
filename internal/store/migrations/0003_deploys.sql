-- BlueprintDeploy: one row per deploy workflow.
-- A repository and ref form a lane: at most one running deploy in it is not superseded,
-- and a newer push supersedes (cancels) the older deploy still running. The newest
-- succeeded deploy of a lane is its last good commit, which a failed health check rolls
-- back to.
CREATE TABLE deploys (
    workflow_id    text PRIMARY KEY,
    run_id         text NOT NULL DEFAULT '',
    repository     text NOT NULL,
    ref            text NOT NULL,
    commit_sha     text NOT NULL,
    pushed_at      timestamptz,   -- the push event's time, which orders pushes; NULL if it had none
    status         text NOT NULL DEFAULT 'running'
                   CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    superseded_by  text,          -- workflow id of the deploy of the push that replaced this one
    step           text,          -- the step it failed or was cancelled in
    reason         text,
    rolled_back_to text,          -- commit redeployed after this one's health check failed
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);

CREATE INDEX deploys_running ON deploys (repository, ref) WHERE status = 'running';
CREATE INDEX deploys_superseded_by ON deploys (superseded_by) WHERE superseded_by IS NOT NULL;
CREATE INDEX deploys_last_good ON deploys (repository, ref, finished_at DESC) WHERE status = 'succeeded';
