//! The approval engine: a pure state machine.
//!
//! [`start`] turns a request item into its first state and effects; [`apply`] takes a state and an event
//! and returns the next state and effects, or a [`Refusal`] that says why the event changes nothing. The
//! engine reads the [`Catalog`] and the time carried by each event, and nothing else: no clock, no
//! database, no network. Everything that touches the world (storing state, sending prompts, firing timers,
//! calling the webhook) is the runtime's job, driven by the effects.
//!
//! Determinism: the same catalog, item and events always give the same states and effects, so an item can
//! be replayed from its event log and checked against its stored state.

mod candidates;
mod event;
mod facts;
mod machine;
pub mod plan;
mod state;

use crate::catalog::{Catalog, LookupError};
use crate::time::Timestamp;

pub use event::{Decision, Effect, Event, Notice, PromptContext, Refusal, Started, WebhookEvent};
pub use facts::RuleFacts;
pub use state::{
    Body, DecisionRecord, DismissReason, Grant, GrantEnd, Inherited, Item, ItemSpec, ItemStatus, Node, NodeId,
    NodeStatus, Outcome, PassKind, Prompt, PromptId, PromptState, Slot, SlotState, Timer, TimerId, TimerKind, Verdict,
    WEB_CHANNEL,
};

use machine::{Machine, Mode};

/// Why an item cannot start: something it names does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// An unknown resource, role or person.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// Starts an item: picks its workflow, starts the workflow's first steps, and returns the state and what to
/// do (prompts to send, timers to set; or, when the workflow decides at once, the outcome).
pub fn start(cat: &Catalog, spec: ItemSpec, now: Timestamp) -> Result<Started, StartError> {
    let (mut m, expr) = machine_for(cat, spec, now, Mode::Live)?;
    m.fx.push(Effect::Audit {
        what: format!(
            "workflow {} ({})",
            m.item.workflow.as_deref().unwrap_or("written inline"),
            m.item.workflow_reason
        ),
        node: None,
    });
    m.start_root(expr);
    m.item.events_applied = 0;
    let effects = compact(std::mem::take(&mut m.fx));
    Ok(Started { item: m.item, effects })
}

/// Applies one event. On success returns the new state and its effects; on refusal the caller's state is
/// unchanged (it was only borrowed).
pub fn apply(cat: &Catalog, item: &Item, event: &Event) -> Result<(Item, Vec<Effect>), Refusal> {
    let mut m = Machine::new(cat, item.clone(), event.at(), Mode::Live);
    match event {
        Event::Decide { prompt, by, decision, channel, .. } => {
            m.decide(*prompt, by, decision.clone(), channel.clone())?
        }
        Event::TimerFired { timer, .. } => m.timer_fired(*timer),
        Event::Cancel { by, reason, .. } => m.cancel(by, reason.clone())?,
        Event::Unavailable { user, reason, .. } => m.unavailable(user, reason)?,
        Event::EndGrant { by, how, .. } => m.end_grant(*how, Some(by))?,
    }
    m.item.events_applied += 1;
    let effects = compact(std::mem::take(&mut m.fx));
    Ok((m.item, effects))
}

/// Lays out what an item would do without doing it: every step of every sequence and every branch started
/// at `now`, nothing sent. `signoff simulate` prints this.
pub fn plan(cat: &Catalog, spec: ItemSpec, now: Timestamp) -> Result<Item, StartError> {
    let (mut m, expr) = machine_for(cat, spec, now, Mode::Plan)?;
    m.start_root(expr);
    Ok(m.item)
}

/// A machine holding a fresh item with no nodes yet, and the workflow its root will run.
fn machine_for(
    cat: &Catalog,
    spec: ItemSpec,
    now: Timestamp,
    mode: Mode,
) -> Result<(Machine<'_>, crate::policy::Expr), StartError> {
    for who in
        std::iter::once(&spec.requester).chain(std::iter::once(&spec.beneficiary)).chain(spec.co_beneficiaries.iter())
    {
        if cat.directory.user(who).is_none() {
            return Err(LookupError::UnknownUser(who.clone()).into());
        }
    }
    let choice = cat.workflow_for(&spec.resource, spec.role.as_deref())?;
    let mut spec = spec;
    // Store canonical ids so that comparisons in the engine are plain string equality.
    spec.requester = canonical(cat, &spec.requester);
    spec.beneficiary = canonical(cat, &spec.beneficiary);
    for b in &mut spec.co_beneficiaries {
        *b = canonical(cat, b);
    }
    let item = Item {
        spec,
        workflow: choice.name.clone(),
        workflow_reason: choice.reason.to_string(),
        status: ItemStatus::Requested,
        created_at: now,
        nodes: Vec::new(),
        prompts: Vec::new(),
        timers: Vec::new(),
        decisions: Vec::new(),
        outcome: None,
        grant: None,
        events_applied: 0,
    };
    Ok((Machine::new(cat, item, now, mode), choice.expr))
}

fn canonical(cat: &Catalog, who: &str) -> String {
    cat.directory.user(who).map_or_else(|| who.to_owned(), |u| u.id.clone())
}

/// Drops effects that cancel out within one transition: a prompt sent and dismissed before anyone could
/// see it (a branch decided while its siblings were still starting), a timer set and cancelled.
fn compact(effects: Vec<Effect>) -> Vec<Effect> {
    use std::collections::HashSet;
    let sent: HashSet<PromptId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendPrompt { prompt, .. } => Some(*prompt),
            _ => None,
        })
        .collect();
    let scheduled: HashSet<TimerId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::ScheduleTimer { timer, .. } => Some(*timer),
            _ => None,
        })
        .collect();
    let unseen_prompts: HashSet<PromptId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::DismissPrompt { prompt, .. } if sent.contains(prompt) => Some(*prompt),
            _ => None,
        })
        .collect();
    let unused_timers: HashSet<TimerId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::CancelTimer { timer } if scheduled.contains(timer) => Some(*timer),
            _ => None,
        })
        .collect();
    effects
        .into_iter()
        .filter(|e| match e {
            Effect::SendPrompt { prompt, .. } | Effect::DismissPrompt { prompt, .. } => {
                !unseen_prompts.contains(prompt)
            }
            Effect::ScheduleTimer { timer, .. } | Effect::CancelTimer { timer } => !unused_timers.contains(timer),
            _ => true,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
