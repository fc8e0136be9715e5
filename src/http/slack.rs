//! Slack: `POST /slack/interactions` (buttons, selects, the deny-reason modal) and `POST /slack/commands`
//! (`/request`). <https://api.slack.com/authentication/verifying-requests-from-slack>
//!
//! Every request is verified (`v0` HMAC-SHA256, 5-minute window) on its raw bytes before anything is
//! parsed; a failure is answered 401, counted and logged at a bounded rate, and writes nothing. A signed request
//! from another workspace (or Enterprise Grid organisation) is refused the same way. The clicker is the directory
//! user whose `slack_id` they are; the email Slack shows is used only for users with no `slack_id`, so an account
//! that merely shares an email cannot stand in for a pinned one. A request replayed with the same `trigger_id`
//! changes nothing (the id is stored with the change it caused). Every request is acknowledged within Slack's 3 seconds:
//! the decision is committed (milliseconds, group-committed), then answered; chat messages are updated by the
//! outbox afterwards, like every other delivery. Some answers need Slack itself (a clicker without a
//! `slack_id` is found with `users.info`, "Deny with reason…" calls `views.open`), and Slack can be slow:
//! handling runs on its own task, and whatever is not ready at [`ACK_DEADLINE`] is acknowledged anyway and
//! finishes afterwards (a click's decision still lands, a command's reply goes to its `response_url`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use signoff_port::{Answer, ChatUser, ClickReply};
use signoff_slack::{Interaction, Origin, Person, SlackAdapter, Workspace, blocks, inbound, verify};

use super::AppState;
use super::refused;
use crate::audit::Entry;
use crate::chat::click;
use crate::chat::request::{self, ChatRequest, ChatRequestOutcome};
use crate::engine::Decision;
use crate::runtime::{Runtime, Source};
use crate::time::Duration;

/// How long handling a Slack request may take before it is acknowledged anyway: Slack shows the person an error
/// when the answer takes more than 3 seconds, and the rest is margin for the network.
/// <https://docs.slack.dev/interactivity/handling-user-interaction#acknowledgment_response>
const ACK_DEADLINE: StdDuration = StdDuration::from_millis(2500);

/// What a slash command's acknowledgement says when its real answer is not ready at [`ACK_DEADLINE`]; the answer
/// follows through the command's `response_url`.
const WORKING_ON_IT: &str = "Working on it…";

/// What the Slack routes need.
pub struct SlackSurface {
    /// The Web API client (also the chat adapter for Slack).
    pub adapter: Arc<SlackAdapter>,
    /// The app's signing secret.
    pub signing_secret: SecretString,
    /// The workspace (and organisation) whose callbacks count: from `[slack] team_id`, else learnt from
    /// `auth.test` at start ([`SlackSurface::learn_workspace`]). `None` until known.
    pub workspace: std::sync::RwLock<Option<Workspace>>,
}

/// Why a signed callback's origin was refused.
enum Foreign {
    /// The workspace is not known yet (`auth.test` has not answered): try again shortly.
    Unknown,
    /// Another workspace or organisation.
    Other,
}

impl SlackSurface {
    /// A surface for this adapter; `workspace` is the configured one, if any.
    pub fn new(adapter: Arc<SlackAdapter>, signing_secret: SecretString, workspace: Option<Workspace>) -> SlackSurface {
        SlackSurface { adapter, signing_secret, workspace: std::sync::RwLock::new(workspace) }
    }

    /// Asks Slack which workspace the bot token belongs to (`auth.test`) until it answers, backing off from 1 s to
    /// a minute; callbacks are refused with 503 until then. Does nothing when the workspace was configured.
    pub async fn learn_workspace(&self) {
        let mut pause = StdDuration::from_secs(1);
        while self.known_workspace().is_none() {
            match self.adapter.workspace().await {
                Ok(w) => {
                    tracing::info!(team = %w.team_id, enterprise = ?w.enterprise_id, "Slack workspace from auth.test");
                    *self.workspace.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(w);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_s = pause.as_secs(), "Slack auth.test failed; callbacks are refused until it answers");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(StdDuration::from_secs(60));
                }
            }
        }
    }

    fn known_workspace(&self) -> Option<Workspace> {
        self.workspace.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether a signed callback comes from our workspace (and organisation, on Enterprise Grid).
    fn admit(&self, origin: &Origin) -> Result<(), Foreign> {
        let Some(ours) = self.known_workspace() else { return Err(Foreign::Unknown) };
        let team_ok = origin.team_id.as_deref() == Some(ours.team_id.as_str());
        let org_ok = ours.enterprise_id.is_none() || origin.enterprise_id == ours.enterprise_id;
        if team_ok && org_ok { Ok(()) } else { Err(Foreign::Other) }
    }

    /// [`SlackSurface::admit`], counting a refusal and answering it.
    fn admit_or_refuse(&self, origin: &Origin) -> Result<(), Response> {
        match self.admit(origin) {
            Ok(()) => Ok(()),
            Err(Foreign::Unknown) => {
                refused::callback("slack", "workspace_unknown", "auth.test has not answered yet");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({ "error": "signoff has not yet learnt its Slack workspace; try again shortly" })),
                )
                    .into_response())
            }
            Err(Foreign::Other) => {
                let detail = format!(
                    "team {} enterprise {}",
                    origin.team_id.as_deref().unwrap_or("none"),
                    origin.enterprise_id.as_deref().unwrap_or("none")
                );
                refused::callback("slack", "workspace", &detail);
                Err((
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({ "error": "this Slack workspace is not the one signoff serves" })),
                )
                    .into_response())
            }
        }
    }
}

