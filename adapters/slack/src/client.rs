//! The Web API side: [`SlackAdapter`] implements the core's [`ChatAdapter`] through slack-morphism's client.
//!
//! - **Prompts and notifications are DMs**: `conversations.open` (once per person; the `D...` channel is cached)
//!   then `chat.postMessage` with the blocks of [`blocks`]. A recipient whose id is
//!   `email:<address>` is first found with `users.lookupByEmail` (cached).
//! - **Closing** is `chat.update` on the prompt's channel and ts with the closing blocks, which have no buttons.
//! - **Errors** become [`ChatError`]s for the core's outbox, which owns retrying: HTTP 429 or `ratelimited` is
//!   [`ChatError::RateLimited`] with Slack's `Retry-After`; 5xx, timeouts and network failures are
//!   [`ChatError::Transient`], and so are Slack's `internal_error`, `fatal_error`, `service_unavailable` and
//!   `request_timeout`; every other error code (`invalid_auth`, `not_authed`, `account_inactive`,
//!   `token_revoked`, `missing_scope`, `channel_not_found`, `user_not_found`, `users_not_found`,
//!   `invalid_blocks`, ...) says the request itself is wrong and is [`ChatError::Permanent`]. An unknown code is
//!   permanent too: retrying a request Slack refused for a reason we do not know would only repeat it.
//!   slack-morphism's own rate control is left off,
//!   so it never sleeps or retries behind the outbox's back. Error texts name the method and Slack's code or the
//!   HTTP status; they never carry the token or a response body.
//! - **Pacing**: a fan-out of a thousand prompts is a thousand outbox deliveries at once. A pacer lets at most
//!   [`SlackSettings::max_in_flight`] calls run at a time, starts them at least
//!   [`SlackSettings::min_interval`] apart. When Slack answers 429 with `Retry-After: n`, the refused call
//!   returns `RateLimited` and the outbox retries it after `n` seconds; a refused lookup that many deliveries
//!   share (`conversations.open`, `users.lookupByEmail`) also holds every call to that method for `n` seconds,
//!   since those are limited per method and workspace. The refused call itself returns
//!   `RateLimited` and the outbox retries it, so no prompt is lost. Calls made while a person waits on a click
//!   (`views.open`, `users.info`, `response_url` replies) skip the pacer: a `trigger_id` dies after 3 seconds and
//!   must not queue behind a fan-out.
//!
//! Delivery is at least once (the outbox may resend after a timeout or a crash), and `chat.postMessage` has no
//! idempotency key. So every message carries its [`Mark`] in `metadata` (event type [`SLACK_EVENT_TYPE`], payload
//! `key` and, for prompts, `token`), and [`ChatAdapter::find_copies`] reads it back from the DM's
//! `conversations.history` (`include_all_metadata`; needs the `im:history` scope): the core looks before it
//! resends a post whose outcome is in doubt, and finds every copy of a prompt when it closes one whose send was.
//! `chat.update` is idempotent; `chat.delete` removes an extra copy.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use signoff_port::{
    BoxFuture, ChatAdapter, ChatError, ChatUser, Mark, MessageRef, Notification, Platform, PromptClosing,
    PromptMessage, SLACK_EVENT_TYPE,
};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::blocks;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// The prefix of a [`ChatUser::id`] that is an email to look up (`email:kim@example.com`), for people the
/// directory knows only by email.
pub const EMAIL_PREFIX: &str = "email:";
/// How long a call a person waits on (a `users.info` for a clicker, a `views.open`) may take: the answer to Slack
/// is sent at its 3-second deadline anyway, and the work goes on behind it.
const INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a lookup that deliveries share ([`Lane::Lookup`]) may take: they are cheap reads Slack answers in
/// milliseconds, and every delivery to the person waits on one.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// The wait assumed when Slack says "slow down" without a `Retry-After` (slack_sdk assumes the same).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How to reach Slack's Web API.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// The bot token (`xoxb-...`). Sent only in the `Authorization` header; never logged.
    pub bot_token: SecretString,
    /// The Web API base URL without a trailing `/`: [`DEFAULT_API_URL`], or a local fake over plain HTTP.
    pub api_url: String,
    /// At most this many paced calls at once. Default 64, the outbox dispatcher's own concurrency: deliveries stuck
    /// on a slow answer (up to [`SlackSettings::request_timeout`]) must not starve the rest.
    pub max_in_flight: usize,
    /// Paced calls start at least this far apart. Default zero: Slack's limits differ by method, workspace and
    /// channel, and Slack says when one is reached (429 with `Retry-After`, which pauses every paced call), so a
    /// fixed guess would only slow a fan-out down (the former 20 ms capped paced calls at 50 a second; see
    /// BENCHMARKS.md).
    pub min_interval: Duration,
    /// A delivery call (post, update, delete, history) with no answer after this long fails as
    /// [`ChatError::Transient`]; if it was a post, the core then looks for the copy Slack may have stored. Default 4 s:
    /// Slack answers in well under a second, and a delivery held longer only delays the retry.
    pub request_timeout: Duration,
}

