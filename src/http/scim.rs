//! `/scim/v2`: the SCIM 2.0 service provider Okta and Microsoft Entra provision into (DESIGN 7.5).
//!
//! The protocol (schemas, filters, PATCH dialects, the error body) is [`crate::scim`]; the rows are
//! [`crate::people::store`]; a write goes through the committer ([`Runtime::provision`]) so it is durable,
//! audited with the token that made it, and seen by every replica. Every route needs a token with the `scim`
//! scope, and every error, including the token's, is a SCIM error body (`application/scim+json`), which is what
//! the providers' clients parse. Served only with `[directory] scim = true`; otherwise every route is a 404.
//!
//! Updates read, change and write back with the version they read: a concurrent write in between makes the
//! write fail as stale, and the handler starts over from a fresh read (a few times), so no update is lost.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::access::Caller;
use crate::people::store::{self, Lookup, Table};
use crate::people::{Change, ChangeError, Stored};
use crate::runtime::RuntimeError;
use crate::scim::{self, Kind, Meta, ScimError};

/// SCIM's media type (RFC 7644 §3.1).
const SCIM_JSON: &str = "application/scim+json";

/// SCIM requests handled at once; more wait their turn. Provisioning is background work: an identity provider
/// pushing ten thousand people as fast as it can must not take the cores that decisions need (measured: with
/// 16 pushing at once and no limit, decision p99 rose 3 to 6 times; BENCHMARKS.md). A few at a time still
/// commit over a thousand writes a second, since the committer batches them.
pub const CONCURRENCY: usize = 4;

/// How many times an update starts over when another write got in between.
const MAX_TRIES: usize = 5;

/// The routes, relative to `/scim/v2`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/{id}", get(get_user).put(put_user).patch(patch_user).delete(delete_user))
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/{id}", get(get_group).put(put_group).patch(patch_group).delete(delete_group))
}

