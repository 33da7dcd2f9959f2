-- What a run needs to be shown, exported and retried without Temporal: its plan, the alert that started it,
-- and its step records once it ends.
ALTER TABLE runs ADD COLUMN plan jsonb;
ALTER TABLE runs ADD COLUMN alert_id bigint;
ALTER TABLE runs ADD COLUMN steps jsonb;
ALTER TABLE runs ADD COLUMN result_status text NOT NULL DEFAULT '';
CREATE INDEX runs_active ON runs (updated_at) WHERE status IN ('pending', 'running', 'waiting');
CREATE INDEX runs_retry_of ON runs (retry_of) WHERE retry_of IS NOT NULL;
