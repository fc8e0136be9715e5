//! The REST side of the adapter against a fake Discord API on 127.0.0.1: DM channels, messages, closing,
//! rate limits, failures and command registration.
//!
//! The fake records every call and answers like Discord (a channel object, a message object, the registered
//! commands), unless a test queues a failure for the next call: a 429 with Discord's body and headers, or any
//! status. Requests arrive under `/api/v10/...`, as serenity's routes write them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use signoff_discord::{DiscordAdapter, commands};
use signoff_port::{
    ChatAdapter, ChatError, ChatUser, MessageRef, Notification, Platform, PromptClosing, PromptMessage,
};

const BOT_TOKEN: &str = "test-bot-token-abc";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const KIM: &str = "310000000000000001";
const RAJ: &str = "310000000000000002";

/// One request the fake received.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
}

/// An answer a test makes the fake give to the next request.
enum Next {
    /// A 429 as Discord sends it: JSON body with `retry_after`, `Retry-After` and the `X-RateLimit-*` headers.
    RateLimited { retry_after: f64, global: bool },
    /// A 429 with only a `Retry-After` header and no body.
    RateLimitedHeaderOnly { retry_after: &'static str },
    /// A success that leaves the bucket empty (`X-RateLimit-Remaining: 0`) for `reset_after` seconds.
    Exhausted { reset_after: f64 },
    /// Any status with this body.
    Status(u16, &'static str),
}

#[derive(Default)]
struct FakeState {
    calls: Mutex<Vec<Call>>,
    next: Mutex<VecDeque<Next>>,
    message_ids: AtomicU64,
}

struct FakeDiscord {
    api_url: String,
    state: Arc<FakeState>,
}

impl FakeDiscord {
    async fn start() -> Self {
        let state =
            Arc::new(FakeState { message_ids: AtomicU64::new(1_320_000_000_000_000_000), ..FakeState::default() });
        let app = Router::new().fallback(answer).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { api_url: format!("http://{addr}/api/v10"), state }
    }

    fn adapter(&self) -> DiscordAdapter {
        DiscordAdapter::new(BOT_TOKEN, &self.api_url).unwrap()
    }

    fn then(&self, next: Next) {
        self.state.next.lock().unwrap().push_back(next);
    }

    fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    fn routes(&self) -> Vec<String> {
        self.calls().iter().map(|c| format!("{} {}", c.method, c.path)).collect()
    }
}

/// A DM channel id derived from the user id, so tests can predict it.
fn dm_channel_of(user: &str) -> String {
    (user.parse::<u64>().unwrap() + 1_000_000_000_000_000_000).to_string()
}

async fn answer(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_owned();
    state.calls.lock().unwrap().push(Call { method: method.clone(), path: path.clone(), headers, body: body.clone() });

    let mut extra_headers: Vec<(&str, String)> = vec![];
    match state.next.lock().unwrap().pop_front() {
        Some(Next::RateLimited { retry_after, global }) => {
            let mut h = vec![
                ("retry-after", retry_after.ceil().to_string()),
                ("x-ratelimit-limit", "5".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset-after", retry_after.to_string()),
                ("x-ratelimit-bucket", "abcd1234".to_owned()),
                ("x-ratelimit-scope", if global { "global" } else { "user" }.to_owned()),
            ];
            if global {
                h.push(("x-ratelimit-global", "true".to_owned()));
            }
            let body =
                json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": global });
            return respond(429, h, body.to_string());
        }
        Some(Next::RateLimitedHeaderOnly { retry_after }) => {
            return respond(429, vec![("retry-after", retry_after.to_owned())], String::new());
        }
        Some(Next::Status(status, body)) => return respond(status, vec![], body.to_owned()),
        Some(Next::Exhausted { reset_after }) => {
            extra_headers =
                vec![("x-ratelimit-remaining", "0".to_owned()), ("x-ratelimit-reset-after", reset_after.to_string())];
        }
        None => {}
    }

    let segments: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    let ok = match (method.as_str(), segments.as_slice()) {
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"].as_str().unwrap_or_default();
            json!({ "id": dm_channel_of(recipient), "type": 1, "last_message_id": null, "recipients": [{ "id": recipient, "username": "someone" }] })
        }
        ("POST", ["channels", channel, "messages"]) => {
            let id = state.message_ids.fetch_add(1, Ordering::SeqCst);
            json!({ "id": id.to_string(), "channel_id": channel, "type": 0, "content": body["content"], "components": body["components"] })
        }
        ("PATCH", ["channels", channel, "messages", message]) => {
            json!({ "id": message, "channel_id": channel, "type": 0, "content": body["content"], "components": body["components"] })
        }
        ("PUT", ["applications", app, "commands"]) | ("PUT", ["applications", app, "guilds", _, "commands"]) => {
            let defs = body.as_array().cloned().unwrap_or_default();
            Value::Array(
                defs.iter()
                    .enumerate()
                    .map(|(i, d)| json!({ "id": format!("14000000000000000{i:02}"), "application_id": app, "version": "1", "name": d["name"], "type": 1 }))
                    .collect(),
            )
        }
        _ => return respond(404, vec![], json!({ "message": "404: Not Found", "code": 0 }).to_string()),
    };
    respond(200, extra_headers, ok.to_string())
}

fn respond(status: u16, headers: Vec<(&str, String)>, body: String) -> Response {
    let empty = body.is_empty();
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    if !empty {
        response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    }
    response
}

fn discord(id: &str) -> ChatUser {
    ChatUser { platform: Platform::Discord, id: id.to_owned() }
}

fn prompt() -> PromptMessage {
    PromptMessage {
        token: TOKEN.to_owned(),
        requester: "Ana Ruiz".to_owned(),
        beneficiary: None,
        resource: "GitHub".to_owned(),
        role: Some("admin".to_owned()),
        reason: Some("release day".to_owned()),
        duration: Some("8h".to_owned()),
        progress: "1 of 2 needed".to_owned(),
        step: None,
        replaces: None,
        fallback: None,
        allow_escalate: true,
        duration_choices: vec![],
        link: None,
        step_up: false,
    }
}

fn closing() -> PromptClosing {
    PromptClosing {
        headline: "Approved by Kim Lee".to_owned(),
        at: "10:42".to_owned(),
        summary: "Ana Ruiz: GitHub (admin)".to_owned(),
        link: None,
    }
}

/// No error may carry the bot token.
fn assert_clean(error: &ChatError) {
    assert!(!format!("{error} {error:?}").contains(BOT_TOKEN), "the bot token leaked into {error:?}");
}

#[tokio::test]
async fn a_prompt_opens_a_dm_once_per_user_and_posts_the_message_there() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();

    let first = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap();
    let second = adapter
        .send_prompt(
            &discord(KIM),
            &PromptMessage { token: "fedcba9876543210fedcba9876543210".into(), ..prompt() },
            &mark(),
        )
        .await
        .unwrap();
    let other = adapter.send_prompt(&discord(RAJ), &prompt(), &mark()).await.unwrap();

    assert_eq!(
        first,
        MessageRef { platform: Platform::Discord, channel: dm_channel_of(KIM), message: "1320000000000000000".into() }
    );
    assert_eq!(second.channel, dm_channel_of(KIM));
    assert_ne!(second.message, first.message);
    assert_eq!(other.channel, dm_channel_of(RAJ));
    assert_eq!(
        fake.routes(),
        [
            "POST /api/v10/users/@me/channels".to_owned(),
            format!("POST /api/v10/channels/{}/messages", dm_channel_of(KIM)),
            format!("POST /api/v10/channels/{}/messages", dm_channel_of(KIM)),
            "POST /api/v10/users/@me/channels".to_owned(),
            format!("POST /api/v10/channels/{}/messages", dm_channel_of(RAJ)),
        ]
    );

    let calls = fake.calls();
    assert_eq!(calls[0].body, json!({ "recipient_id": KIM }));
    for call in &calls {
        assert_eq!(call.headers["authorization"], format!("Bot {BOT_TOKEN}"));
        assert_eq!(call.headers["content-type"], "application/json");
        assert!(
            call.headers["user-agent"].to_str().unwrap().starts_with("DiscordBot ("),
            "{:?}",
            call.headers["user-agent"]
        );
    }
    let message = &calls[1].body;
    assert_eq!(message["content"], "**Approval needed**: Ana Ruiz asks for GitHub (admin)");
    let ids: Vec<&str> = message["components"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row["components"].as_array().unwrap())
        .map(|c| c["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [format!("so:a:{TOKEN}"), format!("so:d:{TOKEN}"), format!("so:r:{TOKEN}"), format!("so:e:{TOKEN}")]
    );
    assert_eq!(message["nonce"], signoff_discord::client::prompt_nonce(TOKEN, &dm_channel_of(KIM)));
    assert_eq!(message["enforce_nonce"], true);
    assert_ne!(calls[2].body["nonce"], message["nonce"], "another prompt, another nonce");
}

#[tokio::test]
async fn closing_a_prompt_patches_its_message_and_removes_the_components() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    let sent = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap();

    adapter.close_prompt(&sent, &closing()).await.unwrap();

    let calls = fake.calls();
    let patch = calls.last().unwrap();
    assert_eq!(patch.method, Method::PATCH);
    assert_eq!(patch.path, format!("/api/v10/channels/{}/messages/{}", sent.channel, sent.message));
    assert_eq!(patch.body["components"], json!([]));
    assert_eq!(patch.body["content"], "**Approved by Kim Lee** · 10:42");
    assert_eq!(patch.body["embeds"][0]["description"], "Ana Ruiz: GitHub (admin)");
}

#[tokio::test]
async fn a_notification_is_a_dm_through_the_cached_channel() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap();