/// The runtime's view of a Slack action: its channel, who exactly acted, and the trigger that makes a replay
/// recognisable.
fn source(origin: &Origin, user: &str) -> Source {
    let via = match &origin.team_id {
        Some(team) => format!("slack:{team}/{user}"),
        None => format!("slack:{user}"),
    };
    Source {
        channel: "slack".to_owned(),
        via: Some(via),
        callback: origin.trigger_id.as_ref().map(|t| format!("slack:{t}")),
    }
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/slack/interactions", post(interactions)).route("/slack/commands", post(commands))
}

/// Verifies a request; on failure, the 401 response (after counting the refusal).
fn verified(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Arc<SlackSurface>, Response> {
    let Some(slack) = state.slack.clone() else {
        return Err((StatusCode::NOT_FOUND, axum::Json(json!({ "error": "Slack is not configured" }))).into_response());
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = crate::time::now().as_second();
    match verify::verify(
        slack.signing_secret.expose_secret(),
        header(verify::TIMESTAMP_HEADER),
        header(verify::SIGNATURE_HEADER),
        body,
        now,
    ) {
        Ok(()) => Ok(slack),
        Err(e) => {
            refused::callback("slack", e.reason(), &e.to_string());
            Err((StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid Slack signature" }))).into_response())
        }
    }
}

async fn interactions(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let slack = match verified(&state, &headers, &body) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (origin, interaction) = match inbound::parse_interaction(&body) {
        Ok(i) => i,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    };
    // Payloads signoff ignores anyway (another app's buttons and forms) change nothing wherever they come from;
    // anything it would act on must come from our workspace.
    if !matches!(interaction, Interaction::Ignored { .. })
        && let Err(resp) = slack.admit_or_refuse(&origin)
    {
        return resp;
    }
    match acknowledged_reply(&state.runtime, &slack, origin, interaction).await {
        Some(body) => axum::Json(body).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

/// Runs `work` on its own task and returns its result if it is ready within [`ACK_DEADLINE`]. Otherwise returns
/// `None` at the deadline, so that the request can be acknowledged in time, and `work` carries on; its result
/// then goes to `late`. Running on its own task also means a caller that hangs up does not cancel a decision
/// half-way.
async fn in_time<T, L, F>(work: impl Future<Output = T> + Send + 'static, late: L) -> Option<T>
where
    T: Send + 'static,
    L: FnOnce(T) -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    // In the request's span, so the commit it causes (and the chat calls after) join the request's trace.
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let result = work.await;
            if let Err(result) = tx.send(result) {
                late(result).await;
            }
        },
        span,
    ));
    match tokio::time::timeout(ACK_DEADLINE, &mut rx).await {
        Ok(result) => result.ok(),
        Err(_) => {
            // Closing first means a result is either taken here or handed to `late`, never lost in between.
            rx.close();
            rx.try_recv().ok()
        }
    }
}

/// [`interaction_reply`] within [`ACK_DEADLINE`]: the body to answer with, if any and if ready in time.
async fn acknowledged_reply(
    runtime: &Runtime,
    slack: &Arc<SlackSurface>,
    origin: Origin,
    interaction: Interaction,
) -> Option<Value> {
    let (runtime, slack) = (runtime.clone(), slack.clone());
    let work = async move { interaction_reply(&runtime, &slack, &origin, interaction).await };
    in_time(work, |late: Option<Value>| async move {
        if let Some(body) = late {
            // Only a refused modal submission answers with a body; the modal has closed by now.
            tracing::warn!(%body, "a Slack form's refusal was ready only after the acknowledgement; it was not shown");
        }
    })
    .await
    .flatten()
}

/// [`slash_request`] within [`ACK_DEADLINE`]: its reply, or, when it is not ready in time, a short "working on
/// it" while the reply goes to the command's `response_url` when it is.
async fn acknowledged_command(runtime: &Runtime, slack: &Arc<SlackSurface>, cmd: signoff_slack::SlashCommand) -> Value {
    let (runtime, slack) = (runtime.clone(), slack.clone());
    let adapter = slack.adapter.clone();
    let response_url = cmd.response_url.clone();
    let work = async move { slash_request(&runtime, &slack, &cmd).await };
    let late = |reply: Value| async move {
        if let Err(e) = adapter.respond(&response_url, &reply).await {
            tracing::warn!(error = %e, "could not send a late /request reply to Slack");
        }
    };
    in_time(work, late).await.unwrap_or_else(|| json!({ "response_type": "ephemeral", "text": WORKING_ON_IT }))
}

/// Handles a verified interaction from our workspace (from HTTP or Socket Mode); returns the body to answer with,
/// if any.
pub(crate) async fn interaction_reply(
    runtime: &Runtime,
    slack: &Arc<SlackSurface>,
    origin: &Origin,
    interaction: Interaction,
) -> Option<Value> {
    match interaction {
        Interaction::Answer { answer, response_url } => {
            let from_modal = answer.message.is_none();
            let source = source(origin, &answer.clicker.id);
            match decide(runtime, slack, &answer.clicker, &answer.token, answer.answer, source).await {
                // The clicked message and every other copy are updated through the outbox; a replay changes
                // nothing and shows nothing.
                ClickReply::Closed(_) | ClickReply::Replayed => None,
                // A modal shows the refusal under its input.
                ClickReply::Refused { message } if from_modal => Some(json!({
                    "response_action": "errors",
                    "errors": { signoff_slack::ids::REASON_BLOCK: message },
                })),
                ClickReply::Refused { message } => {
                    if let Some(url) = response_url {
                        // Privately, and after the acknowledgement: a slow response URL must not delay it.
                        let adapter = slack.adapter.clone();
                        tokio::spawn(async move {
                            if let Err(e) = adapter.respond(&url, &blocks::refused_reply(&message)).await {
                                tracing::warn!(error = %e, "could not tell a Slack user their click was refused");
                            }
                        });
                    }
                    None
                }
            }
        }
        Interaction::OpenDenyModal { token, trigger_id, response_url, .. } => {
            // The trigger expires 3 seconds after the click: open the modal now.
            if let Err(e) = slack.adapter.open_view(&trigger_id, &blocks::deny_modal(&token)).await {
                tracing::warn!(error = %e, "could not open the deny-reason form");
                if let Some(url) = response_url {
                    let adapter = slack.adapter.clone();
                    tokio::spawn(async move {
                        let msg = blocks::refused_reply("Slack did not open the form in time; use Deny, or try again.");
                        let _ = adapter.respond(&url, &msg).await;
                    });
                }
            }
            None
        }
        Interaction::Ignored { what } => {
            tracing::debug!(%what, "Slack interaction ignored");
            None
        }
    }
}

/// Socket Mode delivers the same events over a WebSocket; they are handled exactly like the HTTP ones.
pub struct SocketBridge {
    /// The runtime.
    pub runtime: Runtime,
    /// Slack.
    pub slack: Arc<SlackSurface>,
}

impl signoff_slack::SocketHandler for SocketBridge {
    fn interaction(&self, origin: Origin, interaction: Interaction) -> signoff_port::BoxFuture<'_, ()> {
        Box::pin(async move {
            // The same workspace check as over HTTP; the envelope is acknowledged when this returns.
            if self.slack.admit_or_refuse(&origin).is_ok() {
                let _ = acknowledged_reply(&self.runtime, &self.slack, origin, interaction).await;
            }
        })
    }

    fn command(&self, command: signoff_slack::SlashCommand) -> signoff_port::BoxFuture<'_, Value> {
        Box::pin(async move {
            if self.slack.admit_or_refuse(&command.origin()).is_err() {
                return blocks::refused_reply("This Slack workspace is not the one signoff serves.");
            }
            acknowledged_command(&self.runtime, &self.slack, command).await
        })
    }
}

/// The directory user behind a Slack user: the one whose `slack_id` it is; else, only among users with no
/// `slack_id`, the one with the email Slack shows for them. An email match never overrides a pinned id: another
/// account that merely carries the same email is not that person.
async fn directory_user(runtime: &Runtime, slack: &SlackSurface, user: &ChatUser) -> Option<String> {
    let dir = &runtime.catalog().directory;
    if let Some(u) = dir.user_by_slack(&user.id) {
        return Some(u.id.clone());
    }
    match slack.adapter.email_of(&user.id).await {
        Ok(Some(email)) => dir.user(&email).filter(|u| u.slack_id.is_none()).map(|u| u.id.clone()),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not look up a Slack user's email");
            None
        }
    }
}