impl SlackSettings {
    /// Settings for Slack itself with the default pacing.
    pub fn new(bot_token: SecretString) -> SlackSettings {
        SlackSettings {
            bot_token,
            api_url: DEFAULT_API_URL.to_owned(),
            max_in_flight: 64,
            min_interval: Duration::ZERO,
            request_timeout: Duration::from_secs(4),
        }
    }
}

/// Why the adapter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The system's root certificates could not be loaded, so HTTPS cannot be trusted.
    #[error("loading the system's root certificates for HTTPS: {0}")]
    Tls(#[source] std::io::Error),
    /// The API URL is not an `http://` or `https://` URL.
    #[error("the Slack API URL must be an http:// or https:// URL, got {0:?}")]
    ApiUrl(String),
}

/// The connector slack-morphism's client runs on: hyper with rustls, speaking HTTPS to Slack or plain HTTP to a
/// local fake.
pub(crate) type Connector = SlackClientHyperHttpsConnector;

/// Builds slack-morphism's connector for `api_url`. `SlackClientHyperConnector::new()` would be HTTPS-only, which
/// rules out a local fake, so the rustls connector is built here with `https_or_http`.
pub(crate) fn connector(api_url: &str) -> Result<Connector, SetupError> {
    let parsed = url::Url::parse(api_url).map_err(|_| SetupError::ApiUrl(api_url.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SetupError::ApiUrl(api_url.to_owned()));
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(SetupError::Tls)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url.trim_end_matches('/')))
}

/// The workspace a bot token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// `T...`.
    pub team_id: String,
    /// `E...`, on Enterprise Grid.
    pub enterprise_id: Option<String>,
}

/// Slack, as the core's [`ChatAdapter`]; see the module documentation for what each call does.
pub struct SlackAdapter {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    pacer: Pacer,
    request_timeout: Duration,
    /// User id → their DM channel with the bot (`D...`).
    dm_channels: Cache<String>,
    /// Email, lower-cased → user id.
    users_by_email: Cache<String>,
    /// User id → their email, if their profile shows one.
    emails: Cache<Option<String>>,
}

impl std::fmt::Debug for SlackAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackAdapter").finish_non_exhaustive()
    }
}

impl SlackAdapter {
    /// An adapter for the workspace of `settings.bot_token`. Makes no call to Slack.
    pub fn new(settings: SlackSettings) -> Result<SlackAdapter, SetupError> {
        let client = SlackClient::new(connector(&settings.api_url)?);
        let token = SlackApiToken::new(SlackApiTokenValue(settings.bot_token.expose_secret().to_owned()))
            .with_token_type(SlackApiTokenType::Bot);
        Ok(SlackAdapter {
            client,
            token,
            pacer: Pacer::new(settings.max_in_flight, settings.min_interval),
            request_timeout: settings.request_timeout,
            dm_channels: Cache::default(),
            users_by_email: Cache::default(),
            emails: Cache::default(),
        })
    }

