//! [`DiscordAdapter`]: the [`ChatAdapter`] over Discord's REST API, and command registration.
//!
//! | what | request |
//! | --- | --- |
//! | open a DM (cached per user) | `POST /users/@me/channels` `{"recipient_id": ...}` |
//! | send a prompt or a notification | `POST /channels/{dm}/messages` |
//! | close a prompt that was not clicked | `PATCH /channels/{channel}/messages/{message}` (no components) |
//! | register `/request` | `PUT /applications/{app}/commands` or `.../guilds/{guild}/commands` |
//!
//! **How serenity is used.** serenity names each endpoint ([`Route`]), knows its rate-limit bucket
//! ([`Route::ratelimiting_bucket`]), and builds the request ([`Request::build`]: URL, `Authorization: Bot ...`,
//! its user agent, JSON headers, and a base-URL override for tests and proxies); its builders write the
//! bodies ([`crate::components`]). But the request is executed here, on our own reqwest client, not through
//! serenity's `Http`, because `Http` cannot give the outbox what it needs on a 429: with its rate limiter
//! on, it sleeps and retries inside the call (and ignores a custom base URL); with it off, a failed request
//! becomes an `ErrorResponse` that keeps neither the headers nor the 429 body's `retry_after` (that body has
//! no `code`, so serenity cannot even decode it). Executing the built request ourselves keeps serenity's
//! routing and auth and gives us the status, the headers and the body.
//!
//! **Rate limits** (<https://discord.com/developers/docs/topics/rate-limits>). A 429 becomes
//! [`ChatError::RateLimited`] with the wait from the body's `retry_after` (seconds, fractional), else the
//! `Retry-After` header, else `X-RateLimit-Reset-After`; the outbox retries after it. The adapter also remembers
//! the wait, for the route's bucket (or for every route when Discord says the limit is global), and so does a
//! bucket whose `X-RateLimit-Remaining` reached 0 until `X-RateLimit-Reset-After`: a call into a bucket known to
//! be exhausted fails at once with `RateLimited` instead of drawing another 429, because 10,000 401/403/429
//! answers in 10 minutes get the IP banned by Cloudflare.
//!
//! **Errors**: 429 → `RateLimited`; 5xx, 408, timeouts and connection failures → `Transient` (retry with
//! backoff); 401, 403, 404 and other 4xx → `Permanent` (bad token, a user who does not accept DMs, an unknown
//! channel: retrying will not help). Messages name the step and carry Discord's error `code` and `message`,
//! never the bot token.
//!
//! **At least once.** A prompt is created with a `nonce` derived from its token and channel, a notice with one
//! derived from its outbox key and channel, and `enforce_nonce: true`, so if a delivery is retried after Discord
//! created the message (a timeout on our side), Discord returns the message it already has instead of posting a
//! second one (for a few minutes, which covers the outbox's quick retries). Beyond that, [`ChatAdapter::find_copies`]
//! lists the DM's recent messages (`GET /channels/{dm}/messages`) and picks ours by the prompt token in the
//! buttons' `custom_id`s, or by the nonce where Discord returns it; an extra copy is deleted
//! (`DELETE /channels/{channel}/messages/{message}`). Closing is a PATCH, idempotent by nature.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serenity::all::{ApplicationId, ChannelId, GuildId, MessageId, Nonce, UserId};
use serenity::http::{LightMethod, RatelimitingBucket, Request, Route};
use signoff_port::{
    BoxFuture, ChatAdapter, ChatError, ChatUser, Mark, MessageRef, Notification, Platform, PromptClosing, PromptMessage,
};

use crate::components;

