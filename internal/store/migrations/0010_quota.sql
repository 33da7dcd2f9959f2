-- The vendor quota of each CECP connection, shared by every parry process: a fixed window opened by its first
-- request (window_start), the slots used in it, and a block set after a vendor 429. A window opened before the
-- block ended is stale once the block is over: the vendor's window reset meanwhile. The limits themselves come
-- from the configuration, so changing rate_limit needs no migration.
CREATE TABLE quota_windows (
    key           text        PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    used          integer     NOT NULL CHECK (used >= 0),
    blocked_until timestamptz NOT NULL DEFAULT '-infinity'
);
