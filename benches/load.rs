//! Load scenarios: durable decisions per second (SQLite, PostgreSQL), API latency under an open-loop request
//! rate, and memory and decision latency with 1,000,000 pending items.
//!
//! Run with `cargo bench --bench load -- <scenario> [--option value ...]`:
//!
//! - `decisions`: durable decisions per second on SQLite (`synchronous = FULL`, the store's default) through
//!   [`Runtime::decide`] with 1 caller (one commit per decision: the baseline) and with many concurrent callers
//!   (group commit). Options: `--callers 1,64,256,512`, `--decisions 10000` (per concurrent run),
//!   `--baseline 1000` (for 1 caller).
//! - `decisions-pg`: the same on PostgreSQL at `SIGNOFF_TEST_POSTGRES_URL` (one fresh database per run, dropped
//!   afterwards); reports itself skipped when the variable is not set.
//! - `api`: the real HTTP server ([`Application::build`] on 127.0.0.1:0) under an open loop of
//!   `POST /api/v1/requests`: latency from each request's scheduled send time to its 201. Options:
//!   `--rate 200` (requests per second), `--seconds 20`, `--signing off|on|both` (`[audit] signing_key`: a
//!   signed checkpoint per commit; `both` runs without, then with, on fresh databases).
//! - `million`: 1,000,000 pending items written straight into a SQLite file (rows copied from one request
//!   created through the runtime, with fresh ids), then `signoff serve` started on it as a child process:
//!   its RSS, and HTTP decision latency compared with the same workload on a database of 5,000 items, in the
//!   same run. Both servers run at once and the workload alternates between them in rounds. Options:
//!   `--items 1000000`, `--small 10000`.
//! - `verify`: `signoff audit verify` (chain, every checkpoint's signature, every item replayed) on a SQLite file
//!   of `--items 1000000` items copied from four signed templates (pending for the hot manager, pending, approved
//!   for 8h with a grant, denied), re-chained and re-signed: wall and CPU time, peak RSS. `--db PATH` keeps the
//!   file (and reuses it when it exists), `--runs N` times the command N times.
//! - `probe`: the disk alone (fdatasync per second, SQLite `synchronous = FULL` commits per second).
//!
//! Every scenario is bounded in count and time, talks only to 127.0.0.1, works in a temporary folder under
//! `CARGO_TARGET_TMPDIR` that is deleted at the end, and prints one `RESULT` line per measurement. Each
//! scenario first probes the disk, so figures can be read as ratios to what the disk did in the same run.
//!
//! The directory: 1,000 managers with 10 reports each (10,000 users), and one "hot" manager with 100 reports.
//! Resource `app` uses the built-in `MANAGER` workflow (one approval, from the requester's manager) and nodes
//! time out after 72 h (as in `examples/signoff.toml`), so every pending item also has a timer row.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::SecretString;
use signoff_port::{ChatAdapter, Platform};
use sqlx::{Connection, Row};

use signoff::app::{Application, Options};
use signoff::audit::{Canonical, GENESIS, Signer};
use signoff::catalog::{Catalog, CatalogSource, Settings, Snapshot};
use signoff::chat::Chat;
use signoff::chat::console::ConsoleAdapter;
use signoff::chat::memory::MemoryAdapter;
use signoff::config::Config;
use signoff::diag::Diagnostics;
use signoff::directory;
use signoff::engine::{self, Decision};
use signoff::policy::Policies;
use signoff::request::RequestSpec;
use signoff::runtime::{NewRequest, Runtime, Tuning};
use signoff::source::{self, Format};
use signoff::store::{Store, from_ms};

/// Managers in the directory; each has [`REPORTS`] reports.
const MANAGERS: usize = 1_000;
/// Reports per manager.
const REPORTS: usize = 10;
/// Users who ask (`usr-00000` ... `usr-09999`).
const USERS: usize = MANAGERS * REPORTS;
/// Reports of the hot manager (`hot-000` ... `hot-099`).
const HOT_USERS: usize = 100;
/// The manager of every `hot-*` user: in `million`, one item in ten waits for them.
const HOT_MANAGER: &str = "mgr-hot@load.test";
/// The resource every request asks for.
const RESOURCE: &str = "app";
/// The API's bearer token in the `api` and `million` scenarios.
const TOKEN: &str = "load-test-token";
/// Longest any timed phase may run: every scenario is bounded in time as well as in count.
const PHASE_LIMIT: Duration = Duration::from_secs(180);
/// Longest a single HTTP call may take before it counts as an error.
const HTTP_TIMEOUT: Duration = Duration::from_secs(40);
/// Concurrent `Runtime::create` callers while preparing items to decide.
const CREATE_CALLERS: usize = 64;

fn user(i: usize) -> String {
    format!("usr-{i:05}@load.test")
}

fn hot_user(i: usize) -> String {
    format!("hot-{i:03}@load.test")
}

fn manager(j: usize) -> String {
    format!("mgr-{j:04}@load.test")
}

/// The manager of `user(i)`.
fn manager_of(i: usize) -> String {
    manager(i / REPORTS % MANAGERS)
}

// ---------------------------------------------------------------------------------------------------------
// Entry point and options
// ---------------------------------------------------------------------------------------------------------

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
        let scenario =
            scenario.ok_or("name a scenario: decisions, decisions-pg, api, million, verify, scim or probe")?;
        Ok(Args { scenario, opts })
    }

    fn get<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T> {
        match self.opts.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| anyhow!("--{name}: cannot read `{v}`")),
        }
    }

    fn list(&self, name: &str, default: &str) -> anyhow::Result<Vec<usize>> {
        let raw = self.opts.get(name).map_or(default, String::as_str);
        raw.split(',').map(|s| s.trim().parse().map_err(|_| anyhow!("--{name}: cannot read `{s}`"))).collect()
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
    let metrics = install_metrics();
    if args.opts.get("statements").is_some_and(|v| v == "on") {
        let _ = STATEMENTS.set(Statements::install());
    }
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
            "decisions" => decisions_sqlite(&args, &metrics).await,
            "decisions-pg" => decisions_pg(&args, &metrics).await,
            "api" => api(&args, &metrics).await,
            "million" => million(&args).await,
            "verify" => verify_scenario(&args).await,
            "probe" => probe_only().await,
            "scim" => scim_push(&args, &metrics).await,
            other => {
                Err(anyhow!("unknown scenario `{other}`: decisions, decisions-pg, api, million, verify, scim or probe"))
            }
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

/// nproc, CPU model, kernel, date: printed first, copied into BENCHMARKS.md.
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
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    )
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

// ---------------------------------------------------------------------------------------------------------
// Metrics: the committer records `signoff_commit_batch_size` per transaction
// ---------------------------------------------------------------------------------------------------------

/// Installs the process-wide recorder before anything records, so the committer's histogram lands here
/// (`Application::build` then finds a recorder installed and keeps its own for `/metrics` only).
fn install_metrics() -> PrometheusHandle {
    let batches = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("signoff_commit_batch_size".to_owned()), &batches)
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        eprintln!("warning: a metrics recorder was already installed; commit counts will read 0");
    }
    handle
}

/// The sum of every series of `name` (all label sets) in the rendered metrics.
fn metric(handle: &PrometheusHandle, name: &str) -> f64 {
    handle
        .render()
        .lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Committer transactions and deliveries so far.
#[derive(Debug, Clone, Copy)]
struct Counters {
    commits: f64,
    jobs: f64,
    deliveries: f64,
}

impl Counters {
    fn read(handle: &PrometheusHandle) -> Counters {
        Counters {
            commits: metric(handle, "signoff_commit_batch_size_count"),
            jobs: metric(handle, "signoff_commit_batch_size_sum"),
            deliveries: metric(handle, "signoff_dispatch_seconds_count"),
        }
    }

    fn since(self, before: Counters) -> Counters {
        Counters {
            commits: self.commits - before.commits,
            jobs: self.jobs - before.jobs,
            deliveries: self.deliveries - before.deliveries,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Statements: which SQL the process ran, how often and for how long (`--statements on`)
// ---------------------------------------------------------------------------------------------------------

/// Counts sqlx's per-statement events (target `sqlx::query`, level DEBUG): statement text, executions and
/// seconds spent, so a run can say where database time goes. Costs a little per statement, so it is off
/// unless asked for, and runs that report headline figures leave it off.
#[derive(Clone, Default)]
struct Statements(Arc<std::sync::Mutex<HashMap<String, (u64, f64)>>>);

/// Set by `--statements on`.
static STATEMENTS: std::sync::OnceLock<Statements> = std::sync::OnceLock::new();

impl Statements {
    fn install() -> Statements {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let s = Statements::default();
        let filter = tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::DEBUG);
        if tracing_subscriber::registry().with(s.clone().with_filter(filter)).try_init().is_err() {
            eprintln!("warning: a tracing subscriber was already installed; statements are not counted");
        }
        s
    }

    /// Everything counted since the last call, most time first.
    fn take(&self) -> Vec<(String, u64, f64)> {
        let map = self.0.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default();
        let mut v: Vec<(String, u64, f64)> = map.into_iter().map(|(k, (n, t))| (k, n, t)).collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }

    /// Prints the `top` statements of the period, per `per` units of work.
    fn report(&self, label: &str, per: f64, top: usize) {
        let all = self.take();
        let total_n: u64 = all.iter().map(|s| s.1).sum();
        let total_t: f64 = all.iter().map(|s| s.2).sum();
        println!(
            "STATEMENTS {label}: {total_n} statements ({:.1} per unit), {total_t:.2}s inside SQLite/PostgreSQL calls",
            total_n as f64 / per.max(1.0)
        );
        for (sql, n, t) in all.iter().take(top) {
            println!("STATEMENTS   {n:>8} ({:>6.2}/unit) {t:>7.2}s  {sql}", *n as f64 / per.max(1.0));
        }
    }
}

#[derive(Default)]
struct StatementFields {
    summary: String,
    statement: String,
    secs: f64,
}

impl tracing::field::Visit for StatementFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = value;
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "summary" if self.summary.is_empty() => self.summary = format!("{value:?}").trim_matches('"').to_owned(),
            "db.statement" if self.statement.is_empty() => {
                self.statement = format!("{value:?}").trim_matches('"').replace("\\n", " ")
            }
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = StatementFields::default();
        event.record(&mut f);
        let text = if f.statement.trim().is_empty() { f.summary } else { f.statement };
        let key: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(110).collect();
        if let Ok(mut m) = self.0.lock() {
            let e = m.entry(key).or_default();
            e.0 += 1;
            e.1 += f.secs;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Latency figures and a closed-loop driver
// ---------------------------------------------------------------------------------------------------------

/// What a timed phase did.
#[derive(Debug, Default)]
struct Phase {
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// When each successful call returned, from the phase's start.
    ends: Vec<Duration>,
}

impl Phase {
    /// Calls per second over the first and the last quarter of the successful calls (does the rate hold
    /// as the tables grow?).
    fn quarter_rates(&self) -> (f64, f64) {
        let mut ends = self.ends.clone();
        ends.sort_unstable();
        let q = ends.len() / 4;
        if q == 0 {
            return (0.0, 0.0);
        }
        let first = q as f64 / ends[q - 1].as_secs_f64().max(1e-9);
        let last = q as f64 / (ends[ends.len() - 1] - ends[ends.len() - 1 - q]).as_secs_f64().max(1e-9);
        (first, last)
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds a later piece of the same workload (run after this one, as the next round).
    fn absorb(&mut self, later: Phase) {
        let offset = self.elapsed;
        self.ok += later.ok;
        self.errors += later.errors;
        self.first_error = self.first_error.take().or(later.first_error);
        self.elapsed += later.elapsed;
        self.latencies.extend(later.latencies);
        self.ends.extend(later.ends.into_iter().map(|e| e + offset));
    }

    /// Nearest-rank percentile of the successful calls, in milliseconds.
    fn pct(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
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
}

fn percentile(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v: Vec<Duration> = samples.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1].as_secs_f64() * 1e3
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
                match call(i).await {
                    Ok(()) => {
                        phase.ok += 1;
                        phase.latencies.push(t.elapsed());
                        phase.ends.push(started.elapsed());
                    }
                    Err(e) => {
                        phase.errors += 1;
                        phase.first_error.get_or_insert(e);
                    }
                }
            }
            phase
        });
    }
    let mut total = Phase::default();
    while let Some(done) = tasks.join_next().await {
        let Ok(p) = done else {
            total.errors += 1;
            total.first_error.get_or_insert_with(|| "a caller task panicked".to_owned());
            continue;
        };
        total.ok += p.ok;
        total.errors += p.errors;
        if total.first_error.is_none() {
            total.first_error = p.first_error;
        }
        total.latencies.extend(p.latencies);
        total.ends.extend(p.ends);
    }
    total.elapsed = started.elapsed();
    total
}

// ---------------------------------------------------------------------------------------------------------
// The disk, measured in the same run
// ---------------------------------------------------------------------------------------------------------

/// What the disk did in one second each.
#[derive(Debug, Clone, Copy)]
struct Disk {
    fdatasync_per_s: f64,
    sqlite_full_commits_per_s: f64,
    /// One-row INSERTs inside one open transaction on the store's writer connection: the cost of one
    /// statement round trip (tokio task -> sqlx's SQLite worker thread -> back), with no fsync.
    insert_in_tx_per_s: f64,
}

impl std::fmt::Display for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fdatasync={:.0}/s sqlite_full_commits={:.0}/s statements_in_tx={:.0}/s ({:.1}us each)",
            self.fdatasync_per_s,
            self.sqlite_full_commits_per_s,
            self.insert_in_tx_per_s,
            1e6 / self.insert_in_tx_per_s.max(1.0)
        )
    }
}

