-- Where the CECP log poller of each connection stands in each stream (a service and event type, or the
-- quarantine events): the vendor's last_log_item_generation_time of the last page stored, and the ids already
-- stored at that time, because the next query starts at that same time (inclusive) and returns them again.
-- A row changes in the same transaction as the alerts of its page, so a crash repeats a page, never skips one.
CREATE TABLE poller_cursors (
    connection  text        NOT NULL,
    stream      text        NOT NULL,
    position    timestamptz NOT NULL,
    seen_ids    text[]      NOT NULL DEFAULT '{}',
    events      bigint      NOT NULL DEFAULT 0,
    alerts      bigint      NOT NULL DEFAULT 0,
    polled_at   timestamptz NOT NULL DEFAULT now(),
    -- The last gap: a cursor older than the vendor's reach was clamped and events before it may be lost.
    gap_from    timestamptz,
    gap_to      timestamptz,
    PRIMARY KEY (connection, stream)
);

-- The dispatcher lists what it still has to do, and the incident pages join alerts to incidents.
CREATE INDEX incidents_status ON incidents (status, id DESC);
