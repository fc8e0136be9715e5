//! Kill -9 under load. A real `signoff serve` child (SQLite file, console chat, provisioning webhook pointed at
//! a receiver in this process) takes a stream of creates, decisions, cancels and reads from several client
//! tasks; at a random moment it is killed with SIGKILL and started again on the same database while the clients
//! carry on (a call the kill interrupted is retried; an interrupted create is first looked up by its tag, since
//! it may or may not have been stored). Then every remaining prompt is answered, and the trial asserts:
//!
//! - every item settled (approved, denied, expired or cancelled), no timer is left, every expiring grant ended;
//! - every outbox row was delivered (none pending, none failed, every webhook row reached the receiver);
//! - per item, one delivery id for `grant.created` when approved, one for `item.denied` when denied or expired,
//!   one for `grant.ended` when its grant ended, none otherwise; the same id may arrive again (a retry), a second
//!   id for the same (event, item) is a duplicate; every delivery is correctly signed;
//! - nothing happened twice: no approver decided twice on one item, no tag created two requests;
//! - whatever a 2xx answer showed before a kill (a decision, a settled state, a created request) is still so
//!   after the restart and at the end;
//! - `signoff audit verify` exits 0: the chain, every signed checkpoint (the server signs with `[audit]
//!   signing_key`), and every item replayed from the trail against its stored state and grant.
//!
//! `cargo test --test reliability` runs 20 trials, several at once. The long run, 200 trials (RELIABILITY.md):
//! `cargo test --test reliability kill_nine_long_run -- --ignored --nocapture`.
//! `RELIABILITY_SEED` replays a run's choices (kill times, operations; the interleaving of the processes is the
//! machine's), `RELIABILITY_ONLY=<i>` with it replays trial `i` alone; `RELIABILITY_PARALLEL` caps the trials
//! running at once (default 20); `RELIABILITY_CLIENTS` sets the client tasks per trial (default 3).

#[path = "reliability/client.rs"]
mod client;
#[path = "reliability/receiver.rs"]
mod receiver;
#[path = "reliability/server.rs"]
mod server;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use hyper::Method;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use client::Api;
use receiver::Receiver;
use server::{SECRET, Server, TOKEN};

/// Final item states.
const SETTLED: [&str; 4] = ["approved", "denied", "expired", "cancelled"];
/// How long a trial may take to settle after the stream stops: the server's outbox and timer lease (60s, not
/// configurable in `serve`) bounds how long rows a killed process had claimed stay untouched.
const SETTLE_DEADLINE: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_nine_under_load_loses_nothing_and_repeats_nothing() {
    run(Settings::from_env(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long run (about 11 minutes on 2 cores); see RELIABILITY.md"]
async fn kill_nine_long_run() {
    run(Settings::from_env(200)).await;
}

/// What a run does; every value can come from the environment.
#[derive(Debug, Clone, Copy)]
struct Settings {
    seed: u64,
    trials: usize,
    parallel: usize,
    clients: usize,
    /// Only this trial (to replay one failed trial of a run: same seed, its index).
    only: Option<usize>,
}

impl Settings {
    fn from_env(default_trials: usize) -> Settings {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok());
        let seed = var("RELIABILITY_SEED").unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            now.as_nanos() as u64 ^ u64::from(std::process::id())
        });
        let trials = var("RELIABILITY_TRIALS").map_or(default_trials, |n| n as usize).max(1);
        let parallel = var("RELIABILITY_PARALLEL").map_or(20, |n| n as usize).clamp(1, trials);
        let clients = var("RELIABILITY_CLIENTS").map_or(3, |n| n as usize).max(1);
        let only = var("RELIABILITY_ONLY").map(|n| n as usize);
        Settings { seed, trials, parallel, clients, only }
    }
}

/// SplitMix64: independent seeds for trials and clients from one run seed.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