/// Discord's API base, the default for `[discord] api_url`.
pub const DEFAULT_API_URL: &str = "https://discord.com/api/v10";
/// What serenity's routes start with; its base-URL override replaces exactly this.
const SERENITY_ORIGIN: &str = "https://discord.com";
/// The versioned path serenity's routes carry after the origin.
const API_PATH: &str = "/api/v10";
/// Time allowed to establish a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, so that a stuck connection cannot hold an outbox worker: Discord answers in
/// well under a second, and a create that timed out is found by its nonce before it is sent again.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);
/// The wait reported for a 429 that says nothing about how long to wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest wait we report, whatever a (broken) answer claims.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How much of an error body goes into an error message.
const ERROR_DETAIL_MAX: usize = 300;

/// Why a [`DiscordAdapter`] could not be built from config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `bot_token` is empty.
    #[error("the Discord bot token is empty")]
    EmptyToken,
    /// `bot_token` has characters that cannot go in an HTTP header (the token itself is not printed).
    #[error("the Discord bot token contains characters that cannot be sent in an HTTP header")]
    BadToken,
    /// `api_url` is not `http(s)://host[:port]`, optionally followed by `/api/v10`.
    #[error("Discord api_url {0:?} must be http(s)://host[:port], optionally followed by /api/v10")]
    BadApiUrl(String),
    /// The HTTP client could not be built.
    #[error("building the HTTP client for Discord: {0}")]
    Client(#[source] reqwest::Error),
}

/// A command as Discord registered it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredCommand {
    /// Discord's id for the command.
    pub id: String,
    /// Its name ("request").
    pub name: String,
}

/// The Discord [`ChatAdapter`]: prompts and notifications as DMs from the bot, over the REST API.
pub struct DiscordAdapter {
    /// Executes the requests serenity builds.
    http: reqwest::Client,
    /// `Bot <token>`, the `Authorization` header. Never logged, never in an error.
    authorization: String,
    /// Replaces `https://discord.com` in serenity's routes when `api_url` is not Discord's.
    origin_override: Option<String>,
    /// Discord user id → DM channel id. Discord returns the same DM channel every time for a user, so one
    /// `POST /users/@me/channels` per user per process is enough (and the docs warn against opening many).
    dm_channels: Mutex<HashMap<String, String>>,
    /// Buckets known to be exhausted, so we wait instead of drawing more 429s.
    limits: Mutex<Limits>,
}

impl fmt::Debug for DiscordAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordAdapter")
            .field("api", &format!("{}{API_PATH}", self.origin_override.as_deref().unwrap_or(SERENITY_ORIGIN)))
            .field("authorization", &"Bot <redacted>")
            .finish_non_exhaustive()
    }
}

