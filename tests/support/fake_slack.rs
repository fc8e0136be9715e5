//! A fake Slack for the black-box tests: the Web API methods signoff calls (`auth.test`, `conversations.open`,
//! `chat.postMessage`, `chat.update`, `chat.delete`, `conversations.history`, `users.lookupByEmail`,
//! `users.info`, `views.open`) and the `response_url` hooks, on `127.0.0.1:0`, answering as Slack's docs show
//! (adapted from the adapter crate's `adapters/slack/tests/fake_slack`). It keeps the messages it accepted (with
//! their `metadata`, which `conversations.history` returns only with `include_all_metadata`), records every call,
//! and fails as Slack does on a bad day: the next calls to a method, or a seeded share of every call to some
//! methods ([`FakeSlack::storm`]), get a 429 with `Retry-After`, a 500 (before or after Slack acted), or an answer
//! that comes only after the caller's timeout although the post was stored.
//!
//! The other direction, Slack calling signoff, is here too: [`sign`] signs a body exactly as Slack does, and
//! [`click_payload`], [`slash_command_body`] and [`deny_modal_submission`] build the payloads Slack would send
//! for a click on a message this fake received, a `/request`, and a submitted deny-reason modal.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The bot token signoff is configured with; the fake refuses any other (`invalid_auth`).
pub const BOT_TOKEN: &str = "xoxb-fake-bot-token-0123456789";
/// The signing secret signoff is configured with (Slack's documented example secret).
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The workspace every payload comes from.
pub const TEAM: &str = "T0SIGNOFF";

/// One call, as received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, ..., or `response_url` for a POST to a `/hooks/...` URL.
    pub method: String,
    /// The query parameters and the JSON or form body, merged.
    pub params: Value,
    /// What the fake answered (`Value::Null` for a scripted failure).
    pub answer: Value,
    /// The `Authorization` header.
    pub auth: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

/// A message signoff posted, as the fake stored it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The DM channel (`D-<user id>`).
    pub channel: String,
    /// Its `ts`.
    pub ts: String,
    /// The fallback text.
    pub text: String,
    /// The Block Kit blocks.
    pub blocks: Value,
}

impl Message {
    /// The interactive elements of the message: buttons of its actions blocks, and section accessories.
    pub fn elements(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for b in self.blocks.as_array().into_iter().flatten() {
            let block_id = b["block_id"].as_str().unwrap_or_default().to_owned();
            for e in b["elements"].as_array().into_iter().flatten() {
                if e.get("action_id").is_some() {
                    out.push((block_id.clone(), e.clone()));
                }
            }
            if b.get("accessory").is_some_and(|a| a.get("action_id").is_some()) {
                out.push((block_id.clone(), b["accessory"].clone()));
            }
        }
        out
    }

    /// The button whose `action_id` contains `word` (`approve`, `deny`), with its block id. Panics if none.
    pub fn button(&self, word: &str) -> (String, Value) {
        let found: Vec<(String, Value)> = self
            .elements()
            .into_iter()
            .filter(|(_, e)| e["type"] == "button" && e["action_id"].as_str().is_some_and(|a| a.contains(word)))
            .collect();
        assert_eq!(found.len(), 1, "exactly one button whose action_id contains {word:?} in {:#}", self.blocks);
        found.into_iter().next().unwrap()
    }

    /// Whether the message has any interactive element left.
    pub fn has_buttons(&self) -> bool {
        !self.elements().is_empty()
    }

