//! A prompt is live exactly while its question is open, whatever Slack does (DESIGN 7.4). Slack on a bad day: 30%
//! of `chat.postMessage`, `chat.update` and `conversations.open` calls fail with a 429 and `Retry-After`, a 500
//! before or after Slack acted, or an answer that comes after signoff's 10 s timeout although the post was stored.
//! Requests on a 1-of-3 workflow, one approval each. At the end every approver holds one message per prompt, no
//! message keeps a button, every notice arrived once, prompts appeared promptly and the outbox drained soon after
//! the last click. The storm is seeded, so a failing run can be repeated; `STORM_REQUESTS` and `STORM_SEED` scale
//! and vary it (RELIABILITY.md has the long runs).

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use support::fake_slack::Message;
use support::*;

/// Requests in one run: small enough for CI; `STORM_REQUESTS=200` for the long run.
fn requests() -> usize {
    std::env::var("STORM_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(60)
}

fn seed() -> u64 {
    std::env::var("STORM_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20261204)
}

/// The token of a prompt message (its Approve button's value), as first posted.
fn token_of(fake: &FakeSlack, m: &Message) -> Option<String> {
    let original = fake.original(m);
    original
        .elements()
        .into_iter()
        .find(|(_, e)| e["action_id"].as_str().is_some_and(|a| a.contains("approve")))
        .and_then(|(_, e)| e["value"].as_str().map(str::to_owned))
}

/// An outbox row as the debug output shows it: key, kind, attempts, sure failures, outcome, last error.
type OutboxRow = (String, String, i64, i64, Option<String>, Option<String>);

/// A finished outbox row as the debug output shows it: kind, attempts, sure failures, outcome, last error, created,
/// done.
type SlowRow = (String, i64, i64, Option<String>, Option<String>, i64, i64);

/// The value at `q` (0..1) of sorted `xs`.
fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_storm_of_failing_slack_calls_every_prompt_lands_once_and_closes() {
    let n = requests();
    let fake = FakeSlack::start().await;
    // Production retry timings, checked quickly.
    let tuning = signoff::runtime::Tuning { idle: Duration::from_millis(100), ..signoff::runtime::Tuning::default() };
    let app = spawn_app(AppOptions::new().slack(&fake).workflow("ANY_OF_THREE", &any_of_three()).tuning(tuning)).await;
    // The workspace is learnt before the storm starts (auth.test is not part of it).
    fake.wait_for("auth.test answered", |f| !f.calls_to("auth.test").is_empty()).await;
    fake.storm(seed(), 0.3, &["chat.postMessage", "chat.update", "conversations.open"], Duration::from_secs(11));
    let approvers = [KIM, MAX, SAM];

    // Requests, each remembered with when it was made.
    let mut made: HashMap<String, Instant> = HashMap::new();
    for _ in 0..n {
        let view = app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await;
        made.insert(id_of(&view), Instant::now());
    }

    // Every prompt appears; when it first did, from its request's creation.
    let tokens: Vec<(String, String, String)> = {
        let rows: Vec<(String, String, String)> = sqlx::query_as("SELECT token, request_id, approver FROM prompts")
            .fetch_all(app.store().reader())
            .await
            .unwrap();
        rows
    };
    assert_eq!(tokens.len(), 3 * n, "three prompts per request");
    fake.wait_until("every prompt appears", Duration::from_secs(90), |f| {
        let shown: std::collections::HashSet<String> =
            approvers.iter().flat_map(|a| f.prompts_to(&slack_id(a))).filter_map(|m| token_of(f, &m)).collect();
        tokens.iter().all(|(t, _, _)| shown.contains(t))
    })
    .await;
    let first_seen: HashMap<String, Instant> = {
        let mut seen = HashMap::new();
        for (m, _, at) in fake.stored() {
            if let Some(t) = token_of(&fake, &m) {
                let e = seen.entry(t).or_insert(at);
                *e = (*e).min(at);
            }
        }
        seen
    };
    let appeared: Vec<f64> = tokens
        .iter()
        .map(|(t, r, _)| first_seen[t].saturating_duration_since(made[r] - Duration::from_millis(50)).as_secs_f64())
        .collect();

    // One approval each, by one of the three, clicking their own message.
    let mut last_click = Instant::now();
    for (i, id) in made.keys().enumerate() {
        let who = approvers[i % 3];
        let (token, _, _) = tokens.iter().find(|(_, r, a)| r == id && a == who).unwrap();
        let message = fake
            .prompts_to(&slack_id(who))
            .into_iter()
            .find(|m| token_of(&fake, m).as_deref() == Some(token))
            .expect("the approver's prompt");
        let (r, _) = app.slack_click(&fake, &slack_id(who), &message, "approve").await;
        assert_eq!(r.status, 200, "{}", r.text);
        last_click = Instant::now();
    }
    for id in made.keys() {
        app.wait_for_state(id, "approved").await;
    }

    // The outbox drains: every prompt closed, every notice sent.
    app.wait_until("the outbox drains", Duration::from_secs(120), async |app| {
        app.count("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL").await == 0
    })
    .await;
    let drained = last_click.elapsed().as_secs_f64();
    fake.calm();
    if std::env::var("STORM_DEBUG").is_ok() {
        // The slowest deliveries after the last click, to see what held the drain.
        let rows: Vec<SlowRow> = sqlx::query_as(
            "SELECT kind, attempts, sure_failures, outcome, last_error, created_at, done_at FROM outbox ORDER BY done_at DESC LIMIT 15",
        )
        .fetch_all(app.store().reader())
        .await
        .unwrap();
        let end = rows.first().map_or(0, |r| r.6);
        for r in rows {
            eprintln!(
                "SLOW {} attempts={} sure={} took={:.1}s done={:.1}s-before-end {:?} {:?}",
                r.0,
                r.1,
                r.2,
                (r.6 - r.5) as f64 / 1000.0,
                (end - r.6) as f64 / 1000.0,
                r.3,
                r.4
            );
        }
    }

    // One message per prompt, none with a button left; every notice once.
    let mut copies: HashMap<String, usize> = HashMap::new();
    let mut live = Vec::new();
    let mut notices: HashMap<String, usize> = HashMap::new();
    for (m, metadata, _) in fake.stored() {
        match token_of(&fake, &m) {
            Some(t) => {
                *copies.entry(t.clone()).or_default() += 1;
                if m.has_buttons() {
                    live.push(t);
                }
            }
            None => {
                let key = metadata["event_payload"]["key"].as_str().unwrap_or("(no mark)").to_owned();
                *notices.entry(key).or_default() += 1;
            }
        }
    }
    if std::env::var("STORM_DEBUG").is_ok() {
        for t in &live {
            let rows: Vec<OutboxRow> = sqlx::query_as(
                "SELECT key, kind, attempts, sure_failures, outcome, last_error FROM outbox WHERE token = $1 ORDER BY id",
            )
            .bind(t.clone())
            .fetch_all(app.store().reader())
            .await
            .unwrap();
            eprintln!("LIVE {t}: {rows:?}");
            for c in fake.calls() {
                let text = c.params.to_string();
                if text.contains(t.as_str()) || c.answer.to_string().contains(t.as_str()) {
                    eprintln!(
                        "   {} {} -> {}",
                        c.method,
                        c.params["ts"],
                        c.answer.to_string().chars().take(120).collect::<String>()
                    );
                }
            }
        }
    }
    let duplicated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    let twice: Vec<_> = notices.iter().filter(|(_, n)| **n > 1).collect();
    let failed: i64 = app.count("SELECT COUNT(*) FROM outbox WHERE outcome = 'failed'").await;
    let p50 = quantile(&appeared, 0.5);
    let p99 = quantile(&appeared, 0.99);
    let storm_calls = fake
        .calls()
        .iter()
        .filter(|c| c.answer.is_null() || c.answer.get("http").is_some() || c.answer.get("late").is_some())
        .count();
    eprintln!(
        "RESULT storm requests={n} seed={} failed_calls={storm_calls} appear_p50={p50:.2}s appear_p99={p99:.2}s \
         appear_max={:.2}s drained={drained:.2}s deleted_copies={} duplicates={} live={} double_notices={}",
        seed(),
        quantile(&appeared, 1.0),
        fake.deleted(),
        duplicated.len(),
        live.len(),
        twice.len()
    );
    assert!(storm_calls > n / 2, "the storm struck ({storm_calls} failed calls)");
    assert_eq!(failed, 0, "no delivery gave up");
    assert!(duplicated.is_empty(), "a prompt shown more than once: {duplicated:?}");
    assert!(live.is_empty(), "prompts still live after their request settled: {live:?}");
    assert!(twice.is_empty(), "a notice delivered more than once: {twice:?}");
    let expected_notices = notices.values().sum::<usize>();
    assert!(expected_notices >= n, "at least the outcome notice of each request arrived ({expected_notices})");
    assert!(p99 <= 10.0, "p99 time until a prompt first appears is {p99:.2}s (goal 10 s)");
    assert!(drained <= 30.0, "the outbox drained {drained:.2}s after the last click (goal 30 s)");
}
