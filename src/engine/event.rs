//! What can happen to an item (events), what the engine asks the world to do in return (effects), and why
//! it may refuse an event (refusals).

use serde::{Deserialize, Serialize};

use super::state::{DismissReason, GrantEnd, ItemStatus, NodeId, PromptId, TimerId, Verdict};
use crate::directory::UserId;
use crate::time::{Duration, Timestamp};

/// A decision an approver takes on a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Decision {
    /// Approve, optionally for less time than asked.
    Approve {
        /// The shorter duration chosen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<Duration>,
        /// Optional words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// Deny.
    Deny {
        /// Optional reason, told to the requester.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// Hand the decision to a chosen person (the supervisor-escalation seed).
    Escalate {
        /// Who decides instead.
        to: UserId,
        /// Optional words for them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
}

impl Decision {
    /// The verdict part, as recorded.
    pub fn verdict(&self) -> Verdict {
        match self {
            Decision::Approve { duration, .. } => Verdict::Approve { duration: *duration },
            Decision::Deny { .. } => Verdict::Deny,
            Decision::Escalate { to, .. } => Verdict::Escalate { to: to.clone() },
        }
    }

    /// The comment, whichever the verdict.
    pub fn comment(&self) -> Option<&str> {
        match self {
            Decision::Approve { comment, .. } | Decision::Deny { comment } | Decision::Escalate { comment, .. } => {
                comment.as_deref()
            }
        }
    }
}

/// Something that happened to an item. Every event carries its time: the engine reads no clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// An approver answered a prompt.
    Decide {
        /// The prompt answered.
        prompt: PromptId,
        /// Who clicked (checked against the prompt's approver).
        by: UserId,
        /// What they decided.
        decision: Decision,
        /// Where: `slack`, `discord`, `api`, `web`.
        channel: String,
        /// When.
        at: Timestamp,
    },
    /// A timer the engine scheduled is due.
    TimerFired {
        /// Which.
        timer: TimerId,
        /// When it fired (at or after its due time).
        at: Timestamp,
    },
    /// The requester withdraws the item.
    Cancel {
        /// Who asks to cancel (must be the requester).
        by: UserId,
        /// Optional words.
        reason: Option<String>,
        /// When.
        at: Timestamp,
    },
    /// A person asked on this item can no longer be asked: deactivated or removed in the identity provider, or
    /// gone out of office (DESIGN 7.5). Their pending prompts are dismissed and their part is asked again.
    Unavailable {
        /// Who.
        user: UserId,
        /// Why, in words (`deactivated`, `out of office until ...`): the dismissal and the audit say it.
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// The grant ends before its time: released by its holder or revoked.
    EndGrant {
        /// Who ends it.
        by: UserId,
        /// Released (after use) or revoked.
        how: GrantEnd,
        /// When.
        at: Timestamp,
    },
}

impl Event {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Decide { at, .. }
            | Event::TimerFired { at, .. }
            | Event::Cancel { at, .. }
            | Event::Unavailable { at, .. }
            | Event::EndGrant { at, .. } => *at,
        }
    }
}

/// Where a prompt's step sits, for the approver's message ("step 1 of 2: APP_ADMIN", "1 of 3 needed").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptContext {
    /// The leaf's label: `manager of Ana Diaz`, `members of IT Security`.
    pub label: String,
    /// Approvals this step needs.
    pub required: u32,
    /// People asked in this step.
    pub asked: u32,
    /// Position in the nearest sequence: (step number from 1, number of steps, the step's label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<(u32, u32, String)>,
    /// Who this approver replaces, and why ("no answer within 48h", "handed on by Kim").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<(UserId, String)>,
    /// Set when this ask is a fallback: why the original approvers could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_for: Option<String>,
    /// Whether the approver may hand the decision on.
    pub allow_escalate: bool,
    /// The longest duration this approver may grant (the shortest of the item's request and the limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
    /// The step is `step_up`: the prompt links to the web page instead of offering Approve (DESIGN 7.6).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub step_up: bool,
}

/// Something a person is told that is not a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "notice")]
pub enum Notice {
    /// The item reached its outcome.
    Outcome {
        /// The outcome.
        status: ItemStatus,
        /// In words.
        reason: String,
        /// When access ends, if approved with a limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<Timestamp>,
    },
    /// An approver was replaced.
    Escalated {
        /// The silent (or handing-on) approver.
        from: UserId,
        /// The new approver; `None` when nobody was left.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
        /// Why: "no answer within 48h" or "handed on by Kim".
        reason: String,
    },
    /// A reminder of a pending prompt.
    Reminder {
        /// The prompt.
        prompt: PromptId,
        /// How long it has waited.
        waiting: Duration,
    },
    /// The person is asked because the original approvers could not be.
    FallbackAssigned {
        /// The step that fell back.
        step: String,
        /// Why.
        reason: String,
    },
    /// Nobody could be asked for a step; told to the requester and the resource's admins.
    NoApprover {
        /// The step.
        step: String,
    },
    /// The person's access ended.
    GrantEnded {
        /// How.
        how: GrantEnd,
    },
}

