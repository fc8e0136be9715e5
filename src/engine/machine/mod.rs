//! The transitions: starting nodes, counting answers, settling nodes and items, timeouts and escalation.
//!
//! A [`Machine`] holds one item's state while one event is applied, and collects the effects. Starting a
//! node never looks at its parent; a node that settles tells its parent, which may settle in turn, up to
//! the root, whose outcome is the item's. That one path (settle, then the parent reacts) is the only way
//! anything settles, so "once settled, no prompt is pending" is enforced in one place.

mod count;
mod events;
mod leaver;
mod settle;
mod start;

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
    Outcome, PassKind, Prompt, PromptId, PromptState, Slot, SlotState, Timer, TimerId, TimerKind, Verdict, WEB_CHANNEL,
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

    pub(super) fn name(&self, id: &str) -> String {
        self.cat.directory.name_of(id).to_owned()
    }

    pub(super) fn live(&self) -> bool {
        self.mode == Mode::Live
    }

    pub(super) fn emit(&mut self, e: Effect) {
        if self.live() {
            self.fx.push(e);
        }
    }

    pub(super) fn audit(&mut self, node: Option<NodeId>, what: String) {
        self.emit(Effect::Audit { what, node });
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
    pub(super) fn matching_reassigns_a_person_to_satisfy_more_children() {
        // p (0) could serve A or B; q (1) only A. Optimal: q -> A, p -> B.
        assert_eq!(max_satisfied(&[(1, vec![0, 1]), (1, vec![0])], 2), 2);
        // One person, two sources: counts once.
        assert_eq!(max_satisfied(&[(1, vec![0]), (1, vec![0])], 1), 1);
        // A child needing two distinct people.
        assert_eq!(max_satisfied(&[(2, vec![0, 1]), (1, vec![1])], 2), 1);
        assert_eq!(max_satisfied(&[(2, vec![0, 1, 2]), (1, vec![1])], 3), 2);
    }
}
