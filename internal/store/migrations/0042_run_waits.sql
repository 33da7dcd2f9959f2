-- What a running run waits for, structured (the step, the kind — approval, timer, call, vendor quota, retry
-- back-off, batch —, until when, an approval's prompt and approvers), as the tracker or a live read last saw it:
-- the approvals inbox and the console read it without asking every run.
ALTER TABLE runs ADD COLUMN waits jsonb NOT NULL DEFAULT '[]';
CREATE INDEX runs_waiting_approval ON runs (created_at) WHERE status IN ('running', 'waiting') AND waits @> '[{"kind": "approval"}]';
