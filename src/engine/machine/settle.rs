//! Settling: closing what a settled node leaves behind, telling its parent, finishing the item.

use super::*;

impl Machine<'_> {
    /// Re-counts a node after something under it changed; settles it (and on up) if it is decided.
    pub(super) fn recount(&mut self, id: NodeId, reason: Option<String>, by: Option<UserId>) {
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
    pub(super) fn on_settled(&mut self, id: NodeId) {
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
    pub(super) fn close_subtree(&mut self, id: NodeId, outcome: NodeStatus) {
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

    pub(super) fn is_under(&self, node: NodeId, ancestor: NodeId) -> bool {
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
    pub(super) fn dismiss_if_idle(&mut self, pid: PromptId, reason: DismissReason) {
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
    pub(super) fn finish(&mut self) {
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
    pub(super) fn settle_item(&mut self, status: ItemStatus, reason: String, by: Option<UserId>) {
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
    pub(super) fn people_to_tell(&self) -> Vec<UserId> {
        let s = &self.item.spec;
        if s.requester == s.beneficiary {
            vec![s.requester.clone()]
        } else {
            vec![s.requester.clone(), s.beneficiary.clone()]
        }
    }

    /// The shortest of: the requested duration, every approver's chosen duration, automatic approvals'
    /// durations, and every `max_duration` limit on approved nodes and on the resource.
    pub(super) fn grant_duration(&self) -> Option<Duration> {
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
}
