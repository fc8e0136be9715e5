//! PostgreSQL: the store migrates, a whole request runs, and several replicas share one database with every
//! effect happening once, including when one of them dies.
//!
//! Each test needs `SIGNOFF_TEST_POSTGRES_URL`, a URL with the right to create databases (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`; `.ci/run` starts such a cluster). Each creates its own
//! database `signoff_t_<random>` and drops it afterwards. Without the variable each test says it is skipped
//! and passes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use secrecy::SecretString;
use signoff::app::{Application, Options};
use signoff::audit::{self, Verdict};
use signoff::catalog::Catalog;
use signoff::chat::memory::{Call, MemoryAdapter};
use signoff::config::Config;
use signoff::engine::{Decision, GrantEnd, ItemStatus};
use signoff::runtime::{NewRequest, RuntimeError, Tuning};
use signoff::store::Store;
use signoff_port::{
    BoxFuture, ChatAdapter, ChatError, ChatUser, Mark, MessageRef, Notification, Platform, PromptClosing, PromptMessage,
};
use sqlx::{AnyPool, Connection, Row};

const SECRET: &str = "pg-test-webhook-secret";

// ---------------------------------------------------------------------------------------------------------
// A database per test.

/// Tests in this file run one at a time: each starts replicas with pools of their own, and together they
/// would exceed a test cluster's connection limit.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The admin URL, or `None` (and a note) when PostgreSQL tests are not configured.
fn admin_url() -> Option<String> {
    match std::env::var("SIGNOFF_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            eprintln!("PostgreSQL tests skipped: SIGNOFF_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// The admin URL with its database name replaced by `name` (query options kept).
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

async fn admin_exec(admin: &str, sql: String) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(admin).await.expect("connect to PostgreSQL as admin");
    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// Runs `test` with the URL of a fresh, empty database, and drops the database afterwards whatever happened.
async fn with_database<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin) = admin_url() else { return };
    let _serial = SERIAL.lock().await;
    let name = format!("signoff_t_{:016x}", rand::random::<u64>());
    admin_exec(&admin, format!("CREATE DATABASE {name}")).await;
    let outcome = tokio::spawn(test(database_url(&admin, &name))).await;
    admin_exec(&admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the test task failed: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The organisation: requesters report to `mgr`, who reports to `boss`, who reports to nobody.

const WORKFLOWS: &str = "\
workflows:
  MANAGER_SLOW:
    manager_expression: { timeout: 1h, on_timeout: escalate }
  TWO_ADMINS:
    app_admin_expression: { number_required: 2, timeout: 1h, on_timeout: escalate }
  QUICK_ESCALATION:
    manager_expression: { timeout: 1s, on_timeout: escalate }
";

const GROUPS: &str = "\
source: okta
groups:
  - id: admins
    name: Admins
    members: [admin1@example.com, admin2@example.com, admin3@example.com]
    owners: [admin1@example.com]
";

/// `wiki`: the manager decides. `vault`: two of three admins. `lab`: the manager has a second, then
/// their manager has a second, then it expires (two timers per item).
const RESOURCES: &str = "\
resources:
  - id: wiki
    kind: app
    admins: [admins]
    workflow: MANAGER_SLOW
  - id: vault
    kind: app
    admins: [admins]
    workflow: TWO_ADMINS
  - id: lab
    kind: app
    admins: [admins]
    workflow: QUICK_ESCALATION
";

const USERS: usize = 12;

fn user(i: usize) -> String {
    format!("user{i:02}@example.com")
}

fn catalog() -> Catalog {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut people = String::from("source: okta\nusers:\n");
    let mut person = |id: &str, manager: Option<&str>, slack: &str| {
        people.push_str(&format!("  - id: {id}\n    name: {id}\n    slack_id: {slack}\n"));
        if let Some(m) = manager {
            people.push_str(&format!("    manager: {m}\n"));
        }
    };
    person("boss@example.com", None, "UBOSS");
    person("mgr@example.com", Some("boss@example.com"), "UMGR");
    for a in 1..=3 {
        person(&format!("admin{a}@example.com"), Some("boss@example.com"), &format!("UADMIN{a}"));
    }
    for i in 0..USERS {
        person(&user(i), Some("mgr@example.com"), &format!("UUSER{i:02}"));
    }
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create folder");
        std::fs::write(path, text).expect("write fixture");
    };
    write("directory/people.yaml", &people);
    write("directory/groups.yaml", GROUPS);
    write("directory/resources.yaml", RESOURCES);
    write("policies/workflows.yaml", WORKFLOWS);
    let mut config = Config::default();
    config.directory.path = dir.path().join("directory");
    config.policies.path = Some(dir.path().join("policies"));
    Catalog::load(&config).unwrap_or_else(|d| panic!("the test catalog loads:\n{d}"))
}

// ---------------------------------------------------------------------------------------------------------
// Replicas, a webhook receiver and chat adapters.

fn tuning(lease: Duration, concurrency: usize) -> Tuning {
    Tuning {
        max_batch: 64,
        lease,
        idle: Duration::from_millis(100),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        concurrency,
        ..Tuning::default()
    }
}

async fn replica(
    url: &str,
    catalog: Catalog,
    chat: Arc<dyn ChatAdapter>,
    webhook: Option<&str>,
    tuning: Tuning,
) -> Application {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().expect("an address");
    config.database.url = url.to_owned();
    if let Some(w) = webhook {
        config.webhooks.url = Some(w.to_owned());
        config.webhooks.secret = Some(SecretString::from(SECRET));
    }
    Application::build(&config, Options { catalog: Some(catalog), chat: Some(vec![chat]), tuning })
        .await
        .expect("the application builds on PostgreSQL")
}

/// A webhook receiver on 127.0.0.1 recording each delivery's `X-Signoff-Delivery` id and event. A stalling
/// one records and never answers (a receiver that a replica is waiting on when it dies).
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(String, String)>>>,
    stall: bool,
}