async fn decide(
    runtime: &Runtime,
    slack: &SlackSurface,
    clicker: &ChatUser,
    token: &str,
    answer: Answer,
    source: Source,
) -> ClickReply {
    let Some(by) = directory_user(runtime, slack, clicker).await else {
        refused_click(runtime, "slack", &clicker.id, "not in the directory").await;
        return click::not_in_directory("Slack");
    };
    let decision = match answer {
        Answer::Approve { duration } => match duration.as_deref().map(Duration::parse).transpose() {
            Ok(duration) => Decision::Approve { duration, comment: None },
            Err(e) => return ClickReply::Refused { message: format!("{e}.") },
        },
        Answer::Deny { comment } => Decision::Deny { comment: comment.filter(|c| !c.trim().is_empty()) },
        Answer::Escalate { to } => match directory_user(runtime, slack, &to).await {
            Some(to) => Decision::Escalate { to, comment: None },
            None => {
                return ClickReply::Refused {
                    message: "The person you picked is not in signoff's directory; pick someone else.".to_owned(),
                };
            }
        },
    };
    click::answer(runtime, token, &by, decision, source).await
}

/// Audits a click by someone signoff cannot place.
pub(super) async fn refused_click(runtime: &Runtime, channel: &str, platform_user: &str, why: &str) {
    let entry = Entry::new(
        crate::time::now(),
        "refused",
        Some(platform_user),
        json!({ "why": why, "channel": channel, "platform_user": platform_user }),
    );
    let _ = runtime.audit(vec![entry]).await;
}