    /// The email on a Slack user's profile (`users.info`, cached; needs the `users:read.email` scope), so the core
    /// can map a clicker whose directory entry has no `slack_id`. `None` when the profile shows no email.
    pub async fn email_of(&self, user_id: &str) -> Result<Option<String>, ChatError> {
        self.emails
            .get_or_try_init(user_id, || async {
                let session = self.client.open_session(&self.token);
                let req = SlackApiUsersInfoRequest::new(SlackUserId(user_id.to_owned()));
                let resp = self.call("users.info", Lane::Interactive, session.users_info(&req)).await?;
                Ok(resp.user.profile.and_then(|p| p.email).map(|e| e.0))
            })
            .await
    }

    /// The workspace the bot token belongs to and, on Enterprise Grid, its organisation (`auth.test`): the core
    /// refuses callbacks from anywhere else. Read through the raw connector because slack-morphism's typed
    /// response has no `enterprise_id`.
    pub async fn workspace(&self) -> Result<Workspace, ChatError> {
        #[derive(serde::Deserialize)]
        struct AuthTest {
            team_id: String,
            #[serde(default)]
            enterprise_id: Option<String>,
        }
        let connector = &self.client.http_api.connector;
        let url = connector
            .create_method_uri_path("auth.test")
            .map_err(|e| ChatError::Permanent(format!("auth.test: {e}")))?;
        let span = tracing::debug_span!("Slack auth.test");
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: Some(&self.token),
            tracing_span: &span,
            is_sensitive_url: false,
        };
        let resp: AuthTest = self.call("auth.test", Lane::Interactive, connector.http_get_uri(url, context)).await?;
        Ok(Workspace { team_id: resp.team_id, enterprise_id: resp.enterprise_id.filter(|e| !e.is_empty()) })
    }

    /// Opens a modal (`views.open`), such as [`blocks::deny_modal`], with the `trigger_id` of a click made less
    /// than 3 seconds ago.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), ChatError> {
        let mut slack_view: SlackView = serde_json::from_value(view.clone())
            .map_err(|e| ChatError::Permanent(format!("views.open: not a Block Kit view: {e}")))?;
        // Send the blocks exactly as built, not as slack-morphism's model would re-serialize them.
        let blocks = view.get("blocks").and_then(Value::as_array).cloned().unwrap_or_default();
        match &mut slack_view {
            SlackView::Modal(m) => m.blocks = slack_blocks(blocks),
            SlackView::Home(h) => h.blocks = slack_blocks(blocks),
        }
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.to_owned()), slack_view);
        self.call("views.open", Lane::Interactive, session.views_open(&req)).await?;
        Ok(())
    }

    /// Posts a reply to an interaction's or a command's `response_url` (such as [`blocks::refused_reply`] or
    /// [`blocks::closed_reply`]), exactly as built. Our token is not sent: the URL is its own credential.
    ///
    /// The JSON goes out as is, through slack-morphism's connector, rather than as its
    /// `SlackApiPostWebhookMessageRequest`: that type has no `response_type`, so a refusal sent through it lost
    /// `"response_type": "ephemeral"` and relied on Slack's default to stay private.
    pub async fn respond(&self, response_url: &str, reply: &Value) -> Result<(), ChatError> {
        let url =
            url::Url::parse(response_url).map_err(|_| ChatError::Permanent("response_url: not a URL".to_owned()))?;
        let span = tracing::debug_span!("Slack response_url");
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: None,
            tracing_span: &span,
            // The URL carries a secret: slack-morphism keeps it out of its logs.
            is_sensitive_url: true,
        };
        let post = self
            .client
            .http_api
            .connector
            .http_post_uri::<Value, SlackApiPostWebhookMessageResponse>(url, reply, context);
        self.call("response_url", Lane::Interactive, post).await?;
        Ok(())
    }

    async fn send_prompt_to(
        &self,
        to: &ChatUser,
        prompt: &PromptMessage,
        mark: &Mark,
    ) -> Result<MessageRef, ChatError> {
        let (text, blocks) = blocks::prompt_message(prompt);
        self.post_dm(to, &text, blocks, mark).await
    }

    /// Our messages in the DM with `to` that carry `mark`, oldest first: `conversations.history` with
    /// `include_all_metadata`, from a minute before the mark's time (clocks differ), page by page up to
    /// [`HISTORY_PAGES`] pages of [`HISTORY_PAGE`] messages.
    async fn copies(&self, to: &ChatUser, mark: &Mark) -> Result<Vec<MessageRef>, ChatError> {
        if to.platform != Platform::Slack {
            return Err(ChatError::Permanent(format!("not a Slack user: {:?}", to.platform)));
        }
        let user = self.user_id(&to.id).await?;
        let channel = self.dm_channel(&user).await?;
        let oldest = (mark.since_ms - 60_000).max(0);
        let oldest = format!("{}.{:06}", oldest / 1000, (oldest % 1000) * 1000);
        let mut found = Vec::new();
        let mut cursor: Option<SlackCursorId> = None;
        for _ in 0..HISTORY_PAGES {
            let session = self.client.open_session(&self.token);
            let mut req = SlackApiConversationsHistoryRequest::new()
                .with_channel(SlackChannelId(channel.clone()))
                .with_limit(HISTORY_PAGE)
                .with_oldest(SlackTs(oldest.clone()))
                .with_include_all_metadata(true);
            req.cursor = cursor.take();
            let resp = self
                .call("conversations.history", Lane::Channel(&channel), session.conversations_history(&req))
                .await?;
            for m in &resp.messages {
                if carries(m.content.metadata.as_ref(), mark) {
                    found.push(MessageRef {
                        platform: Platform::Slack,
                        channel: channel.clone(),
                        message: m.origin.ts.0.clone(),
                    });
                }
            }
            cursor = resp.response_metadata.and_then(|r| r.next_cursor).filter(|c| !c.0.is_empty());
            if cursor.is_none() || resp.has_more == Some(false) {
                break;
            }
        }
        // History is newest first.
        found.sort_by(|a, b| ts_order(&a.message).total_cmp(&ts_order(&b.message)));
        found.dedup();
        Ok(found)
    }

    async fn delete(&self, message: &MessageRef) -> Result<(), ChatError> {
        if message.platform != Platform::Slack {
            return Err(ChatError::Permanent(format!("not a Slack message: {:?}", message.platform)));
        }
        let session = self.client.open_session(&self.token);
        let req =
            SlackApiChatDeleteRequest::new(SlackChannelId(message.channel.clone()), SlackTs(message.message.clone()));
        match self.call("chat.delete", Lane::Channel(&message.channel), session.chat_delete(&req)).await {
            // Already gone: what deleting wanted.
            Err(f) if f.code.as_deref() == Some("message_not_found") => Ok(()),
            other => other.map(|_| ()).map_err(ChatError::from),
        }
    }

    async fn close(&self, message: &MessageRef, closing: &PromptClosing) -> Result<(), ChatError> {
        if message.platform != Platform::Slack {
            return Err(ChatError::Permanent(format!("not a Slack message: {:?}", message.platform)));
        }
        let (text, blocks) = blocks::closing_message(closing);
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId(message.channel.clone()),
            SlackMessageContent::new().with_text(text).with_blocks(slack_blocks(blocks)),
            SlackTs(message.message.clone()),
        );
        self.call("chat.update", Lane::Channel(&message.channel), session.chat_update(&req)).await?;
        Ok(())
    }

    async fn post_dm(
        &self,
        to: &ChatUser,
        text: &str,
        blocks: Vec<Value>,
        mark: &Mark,
    ) -> Result<MessageRef, ChatError> {
        if to.platform != Platform::Slack {
            return Err(ChatError::Permanent(format!("not a Slack user: {:?}", to.platform)));
        }
        let user = self.user_id(&to.id).await?;
        let channel = self.dm_channel(&user).await?;
        let content = SlackMessageContent::new()
            .with_text(text.to_owned())
            .with_blocks(slack_blocks(blocks))
            .with_metadata(metadata(mark));
        match self.post(&channel, &content).await {
            // The cached DM channel is gone (rare: a workspace migration); open it again once.
            Err(f) if f.code.as_deref() == Some("channel_not_found") => {
                self.dm_channels.forget(&user);
                let channel = self.dm_channel(&user).await?;
                Ok(self.post(&channel, &content).await?)
            }
            other => Ok(other?),
        }
    }

    async fn post(&self, channel: &str, content: &SlackMessageContent) -> Result<MessageRef, Failure> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.to_owned()), content.clone());
        let resp = self.call("chat.postMessage", Lane::Channel(channel), session.chat_post_message(&req)).await?;
        Ok(MessageRef { platform: Platform::Slack, channel: resp.channel.0, message: resp.ts.0 })
    }

    /// The Slack user id for a recipient id: itself, or for `email:<address>`, the user with that email.
    async fn user_id(&self, id: &str) -> Result<String, ChatError> {
        let Some(email) = id.strip_prefix(EMAIL_PREFIX) else {
            return Ok(id.to_owned());
        };
        let key = email.trim().to_lowercase();
        self.users_by_email
            .get_or_try_init(&key, || async {
                let session = self.client.open_session(&self.token);
                let req = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.trim().to_owned()));
                let resp = self.call("users.lookupByEmail", Lane::Lookup, session.users_lookup_by_email(&req)).await?;
                Ok(resp.user.id.0)
            })
            .await
    }

    async fn dm_channel(&self, user: &str) -> Result<String, ChatError> {
        self.dm_channels
            .get_or_try_init(user, || async {
                let session = self.client.open_session(&self.token);
                let req = SlackApiConversationsOpenRequest::new().with_users(vec![SlackUserId(user.to_owned())]);
                let resp = self.call("conversations.open", Lane::Lookup, session.conversations_open(&req)).await?;
                Ok(resp.channel.id.0)
            })
            .await
    }

    /// Runs one Web API call: through the pacer unless interactive, within the timeout, errors mapped; a
    /// rate-limit answer pauses every paced call.
    async fn call<T>(
        &self,
        method: &'static str,
        lane: Lane<'_>,
        request: impl Future<Output = Result<T, SlackClientError>>,
    ) -> Result<T, Failure> {
        // What a 429 holds: the method, or for calls in one conversation the method in that conversation
        // (`chat.postMessage` is limited per channel, about one a second).
        let pace = match lane {
            Lane::Channel(channel) => Some(format!("{method} {channel}")),
            Lane::Lookup => Some(method.to_owned()),
            Lane::Interactive => None,
        };
        let timeout = match lane {
            Lane::Lookup => self.request_timeout.min(LOOKUP_TIMEOUT),
            Lane::Channel(_) => self.request_timeout,
            Lane::Interactive => self.request_timeout.max(INTERACTIVE_TIMEOUT),
        };
        let _permit = match &pace {
            Some(key) => Some(self.pacer.ready(key).await),
            None => None,
        };
        let result = match tokio::time::timeout(timeout, request).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Failure::from_slack(method, e)),
            Err(_) => Err(Failure {
                code: None,
                error: ChatError::Transient(format!("{method}: no answer within {timeout:?}")),
            }),
        };
        if let Err(Failure { error: ChatError::RateLimited { retry_after }, .. }) = &result {
            // A lookup many deliveries share holds its method for the wait. A call in one conversation holds only
            // itself: the outbox retries it after the wait, and the conversation's other messages go on. Holding
            // the whole conversation made every 429 delay every prompt to that person (a 1-of-3 ask sends the
            // same three people many prompts at once).
            tracing::warn!(method, ?retry_after, "Slack asked us to slow down");
            if let (Lane::Lookup, Some(key)) = (lane, &pace) {
                self.pacer.pause_for(key, *retry_after);
            }
        }
        if let Err(f) = &result {
            tracing::debug!(method, error = %f.error, "Slack call failed");
        }
        result
    }
}

