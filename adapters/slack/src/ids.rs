//! The `action_id`s, `block_id`s and `callback_id`s that [`blocks`](crate::blocks) writes and
//! [`inbound`](crate::inbound) reads back. One list, so the two cannot drift apart.
//!
//! The contract (DESIGN §5) only promises that the Approve button's `action_id` contains `approve` and the Deny
//! button's contains `deny`; tests outside the repository find the buttons that way. So no other element's
//! `action_id` contains either word: the "Deny with reason…" button is [`DENY_WITH_REASON`] (`signoff_reason`).

/// The Approve button (`style: primary`); its `value` is the prompt's token.
pub const APPROVE: &str = "signoff_approve";
/// The Deny button (`style: danger`): denies at once, without a reason; its `value` is the prompt's token.
pub const DENY: &str = "signoff_deny";
/// The "Deny with reason…" button: opens [`DENY_MODAL`]; its `value` is the prompt's token.
pub const DENY_WITH_REASON: &str = "signoff_reason";
/// The "hand to someone else" `users_select`.
pub const ESCALATE: &str = "signoff_escalate";
/// The shorter-duration `static_select`: picking alone decides nothing; Approve reads it from the message state.
pub const DURATION: &str = "signoff_duration";

/// The actions block that holds the buttons.
pub const DECIDE_BLOCK: &str = "signoff_decide";
/// The section whose accessory is the duration select.
pub const DURATION_BLOCK: &str = "signoff_duration";
/// The section whose accessory is the escalate picker. A `users_select` has no `value`, so the prompt's token
/// rides in this block's id after a colon: `signoff_escalate:<token>`.
pub const ESCALATE_BLOCK: &str = "signoff_escalate";

/// The `callback_id` of the deny-reason modal; its `private_metadata` is the prompt's token.
pub const DENY_MODAL: &str = "signoff_deny_modal";
/// The modal's input block.
pub const REASON_BLOCK: &str = "signoff_reason_block";
/// The modal's text input.
pub const REASON_INPUT: &str = "signoff_reason_input";
