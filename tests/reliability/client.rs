//! A small HTTP/1.1 JSON client on hyper-util (no reqwest): one attempt per call, errors as strings.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Longest one call may take. A live server answers in milliseconds; a killed one resets the connection.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Talks to `/api/v1` with a bearer token.
#[derive(Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    token: String,
}

impl Api {
    /// A client sending `Authorization: Bearer <token>`.
    pub fn new(token: &str) -> Api {
        // No pooled connections: a connection to a killed server must never be reused for a call to the next.
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build_http();
        Api { client, token: token.to_owned() }
    }

    /// One call; the body is parsed as JSON (`null` when empty or not JSON).
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let mut req =
            hyper::Request::builder().method(method).uri(url).header("authorization", format!("Bearer {}", self.token));
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        let attempt = async {
            let resp = self.client.request(req).await.map_err(|e| format!("{e:?}"))?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
        };
        match tokio::time::timeout(CALL_TIMEOUT, attempt).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}s", CALL_TIMEOUT.as_secs())),
        }
    }

    /// `GET url`.
    pub async fn get_raw(&self, url: &str) -> Result<(u16, Value), String> {
        self.call(Method::GET, url, None).await
    }
}
