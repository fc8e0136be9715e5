//! Discord: `POST /discord/interactions` (PING, the `/request` command and its autocomplete, button and
//! select clicks, the deny-reason form). <https://discord.com/developers/docs/interactions/receiving-and-responding>
//!
//! Every request is verified with the application's Ed25519 public key on its raw bytes, and its signed timestamp
//! must be within 5 minutes of our clock, before anything is parsed; a signed request for another application is
//! refused too. A refusal is answered 401, counted and logged at a bounded rate, and writes nothing. The same
//! interaction replayed (same interaction id) changes nothing: a click is acknowledged as it is, a `/request`
//! answers with the request it made the first time. The clicked message is updated in the interaction
//! response itself (type 7); the approver's other copies (Slack, other prompts) follow through the outbox.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use signoff_discord::{DiscordAdapter, Inbound, Rejected, Verifier, inbound, respond};
use signoff_port::{Answer, ClickReply};

use super::AppState;
use super::refused;
use super::slack::refused_click;
use crate::chat::click;
use crate::chat::request::{self, ChatRequest, ChatRequestOutcome};
use crate::engine::Decision;
use crate::runtime::{Runtime, Source};
use crate::time::Duration;

/// Autocomplete answers at most this many choices (Discord's limit).
const AUTOCOMPLETE_CHOICES: usize = 25;

/// What the Discord route needs.
pub struct DiscordSurface {
    /// The REST client (also the chat adapter for Discord).
    pub adapter: Arc<DiscordAdapter>,
    /// Checks request signatures with the application's public key.
    pub verifier: Verifier,
    /// `[discord] application_id`: interactions for any other application are refused.
    pub application_id: String,
}

/// The runtime's view of a Discord action.
fn source(interaction: &str, user: &str) -> Source {
    Source {
        channel: "discord".to_owned(),
        via: Some(format!("discord:{user}")),
        callback: Some(interaction.to_owned()).filter(|i| !i.is_empty()).map(|i| format!("discord:{i}")),
    }
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid request signature" }))).into_response()
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/discord/interactions", post(interactions))
}

async fn interactions(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(discord) = state.discord.clone() else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "Discord is not configured" }))).into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parsed = inbound::parse_verified(
        &discord.verifier,
        header(signoff_discord::verify::SIGNATURE_HEADER),
        header(signoff_discord::verify::TIMESTAMP_HEADER),
        &body,
        crate::time::now().as_second(),
    );
    let envelope = match parsed {
        Ok(i) => i,
        Err(Rejected::Unauthorized(e)) => {
            refused::callback("discord", e.reason(), &e.to_string());
            return unauthorized();
        }
        Err(r @ Rejected::Malformed(_)) => {
            return (
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
                axum::Json(json!({ "error": r.to_string() })),
            )
                .into_response();
        }
    };
    if envelope.application_id.as_deref() != Some(discord.application_id.as_str()) {
        let detail = format!("application {}", envelope.application_id.as_deref().unwrap_or("none"));
        refused::callback("discord", "application", &detail);
        return unauthorized();
    }
    let id = envelope.id;
    let reply: Value = match envelope.inbound {
        Inbound::Ping => respond::pong(),
        Inbound::Command(cmd) => command(&state.runtime, &id, cmd).await,
        Inbound::Autocomplete { partial, .. } => respond::autocomplete(&autocomplete(&state.runtime, &partial)),
        Inbound::Click(answer) => {
            let runtime = &state.runtime;
            let dir = &runtime.catalog().directory;
            let reply = match dir.user_by_discord(&answer.clicker.id).map(|u| u.id.clone()) {
                None => {
                    refused_click(runtime, "discord", &answer.clicker.id, "not in the directory").await;
                    click::not_in_directory("Discord")
                }
                Some(by) => match decision(runtime, answer.answer) {
                    Ok(d) => click::answer(runtime, &answer.token, &by, d, source(&id, &answer.clicker.id)).await,
                    Err(message) => ClickReply::Refused { message },
                },
            };
            respond::click_reply(&reply)
        }
        Inbound::AskReason { token, clicker } => {
            // Someone who cannot answer is told now, not after writing a reason; whether they may deny this prompt
            // is decided when the form comes back, in the same commit as the denial.
            if state.runtime.catalog().directory.user_by_discord(&clicker).is_none() {
                refused_click(&state.runtime, "discord", &clicker, "not in the directory").await;
                respond::click_reply(&click::not_in_directory("Discord"))
            } else {
                respond::reason_modal(&token).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not build the deny-reason form");
                    respond::ephemeral("signoff could not open the form; use Deny, or try again.")
                })
            }
        }
        Inbound::Unknown(what) => {
            tracing::debug!(%what, "Discord interaction not for signoff");
            respond::ephemeral("signoff does not know what to do with this.")
        }
    };
    ([("content-type", respond::CONTENT_TYPE)], axum::Json(reply)).into_response()
}