    let n = Notification { title: "Approved".into(), body: "GitHub (admin) for 8h".into(), link: None };
    adapter.notify(&discord(KIM), &n, &mark()).await.unwrap();

    assert_eq!(fake.routes().iter().filter(|r| r.ends_with("/users/@me/channels")).count(), 1);
    let last = fake.calls().pop().unwrap();
    assert_eq!(last.path, format!("/api/v10/channels/{}/messages", dm_channel_of(KIM)));
    assert_eq!(last.body["content"], "**Approved**\nGitHub (admin) for 8h");
    assert!(last.body.get("components").is_none());
}

#[tokio::test]
async fn a_429_is_rate_limited_for_its_retry_after_and_the_bucket_then_waits_without_calling() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    adapter.open_dm(KIM).await.unwrap();
    adapter.open_dm(RAJ).await.unwrap();

    fake.then(Next::RateLimited { retry_after: 0.5, global: false });
    let err = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap_err();
    assert_eq!(err, ChatError::RateLimited { retry_after: Duration::from_millis(500) });
    assert_clean(&err);

    // Same channel, same bucket: refused at once, Discord is not asked again.
    let calls_before = fake.calls().len();
    let again = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap_err();
    assert!(matches!(again, ChatError::RateLimited { retry_after } if retry_after <= Duration::from_millis(500)));
    assert_eq!(fake.calls().len(), calls_before);

    // Another DM channel is another bucket.
    adapter.send_prompt(&discord(RAJ), &prompt(), &mark()).await.unwrap();

    tokio::time::sleep(Duration::from_millis(600)).await;
    adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap();
}

