-- A request's view reads its grants by request id; without this index that read scanned every grant ever made,
-- so reading a request slowed down as grants accumulated.
CREATE INDEX grants_by_request ON grants (request_id);
