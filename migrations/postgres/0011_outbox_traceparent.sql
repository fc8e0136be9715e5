-- The W3C `traceparent` of the commit that wrote an outbox row, when traces are exported (`[telemetry]
-- otlp_endpoint`): its delivery, on whichever replica and however many retries later, joins the same trace.
-- NULL when traces are not exported.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