#[tokio::test]
async fn a_global_429_holds_every_route() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    adapter.open_dm(KIM).await.unwrap();

    fake.then(Next::RateLimited { retry_after: 0.5, global: true });
    let err = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap_err();
    assert_eq!(err, ChatError::RateLimited { retry_after: Duration::from_millis(500) });

    let calls_before = fake.calls().len();
    let elsewhere = adapter.send_prompt(&discord(RAJ), &prompt(), &mark()).await.unwrap_err();
    assert!(matches!(elsewhere, ChatError::RateLimited { .. }));
    assert_eq!(fake.calls().len(), calls_before);
}

#[tokio::test]
async fn a_429_without_a_body_waits_for_the_retry_after_header() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    fake.then(Next::RateLimitedHeaderOnly { retry_after: "2" });
    let err = adapter
        .notify(&discord(KIM), &Notification { title: "t".into(), body: String::new(), link: None }, &mark())
        .await
        .unwrap_err();
    assert_eq!(err, ChatError::RateLimited { retry_after: Duration::from_secs(2) });
}

#[tokio::test]
async fn a_bucket_left_empty_waits_for_its_reset_without_calling() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    adapter.open_dm(KIM).await.unwrap();

    fake.then(Next::Exhausted { reset_after: 0.5 });
    adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap();
    let calls_before = fake.calls().len();
    let err = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap_err();
    assert!(matches!(err, ChatError::RateLimited { retry_after } if retry_after <= Duration::from_millis(500)));
    assert_eq!(fake.calls().len(), calls_before);

    tokio::time::sleep(Duration::from_millis(600)).await;
    adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap();
}

