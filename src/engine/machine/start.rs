//! Starting nodes: turning an expression into a node, its children and its prompts.

use super::*;

impl Machine<'_> {
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

    pub(super) fn root_inherited(&self) -> Inherited {
        Inherited {
            self_approval: SelfApproval::Exclude,
            fallback: None,
            allow_escalate: true,
            fallback_for: None,
            timed_above: false,
            deferred: false,
            step_up: false,
        }
    }

    pub(super) fn push_node(
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

    pub(super) fn node(&self, id: NodeId) -> &Node {
        &self.item.nodes[id as usize]
    }

    pub(super) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.item.nodes[id as usize]
    }

    /// Marks a node settled at start or by its own counting (does not tell the parent).
    pub(super) fn mark(&mut self, id: NodeId, status: NodeStatus, reason: Option<String>, by: Option<UserId>) {
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
    pub(super) fn inherit(&self, expr: &Expr, inh: &Inherited) -> Inherited {
        let o = &expr.options;
        Inherited {
            self_approval: o.self_approval.unwrap_or(inh.self_approval),
            fallback: o.fallback.clone().or_else(|| inh.fallback.clone()),
            allow_escalate: o.allow_escalate.unwrap_or(inh.allow_escalate),
            fallback_for: inh.fallback_for.clone(),
            timed_above: inh.timed_above || o.timeout.is_some_and(|t| !t.is_zero()),
            deferred: false,
            step_up: o.step_up.unwrap_or(inh.step_up),
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

    pub(super) fn set_pass_child(&mut self, id: NodeId, c: NodeId) {
        if let Body::Pass { child, .. } = &mut self.node_mut(id).body {
            *child = Some(c);
        }
    }

    pub(super) fn push_child(&mut self, id: NodeId, c: NodeId) {
        match &mut self.node_mut(id).body {
            Body::Sequential { children, .. } | Body::Parallel { children, .. } => children.push(c),
            _ => {}
        }
    }

    /// A pass-through node takes its child's status.
    pub(super) fn mirror(&mut self, id: NodeId, child: NodeId) {
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
    pub(super) fn advance_sequence(&mut self, id: NodeId) -> bool {
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

    pub(super) fn activate_leaf(
        &mut self,
        expr: Expr,
        parent: Option<NodeId>,
        inh: Inherited,
        label: String,
    ) -> NodeId {
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

    pub(super) fn slots(&self, id: NodeId) -> &[Slot] {
        match &self.node(id).body {
            Body::Leaf { slots, .. } => slots,
            _ => &[],
        }
    }

    /// Adds `person` to leaf `id`, reusing their pending prompt in this item if they have one (so a person
    /// asked by several sources gets one message). Returns the prompt when a new one must be sent.
    pub(super) fn add_slot(&mut self, id: NodeId, person: UserId, replaces: Option<UserId>) -> Option<PromptId> {
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
                    last_reminded: None,
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
    pub(super) fn send_prompt(&mut self, leaf: NodeId, prompt: PromptId, replaces: Option<(UserId, String)>) {
        let context = self.prompt_context(leaf, replaces);
        let to = self.item.prompts[prompt as usize].approver.clone();
        self.emit(Effect::SendPrompt { prompt, to, context });
    }

    pub(super) fn prompt_context(&self, leaf: NodeId, replaces: Option<(UserId, String)>) -> PromptContext {
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
            step_up: n.needs_step_up(),
        }
    }

    /// The longest grant an approver of `leaf` may give: the shortest of the requested duration, the
    /// resource's limit and every `max_duration` on the way to the root.
    pub(super) fn max_duration_at(&self, leaf: NodeId) -> Option<Duration> {
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
    pub(super) fn arm_timers(&mut self, id: NodeId) {
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

    pub(super) fn add_timer(&mut self, node: Option<NodeId>, kind: TimerKind, due: Timestamp) -> TimerId {
        let tid = self.item.timers.len() as TimerId;
        self.item.timers.push(Timer { id: tid, node, kind, due, active: true });
        self.emit(Effect::ScheduleTimer { timer: tid, due });
        tid
    }

    pub(super) fn cancel_timer(&mut self, tid: TimerId) {
        if let Some(t) = self.item.timers.get_mut(tid as usize)
            && t.active
        {
            t.active = false;
            self.emit(Effect::CancelTimer { timer: tid });
        }
    }

    /// The effective timeout of a node (own, or the configured default for a leaf with none above).
    pub(super) fn timeout_of(&self, id: NodeId) -> Duration {
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
}
