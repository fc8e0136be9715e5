//! The provisioning webhook: `POST [webhooks].url` with a signed JSON body.
//!
//! Headers: `X-Signoff-Delivery` (the outbox row's idempotency key: the same on every retry, so the
//! receiver can drop duplicates), `X-Signoff-Timestamp` (Unix seconds of this attempt) and
//! `X-Signoff-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`. The body is fixed when the
//! row is written, so every retry sends the same bytes.

use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;

/// How long one delivery attempt may take before it counts as failed (a hanging receiver).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The JSON body, as the contract fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Payload {
    /// `grant.created`, `grant.ended` or `item.denied`.
    pub event: String,
    /// The request id.
    pub request: String,
    /// The item id.
    pub item: String,
    /// The beneficiary's user id.
    pub user: String,
    /// The resource id.
    pub resource: String,
    /// The role, if any.
    pub role: Option<String>,
    /// When the grant ends (RFC 3339), for `grant.created` with a limit; else null.
    pub expires_at: Option<String>,
}

/// `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why an attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver answered with a non-2xx status; retry (after `retry_after` if it said so).
    #[error("the receiver answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// From `Retry-After`, when given in seconds.
        retry_after: Option<Duration>,
    },
    /// No answer in time, or the connection failed.
    #[error("{0}")]
    Transport(String),
}

/// A configured webhook target.
#[derive(Clone)]
pub struct Webhook {
    url: hyper::Uri,
    secret: SecretString,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).finish_non_exhaustive()
    }
}

/// An HTTP/1 connector that speaks TLS to `https://` URLs with the system's roots (and plain HTTP to `http://`
/// ones, for receivers on a private network): the webhook's and the OTLP exporter's.
pub(crate) fn https_connector() -> Result<hyper_rustls::HttpsConnector<HttpConnector>, String> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build())
}

impl Webhook {
    /// A target at `url` signing with `secret`.
    pub fn new(url: &str, secret: SecretString) -> Result<Webhook, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("invalid webhook URL: {e}"))?;
        let https = https_connector()?;
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Webhook { url, secret, client })
    }

    /// One attempt: `Ok(status)` on 2xx.
    pub async fn deliver(&self, delivery_id: &str, body: &str, timestamp: i64) -> Result<u16, DeliveryError> {
        let sig = signature(self.secret.expose_secret().as_bytes(), timestamp, body.as_bytes());
        let req = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", concat!("signoff/", env!("CARGO_PKG_VERSION")))
            .header("x-signoff-delivery", delivery_id)
            .header("x-signoff-timestamp", timestamp.to_string())
            .header("x-signoff-signature", sig)
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| DeliveryError::Transport(e.to_string()))?;
        let attempt = async {
            let resp = self.client.request(req).await.map_err(|e| DeliveryError::Transport(e.to_string()))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // Drain the body so the connection can be reused; its content is not used.
            let _ = resp.into_body().collect().await;
            if status.is_success() {
                Ok(status.as_u16())
            } else {
                Err(DeliveryError::Status { status: status.as_u16(), retry_after })
            }
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::Transport(format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Known answer from an independent implementation:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let sig = signature(b"secret", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
    }
}