/// A 404 for every SCIM route when `[directory] scim` is off, and SCIM error bodies for every error the
/// token layers and axum answer in signoff's own `{"error": ...}` shape.
pub(super) async fn scim_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.scim {
        return Failure(ScimError::not_found("SCIM is not enabled here: set `[directory] scim = true`"))
            .into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let is_scim = resp.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(SCIM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_scim {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let detail = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let mut out = Failure(ScimError::new(status.as_u16(), None, detail)).into_response();
    for name in ["www-authenticate", "allow", "retry-after"] {
        if let Some(v) = parts.headers.get(name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Waits for one of the [`CONCURRENCY`] slots; inside the token layers, so that only an authenticated client
/// can hold one.
pub(super) async fn one_at_a_time(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Ok(_slot) = state.scim_slots.clone().acquire_owned().await else {
        return Failure(ScimError::new(503, None, "signoff is shutting down; try again")).into_response();
    };
    next.run(req).await
}

/// A SCIM error as a response: the RFC 7644 body, plus signoff's own `error` field with the same words, so that
/// a client of the rest of the API (DESIGN 7.1: a refusal is `{"error": ...}`) reads it the same way.
struct Failure(ScimError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = self.0.to_json();
        if let Some(map) = body.as_object_mut() {
            map.insert("error".to_owned(), Value::String(self.0.detail.clone()));
        }
        (status, [(CONTENT_TYPE, SCIM_JSON)], body.to_string()).into_response()
    }
}

impl From<ScimError> for Failure {
    fn from(e: ScimError) -> Failure {
        Failure(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Failure {
        tracing::error!(error = %e, "database error while serving SCIM");
        Failure(ScimError::new(500, None, "internal error; nothing was changed"))
    }
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Failure {
        Failure(match e {
            RuntimeError::People(ChangeError::Taken(why)) => ScimError::uniqueness(why),
            RuntimeError::People(ChangeError::NotFound { kind, id }) => {
                ScimError::not_found(format!("no {kind} with id `{id}`"))
            }
            RuntimeError::People(ChangeError::Stale) => {
                ScimError::new(409, None, "the resource kept changing while this update was applied; try again")
            }
            RuntimeError::Unavailable => ScimError::new(503, None, "signoff is shutting down; try again"),
            RuntimeError::Store(e) => return Failure::from(e),
            other => ScimError::new(500, None, other.to_string()),
        })
    }
}

type Answer = Result<Response, Failure>;

/// A SCIM JSON body with a status.
fn scim_json(status: StatusCode, body: Value) -> Response {
    (status, [(CONTENT_TYPE, SCIM_JSON)], body.to_string()).into_response()
}

/// `https://host/scim/v2`: `[server] public_url` when set, else what the caller used to reach us.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    match &state.public_url {
        Some(url) => format!("{}/scim/v2", url.trim_end_matches('/')),
        None => {
            let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}/scim/v2")
        }
    }
}

async fn service_provider_config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    scim_json(StatusCode::OK, scim::service_provider_config_json(&base_url(&state, &headers)))
}

async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> Response {
    scim_json(StatusCode::OK, scim::resource_types_json(&base_url(&state, &headers)))
}

async fn resource_type(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> Answer {
    let kind = match name.as_str() {
        "User" => Kind::User,
        "Group" => Kind::Group,
        _ => return Err(ScimError::not_found(format!("no resource type `{name}`")).into()),
    };
    Ok(scim_json(StatusCode::OK, scim::schema::resource_type_json(kind, &base_url(&state, &headers))))
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Response {
    scim_json(StatusCode::OK, scim::schema::schemas_json_at(Some(&base_url(&state, &headers))))
}

async fn schema(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    match scim::schema::schema_json(&id, Some(&base_url(&state, &headers))) {
        Some(s) => Ok(scim_json(StatusCode::OK, s)),
        None => Err(ScimError::not_found("no such schema").into()),
    }
}

/// The query of a list (RFC 7644 §3.4.2): all optional. Numbers are read by hand so that a bad one is a SCIM
/// 400, not axum's plain rejection.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

/// The query of a single read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadQuery {
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

fn table(kind: Kind) -> Table {
    match kind {
        Kind::User => Table::Users,
        Kind::Group => Table::Groups,
    }
}

fn meta(s: &Stored) -> Meta {
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Meta { created: at(s.created_at), last_modified: at(s.updated_at), version: Some(format!("W/\"{}\"", s.version)) }
}

fn number(what: &str, v: Option<&str>) -> Result<Option<i64>, ScimError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse::<i64>().map(Some).map_err(|_| {
            ScimError::invalid_value(format!(
                "`{what}` must be an integer, found `{}`",
                t.chars().take(40).collect::<String>()
            ))
        }),
    }
}

async fn list(state: &AppState, headers: &HeaderMap, kind: Kind, q: ListQuery) -> Answer {
    let filter = match q.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => {
            let parsed = scim::parse_filter(f)?;
            parsed.validate(kind)?;
            Some(parsed)
        }
        None => None,
    };
    let start = number("startIndex", q.start_index.as_deref())?.unwrap_or(1).max(1) as usize;
    let count = number("count", q.count.as_deref())?.unwrap_or(scim::schema::MAX_RESULTS as i64).max(0) as usize;
    let count = count.min(scim::schema::MAX_RESULTS);
    let store = state.runtime.store();
    // `userName eq "x"` (Okta's probe before each create), `externalId eq`, `displayName eq`: an index read.
    let indexed = filter.as_ref().and_then(|f| f.eq_lookup()).and_then(|(path, value)| {
        if path.urn.is_some() || path.sub.is_some() {
            return None;
        }
        let by = match kind {
            Kind::User if path.is("userName") => Lookup::Name,
            Kind::Group if path.is("displayName") => Lookup::Name,
            _ if path.is("externalId") => Lookup::External,
            _ => return None,
        };
        Some((by, value.to_owned()))
    });
    let rows = match indexed {
        Some((by, value)) => store::find(store, table(kind), by, &value).await?,
        None => store::all(store, table(kind)).await?,
    };
    let matching: Vec<&Stored> =
        rows.iter().filter(|s| filter.as_ref().is_none_or(|f| f.matches_kind(kind, &s.resource))).collect();
    let total = matching.len();
    let base = base_url(state, headers);
    let groups = memberships(state, kind, &base).await?;
    let page: Vec<Value> = matching
        .into_iter()
        .skip(start - 1)
        .take(count)
        .map(|s| {
            scim::render(
                kind,
                &with_groups(&s.resource, &s.id, &groups),
                &s.id,
                &meta(s),
                &base,
                q.attributes.as_deref(),
                q.excluded_attributes.as_deref(),
            )
        })
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }),
    ))
}