impl Receiver {
    async fn start(stall: bool) -> (Receiver, String) {
        let r = Receiver { seen: Arc::default(), stall };
        let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (r, format!("http://{addr}/hook"))
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().expect("receiver lock").clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let ts: i64 = header("x-signoff-timestamp").parse().unwrap_or(0);
    if header("x-signoff-signature") != signoff::webhook::signature(SECRET.as_bytes(), ts, body.as_bytes()) {
        return StatusCode::UNAUTHORIZED;
    }
    let event = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|b| b["event"].as_str().map(str::to_owned))
        .unwrap_or_default();
    r.seen.lock().expect("receiver lock").push((header("x-signoff-delivery"), event));
    if r.stall {
        std::future::pending::<()>().await;
    }
    StatusCode::OK
}

/// A chat platform that records what it is asked and never answers.
#[derive(Clone, Default)]
struct Hanging {
    prompts: Arc<Mutex<Vec<String>>>,
}

impl ChatAdapter for Hanging {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn send_prompt<'a>(
        &'a self,
        _to: &'a ChatUser,
        p: &'a PromptMessage,
        _mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        self.prompts.lock().expect("lock").push(p.token.clone());
        Box::pin(std::future::pending())
    }

    fn close_prompt<'a>(&'a self, _m: &'a MessageRef, _c: &'a PromptClosing) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(std::future::pending())
    }

    fn notify<'a>(
        &'a self,
        _to: &'a ChatUser,
        _n: &'a Notification,
        _mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(std::future::pending())
    }

    fn find_copies<'a>(&'a self, _to: &'a ChatUser, _m: &'a Mark) -> BoxFuture<'a, Result<Vec<MessageRef>, ChatError>> {
        Box::pin(std::future::pending())
    }

    fn delete_message<'a>(&'a self, _m: &'a MessageRef) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(std::future::pending())
    }
}

fn approve() -> Decision {
    Decision::Approve { duration: None, comment: None }
}

fn sent_tokens(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Prompt(_, p) => Some(p.token.clone()),
            _ => None,
        })
        .collect()
}

fn closed_tokens(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Close(m, _) => Some(m.message.clone()),
            _ => None,
        })
        .collect()
}