async fn run(s: Settings) {
    eprintln!(
        "reliability: {} trials, {} at once, {} clients each; seed {} (replay with RELIABILITY_SEED={}, one trial \
         with RELIABILITY_ONLY=<trial> as well)",
        s.trials, s.parallel, s.clients, s.seed, s.seed
    );
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(s.parallel));
    let mut set = JoinSet::new();
    for i in (0..s.trials).filter(|i| s.only.is_none_or(|o| o == *i)) {
        let slots = slots.clone();
        let seed = mix(s.seed, i as u64);
        set.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let t = Instant::now();
            let result = trial(i, seed, s.clients).await;
            (i, t.elapsed(), result)
        });
    }
    let mut total = Report::default();
    let mut failures = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok((i, took, Ok(r))) => {
                eprintln!("trial {i:>3} ok in {:>5.1}s: {}", took.as_secs_f64(), r.line());
                total.add(&r);
            }
            Ok((i, _, Err(e))) => {
                eprintln!("trial {i:>3} FAILED: {e:#}");
                failures.push(format!("trial {i}: {e:#}"));
            }
            Err(e) => failures.push(format!("a trial panicked: {e}")),
        }
    }
    eprintln!("reliability: {} trials in {:.1}s (seed {})", s.trials, started.elapsed().as_secs_f64(), s.seed);
    eprintln!("{}", total.summary());
    let failed = failures.join("\n\n");
    assert!(failures.is_empty(), "{} of {} trials failed (seed {}):\n{failed}", failures.len(), s.trials, s.seed);
}

/// Figures of one trial (or, summed, of a run).
#[derive(Debug, Clone, Default)]
struct Report {
    trials: u64,
    kills: u64,
    kills_leaving_leases: u64,
    leased_rows: i64,
    leased_timers: i64,
    requests: u64,
    items: u64,
    creates_acked: u64,
    creates_interrupted_stored: u64,
    creates_interrupted_lost: u64,
    decisions_acked: u64,
    decisions_conflicted: u64,
    cancels_acked: u64,
    calls_interrupted: u64,
    approved: u64,
    denied: u64,
    expired: u64,
    cancelled: u64,
    grants_ended: u64,
    webhook_ids: u64,
    webhook_redeliveries: u64,
    duplicates: u64,
    settle_ms_max: u64,
}

impl Report {
    fn add(&mut self, o: &Report) {
        self.trials += o.trials;
        self.kills += o.kills;
        self.kills_leaving_leases += o.kills_leaving_leases;
        self.leased_rows += o.leased_rows;
        self.leased_timers += o.leased_timers;
        self.requests += o.requests;
        self.items += o.items;
        self.creates_acked += o.creates_acked;
        self.creates_interrupted_stored += o.creates_interrupted_stored;
        self.creates_interrupted_lost += o.creates_interrupted_lost;
        self.decisions_acked += o.decisions_acked;
        self.decisions_conflicted += o.decisions_conflicted;
        self.cancels_acked += o.cancels_acked;
        self.calls_interrupted += o.calls_interrupted;
        self.approved += o.approved;
        self.denied += o.denied;
        self.expired += o.expired;
        self.cancelled += o.cancelled;
        self.grants_ended += o.grants_ended;
        self.webhook_ids += o.webhook_ids;
        self.webhook_redeliveries += o.webhook_redeliveries;
        self.duplicates += o.duplicates;
        self.settle_ms_max = self.settle_ms_max.max(o.settle_ms_max);
    }

    fn line(&self) -> String {
        format!(
            "{} kill(s) ({} left leases), {} requests / {} items, {} decisions acked, {} interrupted calls, \
             {} webhook ids (+{} redelivered), settled {:.1}s after the last restart",
            self.kills,
            self.kills_leaving_leases,
            self.requests,
            self.items,
            self.decisions_acked,
            self.calls_interrupted,
            self.webhook_ids,
            self.webhook_redeliveries,
            self.settle_ms_max as f64 / 1000.0
        )
    }

    fn summary(&self) -> String {
        format!(
            "trials {}; kills {} ({} left claimed work behind: {} outbox rows, {} timers, waited out on their lease); \
             requests {} ({} acked, {} interrupted but stored, {} interrupted and not stored so sent again); \
             items {} (approved {}, denied {}, expired {}, cancelled {}); decisions acked {} (+{} answered 409 \
             because already settled); cancels acked {}; calls interrupted by a kill {}; grants ended {}; webhook \
             delivery ids {} (+{} redeliveries of the same id); duplicates (a second id for one event and item) {}; \
             longest settle after the last restart {:.1}s",
            self.trials,
            self.kills,
            self.kills_leaving_leases,
            self.leased_rows,
            self.leased_timers,
            self.requests,
            self.creates_acked,
            self.creates_interrupted_stored,
            self.creates_interrupted_lost,
            self.items,
            self.approved,
            self.denied,
            self.expired,
            self.cancelled,
            self.decisions_acked,
            self.decisions_conflicted,
            self.cancels_acked,
            self.calls_interrupted,
            self.grants_ended,
            self.webhook_ids,
            self.webhook_redeliveries,
            self.duplicates,
            self.settle_ms_max as f64 / 1000.0
        )
    }
}