impl ChatAdapter for SlackAdapter {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn send_prompt<'a>(
        &'a self,
        to: &'a ChatUser,
        prompt: &'a PromptMessage,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(self.send_prompt_to(to, prompt, mark))
    }

    fn close_prompt<'a>(
        &'a self,
        message: &'a MessageRef,
        closing: &'a PromptClosing,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(self.close(message, closing))
    }

    fn notify<'a>(
        &'a self,
        to: &'a ChatUser,
        notification: &'a Notification,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            let (text, blocks) = blocks::notification_message(notification);
            self.post_dm(to, &text, blocks, mark).await
        })
    }

    fn find_copies<'a>(
        &'a self,
        to: &'a ChatUser,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<Vec<MessageRef>, ChatError>> {
        Box::pin(self.copies(to, mark))
    }

    fn delete_message<'a>(&'a self, message: &'a MessageRef) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(self.delete(message))
    }
}

/// Messages per `conversations.history` page when looking for copies (Slack allows up to 999; 200 is what it
/// recommends).
const HISTORY_PAGE: u16 = 200;
/// Pages read at most: a DM with more than this many messages since the send began is beyond any real prompt.
const HISTORY_PAGES: usize = 5;

/// The `metadata` a message carries: [`SLACK_EVENT_TYPE`] with the mark's key and token.
fn metadata(mark: &Mark) -> SlackMessageMetadata {
    let mut payload = HashMap::new();
    payload.insert("key".to_owned(), mark.key.clone());
    if let Some(t) = &mark.token {
        payload.insert("token".to_owned(), t.clone());
    }
    SlackMessageMetadata { event_type: SLACK_EVENT_TYPE.to_owned(), event_payload: Some(payload) }
}