    /// Every text in the blocks and the fallback, joined: what a person reads.
    pub fn all_text(&self) -> String {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(t)) = m.get("text") {
                        out.push(t.clone());
                    }
                    m.values().for_each(|v| walk(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = vec![self.text.clone()];
        walk(&self.blocks, &mut out);
        out.join("\n")
    }
}

/// A scripted answer for the next call to a method.
#[derive(Debug, Clone, Copy)]
pub enum Scripted {
    /// HTTP 429 with `Retry-After` and `{"ok":false,"error":"ratelimited"}` (as slack_sdk's mock server).
    RateLimited {
        /// Seconds.
        retry_after_secs: u64,
    },
    /// HTTP 200 with `{"ok":false,"error":code}`.
    ApiError(&'static str),
    /// HTTP 500 with a body that is not Slack's JSON, as a failing proxy or an outage answers; nothing was done.
    ServerError,
    /// HTTP 500, after Slack did what was asked (the post is stored): the caller cannot tell.
    ServerErrorAfter,
    /// Done and answered normally, but only after this long (longer than the caller waits).
    Slow(Duration),
}

/// A seeded share of calls to some methods fail, one of [`Scripted::RateLimited`], [`Scripted::ServerError`],
/// [`Scripted::ServerErrorAfter`] or [`Scripted::Slow`] at random.
struct Storm {
    rng: rand::rngs::StdRng,
    share: f64,
    methods: Vec<String>,
    slow: Duration,
}

/// A message the fake accepted.
#[derive(Debug, Clone)]
struct Stored {
    channel: String,
    ts: String,
    text: String,
    blocks: Value,
    metadata: Value,
    original_text: String,
    original_blocks: Value,
    deleted: bool,
    /// When it was stored (visible to the person).
    at: Instant,
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<Call>>,
    script: Mutex<VecDeque<(String, Scripted)>>,
    /// Email, lower-cased → user id.
    users: Mutex<HashMap<String, String>>,
    /// Method → how long the fake takes to answer it.
    delays: Mutex<HashMap<String, Duration>>,
    /// Method → how long the fake waits, after doing what was asked, before it answers.
    late: Mutex<HashMap<String, Duration>>,
    /// Messages accepted, in order.
    messages: Mutex<Vec<Stored>>,
    /// The last `ts` handed out, in microseconds (every `ts` is unique and follows the clock).
    clock: AtomicU64,
    storm: Mutex<Option<Storm>>,
}

/// The running fake; stops when dropped.
pub struct FakeSlack {
    inner: Arc<Inner>,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    task: JoinHandle<()>,
    hooks: AtomicU64,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSlack {
    /// Starts a fake on a free local port.
    pub async fn start() -> FakeSlack {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/hooks/{*rest}", post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the fake Slack");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSlack { inner, addr, task, hooks: AtomicU64::new(0) }
    }

    /// The Web API base URL for `[slack] api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// A fresh `response_url` on this fake, shaped like Slack's (`.../actions/<app>/<n>/<secret>`).
    pub fn response_url(&self) -> String {
        let n = self.hooks.fetch_add(1, Ordering::SeqCst) + 1;
        format!("http://{}/hooks/actions/A0SIGNOFF/{n}/s3cr3t{n}", self.addr)
    }

    /// A Slack user with this email (for `users.lookupByEmail` and `users.info`).
    pub fn add_user(&self, email: &str, id: &str) {
        self.inner.users.lock().unwrap().insert(email.to_lowercase(), id.to_owned());
    }

    /// Every later call to `method` waits this long before it is answered (a slow Slack).
    pub fn delay(&self, method: &str, delay: Duration) {
        self.inner.delays.lock().unwrap().insert(method.to_owned(), delay);
    }

    /// Every later call to `method` is carried out at once but answered only after `wait` (a post is visible before
    /// its caller hears of it; a caller that dies meanwhile never learns it was delivered).
    pub fn answer_late(&self, method: &str, wait: Duration) {
        self.inner.late.lock().unwrap().insert(method.to_owned(), wait);
    }

    /// The next `n` calls to `method` get `answer`.
    pub fn fail_next(&self, n: usize, method: &str, answer: Scripted) {
        self.inner.script.lock().unwrap().extend(std::iter::repeat_n((method.to_owned(), answer), n));
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The calls to one method.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// The DM channel the fake opens for a user.
    pub fn dm_of(user: &str) -> String {
        format!("D-{user}")
    }

    /// Messages in `user`'s DM that Slack accepted (whatever it answered) and nobody deleted, in order, as they now
    /// read (after any `chat.update`).
    pub fn messages_to(&self, user: &str) -> Vec<Message> {
        let channel = FakeSlack::dm_of(user);
        self.inner
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.channel == channel && !m.deleted)
            .map(|m| Message {
                channel: m.channel.clone(),
                ts: m.ts.clone(),
                text: m.text.clone(),
                blocks: m.blocks.clone(),
            })
            .collect()
    }

    /// Every message that was not deleted, in every DM, with its metadata and when it appeared.
    pub fn stored(&self) -> Vec<(Message, Value, Instant)> {
        self.inner
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| !m.deleted)
            .map(|m| {
                let msg = Message {
                    channel: m.channel.clone(),
                    ts: m.ts.clone(),
                    text: m.text.clone(),
                    blocks: m.blocks.clone(),
                };
                (msg, m.metadata.clone(), m.at)
            })
            .collect()
    }