async fn read(state: &AppState, headers: &HeaderMap, kind: Kind, id: &str, q: ReadQuery) -> Answer {
    let s = found(state, kind, id).await?;
    let base = base_url(state, headers);
    let groups = memberships(state, kind, &base).await?;
    let body = scim::render(
        kind,
        &with_groups(&s.resource, &s.id, &groups),
        &s.id,
        &meta(&s),
        &base,
        q.attributes.as_deref(),
        q.excluded_attributes.as_deref(),
    );
    Ok(scim_json(StatusCode::OK, body))
}

/// For users: the groups each user (by SCIM id) is a member of, as the read-only `groups` attribute shows them
/// (RFC 7643 4.1.2: `value`, `$ref`, `display`). Groups keep their members; this is the other direction.
async fn memberships(
    state: &AppState,
    kind: Kind,
    base: &str,
) -> Result<std::collections::HashMap<String, Vec<Value>>, Failure> {
    let mut out: std::collections::HashMap<String, Vec<Value>> = std::collections::HashMap::new();
    if kind != Kind::User {
        return Ok(out);
    }
    for g in store::all(state.runtime.store(), Table::Groups).await? {
        let display = g.resource.get("displayName").cloned().unwrap_or(Value::Null);
        let members = g.resource.get("members").and_then(Value::as_array).cloned().unwrap_or_default();
        for m in members {
            if let Some(user) = m.get("value").and_then(Value::as_str) {
                out.entry(user.to_owned()).or_default().push(json!({
                    "value": g.id,
                    "$ref": scim::location(Kind::Group, base, &g.id),
                    "display": display,
                    "type": "direct",
                }));
            }
        }
    }
    Ok(out)
}

/// `resource` with its `groups` from `memberships` (the stored form never holds them: they are read-only).
fn with_groups(resource: &Value, id: &str, memberships: &std::collections::HashMap<String, Vec<Value>>) -> Value {
    let mut shown = resource.clone();
    if let (Some(list), Some(map)) = (memberships.get(id), shown.as_object_mut()) {
        map.insert("groups".to_owned(), Value::Array(list.clone()));
    }
    shown
}

async fn found(state: &AppState, kind: Kind, id: &str) -> Result<Stored, Failure> {
    if !super::is_plausible_id(id) {
        return Err(ScimError::not_found(format!("no {} with this id", kind.resource_type())).into());
    }
    store::get(state.runtime.store(), table(kind), id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("no {} with id `{id}`", kind.resource_type())).into())
}

fn body_json(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))
}

/// The change that stores `resource` (already in stored form) under `id`.
fn put_change(kind: Kind, id: &str, resource: Value, expect_version: Option<i64>) -> Result<Change, ScimError> {
    let text = |k: &str| resource.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(match kind {
        Kind::User => Change::PutUser {
            id: id.to_owned(),
            user_name: text("userName").ok_or_else(|| ScimError::invalid_value("`userName` is required"))?,
            external_id: text("externalId"),
            resource,
            expect_version,
        },
        Kind::Group => {
            let display_name =
                text("displayName").ok_or_else(|| ScimError::invalid_value("`displayName` is required"))?;
            let external_id = text("externalId").filter(|e| !e.trim().is_empty());
            Change::PutGroup {
                id: id.to_owned(),
                directory_id: external_id.clone().unwrap_or_else(|| display_name.clone()),
                display_name,
                external_id,
                resource,
                expect_version,
            }
        }
    })
}

fn via(caller: &Arc<Caller>) -> Option<String> {
    Some(caller.via())
}

