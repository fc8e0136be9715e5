//! The HTTP surface: one module per resource, each exposing `router()`.
//!
//! - [`requests`]: `/api/v1/requests` (create, read, list, decide, cancel).
//! - [`grants`]: `/api/v1/grants` (read, release).
//! - [`audit`](self::audit): `/api/v1/audit`.
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`auth`]: bearer tokens for `/api/v1`.
//! - [`error`]: the JSON error type every handler returns.

pub mod audit;
pub mod auth;
pub mod error;
pub mod grants;
pub mod health;
pub mod requests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::SecretString;

use crate::runtime::Runtime;

/// The largest request body accepted: far above any real request, small enough that nobody can make us
/// buffer much.
pub const MAX_BODY: usize = 64 * 1024;

/// How long a handler may take before the caller gets a 503 (the commit path is normally milliseconds).
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The runtime.
    pub runtime: Runtime,
    /// Accepted bearer tokens for `/api/v1`.
    pub tokens: Arc<Vec<SecretString>>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// Every route. Chat routes (`/slack/...`, `/discord/...`) are merged by the application when configured.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(requests::router())
        .merge(grants::router())
        .merge(audit::router())
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        // After routing, so the latency histogram is labelled with the route template, not the raw path.
        .route_layer(middleware::from_fn(track))
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .with_state(state)
}

/// Records each request's latency by route and status.
async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
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