    /// How many messages were deleted.
    pub fn deleted(&self) -> usize {
        self.inner.messages.lock().unwrap().iter().filter(|m| m.deleted).count()
    }

    /// From now on, a `share` of the calls to `methods` fail (seeded, so a run can be repeated): a 429 with
    /// `Retry-After: 1`, a 500 before or after the call took effect, or an answer after `slow`.
    pub fn storm(&self, seed: u64, share: f64, methods: &[&str], slow: Duration) {
        use rand::SeedableRng;
        *self.inner.storm.lock().unwrap() = Some(Storm {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            share,
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            slow,
        });
    }

    /// Ends the storm.
    pub fn calm(&self) {
        *self.inner.storm.lock().unwrap() = None;
    }

    /// Prompts posted to `user` (messages with an Approve button), as they now read.
    pub fn prompts_to(&self, user: &str) -> Vec<Message> {
        self.messages_to(user)
            .into_iter()
            .filter(|m| {
                self.original(m)
                    .elements()
                    .iter()
                    .any(|(_, e)| e["action_id"].as_str().is_some_and(|a| a.contains("approve")))
            })
            .collect()
    }

    /// A message as it was first posted.
    pub fn original(&self, m: &Message) -> Message {
        let messages = self.inner.messages.lock().unwrap();
        let stored = messages.iter().find(|s| s.ts == m.ts && s.channel == m.channel).expect("the message was posted");
        Message {
            channel: m.channel.clone(),
            ts: m.ts.clone(),
            text: stored.original_text.clone(),
            blocks: stored.original_blocks.clone(),
        }
    }

    /// `chat.update` calls on one message, in order.
    pub fn updates_of(&self, m: &Message) -> Vec<Call> {
        self.calls_to("chat.update")
            .into_iter()
            .filter(|u| u.params["channel"] == m.channel.as_str() && u.params["ts"] == m.ts.as_str())
            .collect()
    }

    /// Notifications (messages without buttons) posted to `user`, as fallback texts.
    pub fn notifications_to(&self, user: &str) -> Vec<String> {
        let prompts: Vec<String> = self.prompts_to(user).into_iter().map(|m| m.ts).collect();
        self.messages_to(user).into_iter().filter(|m| !prompts.contains(&m.ts)).map(|m| m.text).collect()
    }

    /// POSTs to `response_url`s, with their JSON bodies.
    pub fn responses(&self) -> Vec<Value> {
        self.calls_to("response_url").into_iter().map(|c| c.params).collect()
    }

    /// POSTs to one `response_url`.
    pub fn responses_to(&self, url: &str) -> Vec<Value> {
        let path = url.split_once("/hooks/").map(|(_, p)| p.to_owned()).unwrap_or_default();
        self.calls_to("response_url")
            .into_iter()
            .filter(|c| c.params["_path"] == path.as_str())
            .map(|c| c.params)
            .collect()
    }

    /// Polls `cond` every 20 ms; fails with `what` and every call received after `timeout`.
    pub async fn wait_until(&self, what: &str, timeout: Duration, cond: impl Fn(&FakeSlack) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() >= deadline {
                let calls: Vec<String> =
                    self.calls().iter().map(|c| format!("{} {} -> {}", c.method, c.params, c.answer)).collect();
                panic!(
                    "timed out after {timeout:?} waiting until {what}; the fake Slack received:\n{}",
                    calls.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`wait_until`](Self::wait_until) with the harness's default bound.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&FakeSlack) -> bool) {
        self.wait_until(what, super::WAIT, cond).await;
    }

    /// Waits until each of these Slack users has at least `n` prompts; returns the latest prompt of each.
    pub async fn wait_for_prompts(&self, users: &[&str]) -> Vec<Message> {
        self.wait_for(&format!("{users:?} get a prompt on Slack"), |f| {
            users.iter().all(|u| !f.prompts_to(u).is_empty())
        })
        .await;
        users.iter().map(|u| self.prompts_to(u).pop().unwrap()).collect()
    }

    /// Waits until `user` has a prompt whose buttons are gone; returns it.
    pub async fn wait_for_closed(&self, user: &str) -> Message {
        self.wait_for(&format!("{user}'s Slack prompt is closed"), |f| {
            f.prompts_to(user).iter().any(|m| !m.has_buttons())
        })
        .await;
        self.prompts_to(user).into_iter().find(|m| !m.has_buttons()).unwrap()
    }
}

fn params(query: HashMap<String, String>, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut params: serde_json::Map<String, Value> = query.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if json {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
            params.extend(m);
        }
    } else {
        params.extend(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))));
    }
    // slack-morphism sends blocks as a JSON string in form bodies; read them back as JSON.
    if let Some(Value::String(s)) = params.get("blocks")
        && let Ok(v) = serde_json::from_str::<Value>(s)
    {
        params.insert("blocks".to_owned(), v);
    }
    Value::Object(params)
}

