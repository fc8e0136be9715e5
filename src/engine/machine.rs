//! The transitions: starting nodes, counting answers, settling nodes and items, timeouts and escalation.
//!
//! A [`Machine`] holds one item's state while one event is applied, and collects the effects. Starting a
//! node never looks at its parent; a node that settles tells its parent, which may settle in turn, up to
//! the root, whose outcome is the item's. That one path (settle, then the parent reacts) is the only way
//! anything settles, so "once settled, no prompt is pending" is enforced in one place.

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::directory::UserId;
use crate::policy::expr::{Expr, ExprKind, Fallback, ManagerOf, OnTimeout, SelfApproval};
use crate::time::{Duration, Timestamp};

use super::candidates;
use super::event::{Decision, Effect, Notice, PromptContext, Refusal, WebhookEvent};
use super::facts;
use super::state::{
    Body, DecisionRecord, DismissReason, Grant, GrantEnd, Inherited, Item, ItemStatus, Node, NodeId, NodeStatus,
    Outcome, PassKind, Prompt, PromptId, PromptState, Slot, SlotState, Timer, TimerId, TimerKind, Verdict,
};

/// Whether the machine runs for real or only lays out the plan for `signoff simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Effects matter; sequences start one step at a time.
    Live,
    /// No effects; every step of every sequence and every branch is started, to show who would be asked.
    Plan,
}

pub(crate) struct Machine<'a> {
    pub(crate) cat: &'a Catalog,
    pub(crate) item: Item,
    pub(crate) fx: Vec<Effect>,
    pub(crate) now: Timestamp,
    pub(crate) mode: Mode,
}

impl<'a> Machine<'a> {
    pub(crate) fn new(cat: &'a Catalog, item: Item, now: Timestamp, mode: Mode) -> Self {
        Machine { cat, item, fx: Vec::new(), now, mode }
    }

    fn name(&self, id: &str) -> String {
        self.cat.directory.name_of(id).to_owned()
    }

    fn live(&self) -> bool {
        self.mode == Mode::Live
    }

    fn emit(&mut self, e: Effect) {
        if self.live() {
            self.fx.push(e);
        }
    }

    fn audit(&mut self, node: Option<NodeId>, what: String) {
        self.emit(Effect::Audit { what, node });
    }

    // ----------------------------------------------------------------------------------------------------
    // Starting nodes
    // ----------------------------------------------------------------------------------------------------

    /// Starts the root and, if it settles at once, the item.
    pub(crate) fn start_root(&mut self, expr: Expr) {
        let root = self.activate(expr, None, self.root_inherited());
        let status = self.item.nodes[root as usize].status;
        if !status.is_settled() {
            return;
        }
        if self.live() {
            self.on_settled(root);
        } else {
            // A plan only reports what would happen; nothing is closed or told.
            self.item.status = item_status(status);
        }
    }

    fn root_inherited(&self) -> Inherited {
        Inherited {
            self_approval: SelfApproval::Exclude,
            fallback: None,
            allow_escalate: true,
            fallback_for: None,
            timed_above: false,
            deferred: false,
        }
    }

    fn push_node(
        &mut self,
        expr: Expr,
        parent: Option<NodeId>,
        inherited: Inherited,
        body: Body,
        label: String,
    ) -> NodeId {
        let id = self.item.nodes.len() as NodeId;
        self.item.nodes.push(Node {
            parent,
            expr,
            label,
            status: NodeStatus::Pending,
            body,
            inherited,
            started_at: self.now,
            settled_at: None,
            notes: Vec::new(),
            reason: None,
            decided_by: None,
        });
        id
    }

    fn node(&self, id: NodeId) -> &Node {
        &self.item.nodes[id as usize]
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.item.nodes[id as usize]
    }

    /// Marks a node settled at start or by its own counting (does not tell the parent).
    fn mark(&mut self, id: NodeId, status: NodeStatus, reason: Option<String>, by: Option<UserId>) {
        let now = self.now;
        let n = self.node_mut(id);
        n.status = status;
        n.settled_at = Some(now);
        if reason.is_some() {
            n.reason = reason;
        }
        if by.is_some() {
            n.decided_by = by;
        }
    }

    /// Options this node passes to its children.
    fn inherit(&self, expr: &Expr, inh: &Inherited) -> Inherited {
        let o = &expr.options;
        Inherited {
            self_approval: o.self_approval.unwrap_or(inh.self_approval),
            fallback: o.fallback.clone().or_else(|| inh.fallback.clone()),
            allow_escalate: o.allow_escalate.unwrap_or(inh.allow_escalate),
            fallback_for: inh.fallback_for.clone(),
            timed_above: inh.timed_above || o.timeout.is_some_and(|t| !t.is_zero()),
            deferred: false,
        }
    }