/// A plain HTTP/1.1 GET: the status and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).await.expect("read");
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Waits until `cond` holds, failing with `what` after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count(pool: &AnyPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every item settled, every outbox row done, no timer left.
async fn quiet(pool: &AnyPool) -> bool {
    count(pool, "SELECT COUNT(*) FROM items WHERE status IN ('requested', 'escalated')").await == 0
        && count(pool, "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL").await == 0
        && count(pool, "SELECT COUNT(*) FROM timers").await == 0
}

/// Checks the effects recorded in the database and seen outside against each other: each webhook row
/// delivered to `receiver` exactly once, each prompt sent at most once (exactly once unless closed before it
/// was sent), each prompt closed at most once, no delivery failed, each timer fired once, the audit chain
/// intact. Returns the webhook events delivered, by kind.
async fn assert_each_effect_once(
    pool: &AnyPool,
    store: &Store,
    receiver: &Receiver,
    calls: &[Call],
) -> BTreeMap<String, usize> {
    // Webhooks: one delivery per row, with the row's key as its id.
    let keys: BTreeSet<String> = sqlx::query_scalar("SELECT key FROM outbox WHERE kind = 'webhook'")
        .fetch_all(pool)
        .await
        .expect("webhook rows")
        .into_iter()
        .collect();
    let mut delivered: HashMap<String, usize> = HashMap::new();
    let mut events: BTreeMap<String, usize> = BTreeMap::new();
    for (id, event) in receiver.seen() {
        *delivered.entry(id).or_default() += 1;
        *events.entry(event).or_default() += 1;
    }
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "webhook deliveries repeated: {twice:?}");
    let delivered: BTreeSet<String> = delivered.into_keys().collect();
    assert_eq!(delivered, keys, "every webhook row is delivered, and nothing else");

    // Nothing failed for good.
    let failed: Vec<(String, Option<String>)> =
        sqlx::query("SELECT key, last_error FROM outbox WHERE outcome = 'failed'")
            .fetch_all(pool)
            .await
            .expect("failed rows")
            .iter()
            .map(|r| (r.get("key"), r.get("last_error")))
            .collect();
    assert!(failed.is_empty(), "deliveries failed: {failed:?}");

    // Prompts: each sent once across every adapter; those not sent were closed before they could be.
    let sent = sent_tokens(calls);
    let unique: BTreeSet<String> = sent.iter().cloned().collect();
    assert_eq!(unique.len(), sent.len(), "a prompt was sent twice");
    let rows: Vec<(String, String)> = sqlx::query("SELECT token, outcome FROM outbox WHERE kind = 'prompt.send'")
        .fetch_all(pool)
        .await
        .expect("prompt rows")
        .iter()
        .map(|r| (r.get("token"), r.get("outcome")))
        .collect();
    let recorded_sent: BTreeSet<String> =
        rows.iter().filter(|(_, o)| o.starts_with("sent as")).map(|(t, _)| t.clone()).collect();
    assert_eq!(unique, recorded_sent, "the prompts sent are those recorded as sent");
    for (token, outcome) in &rows {
        assert!(
            outcome.starts_with("sent as") || outcome.starts_with("superseded"),
            "prompt {token}: unexpected outcome {outcome}"
        );
    }
    let prompts = count(pool, "SELECT COUNT(*) FROM prompts").await;
    assert_eq!(rows.len() as i64, prompts, "one send per prompt (one platform)");
    let closes = closed_tokens(calls);
    let unique_closes: BTreeSet<String> = closes.iter().cloned().collect();
    assert_eq!(unique_closes.len(), closes.len(), "a prompt was closed twice");
    assert!(unique_closes.is_subset(&unique), "only sent prompts are closed");

    // Timers: each fired once (the engine records a timer that fires twice as a second event).
    let fired: Vec<(String, String)> = sqlx::query("SELECT item_id, event FROM item_events")
        .fetch_all(pool)
        .await
        .expect("events")
        .iter()
        .map(|r| (r.get("item_id"), r.get("event")))
        .filter_map(|(item, event): (String, String)| {
            let e: serde_json::Value = serde_json::from_str(&event).ok()?;
            (e["event"] == "timer_fired").then(|| (item, e["timer"].to_string()))
        })
        .collect();
    let distinct: BTreeSet<&(String, String)> = fired.iter().collect();
    assert_eq!(distinct.len(), fired.len(), "a timer fired twice: {fired:?}");
    let timer_rows = count(pool, "SELECT COUNT(*) FROM audit WHERE kind = 'timer'").await;
    assert_eq!(timer_rows, fired.len() as i64, "one audit row per timer fired");

    // The audit chain: one chain, no fork, no gap.
    match audit::verify(store).await.expect("the audit trail reads") {
        Verdict::Intact { rows } => {
            assert_eq!(rows, count(pool, "SELECT COUNT(*) FROM audit").await, "every audit row is on the chain")
        }
        Verdict::Broken { seq, problem } => panic!("audit chain broken at {seq}: {problem}"),
    }
    events
}

/// `n` timer-fired events recorded for `item`.
async fn timers_fired(pool: &AnyPool, item: &str) -> usize {
    sqlx::query("SELECT event FROM item_events WHERE item_id = $1")
        .bind(item.to_owned())
        .fetch_all(pool)
        .await
        .expect("events")
        .iter()
        .filter(|r| r.get::<String, _>("event").contains("\"timer_fired\""))
        .count()
}

