//! The policy expression tree: who must approve, in what combination, with which options.
//!
//! It mirrors the approvals-engine seed's JSON one to one (plus signoff's additions), and serializes back to
//! the same shape, so an item's stored snapshot of its workflow reads like the policy that produced it.

use serde::{Deserialize, Serialize};

use crate::diag::Location;
use crate::policy::rule::Rule;
use crate::time::Duration;

/// One node of a workflow: what it asks for, and the options that tune it.
///
/// Equality ignores `loc`: two expressions that ask the same thing are equal wherever they were written
/// (and an item's stored snapshot, which does not keep positions, equals the one it was started with).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expr {
    /// What the node asks for.
    #[serde(flatten)]
    pub kind: ExprKind,
    /// Options written beside the node's fields (`timeout`, `fallback`, ...).
    #[serde(default, skip_serializing_if = "Options::is_empty")]
    pub options: Options,
    /// Where the node was written, for errors found after parsing (unknown user, reference cycle).
    #[serde(skip)]
    pub loc: Option<Location>,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.options == other.options
    }
}

impl Expr {
    /// A node with no options and no location (built-ins and tests).
    pub fn new(kind: ExprKind) -> Self {
        Expr { kind, options: Options::default(), loc: None }
    }

    /// The expression name as written in policy files, e.g. `manager_expression`.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The direct sub-expressions (children, clause bodies, default, fallback), for walks over the tree.
    pub fn children(&self) -> Vec<&Expr> {
        let mut out: Vec<&Expr> = match &self.kind {
            ExprKind::Sequential { expressions } | ExprKind::Parallel { expressions, .. } => {
                expressions.iter().collect()
            }
            ExprKind::Condition { clauses, default } => {
                let mut v: Vec<&Expr> = clauses.iter().map(|c| &c.expression).collect();
                if let Some(d) = default {
                    v.push(d);
                }
                v
            }
            ExprKind::Reference { body: Some(b), .. } => vec![b],
            _ => Vec::new(),
        };
        if let Some(Fallback::Expr(f)) = &self.options.fallback {
            out.push(f);
        }
        out
    }
}

/// Whose manager a manager expression means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ManagerOf {
    /// The person the access is for (the seed's "user's direct manager").
    #[default]
    Beneficiary,
    /// The person who asked.
    Requester,
    /// The nearest manager up the requester's chain who can be asked now: the default fallback, so an
    /// out-of-office manager does not leave a request with nobody to ask.
    RequesterChain,
}

impl ManagerOf {
    fn is_default(&self) -> bool {
        *self == ManagerOf::Beneficiary
    }
}

/// Which members of a group may approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupRole {
    /// Any member.
    #[default]
    Member,
    /// Only owners.
    Owner,
}

/// Where a permission is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PermissionScope {
    /// On the requested resource and its ancestors first, then globally (the review-flows seed's domain
    /// permission falls back to the global one).
    #[default]
    Any,
    /// Only directory-wide permissions (`permissions:` on users).
    Global,
    /// Only `permissions:` on the requested resource and its ancestors.
    Resource,
}

/// A group named by a policy: `{external_id, integration_id}` as in the seed, or just an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group's id or external id in the directory.
    pub external_id: String,
    /// The identity system it lives in; when given it must match the directory file's `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
}

/// One `if` of a condition: the first clause whose rule holds is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clause {
    /// The `rule_v2` condition.
    pub condition: Condition,
    /// What applies when it holds.
    pub expression: Expr,
}

/// The seed's `{"rule_v2": "..."}` wrapper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The compiled rule; serialized as its source text.
    #[serde(with = "rule_text")]
    pub rule_v2: Rule,
}

mod rule_text {
    use super::Rule;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(rule: &Rule, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(rule.source())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let text = String::deserialize(d)?;
        Rule::parse(&text).map_err(|e| serde::de::Error::custom(format!("rule_v2 `{text}`: {e}")))
    }
}