async fn api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let params = params(query, &headers, &body);
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let delay = inner.delays.lock().unwrap().get(&method).copied();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let scripted = {
        let mut script = inner.script.lock().unwrap();
        let pos = script.iter().position(|(m, _)| *m == method);
        pos.and_then(|i| script.remove(i)).map(|(_, s)| s)
    }
    .or_else(|| storm_failure(&inner, &method));
    let record = |answer: Value| {
        inner.calls.lock().unwrap().push(Call {
            method: method.clone(),
            params: params.clone(),
            answer,
            auth: auth.clone(),
            at,
        });
    };
    match scripted {
        Some(Scripted::RateLimited { retry_after_secs }) => {
            record(Value::Null);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, retry_after_secs.to_string()),
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                ],
                r#"{"ok":false,"error":"ratelimited"}"#,
            )
                .into_response()
        }
        Some(Scripted::ApiError(code)) => {
            let answer = json!({"ok": false, "error": code});
            record(answer.clone());
            axum::Json(answer).into_response()
        }
        Some(Scripted::ServerError) => {
            record(json!({"http": 500}));
            (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response()
        }
        Some(Scripted::ServerErrorAfter) => {
            let answer = answer(&inner, &method, &params, auth.as_deref());
            record(json!({"http": 500, "done": answer}));
            (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response()
        }
        Some(Scripted::Slow(wait)) => {
            let answer = answer(&inner, &method, &params, auth.as_deref());
            record(json!({"late": answer.clone()}));
            tokio::time::sleep(wait).await;
            axum::Json(answer).into_response()
        }
        None => {
            let answer = answer(&inner, &method, &params, auth.as_deref());
            record(answer.clone());
            let late = inner.late.lock().unwrap().get(&method).copied();
            if let Some(wait) = late {
                tokio::time::sleep(wait).await;
            }
            axum::Json(answer).into_response()
        }
    }
}

/// The storm's failure for this call, if it strikes.
fn storm_failure(inner: &Inner, method: &str) -> Option<Scripted> {
    use rand::Rng;
    let mut storm = inner.storm.lock().unwrap();
    let storm = storm.as_mut()?;
    if !storm.methods.iter().any(|m| m == method) || !storm.rng.random_bool(storm.share) {
        return None;
    }
    Some(match storm.rng.random_range(0..4) {
        0 => Scripted::RateLimited { retry_after_secs: 1 },
        1 => Scripted::ServerError,
        2 => Scripted::ServerErrorAfter,
        _ => Scripted::Slow(storm.slow),
    })
}

/// A unique `ts` that follows the clock (`seconds.micros`).
fn next_ts(inner: &Inner) -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
    let mut last = inner.clock.load(Ordering::SeqCst);
    loop {
        let next = now.max(last + 1);
        match inner.clock.compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return format!("{}.{:06}", next / 1_000_000, next % 1_000_000),
            Err(seen) => last = seen,
        }
    }
}

/// A `ts` as a number, for comparisons.
fn ts_value(ts: &str) -> f64 {
    ts.parse().unwrap_or(0.0)
}