    /// Creates a node for `expr` and starts it (and its children). Returns its id; its status says
    /// whether it settled at once. The parent is not told.
    pub(crate) fn activate(&mut self, expr: Expr, parent: Option<NodeId>, inh: Inherited) -> NodeId {
        let child_inh = self.inherit(&expr, &inh);
        let spec = self.item.spec.clone();
        let label = candidates::label(self.cat, &spec, &expr.kind);
        match expr.kind.clone() {
            ExprKind::AutoApprove { justification, duration } => {
                let id = self.push_node(expr, parent, inh, Body::Auto, label);
                let why = justification.unwrap_or_else(|| "no approval needed".to_owned());
                let mut note = format!("approved automatically: {why}");
                if let Some(d) = duration {
                    note.push_str(&format!(" (for {d})"));
                }
                self.node_mut(id).notes.push(note.clone());
                self.audit(Some(id), note.clone());
                self.mark(id, NodeStatus::Approved, Some(note), None);
                id
            }
            ExprKind::AutoDeny { reason } => {
                let id = self.push_node(expr, parent, inh, Body::Auto, label);
                let note = match reason {
                    Some(r) => format!("denied automatically: {r}"),
                    None => "denied automatically".to_owned(),
                };
                self.node_mut(id).notes.push(note.clone());
                self.audit(Some(id), note.clone());
                self.mark(id, NodeStatus::Denied, Some(note), None);
                id
            }
            ExprKind::Reference { name, body } => {
                let body_expr = body.map(|b| *b).unwrap_or_else(|| {
                    Expr::new(ExprKind::AutoDeny { reason: Some(format!("workflow `{name}` was not expanded")) })
                });
                let id = self.push_node(
                    expr,
                    parent,
                    inh,
                    Body::Pass { pass: PassKind::Reference { name: name.clone() }, child: None },
                    name,
                );
                let child = self.activate(body_expr, Some(id), child_inh);
                self.set_pass_child(id, child);
                self.mirror(id, child);
                id
            }
            ExprKind::Condition { clauses, default } => {
                let facts = facts::RuleFacts::new(self.cat, &spec, self.now);
                let chosen = clauses.iter().position(|c| c.condition.rule_v2.eval(&facts));
                let (child_expr, rule, note) = match chosen {
                    Some(i) => (
                        clauses[i].expression.clone(),
                        Some(clauses[i].condition.rule_v2.source().to_owned()),
                        format!("clause {} holds: {}", i + 1, clauses[i].condition.rule_v2.source()),
                    ),
                    None => match default {
                        Some(d) => ((*d).clone(), None, "no clause holds: default".to_owned()),
                        None => (
                            Expr::new(ExprKind::AutoDeny {
                                reason: Some("no condition holds and there is no default".to_owned()),
                            }),
                            None,
                            "no clause holds and there is no default: denied".to_owned(),
                        ),
                    },
                };
                let id = self.push_node(
                    expr,
                    parent,
                    inh,
                    Body::Pass { pass: PassKind::Condition { clause: chosen, rule }, child: None },
                    label,
                );
                self.node_mut(id).notes.push(note.clone());
                self.audit(Some(id), format!("condition: {note}"));
                let child = self.activate(child_expr, Some(id), child_inh);
                self.set_pass_child(id, child);
                self.mirror(id, child);
                id
            }
            ExprKind::Sequential { expressions } => {
                let total = expressions.len() as u32;
                let id = self.push_node(expr, parent, inh, Body::Sequential { children: Vec::new(), total }, label);
                if self.mode == Mode::Plan {
                    for e in expressions {
                        let c = self.activate(e, Some(id), child_inh.clone());
                        self.push_child(id, c);
                    }
                    let s = self.evaluate(id);
                    if s.is_settled() {
                        let (reason, by) = self.reason_from_children(id, s);
                        self.mark(id, s, reason, by);
                    }
                } else {
                    self.advance_sequence(id);
                }
                self.arm_timers(id);
                id
            }
            ExprKind::Parallel { expressions, number_required } => {
                let required = number_required.unwrap_or(expressions.len() as u32).max(1);
                let distinct = expr.options.distinct_approvers.unwrap_or(false);
                let to_deny = expr.options.number_to_deny;
                let id = self.push_node(
                    expr,
                    parent,
                    inh,
                    Body::Parallel { children: Vec::new(), required, to_deny, distinct },
                    label,
                );
                for e in expressions {
                    let mut ci = child_inh.clone();
                    ci.deferred = distinct && e.kind.is_leaf();
                    let c = self.activate(e, Some(id), ci);
                    self.push_child(id, c);
                    if self.live() && self.evaluate(id).is_settled() {
                        break; // decided already: the remaining branches need not ask anyone
                    }
                }
                let s = self.evaluate(id);
                if s.is_settled() {
                    let (reason, by) = self.reason_from_children(id, s);
                    self.mark(id, s, reason, by);
                    if self.live() {
                        self.close_subtree(id, s);
                    }
                } else {
                    self.arm_timers(id);
                }
                id
            }
            _ => self.activate_leaf(expr, parent, inh, label),
        }
    }

    fn set_pass_child(&mut self, id: NodeId, c: NodeId) {
        if let Body::Pass { child, .. } = &mut self.node_mut(id).body {
            *child = Some(c);
        }
    }

    fn push_child(&mut self, id: NodeId, c: NodeId) {
        match &mut self.node_mut(id).body {
            Body::Sequential { children, .. } | Body::Parallel { children, .. } => children.push(c),
            _ => {}
        }
    }

    /// A pass-through node takes its child's status.
    fn mirror(&mut self, id: NodeId, child: NodeId) {
        let c = self.node(child);
        let (s, reason, by) = (c.status, c.reason.clone(), c.decided_by.clone());
        if s.is_settled() {
            self.mark(id, s, reason, by);
        } else {
            self.arm_timers(id);
        }
    }

    /// Starts steps of a sequence while the previous one approved; settles it when one fails or all
    /// approved. Returns whether it settled.
    fn advance_sequence(&mut self, id: NodeId) -> bool {
        loop {
            let (children, total) = match &self.node(id).body {
                Body::Sequential { children, total } => (children.clone(), *total),
                _ => return false,
            };
            if let Some(&last) = children.last() {
                let s = self.node(last).status;
                match s {
                    NodeStatus::Pending => return false,
                    NodeStatus::Approved if (children.len() as u32) < total => {}
                    NodeStatus::Approved | NodeStatus::Denied | NodeStatus::Expired | NodeStatus::Closed => {
                        let (reason, by) = (self.node(last).reason.clone(), self.node(last).decided_by.clone());
                        let reason = if s == NodeStatus::Approved && total > 1 {
                            Some(format!("all {total} steps approved")).map(|t| match reason {
                                Some(r) => format!("{r} ({t})"),
                                None => t,
                            })
                        } else {
                            reason
                        };
                        self.mark(id, s, reason, by);
                        return true;
                    }
                }
            }
            let k = children.len();
            let ExprKind::Sequential { expressions } = &self.node(id).expr.kind else { return false };
            let Some(next) = expressions.get(k).cloned() else { return false };
            let inh = self.inherit(&self.node(id).expr.clone(), &self.node(id).inherited.clone());
            let c = self.activate(next, Some(id), inh);
            self.push_child(id, c);
        }
    }

