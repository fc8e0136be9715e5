//! `/api/v1/audit?request=ID`: the audit trail of a request (or the latest rows of the whole trail).

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use super::error::{ApiError, Json};
use super::{AppState, is_plausible_id};
use crate::audit::{self, Record};
use crate::runtime::RuntimeError;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/audit", get(trail))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    request: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, serde::Serialize)]
struct Trail {
    events: Vec<Record>,
}

async fn trail(
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
