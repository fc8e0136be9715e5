//! `/api/v1/grants`: read a grant, release it early ("removed after use").

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;

use std::sync::Arc;

use axum::Extension;

use super::auth::{act_for, as_id};
use super::error::{ApiError, ErrorBody, Json, optional_json};
use super::{AppState, is_plausible_id};
use crate::access::{Caller, Scope};
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

/// A grant: the access an approved item gave.
#[utoipa::path(get, path = "/api/v1/grants/{id}", operation_id = "getGrant", tag = "grants",
    params(("id" = String, Path, description = "The grant id (its item's id, `req_...-N`)")),
    responses(
        (status = 200, description = "The grant", body = GrantView),
        (status = 404, description = "No such grant", body = ErrorBody),
    ))]
pub(super) async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<GrantView>, ApiError> {
    check_grant_id(&id)?;
    view::grant(state.runtime.store(), &id)
        .await
        .map_err(|e| ApiError::from(RuntimeError::Store(e)))?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("unknown grant `{id}`")))
}

/// A release; the body may be empty.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseBody {
    /// Who releases it (recorded in the audit trail); defaults to the holder.
    by: Option<String>,
}

/// Ends a grant early ("removed after use").
#[utoipa::path(post, path = "/api/v1/grants/{id}/release", operation_id = "releaseGrant", tag = "grants",
    params(("id" = String, Path, description = "The grant id")),
    request_body(content = Option<ReleaseBody>, description = "May be empty"),
    responses(
        (status = 200, description = "The grant, ended", body = GrantView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such grant", body = ErrorBody),
        (status = 409, description = "The grant has already ended", body = ErrorBody),
        (status = 422, description = "A body of the wrong shape or an unknown person", body = ErrorBody),
    ))]
pub(super) async fn release(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<GrantView>, ApiError> {
    check_grant_id(&id)?;
    let body: ReleaseBody = optional_json(&body)?;
    let grant = view::grant(state.runtime.store(), &id)
        .await
        .map_err(|e| ApiError::from(RuntimeError::Store(e)))?
        .ok_or_else(|| ApiError::not_found(format!("unknown grant `{id}`")))?;
    // A token that acts for a person (and is not an admin) releases only that person's own grants, as them; a
    // token that acts for no one (an integrator's) releases any grant, as whoever it names.
    if caller.as_.is_some() && !caller.holds(Scope::Admin) {
        let me = as_id(&state, &caller).unwrap_or_default();
        let by = body.by.as_deref().map(|b| state.runtime.user_id(b)).transpose()?.unwrap_or_else(|| me.clone());
        act_for(&state, &caller, &by, (Scope::Grants, Scope::Admin), None).await?;
        act_for(&state, &caller, &grant.user, (Scope::Grants, Scope::Admin), None).await?;
        let grant =
            state.runtime.end_grant_via(&id, &by, GrantEnd::Released, Some(caller.via()), crate::time::now()).await?;
        return Ok(Json(grant));
    }
    let by = match body.by {
        // The runtime records `by` as given, so only a directory user may stand there (as for every other
        // actor in the trail), by their id.
        Some(b) => match state.runtime.catalog().directory.user(b.trim()) {
            Some(u) => u.id.clone(),
            None => return Err(RuntimeError::Lookup(LookupError::UnknownUser(b)).into()),
        },
        None => grant.user,
    };
    let grant =
        state.runtime.end_grant_via(&id, &by, GrantEnd::Released, Some(caller.via()), crate::time::now()).await?;
    Ok(Json(grant))
}