impl DiscordAdapter {
    /// Builds the adapter from `[discord] bot_token` (with or without the `Bot ` prefix) and `api_url`
    /// ([`DEFAULT_API_URL`], or a local fake such as `http://127.0.0.1:PORT/api/v10`).
    pub fn new(bot_token: &str, api_url: &str) -> Result<Self, ConfigError> {
        let token = bot_token.trim_start();
        let token = token.strip_prefix("Bot ").unwrap_or(token).trim();
        if token.is_empty() {
            return Err(ConfigError::EmptyToken);
        }
        let authorization = format!("Bot {token}");
        if HeaderValue::from_str(&authorization).is_err() {
            return Err(ConfigError::BadToken);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(ConfigError::Client)?;
        Ok(Self {
            http,
            authorization,
            origin_override: origin_override(api_url)?,
            dm_channels: Mutex::default(),
            limits: Mutex::default(),
        })
    }

    /// The DM channel with a user, opened once and then cached.
    pub async fn open_dm(&self, user_id: &str) -> Result<String, ChatError> {
        if let Some(channel) = lock(&self.dm_channels).get(user_id) {
            return Ok(channel.clone());
        }
        let what = "opening a Discord DM";
        let _: UserId = snowflake(what, "user id", user_id)?;
        let body = json_body(what, &serde_json::json!({ "recipient_id": user_id }))?;
        let channel: IdOnly = decode(what, &self.call(what, Route::UserMeDmChannels, LightMethod::Post, body).await?)?;
        lock(&self.dm_channels).insert(user_id.to_owned(), channel.id.clone());
        Ok(channel.id)
    }

    /// Registers the command definitions (a JSON array, normally [`crate::commands::definitions`]) as the
    /// application's global commands, or as one guild's commands when `guild_id` is given. This is a bulk
    /// overwrite (`PUT`), so commands not in `definitions` are removed and running it twice is harmless.
    /// Guild commands update at once; global ones can take a while to reach every client.
    pub async fn register_commands(
        &self,
        application_id: &str,
        guild_id: Option<&str>,
        definitions: &Value,
    ) -> Result<Vec<RegisteredCommand>, ChatError> {
        let what = "registering Discord commands";
        if !definitions.is_array() {
            return Err(ChatError::Permanent(format!("{what}: the definitions must be a JSON array of commands")));
        }
        let application_id: ApplicationId = snowflake(what, "application id", application_id)?;
        let route = match guild_id {
            Some(guild) => {
                Route::GuildCommands { application_id, guild_id: snowflake::<GuildId>(what, "guild id", guild)? }
            }
            None => Route::Commands { application_id },
        };
        let body = json_body(what, definitions)?;
        decode(what, &self.call(what, route, LightMethod::Put, body).await?)
    }

    /// Posts a message in a user's DM channel.
    async fn post_to_user<B: Serialize>(
        &self,
        what: &'static str,
        user_id: &str,
        message: impl FnOnce(&str) -> B,
    ) -> Result<MessageRef, ChatError> {
        let channel = self.open_dm(user_id).await?;
        let channel_id: ChannelId = snowflake(what, "channel id", &channel)?;
        let body = json_body(what, &message(&channel))?;
        let result = self.call(what, Route::ChannelMessages { channel_id }, LightMethod::Post, body).await;
        if let Err(ChatError::Permanent(_)) = &result {
            // The user may have closed DMs to the bot, or the cached channel is gone; the next attempt reopens.
            lock(&self.dm_channels).remove(user_id);
        }
        let created: IdOnly = decode(what, &result?)?;
        Ok(MessageRef { platform: Platform::Discord, channel, message: created.id })
    }

    /// Sends one request: refuses at once if its bucket is known to be exhausted, else executes it and turns
    /// the answer into the body or a [`ChatError`].
    async fn call(
        &self,
        what: &'static str,
        route: Route<'_>,
        method: LightMethod,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ChatError> {
        self.send(what, Request::new(route, method).body(body)).await
    }

    /// [`DiscordAdapter::call`] for a request already made (with query parameters, say).
    async fn send(&self, what: &'static str, request: Request<'_>) -> Result<Vec<u8>, ChatError> {
        let bucket = request.route_ref().ratelimiting_bucket();
        if let Some(retry_after) = lock(&self.limits).wait(bucket, Instant::now()) {
            tracing::debug!(what, ?retry_after, "Discord rate limit still running; not calling");
            return Err(ChatError::RateLimited { retry_after });
        }
        let request = request
            .build(&self.http, &self.authorization, self.origin_override.as_deref())
            .map_err(|e| ChatError::Permanent(format!("{what}: building the request: {e}")))?;
        let response = request.send().await.map_err(|e| ChatError::Transient(format!("{what}: {}", describe(&e))))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| ChatError::Transient(format!("{what}: {}", describe(&e))))?;
        tracing::debug!(what, status = status.as_u16(), "Discord answered");

        let now = Instant::now();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let limit = RateLimit::read(&headers, &bytes);
            tracing::warn!(what, retry_after = ?limit.retry_after, global = limit.global, "Discord rate limited us");
            lock(&self.limits).block((!limit.global).then_some(bucket), now + limit.retry_after, now);
            return Err(ChatError::RateLimited { retry_after: limit.retry_after });
        }
        if header_f64(&headers, "x-ratelimit-remaining") == Some(0.0)
            && let Some(reset_after) = header_f64(&headers, "x-ratelimit-reset-after").and_then(seconds)
        {
            lock(&self.limits).block(Some(bucket), now + reset_after, now);
        }
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let message = format!("{what}: Discord answered {status}{}", error_detail(&bytes));
        Err(match status.as_u16() {
            408 | 500..=599 => ChatError::Transient(message),
            _ => ChatError::Permanent(message),
        })
    }
}

