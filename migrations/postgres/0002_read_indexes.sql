-- Indexes for reads that slowed down as the database grew (measured with 1,000,000 items; BENCHMARKS.md).

-- A request's view reads its grants by request id; without this index that read scanned every grant ever made.
CREATE INDEX grants_by_request ON grants (request_id);

-- Listing requests by state checks each request's items for that state. With only (request_id) and (status)
-- indexes, SQLite answered the check from the status index, walking every item in that state once per request
-- listed: 24 s for `?state=requested&limit=50` over a million pending items. (request_id, status) answers it
-- from one index entry and also serves every lookup by request id, so it replaces items_by_request.
CREATE INDEX items_by_request_status ON items (request_id, status);
DROP INDEX items_by_request;

-- Listing an approver's requests walks their prompts newest request first.
CREATE INDEX prompts_by_approver_request ON prompts (approver, request_id);