// ---------------------------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_opens_and_migrates_and_signoff_migrate_runs_twice() {
    with_database(|url| async move {
        // Not migrated yet: not ready, and says what to do.
        let bare = Store::connect(&url).await.expect("connect");
        assert!(bare.ready().await.is_err(), "a database without migrations is not ready");
        bare.close().await;

        // The binary, twice in a row, against the fresh database.
        let dir = tempfile::tempdir().expect("a temporary folder");
        for run in 1..=2 {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"))
                .arg("migrate")
                .current_dir(dir.path())
                .env("SIGNOFF_DATABASE_URL", &url)
                .env("RUST_BACKTRACE", "0")
                .output()
                .expect("signoff migrate runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "run {run}: {stdout}\n{stderr}");
            assert_eq!(stdout.trim(), "migrations applied", "run {run}");
        }

        let store = Store::open(&url).await.expect("open and migrate");
        assert_eq!(store.backend(), signoff::store::Backend::Postgres);

        store.ready().await.expect("ready after migrating");
        store.migrate().await.expect("migrating again is a no-op");
        let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(store.reader())
            .await
            .expect("the audit head");
        assert_eq!(head, 0);
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(store.reader()).await.unwrap();
        assert_eq!(version, postgres_migrations().last().copied());
        store.close().await;
    })
    .await;
}

