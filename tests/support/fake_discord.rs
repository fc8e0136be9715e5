//! A fake Discord for the black-box tests: the REST endpoints signoff calls (`POST /users/@me/channels`,
//! `POST /channels/{id}/messages`, `PATCH /channels/{id}/messages/{id}`, `PUT .../commands`) under
//! `/api/v10`, on `127.0.0.1:0`, answering as Discord documents them (adapted from the adapter crate's
//! `adapters/discord/tests/rest.rs`). It records every call and can be told to answer the next calls with a
//! 429 as Discord sends it.
//!
//! The other direction, Discord calling signoff: [`signing_key`] is the fixed Ed25519 test key
//! (`SigningKey::from_bytes(&[7u8; 32])`) whose public half signoff is configured with; [`sign`] signs
//! `timestamp + body` as Discord does; [`click`], [`command`], [`autocomplete`] and [`ping`] build the
//! interactions Discord would POST.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The bot token signoff is configured with; the fake answers 401 to any other.
pub const BOT_TOKEN: &str = "fake-discord-bot-token-abc";
/// The application id signoff is configured with.
pub const APPLICATION_ID: &str = "1200000000000000000";

/// The fixed test key Discord "signs" interactions with.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// Its public half, as `[discord] public_key` holds it.
pub fn public_key() -> [u8; 32] {
    signing_key().verifying_key().to_bytes()
}

/// `hex(Ed25519(timestamp + body))`, the `X-Signature-Ed25519` header.
pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, ...
    pub method: Method,
    /// The path, `/api/v10/...`.
    pub path: String,
    /// The `Authorization` header.
    pub auth: Option<String>,
    /// The JSON body.
    pub body: Value,
    /// What the fake answered with (status).
    pub status: u16,
    /// The JSON answered.
    pub answer: Value,
}

/// A message signoff created, as it now reads (after any PATCH).
#[derive(Debug, Clone)]
pub struct Message {
    /// The DM channel.
    pub channel: String,
    /// The message id.
    pub id: String,
    /// Its content line.
    pub content: String,
    /// Its embeds.
    pub embeds: Value,
    /// Its components (action rows).
    pub components: Value,
}

impl Message {
    /// Every component inside the action rows.
    pub fn elements(&self) -> Vec<Value> {
        self.components
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// The button labelled `label`. Panics if none.
    pub fn button(&self, label: &str) -> Value {
        self.elements()
            .into_iter()
            .find(|c| c["type"] == 2 && c["label"] == label)
            .unwrap_or_else(|| panic!("no {label:?} button in {:#}", self.components))
    }

    /// What a person reads: content and embed descriptions.
    pub fn all_text(&self) -> String {
        let mut out = vec![self.content.clone()];
        for e in self.embeds.as_array().into_iter().flatten() {
            for k in ["title", "description"] {
                if let Some(t) = e[k].as_str() {
                    out.push(t.to_owned());
                }
            }
        }
        out.join("\n")
    }
}

/// A message the fake created.
#[derive(Debug, Clone)]
struct Stored {
    channel: String,
    id: String,
    content: Value,
    embeds: Value,
    components: Value,
    original_components: Value,
    nonce: Value,
    deleted: bool,
    created: Instant,
}

/// How long Discord remembers a nonce for `enforce_nonce` ("within the past few minutes").
const NONCE_MEMORY: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<Call>>,
    /// (path suffix to match, answer).
    script: Mutex<VecDeque<(String, f64)>>,
    message_ids: AtomicU64,
    /// Every message created, in order.
    messages: Mutex<Vec<Stored>>,
    /// The next creates (how many, and how late) are carried out at once but answered only after a while.
    late: Mutex<(usize, Duration)>,
}

