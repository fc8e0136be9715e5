//! Requests made from chat (`/request` on Slack or Discord), shared by both platforms: the words typed
//! become a request, and the answer says what happened in a sentence or two.

use crate::engine::ItemStatus;
use crate::runtime::{NewRequest, Runtime, RuntimeError};
use crate::time::Duration;

/// A request as typed in chat, with people already mapped to directory ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatRequest {
    /// The requester's directory id.
    pub requester: String,
    /// The resource as typed (id or display name).
    pub resource: String,
    /// The role, if typed.
    pub role: Option<String>,
    /// Directory ids of the people it is for (empty: the requester).
    pub for_: Vec<String>,
    /// The duration as typed (`8h`).
    pub duration: Option<String>,
    /// The reason.
    pub reason: Option<String>,
    /// What acted, for the audit trail (`slack:T0001/U0ANA`).
    pub via: Option<String>,
    /// The platform's id for this command (`slack:<trigger_id>`, `discord:<interaction id>`): the same signed command
    /// replayed returns the request it made the first time instead of making another.
    pub callback: Option<String>,
}

/// The `Idempotency-Key` namespace of requests made from chat; the API refuses keys in it, so an API client cannot
/// take a key a chat command will use.
pub const CHAT_KEY_PREFIX: &str = "chat:";

/// How a chat request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatRequestOutcome {
    /// Stored.
    Created {
        /// The request id.
        id: String,
        /// One line per item: "Salesforce (admin) for Ben Okafor: waiting for approval".
        summary: String,
        /// Names of the people asked now.
        asked: Vec<String>,
    },
    /// The resource is unknown (or missing): show what can be requested, closest to `typo` first.
    Help {
        /// What was typed, if anything.
        typo: Option<String>,
    },
    /// Refused, with the reason in a sentence.
    Refused(String),
}

/// The resource a typed word means: an id, or a display name (case-insensitive).
pub fn resolve_resource(runtime: &Runtime, typed: &str) -> Option<String> {
    let dir = &runtime.catalog().directory;
    if dir.resource(typed).is_some() {
        return Some(typed.to_owned());
    }
    let lower = typed.to_lowercase();
    dir.resources()
        .iter()
        .find(|r| r.id.to_lowercase() == lower || r.name.to_lowercase() == lower)
        .map(|r| r.id.clone())
}

/// Every resource as (id, name), for help lists and autocomplete.
pub fn resources(runtime: &Runtime) -> Vec<(String, String)> {
    runtime.catalog().directory.resources().iter().map(|r| (r.id.clone(), r.name.clone())).collect()
}

/// Creates the request and says how it went.
pub async fn create(runtime: &Runtime, req: ChatRequest) -> ChatRequestOutcome {
    let Some(resource) = resolve_resource(runtime, &req.resource) else {
        return ChatRequestOutcome::Help { typo: Some(req.resource).filter(|r| !r.is_empty()) };
    };
    let duration = match req.duration.as_deref().map(Duration::parse).transpose() {
        Ok(d) => d,
        Err(e) => return ChatRequestOutcome::Refused(format!("{e}.")),
    };
    let new = NewRequest {
        requester: req.requester,
        resource,
        roles: req.role.into_iter().collect(),
        for_: req.for_,
        justification: req.reason,
        duration,
        via: req.via,
    };
    let key = req.callback.map(|c| format!("{CHAT_KEY_PREFIX}{c}"));
    match runtime.create_once(new, crate::time::now(), key).await {
        Ok((view, _)) => {
            let cat = runtime.catalog();
            let name = |id: &str| cat.directory.name_of(id).to_owned();
            let mut asked: Vec<String> = Vec::new();
            let mut lines = Vec::new();
            for item in &view.items {
                for p in item.prompts.iter().filter(|p| p.state == "pending") {
                    let n = name(&p.approver);
                    if !asked.contains(&n) {
                        asked.push(n);
                    }
                }
                let resource =
                    cat.directory.resource(&item.resource).map_or(item.resource.as_str(), |r| r.name.as_str());
                let role = item.role.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
                let state = match item.state {
                    ItemStatus::Requested | ItemStatus::Escalated => "waiting for approval".to_owned(),
                    ItemStatus::Approved => "approved at once".to_owned(),
                    other => format!("{other}: {}", item.reason.clone().unwrap_or_default()),
                };
                lines.push(format!("{resource}{role} for {}: {state}", name(&item.for_)));
            }
            ChatRequestOutcome::Created { id: view.id, summary: lines.join("\n"), asked }
        }
        Err(e) => ChatRequestOutcome::Refused(match e {
            RuntimeError::Store(_) => {
                "Something went wrong on our side; nothing was requested. Please try again.".to_owned()
            }
            other => format!("{other}."),
        }),
    }
}
