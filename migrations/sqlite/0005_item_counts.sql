-- Items by status, kept by the committer in the same transaction as the items themselves, so that `/metrics`
-- reads six rows instead of counting every item ever requested at each scrape (76 ms with a million items, and
-- growing with history; BENCHMARKS.md). `items_by_status` served only that count; dropping it also spares every
-- decision that changes an item's status one more index write.
CREATE TABLE item_counts (
    status TEXT PRIMARY KEY,
    n      BIGINT NOT NULL
);
INSERT INTO item_counts (status, n) SELECT status, COUNT(*) FROM items GROUP BY status;
DROP INDEX items_by_status;
