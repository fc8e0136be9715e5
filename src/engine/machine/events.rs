//! Events: decisions, timers, cancellation and grant ends.

use super::*;

impl Machine<'_> {
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
        // Only the web checks the second factor; it calls with channel `web` after checking the sign-in.
        if channel != WEB_CHANNEL && links.iter().any(|&(n, _)| self.node(n).needs_step_up()) {
            return Err(Refusal::StepUpRequired { channel });
        }
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

    pub(super) fn describe_dismissal(&self, reason: &DismissReason) -> (String, Option<UserId>) {
        let by_text = |word: &str, by: &Option<UserId>| match by {
            Some(b) => format!("{word} by {}", self.name(b)),
            None => format!("the step was {word}"),
        };
        match reason {
            DismissReason::Settled { outcome, by } => (by_text(outcome.word(), by), by.clone()),
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
            DismissReason::Unavailable { reason } => (format!("no longer available ({reason})"), None),
        }
    }

    pub(super) fn check_escalation_target(&self, to: &str, by: &str, links: &[(NodeId, u32)]) -> Result<(), Refusal> {
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
    pub(super) fn replace_slot(&mut self, n: NodeId, s: u32, to: Option<UserId>, why: String) {
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

    pub(super) fn mark_escalated(&mut self, from: &str, to: Option<&UserId>, reason: String) {
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
                if let Some(every) = self.node(n).expr.options.remind_every.filter(|d| !d.is_zero()) {
                    self.remind(n, every);
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
                    // With `remind_every`, the node's reminder timer already reminds at that pace: the timeout adds no
                    // second schedule (that sent every reminder twice). Without it, the timeout reminds, and again
                    // after each further timeout.
                    OnTimeout::Remind => {
                        if self.node(n).expr.options.remind_every.is_some_and(|d| !d.is_zero()) {
                            self.audit(
                                Some(n),
                                format!("{}: no decision within {after}; reminders go on", self.node(n).label),
                            );
                        } else if !after.is_zero() {
                            self.remind(n, after);
                            self.add_timer(Some(n), TimerKind::Timeout, after.after(self.now));
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
    pub(super) fn silent_slots(&self, n: NodeId) -> Vec<(NodeId, u32)> {
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

    /// Reminds the silent approvers under `n`, on a schedule of one reminder per `interval`: a prompt sent or
    /// reminded less than `interval` ago (by this schedule or another that reaches it) is left alone.
    pub(super) fn remind(&mut self, n: NodeId, interval: Duration) {
        let mut seen: Vec<PromptId> = Vec::new();
        for (leaf, s) in self.silent_slots(n) {
            let p = self.slots(leaf)[s as usize].prompt;
            if seen.contains(&p) || !self.item.prompts[p as usize].is_pending() {
                continue;
            }
            seen.push(p);
            let now = self.now;
            let prompt = &mut self.item.prompts[p as usize];
            let since = prompt.last_reminded.unwrap_or(prompt.sent_at);
            if now.duration_since(since).as_secs() < i64::try_from(interval.as_secs()).unwrap_or(i64::MAX) {
                continue;
            }
            prompt.reminders += 1;
            prompt.last_reminded = Some(now);
            let waiting = Duration::from_secs(self.now.duration_since(prompt.sent_at).as_secs().max(0) as u64);
            let to = prompt.approver.clone();
            self.emit(Effect::Notify { to, notice: Notice::Reminder { prompt: p, waiting } });
        }
    }

    /// `on_timeout: escalate`: each silent approver under `n` is replaced by their nearest available manager.
    pub(super) fn escalate_silent(&mut self, n: NodeId, after: Duration) {
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
    pub(super) fn escalation_target(&self, leaf: NodeId, person: &str) -> Option<UserId> {
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
