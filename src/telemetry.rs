//! Traces (DESIGN 7.7): the spans signoff opens, and their export over OTLP when `[telemetry] otlp_endpoint` is set.
//!
//! **Spans.** All at `INFO`, so they also frame the log lines written inside them:
//! - `http request` ([`crate::http`]): one per HTTP request, with `http.request.method`, `http.route` (the matched
//!   route template, never the raw path with its query), `http.response.status_code`, `latency_ms` and `request_id`
//!   (the caller's sane `x-request-id`, else a fresh one, echoed in the response).
//! - `commit` ([`crate::runtime`]): one per job the committer applies, a child of the span that submitted the job
//!   (for a click, its `http request`); it lasts as long as the group commit that carried the job.
//! - `chat call` / `webhook call`: one per delivery attempt of an outbox row, a child of the `commit` span that
//!   wrote the row.
//!
//! No span or event carries a header value, a body, a query string, a token or a secret: the fields are the ones
//! above plus outbox keys, kinds and platforms.
//!
//! **From the commit to the chat call.** The committer writes outbox rows and a dispatcher delivers them later,
//! possibly on another replica, after a restart, or on the fifth retry minutes later. So the link is stored with
//! the row: the `commit` span's W3C `traceparent` goes in the row's `traceparent` column (migration 0011), and the
//! delivery's span takes it as its remote parent ([`follow`]). An in-memory map from outbox key to span would lose
//! the link in each of those cases and need eviction of its own. Without an exporter nothing is written there (the
//! column stays NULL) and nothing is read back.
//!
//! **Export.** OTLP/HTTP with protobuf bodies, batched on the tokio runtime, flushed by [`Telemetry::shutdown`]. Without
//! `otlp_endpoint` there is no OpenTelemetry layer at all: the spans cost what plain `tracing` spans cost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::config::TelemetryConfig;

/// Whether spans are exported (an OpenTelemetry layer is installed): when not, no `traceparent` is computed or read.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The path OTLP/HTTP collectors take traces on.
const TRACES_PATH: &str = "/v1/traces";

/// A layer for the process's subscriber.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The exporter, while traces are exported. Call [`Telemetry::shutdown`] before the runtime ends, so the last spans
/// are sent.
#[must_use = "shut it down to flush the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// No export.
    pub fn off() -> Telemetry {
        Telemetry { provider: None }
    }

    /// With `otlp_endpoint` set, an exporter and the layer that feeds it; without, nothing. Must run inside the tokio
    /// runtime that will carry the exports.
    pub fn start(config: &TelemetryConfig) -> Result<(Telemetry, Option<BoxedLayer>), String> {
        let Some(endpoint) = &config.otlp_endpoint else { return Ok((Telemetry::off(), None)) };
        let https = crate::webhook::https_connector()?;
        let client = opentelemetry_http::hyper::HyperClient::new(https, EXPORT_TIMEOUT, None);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("[telemetry] otlp_endpoint: {e}"))?;
        let processor = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(Resource::builder().with_service_name(config.service_name.clone()).build())
            .build();
        let tracer = provider.tracer("signoff");
        // Our own spans and the events inside them; not the libraries' (their fields are not ours to vouch for).
        let filter = Targets::new().with_default(LevelFilter::OFF).with_target("signoff", LevelFilter::INFO);
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_location(false)
            // No busy/idle counters: a commit span is never entered (it spans the group commit), so they would say 0.
            .with_tracked_inactivity(false)
            .with_filter(filter)
            .boxed();
        EXPORTING.store(true, Ordering::Relaxed);
        Ok((Telemetry { provider: Some(provider) }, Some(layer)))
    }

    /// Sends the spans still buffered and stops exporting.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        EXPORTING.store(false, Ordering::Relaxed);
        // The SDK blocks this thread until the export task (on the runtime's workers) is done.
        let result = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the last traces could not be exported"),
            Err(e) => tracing::warn!(error = %e, "the last traces could not be exported"),
        }
    }
}

/// `{endpoint}/v1/traces`, unless the endpoint already names that path.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with(TRACES_PATH) { base.to_owned() } else { format!("{base}{TRACES_PATH}") }
}

/// The W3C `traceparent` of `span`, while traces are exported; else `None` (and nothing is computed).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    if !EXPORTING.load(Ordering::Relaxed) {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| format!("00-{:032x}-{:016x}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags()))
}

/// Makes `span` a child of the span a stored `traceparent` names (the commit that wrote an outbox row). Call it
/// before `span` is first entered. Does nothing when traces are not exported or the text is not a `traceparent`.
pub fn follow(span: &tracing::Span, traceparent: &str) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    if let Some(sc) = parse_traceparent(traceparent) {
        let _ = span.set_parent(Context::new().with_remote_span_context(sc));
    }
}

/// A version-00 W3C `traceparent`: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, ids not all zero.
fn parse_traceparent(text: &str) -> Option<SpanContext> {
    let mut parts = text.split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if version != "00" || parts.next().is_some() || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    let sc = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_parse_strictly() {
        let sc = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(format!("{:032x}", sc.trace_id()), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(format!("{:016x}", sc.span_id()), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("https://otel.example.com/v1/traces"), "https://otel.example.com/v1/traces");
        assert_eq!(traces_url("https://otel.example.com/tenant-a"), "https://otel.example.com/tenant-a/v1/traces");
    }

    #[test]
    fn nothing_is_computed_without_an_exporter() {
        // No exporter in unit tests: the commit path pays nothing for the column it would fill.
        let span = tracing::info_span!("commit");
        assert_eq!(traceparent(&span), None);
    }
}