/// What a node asks for. Variant names serialize as the policy language's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExprKind {
    /// Approved at once, optionally for a limited time and with a recorded reason (the review-flows seed).
    #[serde(rename = "auto_approve_expression")]
    AutoApprove {
        /// Why no one needs to approve; recorded in the audit trail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        justification: Option<String>,
        /// How long access lasts when approved this way.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<Duration>,
    },
    /// Denied at once.
    #[serde(rename = "auto_deny_expression")]
    AutoDeny {
        /// Told to the requester.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// One named person.
    #[serde(rename = "user_constant_expression")]
    UserConstant {
        /// The approver's user id (resolved from id or email at load).
        user: String,
    },
    /// A manager: the beneficiary's by default.
    #[serde(rename = "manager_expression")]
    Manager {
        /// Whose manager.
        #[serde(default, skip_serializing_if = "ManagerOf::is_default")]
        of: ManagerOf,
    },
    /// The manager's manager (`levels: 2`), or further up.
    #[serde(rename = "skip_level_manager_expression")]
    SkipLevelManager {
        /// How many levels up: 1 is the manager, 2 the skip-level manager.
        levels: u32,
        /// Whose chain.
        #[serde(default, skip_serializing_if = "ManagerOf::is_default")]
        of: ManagerOf,
    },
    /// The requested resource's administrators (any one of them).
    #[serde(rename = "app_admin_expression")]
    AppAdmin {
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
    },
    /// Owners of the requested group (any one of them).
    #[serde(rename = "group_owner_expression")]
    GroupOwner {
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
    },
    /// Managers of the requested distribution list (any one of them).
    #[serde(rename = "group_manager_expression")]
    GroupManager {
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
    },
    /// Another named workflow, built-in or from the policy files.
    #[serde(rename = "referenced_expression")]
    Reference {
        /// The workflow's name.
        name: String,
        /// The named workflow's expression, filled in when an item starts so that the item keeps the
        /// policy it started with even if the files change later. Never written in policy files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Box<Expr>>,
    },
    /// Children one after another; the next starts when the previous approved.
    #[serde(rename = "sequential_expression")]
    Sequential {
        /// The steps, in order.
        expressions: Vec<Expr>,
    },
    /// Children all at once; approved when `number_required` of them approved.
    #[serde(rename = "parallel_expression")]
    Parallel {
        /// The branches.
        expressions: Vec<Expr>,
        /// How many branches must approve; all of them when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        number_required: Option<u32>,
    },
    /// The first clause whose rule holds, else the default.
    #[serde(rename = "condition_expression")]
    Condition {
        /// Tried in order.
        clauses: Vec<Clause>,
        /// Taken when no clause holds; a denial when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<Box<Expr>>,
    },
    /// Members (or owners) of a group; `number_required` of them.
    #[serde(rename = "parallel_group_expression")]
    ParallelGroup {
        /// The group.
        group: GroupRef,
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
        /// Members or owners.
        #[serde(default)]
        role: GroupRole,
    },
    /// A fixed list of people; `number_required` of them (the staged-workflows seed's user list).
    #[serde(rename = "user_list_expression")]
    UserList {
        /// Approver ids.
        users: Vec<String>,
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
    },
    /// Everyone whose grade lies in `min..=max` (the staged-workflows seed's grade stage).
    #[serde(rename = "grade_range_expression")]
    GradeRange {
        /// Lowest grade, inclusive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        /// Highest grade, inclusive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
    },
    /// People whose custom attribute has a value (the review-flows seed's attribute stewards).
    #[serde(rename = "attribute_expression")]
    Attribute {
        /// The custom attribute's key.
        attribute: String,
        /// The value it must have (or contain, for list attributes).
        value: String,
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
    },
    /// Holders of a permission, global or on the requested resource (the approval-rounds seed's Helpdesk,
    /// Usermanager and Security rounds; the review-flows seed's permission stewards).
    #[serde(rename = "permission_expression")]
    Permission {
        /// The permission's name.
        permission: String,
        /// Where to look.
        #[serde(default)]
        scope: PermissionScope,
        /// How many must approve.
        #[serde(default = "one")]
        number_required: u32,
    },
}

