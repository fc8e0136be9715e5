//! `/api/v1/audit?request=ID`: the audit trail of a request (or the latest rows of the whole trail).

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody, Json};
use super::{AppState, is_plausible_id};
use crate::audit::{self, Record};
use crate::runtime::RuntimeError;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/audit", get(trail))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Only this request's trail; without it, the latest rows of the whole trail.
    request: Option<String>,
    /// At most this many rows (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

/// Audit rows, oldest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Trail {
    /// The rows.
    events: Vec<Record>,
}

/// The audit trail of a request, or the latest rows of the whole trail.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "getAudit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The trail", body = Trail),
        (status = 400, description = "An unknown parameter or a limit out of range", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
    ))]

pub(super) async fn trail(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Trail>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 10000"));
    }
    if let Some(r) = &q.request
        && (!is_plausible_id(r) || state.runtime.request(r).await?.is_none())
    {
        return Err(ApiError::not_found(format!("unknown request `{r}`")));
    }
    let events = audit::list(state.runtime.store(), q.request.as_deref(), limit).await.map_err(RuntimeError::Store)?;
    Ok(Json(Trail { events }))
}
