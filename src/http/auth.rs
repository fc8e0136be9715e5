//! Bearer tokens for `/api/v1`: `Authorization: Bearer <token>`, one of `[api] tokens`.
//!
//! Tokens are compared through their SHA-256 digests, so the comparison time says nothing about how much
//! of a guess was right.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

pub(super) async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        return unauthorized("missing `Authorization: Bearer <token>` header");
    };
    let digest = Sha256::digest(given.as_bytes());
    let ok = state.tokens.iter().any(|t| Sha256::digest(t.expose_secret().as_bytes()) == digest);
    if !ok {
        return unauthorized("invalid bearer token");
    }
    next.run(req).await
}

fn unauthorized(message: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    resp.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
    resp
}
