//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of every `/api/v1` route (DESIGN 7.7), plus `/healthz`
//! and `/readyz`.
//!
//! Generated from the code: each handler carries a `#[utoipa::path]` with its body and the errors it answers
//! itself, and the bodies derive `ToSchema`. What the layers around the handlers answer for every route (401
//! without a valid token, 403 for a scope the token lacks, 413 for a body over the limit, 503 past the handler
//! deadline, 500 when the database fails) is added here once, by [`Layers`], with the bearer requirement.
//! Not described: `/scim/v2` (SCIM has its own discovery endpoints) and the Slack and Discord callbacks (the
//! platforms call them, not integrators).

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::error::ErrorBody;
use super::{audit, grants, health, requests};
use crate::engine::ItemStatus;

/// Where the document is served (public: no token).
pub const PATH: &str = "/api/v1/openapi.json";

/// The name of the bearer scheme in `components.securitySchemes`.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "signoff",
        description = "Approval orchestrator: requests, decisions, grants and their audit trail. Every `/api/v1` \
                       route but this document needs `Authorization: Bearer <token>`; every error is JSON \
                       `{\"error\": \"...\"}` and changes nothing."
    ),
    paths(
        requests::create,
        requests::list,
        requests::read,
        requests::decide,
        requests::cancel,
        grants::read,
        grants::release,
        audit::trail,
        openapi_json,
        health::healthz,
        health::readyz,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Layers),
    tags(
        (name = "requests", description = "Ask for access, decide, cancel"),
        (name = "grants", description = "The access approved requests gave"),
        (name = "audit", description = "The hash-chained trail"),
        (name = "health", description = "Liveness and readiness (no token)"),
    )
)]
pub struct ApiDoc;

/// The document, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi().to_json().unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
});

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "openapi", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", content_type = "application/json",
        body = Object)))]
pub(super) async fn openapi_json() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// The statuses the layers around every `/api/v1` handler answer (see `super::router`), with the bearer
/// requirement, added to each operation under `/api/v1` except this document.
struct Layers;

/// What the layers answer: status and description.
const LAYER_ERRORS: [(&str, &str); 5] = [
    ("401", "No `Authorization: Bearer <token>` header, or an unknown token"),
    ("403", "The token's scopes do not cover this route, or it may not act for the person named (audited)"),
    ("413", "The request body is over 64 KiB"),
    ("500", "Internal error (logged); the request was not applied"),
    (
        "503",
        "No answer within the handler deadline, or the service is shutting down: read the state back before retrying",
    ),
];

impl Modify for Layers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(BEARER, SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path == PATH {
                continue;
            }
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in operations.into_iter().flatten() {
                add_layers(op);
            }
        }
    }
}

fn add_layers(op: &mut Operation) {
    op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    for (status, description) in LAYER_ERRORS {
        op.responses.responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
    }
}

/// A response carrying [`ErrorBody`].
fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build(),
        )
        .build()
        .into()
}

// The engine knows nothing of HTTP, so its types are described here rather than derived there.

impl PartialSchema for ItemStatus {
    fn schema() -> RefOr<Schema> {
        let all = [
            ItemStatus::Requested,
            ItemStatus::Escalated,
            ItemStatus::Approved,
            ItemStatus::Denied,
            ItemStatus::Expired,
            ItemStatus::Cancelled,
        ];
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(all.map(ItemStatus::as_str)))
            .description(Some("Where an item stands; a request's state summarizes its items'"))
            .into()
    }
}

impl ToSchema for ItemStatus {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ItemStatus")
    }
}

impl PartialSchema for crate::time::Duration {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A length of time: `90s`, `30m`, `48h`, `7d`, `2w`, or combined (`1h30m`)"))
            .examples(["8h"])
            .into()
    }
}

impl ToSchema for crate::time::Duration {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Duration")
    }
}