/// 4 KiB write + fdatasync in a loop for a second, then one-row SQLite transactions through signoff's own
/// store (WAL, `synchronous = FULL`) for a second.
async fn probe_disk(dir: &Path) -> anyhow::Result<Disk> {
    let file = dir.join("fsync-probe");
    let fdatasync_per_s = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::File::create(&file)?;
        let block = [7u8; 4096];
        let started = Instant::now();
        let mut n = 0u32;
        while started.elapsed() < Duration::from_secs(1) {
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&block)?;
            f.sync_data()?;
            n += 1;
        }
        let rate = f64::from(n) / started.elapsed().as_secs_f64();
        drop(f);
        std::fs::remove_file(&file)?;
        Ok(rate)
    })
    .await??;
    let db = dir.join("commit-probe.db");
    let store = Store::connect(&sqlite_url(&db)).await?;
    sqlx::query("CREATE TABLE probe (n BIGINT NOT NULL)").execute(store.writer()).await?;
    let started = Instant::now();
    let mut n = 0i64;
    while started.elapsed() < Duration::from_secs(1) {
        let mut tx = store.begin().await?;
        sqlx::query("INSERT INTO probe (n) VALUES ($1)").bind(n).execute(&mut *tx).await?;
        tx.commit().await?;
        n += 1;
    }
    let sqlite_full_commits_per_s = n as f64 / started.elapsed().as_secs_f64();
    let mut tx = store.begin().await?;
    let started = Instant::now();
    let mut m = 0i64;
    while started.elapsed() < Duration::from_secs(1) {
        sqlx::query("INSERT INTO probe (n) VALUES ($1)").bind(m).execute(&mut *tx).await?;
        m += 1;
    }
    let insert_in_tx_per_s = m as f64 / started.elapsed().as_secs_f64();
    tx.rollback().await?;
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Ok(Disk { fdatasync_per_s, sqlite_full_commits_per_s, insert_in_tx_per_s })
}

