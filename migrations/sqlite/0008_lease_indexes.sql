-- Claims are renewed every few seconds (`src/runtime/leases.rs`): by owner, over the few rows claimed at any time.
-- Without this index the renewal read every outbox row kept (delivered rows stay a week), on the one writer
-- connection the committer needs. (The timers' one exists since 0003.)
CREATE INDEX outbox_leased ON outbox (lease_owner) WHERE lease_owner IS NOT NULL;