/// One request from prompt to grant to revocation, another withdrawn, a third that times out twice; the HTTP
/// health routes and `signoff audit verify` on the result. Run on PostgreSQL and, as a reference, on SQLite.
async fn full_flow(url: String) {
    let (receiver, hook) = Receiver::start(false).await;
    let slack = MemoryAdapter::new(Platform::Slack);
    let app = replica(&url, catalog(), Arc::new(slack.clone()), Some(&hook), tuning(Duration::from_secs(30), 8)).await;
    let rt = app.runtime().clone();
    rt.store().ready().await.expect("ready");
    let now = signoff::time::now;

    // Asked: the manager is prompted on Slack.
    let new = NewRequest {
        requester: user(0),
        resource: "wiki".to_owned(),
        justification: Some("docs".to_owned()),
        ..NewRequest::default()
    };
    let req = rt.create(new, now()).await.expect("create");
    assert_eq!(req.state, ItemStatus::Requested);
    let token = {
        let mut token = None;
        eventually(Duration::from_secs(10), "the prompt to be sent", || {
            token = sent_tokens(&slack.calls()).into_iter().next();
            std::future::ready(token.is_some())
        })
        .await;
        token.expect("a token")
    };
    let listed = rt
        .list(&signoff::runtime::view::Filter {
            approver: Some("mgr@example.com".to_owned()),
            state: Some(ItemStatus::Requested),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list by approver and state");
    assert_eq!(listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [req.id.as_str()]);

    // A stranger's click is refused and audited; the manager's click approves.
    let refused = rt.answer(&token, "user01@example.com", approve(), "slack", now()).await;
    assert!(matches!(refused, Err(RuntimeError::Refused(_))), "{refused:?}");
    let id = rt.answer(&token, "mgr@example.com", approve(), "slack", now()).await.expect("answer");
    assert_eq!(id.request, req.id);
    let done = rt.request(&req.id).await.expect("read").expect("exists");
    assert_eq!(done.state, ItemStatus::Approved);
    let grant = done.items[0].grant.clone().expect("a grant");
    assert!(grant.active);
    assert_eq!(grant.user, user(0));
    // Deciding again through the API is refused: the prompt is answered.
    let again = rt.decide(&req.id, "mgr@example.com", approve(), "api", now()).await;
    assert!(matches!(again, Err(RuntimeError::Refused(_))), "{again:?}");

    // Revoked: the grant ends and the receiver hears of it.
    let ended = rt.end_grant(&grant.id, "mgr@example.com", GrantEnd::Revoked, now()).await.expect("revoke");
    assert!(!ended.active);
    assert_eq!(ended.end_reason.as_deref(), Some("revoked"));

    // A second request, withdrawn.
    let other = NewRequest { requester: user(1), resource: "vault".to_owned(), ..NewRequest::default() };
    let other = rt.create(other, now()).await.expect("create");
    let cancelled = rt.cancel(&other.id, &user(1), Some("not needed".to_owned()), now()).await.expect("cancel");
    assert_eq!(cancelled.state, ItemStatus::Cancelled);

    // A third, that nobody answers: after a second it goes to the manager's manager, after another it expires.
    let lab = NewRequest { requester: user(2), resource: "lab".to_owned(), ..NewRequest::default() };
    let lab = rt.create(lab, now()).await.expect("create");

    let pool = rt.store().reader().clone();
    eventually(Duration::from_secs(15), "every effect to be delivered", || quiet(&pool)).await;
    let lab = rt.request(&lab.id).await.expect("read").expect("exists");
    assert_eq!(lab.state, ItemStatus::Expired);
    assert_eq!(timers_fired(&pool, &lab.items[0].id).await, 2, "both timeouts fired, once each");
    assert_eq!(
        lab.items[0].prompts.iter().map(|p| p.approver.as_str()).collect::<Vec<_>>(),
        ["mgr@example.com", "boss@example.com"]
    );
    let events = assert_each_effect_once(&pool, rt.store(), &receiver, &slack.calls()).await;
    assert_eq!(events.get("grant.created"), Some(&1), "{events:?}");
    assert_eq!(events.get("grant.ended"), Some(&1), "{events:?}");
    assert_eq!(events.get("item.denied"), Some(&1), "{events:?}");
    assert!(closed_tokens(&slack.calls()).contains(&token), "the answered prompt is closed");

    let trail = audit::list(rt.store(), Some(&req.id), 1000).await.expect("the trail");
    let kinds: Vec<&str> = trail.iter().map(|r| r.kind.as_str()).collect();
    for k in ["requested", "prompt.sent", "refused", "decision", "grant.created", "grant.ended", "webhook.delivery"] {
        assert!(kinds.contains(&k), "{k} in the trail: {kinds:?}");
    }

    // The health routes read the database too: ready, and gauges that count items by state.
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let (status, body) = http_get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    for line in
        ["signoff_items{state=\"approved\"} 1", "signoff_items{state=\"cancelled\"} 1", "signoff_outbox_backlog 0"]
    {
        assert!(body.lines().any(|l| l == line), "{line} in /metrics:\n{body}");
    }
    let _ = stop.send(());
    serving.await.expect("the server task").expect("stops");

    // `signoff audit verify` agrees.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(["audit", "verify"])
        .current_dir(dir.path())
        .env("SIGNOFF_DATABASE_URL", &url)
        .output()
        .expect("signoff audit verify runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("audit trail intact: "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_on_a_fresh_database_migrate_it_once() {
    with_database(|url| async move {
        // sqlx serialises migrators with an advisory lock; the later ones find nothing left to do.
        let (x, y, z) = tokio::join!(Store::open(&url), Store::open(&url), Store::open(&url));
        let stores = [x, y, z].map(|s| s.expect("a concurrent open"));
        for s in &stores {
            s.ready().await.expect("ready");
        }
        let applied = count(stores[0].reader(), "SELECT COUNT(*) FROM _sqlx_migrations").await;
        assert_eq!(applied, i64::try_from(postgres_migrations().len()).unwrap(), "each migration applied once");
        let heads = count(stores[0].reader(), "SELECT COUNT(*) FROM audit_head").await;
        assert_eq!(heads, 1);
        for s in &stores {
            s.close().await;
        }
    })
    .await;
}

/// A deadlock between a replica's batch and another transaction: PostgreSQL aborts the batch, and the
/// committer retries it instead of failing its jobs.
#[tokio::test]
async fn a_batch_that_deadlocks_is_retried() {
    with_database(|url| async move {
        // PostgreSQL looks for a deadlock once, `deadlock_timeout` after a session starts waiting, and aborts
        // the session that found it. The batch waits first; give it a longer look (3 s, so a loaded machine
        // still has the other session waiting by then) and the other session a much longer one, so the batch
        // is the one that finds the cycle. Needs the superuser the test cluster has; without it, defaults.
        let mut setup = sqlx::AnyConnection::connect(&url).await.expect("connect");
        let name: String = sqlx::query_scalar("SELECT current_database()::text").fetch_one(&mut setup).await.expect("name");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {name} SET deadlock_timeout = '3s'")))
            .execute(&mut setup)
            .await;
        let _ = setup.close().await;
        let chat = MemoryAdapter::new(Platform::Slack);
        let app = replica(&url, catalog(), Arc::new(chat), None, tuning(Duration::from_secs(30), 8)).await;
        let rt = app.runtime().clone();
        let now = signoff::time::now;
        let mut items = Vec::new();
        for i in 0..2 {
            let new = NewRequest { requester: user(i), resource: "wiki".to_owned(), ..NewRequest::default() };
            let v = rt.create(new, now()).await.expect("create");
            items.push((v.id.clone(), v.items[0].id.clone()));
        }
        // The committer sorts a batch by request id: X is the smaller.
        items.sort();
        let [(req_x, item_x), (req_y, item_y)] = [items[0].clone(), items[1].clone()];

        // Another session holds item Y.
        let mut other = sqlx::AnyConnection::connect(&url).await.expect("connect");
        let _ = sqlx::query("SET deadlock_timeout = '60s'").execute(&mut other).await;
        sqlx::query("BEGIN").execute(&mut other).await.expect("begin");
        sqlx::query("SELECT id FROM items WHERE id = $1 FOR UPDATE")
            .bind(item_y.clone())
            .fetch_one(&mut other)
            .await
            .expect("lock Y");

        // One batch decides X then Y (this test's runtime has one thread, so both jobs are queued before the
        // committer runs): it locks X, then waits for Y. Then the other session asks for X: a deadlock, which
        // the batch (the first to wait) detects and is aborted for.
        let pool = rt.store().reader().clone();
        let blocker = async {
            eventually(Duration::from_secs(10), "the batch to wait for Y", || async {
                count(&pool, "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").await > 0
            })
            .await;
            let got = sqlx::query("SELECT id FROM items WHERE id = $1 FOR UPDATE")
                .bind(item_x.clone())
                .fetch_one(&mut other)
                .await;
            match got {
                Ok(_) => {
                    sqlx::query("COMMIT").execute(&mut other).await.expect("commit");
                    true
                }
                Err(e) => {
                    // The other way round: this session was the victim; the error is still a deadlock.
                    assert_eq!(e.as_database_error().and_then(|d| d.code()).as_deref(), Some("40P01"), "{e}");
                    sqlx::query("ROLLBACK").execute(&mut other).await.expect("rollback");
                    false
                }
            }
        };
        let (x, y, batch_was_victim) = tokio::join!(
            rt.decide(&req_x, "mgr@example.com", approve(), "api", now()),
            rt.decide(&req_y, "mgr@example.com", approve(), "api", now()),
            blocker
        );
        assert_eq!(x.expect("X decided").state, ItemStatus::Approved);
        assert_eq!(y.expect("Y decided").state, ItemStatus::Approved);
        assert!(batch_was_victim, "the batch was the deadlock's victim, and was retried");
        // And there was a deadlock (statistics reach the view within a few seconds).
        eventually(Duration::from_secs(20), "PostgreSQL to count the deadlock", || async {
            count(&pool, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").await > 0
        })
        .await;
        let _ = other.close().await;
        app.run_until(async {}).await.expect("stops");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_runs_from_prompt_to_grant_to_revocation_on_postgres() {
    with_database(full_flow).await;
}

/// The same flow on SQLite, so the queries shared by both backends are checked on both by this file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_flow_runs_on_sqlite() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    full_flow(format!("sqlite://{}", dir.path().join("signoff.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_the_load_and_each_effect_happens_once() {
    with_database(|url| async move {
        let (receiver, hook) = Receiver::start(false).await;
        let cat = catalog();
        let (chat_a, chat_b) = (MemoryAdapter::new(Platform::Slack), MemoryAdapter::new(Platform::Slack));
        let lease = Duration::from_secs(30);
        let a = replica(&url, cat.clone(), Arc::new(chat_a.clone()), Some(&hook), tuning(lease, 16)).await;
        let b = replica(&url, cat, Arc::new(chat_b.clone()), Some(&hook), tuning(lease, 16)).await;
        let (ra, rb) = (a.runtime().clone(), b.runtime().clone());
        let now = signoff::time::now;
        let pick = |i: usize| if i.is_multiple_of(2) { ra.clone() } else { rb.clone() };

        // Many requests through both, at once.
        const WIKI: usize = 24;
        const VAULT: usize = 12;
        const LAB: usize = 10;
        let mut creating = tokio::task::JoinSet::new();
        for i in 0..WIKI + VAULT + LAB {
            let (resource, rt) = match i {
                i if i < WIKI => ("wiki", pick(i)),
                i if i < WIKI + VAULT => ("vault", pick(i)),
                i => ("lab", pick(i)),
            };
            let new = NewRequest { requester: user(i % USERS), resource: resource.to_owned(), ..NewRequest::default() };
            creating.spawn(async move { (resource, rt.create(new, now()).await.expect("create").id) });
        }
        let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        while let Some(r) = creating.join_next().await {
            let (resource, id) = r.expect("create task");
            ids.entry(resource).or_default().push(id);
        }

        // Decisions, concurrently through both: the manager's approval of each wiki request is sent to both
        // replicas at once; each vault request gets three admins' approvals, spread over both.
        let mut deciding = tokio::task::JoinSet::new();
        for id in &ids["wiki"] {
            for rt in [ra.clone(), rb.clone()] {
                let id = id.clone();
                deciding.spawn(async move { rt.decide(&id, "mgr@example.com", approve(), "api", now()).await.is_ok() });
            }
        }
        for (n, id) in ids["vault"].iter().enumerate() {
            for (k, admin) in ["admin1@example.com", "admin2@example.com", "admin3@example.com"].into_iter().enumerate()
            {
                let rt = pick(n + k);
                let id = id.clone();
                deciding.spawn(async move { rt.decide(&id, admin, approve(), "api", now()).await.is_ok() });
            }
        }
        let mut accepted = 0;
        while let Some(r) = deciding.join_next().await {
            accepted += usize::from(r.expect("decide task"));
        }
        // One of each duplicated wiki pair, and two of each vault trio (the third finds the item settled).
        assert_eq!(accepted, WIKI + 2 * VAULT, "decisions accepted");

        let pool = ra.store().reader().clone();
        eventually(Duration::from_secs(30), "everything to settle and be delivered", || quiet(&pool)).await;

        for id in &ids["wiki"] {
            let v = ra.request(id).await.expect("read").expect("exists");
            assert_eq!(v.state, ItemStatus::Approved, "{id}");
            assert_eq!(v.items[0].decisions.len(), 1, "{id}: the duplicate decision is applied once");
        }
        for id in &ids["vault"] {
            let v = rb.request(id).await.expect("read").expect("exists");
            assert_eq!(v.state, ItemStatus::Approved, "{id}");
            assert_eq!(v.items[0].decisions.len(), 2, "{id}: the quorum is counted once");
        }
        for id in &ids["lab"] {
            let v = ra.request(id).await.expect("read").expect("exists");
            assert_eq!(v.state, ItemStatus::Expired, "{id}: escalated, then nobody left");
            assert_eq!(timers_fired(&pool, &v.items[0].id).await, 2, "{id}: two timeouts");
        }
        let grants = count(&pool, "SELECT COUNT(*) FROM grants").await;
        assert_eq!(grants, (WIKI + VAULT) as i64, "one grant per approved item");

        let mut calls = chat_a.calls();
        calls.extend(chat_b.calls());
        let events = assert_each_effect_once(&pool, ra.store(), &receiver, &calls).await;
        assert_eq!(events.get("grant.created"), Some(&(WIKI + VAULT)), "{events:?}");
        assert_eq!(events.get("item.denied"), Some(&LAB), "{events:?}");
        // Both replicas delivered.
        let (na, nb) = (sent_tokens(&chat_a.calls()).len(), sent_tokens(&chat_b.calls()).len());
        eprintln!("prompts sent: {na} by replica A, {nb} by replica B");
        assert!(na > 0 && nb > 0, "both replicas send prompts ({na}, {nb})");

        a.run_until(async {}).await.expect("A stops");
        b.run_until(async {}).await.expect("B stops");
    })
    .await;
}

/// A tokio runtime of its own for a replica that is to die: shutting it down drops every task at once,
/// mid-transaction and mid-delivery, as a killed process would.
struct Doomed(Option<tokio::runtime::Runtime>);

impl Doomed {
    fn new() -> Doomed {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        Doomed(Some(rt))
    }

    async fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        self.0.as_ref().expect("alive").spawn(f).await.expect("the task on the doomed replica")
    }

    fn kill(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Doomed {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_a_replica_dies_the_other_delivers_what_it_held() {
    with_database(|url| async move {
        let cat = catalog();
        let lease = Duration::from_secs(2);
        let now = signoff::time::now;

        // Replica A: its chat platform and its webhook receiver take the calls and never answer.
        let (stalled, stalled_hook) = Receiver::start(true).await;
        let hanging = Hanging::default();
        let mut doomed = Doomed::new();
        let a = {
            let (url, cat, chat) = (url.clone(), cat.clone(), Arc::new(hanging.clone()));
            doomed
                .run(async move { replica(&url, cat, chat, Some(&stalled_hook), tuning(lease, 256)).await })
                .await
        };
        let ra = a.runtime().clone();

        const WIKI: usize = 8;
        const LAB: usize = 6;
        let mut wiki = Vec::new();
        let mut lab = Vec::new();
        for i in 0..WIKI + LAB {
            let resource = if i < WIKI { "wiki" } else { "lab" };
            let new = NewRequest { requester: user(i % USERS), resource: resource.to_owned(), ..NewRequest::default() };
            let rt = ra.clone();
            let id = doomed.run(async move { rt.create(new, now()).await.expect("create").id }).await;
            if i < WIKI { wiki.push(id) } else { lab.push(id) }
        }
        for id in &wiki {
            let (rt, id) = (ra.clone(), id.clone());
            doomed.run(async move { rt.decide(&id, "mgr@example.com", approve(), "api", now()).await.expect("approve") }).await;
        }
        // A is now waiting on every grant's webhook and on its prompts.
        eventually(Duration::from_secs(10), "replica A to be stuck on its webhooks", || {
            std::future::ready(stalled.seen().len() >= WIKI)
        })
        .await;
        assert!(!hanging.prompts.lock().expect("lock").is_empty(), "replica A is stuck on prompts");

        // A dies holding leases.
        doomed.kill();
        drop(ra);
        drop(a);
        let store = Store::connect(&url).await.expect("connect");
        let pool = store.reader().clone();
        let leased = count(&pool, "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL AND lease_owner IS NOT NULL").await;
        assert!(leased >= WIKI as i64, "A held leases when it died ({leased})");
        // ... and, say, some timers it had claimed but not fired.
        let until = signoff::store::ms(now()) + 1_500;
        sqlx::query("UPDATE timers SET lease_owner = 'dead-replica', lease_until = $1 WHERE item_id IN (SELECT id FROM items WHERE resource = 'lab')")
            .bind(until)
            .execute(store.writer())
            .await
            .expect("lease timers to the dead replica");

        // Replica B picks everything up once the leases run out.
        let (receiver, hook) = Receiver::start(false).await;
        let chat_b = MemoryAdapter::new(Platform::Slack);
        let b = replica(&url, cat, Arc::new(chat_b.clone()), Some(&hook), tuning(lease, 16)).await;
        eventually(Duration::from_secs(30), "replica B to deliver everything", || quiet(&pool)).await;

        let events = assert_each_effect_once(&pool, &store, &receiver, &chat_b.calls()).await;
        assert_eq!(events.get("grant.created"), Some(&WIKI), "{events:?}");
        assert_eq!(events.get("item.denied"), Some(&LAB), "{events:?}");
        // The webhooks A was waiting on went out again under the same delivery ids.
        let retried: BTreeSet<String> = stalled.seen().into_iter().map(|(id, _)| id).collect();
        let delivered: BTreeSet<String> = receiver.seen().into_iter().map(|(id, _)| id).collect();
        assert!(retried.is_subset(&delivered), "A's deliveries are retried with their ids");
        // The prompts A was sending were sent by B, except those closed before B got to them.
        let rb = b.runtime().clone();
        for id in &lab {
            let v = rb.request(id).await.expect("read").expect("exists");
            assert_eq!(v.state, ItemStatus::Expired, "{id}");
            assert_eq!(timers_fired(&pool, &v.items[0].id).await, 2, "{id}: both timeouts fired, once each");
        }
        for id in &wiki {
            let v = rb.request(id).await.expect("read").expect("exists");
            assert_eq!(v.state, ItemStatus::Approved, "{id}");
        }
        let lab_prompts: Vec<String> =
            sqlx::query_scalar("SELECT token FROM prompts WHERE item_id IN (SELECT id FROM items WHERE resource = 'lab')")
                .fetch_all(&pool)
                .await
                .expect("lab prompts");
        let sent: BTreeSet<String> = sent_tokens(&chat_b.calls()).into_iter().collect();
        for t in &lab_prompts {
            let outcome: String = sqlx::query_scalar("SELECT outcome FROM outbox WHERE kind = 'prompt.send' AND token = $1")
                .bind(t.clone())
                .fetch_one(&pool)
                .await
                .expect("the send row");
            assert!(sent.contains(t) || outcome.starts_with("superseded"), "lab prompt {t}: {outcome}");
        }
        b.run_until(async {}).await.expect("B stops");
        store.close().await;
    })
    .await;
}

/// The versions of the PostgreSQL schema's migrations, from the file names in `migrations/postgres` (a number
/// may be skipped where only the SQLite schema needed a migration).
fn postgres_migrations() -> Vec<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut versions: Vec<i64> = std::fs::read_dir(&dir)
        .expect("the migrations folder")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".sql")?.split('_').next()?.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    versions
}
