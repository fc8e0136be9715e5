//! The provisioning webhook's receiver: an axum server in the test process that records every delivery and
//! answers 200.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::task::JoinHandle;

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-Signoff-Delivery`.
    pub id: String,
    /// The body's `event`.
    pub event: String,
    /// The body's `item`.
    pub item: String,
    /// Whether `X-Signoff-Signature` matched the body and timestamp.
    pub signed: bool,
}

/// The running receiver.
pub struct Receiver {
    /// Where it listens (`http://127.0.0.1:PORT/hook`).
    pub url: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Listens on a free port.
    pub async fn start(secret: &'static str) -> anyhow::Result<Receiver> {
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let app = Router::new().route("/hook", post(receive)).with_state((deliveries.clone(), secret));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url: format!("http://{addr}/hook"), deliveries, task })
    }

    /// Everything received so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State((deliveries, secret)): State<(Arc<Mutex<Vec<Delivery>>>, &'static str)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let signed = header("x-signoff-timestamp")
        .parse::<i64>()
        .is_ok_and(|ts| signoff::webhook::signature(secret.as_bytes(), ts, &body) == header("x-signoff-signature"));
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |name: &str| json[name].as_str().unwrap_or_default().to_owned();
    deliveries.lock().unwrap().push(Delivery {
        id: header("x-signoff-delivery"),
        event: field("event"),
        item: field("item"),
        signed,
    });
    StatusCode::OK
}