/// Whether a message's metadata is `mark`'s: the same prompt token, or for other messages the same key.
fn carries(metadata: Option<&SlackMessageMetadata>, mark: &Mark) -> bool {
    let Some(m) = metadata.filter(|m| m.event_type == SLACK_EVENT_TYPE) else { return false };
    let Some(payload) = &m.event_payload else { return false };
    match &mark.token {
        Some(token) => payload.get("token") == Some(token),
        None => payload.get("key") == Some(&mark.key),
    }
}

/// A Slack `ts` (`seconds.micros`) as a number, for ordering.
fn ts_order(ts: &str) -> f64 {
    ts.parse().unwrap_or(0.0)
}

/// Whether a call waits its turn in the [`Pacer`].
#[derive(Debug, Clone, Copy)]
enum Lane<'a> {
    /// Outbox deliveries in one conversation: paced; a 429 holds the method in that conversation.
    Channel(&'a str),
    /// A lookup many deliveries wait on at once (opening a DM, finding a user by email): paced, and given up after
    /// [`LOOKUP_TIMEOUT`], since one slow answer would hold every delivery to that person.
    Lookup,
    /// A person is waiting on the answer within Slack's 3 seconds: not paced.
    Interactive,
}

/// A failed call: the error for the core, and Slack's error code, kept apart so that the adapter can react to a
/// code (`channel_not_found`) without parsing a message.
#[derive(Debug)]
struct Failure {
    code: Option<String>,
    error: ChatError,
}

