//! The web pages of DESIGN 7.6: an inbox, one's requests, a request form, a request's page with its approval
//! path, one's grants; and how people sign in to them.
//!
//! Server-rendered HTML ([`askama`] templates, checked at compile time) that works without JavaScript: every
//! action is a plain form POST carrying the session's CSRF token, answered with a redirect. Every page is sent
//! with a strict Content-Security-Policy and `X-Frame-Options: DENY` ([`security_headers`]). Decisions go through
//! the same runtime calls as chat and the API, recorded with channel `web`, so the refusals and the audit trail
//! are the same.
//!
//! - [`session`]: the signed session cookie and the encrypted sign-in flow cookie.
//! - [`oidc`]: OpenID Connect sign-in (authorization code with PKCE, state and nonce).
//! - [`pages`]: the handlers and their templates.
//! - [`picture`]: the approval path as an SVG picture, for `/requests/{id}` and `signoff simulate --svg`.

pub mod oidc;
pub mod pages;
pub mod picture;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};

use crate::config::Config;
use crate::http::AppState;

/// The Content-Security-Policy of every page: only our own origin, no inline script or style, no plugins, never
/// framed, forms post only to us.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What the pages need beyond [`AppState`].
pub struct Web {
    /// Reads and writes the cookies.
    pub cookies: session::Cookies,
    /// The "sign in as" list instead of OpenID Connect (loopback only; checked by the config).
    pub dev_login: bool,
    /// OpenID Connect, when configured.
    pub oidc: Option<oidc::Oidc>,
    /// `[server] public_url`, for the redirect URI given to the provider.
    pub public_url: Option<String>,
    /// How recent and how strong a sign-in must be to decide a `step_up` node.
    pub step_up: oidc::StepUp,
}

impl Web {
    /// The pages' settings, or `None` when nobody can sign in (no `[web.oidc]`, no `dev_login`): then the pages
    /// are not served at all.
    pub fn from_config(config: &Config, listening: std::net::SocketAddr) -> anyhow::Result<Option<Arc<Web>>> {
        let web = &config.web;
        if !web.enabled() {
            return Ok(None);
        }
        let key = match &web.session_key {
            Some(k) => crate::config::session_key_bytes(secrecy::ExposeSecret::expose_secret(k))
                .map_err(|e| anyhow::anyhow!("`web.session_key` {e}"))?,
            // dev_login alone (loopback): sessions last as long as the process.
            None => rand::random::<[u8; 64]>().to_vec(),
        };
        let secure =
            config.server.public_url.as_deref().is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"));
        let oidc = match &web.oidc.issuer {
            Some(_) => Some(oidc::Oidc::new(&web.oidc, config.server.public_url.as_deref(), listening)?),
            None => None,
        };
        Ok(Some(Arc::new(Web {
            cookies: session::Cookies::new(&key, secure),
            dev_login: web.dev_login,
            oidc,
            public_url: config.server.public_url.clone(),
            step_up: oidc::StepUp {
                max_age: web.oidc.step_up_max_age.as_secs() as i64,
                amr: web.oidc.step_up_amr.clone(),
            },
        })))
    }
}

/// The pages' routes; empty when the web is off (the paths then answer 404 like any unknown route).
pub fn router(state: &AppState) -> Router<AppState> {
    if state.web.is_none() {
        return Router::new();
    }
    pages::router()
        // After routing, like the API's, so the latency histogram is labelled with the route template.
        .route_layer(middleware::from_fn(crate::http::track))
        .layer(middleware::from_fn(security_headers))
}

/// The headers every page carries: the CSP, no framing, no sniffing, no caching of personal pages, and no
/// request URL (which holds request ids) sent to other sites.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// An error shown as a page (the API's errors are JSON; a person gets HTML).
#[derive(Debug)]
pub struct WebError {
    /// The status.
    pub status: StatusCode,
    /// What went wrong, in words for the person (never a secret).
    pub message: String,
}

impl WebError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError { status, message: message.into() }
    }
}

impl From<crate::http::error::ApiError> for WebError {
    fn from(e: crate::http::error::ApiError) -> WebError {
        WebError { status: e.status, message: e.message }
    }
}

impl From<crate::runtime::RuntimeError> for WebError {
    fn from(e: crate::runtime::RuntimeError) -> WebError {
        crate::http::error::ApiError::from(e).into()
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> WebError {
        crate::runtime::RuntimeError::Store(e).into()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = pages::ErrorPage {
            layout: pages::Layout::anonymous("Something went wrong"),
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message,
        };
        let mut resp = html(&page);
        *resp.status_mut() = self.status;
        resp
    }
}

/// Renders a template, or a plain 500 when the template fails (it cannot, short of a bug).
pub(crate) fn html(page: &impl askama::Template) -> Response {
    match page.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Error</title><p>internal error</p>"))
                .into_response()
        }
    }
}