async fn create(state: &AppState, headers: &HeaderMap, caller: &Arc<Caller>, kind: Kind, body: Bytes) -> Answer {
    let resource = scim::normalize(kind, body_json(&body)?)?;
    let id = ulid::Ulid::from_parts(crate::store::ms(crate::time::now()) as u64, rand::random::<u128>())
        .to_string()
        .to_lowercase();
    let change = put_change(kind, &id, resource.clone(), None)?;
    state.runtime.provision(change, via(caller)).await?;
    let s = found(state, kind, &id).await?;
    let base = base_url(state, headers);
    let groups = memberships(state, kind, &base).await?;
    let shown = with_groups(&s.resource, &id, &groups);
    let mut resp = scim_json(StatusCode::CREATED, scim::render(kind, &shown, &id, &meta(&s), &base, None, None));
    if let Ok(v) = HeaderValue::from_str(&scim::location(kind, &base, &id)) {
        resp.headers_mut().insert(LOCATION, v);
    }
    Ok(resp)
}

/// PUT or PATCH: read, change with `edit`, write back with the version read; start over when another write got in.
async fn update(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Arc<Caller>,
    kind: Kind,
    id: &str,
    edit: impl Fn(&Value) -> Result<Value, ScimError>,
) -> Answer {
    for _ in 0..MAX_TRIES {
        let current = found(state, kind, id).await?;
        let next = edit(&current.resource)?;
        let change = put_change(kind, id, next, Some(current.version))?;
        match state.runtime.provision(change, via(caller)).await {
            Ok(()) => return read(state, headers, kind, id, ReadQuery::default()).await,
            Err(RuntimeError::People(ChangeError::Stale)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RuntimeError::People(ChangeError::Stale).into())
}

async fn remove(state: &AppState, caller: &Arc<Caller>, kind: Kind, id: &str) -> Answer {
    if !super::is_plausible_id(id) {
        return Err(ScimError::not_found(format!("no {} with this id", kind.resource_type())).into());
    }
    let change = match kind {
        Kind::User => Change::DeleteUser { id: id.to_owned() },
        Kind::Group => Change::DeleteGroup { id: id.to_owned() },
    };
    state.runtime.provision(change, via(caller)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

type Who = axum::Extension<Arc<Caller>>;

async fn list_users(State(s): State<AppState>, h: HeaderMap, Query(q): Query<ListQuery>) -> Answer {
    list(&s, &h, Kind::User, q).await
}
async fn list_groups(State(s): State<AppState>, h: HeaderMap, Query(q): Query<ListQuery>) -> Answer {
    list(&s, &h, Kind::Group, q).await
}
async fn get_user(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Answer {
    read(&s, &h, Kind::User, &id, q).await
}
async fn get_group(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Answer {
    read(&s, &h, Kind::Group, &id, q).await
}
async fn create_user(State(s): State<AppState>, h: HeaderMap, who: Who, body: Bytes) -> Answer {
    create(&s, &h, &who, Kind::User, body).await
}
async fn create_group(State(s): State<AppState>, h: HeaderMap, who: Who, body: Bytes) -> Answer {
    create(&s, &h, &who, Kind::Group, body).await
}
async fn put_user(State(s): State<AppState>, h: HeaderMap, who: Who, Path(id): Path<String>, body: Bytes) -> Answer {
    let input = body_json(&body)?;
    update(&s, &h, &who, Kind::User, &id, |cur| scim::apply_put(Kind::User, cur, input.clone())).await
}
async fn put_group(State(s): State<AppState>, h: HeaderMap, who: Who, Path(id): Path<String>, body: Bytes) -> Answer {
    let input = body_json(&body)?;
    update(&s, &h, &who, Kind::Group, &id, |cur| scim::apply_put(Kind::Group, cur, input.clone())).await
}
async fn patch_user(State(s): State<AppState>, h: HeaderMap, who: Who, Path(id): Path<String>, body: Bytes) -> Answer {
    let ops = body_json(&body)?;
    update(&s, &h, &who, Kind::User, &id, |cur| scim::apply_patch(Kind::User, cur, &ops)).await
}
async fn patch_group(State(s): State<AppState>, h: HeaderMap, who: Who, Path(id): Path<String>, body: Bytes) -> Answer {
    let ops = body_json(&body)?;
    update(&s, &h, &who, Kind::Group, &id, |cur| scim::apply_patch(Kind::Group, cur, &ops)).await
}
async fn delete_user(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Answer {
    remove(&s, &who, Kind::User, &id).await
}
async fn delete_group(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Answer {
    remove(&s, &who, Kind::Group, &id).await
}