    fn activate_leaf(&mut self, expr: Expr, parent: Option<NodeId>, inh: Inherited, label: String) -> NodeId {
        let spec = self.item.spec.clone();
        let required = candidates::required(&expr.kind);
        let found = candidates::named(self.cat, &spec, &expr.kind, self.now);
        let self_rule = expr.options.self_approval.unwrap_or(inh.self_approval);
        let mut notes = Vec::new();
        let mut asked: Vec<UserId> = Vec::new();
        let mut requester_named = false;
        for person in &found.named {
            let is_requester = *person == spec.requester;
            let is_beneficiary = *person == spec.beneficiary;
            if is_requester {
                requester_named = true;
            }
            if self_rule != SelfApproval::Allow && (is_requester || is_beneficiary) {
                if self_rule == SelfApproval::Exclude || !is_requester {
                    let who = if is_requester { "the requester" } else { "the person the access is for" };
                    notes.push(format!("{} left out: {who} cannot approve their own access", self.name(person)));
                }
                continue;
            }
            if let Some(why) = candidates::unavailable(self.cat, person, self.now) {
                notes.push(format!("{} left out: {why}", self.name(person)));
                continue;
            }
            asked.push(person.clone());
        }
        if let Some(w) = &found.why_none {
            notes.push(w.clone());
        }

        // Self-approval `skip`: the requester is among the candidates, so the step counts as approved
        // (the approval-rounds seed's automatic skipping).
        if self_rule == SelfApproval::Skip && requester_named {
            let id = self.push_node(expr, parent, inh, Body::Auto, label);
            let note = format!(
                "skipped: the requester {} is an approver of this step (self_approval: skip)",
                self.name(&spec.requester)
            );
            notes.push(note.clone());
            self.node_mut(id).notes = notes;
            self.audit(Some(id), note.clone());
            self.mark(id, NodeStatus::Approved, Some(note), Some(spec.requester.clone()));
            return id;
        }

        if (asked.len() as u32) < required {
            let reason = if asked.is_empty() {
                format!("no available approver for {label}")
            } else {
                format!("only {} of the {required} approvers needed for {label} are available", asked.len())
            };
            let fallback = match expr.options.fallback.clone().or_else(|| inh.fallback.clone()) {
                Some(f) => Some(f),
                None if inh.fallback_for.is_some() => None,
                // The default fallback: the requester's manager, or the nearest one above who can be asked.
                None => Some(Fallback::Expr(Box::new(Expr::new(ExprKind::Manager { of: ManagerOf::RequesterChain })))),
            };
            let expr_timeout = expr.options.timeout;
            match fallback {
                Some(Fallback::Expr(f)) => {
                    let id = self.push_node(
                        expr,
                        parent,
                        inh.clone(),
                        Body::Pass { pass: PassKind::Fallback { reason: reason.clone() }, child: None },
                        label.clone(),
                    );
                    notes.push(format!("{reason}: fallback to {}", f.name()));
                    self.node_mut(id).notes = notes;
                    self.audit(Some(id), format!("fallback used: {reason}"));
                    let child_inh = Inherited {
                        fallback: None,
                        fallback_for: Some(format!("{label} ({reason})")),
                        deferred: false,
                        timed_above: inh.timed_above || expr_timeout.is_some_and(|t| !t.is_zero()),
                        ..inh
                    };
                    let child = self.activate(*f, Some(id), child_inh);
                    self.set_pass_child(id, child);
                    self.mirror(id, child);
                    return id;
                }
                Some(Fallback::None(_)) | None => {
                    let id = self.push_node(expr, parent, inh, Body::Auto, label.clone());
                    let why = format!("no approver available for {label}");
                    notes.push(why.clone());
                    self.node_mut(id).notes = notes;
                    self.audit(Some(id), why.clone());
                    // The requester and the resource's admins hear of it at once.
                    let mut told = vec![spec.requester.clone()];
                    if let Some(r) = self.cat.directory.resource(&spec.resource) {
                        for a in &r.admins {
                            if !told.contains(a) {
                                told.push(a.clone());
                            }
                        }
                    }
                    for to in told {
                        self.emit(Effect::Notify { to, notice: Notice::NoApprover { step: label.clone() } });
                    }
                    self.mark(id, NodeStatus::Denied, Some(why), None);
                    return id;
                }
            }
        }

        let id = self.push_node(
            expr.clone(),
            parent,
            inh.clone(),
            Body::Leaf { required, to_deny: expr.options.number_to_deny, slots: Vec::with_capacity(asked.len()) },
            label.clone(),
        );
        self.node_mut(id).notes = notes;
        // Slots first, prompts after: each prompt then says how many people this step asks.
        let new: Vec<PromptId> = asked.into_iter().filter_map(|p| self.add_slot(id, p, None)).collect();
        for p in new {
            self.send_prompt(id, p, None);
        }
        if let Some(fb) = &inh.fallback_for {
            let people: Vec<UserId> = self.slots(id).iter().map(|s| s.person.clone()).collect();
            for to in people {
                self.emit(Effect::Notify {
                    to,
                    notice: Notice::FallbackAssigned { step: label.clone(), reason: fb.clone() },
                });
            }
        }
        self.arm_timers(id);
        id
    }

    fn slots(&self, id: NodeId) -> &[Slot] {
        match &self.node(id).body {
            Body::Leaf { slots, .. } => slots,
            _ => &[],
        }
    }

    /// Adds `person` to leaf `id`, reusing their pending prompt in this item if they have one (so a person
    /// asked by several sources gets one message). Returns the prompt when a new one must be sent.
    fn add_slot(&mut self, id: NodeId, person: UserId, replaces: Option<UserId>) -> Option<PromptId> {
        let slot_index = self.slots(id).len() as u32;
        let existing = self.item.prompts.iter().position(|p| p.is_pending() && p.approver == person);
        let (prompt, new) = match existing {
            Some(p) => {
                self.item.prompts[p].links.push((id, slot_index));
                (p as PromptId, false)
            }
            None => {
                let pid = self.item.prompts.len() as PromptId;
                self.item.prompts.push(Prompt {
                    id: pid,
                    approver: person.clone(),
                    links: vec![(id, slot_index)],
                    state: PromptState::Pending,
                    sent_at: self.now,
                    reminders: 0,
                });
                (pid, true)
            }
        };
        if let Body::Leaf { slots, .. } = &mut self.node_mut(id).body {
            slots.push(Slot { person, state: SlotState::Pending, prompt, replaces });
        }
        new.then_some(prompt)
    }

    /// Sends a new prompt of leaf `leaf`.
    fn send_prompt(&mut self, leaf: NodeId, prompt: PromptId, replaces: Option<(UserId, String)>) {
        let context = self.prompt_context(leaf, replaces);
        let to = self.item.prompts[prompt as usize].approver.clone();
        self.emit(Effect::SendPrompt { prompt, to, context });
    }

    fn prompt_context(&self, leaf: NodeId, replaces: Option<(UserId, String)>) -> PromptContext {
        let n = self.node(leaf);
        let (required, asked) = match &n.body {
            Body::Leaf { required, slots, .. } => (
                *required,
                slots
                    .iter()
                    .filter(|s| matches!(s.state, SlotState::Pending | SlotState::Approved | SlotState::Denied))
                    .count() as u32,
            ),
            _ => (1, 1),
        };
        // The nearest sequence above, and which of its steps we are in.
        let mut step = None;
        let mut cur = leaf;
        while let Some(p) = self.node(cur).parent {
            if let Body::Sequential { children, total } = &self.node(p).body {
                let k = children.iter().position(|c| *c == cur).unwrap_or(children.len());
                step = Some((k as u32 + 1, *total, self.node(cur).label.clone()));
                break;
            }
            cur = p;
        }
        PromptContext {
            label: n.label.clone(),
            required,
            asked,
            step,
            replaces,
            fallback_for: n.inherited.fallback_for.clone(),
            allow_escalate: n.expr.options.allow_escalate.unwrap_or(n.inherited.allow_escalate),
            max_duration: self.max_duration_at(leaf),
        }
    }

    /// The longest grant an approver of `leaf` may give: the shortest of the requested duration, the
    /// resource's limit and every `max_duration` on the way to the root.
    fn max_duration_at(&self, leaf: NodeId) -> Option<Duration> {
        let mut limit = self.item.spec.duration;
        let mut tighten = |d: Option<Duration>| {
            if let Some(d) = d {
                limit = Some(limit.map_or(d, |l| l.min(d)));
            }
        };
        tighten(self.cat.directory.resource(&self.item.spec.resource).and_then(|r| r.max_duration));
        let mut cur = Some(leaf);
        while let Some(c) = cur {
            tighten(self.node(c).expr.options.max_duration);
            cur = self.node(c).parent;
        }
        limit
    }

