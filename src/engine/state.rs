//! An item's state: the tree of nodes started so far, the prompts sent, timers, decisions and outcome.
//!
//! It is plain data that serializes to JSON; the runtime stores it after each event. Ids (nodes, prompts,
//! timers) are small integers allocated in order, so replaying the same events gives the same state.

use serde::{Deserialize, Serialize};

use crate::directory::UserId;
use crate::policy::expr::{Expr, Fallback, SelfApproval};
use crate::time::{Duration, Timestamp};

/// Index of a node in [`Item::nodes`].
pub type NodeId = u32;
/// Index of a prompt in [`Item::prompts`].
pub type PromptId = u32;
/// Index of a timer in [`Item::timers`].
pub type TimerId = u32;

/// What one item is: one person's access to one resource and role, asked for by someone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSpec {
    /// The request this item belongs to (runtime-assigned id).
    pub request: String,
    /// This item's id (runtime-assigned).
    pub item: String,
    /// Who asked.
    pub requester: UserId,
    /// Who the access is for.
    pub beneficiary: UserId,
    /// The request's other beneficiaries, readable in rules as `users_requested_for[1..]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_beneficiaries: Vec<UserId>,
    /// The requested resource's id.
    pub resource: String,
    /// The requested role, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Why the requester needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// How long the access should last; `None` asks for no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

/// Where an item stands. The strings are the HTTP contract's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Waiting for approvers.
    Requested,
    /// Waiting, after a timeout or an approver handed it on.
    Escalated,
    /// Approved; access granted.
    Approved,
    /// Denied.
    Denied,
    /// Timed out with nobody left to escalate to.
    Expired,
    /// Withdrawn by the requester.
    Cancelled,
}

impl ItemStatus {
    /// Whether the item has its final outcome.
    pub fn is_settled(self) -> bool {
        !matches!(self, ItemStatus::Requested | ItemStatus::Escalated)
    }

    /// The contract's string.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Requested => "requested",
            ItemStatus::Escalated => "escalated",
            ItemStatus::Approved => "approved",
            ItemStatus::Denied => "denied",
            ItemStatus::Expired => "expired",
            ItemStatus::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Waiting.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Timed out with nobody left to ask.
    Expired,
    /// No longer needed: a node above it settled first.
    Closed,
}

impl NodeStatus {
    /// The status as one lower-case word, as audit details and the approval picture write it.
    pub fn word(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Approved => "approved",
            NodeStatus::Denied => "denied",
            NodeStatus::Expired => "expired",
            NodeStatus::Closed => "closed",
        }
    }

    /// Whether the node has its outcome.
    pub fn is_settled(self) -> bool {
        self != NodeStatus::Pending
    }

    /// Whether the node failed (denied or expired).
    pub fn is_failed(self) -> bool {
        matches!(self, NodeStatus::Denied | NodeStatus::Expired)
    }
}

/// Options a node passes down to the nodes below it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Inherited {
    /// Self-approval rule for leaves below.
    pub self_approval: SelfApproval,
    /// Fallback for leaves below that set none; `None` means the default (the requester's manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Whether approvers below may hand their decision on.
    pub allow_escalate: bool,
    /// Inside a fallback: the step that fell back and why. Leaves below without their own fallback get
    /// none, so fallbacks never loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_for: Option<String>,
    /// Whether an ancestor carries a timeout (then the configured default timeout does not apply below).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_above: bool,
    /// The parent is a parallel node with `distinct_approvers`: a leaf child does not approve itself; the
    /// parent decides which person counts for which child.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deferred: bool,
    /// A node above has `step_up: true`: decisions below come only from the web, after a strong sign-in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub step_up: bool,
}

/// Why a pass-through node exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "pass")]
pub enum PassKind {
    /// A `referenced_expression` (built-in or named workflow).
    Reference {
        /// The workflow's name.
        name: String,
    },
    /// A `condition_expression`: which clause held.
    Condition {
        /// Index of the clause that held, or `None` for the default.
        clause: Option<usize>,
        /// That clause's rule text, for plans and audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    /// A leaf had no available approver; its fallback runs in its place.
    Fallback {
        /// Why the leaf could not ask anyone.
        reason: String,
    },
}

/// What a node is made of, and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Body {
    /// Decided when it started (auto-approve, auto-deny, self-approval skip, no approver).
    Auto,
    /// Mirrors one child.
    Pass {
        /// Why.
        #[serde(flatten)]
        pass: PassKind,
        /// The child, once started.
        child: Option<NodeId>,
    },
    /// Children one after another.
    Sequential {
        /// Children started so far, in order.
        children: Vec<NodeId>,
        /// How many steps there are.
        total: u32,
    },
    /// Children all at once.
    Parallel {
        /// Children started.
        children: Vec<NodeId>,
        /// How many must approve.
        required: u32,
        /// Denials that end it; `None`: when the quorum can no longer be reached.
        to_deny: Option<u32>,
        /// One person counts once across the whole node.
        distinct: bool,
    },
    /// People to ask.
    Leaf {
        /// How many must approve.
        required: u32,
        /// Denials that end it; `None`: when the quorum can no longer be reached.
        to_deny: Option<u32>,
        /// One per person asked, in the order asked.
        slots: Vec<Slot>,
    },
}

