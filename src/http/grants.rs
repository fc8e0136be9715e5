//! `/api/v1/grants`: read a grant, release it early ("removed after use").

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, Json, optional_json};
use crate::engine::GrantEnd;
use crate::runtime::GrantView;
use crate::runtime::view;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/grants/{id}", get(read)).route("/grants/{id}/release", post(release))
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<GrantView>, ApiError> {
    view::grant(state.runtime.store(), &id)
        .await
        .map_err(|e| ApiError::from(crate::runtime::RuntimeError::Store(e)))?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("unknown grant `{id}`")))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    /// Who releases it (recorded in the audit trail); defaults to the holder.
    by: Option<String>,
}

async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<GrantView>, ApiError> {
    let body: ReleaseBody = optional_json(&body)?;
    let by = match body.by {
        Some(b) => b,
        None => view::grant(state.runtime.store(), &id)
            .await
            .map_err(|e| ApiError::from(crate::runtime::RuntimeError::Store(e)))?
            .map(|g| g.user)
            .ok_or_else(|| ApiError::not_found(format!("unknown grant `{id}`")))?,
    };
    let grant = state.runtime.end_grant(&id, &by, GrantEnd::Released, crate::time::now()).await?;
    Ok(Json(grant))
}
