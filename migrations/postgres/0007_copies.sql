-- A prompt is live exactly while its question is open (DESIGN 7.4).

-- Attempts of a delivery known to have delivered nothing (the platform refused them with a rate limit before
-- acting). An attempt beyond these may have delivered (a timeout, a 5xx, a replica that died mid-call): before the
-- row is sent again, signoff looks on the platform for the copy that attempt may have left.
ALTER TABLE outbox ADD COLUMN sure_failures BIGINT NOT NULL DEFAULT 0;

-- Whether the send that stored this message had an attempt in doubt before it: more copies of the prompt may
-- exist, and closing it looks for every one.
ALTER TABLE prompt_messages ADD COLUMN doubtful INTEGER NOT NULL DEFAULT 0;
