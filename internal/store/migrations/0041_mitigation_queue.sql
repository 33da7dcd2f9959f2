-- The mitigation broker's durable queue (internal/mitigation). Every run that mitigates mails or accounts on a
-- connection queues its items here; one flusher per (connection, kind) packs the items of every run into full
-- batches, posts them, and polls their results by time window; each run reads its own items' outcomes.
--
-- An item is one mail or account to act on with one action. It is shared: a second run asking for the same
-- (connection, kind, action, item) while the first is live, or after it succeeded, joins it instead of
-- posting again. A retired item is kept for the record but never joined (it failed, or is too old to reuse).
CREATE TABLE mitigation_items (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection  text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('mails', 'accounts')),
    action_type text        NOT NULL,
    item_key    text        NOT NULL,
    payload     jsonb       NOT NULL,
    -- 0: response work (a run acting on an incident), 1: background; lower goes first.
    priority    smallint    NOT NULL DEFAULT 0,
    -- queued → sending (a POST carrying it is out) → posted (the vendor accepted it) → done (an outcome).
    state       text        NOT NULL CHECK (state IN ('queued', 'sending', 'posted', 'done')),
    post_id     bigint,
    batch_ids   text[]      NOT NULL DEFAULT '{}',
    -- Done: the vendor's status (Success, Skipped, Failed), or Rejected / Missing; outcome is the vendor's
    -- action or the error.
    status      text        NOT NULL DEFAULT '',
    outcome     jsonb,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    posted_at   timestamptz,
    done_at     timestamptz,
    -- Polls in a row that found every listed action finished but none for this item.
    missing     integer     NOT NULL DEFAULT 0,
    -- Some request waits for its outcome: only such items are polled (a request without wait ends once posted).
    awaited     boolean     NOT NULL DEFAULT false,
    retired     boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX mitigation_items_live ON mitigation_items (connection, kind, action_type, item_key) WHERE NOT retired;
CREATE INDEX mitigation_items_queued ON mitigation_items (connection, kind, priority, id) WHERE state = 'queued';
CREATE INDEX mitigation_items_out ON mitigation_items (connection, kind, id) WHERE state IN ('sending', 'posted');

-- Which run step asked for which items, in the order it listed them.
CREATE TABLE mitigation_requests (
    run_id       text        NOT NULL,
    step_id      text        NOT NULL,
    item_id      bigint      NOT NULL REFERENCES mitigation_items (id),
    ord          integer     NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step_id, item_id)
);
CREATE INDEX mitigation_requests_item ON mitigation_requests (item_id, requested_at);

-- The ledger: one row per POST, written before it is sent. A POST still 'sending' when its flusher is gone may
-- have reached the vendor: the next flusher looks its items up among the vendor's actions before posting any
-- of them again.
CREATE TABLE mitigation_posts (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection    text        NOT NULL,
    kind          text        NOT NULL,
    action_type   text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('sending', 'accepted', 'not_sent', 'rejected', 'resolved')),
    items         integer     NOT NULL,
    batch_id      text        NOT NULL DEFAULT '',
    trace_id      text        NOT NULL DEFAULT '',
    first_sent_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mitigation_posts_sending ON mitigation_posts (connection, kind) WHERE state = 'sending';

-- The flusher of each (connection, kind) keeps when it last read outcomes and how long it waits before the
-- next read, so a waiting step that takes the flush over polls no sooner than the one before it would have.
CREATE TABLE mitigation_flushers (
    connection   text        NOT NULL,
    kind         text        NOT NULL,
    last_poll_at timestamptz NOT NULL,
    poll_delay   bigint      NOT NULL, -- milliseconds
    PRIMARY KEY (connection, kind)
);