impl ChatAdapter for DiscordAdapter {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    fn send_prompt<'a>(
        &'a self,
        to: &'a ChatUser,
        prompt: &'a PromptMessage,
        _mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            let what = "posting a Discord prompt";
            let user = discord_user(what, to)?;
            let message =
                components::prompt_message(prompt).map_err(|e| ChatError::Permanent(format!("{what}: {e}")))?;
            self.post_to_user(what, user, |channel| {
                message.nonce(Nonce::String(prompt_nonce(&prompt.token, channel))).enforce_nonce(true)
            })
            .await
        })
    }

    fn close_prompt<'a>(
        &'a self,
        message: &'a MessageRef,
        closing: &'a PromptClosing,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            let what = "closing a Discord prompt";
            if message.platform != Platform::Discord {
                return Err(ChatError::Permanent(format!("{what}: the message is on {}", message.platform.as_str())));
            }
            let channel_id: ChannelId = snowflake(what, "channel id", &message.channel)?;
            let message_id: MessageId = snowflake(what, "message id", &message.message)?;
            let body = json_body(what, &components::closing_edit(closing))?;
            self.call(what, Route::ChannelMessage { channel_id, message_id }, LightMethod::Patch, body).await?;
            Ok(())
        })
    }

    fn notify<'a>(
        &'a self,
        to: &'a ChatUser,
        notification: &'a Notification,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            let what = "sending a Discord notification";
            let user = discord_user(what, to)?;
            self.post_to_user(what, user, |channel| {
                components::notification_message(notification)
                    .nonce(Nonce::String(prompt_nonce(&mark.key, channel)))
                    .enforce_nonce(true)
            })
            .await
        })
    }

    fn find_copies<'a>(
        &'a self,
        to: &'a ChatUser,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<Vec<MessageRef>, ChatError>> {
        Box::pin(async move {
            let what = "listing a Discord DM";
            let user = discord_user(what, to)?;
            let channel = self.open_dm(user).await?;
            let channel_id: ChannelId = snowflake(what, "channel id", &channel)?;
            let request = Request::new(Route::ChannelMessages { channel_id }, LightMethod::Get)
                .params(Some(vec![("limit", RECENT_MESSAGES.to_string())]));
            let listed: Vec<Value> = decode(what, &self.send(what, request).await?)?;
            let nonce = prompt_nonce(mark.token.as_deref().unwrap_or(&mark.key), &channel);
            let mut found: Vec<MessageRef> = listed
                .iter()
                .filter(|m| is_copy(m, mark, &nonce))
                .filter_map(|m| m["id"].as_str())
                .map(|id| MessageRef { platform: Platform::Discord, channel: channel.clone(), message: id.to_owned() })
                .collect();
            // Newest first from Discord; snowflakes grow with time.
            found.sort_by_key(|m| m.message.parse::<u64>().unwrap_or(0));
            Ok(found)
        })
    }

    fn delete_message<'a>(&'a self, message: &'a MessageRef) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            let what = "deleting a Discord message";
            let channel_id: ChannelId = snowflake(what, "channel id", &message.channel)?;
            let message_id: MessageId = snowflake(what, "message id", &message.message)?;
            match self.call(what, Route::ChannelMessage { channel_id, message_id }, LightMethod::Delete, None).await {
                // Already gone: what deleting wanted.
                Err(ChatError::Permanent(e)) if e.contains("404") => Ok(()),
                other => other.map(|_| ()),
            }
        })
    }
}

/// Messages read when looking for copies: Discord's maximum page, and far more than one person's open prompts.
const RECENT_MESSAGES: u32 = 100;

