-- The dispatcher's outbox: what must happen in Temporal (start a run's workflow, signal an alert to it),
-- committed in the same transaction as the incident and run rows it follows from, and carried out after the
-- commit, idempotently (run ids are deterministic). An entry is deleted once done. claimed_until is a lease:
-- a processor that dies leaves its entries to the next one when it runs out.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind IN ('start', 'signal')),
    run_id        text        NOT NULL REFERENCES runs (id),
    alert_id      bigint      REFERENCES alerts (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz NOT NULL DEFAULT '-infinity',
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text        NOT NULL DEFAULT '',
    CHECK ((kind = 'signal') = (alert_id IS NOT NULL))
);
CREATE INDEX outbox_claimable ON outbox (claimed_until, id);
CREATE INDEX outbox_run ON outbox (run_id, id);

-- Leases elect one holder of a cluster-wide role (the run tracker) among parry processes: a row that its
-- holder renews before expires_at, and that anyone may take once it has expired.
CREATE TABLE leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Cursors of the run tracker's visibility queries (closed since, started since), so a new leader resumes
-- where the last one stopped.
CREATE TABLE tracker_cursors (
    name text        PRIMARY KEY,
    at   timestamptz NOT NULL
);

-- When the run tracker last read a running run's live state: it refreshes the longest-unchecked first.
ALTER TABLE runs ADD COLUMN checked_at timestamptz NOT NULL DEFAULT '-infinity';
CREATE INDEX runs_unchecked ON runs (checked_at) WHERE status IN ('running', 'waiting');