fn answer(inner: &Inner, method: &str, params: &Value, auth: Option<&str>) -> Value {
    let err = |code: &str| json!({"ok": false, "error": code});
    let ok = |mut v: Value| {
        v["ok"] = json!(true);
        v
    };
    if auth != Some(&format!("Bearer {BOT_TOKEN}")) {
        return err(if auth.is_none() { "not_authed" } else { "invalid_auth" });
    }
    let s = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    match method {
        // The workspace the bot token belongs to: signoff refuses callbacks from any other.
        "auth.test" => ok(json!({"url": "https://example.slack.com/", "team": "Example", "user": "signoff",
                                 "team_id": TEAM, "user_id": "U0BOT", "bot_id": "B0SIGNOFF",
                                 "is_enterprise_install": false})),
        "conversations.open" => {
            let users: Vec<String> = match params.get("users") {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
                _ => vec![],
            };
            match users.as_slice() {
                [one] => ok(json!({"channel": {"id": FakeSlack::dm_of(one)}})),
                _ => err("users_list_not_supplied"),
            }
        }
        "chat.postMessage" => {
            let channel = s("channel");
            if channel.is_empty() {
                return err("channel_not_found");
            }
            let ts = next_ts(inner);
            let blocks = params.get("blocks").cloned().unwrap_or(Value::Null);
            let metadata = match params.get("metadata") {
                Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
                Some(v) => v.clone(),
                None => Value::Null,
            };
            inner.messages.lock().unwrap().push(Stored {
                channel: channel.clone(),
                ts: ts.clone(),
                text: s("text"),
                blocks: blocks.clone(),
                metadata,
                original_text: s("text"),
                original_blocks: blocks.clone(),
                deleted: false,
                at: Instant::now(),
            });
            ok(json!({"channel": channel, "ts": ts,
                      "message": {"type": "message", "text": s("text"), "ts": ts, "bot_id": "B0SIGNOFF", "blocks": blocks}}))
        }
        "chat.update" => {
            let mut messages = inner.messages.lock().unwrap();
            let Some(m) = messages.iter_mut().find(|m| m.channel == s("channel") && m.ts == s("ts") && !m.deleted)
            else {
                return err("message_not_found");
            };
            m.text = s("text");
            m.blocks = params.get("blocks").cloned().unwrap_or(Value::Null);
            ok(
                json!({"channel": s("channel"), "ts": s("ts"), "text": s("text"), "message": {"text": s("text"), "user": "U0BOT"}}),
            )
        }
        "chat.delete" => {
            let mut messages = inner.messages.lock().unwrap();
            match messages.iter_mut().find(|m| m.channel == s("channel") && m.ts == s("ts") && !m.deleted) {
                Some(m) => {
                    m.deleted = true;
                    ok(json!({"channel": s("channel"), "ts": s("ts")}))
                }
                None => err("message_not_found"),
            }
        }
        // Newest first, from `oldest` on, `limit` at a time with cursor paging; `metadata` only when asked for.
        "conversations.history" => {
            let with_metadata = s("include_all_metadata") == "true";
            let oldest = ts_value(&s("oldest"));
            let limit: usize = s("limit").parse().unwrap_or(100).clamp(1, 999);
            let offset: usize = s("cursor").strip_prefix("next:").and_then(|c| c.parse().ok()).unwrap_or(0);
            let messages = inner.messages.lock().unwrap();
            let mut listed: Vec<&Stored> = messages
                .iter()
                .filter(|m| m.channel == s("channel") && !m.deleted && ts_value(&m.ts) >= oldest)
                .collect();
            listed.reverse();
            let page: Vec<Value> = listed
                .iter()
                .skip(offset)
                .take(limit)
                .map(|m| {
                    let mut v = json!({"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks,
                                       "bot_id": "B0SIGNOFF", "user": "U0BOT"});
                    if with_metadata && !m.metadata.is_null() {
                        v["metadata"] = m.metadata.clone();
                    }
                    v
                })
                .collect();
            let more = listed.len() > offset + limit;
            let next = if more { format!("next:{}", offset + limit) } else { String::new() };
            ok(json!({"messages": page, "has_more": more, "response_metadata": {"next_cursor": next}}))
        }
        "users.lookupByEmail" => match inner.users.lock().unwrap().get(&s("email").to_lowercase()) {
            Some(id) => ok(json!({"user": {"id": id, "team_id": TEAM, "profile": {"email": s("email")}}})),
            None => err("users_not_found"),
        },
        "users.info" => {
            let id = s("user");
            let users = inner.users.lock().unwrap();
            match users.iter().find(|(_, v)| **v == id) {
                Some((email, _)) => ok(json!({"user": {"id": id, "team_id": TEAM, "name": "someone",
                                                       "profile": {"email": email, "real_name": "Some One"}}})),
                None => ok(json!({"user": {"id": id, "team_id": TEAM, "profile": {"real_name": "No Email"}}})),
            }
        }
        "views.open" => {
            if s("trigger_id").is_empty() {
                return err("invalid_arguments");
            }
            let mut view = params.get("view").cloned().unwrap_or(json!({}));
            if let Value::String(text) = &view {
                view = serde_json::from_str(text).unwrap_or(json!({}));
            }
            view["id"] = json!("V0SIGNOFF");
            view["team_id"] = json!(TEAM);
            view["hash"] = json!("1.abc");
            ok(json!({"view": view}))
        }
        _ => err("unknown_method"),
    }
}

