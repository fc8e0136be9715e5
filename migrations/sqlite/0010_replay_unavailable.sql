-- Items now also change when an approver becomes unavailable (DESIGN 7.5: an `unavailable` audit row, replayed by
-- `signoff audit verify`). The partial index of replayed rows names the kinds the query names
-- (`audit::replay::REPLAYED_KINDS`), so it is rebuilt with the new one.
DROP INDEX audit_replay;
CREATE INDEX audit_replay ON audit (request_id, seq)
    WHERE kind IN ('requested', 'decision', 'timer', 'cancel', 'grant.end', 'unavailable');
