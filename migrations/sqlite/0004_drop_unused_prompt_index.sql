-- `prompts_by_approver (approver, state)` serves no query: every read by approver also names the request and is
-- answered by `prompts_by_approver_request` (0002). Keeping it cost a write on every prompt created and every
-- prompt answered or dismissed (a change of `state` must move the prompt's entry in it), in the same commit as
-- the decision.
DROP INDEX prompts_by_approver;
