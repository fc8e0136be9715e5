//! The HTTP surface: one module per resource, each exposing `router()`.
//!
//! - [`requests`]: `/api/v1/requests` (create, read, list, decide, cancel).
//! - [`grants`]: `/api/v1/grants` (read, release).
//! - [`audit`](self::audit): `/api/v1/audit`.
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`slack`]: `/slack/interactions`, `/slack/commands`.
//! - [`discord`](self::discord): `/discord/interactions`.
//! - [`scim`](self::scim): `/scim/v2`, SCIM 2.0 provisioning (DESIGN 7.5).
//! - [`openapi`]: `/api/v1/openapi.json`, the OpenAPI 3.1 description of `/api/v1` (public).
//! - [`auth`]: bearer tokens for `/api/v1` and `/scim/v2`.
//! - [`error`]: the JSON error type every handler returns.
//! - [`trace`]: one span per request (route template, status, latency, request id) and the `x-request-id` header.

pub mod audit;
pub mod auth;
pub mod discord;
pub mod error;
pub mod grants;
pub mod health;
pub mod openapi;
mod refused;
pub mod requests;
pub mod scim;
pub mod slack;
pub mod trace;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::access::Tokens;
use crate::runtime::Runtime;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

/// The largest request body accepted: far above any real request, small enough that nobody can make us
/// buffer much.
pub const MAX_BODY: usize = 64 * 1024;

/// The largest SCIM body accepted: a group pushed with a few thousand members.
pub const MAX_SCIM_BODY: usize = 1024 * 1024;

/// How long a handler may take before the caller gets a 503 (the commit path is normally milliseconds).
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest id we ever hand out, with room to spare (`req_` + 26 + `-` + item number).
const MAX_ID_LEN: usize = 64;

/// Whether `id` can be one of our request, item or grant ids (`req_<ulid>`, `req_<ulid>-<n>`): ASCII
/// letters, digits, `_` and `-`. Anything else is unknown without asking the database, which matters:
/// PostgreSQL refuses text holding a NUL byte, so `/requests/%00` would otherwise be a 500.
pub(crate) fn is_plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The runtime.
    pub runtime: Runtime,
    /// Accepted bearer tokens for `/api/v1`, with their scopes.
    pub tokens: Arc<Tokens>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Slack, when configured.
    pub slack: Option<Arc<slack::SlackSurface>>,
    /// Discord, when configured.
    pub discord: Option<Arc<discord::DiscordSurface>>,
    /// Whether `/scim/v2` is served (`[directory] scim`).
    pub scim: bool,
    /// `[server] public_url`, for the URLs SCIM answers carry.
    pub public_url: Option<String>,
    /// SCIM requests handled at once (see [`scim::CONCURRENCY`]).
    pub scim_slots: Arc<tokio::sync::Semaphore>,
    /// The web pages, when someone can sign in to them (`[web]`).
    pub web: Option<Arc<crate::web::Web>>,
}

/// Every route. The chat routes answer 404 when their platform is not configured.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(requests::router())
        .merge(grants::router())
        .merge(audit::router())
        // After routing (it reads the matched route); inside `require_token`, which puts the caller there.
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_scope))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token))
        .layer(middleware::from_fn(deadline));
    let scim = scim::router()
        .route_layer(middleware::from_fn_with_state(state.clone(), scim::one_at_a_time))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_scope))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token))
        .layer(middleware::from_fn(deadline))
        // A group with its members in one PUT is larger than any API body.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_SCIM_BODY))
        // Outside the token layers, so their refusals too come as SCIM error bodies.
        .layer(middleware::from_fn_with_state(state.clone(), scim::scim_errors))
        .route_layer(middleware::from_fn(track));
    let rest = Router::new()
        .nest("/api/v1", api)
        // Public, like `/healthz`: outside the token layers, so `access::required` never sees it.
        .route(openapi::PATH, get(openapi::openapi_json))
        .merge(health::router())
        .merge(slack::router())
        .merge(discord::router())
        // After routing, so the latency histogram is labelled with the route template, not the raw path.
        .route_layer(middleware::from_fn(track))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY));
    let web = crate::web::router(&state);
    Router::new()
        .merge(rest)
        .merge(web)
        .nest("/scim/v2", scim)
        .fallback(|| async { error::ApiError::not_found("no such route") })
        // Outermost but for the span, so it also sees the errors axum and tower-http answer by themselves.
        .layer(middleware::from_fn(json_errors))
        // One span per request, around everything else; the request id is set before it opens.
        .layer(trace::layer())
        .layer(middleware::from_fn(trace::request_id))
        .with_state(state)
}

/// Answers 503 when a handler takes longer than [`HANDLER_TIMEOUT`] (a stuck database, say) instead of
/// holding the caller forever. Work already handed to the committer is still committed, so the message says
/// to read the state back before retrying.
async fn deadline(req: Request, next: Next) -> Response {
    match tokio::time::timeout(HANDLER_TIMEOUT, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no answer within {}s; the change may still be applied: read it back before retrying",
                HANDLER_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}

/// The most of a non-JSON error body read back to quote it (these bodies are short texts like
/// "length limit exceeded").
const MAX_ERROR_TEXT: usize = 4096;

/// Answers every error as JSON `{"error": ...}`, including those that never reach a handler and so bypass
/// [`error::ApiError`]: 405 (axum answers it with an empty body), 413 (tower-http's body limit answers in
/// plain text) and axum's own extractor rejections. Clients then parse one shape for every 4xx, as the
/// contract promises. A 5xx's text is not quoted: its cause is for the log, not the caller.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        // The web pages answer their errors as pages.
        v.starts_with("application/json") || v.starts_with("application/scim+json") || v.starts_with("text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("request body too large: at most {} KiB", MAX_BODY / 1024),
        StatusCode::METHOD_NOT_ALLOWED => match parts.headers.get(ALLOW).and_then(|v| v.to_str().ok()) {
            Some(allowed) if !allowed.is_empty() => format!("method not allowed here; use {allowed}"),
            _ => "method not allowed here".to_owned(),
        },
        s if s.is_server_error() => "internal error; the request was not applied".to_owned(),
        s if text.is_empty() => s.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => text,
    };
    let body = serde_json::to_string(&error::ErrorBody { error: message }).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}

/// Records each request's latency by route and status, and its route template in the request's span.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    trace::record_route(&route);
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics::histogram!(
        "signoff_http_request_duration_seconds",
        "route" => route,
        "method" => method,
        "status" => resp.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    resp
}
