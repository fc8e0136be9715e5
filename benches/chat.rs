//! Slack and Discord scenarios: signed clicks against the real app, the fan-out of 1,000 prompts and their
//! dismissal, and the same click path written with Bolt for Python, side by side in one run.
//!
//! Run with `cargo bench --bench chat -- <scenario> [--option value ...]`:
//!
//! - `slack-click`: the real app ([`Application::build`] on 127.0.0.1:0, a temporary SQLite file, Slack
//!   configured with a signing secret and `api_url` at a fake Slack Web API on 127.0.0.1) with `--items 5000`
//!   pending items, each waiting on one approver who has a `slack_id`; then an open loop of `--rate 200` signed
//!   `block_actions` clicks per second for `--seconds 20`, each on a distinct prompt token. Latency runs from a
//!   click's scheduled instant to its HTTP 200. Afterwards: every click's decision is committed (prompt rows
//!   `answered`, no refusal posted to `response_url`), and how long the fake takes to receive every `chat.update`
//!   (bounded by `--drain-limit 300` seconds).
//! - `slack-fanout`: a request whose workflow asks a 1,000-member group at once (`parallel_group_expression`,
//!   `number_required: 1`): time from create until the fake has all 1,000 `chat.postMessage`s; then one signed
//!   approval, and the time until the 999 leftovers got their `chat.update`. `--variants default,unpaced,wide`:
//!   `default` is the app as configured (the adapter's default pacing); `unpaced` swaps in a Slack adapter with
//!   `max_in_flight` = the dispatcher's concurrency (32) and no minimum interval; `wide` also raises the
//!   dispatcher's concurrency and the adapter's `max_in_flight` to 128. The last two are "what if" runs that
//!   locate the limit; they change nothing in signoff.
//! - `bolt-peer`: signoff (as in `slack-click`) and the Bolt-for-Python peer (`benches/peer/bolt_app.py` under
//!   gunicorn, from a virtualenv the bench creates under the target dir) against the same fake, in one run: the
//!   same open loop (`--rate 200 --seconds 20`) and a closed loop at maximum throughput (`--closed 6000` clicks
//!   from `--callers 64` connections) for each, then the ratios. `--bolt-workers 2 --bolt-threads 16`.
//! - `discord-click`: the real app with Discord configured (Ed25519 key `SigningKey::from_bytes(&[7u8; 32])`,
//!   `api_url` at a fake Discord REST API), `--items 5000` pending items, an open loop of `--rate 200` signed
//!   component clicks per second for `--seconds 20`: latency to the interaction response, which must be type 7.
//!
//! Every scenario is bounded in count and time, talks only to 127.0.0.1, works in a temporary folder under
//! `CARGO_TARGET_TMPDIR` that is deleted at the end, prints the machine first, and prints one `RESULT` line per
//! measurement (with the 1-minute load average when it ended).
//!
//! Items to click are made before the measured phase through the runtime, and their prompts are delivered to
//! the fake by the dispatcher (for Slack through a Slack adapter without pacing, so that 10,000 setup calls do
//! not take minutes; the measured app is then started again on the same database with the adapter that the
//! config builds, default pacing included).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use signoff_port::ChatAdapter;
use signoff_slack::{SlackAdapter, SlackSettings};
use sqlx::Connection;

use signoff::app::{Application, Options};
use signoff::catalog::{Catalog, Settings};
use signoff::config::Config;
use signoff::diag::Diagnostics;
use signoff::directory;
use signoff::policy::Policies;
use signoff::runtime::{NewRequest, Runtime, Tuning};
use signoff::source::{self, Format};
use signoff::store::Store;

/// The Slack app's signing secret (signoff's config and the Bolt peer's).
const SLACK_SIGNING_SECRET: &str = "chat-bench-signing-secret-8f742231b10e";
/// The bot token both send to the fake Slack, which refuses any other.
const SLACK_BOT_TOKEN: &str = "xoxb-chat-bench-0123456789";
/// The Discord bot token signoff sends to the fake Discord.
const DISCORD_BOT_TOKEN: &str = "chat-bench-discord-bot-token";
/// The Discord application id.
const DISCORD_APP_ID: &str = "1200000000000000000";
/// The workspace in Slack payloads.
const TEAM: &str = "T0BENCH";
/// Requesters in the click scenarios (each requests `items / REQUESTERS` resources).
const REQUESTERS: usize = 100;
/// Members of the fan-out group.
const FANOUT: usize = 1_000;
/// The resource whose workflow asks the whole group.
const FANOUT_RESOURCE: &str = "all-hands";
/// Longest a single HTTP call may take before it counts as an error.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the setup (creating items and delivering their prompts) may take.
const SETUP_LIMIT: Duration = Duration::from_secs(600);
/// Concurrent `Runtime::create` callers while preparing items.
const CREATE_CALLERS: usize = 64;

// ---------------------------------------------------------------------------------------------------------
// Entry point and options
// ---------------------------------------------------------------------------------------------------------

const SCENARIOS: &str = "slack-click, slack-fanout, bolt-peer or discord-click";

/// `<scenario> [--name value]...`; cargo adds `--bench`, which is ignored.
struct Args {
    scenario: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut scenario = None;
        let mut opts = HashMap::new();
        let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                opts.insert(name.to_owned(), value);
            } else if scenario.is_none() {
                scenario = Some(a);
            } else {
                return Err(format!("unexpected argument `{a}`"));
            }
        }
        let scenario = scenario.ok_or_else(|| format!("name a scenario: {SCENARIOS}"))?;
        Ok(Args { scenario, opts })
    }

    fn get<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T> {
        match self.opts.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| anyhow!("--{name}: cannot read `{v}`")),
        }
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", machine_facts());
    let result = rt.block_on(async {
        match args.scenario.as_str() {
            "slack-click" => slack_click(&args).await,
            "slack-fanout" => slack_fanout(&args).await,
            "bolt-peer" => bolt_peer(&args).await,
            "discord-click" => discord_click(&args).await,
            other => Err(anyhow!("unknown scenario `{other}`: {SCENARIOS}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// nproc, CPU model, memory, kernel, date and load average: printed first, copied into BENCHMARKS.md.
fn machine_facts() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .unwrap_or(0);
    format!(
        "MACHINE cpus={cpus} model=\"{model}\" mem={:.1}GiB kernel={} date={} loadavg=\"{}\"",
        mem_kb as f64 / 1024.0 / 1024.0,
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        loadavg(),
    )
}

/// `/proc/loadavg` (1, 5 and 15 minutes, runnable/total, last pid).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned()
}

/// The 1-minute load average, for the end of each RESULT line.
fn load1() -> String {
    loadavg().split_whitespace().next().unwrap_or("?").to_owned()
}

/// A temporary folder under cargo's per-target scratch space (same disk as the build).
fn scratch(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base)?;
    Ok(tempfile::Builder::new().prefix(prefix).tempdir_in(base)?)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

// ---------------------------------------------------------------------------------------------------------
// Latency figures, open and closed loops
// ---------------------------------------------------------------------------------------------------------

/// What a timed phase did.
#[derive(Debug, Default)]
struct Phase {
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile of the successful calls, in milliseconds.
    fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1].as_secs_f64() * 1e3
    }

    fn max(&self) -> f64 {
        self.latencies.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    fn latency_summary(&self) -> String {
        format!(
            "p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
            self.pct(50.0),
            self.pct(90.0),
            self.pct(99.0),
            self.max()
        )
    }

    fn error_summary(&self) -> String {
        match &self.first_error {
            Some(e) => format!("errors={} first_error={e:?}", self.errors),
            None => format!("errors={}", self.errors),
        }
    }

    fn add(&mut self, latency: Duration, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                self.latencies.push(latency);
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// Sends `call(i)` for `i` in `0..n` at `rate` per second, each at its scheduled instant whatever happened to
/// the previous ones (open loop). Latency runs from the scheduled instant to the answer, so a stalled server
/// shows up as latency rather than as a slower send rate.
async fn open_loop<F, Fut>(n: usize, rate: f64, call: F) -> Phase
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let at = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let fut = call(i);
        tasks.spawn(async move {
            let r = fut.await;
            (at.elapsed(), r)
        });
    }
    let mut phase = Phase::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((lat, r)) => phase.add(lat, r),
            Err(e) => phase.add(Duration::ZERO, Err(format!("task: {e}"))),
        }
    }
    phase.elapsed = started.elapsed();
    phase
}

