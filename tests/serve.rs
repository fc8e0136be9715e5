//! `signoff serve` as an operator runs it: JSON logs on request, no secret in any log line (even when
//! deliveries fail and callbacks are forged), and SIGTERM drains and exits 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Secrets put in the config; none may appear in a log line.
const SECRETS: [&str; 5] = [
    "tok-SECRET-api-123",
    "slack-signing-SECRET-456",
    "xoxb-SECRET-bot-789",
    "hook-SECRET-000",
    "discord-bot-SECRET-321",
];

/// The address the service announced in its JSON "signoff is ready" line (it binds port 0: a port picked by the
/// test beforehand could be taken by another test before the service binds it).
fn announced_addr(log: &Path, started: Instant) -> SocketAddr {
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let ready = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == "signoff is ready");
        if let Some(addr) = ready.as_ref().and_then(|v| v["addr"].as_str()) {
            return addr.parse().expect("the announced address parses");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not ready within 30 s:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 exchange on a fresh connection; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let config = format!(
        r#"[server]
listen = "127.0.0.1:0"
[database]
url = "sqlite://{db}"
[directory]
path = "{dir}"
[policies]
path = "{policies}"
[api]
tokens = ["{api}"]
[slack]
signing_secret = "{signing}"
bot_token = "{bot}"
api_url = "http://127.0.0.1:9/api"
[discord]
application_id = "123456789012345678"
public_key = "{key}"
bot_token = "{discord}"
api_url = "http://127.0.0.1:9/api/v10"
[webhooks]
url = "http://127.0.0.1:9/hook"
secret = "{hook}"
"#,
        db = dir.join("signoff.db").display(),
        dir = examples.join("directory").display(),
        policies = examples.join("policies").display(),
        api = SECRETS[0],
        signing = SECRETS[1],
        bot = SECRETS[2],
        hook = SECRETS[3],
        discord = SECRETS[4],
        key = "11".repeat(32),
    );
    let path = dir.join("signoff.toml");
    std::fs::write(&path, config).expect("writing the config");
    path
}

#[test]
fn serve_logs_json_without_secrets_and_drains_on_sigterm() {
    // Arrange: a service whose chat platforms and webhook are unreachable, so deliveries fail and are logged.
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(dir.path());
    let log = std::fs::File::create(dir.path().join("log.jsonl")).expect("a log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--log-format", "json"])
        .env_remove("RUST_LOG")
        .env("SIGNOFF_LOG", "debug,sqlx=warn,hyper=warn,h2=warn,rustls=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("signoff serve starts");
    let started = Instant::now();
    let addr = announced_addr(&dir.path().join("log.jsonl"), started);
    while http(addr, "GET", "/readyz", &[], "").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "not ready within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Act: a request (prompts go to unreachable Slack and Discord), a wrong token, a forged Slack callback.
    let auth = format!("Bearer {}", SECRETS[0]);
    let json = ("content-type", "application/json");
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/requests",
        &[("authorization", &auth), json],
        r#"{"requester":"ana@example.com","resource":"salesforce","role":"admin"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (status, _) = http(addr, "GET", "/api/v1/requests", &[("authorization", "Bearer tok-WRONG"), json], "");
    assert_eq!(status, 401);
    let (status, _) = http(
        addr,
        "POST",
        "/slack/interactions",
        &[
            ("x-slack-request-timestamp", "1"),
            ("x-slack-signature", "v0=00"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "payload=%7B%7D",
    );
    assert_eq!(status, 401);
    std::thread::sleep(Duration::from_millis(1500)); // let failed deliveries be attempted and logged
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(term.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting") {
            break s;
        }
        assert!(stopping.elapsed() < Duration::from_secs(40), "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };

    // Assert
    assert_eq!(status.code(), Some(0), "SIGTERM drains and exits 0");
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).expect("the log");
    assert!(log.lines().count() > 5, "the service logged what it did:\n{log}");
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some(), "{line}");
        for secret in SECRETS {
            assert!(!line.contains(secret), "a secret leaked into the log: {line}");
        }
    }
    assert!(log.contains("signoff is ready") && log.contains("stopped"), "{log}");
}