/// The provisioning webhook's `event` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// Access was granted.
    #[serde(rename = "grant.created")]
    GrantCreated,
    /// Access ended.
    #[serde(rename = "grant.ended")]
    GrantEnded,
    /// The item was denied (or expired).
    #[serde(rename = "item.denied")]
    ItemDenied,
}

impl WebhookEvent {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::GrantCreated => "grant.created",
            WebhookEvent::GrantEnded => "grant.ended",
            WebhookEvent::ItemDenied => "item.denied",
        }
    }
}

/// What the engine asks the world to do. The runtime performs effects after it has stored the new state,
/// through an outbox, so each happens at least once and, with its idempotency key, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    /// Ask `to` to decide.
    SendPrompt {
        /// The prompt.
        prompt: PromptId,
        /// The approver.
        to: UserId,
        /// Where the step stands.
        context: PromptContext,
    },
    /// The approver answered: show the answer on the prompt and take its buttons away.
    PromptAnswered {
        /// The prompt.
        prompt: PromptId,
        /// The approver.
        to: UserId,
        /// Their answer.
        verdict: Verdict,
    },
    /// Take a prompt's buttons away and say why.
    DismissPrompt {
        /// The prompt.
        prompt: PromptId,
        /// The approver it was addressed to.
        to: UserId,
        /// Why.
        reason: DismissReason,
    },
    /// Tell someone something.
    Notify {
        /// Who.
        to: UserId,
        /// What.
        notice: Notice,
    },
    /// Fire [`Event::TimerFired`] for `timer` at `due`.
    ScheduleTimer {
        /// The timer.
        timer: TimerId,
        /// When.
        due: Timestamp,
    },
    /// Forget a timer.
    CancelTimer {
        /// The timer.
        timer: TimerId,
    },
    /// Give access.
    Grant {
        /// The beneficiary.
        user: UserId,
        /// When it ends; `None` never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<Timestamp>,
    },
    /// End access.
    EndGrant {
        /// The holder.
        user: UserId,
        /// Why.
        how: GrantEnd,
    },
    /// Call the provisioning webhook.
    Webhook {
        /// Which event.
        event: WebhookEvent,
        /// When access ends, for `grant.created`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<Timestamp>,
    },
    /// The item reached its outcome.
    Settled {
        /// The outcome.
        status: ItemStatus,
        /// In words.
        reason: String,
    },
    /// Something worth a line in the audit trail that no other effect records: the plan, a fallback, a
    /// skipped self-approval, a condition that held.
    Audit {
        /// What happened.
        what: String,
        /// The node concerned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
    },
}

/// Why the engine refused an event. The state is unchanged when an event is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "refusal")]
pub enum Refusal {
    /// No prompt with this id in this item.
    #[error("unknown prompt {prompt}")]
    UnknownPrompt {
        /// The id given.
        prompt: PromptId,
    },
    /// Nobody by this id is waited for on this item: nothing to re-ask.
    #[error("{user} has no pending prompt on this item")]
    NothingPending {
        /// The person named.
        user: UserId,
    },
    /// Someone other than the prompt's approver tried to answer it.
    #[error("this prompt is addressed to {approver}, not to {by}")]
    NotTheApprover {
        /// The prompt's approver.
        approver: UserId,
        /// Who tried.
        by: UserId,
    },
    /// The prompt was already answered or dismissed.
    #[error("already settled: {how} at {at}")]
    AlreadySettled {
        /// In words: "approved by Kim Lee", "dismissed: approved by Sam".
        how: String,
        /// Whose action settled it, if a person's.
        by: Option<UserId>,
        /// When.
        at: Timestamp,
    },
    /// The item already has its outcome.
    #[error("the item is already {status}")]
    ItemSettled {
        /// Its outcome.
        status: ItemStatus,
        /// Who settled it, if a person.
        by: Option<UserId>,
        /// When.
        at: Timestamp,
    },
    /// Escalation is turned off for this step.
    #[error("this step does not allow handing the decision on")]
    EscalationNotAllowed,
    /// The person chosen cannot take the decision.
    #[error("cannot hand the decision to {to}: {why}")]
    BadEscalationTarget {
        /// Who was chosen.
        to: UserId,
        /// Why not.
        why: String,
    },
    /// The approver chose a longer duration than allowed.
    #[error("cannot approve for {asked}: at most {max} may be granted here")]
    DurationTooLong {
        /// What they chose.
        asked: Duration,
        /// The limit.
        max: Duration,
    },
    /// A zero duration.
    #[error("an approval cannot last zero time")]
    ZeroDuration,
    /// Only the requester may cancel.
    #[error("only the requester ({requester}) may cancel this request")]
    NotTheRequester {
        /// The requester.
        requester: UserId,
    },
    /// No grant to end.
    #[error("there is no active grant to end")]
    NoActiveGrant,
    /// The step is `step_up`, and the decision did not come from the web page after a strong sign-in.
    #[error(
        "this step needs a fresh sign-in with a second factor: decide it on signoff's web page, not from {channel}"
    )]
    StepUpRequired {
        /// Where the decision came from.
        channel: String,
    },
}

/// What [`super::start`] returns.
#[derive(Debug, Clone)]
pub struct Started {
    /// The item's first state.
    pub item: super::state::Item,
    /// What to do.
    pub effects: Vec<Effect>,
}