impl From<Failure> for ChatError {
    fn from(f: Failure) -> ChatError {
        f.error
    }
}

impl Failure {
    fn from_slack(method: &str, err: SlackClientError) -> Failure {
        let (code, error) = match err {
            SlackClientError::RateLimitError(e) => {
                (e.code, ChatError::RateLimited { retry_after: e.retry_after.unwrap_or(DEFAULT_RETRY_AFTER) })
            }
            SlackClientError::ApiError(e) => {
                let error = api_error(method, &e.code);
                (Some(e.code), error)
            }
            SlackClientError::HttpError(e) => {
                let status = e.status_code;
                let error = if status.as_u16() == 429 {
                    ChatError::RateLimited { retry_after: DEFAULT_RETRY_AFTER }
                } else if status.is_server_error() || status.as_u16() == 408 {
                    ChatError::Transient(format!("{method}: HTTP {status}"))
                } else {
                    ChatError::Permanent(format!("{method}: HTTP {status}"))
                };
                (None, error)
            }
            // The body is not shown: it could hold what we posted.
            SlackClientError::ProtocolError(e) => {
                (None, ChatError::Transient(format!("{method}: unexpected answer from Slack: {}", e.json_error)))
            }
            SlackClientError::HttpProtocolError(e) => (None, ChatError::Transient(format!("{method}: {e}"))),
            SlackClientError::SystemError(e) => (None, ChatError::Transient(format!("{method}: {e}"))),
            SlackClientError::EndOfStream(e) => (None, ChatError::Transient(format!("{method}: {e}"))),
            SlackClientError::SocketModeProtocolError(e) => (None, ChatError::Transient(format!("{method}: {e}"))),
        };
        Failure { code, error }
    }
}

