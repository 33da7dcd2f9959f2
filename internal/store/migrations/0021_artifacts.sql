-- Artifacts: files a run kept (quarantined mail ZIPs). The bytes live in the artifact directory, named by their
-- SHA-256; a row links them to the run and step that stored them. The id is derived from run, step and content,
-- so a retried activity finds the row it wrote before instead of adding a second one.
CREATE TABLE artifacts (
    id           text        PRIMARY KEY,
    sha256       text        NOT NULL,
    size         bigint      NOT NULL,
    run_id       text        NOT NULL,
    step_id      text        NOT NULL,
    kind         text        NOT NULL,
    name         text        NOT NULL DEFAULT '',
    content_type text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artifacts_run ON artifacts (run_id, created_at);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