/// The running fake; stops when dropped.
pub struct FakeDiscord {
    inner: Arc<Inner>,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeDiscord {
    /// Starts a fake on a free local port.
    pub async fn start() -> FakeDiscord {
        let inner = Arc::new(Inner { message_ids: AtomicU64::new(1_320_000_000_000_000_000), ..Inner::default() });
        let app = Router::new().fallback(answer).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the fake Discord");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { inner, addr, task }
    }

    /// The API base for `[discord] api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    /// The DM channel the fake opens for a user (derived, so tests can predict it).
    pub fn dm_of(user: &str) -> String {
        (user.parse::<u64>().expect("a snowflake") + 1_000_000_000_000_000_000).to_string()
    }

    /// The next `n` requests whose path ends with `path_suffix` get a 429 with this `retry_after`.
    pub fn rate_limit_next(&self, n: usize, path_suffix: &str, retry_after: f64) {
        self.inner.script.lock().unwrap().extend(std::iter::repeat_n((path_suffix.to_owned(), retry_after), n));
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// `METHOD /path` of every call.
    pub fn routes(&self) -> Vec<String> {
        self.calls().iter().map(|c| format!("{} {}", c.method, c.path)).collect()
    }

    /// Messages created in `user`'s DM and not deleted, as they now read.
    pub fn messages_to(&self, user: &str) -> Vec<Message> {
        let channel = FakeDiscord::dm_of(user);
        self.inner
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.channel == channel && !m.deleted)
            .map(|m| Message {
                channel: m.channel.clone(),
                id: m.id.clone(),
                content: m.content.as_str().unwrap_or_default().to_owned(),
                embeds: m.embeds.clone(),
                components: m.components.clone(),
            })
            .collect()
    }

    /// The next `n` message creates are carried out at once but answered only after `wait` (the caller times out
    /// first, not knowing the message was created).
    pub fn answer_creates_late(&self, n: usize, wait: Duration) {
        *self.inner.late.lock().unwrap() = (n, wait);
    }

    fn patches_of_in(&self, calls: &[Call], channel: &str, id: &str) -> Vec<Call> {
        let path = format!("/api/v10/channels/{channel}/messages/{id}");
        calls.iter().filter(|c| c.method == Method::PATCH && c.path == path && c.status == 200).cloned().collect()
    }

    /// PATCHes of one message.
    pub fn patches_of(&self, m: &Message) -> Vec<Call> {
        self.patches_of_in(&self.calls(), &m.channel, &m.id)
    }

    /// Prompts created for `user` (messages that were created with an Approve button), as they now read.
    pub fn prompts_to(&self, user: &str) -> Vec<Message> {
        let prompt_ids: Vec<String> = self
            .inner
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.original_components.to_string().contains("\"Approve\""))
            .map(|m| m.id.clone())
            .collect();
        self.messages_to(user).into_iter().filter(|m| prompt_ids.contains(&m.id)).collect()
    }

    /// Polls `cond` every 20 ms; fails with `what` and every call received after `timeout`.
    pub async fn wait_until(&self, what: &str, timeout: Duration, cond: impl Fn(&FakeDiscord) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() >= deadline {
                let calls: Vec<String> = self
                    .calls()
                    .iter()
                    .map(|c| format!("{} {} {} -> {}", c.method, c.path, c.body, c.status))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting until {what}; the fake Discord received:\n{}",
                    calls.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`wait_until`](Self::wait_until) with the harness's default bound.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&FakeDiscord) -> bool) {
        self.wait_until(what, super::WAIT, cond).await;
    }

    /// Waits until each of these Discord users has a prompt; returns the latest prompt of each.
    pub async fn wait_for_prompts(&self, users: &[&str]) -> Vec<Message> {
        self.wait_for(&format!("{users:?} get a prompt on Discord"), |f| {
            users.iter().all(|u| !f.prompts_to(u).is_empty())
        })
        .await;
        users.iter().map(|u| self.prompts_to(u).pop().unwrap()).collect()
    }
}

