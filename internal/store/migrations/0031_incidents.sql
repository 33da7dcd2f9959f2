-- Incidents group the alerts one playbook handles together: the alerts that share a dedup key inside the window
-- opened by the first of them. Each incident has one run (one Temporal workflow).
CREATE TABLE incidents (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    playbook_name    text        NOT NULL,
    playbook_version integer     NOT NULL,
    dedup_key        text        NOT NULL,
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    run_id           text        NOT NULL,
    first_alert_id   bigint      NOT NULL REFERENCES alerts (id),
    alert_count      integer     NOT NULL DEFAULT 1,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    window_ends_at   timestamptz NOT NULL,
    last_alert_at    timestamptz NOT NULL,
    closed_at        timestamptz,
    closed_by        text        NOT NULL DEFAULT '',
    UNIQUE (run_id)
);
CREATE INDEX incidents_open_key ON incidents (playbook_name, dedup_key, window_ends_at DESC) WHERE status = 'open';
CREATE INDEX incidents_opened ON incidents (opened_at DESC);

CREATE TABLE incident_alerts (
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    alert_id    bigint      NOT NULL REFERENCES alerts (id),
    attached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, alert_id)
);
CREATE INDEX incident_alerts_alert ON incident_alerts (alert_id);

ALTER TABLE runs ADD COLUMN incident_id bigint REFERENCES incidents (id);
CREATE INDEX runs_incident ON runs (incident_id) WHERE incident_id IS NOT NULL;