/// Whether a listed message is a copy of `mark`: a prompt's buttons carry its token; any message may carry our
/// nonce (Discord returns it only for a while after creation).
fn is_copy(message: &Value, mark: &Mark, nonce: &str) -> bool {
    if message["nonce"].as_str() == Some(nonce) {
        return true;
    }
    let Some(token) = &mark.token else { return false };
    let needle = format!(":{token}");
    message["components"].as_array().into_iter().flatten().any(|row| {
        row["components"].as_array().into_iter().flatten().any(|c| {
            c["custom_id"].as_str().is_some_and(|id| {
                id.starts_with("so:") && (id.ends_with(&needle) || id.contains(&format!("{needle}:")))
            })
        })
    })
}

/// The override for serenity's origin, from `api_url`: `None` for Discord itself.
fn origin_override(api_url: &str) -> Result<Option<String>, ConfigError> {
    let bad = || ConfigError::BadApiUrl(api_url.to_owned());
    let trimmed = api_url.trim().trim_end_matches('/');
    let origin = trimmed.strip_suffix(API_PATH).unwrap_or(trimmed);
    let url = reqwest::Url::parse(origin).map_err(|_| bad())?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !bare {
        return Err(bad());
    }
    Ok((origin != SERENITY_ORIGIN).then(|| origin.to_owned()))
}

/// The recipient's id, if they are on Discord.
fn discord_user<'u>(what: &str, to: &'u ChatUser) -> Result<&'u str, ChatError> {
    if to.platform != Platform::Discord {
        return Err(ChatError::Permanent(format!("{what}: the recipient is a {} user", to.platform.as_str())));
    }
    Ok(&to.id)
}

/// A Discord id (snowflake) from its decimal text; serenity's id types cannot hold 0.
fn snowflake<T: From<NonZeroU64>>(what: &str, kind: &str, text: &str) -> Result<T, ChatError> {
    text.parse::<NonZeroU64>()
        .map(T::from)
        .map_err(|_| ChatError::Permanent(format!("{what}: {text:?} is not a Discord {kind}")))
}