async fn answer(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_owned();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let record = |status: u16, answer: &Value| {
        inner.calls.lock().unwrap().push(Call {
            method: method.clone(),
            path: path.clone(),
            auth: auth.clone(),
            body: body.clone(),
            status,
            answer: answer.clone(),
        });
    };
    let scripted = {
        let mut script = inner.script.lock().unwrap();
        let pos = script.iter().position(|(suffix, _)| path.ends_with(suffix.as_str()));
        pos.and_then(|i| script.remove(i))
    };
    if let Some((_, retry_after)) = scripted {
        let answer = json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false });
        record(429, &answer);
        return respond(
            429,
            vec![
                ("retry-after", retry_after.ceil().to_string()),
                ("x-ratelimit-limit", "5".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset-after", retry_after.to_string()),
                ("x-ratelimit-bucket", "abcd1234".to_owned()),
                ("x-ratelimit-scope", "user".to_owned()),
            ],
            &answer,
        );
    }
    if auth.as_deref() != Some(&format!("Bot {BOT_TOKEN}")) {
        let answer = json!({ "message": "401: Unauthorized", "code": 0 });
        record(401, &answer);
        return respond(401, vec![], &answer);
    }
    let segments: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    let ok = match (method.as_str(), segments.as_slice()) {
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"].as_str().unwrap_or_default();
            if recipient.parse::<u64>().is_err() {
                let answer = json!({ "message": "Invalid Form Body", "code": 50035 });
                record(400, &answer);
                return respond(400, vec![], &answer);
            }
            json!({ "id": FakeDiscord::dm_of(recipient), "type": 1, "last_message_id": null,
                    "recipients": [{ "id": recipient, "username": "someone", "discriminator": "0" }] })
        }
        ("POST", ["channels", channel, "messages"]) => {
            // `enforce_nonce`: a create with a nonce seen in this channel within the last few minutes returns that
            // message instead of creating another.
            let stored = {
                let mut messages = inner.messages.lock().unwrap();
                let again = (body["enforce_nonce"] == true && !body["nonce"].is_null())
                    .then(|| {
                        messages.iter().find(|m| {
                            m.channel == *channel && m.nonce == body["nonce"] && m.created.elapsed() < NONCE_MEMORY
                        })
                    })
                    .flatten()
                    .cloned();
                match again {
                    Some(m) => m,
                    None => {
                        let id = inner.message_ids.fetch_add(1, Ordering::SeqCst).to_string();
                        let m = Stored {
                            channel: (*channel).to_owned(),
                            id,
                            content: body["content"].clone(),
                            embeds: body["embeds"].clone(),
                            components: body["components"].clone(),
                            original_components: body["components"].clone(),
                            nonce: body["nonce"].clone(),
                            deleted: false,
                            created: Instant::now(),
                        };
                        messages.push(m.clone());
                        m
                    }
                }
            };
            let late = {
                let mut late = inner.late.lock().unwrap();
                (late.0 > 0).then(|| {
                    late.0 -= 1;
                    late.1
                })
            };
            let ok = json!({ "id": stored.id, "channel_id": channel, "type": 0, "content": stored.content,
                             "embeds": stored.embeds, "components": stored.components, "nonce": stored.nonce });
            record(200, &ok);
            if let Some(wait) = late {
                tokio::time::sleep(wait).await;
            }
            return respond(200, vec![], &ok);
        }
        ("PATCH", ["channels", channel, "messages", message]) => {
            let mut messages = inner.messages.lock().unwrap();
            let Some(m) = messages.iter_mut().find(|m| m.channel == *channel && m.id == *message && !m.deleted) else {
                drop(messages);
                let answer = json!({ "message": "Unknown Message", "code": 10008 });
                record(404, &answer);
                return respond(404, vec![], &answer);
            };
            if body.get("content").is_some() {
                m.content = body["content"].clone();
            }
            if body.get("embeds").is_some() {
                m.embeds = body["embeds"].clone();
            }
            if body.get("components").is_some() {
                m.components = body["components"].clone();
            }
            json!({ "id": message, "channel_id": channel, "type": 0, "content": m.content, "components": m.components })
        }
        ("DELETE", ["channels", channel, "messages", message]) => {
            let mut messages = inner.messages.lock().unwrap();
            match messages.iter_mut().find(|m| m.channel == *channel && m.id == *message && !m.deleted) {
                Some(m) => {
                    m.deleted = true;
                    drop(messages);
                    record(204, &Value::Null);
                    return (StatusCode::NO_CONTENT, "").into_response();
                }
                None => {
                    drop(messages);
                    let answer = json!({ "message": "Unknown Message", "code": 10008 });
                    record(404, &answer);
                    return respond(404, vec![], &answer);
                }
            }
        }
        // Newest first, `limit` at most (as Discord lists a channel); nonces are not returned here.
        ("GET", ["channels", channel, "messages"]) => {
            let limit: usize = uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("limit=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(50);
            let messages = inner.messages.lock().unwrap();
            let listed: Vec<Value> = messages
                .iter()
                .rev()
                .filter(|m| m.channel == *channel && !m.deleted)
                .take(limit.clamp(1, 100))
                .map(|m| {
                    json!({ "id": m.id, "channel_id": m.channel, "type": 0, "content": m.content,
                                 "embeds": m.embeds, "components": m.components })
                })
                .collect();
            Value::Array(listed)
        }
        ("PUT", ["applications", app, "commands"]) | ("PUT", ["applications", app, "guilds", _, "commands"]) => {
            let defs = body.as_array().cloned().unwrap_or_default();
            Value::Array(
                defs.iter()
                    .enumerate()
                    .map(|(i, d)| json!({ "id": format!("14000000000000000{i:02}"), "application_id": app, "version": "1",
                                          "name": d["name"], "description": d["description"], "type": 1, "options": d["options"] }))
                    .collect(),
            )
        }
        _ => {
            let answer = json!({ "message": "404: Not Found", "code": 0 });
            record(404, &answer);
            return respond(404, vec![], &answer);
        }
    };
    record(200, &ok);
    respond(200, vec![], &ok)
}

fn respond(status: u16, headers: Vec<(&str, String)>, body: &Value) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    response
}

// ---------------------------------------------------------------------------------------------------------
// Discord calling signoff