    /// Sets the node's timeout and reminder timers, if it has them and still waits.
    fn arm_timers(&mut self, id: NodeId) {
        if !self.live() || self.node(id).status.is_settled() {
            return;
        }
        let n = self.node(id);
        let opts = &n.expr.options;
        let is_leaf = matches!(n.body, Body::Leaf { .. });
        let timeout = match opts.timeout {
            Some(t) => Some(t),
            None if is_leaf && !n.inherited.timed_above => self.cat.settings.default_timeout,
            None => None,
        };
        let remind = opts.remind_every;
        if let Some(t) = timeout.filter(|t| !t.is_zero()) {
            self.add_timer(Some(id), TimerKind::Timeout, t.after(self.now));
        }
        if let Some(r) = remind.filter(|r| !r.is_zero()) {
            self.add_timer(Some(id), TimerKind::Remind, r.after(self.now));
        }
    }

    fn add_timer(&mut self, node: Option<NodeId>, kind: TimerKind, due: Timestamp) -> TimerId {
        let tid = self.item.timers.len() as TimerId;
        self.item.timers.push(Timer { id: tid, node, kind, due, active: true });
        self.emit(Effect::ScheduleTimer { timer: tid, due });
        tid
    }

    fn cancel_timer(&mut self, tid: TimerId) {
        if let Some(t) = self.item.timers.get_mut(tid as usize)
            && t.active
        {
            t.active = false;
            self.emit(Effect::CancelTimer { timer: tid });
        }
    }

    /// The effective timeout of a node (own, or the configured default for a leaf with none above).
    fn timeout_of(&self, id: NodeId) -> Duration {
        let n = self.node(id);
        n.expr
            .options
            .timeout
            .or(if matches!(n.body, Body::Leaf { .. }) && !n.inherited.timed_above {
                self.cat.settings.default_timeout
            } else {
                None
            })
            .unwrap_or(Duration::ZERO)
    }

    // ----------------------------------------------------------------------------------------------------
    // Counting
    // ----------------------------------------------------------------------------------------------------

    /// What a node's children or slots say its status should be now.
    fn evaluate(&self, id: NodeId) -> NodeStatus {
        let n = self.node(id);
        match &n.body {
            Body::Auto => n.status,
            Body::Pass { child, .. } => child.map_or(NodeStatus::Pending, |c| self.node(c).status),
            Body::Sequential { children, total } => {
                let Some(&last) = children.last() else { return NodeStatus::Pending };
                if self.mode == Mode::Plan {
                    // All steps are started in a plan: the first that fails decides, else all must approve.
                    for &c in children {
                        let s = self.node(c).status;
                        if s.is_failed() {
                            return s;
                        }
                        if s == NodeStatus::Pending {
                            return NodeStatus::Pending;
                        }
                    }
                    return NodeStatus::Approved;
                }
                match self.node(last).status {
                    NodeStatus::Approved if children.len() as u32 == *total => NodeStatus::Approved,
                    s if s.is_failed() => s,
                    _ => NodeStatus::Pending,
                }
            }
            Body::Parallel { children, required, to_deny, distinct } => {
                let total = match &n.expr.kind {
                    ExprKind::Parallel { expressions, .. } => expressions.len() as u32,
                    _ => children.len() as u32,
                };
                let statuses: Vec<NodeStatus> = children.iter().map(|&c| self.node(c).status).collect();
                let denied = statuses.iter().filter(|s| **s == NodeStatus::Denied).count() as u32;
                let expired = statuses.iter().filter(|s| **s == NodeStatus::Expired).count() as u32;
                let (approved, possible) = if *distinct {
                    let (approved, possible) = self.distinct_counts(children);
                    // Branches not started yet (while the node is still starting) could all approve.
                    (approved, possible + (total - children.len() as u32))
                } else {
                    let approved = statuses.iter().filter(|s| **s == NodeStatus::Approved).count() as u32;
                    (approved, total - denied - expired)
                };
                if approved >= *required {
                    NodeStatus::Approved
                } else if to_deny.is_some_and(|d| denied + expired >= d) || possible < *required {
                    // Denied when denials alone make the quorum unreachable; expired when timeouts do;
                    // denied when neither does (not enough distinct people for `distinct_approvers`).
                    let denials_alone = to_deny.is_some_and(|d| denied >= d) || total - denied < *required;
                    if !denials_alone && expired > 0 { NodeStatus::Expired } else { NodeStatus::Denied }
                } else {
                    NodeStatus::Pending
                }
            }
            Body::Leaf { required, to_deny, slots } => {
                let count = |st: SlotState| slots.iter().filter(|s| s.state == st).count() as u32;
                let approved = count(SlotState::Approved);
                let pending = count(SlotState::Pending);
                let denied = count(SlotState::Denied);
                let exhausted = count(SlotState::Exhausted);
                if approved >= *required && !n.inherited.deferred {
                    NodeStatus::Approved
                } else if to_deny.is_some_and(|d| denied >= d) {
                    NodeStatus::Denied
                } else if approved + pending < *required {
                    // Expired when the approvers who timed out with nobody above them would have been
                    // enough; denied when denials alone put the quorum out of reach.
                    if approved + pending + exhausted >= *required { NodeStatus::Expired } else { NodeStatus::Denied }
                } else {
                    NodeStatus::Pending
                }
            }
        }
    }

    /// For a parallel node with `distinct_approvers`: (children satisfied now, children that could still be
    /// satisfied), where one person's approval counts for one child only. Leaf children need
    /// `number_required` distinct people; other children count once when they approved on their own.
    fn distinct_counts(&self, children: &[NodeId]) -> (u32, u32) {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut now_sets: Vec<(u32, Vec<usize>)> = Vec::new();
        let mut could_sets: Vec<(u32, Vec<usize>)> = Vec::new();
        for &c in children {
            let n = self.node(c);
            match &n.body {
                Body::Leaf { required, slots, .. } => {
                    let approved: Vec<&str> =
                        slots.iter().filter(|s| s.state == SlotState::Approved).map(|s| s.person.as_str()).collect();
                    let open: Vec<&str> = slots
                        .iter()
                        .filter(|s| matches!(s.state, SlotState::Approved | SlotState::Pending))
                        .map(|s| s.person.as_str())
                        .collect();
                    let a = intern(&mut index, approved);
                    let o = intern(&mut index, open);
                    now_sets.push((*required, a));
                    could_sets.push((*required, o));
                }
                _ => {
                    let people: Vec<&str> = self.people_under(c);
                    let p = intern(&mut index, people);
                    match n.status {
                        NodeStatus::Approved => {
                            now_sets.push((1, p.clone()));
                            could_sets.push((1, p));
                        }
                        NodeStatus::Pending => {
                            now_sets.push((1, Vec::new()));
                            could_sets.push((1, p));
                        }
                        _ => {
                            now_sets.push((1, Vec::new()));
                            could_sets.push((1, Vec::new()));
                        }
                    }
                }
            }
        }
        (max_satisfied(&now_sets, index.len()), max_satisfied(&could_sets, index.len()))
    }

