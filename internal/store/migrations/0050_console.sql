-- The console's sign-in: a token may expire (console sessions do), and parry dev hands out short-lived,
-- single-use sign-in codes that a browser exchanges for such a session token. Only hashes are stored.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;

CREATE TABLE signin_codes (
    code_sha256 bytea       PRIMARY KEY,
    role        text        NOT NULL CHECK (role IN ('admin', 'author', 'responder', 'viewer', 'ingest')),
    created_by  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE INDEX audit_events_action ON audit_events (action, id);
