-- Alert sources in the registry: each push of a changed definition is a new, immutable version; the newest is
-- the one served. definition is the pushed file (it may define several sources; name picks this one). The
-- source's secret is a reference (a secret's name), never its value.
CREATE TABLE sources (
    name        text        NOT NULL,
    version     integer     NOT NULL,
    sha256      text        NOT NULL,
    file        text        NOT NULL DEFAULT '',
    definition  text        NOT NULL,
    auth        text        NOT NULL CHECK (auth IN ('hmac', 'bearer')),
    secret_ref  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);

-- A body a source could not map is kept with why, never dropped. body is bytea: what was sent, byte for byte
-- (a NUL or invalid UTF-8 included).
CREATE TABLE rejected_alerts (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text        NOT NULL,
    source_version integer     NOT NULL DEFAULT 0,
    received_at    timestamptz NOT NULL DEFAULT now(),
    problems       jsonb       NOT NULL,
    body           bytea       NOT NULL,
    ingested_by    text        NOT NULL DEFAULT ''
);
CREATE INDEX rejected_alerts_source ON rejected_alerts (source, id DESC);

-- Mapped alerts deduplicate on (source, source_id) through alerts_source_id (0030), the same unique index as
-- the envelope's; the alert's source is the source's name.
