-- The durable inbox: an alert is acknowledged (HTTP 202) only once its row is committed here.
CREATE TABLE alerts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source        text        NOT NULL,
    source_id     text,
    kind          text        NOT NULL,
    severity      text        NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    title         text        NOT NULL,
    connection    text        NOT NULL DEFAULT '',
    observed_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    data          jsonb       NOT NULL DEFAULT '{}',
    ingested_by   text        NOT NULL DEFAULT '',
    -- pending: waiting for the dispatcher; dispatched: matched and attached to incidents (or to none).
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dispatched')),
    matched       integer     NOT NULL DEFAULT 0,
    dispatched_at timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text        NOT NULL DEFAULT ''
);
-- A source's own id drops exact repeats.
CREATE UNIQUE INDEX alerts_source_id ON alerts (source, source_id) WHERE source_id IS NOT NULL;
CREATE INDEX alerts_pending ON alerts (id) WHERE status = 'pending';
CREATE INDEX alerts_received ON alerts (received_at DESC);

-- Webhook sources that cannot send a bearer token sign the body with a shared secret (HMAC-SHA256), the way
-- GitHub signs its webhooks. The server must know the secret to verify, so it is stored; it is shown once.
ALTER TABLE api_tokens ADD COLUMN webhook_secret bytea;
