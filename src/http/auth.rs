//! Bearer tokens for `/api/v1` (DESIGN 7.1): who is calling, and may they call this route, acting for this person?
//!
//! [`require_token`] finds the caller by the SHA-256 of the presented token (one hash and one map lookup: no
//! token is ever compared byte by byte, so timing says nothing about how much of a guess was right) and puts the
//! [`Caller`] in the request's extensions. After routing, [`require_scope`] refuses a route the token's scopes do
//! not cover; handlers then check whom the call acts for with [`act_for`]. Every refusal of a known token is a 403
//! with a JSON error, changes nothing, and is audited with the token's name; an unknown token is a 401 and writes
//! nothing (nothing unauthenticated writes to the database).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::access::{Caller, Need, Scope, required};
use crate::audit::Entry;

pub(super) async fn require_token(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        return unauthorized("missing `Authorization: Bearer <token>` header");
    };
    let Some(caller) = state.tokens.find(given) else {
        return unauthorized("invalid bearer token");
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Refuses, after routing, a call whose token's scopes do not cover the route (see [`required`]).
pub(super) async fn require_scope(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (Some(caller), Some(route)) = (req.extensions().get::<Arc<Caller>>(), req.extensions().get::<MatchedPath>())
    else {
        return next.run(req).await;
    };
    let method = req.method().as_str();
    let need = required(method, route.as_str());
    if caller.allows(need) {
        return next.run(req).await;
    }
    let why = format!(
        "token `{}` may not call {method} {}: it needs {}; the token has {}",
        caller.name,
        route.as_str(),
        describe(need),
        caller.scopes.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    );
    let request = request_in_path(req.uri().path());
    let actor = as_id(&state, caller);
    let caller = caller.clone();
    forbidden(&state, &caller, actor.as_deref(), request.as_deref(), &why).await.into_response()
}

/// Checks that `caller` may act for `person` (a directory id) on a route that takes the scope pair `narrow` /
/// `any`: the `:any` scope acts for anyone, the narrow one only for the token's own `as` person. A refusal is
/// audited and answered 403.
pub(super) async fn act_for(
    state: &AppState,
    caller: &Caller,
    person: &str,
    (narrow, any): (Scope, Scope),
    request: Option<&str>,
) -> Result<(), ApiError> {
    let me = as_id(state, caller);
    if caller.may_act_for(person, narrow, any, me.as_deref()) {
        return Ok(());
    }
    let why = match &me {
        Some(me) => {
            format!("token `{}` acts for {me} and may not act for {person}: that needs scope `{any}`", caller.name)
        }
        None => format!("token `{}` acts for no one: acting for {person} needs scope `{any}`", caller.name),
    };
    Err(forbidden(state, caller, me.as_deref(), request, &why).await)
}

/// The person a call acts for when its body names no one: the token's `as` person, resolved in the directory.
/// `what` names the body field, for the error when the token acts for no one either.
pub(super) fn default_person(state: &AppState, caller: &Caller, what: &str) -> Result<String, ApiError> {
    match (&caller.as_, as_id(state, caller)) {
        (_, Some(id)) => Ok(id),
        (Some(written), None) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("token `{}` acts for `{written}`, who is not in the directory", caller.name),
        )),
        // 422, as serde answers any other missing field of a well-formed body.
        (None, None) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("missing field `{what}`: this token acts for no one, so the body must name who"),
        )),
    }
}

/// The directory id of the token's `as` person, when it has one and they are in the directory.
pub(super) fn as_id(state: &AppState, caller: &Caller) -> Option<String> {
    caller.as_.as_deref().and_then(|who| state.runtime.user_id(who).ok())
}

/// Audits a refusal and builds its 403.
async fn forbidden(
    state: &AppState,
    caller: &Caller,
    actor: Option<&str>,
    request: Option<&str>,
    why: &str,
) -> ApiError {
    metrics::counter!("signoff_api_forbidden_total", "token" => caller.name.clone()).increment(1);
    let mut entry =
        Entry::new(crate::time::now(), "refused", actor, json!({ "why": why, "channel": "api", "via": caller.via() }));
    // Only an id that names a stored request goes in the column, so the request's trail shows the refusal.
    if let Some(r) = request
        && super::is_plausible_id(r)
        && matches!(state.runtime.request(r).await, Ok(Some(_)))
    {
        entry.request_id = Some(r.to_owned());
    }
    if let Err(e) = state.runtime.audit(vec![entry]).await {
        tracing::warn!(error = %e, "could not audit a refused API call");
    }
    ApiError::forbidden(why)
}

/// `{id}` in `/api/v1/requests/{id}/...`.
fn request_in_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/requests/")?;
    rest.split('/').next().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn describe(need: Need) -> String {
    match need {
        Need::One(s) => format!("scope `{s}`"),
        Need::Either(a, b) => format!("scope `{a}` or `{b}`"),
        Need::Admin => "scope `admin`".to_owned(),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    resp.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::request_in_path;

    #[test]
    fn the_request_id_is_read_from_request_paths_only() {
        assert_eq!(request_in_path("/api/v1/requests/req_1/decisions").as_deref(), Some("req_1"));
        assert_eq!(request_in_path("/api/v1/requests/req_1").as_deref(), Some("req_1"));
        assert_eq!(request_in_path("/api/v1/requests"), None);
        assert_eq!(request_in_path("/api/v1/grants/req_1-1/release"), None);
    }
}
