-- The mitigation ledger: one row per batch (chunk) a cecp.mitigate_mails / mitigate_accounts step posts,
-- written before the POST. A retried step reads it to post nothing twice: accepted chunks are skipped, and a
-- chunk whose POST may have reached the vendor (uncertain) is looked up in the vendor's recent actions first.
CREATE TABLE mitigation_chunks (
    run_id        text        NOT NULL,
    step_id       text        NOT NULL,
    chunk         integer     NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('mails', 'accounts')),
    connection    text        NOT NULL,
    action_type   text        NOT NULL,
    -- The identities of the chunk's items (mailbox|unique id|message id, or the account), in order.
    item_keys     jsonb       NOT NULL,
    state         text        NOT NULL CHECK (state IN ('sending', 'accepted', 'not_sent')),
    -- A POST of this chunk may have reached the vendor without its batch id being recorded.
    uncertain     boolean     NOT NULL DEFAULT false,
    first_sent_at timestamptz,
    batch_ids     jsonb       NOT NULL DEFAULT '[]',
    sends         integer     NOT NULL DEFAULT 0,
    -- The audit row of the accepted POST is written (a retry writes it when the attempt that posted could not).
    audited       boolean     NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step_id, chunk)
);

-- One attempt of a mitigation step posts at a time: an attempt takes the step's lease before posting and renews
-- it before each batch; a lease whose holder died expires. (A worker cut off from Temporal may still be running
-- an attempt that Temporal has timed out and retried elsewhere.)
CREATE TABLE mitigation_leases (
    run_id     text        NOT NULL,
    step_id    text        NOT NULL,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
