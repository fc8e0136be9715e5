-- Trust (DESIGN 7.2 and 7.3): replayed chat callbacks, signed audit checkpoints, and the catalogs items ran under.

-- Every genuine chat interaction has its own id (Slack's trigger_id, Discord's interaction id). A decision that a
-- callback caused stores the id here in the same transaction, so the same signed callback replayed inside the
-- platforms' 5-minute window, to any replica, finds it and changes nothing. Rows are purged after `expires_at`,
-- by which time the platform's timestamp window refuses the callback anyway.
CREATE TABLE callbacks (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX callbacks_by_expiry ON callbacks (expires_at);

-- A signed checkpoint of the audit chain's head, written in the same transaction as the rows it covers when
-- `[audit] signing_key` is set. `signature` is base64 of the Ed25519 signature over
-- `signoff-audit-checkpoint:v1:{seq}:{hash}`; `key_id` names the key (first 16 hex digits of SHA-256 over the
-- public key), so checkpoints made before a key rotation can be told apart.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL,
    at        BIGINT NOT NULL
);

-- The directory and policies an item was started or changed under, content-addressed: `id` is the SHA-256 of
-- `source`, and audit rows name the id, so `signoff audit verify` can replay every item through the engine with
-- the catalog it really ran under, and an edited snapshot no longer matches its id.
CREATE TABLE catalogs (
    id         TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- `signoff audit verify` replays every item from the audit rows that start or change one, read a range of request
-- ids at a time. `audit_by_request` would make it read every row of those requests (prompts, outcomes, deliveries)
-- to keep a third of them; this partial index holds only those (about two rows per item). The IN list is the one
-- the query names (`audit::replay::REPLAYED_KINDS`), so that SQLite sees that the index covers the query.
CREATE INDEX audit_replay ON audit (request_id, seq) WHERE kind IN ('requested', 'decision', 'timer', 'cancel', 'grant.end');
