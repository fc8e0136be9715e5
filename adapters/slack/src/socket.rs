//! Socket Mode: for installs that cannot receive HTTP from Slack, clicks and slash commands arrive over a
//! WebSocket that we open with the app-level token (`xapp-...`), instead of at `POST /slack/interactions` and
//! `POST /slack/commands`.
//!
//! slack-morphism's `SlackClientSocketModeListener` does the connection work: `apps.connections.open`, the
//! WebSocket, pings, reconnecting on `disconnect`, and acknowledging each envelope with its `envelope_id`. We hand
//! it two callbacks that turn its events into the same [`Interaction`] and [`SlashCommand`] values as the HTTP
//! routes produce, and pass them to the core's [`SocketHandler`]. No signature check is needed: the socket is
//! authenticated by the app token.
//!
//! Slack expects the acknowledgement within about 3 seconds, and the listener sends it when the handler
//! returns, so handlers must answer quickly: hand decisions to the core's queue and return, open a modal at once.
//!
//! slack-morphism delivers typed events. Interactions are turned back into JSON and read by
//! [`parse_interaction_payload`], like the HTTP route's; its typed action drops `selected_user`, which the
//! parser then reads from the message's `state`. Its typed slash command has no `user_name`, so that field is
//! empty here.
//!
//! Tested (tests/socket_mode.rs): against a local fake of `apps.connections.open` and a local WebSocket server
//! that sends `hello`, an `interactive` envelope and a `slash_commands` envelope, a click reaches the handler as
//! an `Interaction`, a command as a `SlashCommand`, and both envelopes are acknowledged, the command with the
//! handler's reply as payload. Not tested: Slack's real servers, TLS (`wss://`), reconnection after `disconnect`
//! or a dropped socket, and several connections (all slack-morphism's).

use std::future::Future;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use signoff_port::BoxFuture;
use slack_morphism::prelude::*;

use crate::client::{Connector, DEFAULT_API_URL, SetupError, connector, content};
use crate::inbound::{Interaction, Origin, SlashCommand, parse_interaction_payload};

/// How to open Socket Mode.
#[derive(Debug, Clone)]
pub struct SocketSettings {
    /// The app-level token (`xapp-...`, scope `connections:write`). Never logged.
    pub app_token: SecretString,
    /// The Web API base URL (for `apps.connections.open`), as in [`SlackSettings`](crate::SlackSettings).
    pub api_url: String,
    /// WebSocket connections to hold open (Slack allows up to 10; each event arrives on one of them). Default 2,
    /// so that one can reconnect while the other serves.
    pub connections: u32,
}

impl SocketSettings {
    /// Settings for Slack itself.
    pub fn new(app_token: SecretString) -> SocketSettings {
        SocketSettings { app_token, api_url: DEFAULT_API_URL.to_owned(), connections: 2 }
    }
}

/// What the core does with what arrives over Socket Mode.
pub trait SocketHandler: Send + Sync + 'static {
    /// A click or a modal submission, read as by the HTTP route (including [`Interaction::Ignored`] ones). The
    /// envelope is acknowledged when this returns.
    fn interaction(&self, origin: Origin, interaction: Interaction) -> BoxFuture<'_, ()>;

    /// A slash command. Returns the reply to show, a JSON message such as
    /// [`help_reply`](crate::blocks::help_reply) or [`confirmation_reply`](crate::blocks::confirmation_reply),
    /// sent back as the acknowledgement's payload.
    fn command(&self, command: SlashCommand) -> BoxFuture<'_, Value>;
}

/// Holds Socket Mode connections open until `shutdown` resolves, forwarding events to `handler`. Returns once
/// the connections are closed; connection failures are retried by slack-morphism and logged, never returned.
pub async fn run_socket_mode(
    settings: SocketSettings,
    handler: Arc<dyn SocketHandler>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SetupError> {
    let client = Arc::new(SlackClient::new(connector(&settings.api_url)?));
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(Handler(handler)),
    );
    let callbacks =
        SlackSocketModeListenerCallbacks::new().with_interaction_events(on_interaction).with_command_events(on_command);
    let config = SlackClientSocketModeConfig::new().with_max_connections_count(settings.connections.max(1));
    let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
    let token = SlackApiToken::new(SlackApiTokenValue(settings.app_token.expose_secret().to_owned()))
        .with_token_type(SlackApiTokenType::App);
    if let Err(e) = listener.listen_for(&token).await {
        // Registering a token makes no call; this is slack-morphism refusing it.
        tracing::error!(error = %e, "Socket Mode: could not register the app token");
    }
    listener.start().await;
    tracing::info!("Socket Mode: listening");
    shutdown.await;
    listener.shutdown().await;
    tracing::info!("Socket Mode: stopped");
    Ok(())
}

/// The core's handler, kept in slack-morphism's listener state: its callbacks are plain `fn`s and cannot capture.
struct Handler(Arc<dyn SocketHandler>);

async fn handler(state: &SlackClientEventsUserState) -> Option<Arc<dyn SocketHandler>> {
    state.read().await.get_user_state::<Handler>().map(|h| h.0.clone())
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackClient<Connector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(handler) = handler(&state).await else { return Ok(()) };
    // The acknowledgement is sent either way: a payload that cannot be read now never will be.
    match serde_json::to_value(&event)
        .map_err(|e| e.to_string())
        .and_then(|v| parse_interaction_payload(&v).map_err(|e| e.to_string()))
    {
        Ok((origin, interaction)) => handler.interaction(origin, interaction).await,
        Err(e) => tracing::warn!(error = %e, "Socket Mode: could not read an interaction; acknowledged and dropped"),
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackClient<Connector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let Some(handler) = handler(&state).await else {
        return Ok(SlackCommandEventResponse::new(SlackMessageContent::new()));
    };
    let command = SlashCommand {
        command: event.command.0,
        text: event.text.unwrap_or_default(),
        user_id: event.user_id.0,
        user_name: String::new(),
        team_id: event.team_id.0,
        // slack-morphism's command event has no enterprise id; the workspace is checked instead.
        enterprise_id: String::new(),
        channel_id: event.channel_id.0,
        response_url: event.response_url.0.to_string(),
        trigger_id: event.trigger_id.0,
        ssl_check: false,
    };
    let reply = handler.command(command).await;
    let response_type = match reply.get("response_type").and_then(Value::as_str) {
        Some("in_channel") => SlackMessageResponseType::InChannel,
        _ => SlackMessageResponseType::Ephemeral,
    };
    Ok(SlackCommandEventResponse::new(content(&reply)).with_response_type(response_type))
}

/// slack-morphism's default handler logs the whole error with `{:?}`; this one logs its message only. Answering
/// OK makes the listener acknowledge the envelope rather than have Slack send it again.
fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackClient<Connector>>,
    _state: SlackClientEventsUserState,
) -> HttpStatusCode {
    tracing::warn!(error = %err, "Socket Mode error");
    HttpStatusCode::OK
}
