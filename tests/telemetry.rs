//! Traces, end to end: `signoff serve` with `[telemetry] otlp_endpoint` pointing at a small OTLP receiver
//! (`tests/support/otlp.rs`), chatting with a fake Slack. A request through the API and a signed Slack approve click
//! must each come out as one trace, `http request` → `commit` → `chat call`, with route templates, statuses and
//! request ids, and no secret anywhere in the spans. Also: every answer carries an `x-request-id`.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake_slack::{self, FakeSlack};
use support::otlp::{OtlpReceiver, ReceivedSpan};
use support::*;

/// The API token in the child's config: it must appear in no span.
const API_TOKEN: &str = "tok-TRACE-api-SECRET-4242";

/// A `signoff serve` child, killed if the test fails before stopping it.
struct Serve {
    child: Child,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// SIGTERM, then the exit code once it has drained (and flushed its traces).
    async fn stop(&mut self) -> Option<i32> {
        let term = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(term.success());
        let stopping = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("waiting for signoff") {
                return s.code();
            }
            assert!(stopping.elapsed() < Duration::from_secs(40), "signoff did not stop after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Starts `signoff serve` on `127.0.0.1:0` chatting with `fake` and exporting to `otlp`; returns it and its base URL
/// (read from its JSON "signoff is ready" line).
async fn serve(dir: &Path, database_url: &str, fake: &FakeSlack, otlp: &OtlpReceiver) -> (Serve, String) {
    std::fs::write(dir.join("directory.yaml"), default_directory()).unwrap();
    std::fs::write(dir.join("policies.yaml"), DEFAULT_POLICIES).unwrap();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"{database_url}\"\n[directory]\npath = \"{dir}/directory.yaml\"\n\
         [policies]\npath = \"{dir}/policies.yaml\"\n[api]\ntokens = [\"{API_TOKEN}\"]\n\
         [telemetry]\notlp_endpoint = \"{otlp}\"\nservice_name = \"signoff-trace-test\"\n\
         [slack]\nsigning_secret = \"{secret}\"\nbot_token = \"{bot}\"\napi_url = \"{api}\"\nteam_id = \"{team}\"\n",
        dir = dir.display(),
        otlp = otlp.endpoint(),
        secret = fake_slack::SIGNING_SECRET,
        bot = fake_slack::BOT_TOKEN,
        api = fake.api_url(),
        team = fake_slack::TEAM,
    );
    std::fs::write(dir.join("signoff.toml"), config).unwrap();
    let log_path = dir.join("log.jsonl");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = signoff_command(dir)
        .args(["serve", "--config", "signoff.toml", "--log-format", "json"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("signoff serve starts");
    let serve = Serve { child };
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let addr = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == "signoff is ready")
            .and_then(|v| v["addr"].as_str().map(str::to_owned));
        if let Some(addr) = addr {
            return (serve, format!("http://{addr}"));
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not ready within 30 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The one span named `name` whose attribute `key` is `value`.
fn find<'a>(spans: &'a [ReceivedSpan], name: &str, key: &str, value: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == name && s.attr(key) == Some(value)).collect();
    assert_eq!(found.len(), 1, "one `{name}` span with {key}={value}, among:\n{spans:#?}");
    found[0]
}

/// The children of `parent` named `name`, each checked to be in its trace.
fn children<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan, name: &str) -> Vec<&'a ReceivedSpan> {
    let found: Vec<&ReceivedSpan> =
        spans.iter().filter(|s| s.name == name && s.parent_span_id == parent.span_id).collect();
    for s in &found {
        assert_eq!(s.trace_id, parent.trace_id, "a child is in its parent's trace: {s:#?}");
    }
    found
}

#[tokio::test]
async fn a_click_is_one_trace_from_the_http_request_through_the_commit_to_the_chat_call() {
    for db in test_databases() {
        let mut database = db.create().await;
        bounded(click_is_one_trace(&database.url)).await;
        database.drop_database().await;
    }
}

/// The scenario of the test above, on the database at `database_url`.
async fn click_is_one_trace(database_url: &str) {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeSlack::start().await;
    let otlp = OtlpReceiver::start().await;
    let (mut serve, base) = serve(dir.path(), database_url, &fake, &otlp).await;
    let api = ApiClient::new(base, API_TOKEN);
    let created = api.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let raj = slack_id(RAJ);
    let prompt = fake.wait_for_prompts(&[&raj]).await.remove(0);
    let read = api.call("GET", &format!("/api/v1/requests/{id}?verbose=1"), None, Some(API_TOKEN), None).await;
    assert_eq!(read.status, 200, "{}", read.text);

    // Act: Raj approves on Slack; the click carries its own request id.
    let (block_id, button) = prompt.button("approve");
    let payload = fake_slack::click_payload(&raj, &prompt, &block_id, &button, &fake.response_url());
    let body = fake_slack::form_payload(&payload);
    let ts = fake_slack::now_unix();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
        ("x-slack-request-timestamp", ts.to_string()),
        ("x-slack-signature", fake_slack::sign(fake_slack::SIGNING_SECRET, ts, body.as_bytes())),
        ("x-request-id", "click-0001.trace".to_owned()),
    ];
    let click = api.post_with_headers("/slack/interactions", body.as_bytes(), &headers).await;
    assert_eq!(click.status, 200, "{}", click.text);
    assert_eq!(click.headers["x-request-id"], "click-0001.trace", "a sane request id is echoed");
    let closed = fake.wait_for_closed(&raj).await;
    assert!(closed.all_text().contains("You approved this"), "{}", closed.all_text());
    let code = serve.stop().await;