fn one() -> u32 {
    1
}

impl ExprKind {
    /// The expression name as written in policy files.
    pub fn name(&self) -> &'static str {
        match self {
            ExprKind::AutoApprove { .. } => "auto_approve_expression",
            ExprKind::AutoDeny { .. } => "auto_deny_expression",
            ExprKind::UserConstant { .. } => "user_constant_expression",
            ExprKind::Manager { .. } => "manager_expression",
            ExprKind::SkipLevelManager { .. } => "skip_level_manager_expression",
            ExprKind::AppAdmin { .. } => "app_admin_expression",
            ExprKind::GroupOwner { .. } => "group_owner_expression",
            ExprKind::GroupManager { .. } => "group_manager_expression",
            ExprKind::Reference { .. } => "referenced_expression",
            ExprKind::Sequential { .. } => "sequential_expression",
            ExprKind::Parallel { .. } => "parallel_expression",
            ExprKind::Condition { .. } => "condition_expression",
            ExprKind::ParallelGroup { .. } => "parallel_group_expression",
            ExprKind::UserList { .. } => "user_list_expression",
            ExprKind::GradeRange { .. } => "grade_range_expression",
            ExprKind::Attribute { .. } => "attribute_expression",
            ExprKind::Permission { .. } => "permission_expression",
        }
    }

    /// Whether this node names people to ask (as opposed to combining other nodes or deciding alone).
    pub fn is_leaf(&self) -> bool {
        !matches!(
            self,
            ExprKind::AutoApprove { .. }
                | ExprKind::AutoDeny { .. }
                | ExprKind::Reference { .. }
                | ExprKind::Sequential { .. }
                | ExprKind::Parallel { .. }
                | ExprKind::Condition { .. }
        )
    }
}

/// What happens when a node's `timeout` passes with no decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Ask each silent approver's manager instead, and on up the chain; nobody left: the item expires.
    #[default]
    Escalate,
    /// Deny the node.
    Reject,
    /// Remind the silent approvers and keep waiting.
    Remind,
}

/// Whether the requester may approve their own request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SelfApproval {
    /// The requester (and the beneficiary) are never candidates.
    #[default]
    Exclude,
    /// When the requester is a candidate the node counts as approved (the approval-rounds seed's
    /// automatic skipping).
    Skip,
    /// The requester may approve like anyone else.
    Allow,
}

/// What to do when a node has no available approver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fallback {
    /// `fallback: none`: deny with "no approver available".
    None(NoFallback),
    /// Ask this expression instead.
    Expr(Box<Expr>),
}

/// The literal `none` of `fallback: none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoFallback {
    /// No fallback.
    None,
}

/// Options any node may carry (DESIGN.md §3). `None` means "not set here": inherited or defaulted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Options {
    /// How long the node may wait; `0` never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// What a timeout does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<OnTimeout>,
    /// Reminder interval for silent approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_every: Option<Duration>,
    /// Used when the node has no available approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Denials that end the node; by default it ends when the quorum can no longer be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_to_deny: Option<u32>,
    /// Whether the requester may approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_approval: Option<SelfApproval>,
    /// One person counts once across the whole node, not once per source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_approvers: Option<bool>,
    /// Approvers may hand their decision to a person they choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_escalate: Option<bool>,
    /// The longest grant this node may approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
    /// High-risk access (DESIGN 7.6): decided only on the web after a recent sign-in with a second factor, never
    /// by a chat click or an API call. Passed down to every node below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up: Option<bool>,
}

impl Options {
    /// The option keys, as written in policy files.
    pub const KEYS: &'static [&'static str] = &[
        "timeout",
        "on_timeout",
        "remind_every",
        "fallback",
        "number_to_deny",
        "self_approval",
        "distinct_approvers",
        "allow_escalate",
        "max_duration",
        "step_up",
    ];

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == Options::default()
    }
}