/// Runs `call(0..n)` from `callers` tasks, each taking the next index when its previous call returned; stops
/// taking new indices at `deadline`.
async fn closed_loop<F, Fut>(n: usize, callers: usize, deadline: Instant, call: F) -> Phase
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers.max(1) {
        let call = call.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut phase = Phase::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                let r = call(i).await;
                phase.add(t.elapsed(), r);
            }
            phase
        });
    }
    let mut total = Phase::default();
    while let Some(done) = tasks.join_next().await {
        let Ok(p) = done else {
            total.add(Duration::ZERO, Err("a caller task panicked".to_owned()));
            continue;
        };
        total.ok += p.ok;
        total.errors += p.errors;
        if total.first_error.is_none() {
            total.first_error = p.first_error;
        }
        total.latencies.extend(p.latencies);
    }
    total.elapsed = started.elapsed();
    total
}

// ---------------------------------------------------------------------------------------------------------
// A small HTTP client (hyper, HTTP/1.1 keep-alive)
// ---------------------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(connector);
        Http { client, base: format!("http://{addr}") }
    }

    async fn post(&self, path: &str, headers: &[(&str, String)], body: Bytes) -> Result<(StatusCode, Bytes), String> {
        let mut req = Request::builder().method("POST").uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| format!("transport: {e}"))?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(HTTP_TIMEOUT, fut).await.map_err(|_| format!("timeout after {HTTP_TIMEOUT:?}"))?
    }
}