/// What the clients saw, for checking after restarts.
#[derive(Debug, Default)]
struct Ledger {
    /// Requests that may still need decisions.
    open: Vec<String>,
    /// Requests that asked for a duration (approvers may pick a shorter one).
    timed: HashSet<String>,
    /// Requests created with a 201.
    acked: BTreeSet<String>,
    /// (item, approver, verdict) seen in any 2xx answer.
    decisions: BTreeSet<(String, String, String)>,
    /// Final states seen in any 2xx answer.
    settled: BTreeMap<String, String>,
    /// Answers that should not happen (5xx, odd statuses, a settled item changing state).
    unexpected: Vec<String>,
    report: Report,
}

/// An answer, or "the server this was sent to was killed, and a new one is up".
enum Sent {
    Answer(u16, Value),
    Interrupted,
}

/// One trial's shared state.
struct Ctx {
    trial: usize,
    server: Server,
    receiver: Receiver,
    api: Api,
    ledger: Mutex<Ledger>,
    stop: AtomicBool,
}

async fn trial(index: usize, seed: u64, clients: usize) -> anyhow::Result<Report> {
    let receiver = Receiver::start(SECRET).await?;
    let server = Server::new(&receiver.url)?;
    let ctx = Arc::new(Ctx {
        trial: index,
        server,
        receiver,
        api: Api::new(TOKEN),
        ledger: Mutex::default(),
        stop: false.into(),
    });
    let result = drive(&ctx, seed, clients).await;
    match result {
        Ok(report) => Ok(report),
        Err(e) => {
            let _ = ctx.server.kill().await;
            let dir = ctx.server.keep().display().to_string();
            Err(e.context(format!(
                "trial {index}, seed {seed}; files kept in {dir}; last log lines:\n{}",
                ctx.server.log_tail(25)
            )))
        }
    }
}

