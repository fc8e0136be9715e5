//! `/api/v1/requests`: create, read, list, decide, cancel.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use std::sync::Arc;

use axum::Extension;

use super::auth::{act_for, default_person};
use super::error::{ApiError, Json, optional_json};
use super::{AppState, is_plausible_id};
use crate::access::{Caller, Scope};
use crate::chat::request::CHAT_KEY_PREFIX;
use crate::engine::{Decision, ItemStatus};
use crate::runtime::view::{Filter, MAX_PAGE};
use crate::runtime::{NewRequest, RequestView, Source};
use crate::time::Duration;

/// The scopes that create and cancel requests: as the token's own person, or as anyone.
const REQUEST: (Scope, Scope) = (Scope::Request, Scope::RequestAny);
/// The scopes that decide: as the token's own person, or as anyone.
const DECIDE: (Scope, Scope) = (Scope::Decide, Scope::DecideAny);

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", post(create).get(list))
        .route("/requests/{id}", get(read))
        .route("/requests/{id}/decisions", post(decide))
        .route("/requests/{id}/cancel", post(cancel))
}

/// One or several strings: `"for": "ana@x"` or `"for": ["ana@x", "ben@x"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Who asks; defaults to the token's `as` person.
    requester: Option<String>,
    resource: String,
    role: Option<OneOrMany>,
    roles: Option<Vec<String>>,
    #[serde(rename = "for")]
    for_: Option<OneOrMany>,
    justification: Option<String>,
    duration: Option<Duration>,
}

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str().map(str::trim) {
            Ok(k) if k.starts_with(CHAT_KEY_PREFIX) => {
                return Err(ApiError::bad_request(format!(
                    "`Idempotency-Key` must not start with `{CHAT_KEY_PREFIX}`: those keys belong to requests made from chat"
                )));
            }
            Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Some(k.to_owned()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                )));
            }
        },
    };
    if body.requester.as_deref().is_some_and(|r| r.trim().is_empty()) || body.resource.trim().is_empty() {
        return Err(ApiError::bad_request("`requester` and `resource` must not be empty"));
    }
    let requester = match body.requester {
        Some(r) => state.runtime.user_id(&r)?,
        None => default_person(&state, &caller, "requester")?,
    };
    act_for(&state, &caller, &requester, REQUEST, None).await?;
    let mut roles = body.role.map(OneOrMany::into_vec).unwrap_or_default();
    roles.extend(body.roles.unwrap_or_default());
    let new = NewRequest {
        requester,
        resource: body.resource,
        roles,
        for_: body.for_.map(OneOrMany::into_vec).unwrap_or_default(),
        justification: body.justification,
        duration: body.duration,
        via: Some(caller.via()),
    };
    let (view, new) = state.runtime.create_once(new, crate::time::now(), key).await?;
    // A retry with a known Idempotency-Key gets the first request back, as 200 rather than 201.
    Ok((if new { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// 404 for a path id that cannot be a request id, before any query.
fn check_request_id(id: &str) -> Result<(), ApiError> {
    if is_plausible_id(id) { Ok(()) } else { Err(ApiError::not_found("unknown request: not a request id")) }
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RequestView>, ApiError> {
    check_request_id(&id)?;
    state.runtime.request(&id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("unknown request `{id}`")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    requester: Option<String>,
    approver: Option<String>,
    state: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, serde::Serialize)]
struct Page {
    requests: Vec<RequestView>,
    /// Pass as `before` to get the next page; absent on the last page.
    next: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            Some(serde_json::from_value::<ItemStatus>(serde_json::Value::String(s.to_owned())).map_err(|_| {
                ApiError::bad_request(format!(
                    "unknown state `{s}`: use requested, escalated, approved, denied, expired or cancelled"
                ))
            })?)
        }
    };
    if q.before.as_deref().is_some_and(|b| !b.is_empty() && !is_plausible_id(b)) {
        return Err(ApiError::bad_request("`before` takes the `next` of a previous page"));
    }
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let filter = Filter {
        requester: q.requester.filter(|s| !s.is_empty()),
        approver: q.approver.filter(|s| !s.is_empty()),
        state: status,
        before: q.before.filter(|s| !s.is_empty()),
        limit,
    };
    let requests = state.runtime.list(&filter).await?;
    let next = (requests.len() == limit as usize).then(|| requests.last().map(|r| r.id.clone())).flatten();
    Ok(Json(Page { requests, next }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Approve,
    Deny,
    Escalate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    /// Who decides; defaults to the token's `as` person.
    approver: Option<String>,
    verdict: Verdict,
    comment: Option<String>,
    duration: Option<Duration>,
    /// For `escalate`: who decides instead.
    to: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
    Json(body): Json<DecisionBody>,
) -> Result<Json<RequestView>, ApiError> {
    check_request_id(&id)?;
    let approver = match &body.approver {
        Some(a) => state.runtime.user_id(a)?,
        None => default_person(&state, &caller, "approver")?,
    };
    act_for(&state, &caller, &approver, DECIDE, Some(&id)).await?;
    let decision = match body.verdict {
        Verdict::Approve => {
            // Refused here, before the runtime, so a malformed call leaves no trace; as on create.
            if body.duration.is_some_and(|d| d.is_zero()) {
                return Err(ApiError::bad_request("duration must be longer than zero"));
            }
            Decision::Approve { duration: body.duration, comment: body.comment }
        }
        Verdict::Deny => {
            if body.duration.is_some() {
                return Err(ApiError::bad_request("`duration` applies only to `approve`"));
            }
            Decision::Deny { comment: body.comment }
        }
        Verdict::Escalate => {
            let Some(to) = body.to.clone().filter(|t| !t.trim().is_empty()) else {
                return Err(ApiError::bad_request("`escalate` needs `to`: the person who decides instead"));
            };
            Decision::Escalate { to, comment: body.comment }
        }
    };
    if !matches!(decision, Decision::Escalate { .. }) && body.to.is_some() {
        return Err(ApiError::bad_request("`to` applies only to `escalate`"));
    }
    let source = Source { channel: "api".to_owned(), via: Some(caller.via()), callback: None };
    let view = state.runtime.decide(&id, &approver, decision, source, crate::time::now()).await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    /// Who cancels; must be the requester. Defaults to the request's requester.
    #[serde(alias = "requester")]
    by: Option<String>,
    reason: Option<String>,
}

async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<RequestView>, ApiError> {
    check_request_id(&id)?;
    let body: CancelBody = optional_json(&body)?;
    let by = match body.by {
        Some(b) => state.runtime.user_id(&b)?,
        // A token acting for someone cancels as them; one acting for anyone, as the requester.
        None if caller.as_.is_some() && !caller.holds(Scope::RequestAny) => default_person(&state, &caller, "by")?,
        None => state
            .runtime
            .request(&id)
            .await?
            .map(|r| r.requester)
            .ok_or_else(|| ApiError::not_found(format!("unknown request `{id}`")))?,
    };
    act_for(&state, &caller, &by, REQUEST, Some(&id)).await?;
    let view = state.runtime.cancel_via(&id, &by, body.reason, Some(caller.via()), crate::time::now()).await?;
    Ok(Json(view))
}