    /// People with a pending or approved slot anywhere under `id` (an automatic approval counts as a
    /// person-free approval and is represented by the node id itself).
    fn people_under(&self, id: NodeId) -> Vec<&str> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(c) = stack.pop() {
            let n = self.node(c);
            match &n.body {
                Body::Leaf { slots, .. } => out.extend(
                    slots
                        .iter()
                        .filter(|s| matches!(s.state, SlotState::Approved | SlotState::Pending))
                        .map(|s| s.person.as_str()),
                ),
                Body::Auto if n.status == NodeStatus::Approved => out.push(n.label.as_str()),
                _ => stack.extend(self.item.children_of(c)),
            }
        }
        out
    }

    /// The reason and decider a composite node takes from its children when it settles with `s`.
    fn reason_from_children(&self, id: NodeId, s: NodeStatus) -> (Option<String>, Option<UserId>) {
        let kids = self.item.children_of(id);
        // The last child (in start order) that has the same status explains it best.
        let decisive = kids
            .iter()
            .rev()
            .map(|&c| self.node(c))
            .find(|c| c.status == s)
            .or_else(|| kids.iter().rev().map(|&c| self.node(c)).find(|c| c.status.is_failed()));
        match decisive {
            Some(c) => (c.reason.clone(), c.decided_by.clone()),
            None if matches!(self.node(id).body, Body::Parallel { distinct: true, .. }) && s.is_failed() => (
                Some(format!("not enough different people can approve {} (distinct_approvers)", self.node(id).label)),
                None,
            ),
            None => (None, None),
        }
    }

    // ----------------------------------------------------------------------------------------------------
    // Settling
    // ----------------------------------------------------------------------------------------------------

    /// Re-counts a node after something under it changed; settles it (and on up) if it is decided.
    fn recount(&mut self, id: NodeId, reason: Option<String>, by: Option<UserId>) {
        if self.node(id).status.is_settled() {
            return;
        }
        let s = self.evaluate(id);
        if s.is_settled() {
            let (r, b) = match &self.node(id).body {
                Body::Leaf { .. } => (reason, by),
                _ => self.reason_from_children(id, s),
            };
            self.mark(id, s, r, b);
            self.on_settled(id);
        }
    }

    /// A node has just settled: close what is left under it and let its parent react.
    fn on_settled(&mut self, id: NodeId) {
        let status = self.node(id).status;
        self.close_subtree(id, status);
        match self.node(id).parent {
            None => self.finish(),
            Some(p) => {
                if self.node(p).status.is_settled() {
                    return;
                }
                match &self.node(p).body {
                    Body::Pass { .. } => {
                        let (r, b) = (self.node(id).reason.clone(), self.node(id).decided_by.clone());
                        self.mark(p, status, r, b);
                        self.on_settled(p);
                    }
                    Body::Sequential { .. } => {
                        if self.advance_sequence(p) {
                            self.on_settled(p);
                        }
                    }
                    Body::Parallel { .. } => self.recount(p, None, None),
                    Body::Auto | Body::Leaf { .. } => {}
                }
            }
        }
    }

    /// Closes every pending node, slot, prompt and timer under `id` (itself included).
    fn close_subtree(&mut self, id: NodeId, outcome: NodeStatus) {
        let by = self.node(id).decided_by.clone();
        let mut stack = vec![id];
        let mut touched_prompts: Vec<PromptId> = Vec::new();
        while let Some(c) = stack.pop() {
            if c != id && self.node(c).status == NodeStatus::Pending {
                self.node_mut(c).status = NodeStatus::Closed;
                self.node_mut(c).settled_at = Some(self.now);
            }
            if let Body::Leaf { slots, .. } = &mut self.item.nodes[c as usize].body {
                for s in slots.iter_mut() {
                    if s.state == SlotState::Pending {
                        s.state = SlotState::Closed;
                        touched_prompts.push(s.prompt);
                    }
                }
            }
            stack.extend(self.item.children_of(c));
        }
        let timers: Vec<TimerId> = self
            .item
            .timers
            .iter()
            .filter(|t| t.active && t.node.is_some_and(|n| self.is_under(n, id)))
            .map(|t| t.id)
            .collect();
        for t in timers {
            self.cancel_timer(t);
        }
        for p in touched_prompts {
            self.dismiss_if_idle(p, DismissReason::Settled { outcome, by: by.clone() });
        }
    }

    fn is_under(&self, node: NodeId, ancestor: NodeId) -> bool {
        let mut cur = Some(node);
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.node(c).parent;
        }
        false
    }

    /// Dismisses a pending prompt once none of its slots waits any more.
    fn dismiss_if_idle(&mut self, pid: PromptId, reason: DismissReason) {
        let p = &self.item.prompts[pid as usize];
        if !p.is_pending() {
            return;
        }
        let waiting = p.links.iter().any(|&(n, s)| {
            matches!(&self.node(n).body, Body::Leaf { slots, .. } if slots[s as usize].state == SlotState::Pending)
        });
        if waiting {
            return;
        }
        let to = p.approver.clone();
        self.item.prompts[pid as usize].state = PromptState::Dismissed { reason: reason.clone(), at: self.now };
        self.emit(Effect::DismissPrompt { prompt: pid, to, reason });
    }

    /// The root settled: the item has its outcome.
    fn finish(&mut self) {
        if self.item.status.is_settled() {
            return;
        }
        let root = self.node(0);
        let status = item_status(root.status);
        let by = root.decided_by.clone();
        let reason = root.reason.clone().unwrap_or_else(|| status.as_str().to_owned());
        self.settle_item(status, reason, by);
    }

    /// Gives the item its outcome: dismisses what waits, tells people, grants or reports the denial.
    fn settle_item(&mut self, status: ItemStatus, reason: String, by: Option<UserId>) {
        self.item.status = status;
        self.item.outcome = Some(Outcome { status, reason: reason.clone(), by: by.clone(), at: self.now });
        let pending: Vec<PromptId> = self.item.pending_prompts().map(|p| p.id).collect();
        let dismiss = match (status, &by) {
            (ItemStatus::Cancelled, Some(b)) => DismissReason::Cancelled { by: b.clone() },
            _ => DismissReason::ItemSettled { outcome: status, by: by.clone() },
        };
        for p in pending {
            for (n, s) in self.item.prompts[p as usize].links.clone() {
                if let Body::Leaf { slots, .. } = &mut self.item.nodes[n as usize].body
                    && slots[s as usize].state == SlotState::Pending
                {
                    slots[s as usize].state = SlotState::Closed;
                }
            }
            self.dismiss_if_idle(p, dismiss.clone());
        }
        for n in 0..self.item.nodes.len() {
            if self.item.nodes[n].status == NodeStatus::Pending {
                self.item.nodes[n].status = NodeStatus::Closed;
                self.item.nodes[n].settled_at = Some(self.now);
            }
        }
        let timers: Vec<TimerId> = self.item.active_timers().map(|t| t.id).collect();
        for t in timers {
            self.cancel_timer(t);
        }
        let mut expires_at = None;
        if status == ItemStatus::Approved {
            let duration = self.grant_duration();
            expires_at = duration.map(|d| d.after(self.now));
            self.item.grant = Some(Grant { granted_at: self.now, expires_at, duration, ended: None });
            self.emit(Effect::Grant { user: self.item.spec.beneficiary.clone(), expires_at });
            self.emit(Effect::Webhook { event: WebhookEvent::GrantCreated, expires_at });
            if let Some(at) = expires_at {
                self.add_timer(None, TimerKind::GrantExpiry, at);
            }
        } else if matches!(status, ItemStatus::Denied | ItemStatus::Expired) {
            self.emit(Effect::Webhook { event: WebhookEvent::ItemDenied, expires_at: None });
        }
        self.emit(Effect::Settled { status, reason: reason.clone() });
        for to in self.people_to_tell() {
            if status == ItemStatus::Cancelled && Some(&to) == by.as_ref() {
                continue; // they cancelled it themselves
            }
            self.emit(Effect::Notify { to, notice: Notice::Outcome { status, reason: reason.clone(), expires_at } });
        }
    }

    /// The requester, and the beneficiary once when different.
    fn people_to_tell(&self) -> Vec<UserId> {
        let s = &self.item.spec;
        if s.requester == s.beneficiary {
            vec![s.requester.clone()]
        } else {
            vec![s.requester.clone(), s.beneficiary.clone()]
        }
    }

    /// The shortest of: the requested duration, every approver's chosen duration, automatic approvals'
    /// durations, and every `max_duration` limit on approved nodes and on the resource.
    fn grant_duration(&self) -> Option<Duration> {
        let mut d = self.item.spec.duration;
        let mut take = |x: Option<Duration>| {
            if let Some(x) = x {
                d = Some(d.map_or(x, |cur| cur.min(x)));
            }
        };
        take(self.cat.directory.resource(&self.item.spec.resource).and_then(|r| r.max_duration));
        for dec in &self.item.decisions {
            if let Verdict::Approve { duration } = &dec.verdict {
                take(*duration);
            }
        }
        for n in &self.item.nodes {
            if n.status == NodeStatus::Approved {
                take(n.expr.options.max_duration);
                if let (Body::Auto, ExprKind::AutoApprove { duration, .. }) = (&n.body, &n.expr.kind) {
                    take(*duration);
                }
            }
        }
        d
    }

    // ----------------------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------------------

    pub(crate) fn decide(
        &mut self,
        pid: PromptId,
        by: &str,
        decision: Decision,
        channel: String,
    ) -> Result<(), Refusal> {
        let Some(prompt) = self.item.prompts.get(pid as usize) else {
            return Err(Refusal::UnknownPrompt { prompt: pid });
        };
        let by_id = self.cat.directory.user(by).map_or_else(|| by.to_owned(), |u| u.id.clone());
        if prompt.approver != by_id {
            return Err(Refusal::NotTheApprover { approver: prompt.approver.clone(), by: by_id });
        }
        match &prompt.state {
            PromptState::Pending => {}
            PromptState::Answered { verdict, at } => {
                return Err(Refusal::AlreadySettled {
                    how: format!("you {} it", verdict.past_tense()),
                    by: Some(prompt.approver.clone()),
                    at: *at,
                });
            }
            PromptState::Dismissed { reason, at } => {
                let (how, who) = self.describe_dismissal(reason);
                return Err(Refusal::AlreadySettled { how, by: who, at: *at });
            }
        }
        if let Some(o) = &self.item.outcome {
            return Err(Refusal::ItemSettled { status: o.status, by: o.by.clone(), at: o.at });
        }
        let links: Vec<(NodeId, u32)> = prompt
            .links
            .iter()
            .copied()
            .filter(|&(n, s)| {
                self.node(n).status == NodeStatus::Pending
                    && matches!(&self.node(n).body, Body::Leaf { slots, .. } if slots[s as usize].state == SlotState::Pending)
            })
            .collect();
        match &decision {
            Decision::Approve { duration: Some(d), .. } => {
                if d.is_zero() {
                    return Err(Refusal::ZeroDuration);
                }
                let max = links.iter().filter_map(|&(n, _)| self.max_duration_at(n)).min();
                if let Some(max) = max
                    && *d > max
                {
                    return Err(Refusal::DurationTooLong { asked: *d, max });
                }
            }
            Decision::Escalate { to, .. } => {
                let allowed = links.iter().all(|&(n, _)| {
                    let n = self.node(n);
                    n.expr.options.allow_escalate.unwrap_or(n.inherited.allow_escalate)
                });
                if !allowed {
                    return Err(Refusal::EscalationNotAllowed);
                }
                self.check_escalation_target(to, &by_id, &links)?;
            }
            _ => {}
        }

        // Accepted: record and apply.
        let verdict = match &decision {
            Decision::Escalate { to, .. } => {
                Verdict::Escalate { to: self.cat.directory.user(to).map_or_else(|| to.clone(), |u| u.id.clone()) }
            }
            d => d.verdict(),
        };
        self.item.decisions.push(DecisionRecord {
            prompt: pid,
            by: by_id.clone(),
            verdict: verdict.clone(),
            comment: decision.comment().map(str::to_owned),
            channel,
            at: self.now,
        });
        self.item.prompts[pid as usize].state = PromptState::Answered { verdict: verdict.clone(), at: self.now };
        self.emit(Effect::PromptAnswered { prompt: pid, to: by_id.clone(), verdict: verdict.clone() });
        match verdict {
            Verdict::Approve { .. } | Verdict::Deny => {
                let approve = matches!(verdict, Verdict::Approve { .. });
                let state = if approve { SlotState::Approved } else { SlotState::Denied };
                for &(n, s) in &links {
                    if let Body::Leaf { slots, .. } = &mut self.item.nodes[n as usize].body {
                        slots[s as usize].state = state;
                    }
                }
                let name = self.name(&by_id);
                let reason = if approve {
                    format!("approved by {name}")
                } else {
                    match decision.comment() {
                        Some(c) if !c.trim().is_empty() => format!("denied by {name}: {}", c.trim()),
                        _ => format!("denied by {name}"),
                    }
                };
                for &(n, _) in &links {
                    self.recount(n, Some(reason.clone()), Some(by_id.clone()));
                    // A deferred leaf (under a distinct-approvers parallel) waits for its parent's count.
                    if let Some(p) = self.node(n).parent
                        && self.node(n).inherited.deferred
                        && !self.node(n).status.is_settled()
                    {
                        self.recount(p, Some(reason.clone()), Some(by_id.clone()));
                    }
                }
            }
            Verdict::Escalate { to } => {
                let why = format!("handed on by {}", self.name(&by_id));
                for &(n, s) in &links {
                    self.replace_slot(n, s, Some(to.clone()), why.clone());
                }
                self.mark_escalated(&by_id, Some(&to), why);
                for &(n, _) in &links {
                    self.recount(n, None, None);
                }
            }
        }
        Ok(())
    }

    fn describe_dismissal(&self, reason: &DismissReason) -> (String, Option<UserId>) {
        let by_text = |word: &str, by: &Option<UserId>| match by {
            Some(b) => format!("{word} by {}", self.name(b)),
            None => format!("the step was {word}"),
        };
        match reason {
            DismissReason::Settled { outcome, by } => (by_text(node_word(*outcome), by), by.clone()),
            DismissReason::ItemSettled { outcome, by } => match by {
                Some(_) => (by_text(outcome.as_str(), by), by.clone()),
                None => (format!("the request was {outcome}"), None),
            },
            DismissReason::Escalated { to: Some(t), after } => {
                (format!("escalated to {} after {after}", self.name(t)), None)
            }
            DismissReason::Escalated { to: None, after } | DismissReason::TimedOut { after } => {
                (format!("timed out after {after}"), None)
            }
            DismissReason::Cancelled { by } => (format!("cancelled by {}", self.name(by)), Some(by.clone())),
        }
    }

    fn check_escalation_target(&self, to: &str, by: &str, links: &[(NodeId, u32)]) -> Result<(), Refusal> {
        let bad = |why: &str| Refusal::BadEscalationTarget { to: to.to_owned(), why: why.to_owned() };
        let Some(target) = self.cat.directory.user(to) else {
            return Err(bad("not in the directory"));
        };
        if target.id == by {
            return Err(bad("that is you"));
        }
        if let Some(why) = target.unavailable_reason(self.now) {
            return Err(bad(&why));
        }
        let spec = &self.item.spec;
        let self_rule = links
            .first()
            .map(|&(n, _)| {
                let n = self.node(n);
                n.expr.options.self_approval.unwrap_or(n.inherited.self_approval)
            })
            .unwrap_or_default();
        if self_rule != SelfApproval::Allow && (target.id == spec.requester || target.id == spec.beneficiary) {
            return Err(bad("they cannot approve their own access"));
        }
        Ok(())
    }

    /// Moves slot `s` of leaf `n` to `to` (or marks it exhausted when `to` is `None`), and asks `to`.
    fn replace_slot(&mut self, n: NodeId, s: u32, to: Option<UserId>, why: String) {
        let from = match &mut self.item.nodes[n as usize].body {
            Body::Leaf { slots, .. } => {
                let slot = &mut slots[s as usize];
                slot.state = if to.is_some() { SlotState::Escalated } else { SlotState::Exhausted };
                slot.person.clone()
            }
            _ => return,
        };
        if let Some(to) = to {
            // Within one node a person counts once: if `to` is already asked here, nothing new is added.
            let already = self.slots(n).iter().any(|x| {
                x.person == to && matches!(x.state, SlotState::Pending | SlotState::Approved | SlotState::Denied)
            });
            if !already && let Some(p) = self.add_slot(n, to, Some(from.clone())) {
                self.send_prompt(n, p, Some((from, why)));
            }
        }
    }

    fn mark_escalated(&mut self, from: &str, to: Option<&UserId>, reason: String) {
        if !self.item.status.is_settled() {
            self.item.status = ItemStatus::Escalated;
        }
        self.audit(
            None,
            match to {
                Some(t) => format!("escalated from {} to {}: {reason}", self.name(from), self.name(t)),
                None => format!("{}: {reason}; nobody left to escalate to", self.name(from)),
            },
        );
        if to.is_none() {
            return;
        }
        for who in self.people_to_tell() {
            self.emit(Effect::Notify {
                to: who,
                notice: Notice::Escalated { from: from.to_owned(), to: to.cloned(), reason: reason.clone() },
            });
        }
    }

    pub(crate) fn timer_fired(&mut self, tid: TimerId) {
        let Some(t) = self.item.timers.get(tid as usize).cloned() else { return };
        if !t.active {
            return; // cancelled, or already fired: nothing to do
        }
        self.item.timers[tid as usize].active = false;
        match t.kind {
            // A grant already ended early has no active expiry timer, so this cannot be refused.
            TimerKind::GrantExpiry => self.end_grant(GrantEnd::Expired, None).unwrap_or(()),
            TimerKind::Remind => {
                let Some(n) = t.node else { return };
                if self.node(n).status.is_settled() {
                    return;
                }
                self.remind(n);
                if let Some(every) = self.node(n).expr.options.remind_every.filter(|d| !d.is_zero()) {
                    self.add_timer(Some(n), TimerKind::Remind, every.after(self.now));
                }
            }
            TimerKind::Timeout => {
                let Some(n) = t.node else { return };
                if self.node(n).status.is_settled() {
                    return;
                }
                let after = self.timeout_of(n);
                match self.node(n).expr.options.on_timeout.unwrap_or_default() {
                    OnTimeout::Remind => {
                        self.remind(n);
                        let again = self.node(n).expr.options.remind_every.filter(|d| !d.is_zero()).unwrap_or(after);
                        if !again.is_zero() {
                            self.add_timer(Some(n), TimerKind::Timeout, again.after(self.now));
                        }
                    }
                    OnTimeout::Reject => {
                        let silent = self.silent_slots(n);
                        for (leaf, s) in &silent {
                            if let Body::Leaf { slots, .. } = &mut self.item.nodes[*leaf as usize].body {
                                slots[*s as usize].state = SlotState::Closed;
                            }
                        }
                        for (leaf, s) in silent {
                            let p = self.slots(leaf)[s as usize].prompt;
                            self.dismiss_if_idle(p, DismissReason::TimedOut { after });
                        }
                        let reason = format!("no decision within {after}");
                        self.audit(Some(n), format!("{}: {reason}", self.node(n).label));
                        self.mark(n, NodeStatus::Denied, Some(reason), None);
                        self.on_settled(n);
                    }
                    OnTimeout::Escalate => {
                        self.escalate_silent(n, after);
                        if !self.node(n).status.is_settled() && !self.item.status.is_settled() {
                            self.add_timer(Some(n), TimerKind::Timeout, after.after(self.now));
                        }
                    }
                }
            }
        }
    }

    /// Pending slots (with pending prompts) in pending leaves under `n`.
    fn silent_slots(&self, n: NodeId) -> Vec<(NodeId, u32)> {
        let mut out = Vec::new();
        let mut stack = vec![n];
        while let Some(c) = stack.pop() {
            let node = self.node(c);
            if node.status.is_settled() {
                continue;
            }
            if let Body::Leaf { slots, .. } = &node.body {
                for (i, s) in slots.iter().enumerate() {
                    if s.state == SlotState::Pending {
                        out.push((c, i as u32));
                    }
                }
            }
            stack.extend(self.item.children_of(c));
        }
        out.sort_unstable();
        out
    }

    fn remind(&mut self, n: NodeId) {
        let mut seen: Vec<PromptId> = Vec::new();
        for (leaf, s) in self.silent_slots(n) {
            let p = self.slots(leaf)[s as usize].prompt;
            if seen.contains(&p) || !self.item.prompts[p as usize].is_pending() {
                continue;
            }
            seen.push(p);
            let prompt = &mut self.item.prompts[p as usize];
            prompt.reminders += 1;
            let waiting = Duration::from_secs(self.now.duration_since(prompt.sent_at).as_secs().max(0) as u64);
            let to = prompt.approver.clone();
            self.emit(Effect::Notify { to, notice: Notice::Reminder { prompt: p, waiting } });
        }
    }

    /// `on_timeout: escalate`: each silent approver under `n` is replaced by their nearest available manager.
    fn escalate_silent(&mut self, n: NodeId, after: Duration) {
        let why = format!("no answer within {after}");
        let silent = self.silent_slots(n);
        let mut leaves: Vec<NodeId> = Vec::new();
        let mut told: Vec<UserId> = Vec::new();
        for (leaf, s) in silent {
            if self.node(leaf).status.is_settled() {
                continue;
            }
            let person = self.slots(leaf)[s as usize].person.clone();
            let target = self.escalation_target(leaf, &person);
            let old_prompt = self.slots(leaf)[s as usize].prompt;
            self.replace_slot(leaf, s, target.clone(), why.clone());
            self.dismiss_if_idle(old_prompt, DismissReason::Escalated { to: target.clone(), after });
            let first_for_target = target.as_ref().is_none_or(|t| !told.contains(t));
            if let Some(t) = &target {
                told.push(t.clone());
            }
            if first_for_target {
                self.mark_escalated(&person, target.as_ref(), why.clone());
            } else {
                self.audit(None, format!("escalated from {} to the same manager: {why}", self.name(&person)));
            }
            if !leaves.contains(&leaf) {
                leaves.push(leaf);
            }
        }
        let reason = format!("no decision within {after} and nobody left to escalate to");
        for leaf in leaves {
            self.recount(leaf, Some(reason.clone()), None);
        }
    }

    /// The nearest manager above `person` who can be asked now for this leaf.
    fn escalation_target(&self, leaf: NodeId, person: &str) -> Option<UserId> {
        let spec = &self.item.spec;
        let n = self.node(leaf);
        let self_rule = n.expr.options.self_approval.unwrap_or(n.inherited.self_approval);
        self.cat
            .directory
            .manager_chain(person)
            .find(|m| {
                m.is_available(self.now)
                    && (self_rule == SelfApproval::Allow || (m.id != spec.requester && m.id != spec.beneficiary))
            })
            .map(|m| m.id.clone())
    }

    pub(crate) fn cancel(&mut self, by: &str, reason: Option<String>) -> Result<(), Refusal> {
        if let Some(o) = &self.item.outcome {
            return Err(Refusal::ItemSettled { status: o.status, by: o.by.clone(), at: o.at });
        }
        let by_id = self.cat.directory.user(by).map_or_else(|| by.to_owned(), |u| u.id.clone());
        if by_id != self.item.spec.requester {
            return Err(Refusal::NotTheRequester { requester: self.item.spec.requester.clone() });
        }
        let mut text = format!("cancelled by {}", self.name(&by_id));
        if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
            text.push_str(&format!(": {}", r.trim()));
        }
        self.settle_item(ItemStatus::Cancelled, text, Some(by_id));
        Ok(())
    }

    pub(crate) fn end_grant(&mut self, how: GrantEnd, by: Option<&str>) -> Result<(), Refusal> {
        let Some(grant) = &self.item.grant else { return Err(Refusal::NoActiveGrant) };
        if grant.ended.is_some() {
            return Err(Refusal::NoActiveGrant);
        }
        if let Some(g) = &mut self.item.grant {
            g.ended = Some((how, self.now));
        }
        let expiry: Vec<TimerId> =
            self.item.active_timers().filter(|t| t.kind == TimerKind::GrantExpiry).map(|t| t.id).collect();
        for t in expiry {
            self.cancel_timer(t);
        }
        let user = self.item.spec.beneficiary.clone();
        let by_text = by.map(|b| format!(" by {}", self.name(b))).unwrap_or_default();
        self.audit(None, format!("grant {}{by_text}", how.as_str()));
        self.emit(Effect::EndGrant { user: user.clone(), how });
        self.emit(Effect::Webhook { event: WebhookEvent::GrantEnded, expires_at: None });
        self.emit(Effect::Notify { to: user, notice: Notice::GrantEnded { how } });
        Ok(())
    }
}