static INTERACTION_IDS: AtomicU64 = AtomicU64::new(1_300_000_000_000_000_001);

fn next_interaction_id() -> String {
    INTERACTION_IDS.fetch_add(1, Ordering::SeqCst).to_string()
}

/// The fields every current interaction carries (the ones serenity 0.12.5 requires included).
fn envelope(kind: u8) -> Value {
    json!({
        "type": kind, "version": 1, "id": next_interaction_id(), "application_id": APPLICATION_ID,
        "token": "aW50ZXJhY3Rpb24tdG9rZW4tZm9yLXRlc3Rz",
        "app_permissions": "442368", "locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": { "0": "290926798626357999" },
        "attachment_size_limit": 10485760,
    })
}

/// A PING, as the Developer Portal sends when the endpoint is saved.
pub fn ping() -> Value {
    envelope(1)
}

/// `user` clicks `component` on `message` in their DM (a DM interaction: `user`, no `member`).
pub fn click(user: &str, message: &Message, component: &Value) -> Value {
    let mut i = envelope(3);
    i["context"] = json!(1);
    i["channel_id"] = json!(message.channel);
    i["channel"] = json!({ "id": message.channel, "type": 1 });
    i["user"] = json!({ "id": user, "username": format!("user{user}"), "discriminator": "0", "global_name": null });
    i["message"] = json!({
        "id": message.id, "channel_id": message.channel, "type": 0, "content": message.content,
        "embeds": message.embeds, "components": message.components, "flags": 0, "tts": false, "pinned": false,
        "mentions": [], "mention_roles": [], "mention_everyone": false, "attachments": [],
        "timestamp": "2026-11-23T10:42:00.000000+00:00", "edited_timestamp": null,
        "author": { "id": APPLICATION_ID, "username": "signoff", "discriminator": "0", "bot": true },
    });
    i["data"] = json!({ "custom_id": component["custom_id"], "component_type": component["type"], "id": 2 });
    i
}

/// `user` submits a form (`modal`, the type-9 response a click got) from `message`, with `value` in its text
/// input, as Discord sends a MODAL_SUBMIT: the modal's `custom_id` and, per action row, the input's
/// `custom_id` and value.
#[allow(dead_code)]
pub fn submit(user: &str, message: &Message, modal: &Value, value: &str) -> Value {
    let mut i = click(user, message, &json!({}));
    i["type"] = json!(5);
    let rows: Vec<Value> = modal["data"]["components"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    let inputs: Vec<Value> = row["components"]
                        .as_array()
                        .map(|c| {
                            c.iter()
                                .map(|c| json!({ "type": 4, "custom_id": c["custom_id"], "value": value }))
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({ "type": 1, "components": inputs })
                })
                .collect()
        })
        .unwrap_or_default();
    i["data"] = json!({ "custom_id": modal["data"]["custom_id"], "components": rows });
    i
}

/// `user` runs `/request` in a server, with these options (`[("resource", "salesforce"), ...]`).
pub fn command(user: &str, options: &[(&str, Value)]) -> Value {
    let mut i = envelope(2);
    i["context"] = json!(0);
    i["guild_id"] = json!("290926798626357999");
    i["channel_id"] = json!("345626669114982999");
    i["member"] = json!({ "user": { "id": user, "username": format!("user{user}"), "discriminator": "0" },
                          "roles": [], "permissions": "17179869183", "joined_at": "2017-03-13T19:19:14.040000+00:00",
                          "deaf": false, "mute": false, "flags": 0 });
    let opts: Vec<Value> = options
        .iter()
        .map(|(name, value)| {
            let kind = if *name == "for" { 6 } else { 3 };
            json!({ "name": name, "type": kind, "value": value })
        })
        .collect();
    i["data"] = json!({ "id": "1400000000000000000", "name": "request", "type": 1, "options": opts });
    i
}

/// `user` is typing `partial` in `/request`'s resource option.
pub fn autocomplete(user: &str, partial: &str) -> Value {
    let mut i = command(user, &[]);
    i["type"] = json!(4);
    i["data"]["options"] = json!([{ "name": "resource", "type": 3, "value": partial, "focused": true }]);
    i
}

/// `user` picks `picked` in the user select `component` on `message` (a user select sends `values` and the
/// picked users under `resolved`).
pub fn pick(user: &str, message: &Message, component: &Value, picked: &str) -> Value {
    let mut i = click(user, message, component);
    i["data"]["values"] = json!([picked]);
    i["data"]["resolved"] =
        json!({ "users": { picked: { "id": picked, "username": format!("user{picked}"), "discriminator": "0" } } });
    i
}