fn decision(runtime: &Runtime, answer: Answer) -> Result<Decision, String> {
    Ok(match answer {
        Answer::Approve { duration } => Decision::Approve {
            duration: duration.as_deref().map(Duration::parse).transpose().map_err(|e| format!("{e}."))?,
            comment: None,
        },
        Answer::Deny { comment } => Decision::Deny { comment },
        Answer::Escalate { to } => match runtime.catalog().directory.user_by_discord(&to.id) {
            Some(u) => Decision::Escalate { to: u.id.clone(), comment: None },
            None => return Err("The person you picked is not in signoff's directory; pick someone else.".to_owned()),
        },
    })
}

/// Resources matching what has been typed: ids and names that start with it first, then those containing it.
fn autocomplete(runtime: &Runtime, partial: &str) -> Vec<(String, String)> {
    let p = partial.trim().to_lowercase();
    let mut scored: Vec<(u8, String, String)> = request::resources(runtime)
        .into_iter()
        .filter_map(|(id, name)| {
            let (i, n) = (id.to_lowercase(), name.to_lowercase());
            let score = if p.is_empty() || i.starts_with(&p) || n.starts_with(&p) {
                0
            } else if i.contains(&p) || n.contains(&p) {
                1
            } else {
                return None;
            };
            Some((score, name, id))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(AUTOCOMPLETE_CHOICES).map(|(_, name, id)| (name, id)).collect()
}

async fn command(runtime: &Runtime, interaction: &str, cmd: signoff_discord::RequestCommand) -> Value {
    let dir = &runtime.catalog().directory;
    let Some(requester) = dir.user_by_discord(&cmd.user).map(|u| u.id.clone()) else {
        return respond::ephemeral(
            "You are not in signoff's directory, so you cannot request access here. Ask an administrator to add your Discord account.",
        );
    };
    let mut for_ = Vec::with_capacity(cmd.for_.len());
    for d in &cmd.for_ {
        match dir.user_by_discord(d) {
            Some(u) => for_.push(u.id.clone()),
            None => return respond::ephemeral(&format!("<@{d}> is not in signoff's directory.")),
        }
    }
    let outcome = request::create(
        runtime,
        ChatRequest {
            requester,
            resource: cmd.resource,
            role: cmd.role,
            for_,
            duration: cmd.duration,
            reason: cmd.reason,
            via: source(interaction, &cmd.user).via,
            callback: source(interaction, &cmd.user).callback,
        },
    )
    .await;
    let text = match outcome {
        ChatRequestOutcome::Created { id, summary, asked } => {
            let who = if asked.is_empty() { String::new() } else { format!("\nAsked: {}", asked.join(", ")) };
            format!("Request {id}\n{summary}{who}")
        }
        ChatRequestOutcome::Help { typo } => {
            let all = request::resources(runtime);
            let mut names: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
            if let Some(t) = &typo {
                names.sort_by(|a, b| strsim::jaro_winkler(t, b).total_cmp(&strsim::jaro_winkler(t, a)));
            }
            let list = names.iter().take(20).copied().collect::<Vec<_>>().join(", ");
            match typo {
                Some(t) => format!("Unknown resource `{t}`. You can request: {list}"),
                None => format!("You can request: {list}"),
            }
        }
        ChatRequestOutcome::Refused(message) => message,
    };
    respond::ephemeral(&text)
}