/// Small integer ids for people, for the matching below.
fn intern<'s>(index: &mut HashMap<&'s str, usize>, people: Vec<&'s str>) -> Vec<usize> {
    people
        .into_iter()
        .map(|p| {
            let next = index.len();
            *index.entry(p).or_insert(next)
        })
        .collect()
}

/// A node status as a past-tense word.
fn node_word(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Pending => "pending",
        NodeStatus::Approved => "approved",
        NodeStatus::Denied => "denied",
        NodeStatus::Expired => "expired",
        NodeStatus::Closed => "closed",
    }
}

/// The item status a settled root means.
fn item_status(root: NodeStatus) -> ItemStatus {
    match root {
        NodeStatus::Approved => ItemStatus::Approved,
        NodeStatus::Expired => ItemStatus::Expired,
        NodeStatus::Pending => ItemStatus::Requested,
        NodeStatus::Denied | NodeStatus::Closed => ItemStatus::Denied,
    }
}

/// The largest number of children that can each get `need` distinct people from their own set, no person
/// serving two children (a bipartite matching, grown child by child with augmenting paths).
fn max_satisfied(children: &[(u32, Vec<usize>)], people: usize) -> u32 {
    // unit slot -> (child, its people)
    let mut owner: Vec<Option<usize>> = vec![None; people]; // person -> unit
    let mut units: Vec<&[usize]> = Vec::new();
    let mut satisfied = 0;
    for (need, set) in children {
        let snapshot = owner.clone();
        let first_unit = units.len();
        let mut ok = true;
        for _ in 0..*need {
            units.push(set);
            let u = units.len() - 1;
            let mut seen = vec![false; people];
            if !augment(u, &units, &mut owner, &mut seen) {
                ok = false;
                break;
            }
        }
        if ok {
            satisfied += 1;
        } else {
            owner = snapshot;
            units.truncate(first_unit);
        }
    }
    satisfied
}

fn augment(u: usize, units: &[&[usize]], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for &p in units[u] {
        if seen[p] {
            continue;
        }
        seen[p] = true;
        if owner[p].is_none_or(|other| augment(other, units, owner, seen)) {
            owner[p] = Some(u);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::max_satisfied;

    #[test]
    fn matching_reassigns_a_person_to_satisfy_more_children() {
        // p (0) could serve A or B; q (1) only A. Optimal: q -> A, p -> B.
        assert_eq!(max_satisfied(&[(1, vec![0, 1]), (1, vec![0])], 2), 2);
        // One person, two sources: counts once.
        assert_eq!(max_satisfied(&[(1, vec![0]), (1, vec![0])], 1), 1);
        // A child needing two distinct people.
        assert_eq!(max_satisfied(&[(2, vec![0, 1]), (1, vec![1])], 2), 1);
        assert_eq!(max_satisfied(&[(2, vec![0, 1, 2]), (1, vec![1])], 3), 2);
    }
}
