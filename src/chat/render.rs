//! Engine effects in words: what an approver's prompt says, what replaces its buttons when it closes, and
//! what a notification tells. Written once here so Slack, Discord and the console say the same things.

use signoff_port::{Notification, PromptClosing, PromptMessage};

use crate::catalog::Catalog;
use crate::engine::{DismissReason, GrantEnd, Item, ItemStatus, NodeStatus, Notice, PromptContext, Verdict};
use crate::time::{Duration, Timestamp};

/// Shorter durations offered to an approver when the item asks for one: common choices below the limit,
/// then the limit itself.
const DURATION_CHOICES: [u64; 5] = [3600, 4 * 3600, 8 * 3600, 86_400, 7 * 86_400];

fn name(cat: &Catalog, id: &str) -> String {
    cat.directory.name_of(id).to_owned()
}

/// An instant for people: `2026-11-23 10:42 UTC`.
pub fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// One line about the item: "Ana Diaz: Salesforce (admin) for Ben Okafor".
pub fn summary(cat: &Catalog, item: &Item) -> String {
    let s = &item.spec;
    let resource = cat.directory.resource(&s.resource).map_or(s.resource.as_str(), |r| r.name.as_str());
    let role = s.role.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
    let for_whom =
        if s.beneficiary == s.requester { String::new() } else { format!(" for {}", name(cat, &s.beneficiary)) };
    format!("{}: {resource}{role}{for_whom}", name(cat, &s.requester))
}

/// The prompt an approver sees.
pub fn prompt(cat: &Catalog, item: &Item, token: &str, ctx: &PromptContext) -> PromptMessage {
    let s = &item.spec;
    let resource = cat.directory.resource(&s.resource).map_or_else(|| s.resource.clone(), |r| r.name.clone());
    let limit = ctx.max_duration;
    let duration_choices = match limit {
        Some(max) => {
            let mut v: Vec<String> = DURATION_CHOICES
                .iter()
                .filter(|&&c| c < max.as_secs())
                .map(|&c| Duration::from_secs(c).to_string())
                .collect();
            v.push(max.to_string());
            v
        }
        None => Vec::new(),
    };
    PromptMessage {
        token: token.to_owned(),
        requester: name(cat, &s.requester),
        beneficiary: (s.beneficiary != s.requester).then(|| name(cat, &s.beneficiary)),
        resource,
        role: s.role.clone(),
        reason: s.justification.clone(),
        duration: limit.map(|d| d.to_string()),
        progress: if ctx.required == 1 && ctx.asked <= 1 {
            "your approval is needed".to_owned()
        } else {
            format!("{} of {} needed", ctx.required, ctx.asked)
        },
        step: ctx.step.as_ref().map(|(k, n, label)| format!("step {k} of {n}: {label}")),
        replaces: ctx.replaces.as_ref().map(|(who, why)| format!("in place of {}: {why}", name(cat, who))),
        fallback: ctx.fallback_for.as_ref().map(|f| format!("asked as a fallback for {f}")),
        allow_escalate: ctx.allow_escalate,
        duration_choices,
        link: None,
        step_up: ctx.step_up,
    }
}

/// What replaces the buttons of a prompt its approver answered.
pub fn answered(cat: &Catalog, item: &Item, verdict: &Verdict, at: Timestamp) -> PromptClosing {
    let headline = match verdict {
        Verdict::Approve { duration: Some(d) } => format!("You approved this for {d}"),
        Verdict::Approve { duration: None } => "You approved this".to_owned(),
        Verdict::Deny => "You denied this".to_owned(),
        Verdict::Escalate { to } => format!("You handed this to {}", name(cat, to)),
    };
    PromptClosing { headline, at: when(at), summary: summary(cat, item), link: None }
}

/// What replaces the buttons of a prompt taken away without its approver's answer.
pub fn dismissed(cat: &Catalog, item: &Item, reason: &DismissReason, at: Timestamp) -> PromptClosing {
    let by = |b: &Option<String>| b.as_ref().map(|b| format!(" by {}", name(cat, b))).unwrap_or_default();
    let headline = match reason {
        DismissReason::Settled { outcome, by: who } => match outcome {
            NodeStatus::Approved => format!("Approved{}: no longer needed", by(who)),
            NodeStatus::Denied => format!("Denied{}: no longer needed", by(who)),
            NodeStatus::Expired => "Timed out: no longer needed".to_owned(),
            NodeStatus::Pending | NodeStatus::Closed => "No longer needed".to_owned(),
        },
        DismissReason::ItemSettled { outcome, by: who } => format!("Request {outcome}{}: no longer needed", by(who)),
        DismissReason::Escalated { to: Some(t), after } => {
            format!("Escalated to {} after {after} without an answer", name(cat, t))
        }
        DismissReason::Escalated { to: None, after } => format!("Timed out after {after} without an answer"),
        DismissReason::TimedOut { after } => format!("Rejected: no decision within {after}"),
        DismissReason::Cancelled { by: who } => format!("Cancelled by {}", name(cat, who)),
        DismissReason::Unavailable { reason } => format!("You are no longer available ({reason}): asked elsewhere"),
    };
    PromptClosing { headline, at: when(at), summary: summary(cat, item), link: None }
}

/// A notification in words.
pub fn notification(cat: &Catalog, item: &Item, notice: &Notice) -> Notification {
    let about = summary(cat, item);
    match notice {
        Notice::Outcome { status, reason, expires_at } => {
            let title = match status {
                ItemStatus::Approved => "Access approved",
                ItemStatus::Denied => "Access denied",
                ItemStatus::Expired => "Request expired",
                ItemStatus::Cancelled => "Request cancelled",
                ItemStatus::Requested | ItemStatus::Escalated => "Request update",
            };
            let until = expires_at.map(|t| format!("\nAccess ends {}.", when(t))).unwrap_or_default();
            Notification { title: title.to_owned(), body: format!("{about}\n{reason}.{until}"), link: None }
        }
        Notice::Escalated { from, to, reason } => Notification {
            title: "Request escalated".to_owned(),
            body: match to {
                Some(t) => format!("{about}\n{} replaces {}: {reason}.", name(cat, t), name(cat, from)),
                None => format!("{about}\n{}: {reason}; nobody is left to ask.", name(cat, from)),
            },
            link: None,
        },
        Notice::Reminder { waiting, .. } => Notification {
            title: "Reminder: your approval is waiting".to_owned(),
            body: format!("{about}\nWaiting for {waiting}."),
            link: None,
        },
        Notice::FallbackAssigned { step, reason } => Notification {
            title: "You are asked as a fallback".to_owned(),
            body: format!("{about}\nStep {step}: {reason}."),
            link: None,
        },
        Notice::NoApprover { step } => Notification {
            title: "No approver available".to_owned(),
            body: format!("{about}\nNobody can be asked for {step}; the request is denied."),
            link: None,
        },
        Notice::GrantEnded { how } => Notification {
            title: match how {
                GrantEnd::Expired => "Access expired",
                GrantEnd::Revoked => "Access revoked",
                GrantEnd::Released => "Access released",
            }
            .to_owned(),
            body: about,
            link: None,
        },
    }
}