    // Assert: the last spans were flushed at shutdown.
    assert_eq!(code, Some(0), "SIGTERM drains and exits 0");
    let spans = otlp.spans();
    assert!(otlp.requests() >= 1 && !spans.is_empty(), "traces were exported");
    assert!(spans.iter().all(|s| s.service == "signoff-trace-test"), "{spans:#?}");

    // The click: its span, the commit it caused, and the chat.update that closed the clicked prompt.
    let http = find(&spans, "http request", "request_id", "click-0001.trace");
    assert_eq!(http.attr("http.route"), Some("/slack/interactions"), "{http:#?}");
    assert_eq!(http.attr("http.request.method"), Some("POST"), "{http:#?}");
    assert_eq!(http.attr("http.response.status_code"), Some("200"), "{http:#?}");
    assert!(http.attr("latency_ms").and_then(|l| l.parse::<f64>().ok()).is_some_and(|l| l > 0.0), "{http:#?}");
    let commits = children(&spans, http, "commit");
    assert_eq!(commits.len(), 1, "one commit under the click: {spans:#?}");
    let commit = commits[0];
    assert_eq!(commit.attr("work"), Some("answer"), "{commit:#?}");
    let calls = children(&spans, commit, "chat call");
    let close = calls
        .iter()
        .find(|c| c.attr("outbox.kind") == Some("prompt.close") && c.attr("outcome") == Some("done"))
        .unwrap_or_else(|| panic!("the clicked prompt's closing is a chat call under the commit: {spans:#?}"));
    assert_eq!(close.attr("chat.platform"), Some("slack"), "{close:#?}");

    // The API request: a fresh request id, echoed; the route template; the prompt sent under its commit.
    let create = spans
        .iter()
        .find(|s| s.name == "http request" && s.attr("http.route") == Some("/api/v1/requests"))
        .unwrap_or_else(|| panic!("the create's span: {spans:#?}"));
    assert_eq!(create.attr("http.response.status_code"), Some("201"), "{create:#?}");
    assert_eq!(create.attr("request_id").map(str::len), Some(26), "a ULID: {create:#?}");
    let create_commit = children(&spans, create, "commit");
    assert_eq!(create_commit.len(), 1, "{spans:#?}");
    assert_eq!(create_commit[0].attr("work"), Some("create"));
    let sends = children(&spans, create_commit[0], "chat call");
    assert!(sends.iter().any(|c| c.attr("outbox.kind") == Some("prompt.send")), "{spans:#?}");
    assert_ne!(create.trace_id, http.trace_id, "the click is a trace of its own");

    // The read: the route template, never the id or the query.
    let get = find(&spans, "http request", "http.route", "/api/v1/requests/{id}");
    assert_eq!(get.attr("http.response.status_code"), Some("200"), "{get:#?}");
    for s in &spans {
        let text = s.all_text();
        for secret in [fake_slack::SIGNING_SECRET, fake_slack::BOT_TOKEN, API_TOKEN, "Bearer"] {
            assert!(!text.contains(secret), "a secret in a span: {text}");
        }
        assert!(!text.contains("verbose=1") && !text.contains(&format!("requests/{id}")), "{text}");
        // Nothing of the click's body (its payload, with Slack's verification token and the prompt's value).
        assert!(!text.contains("9s8d9as89d8as9d8as989") && !text.contains("block_actions"), "{text}");
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_the_callers_when_sane() {
    bounded(async {
        let app = spawn_app(AppOptions::new()).await;
        let auth = ("authorization", format!("Bearer {TOKEN}"));
        let json_ct = ("content-type", "application/json".to_owned());
        let body = json!({ "requester": ANA, "resource": "wiki" }).to_string();

        // A sane id is kept.
        let kept = app
            .post_with_headers(
                "/api/v1/requests",
                body.as_bytes(),
                &[auth.clone(), json_ct.clone(), ("x-request-id", "4bf92f35-77b3.4da6:a_1".to_owned())],
            )
            .await;
        assert_eq!(kept.status, 201, "{}", kept.text);
        assert_eq!(kept.headers["x-request-id"], "4bf92f35-77b3.4da6:a_1");

        // None, or one that is not an id, gets a fresh one; errors carry it too.
        for (sent, path) in [
            (None, "/api/v1/requests"),
            (Some("has spaces in it"), "/api/v1/requests"),
            (Some(&*"x".repeat(65)), "/api/v1/requests"),
            (Some("a=b&token=c"), "/no/such/route"),
        ] {
            let mut headers = vec![auth.clone(), json_ct.clone()];
            if let Some(s) = sent {
                headers.push(("x-request-id", s.to_owned()));
            }
            let resp = app.post_with_headers(path, body.as_bytes(), &headers).await;
            assert!(resp.status == 201 || resp.status == 404, "{}", resp.text);
            let id = resp.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert_eq!(id.len(), 26, "{sent:?} -> {id:?}");
            assert!(id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()), "{id}");
            assert_ne!(Some(id), sent);
        }
        let a = app.call("GET", "/healthz", None, None, None).await;
        let b = app.call("GET", "/healthz", None, None, None).await;
        assert_ne!(a.headers["x-request-id"], b.headers["x-request-id"], "each request has its own");
    })
    .await;
}
