//! Counting: what a node's children or slots say its status should be.

use super::*;

impl Machine<'_> {
    /// What a node's children or slots say its status should be now.
    pub(super) fn evaluate(&self, id: NodeId) -> NodeStatus {
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
    pub(super) fn distinct_counts(&self, children: &[NodeId]) -> (u32, u32) {
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
    pub(super) fn people_under(&self, id: NodeId) -> Vec<&str> {
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
    pub(super) fn reason_from_children(&self, id: NodeId, s: NodeStatus) -> (Option<String>, Option<UserId>) {
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
}
