-- signoff's durable state (SQLite). Times are epoch milliseconds (BIGINT), JSON is TEXT, booleans are
-- INTEGER 0/1: the same shapes as the PostgreSQL schema, so one set of runtime queries serves both.

-- One row per request: what was asked, as accepted. `idempotency_key` is the client's `Idempotency-Key`
-- header: a create retried after a lost answer finds the request it already made instead of making two.
CREATE TABLE requests (
    id              TEXT PRIMARY KEY,
    requester       TEXT NOT NULL,
    resource        TEXT NOT NULL,
    body            TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    created_at      BIGINT NOT NULL
);
CREATE INDEX requests_by_requester ON requests (requester, created_at);
CREATE INDEX requests_by_time ON requests (created_at);

-- One row per item: the engine's state as JSON, and its status for queries.
CREATE TABLE items (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    beneficiary TEXT NOT NULL,
    resource    TEXT NOT NULL,
    role        TEXT,
    status      TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX items_by_request ON items (request_id);
CREATE INDEX items_by_status ON items (status);

-- Every accepted event, in order, so an item can be replayed and checked against its state.
CREATE TABLE item_events (
    item_id TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    event   TEXT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (item_id, seq)
);

-- One row per prompt; `token` is the opaque id chat buttons carry.
CREATE TABLE prompts (
    token       TEXT PRIMARY KEY,
    item_id     TEXT NOT NULL,
    prompt_id   BIGINT NOT NULL,
    request_id  TEXT NOT NULL,
    approver    TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (item_id, prompt_id)
);
CREATE INDEX prompts_by_approver ON prompts (approver, state);
CREATE INDEX prompts_by_request ON prompts (request_id);

-- Where each prompt landed on each chat platform, for updating it later.
CREATE TABLE prompt_messages (
    token    TEXT NOT NULL,
    platform TEXT NOT NULL,
    channel  TEXT NOT NULL,
    message  TEXT NOT NULL,
    PRIMARY KEY (token, platform)
);

-- Timers the engine scheduled; fired from an indexed due-time query.
CREATE TABLE timers (
    item_id     TEXT NOT NULL,
    timer_id    BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    PRIMARY KEY (item_id, timer_id)
);
CREATE INDEX timers_by_due ON timers (due_at);

-- Outgoing calls, written in the same transaction as the state change that caused them and delivered at
-- least once; `key` is the idempotency key (unique), also the webhook's delivery id. `token` and `platform`
-- tie prompt rows together, so closing a prompt can find (and supersede) its send.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    item_id     TEXT,
    token       TEXT,
    platform    TEXT,
    payload     TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    done_at     BIGINT,
    outcome     TEXT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX outbox_pending ON outbox (due_at) WHERE done_at IS NULL;
CREATE INDEX outbox_by_token ON outbox (token, platform) WHERE token IS NOT NULL;

-- Access given on approval.
CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    resource    TEXT NOT NULL,
    role        TEXT,
    granted_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    ended_at    BIGINT,
    end_reason  TEXT
);
CREATE INDEX grants_by_user ON grants (user_id);

-- The audit trail: append-only, each row hashing the previous row's hash and its own canonical content.
CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    request_id TEXT,
    item_id    TEXT,
    kind       TEXT NOT NULL,
    actor      TEXT,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_by_request ON audit (request_id, seq);

-- The chain's head: one row, locked by every writer of the audit trail, so replicas append in turn.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
