//! A fake Slack Web API on `127.0.0.1:0`: records every call, answers the methods the adapter uses the way
//! Slack's docs show (`chat.postMessage` and `chat.update` with a `message` object, or slack-morphism fails with
//! "missing field message"), and can be scripted to fail the next calls with 429 + `Retry-After`, a 500, or an
//! API error code.
#![allow(dead_code)] // each test file uses a different part of it

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

/// The bot token the fake accepts.
pub const BOT_TOKEN: &str = "xoxb-fake-bot-token-0123456789";
/// The app token the fake accepts for `apps.connections.open`.
pub const APP_TOKEN: &str = "xapp-fake-app-token-0123456789";

/// One call, as received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, ..., or `response_url` for a POST to `/hooks/...`.
    pub method: String,
    /// The query parameters and the JSON or form body, merged.
    pub params: Value,
    /// The `Authorization` header.
    pub auth: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// Whether a scripted failure answered it.
    pub scripted: bool,
}

/// A scripted answer for the next call.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// HTTP 429 with `Retry-After` and `{"ok":false,"error":"ratelimited"}` (as slack_sdk's mock server).
    RateLimited { retry_after_secs: u64 },
    /// HTTP 429 with `Retry-After` and no body, as Slack's rate-limit docs show it.
    RateLimitedBare { retry_after_secs: u64 },
    /// HTTP 500.
    ServerError,
    /// HTTP 200 with `{"ok":false,"error":code}`.
    ApiError(&'static str),
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<Call>>,
    script: Mutex<VecDeque<(Option<String>, Scripted)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay: Mutex<Duration>,
    ts: AtomicU64,
    /// Email, lower-cased → user id.
    users: Mutex<HashMap<String, String>>,
    ws_url: Mutex<Option<String>>,
    no_echo: std::sync::atomic::AtomicBool,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Inner>,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl FakeSlack {
    /// Starts a fake on a free local port.
    pub async fn start() -> FakeSlack {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/hooks/{*rest}", post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeSlack { inner, addr }
    }

    /// The Web API base URL to give the adapter.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The calls to one method.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// The next `n` calls (to `method`, or to any method) get `answer`.
    pub fn fail_next(&self, n: usize, method: Option<&str>, answer: Scripted) {
        let mut script = self.inner.script.lock().unwrap();
        script.extend(std::iter::repeat_n((method.map(str::to_owned), answer), n));
    }

    /// Each call waits this long before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        *self.inner.delay.lock().unwrap() = delay;
    }

    /// The most calls that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    /// A Slack user with this email.
    pub fn add_user(&self, email: &str, id: &str) {
        self.inner.users.lock().unwrap().insert(email.to_lowercase(), id.to_owned());
    }

    /// Stops echoing the posted blocks in `chat.postMessage` answers (Slack does echo them). Reading them back
    /// costs about a millisecond of CPU per call in a debug build, which a test about pacing can do without.
    pub fn stop_echoing_blocks(&self) {
        self.inner.no_echo.store(true, Ordering::SeqCst);
    }

    /// What `apps.connections.open` answers.
    pub fn set_socket_url(&self, url: &str) {
        *self.inner.ws_url.lock().unwrap() = Some(url.to_owned());
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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
    Value::Object(params)
}

fn ok(body: Value) -> Response {
    let mut body = body;
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

fn err(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

async fn api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now_in_flight = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&inner.in_flight);
    inner.max_in_flight.fetch_max(now_in_flight, Ordering::SeqCst);
    let at = Instant::now();
    let params = params(query, &headers, &body);
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);

    let scripted = {
        let mut script = inner.script.lock().unwrap();
        let pos = script.iter().position(|(m, _)| m.as_deref().is_none_or(|m| m == method));
        pos.and_then(|i| script.remove(i)).map(|(_, s)| s)
    };
    inner.calls.lock().unwrap().push(Call {
        method: method.clone(),
        params: params.clone(),
        auth: auth.clone(),
        at,
        scripted: scripted.is_some(),
    });
    let delay = *inner.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match scripted {
        Some(Scripted::RateLimited { retry_after_secs }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, retry_after_secs.to_string()),
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                ],
                r#"{"ok":false,"error":"ratelimited"}"#,
            )
                .into_response();
        }
        Some(Scripted::RateLimitedBare { retry_after_secs }) => {
            return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry_after_secs.to_string())], "")
                .into_response();
        }
        Some(Scripted::ServerError) => return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        Some(Scripted::ApiError(code)) => return err(code),
        None => {}
    }

    let want = if method == "apps.connections.open" { APP_TOKEN } else { BOT_TOKEN };
    if auth.as_deref() != Some(&format!("Bearer {want}")) {
        return err(if auth.is_none() { "not_authed" } else { "invalid_auth" });
    }
    let s = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    match method.as_str() {
        "conversations.open" => {
            let users: Vec<String> = match params.get("users") {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
                _ => vec![],
            };
            match users.as_slice() {
                [one] => ok(json!({"channel": {"id": format!("D-{one}")}})),
                _ => err("users_list_not_supplied"),
            }
        }
        "chat.postMessage" => {
            let channel = s("channel");
            if channel.is_empty() {
                return err("channel_not_found");
            }
            // Slack echoes the message, blocks included: slack-morphism must read our own blocks back.
            let echo = if inner.no_echo.load(Ordering::SeqCst) { None } else { params.get("blocks") };
            let ts = format!("1700000000.{:06}", inner.ts.fetch_add(1, Ordering::SeqCst) + 1);
            ok(json!({"channel": channel, "ts": ts,
                      "message": {"type": "message", "text": s("text"), "ts": ts, "bot_id": "B1", "blocks": echo}}))
        }
        "chat.update" => ok(
            json!({"channel": s("channel"), "ts": s("ts"), "text": s("text"), "message": {"text": s("text"), "user": "U0BOT"}}),
        ),
        "users.lookupByEmail" => match inner.users.lock().unwrap().get(&s("email").to_lowercase()) {
            Some(id) => ok(json!({"user": {"id": id, "profile": {"email": s("email")}}})),
            None => err("users_not_found"),
        },
        "users.info" => {
            let id = s("user");
            let users = inner.users.lock().unwrap();
            match users.iter().find(|(_, v)| **v == id) {
                Some((email, _)) => ok(
                    json!({"user": {"id": id, "name": "someone", "profile": {"email": email, "real_name": "Some One"}}}),
                ),
                None if id.starts_with('U') => ok(json!({"user": {"id": id, "profile": {"real_name": "No Email"}}})),
                None => err("user_not_found"),
            }
        }
        "views.open" => {
            let mut view = params.get("view").cloned().unwrap_or(json!({}));
            view["id"] = json!("V1");
            view["team_id"] = json!("T1");
            view["hash"] = json!("1.abc");
            ok(json!({"view": view}))
        }
        "apps.connections.open" => match inner.ws_url.lock().unwrap().clone() {
            Some(url) => ok(json!({"url": url})),
            None => err("internal_error"),
        },
        _ => err("unknown_method"),
    }
}

async fn hook(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let params = params(HashMap::new(), &headers, &body);
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    inner.calls.lock().unwrap().push(Call {
        method: "response_url".to_owned(),
        params,
        auth,
        at: Instant::now(),
        scripted: false,
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], "ok").into_response()
}
