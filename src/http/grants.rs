//! `/api/v1/grants`: read a grant, release it early ("removed after use").

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;

use super::error::{ApiError, Json, optional_json};
use super::{AppState, is_plausible_id};
use crate::catalog::LookupError;
use crate::engine::GrantEnd;
use crate::runtime::view;
use crate::runtime::{GrantView, RuntimeError};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/grants/{id}", get(read)).route("/grants/{id}/release", post(release))
}

/// 404 for a path id that cannot be a grant id, before any query.
fn check_grant_id(id: &str) -> Result<(), ApiError> {
    if is_plausible_id(id) { Ok(()) } else { Err(ApiError::not_found("unknown grant: not a grant id")) }
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<GrantView>, ApiError> {
    check_grant_id(&id)?;
    view::grant(state.runtime.store(), &id)
        .await
        .map_err(|e| ApiError::from(RuntimeError::Store(e)))?
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
    check_grant_id(&id)?;
    let body: ReleaseBody = optional_json(&body)?;
    let by = match body.by {
        // The runtime records `by` as given, so only a directory user may stand there (as for every other
        // actor in the trail), by their id.
        Some(b) => match state.runtime.catalog().directory.user(b.trim()) {
            Some(u) => u.id.clone(),
            None => return Err(RuntimeError::Lookup(LookupError::UnknownUser(b)).into()),
        },
        None => view::grant(state.runtime.store(), &id)
            .await
            .map_err(|e| ApiError::from(RuntimeError::Store(e)))?
            .map(|g| g.user)
            .ok_or_else(|| ApiError::not_found(format!("unknown grant `{id}`")))?,
    };
    let grant = state.runtime.end_grant(&id, &by, GrantEnd::Released, crate::time::now()).await?;
    Ok(Json(grant))
}
