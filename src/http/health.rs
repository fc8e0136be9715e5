//! Liveness, readiness and metrics.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use sqlx::Row;

use super::AppState;
use crate::store::ms;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics_text))
}

/// What `/healthz` and `/readyz` answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// `ok` (`/healthz`), `ready` or `not ready` (`/readyz`).
    #[schema(value_type = String)]
    status: &'static str,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health",
    responses((status = 200, description = "Up: `{\"status\": \"ok\"}`", body = Health)))]
pub(super) async fn healthz() -> impl IntoResponse {
    axum::Json(Health { status: "ok", error: None })
}

/// The database answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses(
        (status = 200, description = "Ready: `{\"status\": \"ready\"}`", body = Health),
        (status = 503, description = "Not ready, and why", body = Health),
    ))]
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.runtime.store().ready().await {
        Ok(()) => (StatusCode::OK, axum::Json(Health { status: "ready", error: None })),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(Health { status: "not ready", error: Some(why) })),
    }
}

/// Prometheus text format. Gauges that describe the database (items by state, outbox backlog and age) are
/// read at scrape time, so every replica reports the shared truth. Items by state come from `item_counts`,
/// which the committer keeps in step with the items: a scrape costs the same at a million items as at ten.
async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.runtime.store();
    if let Ok(rows) = sqlx::query("SELECT status, n FROM item_counts").fetch_all(store.reader()).await {
        for s in ["requested", "escalated", "approved", "denied", "expired", "cancelled"] {
            let n = rows
                .iter()
                .find(|r| r.try_get::<String, _>("status").is_ok_and(|v| v == s))
                .and_then(|r| r.try_get::<i64, _>("n").ok())
                .unwrap_or(0);
            metrics::gauge!("signoff_items", "state" => s).set(n as f64);
        }
    }
    if let Ok(r) = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE done_at IS NULL")
        .fetch_one(store.reader())
        .await
    {
        let n: i64 = r.try_get("n").unwrap_or(0);
        let oldest: Option<i64> = r.try_get("oldest").unwrap_or(None);
        metrics::gauge!("signoff_outbox_backlog").set(n as f64);
        let age = oldest.map_or(0.0, |o| (ms(crate::time::now()) - o).max(0) as f64 / 1000.0);
        metrics::gauge!("signoff_outbox_oldest_age_seconds").set(age);
    }
    ([("content-type", "text/plain; version=0.0.4")], state.metrics.render())
}