/// Slack's `{"ok": false, "error": code}`: a few codes mean "later", the rest mean the request itself is wrong
/// (a bad token or scope, an unknown user or channel, invalid blocks) and will fail the same way every time.
fn api_error(method: &str, code: &str) -> ChatError {
    match code {
        "ratelimited" | "rate_limited" => ChatError::RateLimited { retry_after: DEFAULT_RETRY_AFTER },
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" | "team_added_to_org" => {
            ChatError::Transient(format!("{method}: Slack said {code}"))
        }
        _ => ChatError::Permanent(format!("{method}: Slack said {code}")),
    }
}

/// Our Block Kit JSON, handed to slack-morphism untouched: `SlackBlock::Unknown` serializes its value as is.
fn slack_blocks(blocks: Vec<Value>) -> Vec<SlackBlock> {
    blocks.into_iter().map(SlackBlock::Unknown).collect()
}

/// The `text` and `blocks` of a reply built in [`blocks`].
pub(crate) fn content(reply: &Value) -> SlackMessageContent {
    let mut content = SlackMessageContent::new();
    content.text = reply.get("text").and_then(Value::as_str).map(str::to_owned);
    content.blocks = reply.get("blocks").and_then(Value::as_array).cloned().map(slack_blocks);
    content
}

/// Paces bulk calls: at most `max_in_flight` at once, starts at least `min_interval` apart, and none at all
/// while a `Retry-After` pause runs.
struct Pacer {
    permits: Semaphore,
    min_interval: Duration,
    state: Mutex<PacerState>,
}

struct PacerState {
    /// The earliest start for the next call.
    next_start: Instant,
    /// Per Web API method (or method in one conversation): no paced call to it starts before this. Slack's limits
    /// are per method and workspace (its tiers), and for posting per channel, so a 429 holds what drew it; pausing
    /// every call made one busy conversation (or a flaky answer) slow all the others.
    paused_until: HashMap<String, Instant>,
}

impl Pacer {
    fn new(max_in_flight: usize, min_interval: Duration) -> Pacer {
        let now = Instant::now();
        Pacer {
            permits: Semaphore::new(max_in_flight.max(1)),
            min_interval,
            state: Mutex::new(PacerState { next_start: now, paused_until: HashMap::new() }),
        }
    }

    /// Waits for a turn to call `method`; the call runs while the permit is held. A pause of the method is waited
    /// out before a permit is taken, so a paused method does not hold slots the others could use.
    async fn ready(&self, method: &str) -> Option<SemaphorePermit<'_>> {
        loop {
            let paused = self.paused(method);
            if paused <= Instant::now() {
                break;
            }
            tokio::time::sleep_until(paused).await;
        }
        // The semaphore is never closed, so this only fails if that changes; then we run unpaced.
        let permit = self.permits.acquire().await.ok();
        loop {
            let (at, reserved) = {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                let paused = s.paused_until.get(method).copied().unwrap_or(now);
                if paused > now {
                    (paused, false)
                } else {
                    let slot = s.next_start.max(now);
                    s.next_start = slot + self.min_interval;
                    (slot, true)
                }
            };
            tokio::time::sleep_until(at).await;
            // A pause that began while we waited for our slot holds us too.
            if reserved && self.paused(method) <= Instant::now() {
                return permit;
            }
        }
    }

    fn paused(&self, method: &str) -> Instant {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.paused_until.get(method).copied().unwrap_or_else(Instant::now)
    }

    fn pause_for(&self, method: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // Forget pauses that are over, so the map holds only live ones.
        s.paused_until.retain(|_, t| *t > now);
        let p = s.paused_until.entry(method.to_owned()).or_insert(until);
        *p = (*p).max(until);
    }
}

/// A per-key cache that runs each lookup once even when many callers ask at the same moment (a fan-out to one
/// approver opens their DM once). Failed lookups are not cached: the next caller tries again.
struct Cache<V> {
    cells: Mutex<HashMap<String, Arc<OnceCell<V>>>>,
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Cache { cells: Mutex::new(HashMap::new()) }
    }
}

