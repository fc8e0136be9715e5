//! One span per request, and a request id on every answer (see [`crate::telemetry`] for where spans go).
//!
//! The span, `http request`, is tower-http's [`TraceLayer`] with our own fields: `http.request.method`,
//! `http.route` (recorded once routing matched, from axum's [`MatchedPath`](axum::extract::MatchedPath): the route
//! template such as `/api/v1/requests/{id}`, never the raw path or its query), `http.response.status_code`,
//! `latency_ms` (until the response head) and `request_id`. No header value, body or query string is ever recorded:
//! a Slack click's body holds its token, an API call's headers its bearer token.
//!
//! The request id is the caller's `x-request-id` when it looks like an id (1 to 64 of `A-Z a-z 0-9 - _ . :`), else
//! a fresh ULID; the handlers see it in that header and the response carries it back.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::trace::{MakeSpan, OnFailure, OnResponse, TraceLayer};
use tracing::Span;
use tracing::field::Empty;

/// The header carrying the request id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id kept.
const MAX_REQUEST_ID: usize = 64;

/// The request's id, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The caller's request id, if it is one we can safely repeat in logs and headers.
fn sane(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    // Only ASCII passed, so this cannot fail.
    ok.then(|| value.to_str().ok()).flatten()
}

/// A fresh id: a lower-case ULID (sorts by time, never collides).
fn fresh() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    ulid::Ulid::from_parts(ms, rand::random::<u128>()).to_string().to_lowercase()
}

/// Gives every request an id (the caller's, when sane) before the span opens, and echoes it in the response.
pub(super) async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req.headers().get(&X_REQUEST_ID).and_then(sane).map_or_else(fresh, str::to_owned);
    let value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &value {
        req.headers_mut().insert(X_REQUEST_ID, v.clone());
    }
    req.extensions_mut().insert(RequestId(id));
    let mut resp = next.run(req).await;
    if let Some(v) = value {
        resp.headers_mut().insert(X_REQUEST_ID, v);
    }
    resp
}

/// Opens `http request` with the fields known before routing; the others are recorded as they become known.
#[derive(Clone, Copy, Debug)]
pub(super) struct RequestSpan;

impl MakeSpan<Body> for RequestSpan {
    fn make_span(&mut self, req: &Request) -> Span {
        let id = req.extensions().get::<RequestId>().map_or("", |r| r.0.as_str());
        tracing::info_span!(
            "http request",
            http.request.method = %req.method(),
            http.route = Empty,
            http.response.status_code = Empty,
            latency_ms = Empty,
            request_id = id,
            otel.status_code = Empty,
        )
    }
}

/// Records the status and the latency to the response head.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecordResponse;

impl<B> OnResponse<B> for RecordResponse {
    fn on_response(self, resp: &Response<B>, latency: Duration, span: &Span) {
        span.record("http.response.status_code", resp.status().as_u16());
        span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    }
}

/// Marks a 5xx (or a failed body) as an error in the trace; the handler logs its cause.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecordFailure;

impl OnFailure<ServerErrorsFailureClass> for RecordFailure {
    fn on_failure(&mut self, _class: ServerErrorsFailureClass, _latency: Duration, span: &Span) {
        span.record("otel.status_code", "error");
    }
}

/// The span layer: [`RequestSpan`], [`RecordResponse`], [`RecordFailure`], and nothing logged per request (the
/// metrics count requests; a log line per request would cost the click path for nothing).
pub(super) fn layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    RequestSpan,
    (),
    RecordResponse,
    (),
    (),
    RecordFailure,
> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(RecordResponse)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(RecordFailure)
}

/// Records the matched route template in the request's span (called after routing).
pub(super) fn record_route(route: &str) {
    Span::current().record("http.route", route);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_kept() {
        for good in ["abc", "4bf92f35-77b3-4da6", "req_01jx.2:3", &"a".repeat(64)] {
            assert_eq!(sane(&HeaderValue::from_str(good).unwrap()), Some(good));
        }
        for bad in ["", "a b", "a\tb", "x=1&token=secret", "<script>", "é", &"a".repeat(65)] {
            let Ok(v) = HeaderValue::from_str(bad) else { continue };
            assert_eq!(sane(&v), None, "{bad:?}");
        }
        assert_eq!(sane(&HeaderValue::from_bytes(b"\xff\xfe").unwrap()), None);
    }

    #[test]
    fn fresh_ids_are_sane_and_differ() {
        let (a, b) = (fresh(), fresh());
        assert_ne!(a, b);
        assert_eq!(a.len(), 26);
        assert_eq!(sane(&HeaderValue::from_str(&a).unwrap()), Some(a.as_str()));
    }
}