async fn commands(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let slack = match verified(&state, &headers, &body) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let cmd = match inbound::parse_command(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    };
    if cmd.ssl_check {
        return StatusCode::OK.into_response();
    }
    if let Err(resp) = slack.admit_or_refuse(&cmd.origin()) {
        return resp;
    }
    axum::Json(acknowledged_command(&state.runtime, &slack, cmd).await).into_response()
}

/// `/request <resource> [role] [for @user|email] [for 8h] [reason...]` -> the ephemeral answer.
pub(super) async fn slash_request(runtime: &Runtime, slack: &SlackSurface, cmd: &signoff_slack::SlashCommand) -> Value {
    let Some(requester) = directory_user(runtime, slack, &cmd.user()).await else {
        return blocks::refused_reply(
            "You are not in signoff's directory, so you cannot request access here. Ask an administrator to add your Slack account.",
        );
    };
    let mut args = inbound::parse_request_text(&cmd.text);
    let help = |typo: Option<&str>| {
        let all = request::resources(runtime);
        let pairs: Vec<(&str, &str)> = all.iter().map(|(i, n)| (i.as_str(), n.as_str())).collect();
        blocks::help_reply(&pairs, typo)
    };
    let Some(typed) = args.resource.clone() else { return help(None) };
    let Some(resource) = request::resolve_resource(runtime, &typed) else { return help(Some(&typed)) };
    // A second word that is not a role of this resource starts the reason (`/request vpn for the demo`).
    if let Some(role) = &args.role {
        let known = runtime.catalog().directory.resource(&resource).is_some_and(|r| r.role(role).is_some());
        if !known {
            args = args.without_role();
        }
    }
    let mut for_ = Vec::new();
    for p in &args.for_ {
        let found = match p {
            Person::SlackUser(id) => {
                directory_user(runtime, slack, &ChatUser { platform: signoff_port::Platform::Slack, id: id.clone() })
                    .await
            }
            Person::Email(e) | Person::Name(e) => runtime.catalog().directory.user(e).map(|u| u.id.clone()),
        };
        match found {
            Some(id) => for_.push(id),
            None => {
                let who = match p {
                    Person::SlackUser(id) => format!("<@{id}>"),
                    Person::Email(e) => e.clone(),
                    Person::Name(n) => format!("@{n} (mention them, or use their email)"),
                };
                return blocks::refused_reply(&format!("{who} is not in signoff's directory."));
            }
        }
    }
    let outcome = request::create(
        runtime,
        ChatRequest {
            requester,
            resource,
            role: args.role,
            for_,
            duration: args.duration,
            reason: args.reason,
            via: source(&cmd.origin(), &cmd.user_id).via,
            callback: Some(cmd.trigger_id.clone()).filter(|t| !t.is_empty()).map(|t| format!("slack:{t}")),
        },
    )
    .await;
    match outcome {
        ChatRequestOutcome::Created { id, summary, asked } => {
            let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
            blocks::confirmation_reply(&id, &summary, &asked)
        }
        ChatRequestOutcome::Help { typo } => help(typo.as_deref()),
        ChatRequestOutcome::Refused(message) => blocks::refused_reply(&message),
    }
}