/// The `nonce` of a prompt message: the same for the same token in the same channel, so that Discord
/// recognises a retried delivery (`enforce_nonce`). FNV-1a, because it must not change between builds or
/// restarts (std's hasher may); 64 bits as 16 hex digits plus a prefix stays within Discord's 25 characters.
pub fn prompt_nonce(token: &str, channel: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes().chain([b':']).chain(channel.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("so{hash:016x}")
}

fn json_body<B: Serialize>(what: &str, body: &B) -> Result<Option<Vec<u8>>, ChatError> {
    serde_json::to_vec(body).map(Some).map_err(|e| ChatError::Permanent(format!("{what}: encoding the body: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ChatError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ChatError::Transient(format!("{what}: unexpected answer from Discord: {e}")))
}

/// Any Discord object, for its id.
#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// What a 429 says.
struct RateLimit {
    retry_after: Duration,
    global: bool,
}

impl RateLimit {
    fn read(headers: &HeaderMap, body: &[u8]) -> Self {
        #[derive(Deserialize, Default)]
        struct Body {
            retry_after: Option<f64>,
            #[serde(default)]
            global: bool,
        }
        let body: Body = serde_json::from_slice(body).unwrap_or_default();
        let retry_after = body
            .retry_after
            .and_then(seconds)
            .or_else(|| header_f64(headers, "retry-after").and_then(seconds))
            .or_else(|| header_f64(headers, "x-ratelimit-reset-after").and_then(seconds))
            .unwrap_or(DEFAULT_RETRY_AFTER);
        let global_header =
            headers.get("x-ratelimit-global").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        Self { retry_after, global: body.global || global_header }
    }
}

/// A wait in seconds (fractional) as a `Duration`, if it is a sane one; capped at [`MAX_RETRY_AFTER`].
fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok().map(|d| d.min(MAX_RETRY_AFTER))
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `: <Discord's message> (code N)` from an error body, or a short excerpt of a body that is not Discord's.
fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct DiscordError {
        message: String,
        code: Option<i64>,
    }
    match serde_json::from_slice::<DiscordError>(body) {
        Ok(DiscordError { message, code: Some(code) }) => {
            format!(": {} (code {code})", components::truncate(&message, ERROR_DETAIL_MAX))
        }
        Ok(DiscordError { message, code: None }) => format!(": {}", components::truncate(&message, ERROR_DETAIL_MAX)),
        Err(_) if body.is_empty() => String::new(),
        Err(_) => format!(": {}", components::truncate(&String::from_utf8_lossy(body), ERROR_DETAIL_MAX)),
    }
}

/// An error and its causes on one line (reqwest's own message leaves out why a connection failed).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A lock that survives a panic elsewhere: the maps it guards hold no invariant a panic could break.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Until when each rate-limit bucket (serenity's grouping: route plus major id), or every route, must wait.
#[derive(Default)]
struct Limits {
    global: Option<Instant>,
    buckets: HashMap<RatelimitingBucket, Instant>,
}

impl Limits {
    /// How long a call into `bucket` must still wait, if at all.
    fn wait(&mut self, bucket: RatelimitingBucket, now: Instant) -> Option<Duration> {
        if self.global.is_some_and(|until| until <= now) {
            self.global = None;
        }
        let mut until = self.global;
        if let Some(&bucket_until) = self.buckets.get(&bucket) {
            if bucket_until <= now {
                self.buckets.remove(&bucket);
            } else {
                until = until.max(Some(bucket_until));
            }
        }
        until.map(|until| until - now)
    }

    /// Makes `bucket` (or, for `None`, every route) wait until `until`.
    fn block(&mut self, bucket: Option<RatelimitingBucket>, until: Instant, now: Instant) {
        self.buckets.retain(|_, t| *t > now);
        match bucket {
            None => self.global = self.global.max(Some(until)),
            Some(bucket) if bucket.is_none() => {}
            Some(bucket) => {
                let entry = self.buckets.entry(bucket).or_insert(until);
                *entry = (*entry).max(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_becomes_serenitys_origin_override() {
        assert_eq!(origin_override(DEFAULT_API_URL).unwrap(), None);
        assert_eq!(origin_override("https://discord.com/api/v10/").unwrap(), None);
        assert_eq!(origin_override("http://127.0.0.1:9999/api/v10").unwrap(), Some("http://127.0.0.1:9999".to_owned()));
        assert_eq!(origin_override("http://127.0.0.1:9999").unwrap(), Some("http://127.0.0.1:9999".to_owned()));
        for bad in ["", "discord.com", "ftp://x", "https://discord.com/api/v9", "http://h/api/v10?x=1", "http://u:p@h"]
        {
            assert!(matches!(origin_override(bad), Err(ConfigError::BadApiUrl(_))), "{bad}");
        }
    }

    #[test]
    fn the_token_is_checked_but_never_shown() {
        assert!(matches!(DiscordAdapter::new("  ", DEFAULT_API_URL), Err(ConfigError::EmptyToken)));
        assert!(matches!(DiscordAdapter::new("Bot ", DEFAULT_API_URL), Err(ConfigError::EmptyToken)));
        let err = DiscordAdapter::new("sekrit\ntoken", DEFAULT_API_URL).unwrap_err();
        assert!(matches!(err, ConfigError::BadToken));
        assert!(!err.to_string().contains("sekrit"));
        let adapter = DiscordAdapter::new("Bot sekrit-token", DEFAULT_API_URL).unwrap();
        assert_eq!(adapter.authorization, "Bot sekrit-token");
        assert!(!format!("{adapter:?}").contains("sekrit"));
        assert_eq!(DiscordAdapter::new("sekrit-token", DEFAULT_API_URL).unwrap().authorization, "Bot sekrit-token");
    }

    #[test]
    fn the_nonce_is_stable_short_and_specific_to_token_and_channel() {
        let a = prompt_nonce("0123456789abcdef0123456789abcdef", "1310000000000000001");
        assert_eq!(a, prompt_nonce("0123456789abcdef0123456789abcdef", "1310000000000000001"));
        assert_ne!(a, prompt_nonce("0123456789abcdef0123456789abcdef", "1310000000000000002"));
        assert_ne!(a, prompt_nonce("0123456789abcdef0123456789abcdee", "1310000000000000001"));
        assert!(a.len() <= 25);
        // Pinned, so that a change of hash (which would break deduplication across a deploy) is noticed.
        assert_eq!(prompt_nonce("", ""), "soaf63b74c8601adad");
    }

    #[test]
    fn a_429_is_read_from_the_body_then_the_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("65"));
        headers.insert("x-ratelimit-reset-after", HeaderValue::from_static("64.57"));
        let from_body =
            RateLimit::read(&headers, br#"{"message":"You are being rate limited.","retry_after":0.5,"global":false}"#);
        assert_eq!(from_body.retry_after, Duration::from_millis(500));
        assert!(!from_body.global);
        assert_eq!(RateLimit::read(&headers, b"").retry_after, Duration::from_secs(65));
        headers.remove("retry-after");
        assert_eq!(RateLimit::read(&headers, b"").retry_after, Duration::from_secs_f64(64.57));
        assert_eq!(RateLimit::read(&HeaderMap::new(), b"").retry_after, DEFAULT_RETRY_AFTER);
        assert_eq!(RateLimit::read(&HeaderMap::new(), br#"{"retry_after":-3}"#).retry_after, DEFAULT_RETRY_AFTER);
        assert_eq!(RateLimit::read(&HeaderMap::new(), br#"{"retry_after":1e12}"#).retry_after, MAX_RETRY_AFTER);

        let mut global = HeaderMap::new();
        global.insert("x-ratelimit-global", HeaderValue::from_static("true"));
        assert!(RateLimit::read(&global, br#"{"retry_after":1}"#).global);
        assert!(RateLimit::read(&HeaderMap::new(), br#"{"retry_after":1,"global":true}"#).global);
    }

    #[test]
    fn limits_hold_a_bucket_or_everything_until_they_expire() {
        let channel = |id: u64| Route::ChannelMessages { channel_id: ChannelId::new(id) }.ratelimiting_bucket();
        let now = Instant::now();
        let mut limits = Limits::default();
        assert_eq!(limits.wait(channel(1), now), None);

        limits.block(Some(channel(1)), now + Duration::from_secs(2), now);
        assert_eq!(limits.wait(channel(1), now), Some(Duration::from_secs(2)));
        assert_eq!(limits.wait(channel(2), now), None, "another channel is another bucket");
        assert_eq!(limits.wait(channel(1), now + Duration::from_secs(2)), None);
        assert!(limits.buckets.is_empty(), "expired buckets are forgotten");

        limits.block(None, now + Duration::from_secs(1), now);
        assert_eq!(limits.wait(channel(2), now), Some(Duration::from_secs(1)));
        assert_eq!(limits.wait(Route::UserMeDmChannels.ratelimiting_bucket(), now), Some(Duration::from_secs(1)));
        assert_eq!(limits.wait(channel(2), now + Duration::from_secs(1)), None);
    }

    #[test]
    fn error_details_carry_discords_message_and_code() {
        assert_eq!(
            error_detail(br#"{"message":"Cannot send messages to this user","code":50007}"#),
            ": Cannot send messages to this user (code 50007)"
        );
        assert_eq!(error_detail(b""), "");
        assert_eq!(error_detail(b"<html>bad gateway</html>"), ": <html>bad gateway</html>");
        assert_eq!(error_detail("x".repeat(1000).as_bytes()).chars().count(), 2 + ERROR_DETAIL_MAX);
    }
}
