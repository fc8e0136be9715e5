//! The interactions endpoint as the core will build it, at the router with `oneshot`: signed requests in,
//! status and JSON out. The handler below is a sketch of `POST /discord/interactions` in `src/http/`, with the
//! core's decisions stubbed; it shows the order that matters: verify the raw body, then parse, then answer.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use signoff_discord::inbound::parse_verified;
use signoff_discord::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use signoff_discord::{Inbound, Verifier, respond};
use signoff_port::{Answer, ClickReply, PromptClosing};
use tower::ServiceExt;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const APPROVER: &str = "310000000000000001";

async fn interactions(State(verifier): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let inbound = match parse_verified(&verifier, header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER), &body, now) {
        Ok(envelope) => envelope.inbound,
        Err(rejected) => {
            return (StatusCode::from_u16(rejected.status()).unwrap(), rejected.to_string()).into_response();
        }
    };
    let reply = match inbound {
        Inbound::Ping => respond::pong(),
        Inbound::Command(cmd) => respond::ephemeral(&format!("Asked for access to {}.", cmd.resource)),
        Inbound::Autocomplete { partial, .. } => {
            let all = [("GitHub", "github"), ("GitLab", "gitlab"), ("VPN", "vpn")];
            let found: Vec<(String, String)> = all
                .iter()
                .filter(|(name, _)| name.to_lowercase().starts_with(&partial.to_lowercase()))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            respond::autocomplete(&found)
        }
        // The core's verdict, stubbed: only the approver may answer.
        Inbound::Click(click) if click.clicker.id != APPROVER => {
            respond::click_reply(&ClickReply::Refused { message: "Only Kim Lee can answer this request.".into() })
        }
        Inbound::Click(click) => {
            let headline = match click.answer {
                Answer::Approve { .. } => "Approved by you",
                Answer::Deny { .. } => "Denied by you",
                Answer::Escalate { .. } => "Handed to someone else",
            };
            let closing = PromptClosing {
                headline: headline.into(),
                at: "10:42".into(),
                summary: "Ana Ruiz: GitHub".into(),
                link: None,
            };
            respond::click_reply(&ClickReply::Closed(closing))
        }
        Inbound::AskReason { token, .. } => {
            respond::reason_modal(&token).unwrap_or_else(|e| respond::ephemeral(&e.to_string()))
        }
        Inbound::Unknown(_) => respond::ephemeral("signoff does not know that one."),
    };
    axum::Json(reply).into_response()
}

/// Unix seconds now, as Discord stamps a request it sends.
fn now() -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string()
}

struct Endpoint {
    key: SigningKey,
    router: Router,
}

impl Endpoint {
    fn new() -> Self {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let verifier = Arc::new(Verifier::from_hex(&public).unwrap());
        let router = Router::new().route("/discord/interactions", post(interactions)).with_state(verifier);
        Self { key, router }
    }

    fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let message = [timestamp.as_bytes(), body].concat();
        self.key.sign(&message).to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    async fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> (StatusCode, Option<String>, Value) {
        let mut request = Request::post("/discord/interactions").header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body.to_vec())).unwrap()).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn post_signed(&self, body: &Value) -> (StatusCode, Option<String>, Value) {
        let body = body.to_string();
        let ts = now();
        let signature = self.sign(&ts, body.as_bytes());
        self.post(&[(SIGNATURE_HEADER, &signature), (TIMESTAMP_HEADER, &ts)], body.as_bytes()).await
    }
}

fn click(custom_id: &str, clicker: &str) -> Value {
    json!({
        "type": 3, "version": 1, "id": "1300000000000000001", "application_id": "1200000000000000000", "token": "tok",
        "channel_id": "1310000000000000001", "user": { "id": clicker, "username": "someone" },
        "message": { "id": "1320000000000000001", "channel_id": "1310000000000000001" },
        "data": { "custom_id": custom_id, "component_type": 2 },
        "locale": "en-US", "entitlements": [], "attachment_size_limit": 10485760
    })
}

#[tokio::test]
async fn a_signed_ping_gets_a_json_pong() {
    let endpoint = Endpoint::new();
    let (status, content_type, body) =
        endpoint.post_signed(&json!({ "type": 1, "id": "1", "application_id": "2", "token": "t", "version": 1 })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(body, json!({ "type": 1 }));
}

#[tokio::test]
async fn unsigned_or_badly_signed_requests_get_401_before_any_parsing() {
    let endpoint = Endpoint::new();
    let ping = br#"{"type":1}"#;
    assert_eq!(endpoint.post(&[], ping).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(endpoint.post(&[(TIMESTAMP_HEADER, "1700000000")], ping).await.0, StatusCode::UNAUTHORIZED);
    let signature = endpoint.sign("1700000000", ping);
    assert_eq!(endpoint.post(&[(SIGNATURE_HEADER, &signature)], ping).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        endpoint.post(&[(SIGNATURE_HEADER, &signature), (TIMESTAMP_HEADER, "1700000001")], ping).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Correctly signed a day ago: a replay, refused.
    let day_ago = (now().parse::<i64>().unwrap() - 86_400).to_string();
    let signature = endpoint.sign(&day_ago, ping);
    assert_eq!(
        endpoint.post(&[(SIGNATURE_HEADER, &signature), (TIMESTAMP_HEADER, &day_ago)], ping).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Garbage that is not even JSON is refused for its signature, not its syntax.
    assert_eq!(
        endpoint.post(&[(SIGNATURE_HEADER, "00"), (TIMESTAMP_HEADER, "1")], b"not json").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_interaction_gets_400() {
    let endpoint = Endpoint::new();
    let (status, _, _) = endpoint.post_signed(&json!({ "hello": "world" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_approvers_click_updates_the_message_and_anyone_else_is_refused_privately() {
    let endpoint = Endpoint::new();
    let (status, _, body) = endpoint.post_signed(&click(&format!("so:a:{TOKEN}"), APPROVER)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], 7);
    assert_eq!(body["data"]["components"], json!([]));
    assert_eq!(body["data"]["content"], "**Approved by you** · 10:42");

    let (status, _, body) = endpoint.post_signed(&click(&format!("so:d:{TOKEN}"), "310000000000000009")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["flags"], 64);
    assert_eq!(body["data"]["content"], "Only Kim Lee can answer this request.");
}

#[tokio::test]
async fn request_and_its_autocomplete_are_answered() {
    let endpoint = Endpoint::new();
    let command = |kind: u8, options: Value| {
        json!({
            "type": kind, "version": 1, "id": "1300000000000000002", "application_id": "1200000000000000000", "token": "tok",
            "channel_id": "1310000000000000001", "user": { "id": APPROVER, "username": "kim" },
            "data": { "id": "1250000000000000000", "name": "request", "type": 1, "options": options },
            "locale": "en-US", "entitlements": [], "attachment_size_limit": 10485760
        })
    };
    let (_, _, body) = endpoint
        .post_signed(&command(4, json!([{ "name": "resource", "type": 3, "value": "gi", "focused": true }])))
        .await;
    assert_eq!(
        body,
        json!({ "type": 8, "data": { "choices": [{ "name": "GitHub", "value": "github" }, { "name": "GitLab", "value": "gitlab" }] } })
    );

    let (_, _, body) =
        endpoint.post_signed(&command(2, json!([{ "name": "resource", "type": 3, "value": "github" }]))).await;
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["flags"], 64);
    assert_eq!(body["data"]["content"], "Asked for access to github.");
}
