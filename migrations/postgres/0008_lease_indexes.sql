-- Claims are renewed every few seconds (`src/runtime/leases.rs`): by owner, over the few rows claimed at any time.
-- Without these indexes each renewal would read every outbox row kept (delivered rows stay a week) and every timer.
CREATE INDEX outbox_leased ON outbox (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX timers_leased ON timers (lease_owner) WHERE lease_owner IS NOT NULL;
