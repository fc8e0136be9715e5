-- At start, SQLite frees the leases a dead process left on timers (one process owns the file). Without an
-- index that meant reading every timer: 196 ms of a 334 ms start with a million pending items (BENCHMARKS.md).
-- Only leased timers are in this index, a handful at any time.
CREATE INDEX timers_leased ON timers (lease_owner) WHERE lease_owner IS NOT NULL;