#[tokio::test]
async fn server_errors_are_transient() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    adapter.open_dm(KIM).await.unwrap();

    fake.then(Next::Status(500, r#"{"message":"Internal Server Error","code":0}"#));
    let err = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Transient(m) if m.contains("500") && m.contains("Internal Server Error")),
        "{err:?}"
    );
    assert_clean(&err);

    fake.then(Next::Status(502, "<html>bad gateway</html>"));
    let err = adapter
        .close_prompt(
            &MessageRef { platform: Platform::Discord, channel: dm_channel_of(KIM), message: "5".into() },
            &closing(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn refusals_are_permanent_and_a_refused_dm_is_reopened_next_time() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    adapter.open_dm(KIM).await.unwrap();

    fake.then(Next::Status(403, r#"{"message":"Cannot send messages to this user","code":50007}"#));
    let err = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap_err();
    assert!(matches!(&err, ChatError::Permanent(m) if m.contains("403") && m.contains("code 50007")), "{err:?}");
    assert_clean(&err);
    adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap();
    assert_eq!(fake.routes().iter().filter(|r| r.ends_with("/users/@me/channels")).count(), 2);

    fake.then(Next::Status(401, r#"{"message":"401: Unauthorized","code":0}"#));
    let err = adapter
        .notify(&discord(KIM), &Notification { title: "t".into(), body: "b".into(), link: None }, &mark())
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::Permanent(_)), "{err:?}");
    assert_clean(&err);

    fake.then(Next::Status(404, r#"{"message":"Unknown Message","code":10008}"#));
    let gone = MessageRef { platform: Platform::Discord, channel: dm_channel_of(KIM), message: "7".into() };
    let err = adapter.close_prompt(&gone, &closing()).await.unwrap_err();
    assert!(matches!(&err, ChatError::Permanent(m) if m.contains("Unknown Message")), "{err:?}");
}

#[tokio::test]
async fn recipients_and_messages_that_are_not_discord_ids_fail_without_a_call() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    let slack = ChatUser { platform: Platform::Slack, id: "U123".into() };
    assert!(matches!(adapter.send_prompt(&slack, &prompt(), &mark()).await, Err(ChatError::Permanent(_))));
    assert!(matches!(adapter.send_prompt(&discord("kim"), &prompt(), &mark()).await, Err(ChatError::Permanent(_))));
    assert!(matches!(adapter.send_prompt(&discord("0"), &prompt(), &mark()).await, Err(ChatError::Permanent(_))));
    let bad_token = PromptMessage { token: "not:a:token".into(), ..prompt() };
    assert!(matches!(adapter.send_prompt(&discord(KIM), &bad_token, &mark()).await, Err(ChatError::Permanent(_))));
    let slack_message = MessageRef { platform: Platform::Slack, channel: "D1".into(), message: "1.2".into() };
    assert!(matches!(adapter.close_prompt(&slack_message, &closing()).await, Err(ChatError::Permanent(_))));
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn an_unreachable_api_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let adapter = DiscordAdapter::new(BOT_TOKEN, &format!("http://{addr}/api/v10")).unwrap();
    let err = adapter.send_prompt(&discord(KIM), &prompt(), &mark()).await.unwrap_err();
    assert!(matches!(err, ChatError::Transient(_)), "{err:?}");
    assert_clean(&err);
}

#[tokio::test]
async fn commands_are_registered_globally_or_for_one_guild() {
    let fake = FakeDiscord::start().await;
    let adapter = fake.adapter();
    let definitions = commands::definitions();

    let global = adapter.register_commands("1200000000000000000", None, &definitions).await.unwrap();
    let guild =
        adapter.register_commands("1200000000000000000", Some("290926798626357999"), &definitions).await.unwrap();

    assert_eq!(global.len(), 1);
    assert_eq!(global[0].name, "request");
    assert_eq!(guild[0].name, "request");
    assert_eq!(
        fake.routes(),
        [
            "PUT /api/v10/applications/1200000000000000000/commands",
            "PUT /api/v10/applications/1200000000000000000/guilds/290926798626357999/commands"
        ]
    );
    for call in fake.calls() {
        assert_eq!(call.body, definitions);
        assert_eq!(call.headers["authorization"], format!("Bot {BOT_TOKEN}"));
    }

    assert!(matches!(adapter.register_commands("app", None, &definitions).await, Err(ChatError::Permanent(_))));
    assert!(matches!(
        adapter.register_commands("1200000000000000000", None, &json!({})).await,
        Err(ChatError::Permanent(_))
    ));
    fake.then(Next::RateLimited { retry_after: 0.5, global: false });
    assert!(matches!(
        adapter.register_commands("1200000000000000001", None, &definitions).await,
        Err(ChatError::RateLimited { .. })
    ));
}

/// The mark every message of these tests carries.
fn mark() -> signoff_port::Mark {
    signoff_port::Mark { key: "item:1:0:test".to_owned(), token: None, since_ms: 0 }
}