async fn probe_only() -> anyhow::Result<()> {
    let dir = scratch("load-probe")?;
    for _ in 0..3 {
        println!("RESULT probe {}", probe_disk(dir.path()).await?);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The catalog: directory and policies built in memory (and written to a file for `signoff serve`)
// ---------------------------------------------------------------------------------------------------------

fn directory_yaml() -> String {
    let mut y = String::with_capacity(64 * (USERS + MANAGERS + HOT_USERS));
    y.push_str("source: okta\nusers:\n  - { id: ceo@load.test, work_status: FULL_TIME }\n");
    let _ = writeln!(y, "  - {{ id: {HOT_MANAGER}, manager: ceo@load.test }}");
    for j in 0..MANAGERS {
        let _ = writeln!(y, "  - {{ id: {}, manager: ceo@load.test }}", manager(j));
    }
    for i in 0..USERS {
        let _ = writeln!(y, "  - {{ id: {}, manager: {} }}", user(i), manager_of(i));
    }
    for i in 0..HOT_USERS {
        let _ = writeln!(y, "  - {{ id: {}, manager: {HOT_MANAGER} }}", hot_user(i));
    }
    let _ = writeln!(y, "resources:\n  - {{ id: {RESOURCE}, kind: app, name: Load App, workflow: MANAGER }}");
    y
}

/// The timeout of nodes that set none, as in `examples/signoff.toml`.
const DEFAULT_TIMEOUT: &str = "72h";

fn catalog(directory_yaml: &str) -> anyhow::Result<Catalog> {
    let fail = |d: Diagnostics| anyhow!("load catalog is invalid:\n{d}");
    let file: Arc<Path> = Arc::from(Path::new("load-directory.yaml"));
    let doc = source::parse_str(file, directory_yaml, Format::Yaml).map_err(|d| anyhow!("load directory YAML: {d}"))?;
    let dir = directory::load_documents(&[doc]).map_err(fail)?;
    let settings = Settings {
        default_timeout: Some(signoff::time::Duration::parse(DEFAULT_TIMEOUT).map_err(|e| anyhow!("{e}"))?),
        ..Settings::default()
    };
    Catalog::new(dir, Policies::builtin(), settings).map_err(fail)
}

fn new_request(requester: String) -> NewRequest {
    NewRequest {
        requester,
        resource: RESOURCE.to_owned(),
        justification: Some("load test".to_owned()),
        ..NewRequest::default()
    }
}

fn approve() -> Decision {
    Decision::Approve { duration: None, comment: None }
}

// ---------------------------------------------------------------------------------------------------------
// Scenario `decisions` / `decisions-pg`
// ---------------------------------------------------------------------------------------------------------

/// An item waiting for one approval.
#[derive(Debug, Clone)]
struct Pending {
    request: String,
    approver: String,
}

/// Chat for a run: a recording adapter (every prompt, closing and notice becomes an outbox row that the
/// dispatcher delivers), or none (no outbox rows: the committer alone).
fn chat(with_adapter: bool) -> Chat {
    let adapters: Vec<Arc<dyn ChatAdapter>> =
        if with_adapter { vec![Arc::new(MemoryAdapter::new(Platform::Console))] } else { Vec::new() };
    Chat::new(adapters)
}

/// Creates `n` one-item requests through the runtime from [`CREATE_CALLERS`] tasks.
async fn precreate(rt: &Runtime, n: usize) -> (Vec<Pending>, Phase) {
    let made: Arc<std::sync::Mutex<Vec<(usize, String)>>> = Arc::default();
    let sink = made.clone();
    let rt2 = rt.clone();
    let phase = closed_loop(n, CREATE_CALLERS, Instant::now() + PHASE_LIMIT, move |i| {
        let rt = rt2.clone();
        let sink = sink.clone();
        async move {
            let view =
                rt.create(new_request(user(i % USERS)), signoff::time::now()).await.map_err(|e| e.to_string())?;
            if let Ok(mut m) = sink.lock() {
                m.push((i, view.id));
            }
            Ok(())
        }
    })
    .await;
    let mut made = made.lock().map(|m| m.clone()).unwrap_or_default();
    made.sort();
    let pending = made.into_iter().map(|(i, request)| Pending { request, approver: manager_of(i % USERS) }).collect();
    (pending, phase)
}

/// 200 sequential `Runtime::request` reads (what `decide` and `create` return), spread over the items.
async fn read_views(rt: &Runtime, pending: &Arc<Vec<Pending>>) -> Phase {
    let rt = rt.clone();
    let pending = pending.clone();
    let step = (pending.len() / 200).max(1);
    let n = pending.len().min(200);
    closed_loop(n, 1, Instant::now() + PHASE_LIMIT, move |i| {
        let rt = rt.clone();
        let id = pending[i * step].request.clone();
        async move {
            match rt.request(&id).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!("{id} not found")),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await
}

/// CPU seconds used so far by each thread of this process, by thread id (`/proc/self/task/*/stat`).
fn thread_cpu() -> HashMap<u32, (String, f64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ...`: comm may contain spaces, so split after the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `state`.
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        out.insert(tid, (comm, (ticks(11) + ticks(12)) / 100.0));
    }
    out
}

/// (busy, total) jiffies of the whole machine (`/proc/stat`), every process included.
fn machine_jiffies() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else { return (0.0, 0.0) };
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// How busy the machine's CPUs were since `before` (from [`machine_jiffies`]), in percent.
fn machine_busy_since(before: (f64, f64)) -> f64 {
    let now = machine_jiffies();
    100.0 * (now.0 - before.0) / (now.1 - before.1).max(1.0)
}

/// CPU used between two [`thread_cpu`] readings: the total, and the busiest threads.
fn cpu_since(before: &HashMap<u32, (String, f64)>) -> (f64, String) {
    let now = thread_cpu();
    let mut per: Vec<(u32, String, f64)> = now
        .into_iter()
        .map(|(tid, (comm, t))| {
            let t0 = before.get(&tid).map_or(0.0, |b| b.1);
            (tid, comm, t - t0)
        })
        .filter(|x| x.2 > 0.0)
        .collect();
    per.sort_by(|a, b| b.2.total_cmp(&a.2));
    let total = per.iter().map(|x| x.2).sum();
    let top = per.iter().take(6).map(|(tid, comm, t)| format!("{comm}/{tid}={t:.2}s")).collect::<Vec<_>>().join(" ");
    (total, top)
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

/// One measured run: fresh database, `n` items created, then `n` decisions from `callers` tasks.
async fn decisions_run(
    backend: &str,
    url: &str,
    cat: Arc<Catalog>,
    callers: usize,
    n: usize,
    with_chat: bool,
    metrics: &PrometheusHandle,
) -> anyhow::Result<f64> {
    let store = Store::open(url).await.context("opening the store")?;
    let rt = Runtime::start(store, cat, chat(with_chat), None, Tuning::default(), None);

    let before_create = Counters::read(metrics);
    let (pending, created) = precreate(&rt, n).await;
    let create_counts = Counters::read(metrics).since(before_create);
    if created.ok != n {
        bail!("preparing items: {} of {n} created; {}", created.ok, created.error_summary());
    }
    let drained = if with_chat { wait_drained(rt.store(), PHASE_LIMIT).await } else { Some(Duration::ZERO) };
    let Some(drained) = drained else { bail!("the outbox did not drain after the creates") };

    let pending = Arc::new(pending);
    let views_before = read_views(&rt, &pending).await;
    if let Some(s) = STATEMENTS.get() {
        s.take();
    }
    let before = Counters::read(metrics);
    let cpu_before = thread_cpu();
    let machine_before = machine_jiffies();
    let rt2 = rt.clone();
    let work = pending.clone();
    let phase = closed_loop(n, callers, Instant::now() + PHASE_LIMIT, move |i| {
        let rt = rt2.clone();
        let p = work[i].clone();
        async move {
            let view = rt
                .decide(&p.request, &p.approver, approve(), "api", signoff::time::now())
                .await
                .map_err(|e| e.to_string())?;
            match view.state {
                engine::ItemStatus::Approved => Ok(()),
                other => Err(format!("request {} is {other:?} after the approval", p.request)),
            }
        }
    })
    .await;
    let counts = Counters::read(metrics).since(before);
    let (cpu, busiest) = cpu_since(&cpu_before);
    let machine_busy = machine_busy_since(machine_before);
    if let Some(s) = STATEMENTS.get() {
        s.report(
            &format!("decide phase, backend={backend} callers={callers} chat={with_chat}, per decision"),
            phase.ok as f64,
            25,
        );
    }
    let backlog_at_end = outbox_backlog(rt.store()).await;
    let drain_after = if with_chat { wait_drained(rt.store(), PHASE_LIMIT).await } else { Some(Duration::ZERO) };
    let views_after = read_views(&rt, &pending).await;
    let approved: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE status = 'approved'")
        .fetch_one(rt.store().reader())
        .await?;
    rt.shutdown().await;
    rt.store().close().await;

    println!(
        "RESULT decisions backend={backend} chat={} callers={callers} decisions={} {} elapsed={:.2}s \
         rate={:.0}/s commits={:.0} commits_per_s={:.0} decisions_per_commit={:.1} {} \
         approved_in_db={approved} outbox_backlog_at_end={backlog_at_end} drain_after={} deliveries={:.0}",
        if with_chat { "memory" } else { "none" },
        phase.ok,
        phase.error_summary(),
        phase.elapsed.as_secs_f64(),
        phase.rate(),
        counts.commits,
        counts.commits / phase.elapsed.as_secs_f64(),
        counts.jobs / counts.commits.max(1.0),
        phase.latency_summary(),
        drain_after.map_or_else(|| "timeout".to_owned(), |d| format!("{:.2}s", d.as_secs_f64())),
        counts.deliveries,
    );
    let (first_q, last_q) = phase.quarter_rates();
    let drain_s = drain_after.map_or(f64::NAN, |d| d.as_secs_f64());
    println!(
        "RESULT   (process CPU during the decisions {cpu:.2}s = {:.3}ms per decision = {:.0}% of 2 cores (machine, all processes: {machine_busy:.0}% busy); busiest threads: {busiest}; \
         sustained rate counting the outbox drain: {:.0}/s)",
        cpu * 1e3 / phase.ok.max(1) as f64,
        cpu / phase.elapsed.as_secs_f64() / 2.0 * 100.0,
        phase.ok as f64 / (phase.elapsed.as_secs_f64() + drain_s)
    );
    println!(
        "RESULT   (rate over the first quarter of decisions {first_q:.0}/s, last quarter {last_q:.0}/s; \
         Runtime::request p50 {:.3}ms with 0 grants, {:.3}ms with {approved} grants = {:.1}x)",
        views_before.pct(50.0),
        views_after.pct(50.0),
        views_after.pct(50.0) / views_before.pct(50.0).max(1e-9)
    );
    println!(
        "RESULT   (preparing: {} creates from {CREATE_CALLERS} callers in {:.2}s = {:.0}/s, {:.0} commits, \
         create {}, outbox drained {:.2}s later)",
        created.ok,
        created.elapsed.as_secs_f64(),
        created.rate(),
        create_counts.commits,
        created.latency_summary(),
        drained.as_secs_f64()
    );
    Ok(phase.rate())
}

/// The runs of `decisions` on one backend: 1 caller (baseline), then each concurrent caller count, with and
/// without a chat adapter.
async fn decisions_suite(
    args: &Args,
    metrics: &PrometheusHandle,
    backend: &str,
    mut fresh_url: impl FnMut(&str) -> FreshDbFuture,
) -> anyhow::Result<()> {
    let callers = args.list("callers", "1,64,256,512")?;
    let n = args.get("decisions", 10_000usize)?;
    let baseline_n = args.get("baseline", 1_000usize)?;
    let only_chat: Option<bool> = args.opts.get("chat").map(|v| v != "none");
    let cat = Arc::new(catalog(&directory_yaml())?);
    let mut rates: Vec<(bool, usize, f64)> = Vec::new();
    for with_chat in [true, false] {
        if only_chat.is_some_and(|c| c != with_chat) {
            continue;
        }
        for &c in &callers {
            let count = if c == 1 { baseline_n } else { n };
            let label = format!("{backend}-{}-{c}", if with_chat { "chat" } else { "nochat" });
            let url = fresh_url(&label).await?;
            let rate = decisions_run(backend, &url.url, cat.clone(), c, count, with_chat, metrics).await;
            url.cleanup().await;
            rates.push((with_chat, c, rate?));
        }
    }
    for with_chat in [true, false] {
        let base = rates.iter().find(|(w, c, _)| *w == with_chat && *c == 1).map(|r| r.2);
        let Some(base) = base else { continue };
        for (w, c, r) in &rates {
            if *w == with_chat && *c != 1 {
                println!(
                    "RESULT ratio backend={backend} chat={} callers={c} vs 1 caller: {:.2}x ({r:.0}/s vs {base:.0}/s)",
                    if with_chat { "memory" } else { "none" },
                    r / base
                );
            }
        }
    }
    Ok(())
}

/// A database made for one run, and how to remove it afterwards.
struct FreshDb {
    url: String,
    /// A SQLite file to delete (with its `-wal` and `-shm`).
    file: Option<PathBuf>,
    /// A PostgreSQL database to drop: (admin URL, name).
    pg: Option<(String, String)>,
}

/// Makes a [`FreshDb`] for a run label.
type FreshDbFuture = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<FreshDb>> + Send>>;

impl FreshDb {
    async fn cleanup(self) {
        if let Some(f) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
        if let Some((admin, name)) = self.pg
            && let Err(e) = pg_exec(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
        {
            eprintln!("warning: could not drop {name}: {e:#}");
        }
    }
}

async fn decisions_sqlite(args: &Args, metrics: &PrometheusHandle) -> anyhow::Result<()> {
    let dir = scratch("load-decisions")?;
    println!("RESULT disk {}", probe_disk(dir.path()).await?);
    let base = dir.path().to_owned();
    decisions_suite(args, metrics, "sqlite", move |label| {
        let file = base.join(format!("{label}.db"));
        Box::pin(async move { Ok(FreshDb { url: sqlite_url(&file), file: Some(file), pg: None }) })
    })
    .await?;
    println!("RESULT disk {}", probe_disk(dir.path()).await?);
    Ok(())
}

/// Runs one statement on a PostgreSQL URL (CREATE/DROP DATABASE cannot run in a transaction or a pool's
/// prepared statement, so a plain connection and a raw query).
async fn pg_exec(url: &str, sql: &str) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// `url` with its database name replaced by `name`.
fn pg_url_with_db(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").ok_or_else(|| anyhow!("not a URL"))? + 3;
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

async fn decisions_pg(args: &Args, metrics: &PrometheusHandle) -> anyhow::Result<()> {
    let Ok(admin) = std::env::var("SIGNOFF_TEST_POSTGRES_URL") else {
        println!("RESULT decisions backend=postgres skipped: SIGNOFF_TEST_POSTGRES_URL is not set");
        return Ok(());
    };
    let dir = scratch("load-decisions-pg")?;
    println!("RESULT disk {}", probe_disk(dir.path()).await?);
    let pid = std::process::id();
    decisions_suite(args, metrics, "postgres", move |label| {
        let admin = admin.clone();
        let name = format!("signoff_load_{pid}_{}", label.replace('-', "_"));
        Box::pin(async move {
            pg_exec(&admin, &format!("CREATE DATABASE {name}")).await.context("creating a database for the run")?;
            let url = pg_url_with_db(&admin, &name)?;
            Ok(FreshDb { url, file: None, pg: Some((admin, name)) })
        })
    })
    .await
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
    fn new(addr: std::net::SocketAddr) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(connector);
        Http { client, base: format!("http://{addr}") }
    }

    async fn call(&self, method: &str, path: &str, body: Option<String>) -> Result<(StatusCode, Bytes), String> {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| format!("transport: {e}"))?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(HTTP_TIMEOUT, fut).await.map_err(|_| format!("timeout after {HTTP_TIMEOUT:?}"))?
    }

    /// Calls and insists on `want`.
    async fn expect(&self, method: &str, path: &str, body: Option<String>, want: StatusCode) -> Result<Bytes, String> {
        let (status, bytes) = self.call(method, path, body).await?;
        if status == want {
            Ok(bytes)
        } else {
            Err(format!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
            ))
        }
    }
}

fn create_body(requester: &str) -> String {
    serde_json::json!({ "requester": requester, "resource": RESOURCE, "justification": "load test" }).to_string()
}

fn decision_body(approver: &str) -> String {
    serde_json::json!({ "approver": approver, "verdict": "approve" }).to_string()
}

/// Sends `POST /api/v1/requests` at `rate` per second for `seconds`, each at its scheduled instant whatever
/// happened to the previous ones (open loop); latency runs from the scheduled instant to the 201, so a
/// stalled server shows up as latency rather than as a slower send rate.
async fn open_loop_creates(http: &Http, rate: f64, seconds: f64, first_user: usize) -> Phase {
    let n = (rate * seconds).round() as usize;
    let http = http.clone();
    open_loop(rate, n, None, move |i| {
        let http = http.clone();
        let requester = user((first_user + i) % USERS);
        async move {
            http.expect("POST", "/api/v1/requests", Some(create_body(&requester)), StatusCode::CREATED)
                .await
                .map(|_| ())
        }
    })
    .await
}

/// Starts `call(i)` for `i` in `0..n` at `rate` per second, each at its scheduled instant (open loop), until
/// `stop` is set; each call's latency runs from its scheduled instant.
async fn open_loop<F, Fut>(rate: f64, n: usize, stop: Option<Arc<AtomicBool>>, call: F) -> Phase
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
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let fut = call(i);
        tasks.spawn(async move {
            let r = fut.await;
            (at.elapsed(), r)
        });
    }
    let mut phase = Phase::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((lat, Ok(()))) => {
                phase.ok += 1;
                phase.latencies.push(lat);
            }
            Ok((_, Err(e))) => {
                phase.errors += 1;
                phase.first_error.get_or_insert(e);
            }
            Err(e) => {
                phase.errors += 1;
                phase.first_error.get_or_insert(e.to_string());
            }
        }
    }
    phase.elapsed = started.elapsed();
    phase
}

fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------------------------------------
// Scenario `api`
// ---------------------------------------------------------------------------------------------------------

/// `--signing off` (default), `on` (`[audit] signing_key` set: a signed checkpoint per commit) or `both` (one run
/// without, then one with, each on a fresh database, to compare in the same session).
async fn api(args: &Args, metrics: &PrometheusHandle) -> anyhow::Result<()> {
    let runs: &[bool] = match args.opts.get("signing").map_or("off", String::as_str) {
        "off" => &[false],
        "on" => &[true],
        "both" => &[false, true],
        other => bail!("--signing: `{other}` is not off, on or both"),
    };
    for &signing in runs {
        api_run(args, metrics, signing).await?;
    }
    Ok(())
}

async fn api_run(args: &Args, metrics: &PrometheusHandle, signing: bool) -> anyhow::Result<()> {
    let rate = args.get("rate", 200.0f64)?;
    let seconds = args.get("seconds", 20.0f64)?;
    let dir = scratch("load-api")?;
    println!("RESULT disk {}", probe_disk(dir.path()).await?);
    let mut config = Config::default();
    config.database.url = sqlite_url(&dir.path().join("api.db"));
    config.server.listen = "127.0.0.1:0".parse()?;
    config.api.tokens = vec![SecretString::from(TOKEN)];
    if signing {
        config.audit.signing_key = Some(SecretString::from(signoff::audit::keys::private_base64(
            &ed25519_dalek::SigningKey::from_bytes(&[11; 32]),
        )));
    }
    let options = Options {
        chat: Some(vec![Arc::new(MemoryAdapter::new(Platform::Console))]),
        tuning: Tuning::default(),
        catalog: Some(catalog(&directory_yaml())?),
    };
    let app = Application::build(&config, options).await?;
    let addr = app.local_addr();
    let rt = app.runtime().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = Http::new(addr);

    // Warm-up, not measured: connections, statement caches, first pages of every table.
    let warm = closed_loop(100, 4, Instant::now() + PHASE_LIMIT, {
        let http = http.clone();
        move |i| {
            let http = http.clone();
            async move {
                http.expect("POST", "/api/v1/requests", Some(create_body(&user(i))), StatusCode::CREATED)
                    .await
                    .map(|_| ())
            }
        }
    })
    .await;
    if warm.errors > 0 {
        bail!("warm-up failed: {}", warm.error_summary());
    }
    let _ = wait_drained(rt.store(), PHASE_LIMIT).await;

    if let Some(s) = STATEMENTS.get() {
        s.take();
    }
    let before = Counters::read(metrics);
    let cpu_before = thread_cpu();
    let machine_before = machine_jiffies();
    let phase = open_loop_creates(&http, rate, seconds, 100).await;
    let counts = Counters::read(metrics).since(before);
    let (cpu, busiest) = cpu_since(&cpu_before);
    let machine_busy = machine_busy_since(machine_before);
    if let Some(s) = STATEMENTS.get() {
        s.report("api open loop, per create", phase.ok as f64, 25);
    }
    let backlog = outbox_backlog(rt.store()).await;
    let drained = wait_drained(rt.store(), PHASE_LIMIT).await;
    let (rss, hwm) = rss_kb(std::process::id());
    let checkpoints: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_checkpoints").fetch_one(rt.store().reader()).await?;
    println!(
        "RESULT api signing={} checkpoints={checkpoints} create rate={rate:.0}/s seconds={seconds:.0} sent={} ok={} {} achieved={:.1}/s {} \
         commits={:.0} jobs_per_commit={:.2} deliveries={:.0} outbox_backlog_at_end={backlog} drain_after={} \
         bench_process_rss={}MiB hwm={}MiB",
        if signing { "on" } else { "off" },
        phase.ok + phase.errors,
        phase.ok,
        phase.error_summary(),
        phase.rate(),
        phase.latency_summary(),
        counts.commits,
        counts.jobs / counts.commits.max(1.0),
        counts.deliveries,
        drained.map_or_else(|| "timeout".to_owned(), |d| format!("{:.2}s", d.as_secs_f64())),
        rss / 1024,
        hwm / 1024,
    );
    println!(
        "RESULT   (process CPU {cpu:.2}s = {:.3}ms per create, server and client together; machine {machine_busy:.0}% busy; \
         busiest threads: {busiest})",
        cpu * 1e3 / phase.ok.max(1) as f64
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Scenario `million`
// ---------------------------------------------------------------------------------------------------------

/// A column value copied from the template request.
#[derive(Debug, Clone)]
enum Val {
    Null,
    Int(i64),
    Text(String),
}

/// One table's rows in a [`Template`]: (table, columns, rows).
type TableRows = (&'static str, &'static [&'static str], Vec<Vec<Val>>);

/// Every row one created request wrote, table by table (audit rows apart: they are re-chained).
struct Template {
    request_id: String,
    requester: String,
    approver: String,
    tokens: Vec<String>,
    at_ms: i64,
    tables: Vec<TableRows>,
    /// (at, request_id, item_id, kind, actor, detail) of each audit row, in order.
    audit: Vec<[Val; 6]>,
    /// The 1-based positions among `audit` after which a commit stored a signed checkpoint (empty when the
    /// template was made without a signing key).
    checkpoints: HashSet<usize>,
}

/// What happens to a template's request after it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Nothing: it waits for its approver.
    Pending,
    /// Asked for 8h and approved: a grant that expires.
    Approved,
    /// Denied.
    Denied,
}

const REQUEST_COLS: &[&str] = &["id", "requester", "resource", "body", "created_at"];
const ITEM_COLS: &[&str] =
    &["id", "request_id", "beneficiary", "resource", "role", "status", "state", "version", "created_at", "updated_at"];
const PROMPT_COLS: &[&str] = &["token", "item_id", "prompt_id", "request_id", "approver", "state", "created_at"];
const TIMER_COLS: &[&str] = &["item_id", "timer_id", "due_at", "lease_owner", "lease_until"];
const MESSAGE_COLS: &[&str] = &["token", "platform", "channel", "message"];
const GRANT_COLS: &[&str] =
    &["id", "request_id", "user_id", "resource", "role", "granted_at", "expires_at", "ended_at", "end_reason"];
const EVENT_COLS: &[&str] = &["item_id", "seq", "event", "at"];
const OUTBOX_COLS: &[&str] = &[
    "key",
    "kind",
    "item_id",
    "token",
    "platform",
    "payload",
    "due_at",
    "attempts",
    "lease_owner",
    "lease_until",
    "done_at",
    "outcome",
    "last_error",
    "created_at",
];

fn read_val(row: &sqlx::any::AnyRow, i: usize) -> Val {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map_or(Val::Null, Val::Int);
    }
    match row.try_get::<Option<String>, _>(i) {
        Ok(Some(s)) => Val::Text(s),
        _ => Val::Null,
    }
}

async fn fetch_vals(store: &Store, cols: &[&str], from_where: &str, bind: &str) -> anyhow::Result<Vec<Vec<Val>>> {
    let sql = format!("SELECT {} FROM {from_where}", cols.join(", "));
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(bind.to_owned()).fetch_all(store.reader()).await?;
    Ok(rows.iter().map(|r| (0..cols.len()).map(|i| read_val(r, i)).collect()).collect())
}

/// Creates one request by `requester` through the runtime (console chat, as `signoff serve` without chat
/// platforms), waits for its prompt to be delivered, and reads back every row it produced.
async fn template(dir: &Path, cat: Arc<Catalog>, requester: &str, approver: &str) -> anyhow::Result<Template> {
    template_flow(dir, cat, None, requester, approver, Flow::Pending).await
}

/// As [`template`], then takes the request through `flow`, with checkpoints signed by `signer` if given.
async fn template_flow(
    dir: &Path,
    cat: Arc<Catalog>,
    signer: Option<Arc<Signer>>,
    requester: &str,
    approver: &str,
    flow: Flow,
) -> anyhow::Result<Template> {
    let db = dir.join(format!("template-{}.db", rand::random::<u32>()));
    let store = Store::open(&sqlite_url(&db)).await?;
    if let Some(snapshot) = &cat.snapshot {
        signoff::audit::save_catalog(&store, snapshot).await?;
    }
    let rt = Runtime::start(store, cat, Chat::new(vec![Arc::new(ConsoleAdapter)]), None, Tuning::default(), signer);
    let mut new = new_request(requester.to_owned());
    if flow == Flow::Approved {
        new.duration = Some(signoff::time::Duration::from_hours(8));
    }
    let view = rt.create(new, signoff::time::now()).await?;
    wait_drained(rt.store(), Duration::from_secs(30)).await.ok_or_else(|| anyhow!("template prompt not delivered"))?;
    let decision = match flow {
        Flow::Pending => None,
        Flow::Approved => Some(approve()),
        Flow::Denied => Some(Decision::Deny { comment: Some("not now".to_owned()) }),
    };
    if let Some(d) = decision {
        rt.decide(&view.id, approver, d, "api", signoff::time::now()).await?;
        wait_drained(rt.store(), Duration::from_secs(30))
            .await
            .ok_or_else(|| anyhow!("template closing not delivered"))?;
    }
    let store = rt.store().clone();
    let id = view.id.clone();
    let item = format!("{id}-1");
    let tables = vec![
        ("requests", REQUEST_COLS, fetch_vals(&store, REQUEST_COLS, "requests WHERE id = $1", &id).await?),
        ("items", ITEM_COLS, fetch_vals(&store, ITEM_COLS, "items WHERE request_id = $1", &id).await?),
        ("prompts", PROMPT_COLS, fetch_vals(&store, PROMPT_COLS, "prompts WHERE request_id = $1", &id).await?),
        ("timers", TIMER_COLS, fetch_vals(&store, TIMER_COLS, "timers WHERE item_id = $1", &item).await?),
        (
            "prompt_messages",
            MESSAGE_COLS,
            fetch_vals(
                &store,
                MESSAGE_COLS,
                "prompt_messages WHERE token IN (SELECT token FROM prompts WHERE request_id = $1)",
                &id,
            )
            .await?,
        ),
        ("outbox", OUTBOX_COLS, fetch_vals(&store, OUTBOX_COLS, "outbox WHERE item_id = $1 ORDER BY id", &item).await?),
        ("grants", GRANT_COLS, fetch_vals(&store, GRANT_COLS, "grants WHERE request_id = $1", &id).await?),
        (
            "item_events",
            EVENT_COLS,
            fetch_vals(&store, EVENT_COLS, "item_events WHERE item_id = $1 ORDER BY seq", &item).await?,
        ),
    ];
    let audit_rows = fetch_vals(
        &store,
        &["at", "request_id", "item_id", "kind", "actor", "detail"],
        "audit WHERE request_id = $1 ORDER BY seq",
        &id,
    )
    .await?;
    // Every row of the template's trail is its request's, so a row's position is its seq.
    let all_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit").fetch_one(store.reader()).await?;
    if all_rows != audit_rows.len() as i64 {
        bail!("the template's trail has rows of no request: {all_rows} rows, {} of the request", audit_rows.len());
    }
    let checkpoints: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_checkpoints ORDER BY seq").fetch_all(store.reader()).await?;
    let checkpoints = checkpoints.into_iter().map(|s| usize::try_from(s).unwrap_or(0)).collect();
    let tokens: Vec<String> = sqlx::query_scalar("SELECT token FROM prompts WHERE request_id = $1 ORDER BY prompt_id")
        .bind(id.clone())
        .fetch_all(store.reader())
        .await?;
    let at_ms: i64 = sqlx::query_scalar("SELECT created_at FROM requests WHERE id = $1")
        .bind(id.clone())
        .fetch_one(store.reader())
        .await?;
    rt.shutdown().await;
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let audit = audit_rows
        .into_iter()
        .map(|r| <[Val; 6]>::try_from(r).map_err(|_| anyhow!("audit row shape")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (table, _, rows) in &tables {
        if rows.is_empty() && ["requests", "items", "prompts", "outbox"].contains(table) {
            bail!("the template request wrote no {table} rows");
        }
    }
    Ok(Template {
        request_id: id,
        requester: requester.to_owned(),
        approver: approver.to_owned(),
        tokens,
        at_ms,
        tables,
        audit,
        checkpoints,
    })
}

/// One generated item: its request id, requester and approver, and fresh prompt tokens.
struct Ids {
    request: String,
    requester: String,
    approver: String,
    tokens: Vec<String>,
}

fn fresh_ids(at_ms: i64, requester: String, approver: String, prompts: usize) -> Ids {
    let ms = u64::try_from(at_ms).unwrap_or(0);
    Ids {
        request: format!("req_{}", ulid::Ulid::from_parts(ms, rand::random::<u128>()).to_string().to_lowercase()),
        requester,
        approver,
        tokens: (0..prompts).map(|_| hex::encode(rand::random::<[u8; 16]>())).collect(),
    }
}

impl Template {
    /// The template's text with its ids swapped for `ids`'.
    fn swap(&self, text: &str, ids: &Ids) -> String {
        let mut s = text.replace(&self.request_id, &ids.request);
        for (old, new) in self.tokens.iter().zip(&ids.tokens) {
            s = s.replace(old.as_str(), new);
        }
        if ids.requester != self.requester {
            s = s.replace(&self.requester, &ids.requester);
        }
        if ids.approver != self.approver {
            s = s.replace(&self.approver, &ids.approver);
        }
        s
    }

    fn swap_val(&self, v: &Val, ids: &Ids) -> Val {
        match v {
            Val::Text(t) => Val::Text(self.swap(t, ids)),
            other => other.clone(),
        }
    }
}

/// Writes `rows` into `table` with multi-row INSERTs.
async fn insert_rows(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    cols: &[&str],
    rows: &[Vec<Val>],
) -> anyhow::Result<()> {
    // Far below SQLite's 32,766 bound variables per statement.
    let per_statement = (8_000 / cols.len()).max(1);
    for chunk in rows.chunks(per_statement) {
        let mut b: sqlx::QueryBuilder<sqlx::Sqlite> =
            sqlx::QueryBuilder::new(format!("INSERT INTO {table} ({}) ", cols.join(", ")));
        b.push_values(chunk, |mut sep, row| {
            for v in row {
                match v {
                    Val::Null => sep.push_bind(None::<String>),
                    Val::Int(i) => sep.push_bind(*i),
                    Val::Text(t) => sep.push_bind(t.clone()),
                };
            }
        });
        b.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which generated items a workload decides on, chosen before writing (so no id has to be read back).
struct Sample {
    /// Items of ordinary managers (about `items / 1,000` pending each).
    uniform: Vec<usize>,
    /// Items of the hot manager (one item in ten).
    hot: Vec<usize>,
}

/// Item `k` is the hot manager's when `k % 10 == 0`.
fn is_hot(k: usize) -> bool {
    k.is_multiple_of(10)
}

fn requester_of(k: usize) -> (String, String) {
    if is_hot(k) {
        (hot_user(k / 10 % HOT_USERS), HOT_MANAGER.to_owned())
    } else {
        let u = k % USERS;
        (user(u), manager_of(u))
    }
}

fn choose_sample(items: usize, uniform: usize, hot: usize) -> anyhow::Result<Sample> {
    use rand::seq::index::sample;
    let hot_count = items.div_ceil(10);
    let plain_count = items - hot_count;
    if uniform > plain_count || hot > hot_count {
        bail!("{items} items are too few for a sample of {uniform} + {hot}");
    }
    let mut rng = rand::rng();
    // Plain item number j (j-th k with k % 10 != 0) is k = j / 9 * 10 + j % 9 + 1.
    let uniform = sample(&mut rng, plain_count, uniform).into_iter().map(|j| j / 9 * 10 + j % 9 + 1).collect();
    let hot = sample(&mut rng, hot_count, hot).into_iter().map(|j| j * 10).collect();
    Ok(Sample { uniform, hot })
}

/// The items the workload will decide on: (request id, approver) for each sampled `k`.
type Chosen = HashMap<usize, Pending>;

/// Writes `items` pending items into a migrated SQLite file: the template's rows with fresh ids, in
/// transactions of 50,000 items, plus their audit rows chained with real hashes. Returns the sampled
/// items' ids.
async fn bulk_load(
    db: &Path,
    items: usize,
    plain: &Template,
    hot: &Template,
    sample: &Sample,
    cat: &Catalog,
) -> anyhow::Result<Chosen> {
    let store = Store::open(&sqlite_url(db)).await?;
    store.close().await;
    // Loading only: no journal, no fsync. `signoff serve` reopens it in WAL mode with synchronous = FULL.
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&sqlite_url(db))?
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Off)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .pragma("cache_size", "-262144");
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
    let wanted: HashSet<usize> = sample.uniform.iter().chain(&sample.hot).copied().collect();
    let mut chosen = Chosen::new();
    let (mut seq, mut prev): (i64, String) = (0, GENESIS.to_owned());
    const BATCH: usize = 2_000;
    const PER_TX: usize = 50_000;
    let mut tx_open = false;
    let mut checked = 0;
    let mut k = 0;
    while k < items {
        if !tx_open {
            sqlx::raw_sql("BEGIN").execute(&mut conn).await?;
            tx_open = true;
        }
        let end = (k + BATCH).min(items);
        let mut per_table: Vec<Vec<Vec<Val>>> = vec![Vec::new(); plain.tables.len()];
        let mut audit_rows: Vec<Vec<Val>> = Vec::new();
        for i in k..end {
            let t = if is_hot(i) { hot } else { plain };
            let (requester, approver) = requester_of(i);
            let ids = fresh_ids(t.at_ms, requester, approver, t.tokens.len());
            for (slot, (_, _, rows)) in per_table.iter_mut().zip(&t.tables) {
                for row in rows {
                    slot.push(row.iter().map(|v| t.swap_val(v, &ids)).collect());
                }
            }
            for [at, request_id, item_id, kind, actor, detail] in &t.audit {
                seq += 1;
                let text = |v: &Val| match t.swap_val(v, &ids) {
                    Val::Text(s) => Some(s),
                    _ => None,
                };
                let (request_id, item_id, kind, actor) = (text(request_id), text(item_id), text(kind), text(actor));
                let detail = text(detail).unwrap_or_default();
                let at = match at {
                    Val::Int(v) => *v,
                    _ => t.at_ms,
                };
                let kind = kind.unwrap_or_default();
                let hash = Canonical {
                    seq,
                    at_ms: at,
                    request_id: request_id.as_deref(),
                    item_id: item_id.as_deref(),
                    kind: &kind,
                    actor: actor.as_deref(),
                    detail: &detail,
                }
                .hash(&prev);
                let opt = |o: Option<String>| o.map_or(Val::Null, Val::Text);
                audit_rows.push(vec![
                    Val::Int(seq),
                    Val::Int(at),
                    opt(request_id),
                    opt(item_id),
                    Val::Text(kind),
                    opt(actor),
                    Val::Text(detail),
                    Val::Text(prev.clone()),
                    Val::Text(hash.clone()),
                ]);
                prev = hash;
            }
            // The stored state must be exactly what the engine makes of this item: check a few.
            if checked < 3 || i == items - 1 {
                check_state(cat, t, &ids, &per_table[1])?;
                checked += 1;
            }
            if wanted.contains(&i) {
                chosen.insert(i, Pending { request: ids.request.clone(), approver: ids.approver.clone() });
            }
        }
        for ((table, cols, _), rows) in plain.tables.iter().zip(&per_table) {
            insert_rows(&mut conn, table, cols, rows).await?;
        }
        insert_rows(
            &mut conn,
            "audit",
            &["seq", "at", "request_id", "item_id", "kind", "actor", "detail", "prev_hash", "hash"],
            &audit_rows,
        )
        .await?;
        k = end;
        if k % PER_TX == 0 || k == items {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq)
                .bind(prev.clone())
                .execute(&mut conn)
                .await?;
            sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
            tx_open = false;
            if k % 200_000 == 0 {
                println!("  ... {k} items written");
            }
        }
    }
    // Rows were copied straight into `items`, so the counts the committer keeps are made here, once.
    sqlx::raw_sql(
        "DELETE FROM item_counts; \
         INSERT INTO item_counts (status, n) SELECT status, COUNT(*) FROM items GROUP BY status;",
    )
    .execute(&mut conn)
    .await?;
    // The file was written without fsync: put it on disk now, in the WAL mode `signoff serve` uses, so the
    // server's start-up is not charged with flushing gigabytes of dirty pages (a real database was written
    // with fsync all along).
    sqlx::raw_sql("PRAGMA journal_mode = WAL").execute(&mut conn).await?;
    conn.close().await?;
    std::fs::File::open(db)?.sync_all()?;
    Ok(chosen)
}

/// The last generated item's state equals `engine::start` of the same spec at the same instant.
fn check_state(cat: &Catalog, t: &Template, ids: &Ids, item_rows: &[Vec<Val>]) -> anyhow::Result<()> {
    let Some(Val::Text(stored)) = item_rows.last().and_then(|r| r.get(6)) else { bail!("no item state") };
    let spec = RequestSpec {
        id: ids.request.clone(),
        requester: ids.requester.clone(),
        resource: RESOURCE.to_owned(),
        roles: Vec::new(),
        beneficiaries: Vec::new(),
        justification: Some("load test".to_owned()),
        duration: None,
    };
    let item_spec = spec.items().into_iter().next().ok_or_else(|| anyhow!("no item"))?;
    let started = engine::start(cat, item_spec, from_ms(t.at_ms)).map_err(|e| anyhow!("{e}"))?;
    let expected = serde_json::to_string(&started.item)?;
    if *stored != expected {
        bail!("generated state differs from the engine's:\n{stored}\n{expected}");
    }
    Ok(())
}

/// `signoff serve` as a child process on `db`.
struct Server {
    child: Child,
    http: Http,
    pid: u32,
}

impl Server {
    /// Starts the child on port 0 and waits for the address it announces, then for `/readyz` there. Returns
    /// the time to ready and the ready line's own breakdown (`catalog_ms=... database_ms=... leases_ms=...`).
    async fn start(dir: &Path, label: &str, db: &Path, directory: &Path) -> anyhow::Result<(Server, Duration, String)> {
        let config = dir.join(format!("{label}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"{}\"\n[directory]\npath = \"{}\"\n\
                 [policies]\ndefault_timeout = \"{DEFAULT_TIMEOUT}\"\n[api]\ntokens = [\"{TOKEN}\"]\n",
                sqlite_url(db),
                directory.display()
            ),
        )?;
        let log_path = dir.join(format!("{label}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signoff"));
        cmd.args(["serve", "--config"]).arg(&config).stdout(Stdio::null()).stderr(log);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SIGNOFF_") {
                cmd.env_remove(name);
            }
        }
        // Prompts and notices are logged at info by the console adapter; keep the log to warnings and the
        // ready line.
        cmd.env("SIGNOFF_LOG", "warn,signoff::app=info").env("NO_COLOR", "1");
        let started = Instant::now();
        let child = cmd.spawn().context("starting signoff serve")?;
        let pid = child.id();
        let mut server = Server { child, http: Http::new(([127, 0, 0, 1], 0).into()), pid };
        let ready_line = server
            .wait_until(label, started, "say it was ready", || {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                let line = text.lines().find(|l| l.contains("signoff is ready")).map(str::to_owned);
                async move { line }
            })
            .await?;
        let field = |name: &str| -> Option<&str> {
            ready_line.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        };
        let addr: std::net::SocketAddr =
            field("addr").and_then(|a| a.parse().ok()).ok_or_else(|| anyhow!("no address in: {ready_line}"))?;
        server.http = Http::new(addr);
        let breakdown = ["elapsed_ms", "catalog_ms", "database_ms", "leases_ms"]
            .iter()
            .map(|f| format!("{f}={}", field(f).unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(" ");
        let http = server.http.clone();
        server
            .wait_until(label, started, "answer /readyz", || {
                let http = http.clone();
                async move { matches!(http.call("GET", "/readyz", None).await, Ok((StatusCode::OK, _))).then_some(()) }
            })
            .await?;
        Ok((server, started.elapsed(), breakdown))
    }

    /// Polls `check` every 5 ms until it gives a value; fails if the child exits first or 120 s after `started`
    /// (stopping the child).
    async fn wait_until<T, F, Fut>(
        &mut self,
        label: &str,
        started: Instant,
        what: &str,
        mut check: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        loop {
            if let Some(v) = check().await {
                return Ok(v);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("signoff serve exited with {status}; see {label}.log");
            }
            if started.elapsed() > Duration::from_secs(120) {
                self.stop().await;
                bail!("signoff serve did not {what} within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn rss_mib(&self) -> (f64, f64) {
        let (rss, hwm) = rss_kb(self.pid);
        (rss as f64 / 1024.0, hwm as f64 / 1024.0)
    }

    /// SIGTERM (graceful drain), then SIGKILL after 30 s.
    async fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one database gave under the same workload.
#[derive(Default)]
struct Figures {
    label: String,
    items: usize,
    file_mib: f64,
    startup: Duration,
    /// The ready line's own figures.
    startup_breakdown: String,
    rss_ready: f64,
    rss_after: f64,
    hwm: f64,
    sequential: Phase,
    concurrent: Phase,
    hot: Phase,
    creates: Phase,
    list_approver: Phase,
    list_state: Phase,
    /// `GET /metrics`, which counts items by state at each scrape.
    scrape: Phase,
}

/// Decisions on `picked` items over HTTP, from `callers` tasks.
async fn http_decisions(http: &Http, picked: Vec<Pending>, callers: usize) -> Phase {
    let picked = Arc::new(picked);
    let n = picked.len();
    let http = http.clone();
    closed_loop(n, callers, Instant::now() + PHASE_LIMIT, move |i| {
        let http = http.clone();
        let p = picked[i].clone();
        async move {
            let path = format!("/api/v1/requests/{}/decisions", p.request);
            let body = http.expect("POST", &path, Some(decision_body(&p.approver)), StatusCode::OK).await?;
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            if v["state"] == "approved" {
                Ok(())
            } else {
                Err(format!("{} is {} after approval", p.request, v["state"]))
            }
        }
    })
    .await
}

/// One timed GET, repeated `times`.
async fn http_gets(http: &Http, path: &str, times: usize) -> Phase {
    let http = http.clone();
    let path = path.to_owned();
    closed_loop(times, 1, Instant::now() + PHASE_LIMIT, move |_| {
        let http = http.clone();
        let path = path.clone();
        async move { http.expect("GET", &path, None, StatusCode::OK).await.map(|_| ()) }
    })
    .await
}

/// Workload sizes of `million`, the same on both databases, spread over [`ROUNDS`] rounds.
const SEQUENTIAL: usize = 2_000;
const CONCURRENT: usize = 4_000;
const CONCURRENT_CALLERS: usize = 16;
const HOT: usize = 500;
/// Seconds of creates at 200/s on each database.
const CREATE_SECONDS: f64 = 5.0;
/// The workload alternates between the two servers in this many rounds.
const ROUNDS: usize = 10;

/// A database under test and its running server.
struct Measured {
    server: Server,
    figures: Figures,
    sample: Sample,
    chosen: Chosen,
}

impl Measured {
    /// The items round `round` of a workload decides on: its share of `ks`.
    fn share(&self, ks: &[usize], round: usize) -> Vec<Pending> {
        let per = ks.len().div_ceil(ROUNDS);
        ks.iter().skip(round * per).take(per).filter_map(|k| self.chosen.get(k).cloned()).collect()
    }

    /// One round of every timed workload on this server.
    async fn round(&mut self, round: usize) {
        let (seq_ks, conc_ks) = self.sample.uniform.split_at(SEQUENTIAL.min(self.sample.uniform.len()));
        let (seq, conc, hot) =
            (self.share(seq_ks, round), self.share(conc_ks, round), self.share(&self.sample.hot, round));
        let http = &self.server.http;
        let seq = http_decisions(http, seq, 1).await;
        let conc = http_decisions(http, conc, CONCURRENT_CALLERS).await;
        let hot = http_decisions(http, hot, 1).await;
        let creates = open_loop_creates(http, 200.0, CREATE_SECONDS / ROUNDS as f64, round * 1_000).await;
        println!(
            "  round {round} db={}: p99 decide_sequential={:.2}ms decide_16_callers={:.2}ms hot={:.2}ms create={:.2}ms",
            self.figures.label,
            seq.pct(99.0),
            conc.pct(99.0),
            hot.pct(99.0),
            creates.pct(99.0)
        );
        let f = &mut self.figures;
        f.sequential.absorb(seq);
        f.concurrent.absorb(conc);
        f.hot.absorb(hot);
        f.creates.absorb(creates);
    }

    fn print(&self) {
        let f = &self.figures;
        println!(
            "RESULT million db={} items={} file={:.0}MiB startup={:.2}s ({}) rss_ready={:.1}MiB \
             rss_after={:.1}MiB hwm={:.1}MiB",
            f.label,
            f.items,
            f.file_mib,
            f.startup.as_secs_f64(),
            f.startup_breakdown,
            f.rss_ready,
            f.rss_after,
            f.hwm
        );
        for (what, p) in [
            ("decide_sequential", &f.sequential),
            ("decide_16_callers", &f.concurrent),
            ("decide_hot_approver", &f.hot),
            ("create_open_loop_200/s", &f.creates),
            ("list_by_approver", &f.list_approver),
            ("list_by_state", &f.list_state),
            ("metrics_scrape", &f.scrape),
        ] {
            println!(
                "RESULT million db={} {what}: ok={} {} rate={:.0}/s {}",
                f.label,
                p.ok,
                p.error_summary(),
                p.rate(),
                p.latency_summary()
            );
        }
    }
}

/// Free bytes on the filesystem holding `dir` (from `df`).
fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let avail = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok())
        .ok_or_else(|| anyhow!("cannot read df output: {text}"))?;
    Ok(avail * 1024)
}

async fn million(args: &Args) -> anyhow::Result<()> {
    let items = args.get("items", 1_000_000usize)?;
    let small = args.get("small", 10_000usize)?;
    let dir = scratch("load-million")?;
    // About 4 KiB per item with indexes and audit rows (measured: see BENCHMARKS.md); keep 2 GiB spare for
    // everyone else on the disk.
    let need = (items + small) as u64 * 4 * 1024 + (2u64 << 30);
    let free = free_bytes(dir.path())?;
    if free < need {
        bail!("{} GiB free under {}, {} GiB needed", free >> 30, dir.path().display(), need >> 30);
    }
    println!("RESULT disk {}", probe_disk(dir.path()).await?);
    let yaml = directory_yaml();
    let directory = dir.path().join("directory.yaml");
    std::fs::write(&directory, &yaml)?;
    let cat = Arc::new(catalog(&yaml)?);
    let plain = template(dir.path(), cat.clone(), &user(1), &manager_of(1)).await?;
    let hot = template(dir.path(), cat.clone(), &hot_user(0), HOT_MANAGER).await?;
    let rows_per_item: usize = plain.tables.iter().map(|t| t.2.len()).sum::<usize>() + plain.audit.len();
    println!("  template: {rows_per_item} rows per item ({} audit rows)", plain.audit.len());

    let mut built = Vec::new();
    for (label, count) in [("small", small), ("million", items)] {
        let sample = choose_sample(count, SEQUENTIAL + CONCURRENT, HOT)?;
        let db = dir.path().join(format!("{label}.db"));
        let started = Instant::now();
        let chosen = bulk_load(&db, count, &plain, &hot, &sample, &cat).await?;
        let load = started.elapsed();
        println!(
            "RESULT million db={label} loaded {count} items ({} rows) in {:.1}s = {:.0} items/s",
            count * rows_per_item,
            load.as_secs_f64(),
            count as f64 / load.as_secs_f64()
        );
        built.push((label, count, db, sample, chosen));
    }

    // Both servers run at once and the workload alternates between them, round by round (the first to go
    // alternates too). Measured one after the other, minutes apart, the ratio of two tails measured the
    // moment as much as the size: this machine's disk stalls for 40 to 150 ms now and then.
    let mut measured = Vec::new();
    for (label, count, db, sample, chosen) in built {
        let file_mib = std::fs::metadata(&db)?.len() as f64 / 1024.0 / 1024.0;
        let (server, startup, startup_breakdown) = Server::start(dir.path(), label, &db, &directory).await?;
        let figures = Figures {
            label: label.to_owned(),
            items: count,
            file_mib,
            startup,
            startup_breakdown,
            ..Figures::default()
        };
        measured.push(Measured { server, figures, sample, chosen });
    }
    let result = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for m in measured.iter_mut() {
            m.figures.rss_ready = m.server.rss_mib().0;
        }
        for round in 0..ROUNDS {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                measured[i].round(round).await;
            }
        }
        for m in measured.iter_mut() {
            let http = &m.server.http;
            m.figures.list_approver =
                http_gets(http, &format!("/api/v1/requests?approver={}&limit=50", manager(1)), 5).await;
            m.figures.list_state = http_gets(http, "/api/v1/requests?state=requested&limit=50", 1).await;
            m.figures.scrape = http_gets(http, "/metrics", 5).await;
            (m.figures.rss_after, m.figures.hwm) = m.server.rss_mib();
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    for m in measured.iter_mut() {
        m.server.stop().await;
    }
    result?;
    for m in &measured {
        m.print();
    }
    if let [s, m] = &measured[..] {
        let (s, m) = (&s.figures, &m.figures);
        let ratio = |a: f64, b: f64| a / b.max(1e-9);
        println!(
            "RESULT million ratio decide_sequential p50={:.2}x p99={:.2}x | decide_16_callers p50={:.2}x p99={:.2}x \
             | decide_hot_approver p50={:.2}x | create p50={:.2}x p99={:.2}x | rss_after {:.1}MiB vs {:.1}MiB",
            ratio(m.sequential.pct(50.0), s.sequential.pct(50.0)),
            ratio(m.sequential.pct(99.0), s.sequential.pct(99.0)),
            ratio(m.concurrent.pct(50.0), s.concurrent.pct(50.0)),
            ratio(m.concurrent.pct(99.0), s.concurrent.pct(99.0)),
            ratio(m.hot.pct(50.0), s.hot.pct(50.0)),
            ratio(m.creates.pct(50.0), s.creates.pct(50.0)),
            ratio(m.creates.pct(99.0), s.creates.pct(99.0)),
            m.rss_after,
            s.rss_after
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Scenario `verify`
// ---------------------------------------------------------------------------------------------------------

/// The key the `verify` database's checkpoints are signed with (a fixed test seed).
fn bench_signer() -> Signer {
    Signer::new(ed25519_dalek::SigningKey::from_bytes(&[11; 32]))
}

/// The load directory as a catalog built from its source text, so that audit rows name its snapshot, as they
/// do under `signoff serve`.
fn snapshot_catalog(directory_yaml: &str) -> anyhow::Result<Catalog> {
    let settings = Settings {
        default_timeout: Some(signoff::time::Duration::parse(DEFAULT_TIMEOUT).map_err(|e| anyhow!("{e}"))?),
        ..Settings::default()
    };
    let source = CatalogSource::new(
        vec![("load-directory.yaml".to_owned(), directory_yaml.to_owned())],
        Vec::new(),
        signoff::policy::builtin_text(),
        &settings,
    );
    Catalog::from_source(&source).map_err(|d| anyhow!("load catalog is invalid:\n{d}"))
}

/// Which template item `k` copies: one in ten is the hot manager's (pending); of the others, four in nine wait,
/// three are approved for 8h (a grant that expires) and two are denied.
fn verify_template(k: usize) -> usize {
    match k % 10 {
        0 => 0,
        1..=4 => 1,
        5..=7 => 2,
        _ => 3,
    }
}

/// Writes `items` items copied from `templates` (indexed by [`verify_template`]) into a migrated SQLite file,
/// with their audit rows chained with real hashes and, where the template's commits stored one, a checkpoint
/// signed by `signer`; stores the catalog snapshot the rows name. Returns (audit rows, checkpoints).
async fn bulk_load_signed(
    db: &Path,
    items: usize,
    templates: &[Template],
    signer: &Signer,
    snapshot: &Snapshot,
) -> anyhow::Result<(i64, u64)> {
    let store = Store::open(&sqlite_url(db)).await?;
    signoff::audit::save_catalog(&store, snapshot).await?;
    store.close().await;
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&sqlite_url(db))?
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Off)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .pragma("cache_size", "-262144");
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
    let (mut seq, mut prev): (i64, String) = (0, GENESIS.to_owned());
    let mut checkpoints = 0u64;
    const BATCH: usize = 2_000;
    const PER_TX: usize = 50_000;
    let mut tx_open = false;
    let mut k = 0;
    while k < items {
        if !tx_open {
            sqlx::raw_sql("BEGIN").execute(&mut conn).await?;
            tx_open = true;
        }
        let end = (k + BATCH).min(items);
        let mut per_table: Vec<Vec<Vec<Val>>> = vec![Vec::new(); templates[0].tables.len()];
        let mut audit_rows: Vec<Vec<Val>> = Vec::new();
        let mut checkpoint_rows: Vec<Vec<Val>> = Vec::new();
        for i in k..end {
            let t = &templates[verify_template(i)];
            let (requester, approver) = requester_of(i);
            // Request ids are ULIDs of their creation time, so in a real trail they grow with the rows: ids here
            // are made as if one request was created per millisecond (the rows keep the template's times).
            let ids = fresh_ids(t.at_ms + i as i64, requester, approver, t.tokens.len());
            for (slot, (_, _, rows)) in per_table.iter_mut().zip(&t.tables) {
                for row in rows {
                    slot.push(row.iter().map(|v| t.swap_val(v, &ids)).collect());
                }
            }
            for (position, [at, request_id, item_id, kind, actor, detail]) in t.audit.iter().enumerate() {
                seq += 1;
                let text = |v: &Val| match t.swap_val(v, &ids) {
                    Val::Text(s) => Some(s),
                    _ => None,
                };
                let (request_id, item_id, kind, actor) = (text(request_id), text(item_id), text(kind), text(actor));
                let detail = text(detail).unwrap_or_default();
                let at = match at {
                    Val::Int(v) => *v,
                    _ => t.at_ms,
                };
                let kind = kind.unwrap_or_default();
                let hash = Canonical {
                    seq,
                    at_ms: at,
                    request_id: request_id.as_deref(),
                    item_id: item_id.as_deref(),
                    kind: &kind,
                    actor: actor.as_deref(),
                    detail: &detail,
                }
                .hash(&prev);
                let opt = |o: Option<String>| o.map_or(Val::Null, Val::Text);
                audit_rows.push(vec![
                    Val::Int(seq),
                    Val::Int(at),
                    opt(request_id),
                    opt(item_id),
                    Val::Text(kind),
                    opt(actor),
                    Val::Text(detail),
                    Val::Text(prev.clone()),
                    Val::Text(hash.clone()),
                ]);
                if t.checkpoints.contains(&(position + 1)) {
                    let c = signer.sign(seq, &hash, from_ms(at));
                    checkpoint_rows.push(vec![
                        Val::Int(c.seq),
                        Val::Text(c.hash),
                        Val::Text(c.key_id),
                        Val::Text(c.signature),
                        Val::Int(at),
                    ]);
                    checkpoints += 1;
                }
                prev = hash;
            }
        }
        for ((table, cols, _), rows) in templates[0].tables.iter().zip(&per_table) {
            insert_rows(&mut conn, table, cols, rows).await?;
        }
        insert_rows(
            &mut conn,
            "audit",
            &["seq", "at", "request_id", "item_id", "kind", "actor", "detail", "prev_hash", "hash"],
            &audit_rows,
        )
        .await?;
        insert_rows(&mut conn, "audit_checkpoints", &["seq", "hash", "key_id", "signature", "at"], &checkpoint_rows)
            .await?;
        k = end;
        if k % PER_TX == 0 || k == items {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq)
                .bind(prev.clone())
                .execute(&mut conn)
                .await?;
            sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
            tx_open = false;
            if k % 200_000 == 0 {
                println!("  ... {k} items written");
            }
        }
    }
    sqlx::raw_sql(
        "DELETE FROM item_counts; \
         INSERT INTO item_counts (status, n) SELECT status, COUNT(*) FROM items GROUP BY status;",
    )
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql("PRAGMA journal_mode = WAL").execute(&mut conn).await?;
    conn.close().await?;
    std::fs::File::open(db)?.sync_all()?;
    Ok((seq, checkpoints))
}

/// `signoff audit verify` on a database of `--items` items (default 1,000,000) written like `million`'s, but of
/// four kinds (pending for the hot manager, pending, approved for 8h with a grant, denied), every commit of the
/// templates signed: the chain, every checkpoint's signature and every item replayed. Prints the command's own
/// report, its wall time and its peak RSS. `--runs 1` runs it more than once on the same file. `--db PATH` keeps
/// the database at PATH (and uses it as it is when it already exists), to time `audit verify` again without
/// building it again.
async fn verify_scenario(args: &Args) -> anyhow::Result<()> {
    let items = args.get("items", 1_000_000usize)?;
    let runs = args.get("runs", 1usize)?;
    let kept: Option<PathBuf> = args.opts.get("db").map(PathBuf::from);
    let dir = scratch("load-verify")?;
    let signer = Arc::new(bench_signer());
    let db = kept.clone().unwrap_or_else(|| dir.path().join("verify.db"));
    if kept.is_none() || !db.exists() {
        build_verify_db(&db, items, dir.path(), &signer).await?;
    } else {
        println!("  using the existing database {}", db.display());
    }
    // About 6 KiB per item with decisions, grants, checkpoints and indexes; keep 2 GiB spare.
    let need = items as u64 * 6 * 1024 + (2u64 << 30);
    let free = free_bytes(dir.path())?;
    if free < need {
        bail!("{} GiB free under {}, {} GiB needed", free >> 30, dir.path().display(), need >> 30);
    }
    let config = dir.path().join("verify.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{}\"\n", sqlite_url(&db)))?;
    let public = signoff::audit::keys::public_base64(&signer.verifying_key());
    for run in 1..=runs {
        time_verify(run, items, &config, &public, dir.path()).await?;
    }
    Ok(())
}

/// Builds the `verify` scenario's database at `db`.
async fn build_verify_db(db: &Path, items: usize, scratch_dir: &Path, signer: &Arc<Signer>) -> anyhow::Result<()> {
    let parent = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(scratch_dir);
    std::fs::create_dir_all(parent)?;
    println!("RESULT disk {}", probe_disk(parent).await?);
    let cat = Arc::new(snapshot_catalog(&directory_yaml())?);
    let snapshot = cat.snapshot.clone().ok_or_else(|| anyhow!("the load catalog has no snapshot"))?;
    let mut templates = Vec::new();
    for (requester, approver, flow) in [
        (hot_user(0), HOT_MANAGER.to_owned(), Flow::Pending),
        (user(1), manager_of(1), Flow::Pending),
        (user(1), manager_of(1), Flow::Approved),
        (user(1), manager_of(1), Flow::Denied),
    ] {
        let t = template_flow(scratch_dir, cat.clone(), Some(signer.clone()), &requester, &approver, flow).await?;
        println!(
            "  template {flow:?}: {} audit rows, {} checkpoints, {} rows in all",
            t.audit.len(),
            t.checkpoints.len(),
            t.tables.iter().map(|t| t.2.len()).sum::<usize>() + t.audit.len()
        );
        templates.push(t);
    }
    let started = Instant::now();
    let (rows, checkpoints) = bulk_load_signed(db, items, &templates, signer, &snapshot).await?;
    let load = started.elapsed();
    let file_mib = std::fs::metadata(db)?.len() as f64 / 1024.0 / 1024.0;
    println!(
        "RESULT verify db items={items} audit_rows={rows} checkpoints={checkpoints} file={file_mib:.0}MiB \
         loaded in {:.1}s",
        load.as_secs_f64()
    );
    Ok(())
}

/// Runs `signoff audit verify` once and prints its report, wall and CPU time and peak RSS.
async fn time_verify(run: usize, items: usize, config: &Path, public: &str, dir: &Path) -> anyhow::Result<()> {
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signoff"));
        cmd.args(["audit", "verify", "--config"]).arg(config).args(["--public-key", public]);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SIGNOFF_") {
                cmd.env_remove(name);
            }
        }
        let out_path = dir.join(format!("verify-{run}.out"));
        cmd.stdout(std::fs::File::create(&out_path)?).stderr(Stdio::inherit()).current_dir(dir);
        let cpu_before = children_cpu();
        let started = Instant::now();
        let mut child = cmd.spawn().context("starting signoff audit verify")?;
        let pid = child.id();
        // VmHWM only grows; the last reading before the process exits is its peak.
        let mut hwm_kb = 0;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            hwm_kb = hwm_kb.max(rss_kb(pid).1);
            if started.elapsed() > Duration::from_secs(900) {
                let _ = child.kill();
                bail!("audit verify ran for more than 15 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let wall = started.elapsed();
        let cpu = children_cpu() - cpu_before;
        let report = std::fs::read_to_string(&out_path)?;
        for line in report.lines().take(8) {
            println!("  | {line}");
        }
        println!(
            "RESULT verify run={run} items={items} exit={} wall={:.1}s cpu={cpu:.1}s ({:.2} cores) peak_rss={:.1}MiB",
            status.code().map_or_else(|| "signal".to_owned(), |c| c.to_string()),
            wall.as_secs_f64(),
            cpu / wall.as_secs_f64(),
            hwm_kb as f64 / 1024.0,
        );
        if !status.success() {
            bail!("audit verify found problems on the generated database; see the report above");
        }
    }
    Ok(())
}

/// User plus system CPU seconds of this process's waited-for children (`/proc/self/stat` fields 16 and 17).
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): cutime is field 16, cstime field 17.
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(16) + ticks(17)) / 100.0
}

// ---------------------------------------------------------------------------------------------------------
// Scenario `scim`: an identity provider's initial push (DESIGN 7.5)
// ---------------------------------------------------------------------------------------------------------

/// Sends `POST /api/v1/requests/{id}/decisions` for `picked`, at `rate` per second, each at its scheduled instant
/// (open loop, like [`open_loop_creates`]), until `stop` is set.
async fn open_loop_decisions(http: &Http, picked: Vec<Pending>, rate: f64, stop: Option<Arc<AtomicBool>>) -> Phase {
    let http = http.clone();
    let n = picked.len();
    open_loop(rate, n, stop, move |i| {
        let http = http.clone();
        let p = picked[i].clone();
        async move {
            let path = format!("/api/v1/requests/{}/decisions", p.request);
            http.expect("POST", &path, Some(decision_body(&p.approver)), StatusCode::OK).await.map(|_| ())
        }
    })
    .await
}

/// A new hire as Okta sends it: core attributes, the enterprise extension with a manager, signoff's own.
fn scim_user_body(i: usize) -> String {
    serde_json::json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:signoff:params:scim:schemas:extension:2.0:User"
        ],
        "userName": format!("scim-{i:05}@load.test"),
        "externalId": format!("00u{i:08}"),
        "name": { "givenName": "Load", "familyName": format!("User {i}") },
        "displayName": format!("Load User {i}"),
        "emails": [{ "primary": true, "type": "work", "value": format!("scim-{i:05}@load.test") }],
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Load", "employeeNumber": i.to_string(), "manager": { "value": manager(i % MANAGERS) }
        },
        "urn:signoff:params:scim:schemas:extension:2.0:User": { "slackId": format!("U{i:08}"), "grade": 3 }
    })
    .to_string()
}

/// `--users` (10,000) then `--groups` (500, `--members` 20 each) created through `/scim/v2` by `--callers` (16)
/// clients at once, on SQLite with `synchronous = FULL` (each write durable when answered), while decisions go
/// in at `--rate` (50/s) through the API; then the same decisions with no push, for the idle figure. Prints the
/// push's writes per second, decision latency idle and during the push (and their ratio), and how long until the
/// catalog held every provisioned person.
async fn scim_push(args: &Args, metrics: &PrometheusHandle) -> anyhow::Result<()> {
    let users = args.get("users", 10_000usize)?;
    let groups = args.get("groups", 500usize)?;
    let members = args.get("members", 20usize)?;
    let callers = args.get("callers", 16usize)?;
    let rate = args.get("rate", 50.0f64)?;
    let dir = scratch("load-scim")?;
    println!("RESULT disk {}", probe_disk(dir.path()).await?);
    let mut config = Config::default();
    config.database.url = sqlite_url(&dir.path().join("scim.db"));
    config.server.listen = "127.0.0.1:0".parse()?;
    config.api.tokens = vec![SecretString::from(TOKEN)];
    config.directory.scim = true;
    // Built from its text, as a served catalog is: it has a snapshot, so the people refresher follows the push.
    let settings = Settings {
        default_timeout: Some(signoff::time::Duration::parse(DEFAULT_TIMEOUT).map_err(|e| anyhow!("{e}"))?),
        ..Settings::default()
    };
    let source = CatalogSource::new(
        vec![("load-directory.yaml".to_owned(), directory_yaml())],
        Vec::new(),
        signoff::policy::builtin_text(),
        &settings,
    );
    let cat = Catalog::with_people(&source, None).map_err(|d| anyhow!("load catalog: {d}"))?;
    let options = Options {
        chat: Some(vec![Arc::new(MemoryAdapter::new(Platform::Console))]),
        tuning: Tuning::default(),
        catalog: Some(cat),
    };
    let app = Application::build(&config, options).await?;
    let addr = app.local_addr();
    let rt = app.runtime().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = Http::new(addr);

    // Requests waiting for their manager: one decision each, during the push and after it.
    let during_n = (rate * 60.0) as usize;
    let idle_n = (rate * 20.0) as usize;
    let (pending, made) = precreate(&rt, during_n + idle_n).await;
    if made.errors > 0 {
        bail!("creating the pending requests failed: {}", made.error_summary());
    }
    let _ = wait_drained(rt.store(), PHASE_LIMIT).await;
    let (during_set, idle_set) = pending.split_at(during_n.min(pending.len()));
    let before = Counters::read(metrics);

    // The push, with decisions going in meanwhile.
    let push_started = Instant::now();
    let ids: Arc<std::sync::Mutex<Vec<(usize, String)>>> = Arc::default();
    let push = {
        let http = http.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let users_phase = closed_loop(users, callers, Instant::now() + PHASE_LIMIT, move |i| {
                let http = http.clone();
                let ids = ids.clone();
                async move {
                    let body =
                        http.expect("POST", "/scim/v2/Users", Some(scim_user_body(i)), StatusCode::CREATED).await?;
                    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                    let id = v["id"].as_str().ok_or("no id in the answer")?.to_owned();
                    if let Ok(mut m) = ids.lock() {
                        m.push((i, id));
                    }
                    Ok(())
                }
            })
            .await;
            (users_phase, Instant::now())
        })
    };
    let push_done = Arc::new(AtomicBool::new(false));
    let decisions_task = {
        let http = http.clone();
        let picked = during_set.to_vec();
        let stop = push_done.clone();
        tokio::spawn(async move { open_loop_decisions(&http, picked, rate, Some(stop)).await })
    };
    let (users_phase, users_done) = push.await?;
    let mut user_ids = ids.lock().map(|m| m.clone()).unwrap_or_default();
    user_ids.sort();
    let user_ids: Arc<Vec<String>> = Arc::new(user_ids.into_iter().map(|(_, id)| id).collect());
    let groups_phase = {
        let http = http.clone();
        let user_ids = user_ids.clone();
        closed_loop(groups, callers, Instant::now() + PHASE_LIMIT, move |g| {
            let http = http.clone();
            let user_ids = user_ids.clone();
            async move {
                let list: Vec<serde_json::Value> = (0..members)
                    .filter_map(|k| user_ids.get((g * members + k) % user_ids.len().max(1)))
                    .map(|id| serde_json::json!({ "value": id }))
                    .collect();
                let body = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": format!("Load Group {g:04}"),
                    "members": list,
                })
                .to_string();
                http.expect("POST", "/scim/v2/Groups", Some(body), StatusCode::CREATED).await.map(|_| ())
            }
        })
        .await
    };
    let push_elapsed = push_started.elapsed();
    push_done.store(true, Ordering::Relaxed);
    let writes = users_phase.ok + groups_phase.ok;
    // Until the running catalog holds every provisioned person (each replica polls the revision every second).
    let visible = loop {
        let n = rt.catalog().directory.users().iter().filter(|u| u.id.starts_with("scim-")).count();
        if n >= users_phase.ok || push_started.elapsed() > PHASE_LIMIT {
            break push_started.elapsed().saturating_sub(push_elapsed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let during = decisions_task.await?;
    let counts = Counters::read(metrics).since(before);
    let _ = wait_drained(rt.store(), PHASE_LIMIT).await;

    // The same decisions with nothing else going on.
    let idle = open_loop_decisions(&http, idle_set.to_vec(), rate, None).await;
    let (rss, hwm) = rss_kb(std::process::id());
    let snapshots: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM catalogs").fetch_one(rt.store().reader()).await?;
    let snapshot_bytes: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(LENGTH(source)), 0) FROM catalogs")
        .fetch_one(rt.store().reader())
        .await?;
    println!(
        "RESULT scim-push users={} ({}) groups={} ({}) members={members} callers={callers} users_in={:.2}s total={:.2}s writes_per_s={:.0} users_per_s={:.0} user_create {} catalog_has_everyone_after_push={:.2}s snapshots={snapshots} snapshot_bytes={}MiB commits={:.0} rss={}MiB hwm={}MiB",
        users_phase.ok,
        users_phase.error_summary(),
        groups_phase.ok,
        groups_phase.error_summary(),
        users_done.duration_since(push_started).as_secs_f64(),
        push_elapsed.as_secs_f64(),
        writes as f64 / push_elapsed.as_secs_f64(),
        users_phase.rate(),
        users_phase.latency_summary(),
        visible.as_secs_f64(),
        snapshot_bytes / (1024 * 1024),
        counts.commits,
        rss / 1024,
        hwm / 1024,
    );
    println!(
        "RESULT scim-decisions rate={rate:.0}/s during_push: ok={} {} {} | idle: ok={} {} {} | p99 ratio during/idle={:.2}",
        during.ok,
        during.error_summary(),
        during.latency_summary(),
        idle.ok,
        idle.error_summary(),
        idle.latency_summary(),
        during.pct(99.0) / idle.pct(99.0).max(1e-9),
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}
