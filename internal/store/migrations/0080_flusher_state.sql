-- What each (connection, kind) flusher last left waiting: a partial batch of fill of batch_size items that goes
-- at flush_at, and the vendor failure it is waiting out. Any server reads it for `run show`, so a responder sees
-- a step's batch live, whichever process flushes.
CREATE TABLE mitigation_flusher_states (
    connection text        NOT NULL,
    kind       text        NOT NULL,
    fill       integer     NOT NULL,
    batch_size integer     NOT NULL,
    flush_at   timestamptz,
    last_error text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, kind)
);