/// One started node of the item's workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The node above, `None` for the root.
    pub parent: Option<NodeId>,
    /// The expression this node runs (its children's expressions are inside it).
    pub expr: Expr,
    /// A short human name: `manager of Ana Diaz`, `APP_ADMIN`, `members of IT Security`.
    pub label: String,
    /// Where it stands.
    pub status: NodeStatus,
    /// What it is made of.
    pub body: Body,
    /// Options passed down to nodes below.
    pub inherited: Inherited,
    /// When it started.
    pub started_at: Timestamp,
    /// When it settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<Timestamp>,
    /// Why it is what it is, for plans and the audit trail: the clause that held, the fallback used,
    /// candidates left out and why, an automatic decision's justification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why it settled, in words ("approved by Kim Lee", "no approver available for manager of Ana Diaz");
    /// the item's outcome reason is its root's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whose decision settled it, if a person's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<UserId>,
}

impl Node {
    /// Whether decisions on this node need the web's step-up sign-in (its own `step_up`, or an ancestor's).
    pub fn needs_step_up(&self) -> bool {
        self.expr.options.step_up.unwrap_or(self.inherited.step_up)
    }
}

/// The channel of decisions taken on the web pages: the only one allowed on `step_up` nodes.
pub const WEB_CHANNEL: &str = "web";

/// One person's place in a leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Who.
    pub person: UserId,
    /// Their answer so far.
    pub state: SlotState,
    /// The prompt that asks them.
    pub prompt: PromptId,
    /// The person they replaced, when this slot came from an escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<UserId>,
}

/// A slot's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Not answered.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Handed on to someone else (timeout or the approver's choice).
    Escalated,
    /// Timed out with nobody above to escalate to.
    Exhausted,
    /// No longer needed: the node settled without this answer.
    Closed,
    /// The person can no longer be asked (deactivated, removed, out of office): this answer will not come, and
    /// someone else may have been asked in their place.
    Unavailable,
}

/// How a person answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Approved, possibly for less time than asked.
    Approve {
        /// The duration the approver chose, if shorter than asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<Duration>,
    },
    /// Denied.
    Deny,
    /// Handed to another person.
    Escalate {
        /// The person chosen.
        to: UserId,
    },
}

impl Verdict {
    /// A past-tense word for messages: `approved`, `denied`, `escalated`.
    pub fn past_tense(&self) -> &'static str {
        match self {
            Verdict::Approve { .. } => "approved",
            Verdict::Deny => "denied",
            Verdict::Escalate { .. } => "escalated",
        }
    }
}

/// Why a prompt was taken away without its approver answering it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "why")]
pub enum DismissReason {
    /// The step was decided without this answer (a quorum was met, or the step failed).
    Settled {
        /// How the step ended.
        outcome: NodeStatus,
        /// Whose decision settled it, if a person's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<UserId>,
    },
    /// The item ended elsewhere (another branch decided it).
    ItemSettled {
        /// The item's outcome.
        outcome: ItemStatus,
        /// Whose decision settled it, if a person's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<UserId>,
    },
    /// Nobody answered in time; the ask moved up the manager chain (or to nobody).
    Escalated {
        /// The new approver, if any was left.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
        /// How long it waited.
        after: Duration,
    },
    /// The step timed out and was rejected.
    TimedOut {
        /// How long it waited.
        after: Duration,
    },
    /// The requester withdrew the request.
    Cancelled {
        /// Who cancelled.
        by: UserId,
    },
    /// The approver can no longer be asked (deactivated, removed, out of office); their part was asked again.
    Unavailable {
        /// Why, in words.
        reason: String,
    },
}

/// Where a prompt stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum PromptState {
    /// Waiting for its approver.
    Pending,
    /// Its approver answered.
    Answered {
        /// How.
        #[serde(flatten)]
        verdict: Verdict,
        /// When.
        at: Timestamp,
    },
    /// Taken away.
    Dismissed {
        /// Why.
        #[serde(flatten)]
        reason: DismissReason,
        /// When.
        at: Timestamp,
    },
}