async fn hook(State(inner): State<Arc<Inner>>, Path(rest): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let mut params = params(HashMap::new(), &headers, &body);
    params["_path"] = json!(rest);
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    inner.calls.lock().unwrap().push(Call {
        method: "response_url".to_owned(),
        params,
        answer: json!("ok"),
        auth,
        at: Instant::now(),
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], "ok").into_response()
}

// ---------------------------------------------------------------------------------------------------------
// Slack calling signoff

/// `v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")>`, as Slack signs every request.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The Unix time now, in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A fresh `trigger_id`, shaped like Slack's (`<seconds>.<number>.<hex>`): Slack makes a new one for every user
/// action, and signoff treats a second callback with the same one as a replay.
pub fn trigger_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}.{n}.{:032x}", now_unix(), rand::random::<u128>())
}

/// `payload=<url-encoded JSON>`, the interactivity body.
pub fn form_payload(payload: &Value) -> String {
    url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

/// What Slack sends when `clicker` clicks `element` (in block `block_id`) on `message`, shaped like
/// `slack_block_actions.json` (a message container, the message with its blocks, a `response_url`).
pub fn click_payload(clicker: &str, message: &Message, block_id: &str, element: &Value, response_url: &str) -> Value {
    let mut action = element.clone();
    action["block_id"] = json!(block_id);
    action["action_ts"] = json!(format!("{}.000100", now_unix()));
    if let Some(o) = action.as_object_mut() {
        o.remove("style");
        o.remove("confirm");
    }
    if element["style"].is_string() {
        action["style"] = element["style"].clone();
    }
    json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": clicker, "username": clicker.to_lowercase(), "name": clicker.to_lowercase(), "team_id": TEAM},
        "api_app_id": "A0SIGNOFF",
        "token": "9s8d9as89d8as9d8as989",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                      "is_ephemeral": false},
        "trigger_id": trigger_id(),
        "channel": {"id": message.channel, "name": "directmessage"},
        "message": {"bot_id": "B0SIGNOFF", "type": "message", "text": message.text, "user": "U0BOT",
                    "ts": message.ts, "blocks": message.blocks},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    })
}

/// What Slack sends when `user` submits the deny-reason modal opened with `view` (what signoff passed to
/// `views.open`), having typed `reason` in its text input. Shaped like `slack_view_submission.json`.
pub fn deny_modal_submission(user: &str, view: &Value, reason: &str) -> Value {
    let mut values = serde_json::Map::new();
    for b in view["blocks"].as_array().into_iter().flatten() {
        if b["type"] == "input" {
            let action_id = b["element"]["action_id"].as_str().unwrap_or_default();
            values.insert(
                b["block_id"].as_str().unwrap_or_default().to_owned(),
                json!({ action_id: {"type": b["element"]["type"], "value": reason} }),
            );
        }
    }
    let mut submitted = view.clone();
    submitted["id"] = json!("V0SIGNOFF");
    submitted["team_id"] = json!(TEAM);
    submitted["state"] = json!({"values": values});
    submitted["hash"] = json!("1596530361.3wRYuk3R");
    submitted["root_view_id"] = json!("V0SIGNOFF");
    submitted["app_id"] = json!("A0SIGNOFF");
    submitted["bot_id"] = json!("B0SIGNOFF");
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM},
        "api_app_id": "A0SIGNOFF",
        "token": "verification_token",
        "trigger_id": trigger_id(),
        "view": submitted,
        "response_urls": [],
    })
}

/// A `/request` slash-command body from `user`, shaped like `slack_slash_command.txt` (percent-encoded as
/// Slack sends it).
pub fn slash_command_body(user: &str, text: &str, response_url: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "gIkuvaNzQIHg97ATvDxqgjtO")
        .append_pair("team_id", TEAM)
        .append_pair("team_domain", "example")
        .append_pair("channel_id", "C2147483705")
        .append_pair("channel_name", "general")
        .append_pair("user_id", user)
        .append_pair("user_name", &user.to_lowercase())
        .append_pair("command", "/request")
        .append_pair("text", text)
        .append_pair("api_app_id", "A0SIGNOFF")
        .append_pair("response_url", response_url)
        .append_pair("trigger_id", &trigger_id())
        .finish()
}