impl<V: Clone> Cache<V> {
    async fn get_or_try_init<F, Fut>(&self, key: &str, init: F) -> Result<V, ChatError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Failure>>,
    {
        let cell = self.cells.lock().unwrap_or_else(PoisonError::into_inner).entry(key.to_owned()).or_default().clone();
        cell.get_or_try_init(|| async { init().await.map_err(ChatError::from) }).await.cloned()
    }

    fn forget(&self, key: &str) {
        self.cells.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn our_blocks_reach_slack_unchanged() {
        let block = json!({"type": "section", "block_id": "b", "text": {"type": "mrkdwn", "text": "*hi*"}, "future_field": [1, 2]});
        let content =
            SlackMessageContent::new().with_text("t".to_owned()).with_blocks(slack_blocks(vec![block.clone()]));
        let sent = serde_json::to_value(SlackApiChatPostMessageRequest::new(SlackChannelId("D1".to_owned()), content))
            .unwrap();
        assert_eq!(sent, json!({"channel": "D1", "text": "t", "blocks": [block]}));
    }

    #[test]
    fn the_deny_modal_is_a_view_slack_morphism_accepts() {
        let view = blocks::deny_modal("tok");
        let parsed: SlackView = serde_json::from_value(view.clone()).unwrap();
        let SlackView::Modal(m) = parsed else { panic!("not a modal") };
        assert_eq!(m.private_metadata.as_deref(), Some("tok"));
    }

    #[test]
    fn error_codes_map_to_what_the_outbox_should_do() {
        for code in [
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "missing_scope",
            "channel_not_found",
            "user_not_found",
            "users_not_found",
            "invalid_blocks",
        ] {
            assert!(matches!(api_error("m", code), ChatError::Permanent(ref s) if s.contains(code)), "{code}");
        }
        for code in ["internal_error", "fatal_error", "service_unavailable", "request_timeout"] {
            assert!(matches!(api_error("m", code), ChatError::Transient(_)), "{code}");
        }
        assert_eq!(api_error("m", "ratelimited"), ChatError::RateLimited { retry_after: DEFAULT_RETRY_AFTER });
    }

    #[test]
    fn api_urls_must_be_http_or_https() {
        assert!(matches!(connector("ftp://x"), Err(SetupError::ApiUrl(_))));
        assert!(matches!(connector("not a url"), Err(SetupError::ApiUrl(_))));
        assert!(connector("http://127.0.0.1:1/api").is_ok());
    }

    #[test]
    fn settings_never_print_the_token() {
        let s = SlackSettings::new(SecretString::from("xoxb-very-secret"));
        assert!(!format!("{s:?}").contains("very-secret"));
        let adapter = SlackAdapter::new(SlackSettings { api_url: "http://127.0.0.1:1/api".to_owned(), ..s }).unwrap();
        assert!(!format!("{adapter:?}").contains("very-secret"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_starts_and_holds_the_paused_method_only() {
        let pacer = Pacer::new(2, Duration::from_millis(100));
        let t0 = Instant::now();
        drop(pacer.ready("chat.postMessage").await);
        drop(pacer.ready("chat.postMessage").await);
        assert_eq!(Instant::now() - t0, Duration::from_millis(100));
        pacer.pause_for("chat.postMessage", Duration::from_secs(3));
        drop(pacer.ready("chat.update").await);
        assert_eq!(Instant::now() - t0, Duration::from_millis(200), "another method is not held");
        drop(pacer.ready("chat.postMessage").await);
        assert!(Instant::now() - t0 >= Duration::from_millis(3000), "{:?}", Instant::now() - t0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_caps_calls_in_flight() {
        let pacer = Pacer::new(2, Duration::ZERO);
        let a = pacer.ready("m").await;
        let b = pacer.ready("m").await;
        assert!(tokio::time::timeout(Duration::from_secs(1), pacer.ready("m")).await.is_err(), "a third call got in");
        drop(a);
        assert!(tokio::time::timeout(Duration::from_secs(1), pacer.ready("m")).await.is_ok());
        drop(b);
    }
}