/// One ask to one approver. On chat it becomes one message per platform the person is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// Its id within the item.
    pub id: PromptId,
    /// Who is asked.
    pub approver: UserId,
    /// The leaf slots this prompt answers: a person asked by several sibling sources gets one prompt,
    /// and their one answer counts for each (the review-flows seed).
    pub links: Vec<(NodeId, u32)>,
    /// Where it stands.
    pub state: PromptState,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// How many reminders were sent.
    #[serde(default)]
    pub reminders: u32,
    /// When the last reminder was sent: a prompt is reminded at most once per interval, however many reminder
    /// schedules (its own node's, an ancestor's, a timeout's) reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reminded: Option<Timestamp>,
}

impl Prompt {
    /// Whether it still waits for an answer.
    pub fn is_pending(&self) -> bool {
        self.state == PromptState::Pending
    }
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// The node's `timeout` passed.
    Timeout,
    /// Remind the node's silent approvers.
    Remind,
    /// The grant ends.
    GrantExpiry,
}

/// A timer the runtime must fire at `due` (as a [`crate::engine::Event::TimerFired`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Its id within the item.
    pub id: TimerId,
    /// The node it watches (none for grant expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    /// What it does.
    pub kind: TimerKind,
    /// When it fires.
    pub due: Timestamp,
    /// Cancelled timers stay in the list (ids never move) but do nothing when they fire.
    pub active: bool,
}

/// A decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The prompt answered.
    pub prompt: PromptId,
    /// Who answered.
    pub by: UserId,
    /// How.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Optional words from the approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Where the answer came from: `slack`, `discord`, `api`, `web`.
    pub channel: String,
    /// When.
    pub at: Timestamp,
}

/// The item's final outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Approved, denied, expired or cancelled.
    pub status: ItemStatus,
    /// In words, for people: "approved by Kim Lee", "no approver available for manager of Ana Diaz".
    pub reason: String,
    /// Whose decision settled it, if a person's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<UserId>,
    /// When.
    pub at: Timestamp,
}

/// Why a grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantEnd {
    /// Its time ran out.
    Expired,
    /// Taken away by an administrator.
    Revoked,
    /// Given back early by its holder ("removed after use").
    Released,
}

impl GrantEnd {
    /// The word used in messages and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantEnd::Expired => "expired",
            GrantEnd::Revoked => "revoked",
            GrantEnd::Released => "released",
        }
    }
}

/// Access given on approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// When it began.
    pub granted_at: Timestamp,
    /// When it ends; `None` never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// How long it lasts, as decided (shortest of every limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// How and when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<(GrantEnd, Timestamp)>,
}

/// One item's whole state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// What is asked.
    pub spec: ItemSpec,
    /// The workflow's name (`None` when written inline on the resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// Why that workflow applies.
    pub workflow_reason: String,
    /// Where the item stands.
    pub status: ItemStatus,
    /// When it started.
    pub created_at: Timestamp,
    /// Every node started, the root first.
    pub nodes: Vec<Node>,
    /// Every prompt sent.
    pub prompts: Vec<Prompt>,
    /// Every timer set.
    pub timers: Vec<Timer>,
    /// Every decision taken.
    pub decisions: Vec<DecisionRecord>,
    /// The final outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The access given, if approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
    /// How many events were applied (each accepted event adds one).
    pub events_applied: u64,
}

impl Item {
    /// The prompt still waiting for `person`, if any.
    pub fn pending_prompt_of(&self, person: &str) -> Option<&Prompt> {
        self.prompts.iter().find(|p| p.is_pending() && p.approver == person)
    }

    /// The most recent prompt addressed to `person`, whatever its state.
    pub fn latest_prompt_of(&self, person: &str) -> Option<&Prompt> {
        self.prompts.iter().rev().find(|p| p.approver == person)
    }

    /// Every prompt still waiting.
    pub fn pending_prompts(&self) -> impl Iterator<Item = &Prompt> {
        self.prompts.iter().filter(|p| p.is_pending())
    }

    /// Active timers, for the runtime to (re)arm after a restart.
    pub fn active_timers(&self) -> impl Iterator<Item = &Timer> {
        self.timers.iter().filter(|t| t.active)
    }

    /// The root node.
    pub fn root(&self) -> Option<&Node> {
        self.nodes.first()
    }

    /// A node by id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The ids of a node's started children, in order.
    pub fn children_of(&self, id: NodeId) -> Vec<NodeId> {
        match &self.node(id).body {
            Body::Pass { child, .. } => child.iter().copied().collect(),
            Body::Sequential { children, .. } | Body::Parallel { children, .. } => children.clone(),
            Body::Auto | Body::Leaf { .. } => Vec::new(),
        }
    }
}
