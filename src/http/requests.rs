//! `/api/v1/requests`: create, read, list, decide, cancel.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use std::sync::Arc;

use axum::Extension;

use super::auth::{act_for, default_person};
use super::error::{ApiError, ErrorBody, Json, optional_json};
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
#[derive(Debug, Deserialize, ToSchema)]
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

/// A new request: one item per (person it is for, role).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "requester": "ana@example.com", "resource": "salesforce", "role": "basic_user",
    "justification": "Q3 pipeline review", "duration": "8h" })))]
pub(super) struct CreateBody {
    /// Who asks (id or email); defaults to the token's `as` person.
    requester: Option<String>,
    /// The resource, by id.
    resource: String,
    /// The role or roles asked for.
    role: Option<OneOrMany>,
    /// More roles, added to `role`.
    roles: Option<Vec<String>>,
    /// Whom the access is for (id or email); defaults to the requester.
    #[serde(rename = "for")]
    for_: Option<OneOrMany>,
    /// Why, in the requester's words.
    justification: Option<String>,
    /// How long the access is asked for (`90s`, `30m`, `48h`, `7d`); the workflow's default when absent.
    duration: Option<Duration>,
}

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Creates a request. A retry with the same `Idempotency-Key` returns the first request, as 200.
#[utoipa::path(post, path = "/api/v1/requests", operation_id = "createRequest", tag = "requests",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 200 visible ASCII characters; a retry with a known key returns the first request")),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The request, created, with its items", body = RequestView),
        (status = 200, description = "A retry with a known `Idempotency-Key`: the first request", body = RequestView),
        (status = 400, description = "Malformed JSON, an empty field or a bad `Idempotency-Key`", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "A body of the wrong shape, an unknown person, resource or role, a bad duration, or more than `[api] max_items` items", body = ErrorBody),
    ))]
pub(super) async fn create(
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

/// A request, its items, prompts, decisions and grants.
#[utoipa::path(get, path = "/api/v1/requests/{id}", operation_id = "getRequest", tag = "requests",
    params(("id" = String, Path, description = "The request id (`req_...`)")),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 404, description = "No such request", body = ErrorBody),
    ))]
pub(super) async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RequestView>, ApiError> {
    check_request_id(&id)?;
    state.runtime.request(&id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("unknown request `{id}`")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only requests asked by this user (id).
    requester: Option<String>,
    /// Only requests with a prompt to this user (id).
    approver: Option<String>,
    /// Only requests with an item in this state.
    #[param(value_type = Option<ItemStatus>)]
    state: Option<String>,
    /// The `next` of the previous page.
    before: Option<String>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A page of requests, newest first.
#[derive(Debug, serde::Serialize, ToSchema)]
pub(super) struct Page {
    /// The requests.
    requests: Vec<RequestView>,
    /// Pass as `before` to get the next page; absent on the last page.
    next: Option<String>,
}

/// A page of requests, newest first; `next` is the cursor for the following page.
#[utoipa::path(get, path = "/api/v1/requests", operation_id = "listRequests", tag = "requests",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of requests", body = Page),
        (status = 400, description = "An unknown parameter, state or cursor, or a limit out of range", body = ErrorBody),
        (status = 422, description = "A `requester` or `approver` who is not in the directory", body = ErrorBody),
    ))]
pub(super) async fn list(
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

/// What the approver decides.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Approve,
    Deny,
    Escalate,
}

/// A decision on a request's pending items.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "approver": "raj@example.com", "verdict": "approve", "comment": "ok for the quarter" })))]
pub(super) struct DecisionBody {
    /// Who decides; defaults to the token's `as` person.
    approver: Option<String>,
    /// Approve, deny, or hand the decision to someone else.
    verdict: Verdict,
    /// Optional words, kept in the trail.
    comment: Option<String>,
    /// For `approve`: a shorter duration than asked.
    duration: Option<Duration>,
    /// For `escalate`: who decides instead.
    to: Option<String>,
}

/// Approves, denies or escalates a request's pending items, as an approver.
#[utoipa::path(post, path = "/api/v1/requests/{id}/decisions", operation_id = "decideRequest", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "The request after the decision", body = RequestView),
        (status = 400, description = "Malformed JSON, or fields that do not go with the verdict", body = ErrorBody),
        (status = 404, description = "No such request, or nothing waiting for this approver", body = ErrorBody),
        (status = 409, description = "Already settled", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "A body of the wrong shape, an unknown person, a bad duration or escalation", body = ErrorBody),
    ))]
pub(super) async fn decide(
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

/// A cancellation; the body may be empty.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "reason": "no longer needed" })))]
pub(super) struct CancelBody {
    /// Who cancels; must be the requester. Defaults to the request's requester. Also read as `requester`.
    #[serde(alias = "requester")]
    by: Option<String>,
    /// Why, kept in the trail.
    reason: Option<String>,
}

/// Cancels a request, by its requester.
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", operation_id = "cancelRequest", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    request_body(content = Option<CancelBody>, description = "May be empty"),
    responses(
        (status = 200, description = "The request, cancelled", body = RequestView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Already settled", body = ErrorBody),
        (status = 422, description = "A body of the wrong shape or an unknown person", body = ErrorBody),
    ))]
pub(super) async fn cancel(
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
