-- API tokens: only the SHA-256 of a token is stored; the token itself is shown once, at creation.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('admin', 'author', 'responder', 'viewer', 'ingest')),
    token_sha256 bytea       NOT NULL UNIQUE,
    prefix       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL DEFAULT '',
    last_used_at timestamptz,
    revoked_at   timestamptz
);
-- A name identifies one live token; revoked tokens keep their name for the audit trail.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Playbook versions are immutable: a new content is a new version.
CREATE TABLE playbook_versions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    version    integer     NOT NULL CHECK (version > 0),
    sha256     text        NOT NULL,
    source     text        NOT NULL,
    plan       jsonb       NOT NULL,
    enabled    boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text        NOT NULL DEFAULT '',
    UNIQUE (name, version),
    UNIQUE (name, sha256)
);
-- At most one enabled version per playbook.
CREATE UNIQUE INDEX playbook_versions_one_enabled ON playbook_versions (name) WHERE enabled;

-- Runs: one row per playbook run (= one Temporal workflow), kept current so lists need no Temporal round trip.
CREATE TABLE runs (
    id               text        PRIMARY KEY,
    workflow_run_id  text        NOT NULL DEFAULT '',
    playbook_name    text        NOT NULL,
    playbook_version integer,
    playbook_sha256  text        NOT NULL,
    status           text        NOT NULL DEFAULT 'running'
                     CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
    waiting_for      text        NOT NULL DEFAULT '',
    failed_step      text        NOT NULL DEFAULT '',
    error            text        NOT NULL DEFAULT '',
    retry_of         text        REFERENCES runs (id),
    retry_from_step  text        NOT NULL DEFAULT '',
    started_by       text        NOT NULL DEFAULT '',
    inputs           jsonb       NOT NULL DEFAULT '{}',
    output           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_status ON runs (status, created_at DESC);
CREATE INDEX runs_playbook ON runs (playbook_name, created_at DESC);
CREATE INDEX runs_created ON runs (created_at DESC);

-- The audit trail is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL,
    action     text        NOT NULL,
    run_id     text,
    step_id    text,
    attempt    integer,
    connection text,
    operation  text,
    targets    integer,
    vendor_ids jsonb       NOT NULL DEFAULT '[]',
    outcome    text        NOT NULL DEFAULT '',
    details    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_run ON audit_events (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX audit_events_at ON audit_events (at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