async fn drive(ctx: &Arc<Ctx>, seed: u64, clients: usize) -> anyhow::Result<Report> {
    let mut rng = StdRng::seed_from_u64(seed);
    ctx.server.start().await?;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let ctx = ctx.clone();
        let seed = mix(seed, 1000 + c as u64);
        tasks.spawn(async move { ctx.client(c, seed).await.with_context(|| format!("client {c}")) });
    }
    let kills = if rng.random_bool(0.3) { 2 } else { 1 };
    let mut report = Report { trials: 1, ..Report::default() };
    let mut last_start = Instant::now();
    for k in 0..kills {
        let after = if k == 0 { rng.random_range(300..4000) } else { rng.random_range(200..2500) };
        tokio::time::sleep(Duration::from_millis(after)).await;
        let left = ctx.server.kill().await?;
        report.kills += 1;
        report.leased_rows += left.outbox;
        report.leased_timers += left.timers;
        if left.outbox + left.timers > 0 {
            report.kills_leaving_leases += 1;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        ctx.server.start().await?;
        last_start = Instant::now();
        ctx.verify_seen().await.context("after a restart")?;
    }
    // Work goes on after the last restart, while the leases the killed process held run out (60s): new rows
    // must flow past the stuck ones. This costs no wall time, since those leases bound the trial anyway.
    tokio::time::sleep(Duration::from_millis(rng.random_range(3000..20000))).await;
    ctx.stop.store(true, Ordering::Relaxed);
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    ctx.answer_everything(&mut rng).await?;
    ctx.wait_quiet().await?;
    report.settle_ms_max = last_start.elapsed().as_millis() as u64;
    ctx.check_end(&mut report).await?;
    ctx.server.kill().await?;
    let log = std::fs::read_to_string(ctx.server.log_path())?;
    ensure!(!log.contains("panicked"), "signoff serve panicked; see {}", ctx.server.log_path().display());
    let (code, out) = ctx.server.audit_verify().await?;
    ensure!(code == Some(0), "signoff audit verify exited {code:?}: {out}");
    ensure!(out.contains("signatures checked with key"), "signoff audit verify checked no signature: {out}");
    Ok(report)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn items(v: &Value) -> &[Value] {
    v["items"].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn is_settled(item: &Value) -> bool {
    SETTLED.contains(&item["state"].as_str().unwrap_or_default())
}

impl Ctx {
    /// One call. A transport error is expected only from a server that was then killed: wait for the next
    /// start and say so; otherwise fail.
    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Sent> {
        let mut starts = self.server.generation();
        let sent_to = *starts.wait_for(|g| g.up).await?;
        let url = format!("{}{path}", self.server.base());
        match self.api.call(method.clone(), &url, body).await {
            Ok((status, v)) => {
                if status >= 500 {
                    self.ledger.lock().unwrap().unexpected.push(format!("{method} {path} answered {status}: {v}"));
                }
                Ok(Sent::Answer(status, v))
            }
            Err(e) => {
                let next = starts.wait_for(|g| g.number > sent_to.number && g.up);
                match tokio::time::timeout(Duration::from_secs(120), next).await {
                    Ok(Ok(_)) => {
                        self.ledger.lock().unwrap().report.calls_interrupted += 1;
                        Ok(Sent::Interrupted)
                    }
                    _ => bail!("{method} {path} failed although the server was not killed: {e}"),
                }
            }
        }
    }

    fn unexpected(&self, what: String) {
        self.ledger.lock().unwrap().unexpected.push(what);
    }

    /// Remembers what a 2xx answer showed: decisions and final states must survive any later kill.
    fn observe(&self, view: &Value) {
        let mut l = self.ledger.lock().unwrap();
        for item in items(view) {
            let id = text(&item["id"]);
            for d in item["decisions"].as_array().into_iter().flatten() {
                l.decisions.insert((id.clone(), text(&d["approver"]), text(&d["verdict"])));
            }
            if is_settled(item) {
                let state = text(&item["state"]);
                if let Some(before) = l.settled.insert(id.clone(), state.clone())
                    && before != state
                {
                    l.unexpected.push(format!("item {id} was {before}, later {state}"));
                }
            }
        }
    }

    /// A client task: random operations until told to stop.
    async fn client(&self, me: usize, seed: u64) -> anyhow::Result<()> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut n = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let open = self.ledger.lock().unwrap().open.len();
            let roll: f64 = rng.random();
            if open == 0 || (roll < 0.3 && open < 40) {
                n += 1;
                self.create(&mut rng, format!("t{}-c{me}-{n}", self.trial)).await?;
            } else if roll < 0.9 {
                self.decide_one(&mut rng).await?;
            } else if roll < 0.93 {
                self.cancel_one(&mut rng).await?;
            } else {
                self.browse().await?;
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(5..40))).await;
        }
        Ok(())
    }

    async fn create(&self, rng: &mut StdRng, tag: String) -> anyhow::Result<()> {
        let resource = *["quorum", "quorum", "chain", "chain", "clock"].choose(rng).unwrap_or(&"quorum");
        let requester = *["req1@example.com", "req2@example.com", "req3@example.com"].choose(rng).unwrap_or(&"");
        let mut body = json!({ "requester": requester, "resource": resource, "justification": tag });
        if rng.random_bool(0.3) {
            body["for"] = json!(["ben1@example.com", "ben2@example.com"]);
        }
        let timed = rng.random_bool(0.4);
        if timed {
            body["duration"] = json!("2s");
        }
        loop {
            let id = match self.send(Method::POST, "/api/v1/requests", Some(&body)).await? {
                Sent::Answer(201, v) => {
                    self.observe(&v);
                    let id = text(&v["id"]);
                    let mut l = self.ledger.lock().unwrap();
                    l.acked.insert(id.clone());
                    l.report.creates_acked += 1;
                    id
                }
                Sent::Answer(status, v) => {
                    self.unexpected(format!("create answered {status}: {v}"));
                    return Ok(());
                }
                // The server that had it is dead: it was stored or not, and nothing will change that now.
                Sent::Interrupted => match self.stored_with_tag(&tag).await? {
                    Some(id) => {
                        self.ledger.lock().unwrap().report.creates_interrupted_stored += 1;
                        id
                    }
                    None => {
                        self.ledger.lock().unwrap().report.creates_interrupted_lost += 1;
                        continue;
                    }
                },
            };
            let mut l = self.ledger.lock().unwrap();
            l.open.push(id.clone());
            if timed {
                l.timed.insert(id);
            }
            return Ok(());
        }
    }

    /// The item counts the committer keeps for `/metrics` (`item_counts`) match the items as listed, after
    /// every kill: they are written in the same transaction as the items, or not at all.
    async fn check_counts(&self, all: &[Value]) -> anyhow::Result<()> {
        let mut listed: BTreeMap<String, i64> = BTreeMap::new();
        for view in all {
            for item in items(view) {
                *listed.entry(text(&item["state"])).or_default() += 1;
            }
        }
        let db = self.server.db().await?;
        let kept: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, n FROM item_counts WHERE n != 0 ORDER BY status").fetch_all(&db).await?;
        db.close().await;
        let kept: BTreeMap<String, i64> = kept.into_iter().collect();
        ensure!(kept == listed, "item_counts {kept:?} but the listed items are {listed:?}");
        Ok(())
    }

    async fn stored_with_tag(&self, tag: &str) -> anyhow::Result<Option<String>> {
        let db = self.server.db().await?;
        let id = sqlx::query_scalar("SELECT id FROM requests WHERE json_extract(body, '$.justification') = ?1")
            .bind(tag)
            .fetch_optional(&db)
            .await?;
        db.close().await;
        Ok(id)
    }

    /// `GET /api/v1/requests/{id}`, through kills.
    async fn read(&self, id: &str) -> anyhow::Result<Value> {
        loop {
            match self.send(Method::GET, &format!("/api/v1/requests/{id}"), None).await? {
                Sent::Answer(200, v) => {
                    self.observe(&v);
                    return Ok(v);
                }
                Sent::Answer(status, v) => bail!("GET request {id} answered {status}: {v}"),
                Sent::Interrupted => {}
            }
        }
    }

    fn pick_open(&self, rng: &mut StdRng) -> Option<String> {
        self.ledger.lock().unwrap().open.choose(rng).cloned()
    }

    fn close_if_settled(&self, view: &Value) -> bool {
        let done = items(view).iter().all(is_settled);
        if done {
            let id = text(&view["id"]);
            self.ledger.lock().unwrap().open.retain(|o| *o != id);
        }
        done
    }

    /// A pending approver of a random open request decides.
    async fn decide_one(&self, rng: &mut StdRng) -> anyhow::Result<()> {
        let Some(id) = self.pick_open(rng) else { return Ok(()) };
        let view = self.read(&id).await?;
        if self.close_if_settled(&view) {
            return Ok(());
        }
        let mut approvers: Vec<String> = Vec::new();
        for item in items(&view).iter().filter(|i| !is_settled(i)) {
            // Leave most `clock` items alone: their timers must fire, across restarts too.
            if item["resource"] == "clock" && rng.random_bool(0.6) {
                continue;
            }
            for p in item["prompts"].as_array().into_iter().flatten().filter(|p| p["state"] == "pending") {
                approvers.push(text(&p["approver"]));
            }
        }
        let Some(approver) = approvers.choose(rng).cloned() else { return Ok(()) };
        let approve = rng.random_bool(0.85);
        let timed = self.ledger.lock().unwrap().timed.contains(&id);
        let duration = (approve && timed && rng.random_bool(0.3)).then_some("1s");
        self.decide(&id, &approver, approve, duration).await
    }

    async fn decide(&self, id: &str, approver: &str, approve: bool, duration: Option<&str>) -> anyhow::Result<()> {
        let verdict = if approve { "approve" } else { "deny" };
        let mut body = json!({ "approver": approver, "verdict": verdict });
        if let Some(d) = duration {
            body["duration"] = json!(d);
        }
        let path = format!("/api/v1/requests/{id}/decisions");
        loop {
            match self.send(Method::POST, &path, Some(&body)).await? {
                Sent::Answer(200, v) => {
                    self.observe(&v);
                    let recorded = items(&v).iter().any(|i| {
                        i["decisions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|d| d["approver"] == approver && d["verdict"] == verdict)
                    });
                    if !recorded {
                        self.unexpected(format!("decision by {approver} on {id} answered 200 but is not shown: {v}"));
                    }
                    self.ledger.lock().unwrap().report.decisions_acked += 1;
                    return Ok(());
                }
                // Settled meanwhile (by someone else, a timer, or this very call before a kill).
                Sent::Answer(409, _) => {
                    self.ledger.lock().unwrap().report.decisions_conflicted += 1;
                    return Ok(());
                }
                Sent::Answer(status, v) => {
                    self.unexpected(format!("decision by {approver} on {id} answered {status}: {v}"));
                    return Ok(());
                }
                Sent::Interrupted => {}
            }
        }
    }

    /// The requester withdraws a random open request.
    async fn cancel_one(&self, rng: &mut StdRng) -> anyhow::Result<()> {
        let Some(id) = self.pick_open(rng) else { return Ok(()) };
        let view = self.read(&id).await?;
        if self.close_if_settled(&view) {
            return Ok(());
        }
        let body = json!({ "by": view["requester"] });
        loop {
            match self.send(Method::POST, &format!("/api/v1/requests/{id}/cancel"), Some(&body)).await? {
                Sent::Answer(200, v) => {
                    self.observe(&v);
                    self.close_if_settled(&v);
                    self.ledger.lock().unwrap().report.cancels_acked += 1;
                    return Ok(());
                }
                Sent::Answer(409, _) => return Ok(()),
                Sent::Answer(status, v) => {
                    self.unexpected(format!("cancel of {id} answered {status}: {v}"));
                    return Ok(());
                }
                Sent::Interrupted => {}
            }
        }
    }

    async fn browse(&self) -> anyhow::Result<()> {
        if let Sent::Answer(200, v) = self.send(Method::GET, "/api/v1/requests?state=requested&limit=20", None).await? {
            for r in v["requests"].as_array().into_iter().flatten() {
                self.observe(r);
            }
        }
        Ok(())
    }

    /// Every request, newest first, optionally only those with an item in `state`.
    async fn list(&self, state: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = "/api/v1/requests?limit=200".to_owned();
            if let Some(s) = state {
                path.push_str(&format!("&state={s}"));
            }
            if let Some(b) = &before {
                path.push_str(&format!("&before={b}"));
            }
            let v = match self.send(Method::GET, &path, None).await? {
                Sent::Answer(200, v) => v,
                Sent::Answer(status, v) => bail!("GET {path} answered {status}: {v}"),
                Sent::Interrupted => continue,
            };
            for r in v["requests"].as_array().into_iter().flatten() {
                self.observe(r);
                out.push(r.clone());
            }
            match v["next"].as_str() {
                Some(next) => before = Some(next.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// Everything a 2xx answer showed is still so: created requests exist, decisions are there, final states
    /// have not changed.
    async fn verify_seen(&self) -> anyhow::Result<()> {
        let (acked, decisions, settled) = {
            let l = self.ledger.lock().unwrap();
            (l.acked.clone(), l.decisions.clone(), l.settled.clone())
        };
        let mut requests: BTreeSet<String> = acked.clone();
        let request_of = |item: &str| item.rsplit_once('-').map_or(item.to_owned(), |(r, _)| r.to_owned());
        requests.extend(decisions.iter().map(|(i, _, _)| request_of(i)));
        requests.extend(settled.keys().map(|i| request_of(i)));
        let mut now_decisions = HashSet::new();
        let mut now_states = HashMap::new();
        for id in &requests {
            let view = loop {
                match self.send(Method::GET, &format!("/api/v1/requests/{id}"), None).await? {
                    Sent::Answer(200, v) => break v,
                    Sent::Answer(404, _) => bail!("request {id} was answered 201 (or shown) before a kill and is gone"),
                    Sent::Answer(status, v) => bail!("GET request {id} answered {status}: {v}"),
                    Sent::Interrupted => {}
                }
            };
            for item in items(&view) {
                let iid = text(&item["id"]);
                for d in item["decisions"].as_array().into_iter().flatten() {
                    now_decisions.insert((iid.clone(), text(&d["approver"]), text(&d["verdict"])));
                }
                now_states.insert(iid, text(&item["state"]));
            }
        }
        for d in &decisions {
            ensure!(now_decisions.contains(d), "decision {d:?} was shown in a 2xx answer and is gone");
        }
        for (item, state) in &settled {
            let now = now_states.get(item).map(String::as_str).unwrap_or("missing");
            ensure!(now == state, "item {item} was shown {state} in a 2xx answer and is now {now}");
        }
        Ok(())
    }

    /// Answers every pending prompt (except those of `clock` items, which time out) until no item waits.
    async fn answer_everything(&self, rng: &mut StdRng) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        loop {
            let mut waiting = self.list(Some("requested")).await?;
            waiting.extend(self.list(Some("escalated")).await?);
            if waiting.is_empty() {
                return Ok(());
            }
            for view in &waiting {
                let id = text(&view["id"]);
                let mut asked = BTreeSet::new();
                for item in items(view).iter().filter(|i| !is_settled(i) && i["resource"] != "clock") {
                    for p in item["prompts"].as_array().into_iter().flatten().filter(|p| p["state"] == "pending") {
                        asked.insert(text(&p["approver"]));
                    }
                }
                for approver in asked {
                    self.decide(&id, &approver, rng.random_bool(0.85), None).await?;
                }
            }
            if Instant::now() > deadline {
                let ids: Vec<String> = waiting.iter().map(|v| text(&v["id"])).collect();
                bail!("items still waiting after {}s: {ids:?}", SETTLE_DEADLINE.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until no item waits, no timer is left, every expiring grant ended and the outbox is empty.
    async fn wait_quiet(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let db = self.server.db().await?;
        loop {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM items WHERE status IN ('requested', 'escalated')) AS items, \
                        (SELECT COUNT(*) FROM outbox WHERE done_at IS NULL) AS outbox, \
                        (SELECT COUNT(*) FROM timers) AS timers, \
                        (SELECT COUNT(*) FROM grants WHERE expires_at IS NOT NULL AND ended_at IS NULL) AS grants",
            )
            .fetch_one(&db)
            .await?;
            let counts: [i64; 4] =
                [row.try_get("items")?, row.try_get("outbox")?, row.try_get("timers")?, row.try_get("grants")?];
            if counts == [0; 4] {
                db.close().await;
                return Ok(());
            }
            if Instant::now() > deadline {
                let rows = sqlx::query(
                    "SELECT key, kind, attempts, lease_owner, lease_until, due_at, last_error FROM outbox \
                     WHERE done_at IS NULL ORDER BY id LIMIT 20",
                )
                .fetch_all(&db)
                .await?;
                let rows: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} attempts={} lease={:?} until={:?} due={} error={:?}",
                            r.get::<String, _>("key"),
                            r.get::<String, _>("kind"),
                            r.get::<i64, _>("attempts"),
                            r.get::<Option<String>, _>("lease_owner"),
                            r.get::<Option<i64>, _>("lease_until"),
                            r.get::<i64, _>("due_at"),
                            r.get::<Option<String>, _>("last_error"),
                        )
                    })
                    .collect();
                bail!(
                    "not quiet after {}s: waiting items {}, undelivered outbox rows {}, timers {}, unended expiring \
                     grants {}; outbox:\n{}",
                    SETTLE_DEADLINE.as_secs(),
                    counts[0],
                    counts[1],
                    counts[2],
                    counts[3],
                    rows.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The assertions once everything settled.
    async fn check_end(&self, report: &mut Report) -> anyhow::Result<()> {
        let all = self.list(None).await?;
        self.verify_seen().await.context("at the end")?;
        let (acked, unexpected) = {
            let mut l = self.ledger.lock().unwrap();
            report.add(&Report { trials: 0, settle_ms_max: 0, ..l.report.clone() });
            (l.acked.clone(), std::mem::take(&mut l.unexpected))
        };
        ensure!(unexpected.is_empty(), "unexpected answers:\n{}", unexpected.join("\n"));

        // Every item settled, nobody decided twice on one item; what each item should have caused.
        let ids: HashSet<String> = all.iter().map(|v| text(&v["id"])).collect();
        for id in &acked {
            ensure!(ids.contains(id), "request {id} was answered 201 and is not listed");
        }
        report.requests = all.len() as u64;
        self.check_counts(&all).await?;
        let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut known_items = HashSet::new();
        for view in &all {
            for item in items(view) {
                let id = text(&item["id"]);
                known_items.insert(id.clone());
                report.items += 1;
                let state = text(&item["state"]);
                let mut count = |event: &str, n: usize| {
                    expected.insert((event.to_owned(), id.clone()), n);
                };
                let ended = !item["grant"]["ended_at"].is_null();
                match state.as_str() {
                    "approved" => {
                        report.approved += 1;
                        ensure!(item["grant"].is_object(), "approved item {id} has no grant");
                        count("grant.created", 1);
                        count("grant.ended", usize::from(ended));
                        count("item.denied", 0);
                        report.grants_ended += u64::from(ended);
                    }
                    "denied" | "expired" => {
                        if state == "denied" {
                            report.denied += 1;
                        } else {
                            report.expired += 1;
                        }
                        count("grant.created", 0);
                        count("grant.ended", 0);
                        count("item.denied", 1);
                    }
                    "cancelled" => {
                        report.cancelled += 1;
                        count("grant.created", 0);
                        count("grant.ended", 0);
                        count("item.denied", 0);
                    }
                    other => bail!("item {id} is still {other}"),
                }
                let mut deciders = HashSet::new();
                for d in item["decisions"].as_array().into_iter().flatten() {
                    let who = text(&d["approver"]);
                    ensure!(deciders.insert(who.clone()), "{who} decided twice on item {id}: {item}");
                }
            }
        }

        // Webhooks: one id per (event, item); the same id again is a retry.
        let deliveries = self.receiver.deliveries();
        let mut ids_per: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let mut what: HashMap<String, (String, String)> = HashMap::new();
        for d in &deliveries {
            ensure!(d.signed, "delivery {} has a bad signature", d.id);
            ensure!(known_items.contains(&d.item), "delivery {} names unknown item {}", d.id, d.item);
            let key = (d.event.clone(), d.item.clone());
            if let Some(before) = what.insert(d.id.clone(), key.clone()) {
                ensure!(before == key, "delivery id {} carried {before:?} and later {key:?}", d.id);
            }
            ids_per.entry(key).or_default().insert(d.id.clone());
        }
        report.webhook_ids = what.len() as u64;
        report.webhook_redeliveries = (deliveries.len() - what.len()) as u64;
        let mut problems = Vec::new();
        for (key, ids) in &ids_per {
            if ids.len() > 1 {
                report.duplicates += ids.len() as u64 - 1;
            }
            let want = expected.get(key).copied().unwrap_or(0);
            if ids.len() != want {
                problems.push(format!("{} for {}: {} delivery ids {ids:?}, expected {want}", key.0, key.1, ids.len()));
            }
        }
        for (key, want) in &expected {
            if *want > 0 && !ids_per.contains_key(key) {
                problems.push(format!("{} for {}: never delivered", key.0, key.1));
            }
        }
        ensure!(problems.is_empty(), "webhook deliveries:\n{}", problems.join("\n"));

        // The database agrees: no failed row, every webhook row reached the receiver, no tag stored twice.
        let db = self.server.db().await?;
        let failed: Vec<String> = sqlx::query_scalar(
            "SELECT key || ' ' || kind || ': ' || COALESCE(last_error, '') FROM outbox WHERE outcome = 'failed'",
        )
        .fetch_all(&db)
        .await?;
        ensure!(failed.is_empty(), "outbox rows that failed for good:\n{}", failed.join("\n"));
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT key FROM outbox WHERE kind = 'webhook'").fetch_all(&db).await?;
        for k in &keys {
            ensure!(what.contains_key(k), "webhook row {k} is marked delivered but never reached the receiver");
        }
        let twice: Vec<String> = sqlx::query_scalar(
            "SELECT json_extract(body, '$.justification') AS tag FROM requests GROUP BY tag HAVING COUNT(*) > 1",
        )
        .fetch_all(&db)
        .await?;
        ensure!(twice.is_empty(), "one create stored twice: {twice:?}");
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM requests").fetch_one(&db).await?;
        ensure!(stored as usize == all.len(), "{stored} requests stored, {} listed", all.len());
        db.close().await;
        Ok(())
    }
}
