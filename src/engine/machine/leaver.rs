//! A person asked on an item can no longer be asked (DESIGN 7.5): deactivated or removed in the identity
//! provider, or gone out of office while their prompt waits.
//!
//! Their pending slots are closed as [`SlotState::Unavailable`] and their prompt dismissed with the reason. In
//! each step they leave, what is missing is asked again as the step would have been had they been unavailable
//! when it started: when the others still asked can reach the quorum, nothing more; otherwise the step's
//! fallback (its own `fallback`, inherited, or by default the requester's nearest available manager) is asked
//! in their place, one person per missing answer, in the same step. With nobody to ask, the step fails as one
//! with no approver does. The requester and the others told of escalations hear of it.

use super::*;

impl Machine<'_> {
    pub(crate) fn unavailable(&mut self, user: &str, reason: &str) -> Result<(), Refusal> {
        if let Some(o) = &self.item.outcome {
            return Err(Refusal::ItemSettled { status: o.status, by: o.by.clone(), at: o.at });
        }
        let mut hits: Vec<(NodeId, u32)> = Vec::new();
        for (i, n) in self.item.nodes.iter().enumerate() {
            if n.status.is_settled() {
                continue;
            }
            if let Body::Leaf { slots, .. } = &n.body {
                for (s, slot) in slots.iter().enumerate() {
                    if slot.person == user && slot.state == SlotState::Pending {
                        hits.push((i as NodeId, s as u32));
                    }
                }
            }
        }
        if hits.is_empty() {
            return Err(Refusal::NothingPending { user: user.to_owned() });
        }
        let why = format!("{} is no longer available ({reason})", self.name(user));
        let mut prompts = Vec::new();
        let mut leaves = Vec::new();
        for (n, s) in hits {
            if let Body::Leaf { slots, .. } = &mut self.item.nodes[n as usize].body {
                slots[s as usize].state = SlotState::Unavailable;
                prompts.push(slots[s as usize].prompt);
            }
            let missing = self.missing(n);
            let mut asked = Vec::new();
            if missing > 0 {
                for person in self.fallback_people(n).into_iter().take(missing as usize) {
                    if let Some(p) = self.add_slot(n, person.clone(), Some(user.to_owned())) {
                        self.send_prompt(n, p, Some((user.to_owned(), why.clone())));
                    }
                    asked.push(person);
                }
            }
            if missing == 0 {
                self.audit(Some(n), format!("{why}: the others asked can still decide"));
            } else if asked.is_empty() {
                self.mark_escalated(user, None, why.clone());
            }
            for to in &asked {
                self.mark_escalated(user, Some(to), why.clone());
            }
            if !leaves.contains(&n) {
                leaves.push(n);
            }
        }
        for p in prompts {
            self.dismiss_if_idle(p, DismissReason::Unavailable { reason: reason.to_owned() });
        }
        for n in leaves {
            let label = self.node(n).label.clone();
            self.recount(n, Some(format!("no approver available for {label}: {why}")), None);
        }
        Ok(())
    }

    /// How many more answers leaf `n` needs than the people still asked (or already approving) can give.
    fn missing(&self, n: NodeId) -> u32 {
        let Body::Leaf { required, slots, .. } = &self.node(n).body else { return 0 };
        let live = slots.iter().filter(|s| matches!(s.state, SlotState::Pending | SlotState::Approved)).count() as u32;
        required.saturating_sub(live)
    }

    /// Who leaf `n`'s fallback names and can be asked now: available, not already asked in the step, and allowed
    /// by its self-approval rule. A step that is itself a fallback has none.
    fn fallback_people(&self, n: NodeId) -> Vec<UserId> {
        let node = self.node(n);
        let fallback = match node.expr.options.fallback.clone().or_else(|| node.inherited.fallback.clone()) {
            Some(f) => Some(f),
            None if node.inherited.fallback_for.is_some() => None,
            None => Some(Fallback::Expr(Box::new(Expr::new(ExprKind::Manager { of: ManagerOf::RequesterChain })))),
        };
        let Some(Fallback::Expr(expr)) = fallback else { return Vec::new() };
        let spec = &self.item.spec;
        let self_rule = node.expr.options.self_approval.unwrap_or(node.inherited.self_approval);
        let in_step: Vec<&str> = self.slots(n).iter().map(|s| s.person.as_str()).collect();
        candidates::named(self.cat, spec, &expr.kind, self.now)
            .named
            .into_iter()
            .filter(|p| !in_step.contains(&p.as_str()))
            .filter(|p| self_rule == SelfApproval::Allow || (*p != spec.requester && *p != spec.beneficiary))
            .filter(|p| candidates::unavailable(self.cat, p, self.now).is_none())
            .collect()
    }
}