// ---------------------------------------------------------------------------------------------------------
// Form encoding and signatures, as Slack and Discord send them
// ---------------------------------------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` encoding of one value (what Slack does to `payload`).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Decodes a form body into its fields (the fake Slack reads `channel`, `ts`, `users` this way).
fn form_decode(body: &[u8]) -> serde_json::Map<String, Value> {
    fn unescape(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    let hex = std::str::from_utf8(&s[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split(|b| *b == b'&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let mut parts = kv.splitn(2, |b| *b == b'=');
            let k = unescape(parts.next().unwrap_or_default());
            let v = unescape(parts.next().unwrap_or_default());
            (k, Value::String(v))
        })
        .collect()
}

/// `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` under the signing secret.
fn slack_signature(timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SLACK_SIGNING_SECRET.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The Ed25519 key Discord "signs" with in this bench.
fn discord_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

// ---------------------------------------------------------------------------------------------------------
// A fake Slack Web API (adapted from adapters/slack/tests/fake_slack): records each call's method, channel
// and ts with its arrival time, and answers like Slack
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct SlackCall {
    method: String,
    channel: String,
    ts: String,
    at: Instant,
}

#[derive(Default)]
struct SlackLog {
    calls: Mutex<Vec<SlackCall>>,
    ts: AtomicU64,
}

struct FakeSlack {
    log: Arc<SlackLog>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSlack {
    async fn start() -> anyhow::Result<FakeSlack> {
        let log = Arc::new(SlackLog::default());
        let app = Router::new()
            .route("/api/{method}", axum::routing::any(slack_api))
            .route("/hooks/{*rest}", axum::routing::post(slack_hook))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeSlack { log, addr, task })
    }

    fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    fn hook_url(&self, i: usize) -> String {
        format!("http://{}/hooks/actions/{TEAM}/{i}/bench", self.addr)
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, Vec<SlackCall>> {
        self.log.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the next call will be recorded; counts "since" take it.
    fn mark(&self) -> usize {
        self.calls().len()
    }

    fn count_since(&self, mark: usize, method: &str) -> usize {
        self.calls()[mark..].iter().filter(|c| c.method == method).count()
    }

    /// Waits (at most `limit`) until `n` calls to `method` that `keep` accepts arrived after `mark`; returns when
    /// the `n`th arrived, or how many did by the deadline.
    async fn wait_nth(
        &self,
        mark: usize,
        method: &str,
        n: usize,
        limit: Duration,
        keep: impl Fn(&SlackCall) -> bool,
    ) -> Result<Instant, usize> {
        let deadline = Instant::now() + limit;
        loop {
            let (count, nth) = {
                let calls = self.calls();
                let mut count = 0;
                let mut nth = None;
                for c in calls[mark..].iter().filter(|c| c.method == method && keep(c)) {
                    count += 1;
                    if count >= n {
                        nth = Some(c.at);
                        break;
                    }
                }
                (count, nth)
            };
            if let Some(at) = nth {
                return Ok(at);
            }
            if Instant::now() >= deadline {
                return Err(count);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The fields of a Web API call: a JSON body (slack-morphism, slack_sdk's `json=`) or a form.
fn slack_params(headers: &HeaderMap, body: &[u8]) -> serde_json::Map<String, Value> {
    let json = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if json {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    } else {
        form_decode(body)
    }
}

fn slack_ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

fn slack_err(code: &str) -> Response {
    axum::Json(json!({ "ok": false, "error": code })).into_response()
}

async fn slack_api(
    State(log): State<Arc<SlackLog>>,
    axum::extract::Path(method): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let p = slack_params(&headers, &body);
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let authed = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        == Some(SLACK_BOT_TOKEN);
    log.calls.lock().unwrap_or_else(PoisonError::into_inner).push(SlackCall {
        method: method.clone(),
        channel: s("channel"),
        ts: s("ts"),
        at,
    });
    if !authed {
        return slack_err("invalid_auth");
    }
    match method.as_str() {
        "auth.test" => slack_ok(json!({
            "url": "https://bench.slack.com/", "team": "Bench", "user": "signoff", "team_id": TEAM,
            "user_id": "U0BOT", "bot_id": "B0BOT", "is_enterprise_install": false,
        })),
        "conversations.open" => {
            let user = match p.get("users") {
                Some(Value::Array(a)) => a.first().and_then(Value::as_str).unwrap_or_default().to_owned(),
                Some(Value::String(s)) => s.split(',').next().unwrap_or_default().to_owned(),
                _ => String::new(),
            };
            if user.is_empty() {
                return slack_err("users_list_not_supplied");
            }
            slack_ok(json!({ "channel": { "id": format!("D{user}") } }))
        }
        "chat.postMessage" => {
            let channel = s("channel");
            if channel.is_empty() {
                return slack_err("channel_not_found");
            }
            let n = log.ts.fetch_add(1, Ordering::Relaxed) + 1;
            let ts = format!("{}.{:06}", 1_700_000_000 + n / 1_000_000, n % 1_000_000);
            slack_ok(json!({ "channel": channel, "ts": ts,
                             "message": { "type": "message", "text": s("text"), "ts": ts, "bot_id": "B0BOT" } }))
        }
        "chat.update" => slack_ok(json!({ "channel": s("channel"), "ts": s("ts"), "text": s("text"),
                                          "message": { "text": s("text"), "user": "U0BOT" } })),
        "users.lookupByEmail" => slack_err("users_not_found"),
        "users.info" => slack_ok(json!({ "user": { "id": s("user"), "profile": {} } })),
        _ => slack_err("unknown_method"),
    }
}

/// A `response_url` POST: signoff tells a clicker privately that their click was refused.
async fn slack_hook(State(log): State<Arc<SlackLog>>) -> Response {
    log.calls.lock().unwrap_or_else(PoisonError::into_inner).push(SlackCall {
        method: "response_url".to_owned(),
        channel: String::new(),
        ts: String::new(),
        at: Instant::now(),
    });
    (StatusCode::OK, "ok").into_response()
}

// ---------------------------------------------------------------------------------------------------------
// A fake Discord REST API (adapted from adapters/discord/tests/rest.rs)
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct DiscordCall {
    /// `dm`, `post` or `patch`.
    what: &'static str,
}

#[derive(Default)]
struct DiscordLog {
    calls: Mutex<Vec<DiscordCall>>,
    ids: AtomicU64,
}

struct FakeDiscord {
    log: Arc<DiscordLog>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeDiscord {
    async fn start() -> anyhow::Result<FakeDiscord> {
        let log = Arc::new(DiscordLog { ids: AtomicU64::new(1_320_000_000_000_000_000), ..DiscordLog::default() });
        let app = Router::new().fallback(discord_api).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeDiscord { log, addr, task })
    }

    fn api_url(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    fn count(&self, what: &str) -> usize {
        self.log.calls.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|c| c.what == what).count()
    }
}

async fn discord_api(
    State(log): State<Arc<DiscordLog>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_owned();
    let respond = |status: StatusCode, v: Value| (status, axum::Json(v)).into_response();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bot {DISCORD_BOT_TOKEN}")) {
        return respond(StatusCode::UNAUTHORIZED, json!({ "message": "401: Unauthorized", "code": 0 }));
    }
    let segments: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    let (what, answer) = match (method.as_str(), segments.as_slice()) {
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"].as_str().and_then(|r| r.parse::<u64>().ok()).unwrap_or(0);
            let dm = (recipient + 1_000_000_000_000_000_000).to_string();
            (
                "dm",
                json!({ "id": dm, "type": 1, "last_message_id": null,
                           "recipients": [{ "id": recipient.to_string(), "username": "someone", "discriminator": "0" }] }),
            )
        }
        ("POST", ["channels", channel, "messages"]) => {
            let id = log.ids.fetch_add(1, Ordering::Relaxed);
            (
                "post",
                json!({ "id": id.to_string(), "channel_id": channel, "type": 0, "content": body["content"],
                             "embeds": body["embeds"], "components": body["components"], "nonce": body["nonce"] }),
            )
        }
        ("PATCH", ["channels", channel, "messages", message]) => {
            ("patch", json!({ "id": message, "channel_id": channel, "type": 0, "content": body["content"] }))
        }
        _ => return respond(StatusCode::NOT_FOUND, json!({ "message": "404: Not Found", "code": 0 })),
    };
    log.calls.lock().unwrap_or_else(PoisonError::into_inner).push(DiscordCall { what });
    respond(StatusCode::OK, answer)
}

// ---------------------------------------------------------------------------------------------------------
// The catalogs
// ---------------------------------------------------------------------------------------------------------

fn approver(i: usize) -> String {
    format!("adm-{i:05}@bench.test")
}

fn approver_slack(i: usize) -> String {
    format!("UA{i:05}")
}

fn approver_discord(i: usize) -> String {
    (3_100_000_000_000_000u64 + i as u64).to_string()
}

fn requester(j: usize) -> String {
    format!("req-{j:03}@bench.test")
}

fn resource(i: usize) -> String {
    format!("app-{i:05}")
}

fn member(i: usize) -> String {
    format!("m-{i:04}@bench.test")
}

fn member_slack(i: usize) -> String {
    format!("UF{i:04}")
}

/// `items` resources `app-NNNNN`, each with one admin `adm-NNNNN` (Slack and Discord ids) and the built-in
/// `APP_ADMIN` workflow, and [`REQUESTERS`] requesters (Slack and Discord ids too, for their notices).
fn click_directory(items: usize) -> String {
    let mut y = String::with_capacity(200 * items);
    y.push_str("source: okta\nusers:\n  - { id: boss@bench.test, name: Boss, work_status: FULL_TIME }\n");
    for j in 0..REQUESTERS {
        let _ = writeln!(
            y,
            "  - {{ id: {}, name: Requester {j:03}, manager: boss@bench.test, slack_id: UR{j:03}, discord_id: \"{}\" }}",
            requester(j),
            3_200_000_000_000_000u64 + j as u64
        );
    }
    for i in 0..items {
        let _ = writeln!(
            y,
            "  - {{ id: {}, name: Admin {i:05}, manager: boss@bench.test, slack_id: {}, discord_id: \"{}\" }}",
            approver(i),
            approver_slack(i),
            approver_discord(i)
        );
    }
    y.push_str("resources:\n");
    for i in 0..items {
        let _ = writeln!(
            y,
            "  - {{ id: {}, kind: app, name: App {i:05}, workflow: APP_ADMIN, admins: [{}] }}",
            resource(i),
            approver(i)
        );
    }
    y
}

/// A requester with a Slack id, a group `big` of [`FANOUT`] members with Slack ids, and the resource
/// [`FANOUT_RESOURCE`] whose workflow asks the whole group, one approval enough.
fn fanout_directory() -> String {
    let mut y = String::with_capacity(120 * FANOUT);
    y.push_str("source: okta\nusers:\n  - { id: boss@bench.test, name: Boss, work_status: FULL_TIME }\n");
    y.push_str("  - { id: req@bench.test, name: Requester, manager: boss@bench.test, slack_id: UREQ }\n");
    for i in 0..FANOUT {
        let _ = writeln!(
            y,
            "  - {{ id: {}, name: Member {i:04}, manager: boss@bench.test, slack_id: {} }}",
            member(i),
            member_slack(i)
        );
    }
    y.push_str("groups:\n  - id: big\n    name: Everybody\n    owners: [boss@bench.test]\n    members:\n");
    for i in 0..FANOUT {
        let _ = writeln!(y, "      - {}", member(i));
    }
    let _ = writeln!(y, "resources:\n  - {{ id: {FANOUT_RESOURCE}, kind: app, name: All hands, workflow: FANOUT }}");
    y
}

const FANOUT_POLICIES: &str =
    "workflows:\n  FANOUT:\n    parallel_group_expression: { group: big, number_required: 1 }\n";

fn catalog(directory_yaml: &str, policies_yaml: Option<&str>) -> anyhow::Result<Catalog> {
    let fail = |d: Diagnostics| anyhow!("bench catalog is invalid:\n{d}");
    let file: Arc<Path> = Arc::from(Path::new("chat-bench-directory.yaml"));
    let doc = source::parse_str(file, directory_yaml, Format::Yaml).map_err(|d| anyhow!("directory YAML: {d}"))?;
    let dir = directory::load_documents(&[doc]).map_err(fail)?;
    let mut policies = Policies::builtin();
    if let Some(p) = policies_yaml {
        let file: Arc<Path> = Arc::from(Path::new("chat-bench-policies.yaml"));
        let doc = source::parse_str(file, p, Format::Yaml).map_err(|d| anyhow!("policy YAML: {d}"))?;
        let mut diags = Diagnostics::new();
        policies.add_document(&doc, false, &mut diags);
        diags.into_result(()).map_err(fail)?;
    }
    Catalog::new(dir, policies, Settings::default()).map_err(fail)
}

// ---------------------------------------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------------------------------------

fn base_config(db: &Path) -> Config {
    let mut c = Config::default();
    c.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.database.url = sqlite_url(db);
    c
}

fn slack_config(db: &Path, fake: &FakeSlack) -> Config {
    let mut c = base_config(db);
    c.slack.signing_secret = Some(SecretString::from(SLACK_SIGNING_SECRET.to_owned()));
    c.slack.bot_token = Some(SecretString::from(SLACK_BOT_TOKEN.to_owned()));
    c.slack.api_url = fake.api_url();
    c
}

fn discord_config(db: &Path, fake: &FakeDiscord) -> Config {
    let mut c = base_config(db);
    c.discord.application_id = Some(DISCORD_APP_ID.to_owned());
    c.discord.public_key = Some(discord_key().verifying_key().to_bytes());
    c.discord.bot_token = Some(SecretString::from(DISCORD_BOT_TOKEN.to_owned()));
    c.discord.api_url = fake.api_url();
    c
}

/// A Slack adapter for the fake with the given pacing (the config always builds the default pacing).
fn slack_adapter(
    fake: &FakeSlack,
    max_in_flight: usize,
    min_interval: Duration,
) -> anyhow::Result<Arc<dyn ChatAdapter>> {
    let mut s = SlackSettings::new(SecretString::from(SLACK_BOT_TOKEN.to_owned()));
    s.api_url = fake.api_url();
    s.max_in_flight = max_in_flight;
    s.min_interval = min_interval;
    Ok(Arc::new(SlackAdapter::new(s)?))
}

/// A serving app and how to stop it.
struct Running {
    addr: SocketAddr,
    runtime: Runtime,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start(config: &Config, options: Options) -> anyhow::Result<Running> {
        let app = Application::build(config, options).await.context("building the app")?;
        let addr = app.local_addr();
        let runtime = app.runtime().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Ok(Running { addr, runtime, shutdown: Some(tx), task })
    }

    fn store(&self) -> &Store {
        self.runtime.store()
    }

    /// Stops serving and drains (deliveries in flight finish; undelivered rows stay).
    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(Duration::from_secs(60), &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("warning: the app stopped with an error: {e:#}"),
            Ok(Err(e)) => eprintln!("warning: the app task failed: {e}"),
            Err(_) => {
                eprintln!("warning: the app did not stop within 60 s");
                self.task.abort();
            }
        }
    }
}

/// Outbox rows not delivered yet.
async fn outbox_backlog(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL")
        .fetch_one(store.reader())
        .await
        .unwrap_or(-1)
}

/// Waits (at most `limit`) until the dispatcher has delivered every outbox row; returns how long it took.
async fn wait_drained(store: &Store, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if outbox_backlog(store).await == 0 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Failed outbox rows (delivered for good with an error).
async fn outbox_failed(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE outcome = 'failed'")
        .fetch_one(store.reader())
        .await
        .unwrap_or(-1)
}

async fn prompts_in(store: &Store, state: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM prompts WHERE state = $1")
        .bind(state.to_owned())
        .fetch_one(store.reader())
        .await
        .unwrap_or(-1)
}

/// Creates `items` requests (`app-i` by requester `i % REQUESTERS`) through the runtime of an app running with
/// `chat`, and waits until their prompts are delivered. Returns what it took.
async fn prepare(config: &Config, items: usize, chat: Option<Vec<Arc<dyn ChatAdapter>>>) -> anyhow::Result<String> {
    let started = Instant::now();
    let options = Options { chat, tuning: Tuning::default(), catalog: Some(catalog(&click_directory(items), None)?) };
    let app = Running::start(config, options).await?;
    let rt = app.runtime.clone();
    let created = closed_loop(items, CREATE_CALLERS, Instant::now() + SETUP_LIMIT, move |i| {
        let rt = rt.clone();
        async move {
            let new = NewRequest {
                requester: requester(i % REQUESTERS),
                resource: resource(i),
                justification: Some("chat bench".to_owned()),
                ..NewRequest::default()
            };
            rt.create(new, signoff::time::now()).await.map(|_| ()).map_err(|e| e.to_string())
        }
    })
    .await;
    if created.ok != items {
        app.stop().await;
        bail!("setup: {} of {items} requests created; {}", created.ok, created.error_summary());
    }
    let create_s = created.elapsed.as_secs_f64();
    let drained = wait_drained(app.store(), SETUP_LIMIT).await;
    let failed = outbox_failed(app.store()).await;
    app.stop().await;
    let Some(drained) = drained else { bail!("setup: prompts not delivered within {SETUP_LIMIT:?}") };
    if failed != 0 {
        bail!("setup: {failed} prompt deliveries failed");
    }
    Ok(format!(
        "items={items} created_in={create_s:.1}s ({:.0}/s) prompts_delivered_in={:.1}s total={:.1}s",
        created.rate(),
        drained.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ))
}

/// A pending prompt to click: its token, the approver's id on the platform, and where its message is.
#[derive(Debug, Clone)]
struct Target {
    token: String,
    user: String,
    channel: String,
    message: String,
}

async fn pending_targets(rt: &Runtime, platform: &str) -> anyhow::Result<Vec<Target>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT p.token, p.approver, m.channel, m.message FROM prompts p \
         JOIN prompt_messages m ON m.token = p.token AND m.platform = $1 \
         WHERE p.state = 'pending' ORDER BY p.created_at, p.token",
    )
    .bind(platform.to_owned())
    .fetch_all(rt.store().reader())
    .await?;
    let dir = &rt.catalog().directory;
    rows.iter()
        .map(|r| {
            let approver: String = r.try_get("approver")?;
            let user = dir.user(&approver).ok_or_else(|| anyhow!("approver {approver} not in the directory"))?;
            let id = if platform == "slack" { user.slack_id.clone() } else { user.discord_id.clone() };
            Ok(Target {
                token: r.try_get("token")?,
                user: id.ok_or_else(|| anyhow!("{approver} has no {platform} id"))?,
                channel: r.try_get("channel")?,
                message: r.try_get("message")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Slack clicks
// ---------------------------------------------------------------------------------------------------------

/// Slack's `trigger_id`s, one per click.
static TRIGGER_IDS: AtomicU64 = AtomicU64::new(1);

/// The form body Slack POSTs when `t.user` clicks Approve on `t`'s message (`block_actions`).
fn slack_click_body(t: &Target, response_url: &str) -> Bytes {
    let action_ts = format!("{}.000100", unix_now());
    let payload = json!({
        "type": "block_actions",
        "team": { "id": TEAM, "domain": "bench" },
        "user": { "id": t.user, "username": t.user.to_lowercase(), "name": t.user.to_lowercase(), "team_id": TEAM },
        "api_app_id": "A0BENCH",
        "token": "legacy-verification-token-unused",
        "container": { "type": "message", "message_ts": t.message, "channel_id": t.channel, "is_ephemeral": false },
        // Unique per click, as Slack makes them: signoff treats a second callback with the same one as a replay.
        "trigger_id": format!("{}.{}.bench", unix_now(), TRIGGER_IDS.fetch_add(1, Ordering::Relaxed)),
        "channel": { "id": t.channel, "name": "directmessage" },
        "message": { "type": "message", "ts": t.message, "bot_id": "B0BOT", "text": "Access request" },
        "state": { "values": {} },
        "response_url": response_url,
        "is_enterprise_install": false,
        "enterprise": null,
        "actions": [{
            "action_id": "signoff_approve", "block_id": "signoff_decide",
            "text": { "type": "plain_text", "text": "Approve", "emoji": true },
            "value": t.token, "style": "primary", "type": "button", "action_ts": action_ts,
        }],
    });
    Bytes::from(format!("payload={}", form_encode(&payload.to_string())))
}

/// POSTs a click, signed now, and insists on a 200.
async fn send_slack_click(http: &Http, body: Bytes) -> Result<(), String> {
    let ts = unix_now();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
        ("x-slack-request-timestamp", ts.to_string()),
        ("x-slack-signature", slack_signature(ts, &body)),
    ];
    let (status, bytes) = http.post("/slack/interactions", &headers, body).await?;
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!("{status} {}", String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()))
    }
}

/// Open loop of clicks on `targets[i]` at `rate`.
async fn slack_open_loop(http: &Http, fake: &FakeSlack, targets: &[Target], rate: f64) -> Phase {
    let bodies: Vec<Bytes> = targets.iter().enumerate().map(|(i, t)| slack_click_body(t, &fake.hook_url(i))).collect();
    open_loop(bodies.len(), rate, |i| {
        let http = http.clone();
        let body = bodies[i].clone();
        async move { send_slack_click(&http, body).await }
    })
    .await
}

/// Closed loop of clicks on `targets` from `callers` connections (at most `limit` long).
async fn slack_closed_loop(
    http: &Http,
    fake: &FakeSlack,
    targets: &[Target],
    callers: usize,
    limit: Duration,
) -> Phase {
    let bodies: Arc<Vec<Bytes>> =
        Arc::new(targets.iter().enumerate().map(|(i, t)| slack_click_body(t, &fake.hook_url(i))).collect());
    let http = http.clone();
    closed_loop(bodies.len(), callers, Instant::now() + limit, move |i| {
        let http = http.clone();
        let body = bodies[i].clone();
        async move { send_slack_click(&http, body).await }
    })
    .await
}

/// What became of a batch of clicks on signoff: decisions committed and refusals posted.
async fn slack_committed(rt: &Runtime, clicked: &[Target]) -> anyhow::Result<usize> {
    let tokens: HashSet<&str> = clicked.iter().map(|t| t.token.as_str()).collect();
    let answered: Vec<String> =
        sqlx::query_scalar("SELECT token FROM prompts WHERE state = 'answered'").fetch_all(rt.store().reader()).await?;
    Ok(answered.iter().filter(|t| tokens.contains(t.as_str())).count())
}

/// Waits until the fake has a `chat.update` for every clicked message (after `mark`); returns when the last
/// one arrived, or how many did.
async fn wait_updates(fake: &FakeSlack, mark: usize, clicked: &[Target], limit: Duration) -> Result<Instant, usize> {
    let want: HashSet<(String, String)> = clicked.iter().map(|t| (t.channel.clone(), t.message.clone())).collect();
    let deadline = Instant::now() + limit;
    loop {
        let (seen, last) = {
            let calls = fake.calls();
            let mut seen = HashSet::new();
            let mut last = None;
            for c in calls[mark..].iter().filter(|c| c.method == "chat.update") {
                let key = (c.channel.clone(), c.ts.clone());
                if want.contains(&key) && seen.insert(key) {
                    last = Some(c.at);
                }
            }
            (seen.len(), last)
        };
        if seen == want.len() {
            return Ok(last.unwrap_or_else(Instant::now));
        }
        if Instant::now() >= deadline {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn slack_click(args: &Args) -> anyhow::Result<()> {
    let items: usize = args.get("items", 5_000)?;
    let rate: f64 = args.get("rate", 200.0)?;
    let seconds: f64 = args.get("seconds", 20.0)?;
    let drain_limit = Duration::from_secs(args.get("drain-limit", 300)?);
    let clicks = ((rate * seconds).round() as usize).min(items);
    let dir = scratch("chat-slack-click-")?;
    let db = dir.path().join("signoff.db");
    let fake = FakeSlack::start().await?;
    let config = slack_config(&db, &fake);

    let setup = prepare(&config, items, Some(vec![slack_adapter(&fake, 64, Duration::ZERO)?])).await?;
    println!("SETUP slack-click {setup} fake_calls={}", fake.mark());

    let app = Running::start(
        &config,
        Options { catalog: Some(catalog(&click_directory(items), None)?), ..Options::default() },
    )
    .await?;
    let targets = pending_targets(&app.runtime, "slack").await?;
    if targets.len() < clicks {
        bail!("only {} pending prompts with a Slack message, {clicks} needed", targets.len());
    }
    let clicked = &targets[..clicks];
    let http = Http::new(app.addr);
    let mark = fake.mark();
    let phase = slack_open_loop(&http, &fake, clicked, rate).await;
    let ended = Instant::now();
    let load = load1();
    let backlog = outbox_backlog(app.store()).await;
    let updates_during = fake.count_since(mark, "chat.update");
    let committed = slack_committed(&app.runtime, clicked).await?;
    let refused = fake.count_since(mark, "response_url");
    println!(
        "RESULT slack-click rate={rate}/s clicks={clicks} ok={} {} {} committed={committed}/{clicks} refused={refused} \
         chat.update_during_clicks={updates_during} ({:.0}/s) outbox_backlog_at_end={backlog} loadavg1={load}",
        phase.ok,
        phase.latency_summary(),
        phase.error_summary(),
        updates_during as f64 / phase.elapsed.as_secs_f64().max(1e-9),
    );
    let updates = wait_updates(&fake, mark, clicked, drain_limit).await;
    let since = fake.mark();
    let posts = fake.count_since(mark, "chat.postMessage");
    match updates {
        Ok(last) => println!(
            "RESULT slack-click-updates chat.update={clicks}/{clicks} last_update_after_clicks_ended={:.1}s \
             update_rate_overall={:.0}/s notices_posted={posts} fake_calls_since_clicks={} loadavg1={}",
            last.saturating_duration_since(ended).as_secs_f64(),
            clicks as f64 / last.saturating_duration_since(ended - phase.elapsed).as_secs_f64().max(1e-9),
            since - mark,
            load1()
        ),
        Err(seen) => println!(
            "RESULT slack-click-updates chat.update={seen}/{clicks} NOT ALL within {}s after the clicks \
             notices_posted={posts} outbox_backlog={} loadavg1={}",
            drain_limit.as_secs(),
            outbox_backlog(app.store()).await,
            load1()
        ),
    }
    app.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Slack fan-out
// ---------------------------------------------------------------------------------------------------------

async fn slack_fanout(args: &Args) -> anyhow::Result<()> {
    let variants = args.opts.get("variants").map_or("default,unpaced,wide", String::as_str).to_owned();
    let limit = Duration::from_secs(args.get("limit", 120)?);
    let dir = scratch("chat-slack-fanout-")?;
    let fake = FakeSlack::start().await?;
    let defaults = SlackSettings::new(SecretString::from(SLACK_BOT_TOKEN.to_owned()));
    let tuning = Tuning::default();
    println!(
        "CONFIG slack-fanout adapter_default max_in_flight={} min_interval={:?} dispatcher_concurrency={}",
        defaults.max_in_flight, defaults.min_interval, tuning.concurrency
    );
    for v in variants.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let (chat, tuning, what) = match v {
            "default" => (
                None,
                Tuning::default(),
                format!("as configured ({} in flight, {:?} apart)", defaults.max_in_flight, defaults.min_interval),
            ),
            "unpaced" => {
                let c = Tuning::default().concurrency;
                (
                    Some(vec![slack_adapter(&fake, c, Duration::ZERO)?]),
                    Tuning::default(),
                    format!("adapter {c} in flight, no interval"),
                )
            }
            "wide" => (
                Some(vec![slack_adapter(&fake, 128, Duration::ZERO)?]),
                Tuning { concurrency: 128, ..Tuning::default() },
                "adapter 128 in flight, no interval, dispatcher concurrency 128".to_owned(),
            ),
            other => bail!("unknown variant `{other}`: default, unpaced or wide"),
        };
        fanout_once(v, &what, &dir, &fake, chat, tuning, limit).await?;
    }
    Ok(())
}

async fn fanout_once(
    label: &str,
    what: &str,
    dir: &tempfile::TempDir,
    fake: &FakeSlack,
    chat: Option<Vec<Arc<dyn ChatAdapter>>>,
    tuning: Tuning,
    limit: Duration,
) -> anyhow::Result<()> {
    let db = dir.path().join(format!("fanout-{label}.db"));
    let config = slack_config(&db, fake);
    let options = Options { chat, tuning, catalog: Some(catalog(&fanout_directory(), Some(FANOUT_POLICIES))?) };
    let app = Running::start(&config, options).await?;
    let is_member_dm = |c: &SlackCall| c.channel.starts_with("DUF");

    let mark = fake.mark();
    let t0 = Instant::now();
    let new = NewRequest {
        requester: "req@bench.test".to_owned(),
        resource: FANOUT_RESOURCE.to_owned(),
        justification: Some("fan-out bench".to_owned()),
        ..NewRequest::default()
    };
    let view = app.runtime.create(new, signoff::time::now()).await.map_err(|e| anyhow!("create: {e}"))?;
    let created = t0.elapsed();
    let posted = fake.wait_nth(mark, "chat.postMessage", FANOUT, limit, is_member_dm).await;
    let opens = fake.count_since(mark, "conversations.open");
    let fanout = match posted {
        Ok(at) => at - t0,
        Err(n) => {
            println!(
                "RESULT slack-fanout variant={label} ({what}) prompts_posted={n}/{FANOUT} NOT ALL within {}s",
                limit.as_secs()
            );
            app.stop().await;
            return Ok(());
        }
    };
    let first = fake
        .wait_nth(mark, "chat.postMessage", 1, Duration::ZERO, is_member_dm)
        .await
        .map_or(Duration::ZERO, |at| at - t0);
    // Each prompt's message reference is saved right after its post; wait for the last ones.
    wait_drained(app.store(), limit).await.ok_or_else(|| anyhow!("fan-out outbox not drained"))?;

    // One approval: member 0 clicks Approve on their prompt.
    let targets: Vec<Target> = pending_targets(&app.runtime, "slack").await?;
    let clicker = targets
        .iter()
        .find(|t| t.user == member_slack(0))
        .cloned()
        .ok_or_else(|| anyhow!("member 0 has no pending prompt in {}", view.id))?;
    let http = Http::new(app.addr);
    let mark2 = fake.mark();
    let t1 = Instant::now();
    send_slack_click(&http, slack_click_body(&clicker, &fake.hook_url(0))).await.map_err(|e| anyhow!("click: {e}"))?;
    let click_ms = t1.elapsed().as_secs_f64() * 1e3;
    let channel = clicker.channel.clone();
    let leftovers = FANOUT - 1;
    let dismissed =
        fake.wait_nth(mark2, "chat.update", leftovers, limit, |c| is_member_dm(c) && c.channel != channel).await;
    let dismissed_rows = prompts_in(app.store(), "dismissed").await;
    let dismiss = match dismissed {
        Ok(at) => format!(
            "dismiss_999={:.3}s goal<=1s {}",
            (at - t1).as_secs_f64(),
            if (at - t1) <= Duration::from_secs(1) { "MET" } else { "MISSED" }
        ),
        Err(n) => format!("dismiss_999=NOT ALL ({n}/{leftovers} within {}s)", limit.as_secs()),
    };
    println!(
        "RESULT slack-fanout variant={label} ({what}) create_returned={:.1}ms first_prompt={:.3}s \
         fanout_1000={:.3}s ({:.0} prompts/s) goal<=1s {} conversations.open={opens} | click->200={click_ms:.2}ms \
         {dismiss} dismissed_rows={dismissed_rows} loadavg1={}",
        created.as_secs_f64() * 1e3,
        first.as_secs_f64(),
        fanout.as_secs_f64(),
        FANOUT as f64 / fanout.as_secs_f64().max(1e-9),
        if fanout <= Duration::from_secs(1) { "MET" } else { "MISSED" },
        load1()
    );
    app.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The Bolt peer
// ---------------------------------------------------------------------------------------------------------

/// The repository's `benches/peer`.
fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join("peer")
}

/// The virtualenv with slack_bolt and gunicorn, made on first use.
fn bolt_venv() -> anyhow::Result<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bolt-venv");
    let python = venv.join("bin").join("python");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", "import slack_bolt, gunicorn"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        println!("SETUP bolt-peer: python3 -m venv {} && pip install -r benches/peer/requirements.txt", venv.display());
        let status =
            Command::new("python3").args(["-m", "venv"]).arg(&venv).status().context("running python3 -m venv")?;
        if !status.success() {
            bail!("python3 -m venv failed: {status}");
        }
        let status = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "-r"])
            .arg(peer_dir().join("requirements.txt"))
            .status()
            .context("running pip")?;
        if !status.success() || !ready(&python) {
            bail!("pip install -r benches/peer/requirements.txt failed: {status}");
        }
    }
    Ok(venv)
}

/// gunicorn serving `bolt_app:wsgi`, started and stopped by this bench.
struct Bolt {
    child: Child,
    addr: SocketAddr,
    db: PathBuf,
}

impl Bolt {
    async fn start(venv: &Path, dir: &Path, fake: &FakeSlack, workers: usize, threads: usize) -> anyhow::Result<Bolt> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let db = dir.join("bolt.db");
        let log = std::fs::File::create(dir.join("bolt.log"))?;
        let child = Command::new(venv.join("bin").join("gunicorn"))
            .args(["--workers", &workers.to_string(), "--threads", &threads.to_string()])
            .args(["--bind", &addr.to_string(), "--keep-alive", "75", "--log-level", "warning"])
            .arg("--chdir")
            .arg(peer_dir())
            .arg("bolt_app:wsgi")
            .env("SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET)
            .env("SLACK_BOT_TOKEN", SLACK_BOT_TOKEN)
            .env("SLACK_API_URL", format!("{}/", fake.api_url()))
            .env("BOLT_DB", &db)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting gunicorn")?;
        let mut bolt = Bolt { child, addr, db };
        // Ready when an unsigned POST is refused with 401 (Bolt verified it).
        let http = Http::new(addr);
        let started = Instant::now();
        loop {
            if let Ok((StatusCode::UNAUTHORIZED, _)) =
                http.post("/slack/interactions", &[], Bytes::from_static(b"payload=%7B%7D")).await
            {
                break;
            }
            if let Ok(Some(status)) = bolt.child.try_wait() {
                bail!("gunicorn exited with {status}; see {}", dir.join("bolt.log").display());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bolt.stop();
                bail!("the Bolt app was not ready after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(bolt)
    }

    async fn decisions(&self) -> anyhow::Result<i64> {
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}", self.db.display())).await?;
        let n = sqlx::query_scalar("SELECT COUNT(*) FROM decisions").fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(n)
    }

    /// SIGTERM to the gunicorn master this bench started (it stops its workers), then waits.
    fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Synthetic targets for Bolt: the same payload shape, with tokens and messages of its own.
fn bolt_targets(n: usize, offset: usize) -> Vec<Target> {
    (offset..offset + n)
        .map(|i| Target {
            token: format!("bolt{i:06}"),
            user: approver_slack(i),
            channel: format!("D{}", approver_slack(i)),
            message: format!("1700000000.{i:06}"),
        })
        .collect()
}

async fn bolt_peer(args: &Args) -> anyhow::Result<()> {
    let rate: f64 = args.get("rate", 200.0)?;
    let seconds: f64 = args.get("seconds", 20.0)?;
    let closed: usize = args.get("closed", 6_000)?;
    let callers: usize = args.get("callers", 64)?;
    let workers: usize = args.get("bolt-workers", 2)?;
    let threads: usize = args.get("bolt-threads", 16)?;
    let closed_limit = Duration::from_secs(args.get("closed-limit", 60)?);
    let open = (rate * seconds).round() as usize;
    let items = open + closed;
    let venv = bolt_venv()?;
    let dir = scratch("chat-bolt-peer-")?;
    let fake = FakeSlack::start().await?;

    // signoff
    let db = dir.path().join("signoff.db");
    let config = slack_config(&db, &fake);
    let setup = prepare(&config, items, Some(vec![slack_adapter(&fake, 64, Duration::ZERO)?])).await?;
    println!("SETUP bolt-peer signoff {setup}");
    let app = Running::start(
        &config,
        Options { catalog: Some(catalog(&click_directory(items), None)?), ..Options::default() },
    )
    .await?;
    let targets = pending_targets(&app.runtime, "slack").await?;
    if targets.len() < items {
        bail!("only {} pending prompts with a Slack message, {items} needed", targets.len());
    }
    let http = Http::new(app.addr);
    let mark = fake.mark();
    let s_open = slack_open_loop(&http, &fake, &targets[..open], rate).await;
    let s_open_load = load1();
    let s_mark = fake.mark();
    let s_started = Instant::now();
    let s_closed = slack_closed_loop(&http, &fake, &targets[open..], callers, closed_limit).await;
    let s_closed_load = load1();
    // signoff answers once the decision is committed and leaves `chat.update` to the outbox; Bolt calls it
    // before its thread takes the next click. Throughput until every clicked message is updated compares the
    // same work.
    let s_updated = wait_updates(&fake, s_mark, &targets[open..], Duration::from_secs(120)).await;
    let committed = slack_committed(&app.runtime, &targets).await?;
    let refused = fake.count_since(mark, "response_url");
    let backlog = outbox_backlog(app.store()).await;
    app.stop().await;
    println!(
        "RESULT bolt-peer signoff open rate={rate}/s n={open} ok={} {} {} loadavg1={s_open_load}",
        s_open.ok,
        s_open.latency_summary(),
        s_open.error_summary()
    );
    println!(
        "RESULT bolt-peer signoff closed callers={callers} n={} ok={} throughput={:.0}/s until_every_update={} {} {} \
         committed={committed}/{} refused={refused} outbox_backlog_at_end={backlog} loadavg1={s_closed_load}",
        s_closed.ok + s_closed.errors,
        s_closed.ok,
        s_closed.rate(),
        until_updated(s_closed.ok, s_started, &s_updated),
        s_closed.latency_summary(),
        s_closed.error_summary(),
        s_open.ok + s_closed.ok,
    );

    // Bolt
    let mut bolt = Bolt::start(&venv, dir.path(), &fake, workers, threads).await?;
    let bhttp = Http::new(bolt.addr);
    let mark = fake.mark();
    let b_targets = bolt_targets(items, 0);
    let b_open = slack_open_loop(&bhttp, &fake, &b_targets[..open], rate).await;
    let b_open_load = load1();
    let b_mark = fake.mark();
    let b_started = Instant::now();
    let b_closed = slack_closed_loop(&bhttp, &fake, &b_targets[open..], callers, closed_limit).await;
    let b_closed_load = load1();
    let b_updated = fake.wait_nth(b_mark, "chat.update", b_closed.ok, Duration::from_secs(60), |_| true).await;
    let sent = b_open.ok + b_closed.ok;
    let updated = fake.wait_nth(mark, "chat.update", sent, Duration::from_secs(60), |_| true).await;
    let rows = bolt.decisions().await;
    bolt.stop();
    let rows = rows?;
    println!(
        "RESULT bolt-peer bolt open rate={rate}/s n={open} ok={} {} {} loadavg1={b_open_load}",
        b_open.ok,
        b_open.latency_summary(),
        b_open.error_summary()
    );
    println!(
        "RESULT bolt-peer bolt closed callers={callers} n={} ok={} throughput={:.0}/s until_every_update={} {} {} \
         committed={rows}/{sent} chat.update={} (gunicorn --workers {workers} --threads {threads}) \
         loadavg1={b_closed_load}",
        b_closed.ok + b_closed.errors,
        b_closed.ok,
        b_closed.rate(),
        until_updated(b_closed.ok, b_started, &b_updated),
        b_closed.latency_summary(),
        b_closed.error_summary(),
        match updated {
            Ok(_) => format!("{sent}/{sent}"),
            Err(n) => format!("{n}/{sent}"),
        },
    );
    let throughput = s_closed.rate() / b_closed.rate().max(1e-9);
    let sustained = match (s_updated, b_updated) {
        (Ok(s), Ok(b)) => {
            let rate = |n: usize, from: Instant, to: Instant| n as f64 / (to - from).as_secs_f64().max(1e-9);
            format!("{:.1}x", rate(s_closed.ok, s_started, s) / rate(b_closed.ok, b_started, b).max(1e-9))
        }
        _ => "n/a (updates missing)".to_owned(),
    };
    let p99_open = s_open.pct(99.0) / b_open.pct(99.0).max(1e-9);
    let p99_closed = s_closed.pct(99.0) / b_closed.pct(99.0).max(1e-9);
    println!(
        "RESULT bolt-peer ratio throughput signoff/bolt={throughput:.1}x (goal >=20x: {}) \
         until_every_update={sustained} p99_open_loop signoff/bolt={p99_open:.3} (goal <=0.1: {}) \
         p99_closed_loop signoff/bolt={p99_closed:.3}",
        if throughput >= 20.0 { "MET" } else { "MISSED" },
        if p99_open <= 0.1 { "MET" } else { "MISSED" },
    );
    Ok(())
}

/// Clicks per second from `started` until the last clicked message was updated, or how many updates arrived.
fn until_updated(clicks: usize, started: Instant, last_update: &Result<Instant, usize>) -> String {
    match last_update {
        Ok(at) => format!("{:.0}/s", clicks as f64 / (*at - started).as_secs_f64().max(1e-9)),
        Err(n) => format!("incomplete({n}/{clicks})"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Discord clicks
// ---------------------------------------------------------------------------------------------------------

static INTERACTION_IDS: AtomicU64 = AtomicU64::new(1_300_000_000_000_000_001);

/// The interaction Discord POSTs when `t.user` clicks Approve on `t`'s DM message.
fn discord_click_body(t: &Target) -> Bytes {
    let body = json!({
        "type": 3, "version": 1, "id": INTERACTION_IDS.fetch_add(1, Ordering::Relaxed).to_string(),
        "application_id": DISCORD_APP_ID, "token": "aW50ZXJhY3Rpb24tdG9rZW4tZm9yLWJlbmNo",
        "app_permissions": "442368", "locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": { "0": "290926798626357999" }, "attachment_size_limit": 10485760,
        "context": 1, "channel_id": t.channel, "channel": { "id": t.channel, "type": 1 },
        "user": { "id": t.user, "username": format!("user{}", t.user), "discriminator": "0", "global_name": null },
        "message": {
            "id": t.message, "channel_id": t.channel, "type": 0, "content": "Access request", "embeds": [],
            "components": [], "flags": 0, "tts": false, "pinned": false, "mentions": [], "mention_roles": [],
            "mention_everyone": false, "attachments": [], "timestamp": "2026-11-23T10:42:00.000000+00:00",
            "edited_timestamp": null,
            "author": { "id": DISCORD_APP_ID, "username": "signoff", "discriminator": "0", "bot": true },
        },
        "data": { "custom_id": format!("so:a:{}", t.token), "component_type": 2, "id": 2 },
    });
    Bytes::from(body.to_string())
}

/// POSTs an interaction signed now; insists on 200 and a type-7 (update the message) response.
async fn send_discord_click(http: &Http, key: &SigningKey, body: Bytes) -> Result<(), String> {
    let ts = unix_now().to_string();
    let mut signed = ts.clone().into_bytes();
    signed.extend_from_slice(&body);
    let signature = hex::encode(key.sign(&signed).to_bytes());
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("x-signature-ed25519", signature),
        ("x-signature-timestamp", ts),
    ];
    let (status, bytes) = http.post("/discord/interactions", &headers, body).await?;
    if status != StatusCode::OK {
        return Err(format!("{status} {}", String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()));
    }
    let reply: Value = serde_json::from_slice(&bytes).map_err(|e| format!("response is not JSON: {e}"))?;
    match reply["type"].as_u64() {
        Some(7) => Ok(()),
        other => {
            Err(format!("response type {other:?}, not 7: {}", reply.to_string().chars().take(200).collect::<String>()))
        }
    }
}

async fn discord_click(args: &Args) -> anyhow::Result<()> {
    let items: usize = args.get("items", 5_000)?;
    let rate: f64 = args.get("rate", 200.0)?;
    let seconds: f64 = args.get("seconds", 20.0)?;
    let clicks = ((rate * seconds).round() as usize).min(items);
    let dir = scratch("chat-discord-click-")?;
    let db = dir.path().join("signoff.db");
    let fake = FakeDiscord::start().await?;
    let config = discord_config(&db, &fake);

    // The Discord adapter has no pacing: the config's own adapter delivers the setup prompts.
    let setup = prepare(&config, items, None).await?;
    println!("SETUP discord-click {setup} fake: dm={} post={}", fake.count("dm"), fake.count("post"));

    let app = Running::start(
        &config,
        Options { catalog: Some(catalog(&click_directory(items), None)?), ..Options::default() },
    )
    .await?;
    let targets = pending_targets(&app.runtime, "discord").await?;
    if targets.len() < clicks {
        bail!("only {} pending prompts with a Discord message, {clicks} needed", targets.len());
    }
    let clicked = &targets[..clicks];
    let bodies: Vec<Bytes> = clicked.iter().map(discord_click_body).collect();
    let http = Http::new(app.addr);
    let key = Arc::new(discord_key());
    let (posts0, patches0) = (fake.count("post"), fake.count("patch"));
    let phase = open_loop(bodies.len(), rate, |i| {
        let http = http.clone();
        let key = key.clone();
        let body = bodies[i].clone();
        async move { send_discord_click(&http, &key, body).await }
    })
    .await;
    let load = load1();
    let answered: Vec<String> = sqlx::query_scalar("SELECT token FROM prompts WHERE state = 'answered'")
        .fetch_all(app.store().reader())
        .await?;
    let tokens: HashSet<&str> = clicked.iter().map(|t| t.token.as_str()).collect();
    let committed = answered.iter().filter(|t| tokens.contains(t.as_str())).count();
    let drained = wait_drained(app.store(), Duration::from_secs(120)).await;
    println!(
        "RESULT discord-click rate={rate}/s clicks={clicks} ok_type7={} {} {} committed={committed}/{clicks} \
         outbox_drained_after={} fake_after: post={} patch={} loadavg1={load}",
        phase.ok,
        phase.latency_summary(),
        phase.error_summary(),
        drained.map_or_else(|| "NOT within 120s".to_owned(), |d| format!("{:.1}s", d.as_secs_f64())),
        fake.count("post") - posts0,
        fake.count("patch") - patches0,
    );
    app.stop().await;
    Ok(())
}
