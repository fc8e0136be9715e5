//! The dispatcher: delivers outbox rows at least once, and leaves no stray copy behind (DESIGN 7.4).
//!
//! Rows are claimed with a short lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same
//! row), renewed while the delivery runs, delivered concurrently, then marked done or rescheduled with exponential
//! backoff, honouring a platform's `Retry-After`. A replica that dies mid-delivery loses nothing: its lease runs
//! out within seconds and the row is claimed again.
//!
//! **Copies.** A chat send can fail in a way that hides whether it was delivered (a timeout, a 5xx after the
//! platform accepted it, a replica that died mid-call). Every message carries its [`Mark`] (the row's key and, for
//! prompts, the token), and a row whose earlier attempt may have delivered (`attempts - 1 > sure_failures`: only a
//! rate limit proves an attempt delivered nothing) is first looked for on the platform: found, it counts as sent
//! (extra copies are deleted); not found, it is sent. A prompt whose send was ever in doubt is closed by finding
//! and updating every copy, not only the one stored; so is one closed before its doubtful send was settled.
//!
//! **Prompt retries.** Chat rows back off from [`Tuning::chat_backoff_base`] to [`Tuning::chat_backoff_max`]
//! (seconds, not minutes: a healthy platform is reached again soon after it recovers). Webhook rows back off to
//! [`Tuning::backoff_max`], but while a receiver is failing one of its rows stays due within
//! [`Tuning::probe_every`] as a probe; when a delivery that had failed before succeeds, every row waiting for the
//! same destination is pulled forward (rate-limited ones excepted: they keep their `Retry-After`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signoff_port::{ChatError, ChatUser, Mark, MessageRef, Notification, Platform, PromptClosing, PromptMessage};
use sqlx::{Any, Row, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::Instrument;
use tracing::field::Empty;

use super::{Inner, Job, Tuning, Work};
use crate::audit::Entry;
use crate::store::ms;
use crate::store::rows::{Inserts, Params, Val};
use crate::webhook::DeliveryError;

/// The longest one delivery attempt may take (chat calls and the webhook both time out sooner on their own).
pub(crate) const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// Delivered outbox rows are kept this long (to answer "was this sent, and when?"), then deleted, so the table
/// does not grow forever. What happened stays in the audit trail.
const RETAIN_DELIVERED: Duration = Duration::from_secs(7 * 86_400);
/// How often the purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Rows deleted per purge statement, so one purge never holds the writer for long.
const PURGE_BATCH: i64 = 5_000;

/// Deletes delivered rows older than [`RETAIN_DELIVERED`]; returns how many.
async fn purge(inner: &Inner) -> Result<u64, sqlx::Error> {
    let before = ms(crate::time::now()) - i64::try_from(RETAIN_DELIVERED.as_millis()).unwrap_or(i64::MAX / 2);
    let mut total = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE done_at IS NOT NULL AND done_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(PURGE_BATCH)
        .execute(inner.store.writer())
        .await?
        .rows_affected();
        total += n;
        if n < u64::try_from(PURGE_BATCH).unwrap_or(u64::MAX) {
            return Ok(total);
        }
    }
}

/// A claimed row.
#[derive(Debug, Clone)]
struct Claimed {
    id: i64,
    key: String,
    kind: String,
    item_id: Option<String>,
    /// The chat platform of chat rows.
    platform: Option<String>,
    payload: Value,
    /// Attempts so far, this one included.
    attempts: i64,
    /// Earlier attempts known to have delivered nothing.
    sure_failures: i64,
    created_at: i64,
    /// The `traceparent` of the commit that wrote the row, when traces were exported then.
    traceparent: Option<String>,
}

impl Claimed {
    /// Whether an earlier attempt may have delivered this row: look on the platform before sending again.
    fn in_doubt(&self) -> bool {
        self.attempts - 1 > self.sure_failures
    }

    /// The mark its message carries.
    fn mark(&self, token: Option<&str>) -> Mark {
        Mark { key: self.key.clone(), token: token.map(str::to_owned), since_ms: self.created_at }
    }
}

/// How a delivery went.
enum Outcome {
    /// Done; `note` goes in the row.
    Done(String),
    /// A prompt was posted as `message`: its reference is saved with the row's completion, in one transaction,
    /// so a closing that looks for it finds it exactly when the send counts as done. `doubtful`: an earlier
    /// attempt was in doubt, so other copies may exist and the closing must look for them.
    Sent { token: String, message: MessageRef, doubtful: bool },
    /// Try again after this long; `error` says why (not a failure when `count` is false). `sure`: this attempt
    /// certainly delivered nothing (the platform refused it with a rate limit), so no copy needs looking for.
    Retry { after: Duration, error: String, count: bool, sure: bool },
    /// Give up; the row is closed with this error.
    Failed(String),
}

pub(super) async fn run(inner: Arc<Inner>) {
    let mut stopping = inner.stopping.subscribe();
    let mut inflight: JoinSet<()> = JoinSet::new();
    let (finished, to_record) = mpsc::channel::<Completion>(FINISH_QUEUE);
    let recorder = tokio::spawn(record(inner.clone(), to_record));
    let mut last_purge = Instant::now();
    loop {
        if *stopping.borrow() {
            break;
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = Instant::now();
            match purge(&inner).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rows = n, "purged delivered outbox rows"),
                Err(e) => tracing::warn!(error = %e, "purging delivered outbox rows failed"),
            }
        }
        let room = inner.tuning.concurrency.saturating_sub(inflight.len());
        let claimed = if room > 0 { claim(&inner, room).await } else { Ok(Vec::new()) };
        match claimed {
            Ok(rows) if !rows.is_empty() => {
                for row in rows {
                    let inner = inner.clone();
                    let finished = finished.clone();
                    inflight.spawn(async move { deliver(&inner, row, &finished).await });
                }
                // Reap finished deliveries without waiting, then look for more work once at least half the
                // slots are free: every claim is a write (a commit of its own on SQLite, sharing the one
                // writer connection with the committer), so many claims of a row or two would slow decisions.
                // But not while they are stuck: when no delivery has finished for [`REFILL_AFTER`] (a slow
                // platform holds them up to its timeout), the free slots are filled, so the rest of the outbox
                // does not wait behind them. While deliveries finish, waiting for half the slots costs nothing.
                while inflight.try_join_next().is_some() {}
                while inflight.len() > inner.tuning.concurrency / 2 {
                    match tokio::time::timeout(REFILL_AFTER, inflight.join_next()).await {
                        Ok(_) => {}
                        Err(_) if inflight.len() < inner.tuning.concurrency => break,
                        Err(_) => {
                            inflight.join_next().await;
                        }
                    }
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "claiming outbox rows failed; retrying"),
        }
        let idle = next_due_in(&inner).await.unwrap_or(inner.tuning.idle).min(inner.tuning.idle);
        tokio::select! {
            _ = inner.wake_dispatch.notified() => {}
            _ = tokio::time::sleep(idle) => {}
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            _ = super::stopped(&mut stopping) => {}
        }
    }
    // Let deliveries in flight finish (each is bounded by DELIVERY_TIMEOUT) so nothing is sent twice
    // needlessly; whatever has not finished by then stays leased and is delivered after the next start.
    let drained = tokio::time::timeout(DELIVERY_TIMEOUT, async { while inflight.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        inflight.abort_all();
        while inflight.join_next().await.is_some() {}
    }
    // The recorder ends once every sender is gone, after writing what it was handed.
    drop(finished);
    let _ = recorder.await;
}

/// When no delivery in flight has finished for this long, they are stuck (on slow answers): the dispatcher fills its
/// free slots instead of waiting for half of them. Deliveries to a healthy platform finish every few milliseconds.
const REFILL_AFTER: Duration = Duration::from_millis(100);

/// Completions waiting for the recorder at most; a delivery that finds the queue full waits for room.
const FINISH_QUEUE: usize = 1024;
/// Completions written in one transaction at most.
const FINISH_BATCH: usize = 256;

/// A finished delivery attempt, to be written down.
struct Completion {
    row: Claimed,
    outcome: Outcome,
    /// Told when the completion is on disk (or could not be written).
    done: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// Writes completions in batches, one transaction each: every delivery ends with a write, and on SQLite each
/// write alone is a commit (an fsync), which made a 1,000-prompt fan-out wait on 2,000 commits one after
/// another. Batching them is group commit for the outbox, as the committer does for decisions.
async fn record(inner: Arc<Inner>, mut rx: mpsc::Receiver<Completion>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < FINISH_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        match record_batch(&inner, &batch).await {
            Ok(()) => {
                for c in batch {
                    let _ = c.done.send(Ok(()));
                }
            }
            // One bad row must not lose the others: write them one by one, each in its own transaction.
            Err(e) => {
                tracing::debug!(error = %e, rows = batch.len(), "recording deliveries as a batch failed; one by one");
                for c in batch {
                    let result = record_batch(&inner, std::slice::from_ref(&c)).await;
                    let _ = c.done.send(result);
                }
            }
        }
    }
}

async fn record_batch(inner: &Inner, batch: &[Completion]) -> Result<(), sqlx::Error> {
    let mut tx = inner.store.begin().await?;
    let now = ms(crate::time::now());
    // The common outcomes (sent, done) as two multi-row statements for the whole batch; retries and failures,
    // which are rare, one by one.
    let mut messages = Inserts::new(
        "INSERT INTO prompt_messages (token, platform, channel, message, doubtful)",
        5,
        "ON CONFLICT (token, platform) DO UPDATE SET channel = excluded.channel, message = excluded.message, \
         doubtful = excluded.doubtful",
    );
    let mut done: Vec<(i64, String)> = Vec::new();
    // Destinations reached again after failing: what waits for them is pulled forward.
    let mut recovered: Vec<Destination> = Vec::new();
    for c in batch {
        let note = match &c.outcome {
            Outcome::Done(note) => note.clone(),
            Outcome::Sent { token, message, doubtful } => {
                messages.push(vec![
                    Val::Text(token.clone()),
                    Val::Text(message.platform.as_str().to_owned()),
                    Val::Text(message.channel.clone()),
                    Val::Text(message.message.clone()),
                    Val::Int(i64::from(*doubtful)),
                ]);
                format!("sent as {}", message.message)
            }
            other => {
                finish(inner, &mut tx, &c.row, other, now).await?;
                continue;
            }
        };
        if c.row.attempts > 1 {
            let d = Destination::of(&c.row);
            if !recovered.contains(&d) {
                recovered.push(d);
            }
        }
        done.push((c.row.id, note));
        let age = (now - c.row.created_at).max(0) as f64 / 1000.0;
        metrics::histogram!("signoff_outbox_delivery_age_seconds", "kind" => c.row.kind.clone()).record(age);
    }
    messages.flush(&mut tx).await?;
    mark_done(inner, &mut tx, &done, now).await?;
    for d in recovered {
        pull_forward(&mut tx, &d, now).await?;
    }
    tx.commit().await
}

/// Where a row is delivered, as far as "is it up?" goes: the webhook receiver, or a chat platform.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    Webhook,
    Chat(String),
}

impl Destination {
    fn of(row: &Claimed) -> Destination {
        match (&row.platform, row.kind.as_str()) {
            (_, "webhook") | (None, _) => Destination::Webhook,
            (Some(p), _) => Destination::Chat(p.clone()),
        }
    }

    /// The SQL condition for its rows, with the platform as `$2` for chat.
    fn rows(&self) -> &'static str {
        match self {
            Destination::Webhook => "kind = 'webhook'",
            Destination::Chat(_) => "kind <> 'webhook' AND platform = $2",
        }
    }
}

/// A delivery that had failed before has just succeeded: the destination is back, so rows waiting on their backoff
/// for it become due now, except those waiting out a rate limit's `Retry-After`.
async fn pull_forward(tx: &mut Transaction<'static, Any>, d: &Destination, now: i64) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE outbox SET due_at = $1 WHERE {} AND done_at IS NULL AND due_at > $1 \
         AND (lease_until IS NULL OR lease_until < $1) AND (last_error IS NULL OR last_error NOT LIKE '{RATE_LIMITED}%')",
        d.rows()
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    if let Destination::Chat(p) = d {
        q = q.bind(p.clone());
    }
    let n = q.execute(&mut **tx).await?.rows_affected();
    if n > 0 {
        tracing::debug!(rows = n, destination = ?d, "a destination recovered; waiting deliveries pulled forward");
    }
    Ok(())
}

/// While a webhook receiver fails, keep one of its rows due within [`Tuning::probe_every`]: the due time for `row`,
/// failed now and meant to wait `after`, is shortened to the probe interval unless another of the receiver's rows
/// is already due that soon.
async fn probe_due(
    inner: &Inner,
    tx: &mut Transaction<'static, Any>,
    row: &Claimed,
    after: Duration,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let due = now + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
    let probe = now + i64::try_from(inner.tuning.probe_every.as_millis()).unwrap_or(i64::MAX / 2);
    if row.kind != "webhook" || due <= probe {
        return Ok(due);
    }
    let sooner: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(due_at) FROM outbox WHERE kind = 'webhook' AND done_at IS NULL AND id <> $1 AND due_at <= $2",
    )
    .bind(row.id)
    .bind(probe)
    .fetch_one(&mut **tx)
    .await?;
    Ok(if sooner.is_some() { due } else { probe })
}

/// Marks delivered rows done, each with its note, in statements of up to 500 rows. Conditional on our lease,
/// like every completion.
async fn mark_done(
    inner: &Inner,
    tx: &mut Transaction<'static, Any>,
    rows: &[(i64, String)],
    now: i64,
) -> Result<(), sqlx::Error> {
    let style = Params::of(tx);
    for chunk in rows.chunks(500) {
        let values = (0..chunk.len()).map(|i| format!("({})", style.list(2 + 2 * i, 2))).collect::<Vec<_>>();
        // `column1`, `column2`: the names SQLite and PostgreSQL both give the columns of a `VALUES` list.
        let sql = format!(
            "UPDATE outbox SET done_at = {}, outcome = v.column2, lease_owner = NULL, lease_until = NULL \
             FROM (VALUES {}) AS v WHERE outbox.id = v.column1 AND outbox.lease_owner = {}",
            style.one(1),
            values.join(", "),
            style.one(2 + 2 * chunk.len()),
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        // Bound in the order the parameters appear (SQLite's anonymous parameters need that).
        for (id, note) in chunk {
            q = q.bind(*id).bind(note.clone());
        }
        q = q.bind(inner.owner.clone());
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// How long until the earliest claimable row is due (zero if one is due now). Rows leased here or by another
/// replica are left out: counting them (due in the past) would make this loop spin until that delivery
/// ends or its lease runs out. The caller sleeps at most `idle`, so an expired lease is noticed within
/// it. Written so that PostgreSQL and SQLite read the first entry of the `outbox_pending` index.
async fn next_due_in(inner: &Inner) -> Option<Duration> {
    let now = ms(crate::time::now());
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(due_at) FROM outbox WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until < $1)",
    )
    .bind(now)
    .fetch_one(inner.store.reader())
    .await
    .ok()
    .flatten();
    due.map(|d| Duration::from_millis(u64::try_from(d - now).unwrap_or(0)))
}

/// Claims up to `limit` due rows for this process.
async fn claim(inner: &Inner, limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
    let now = ms(crate::time::now());
    let until = now + i64::try_from(inner.tuning.lease.as_millis()).unwrap_or(60_000);
    let sql = format!(
        "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE done_at IS NULL AND due_at <= $3 \
                      AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at, id LIMIT $4{}) \
         RETURNING id, key, kind, item_id, platform, payload, attempts, sure_failures, created_at, traceparent",
        inner.store.skip_locked()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(inner.owner.clone())
        .bind(until)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(64))
        .fetch_all(inner.store.writer())
        .await?;
    rows.iter()
        .map(|r| {
            let payload: String = r.try_get("payload")?;
            Ok(Claimed {
                id: r.try_get("id")?,
                key: r.try_get("key")?,
                kind: r.try_get("kind")?,
                item_id: r.try_get("item_id")?,
                platform: r.try_get("platform")?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                attempts: r.try_get("attempts")?,
                sure_failures: r.try_get("sure_failures")?,
                created_at: r.try_get("created_at")?,
                traceparent: r.try_get("traceparent")?,
            })
        })
        .collect()
}

/// The span of one delivery attempt: `webhook call`, or `chat call` for chat rows. Its parent is the `commit` span
/// that wrote the row (through the row's stored `traceparent`), so a click, its commit and the chat calls it caused
/// are one trace. Fields: the row's kind, platform, key and attempt number, nothing from its payload.
fn delivery_span(row: &Claimed) -> tracing::Span {
    let platform = row.platform.as_deref().unwrap_or("");
    let span = if row.kind == "webhook" {
        tracing::info_span!(parent: None, "webhook call", outbox.key = %row.key, attempt = row.attempts, outcome = Empty)
    } else {
        tracing::info_span!(
            parent: None,
            "chat call",
            outbox.kind = %row.kind,
            outbox.key = %row.key,
            chat.platform = platform,
            attempt = row.attempts,
            outcome = Empty,
        )
    };
    if let Some(parent) = &row.traceparent {
        crate::telemetry::follow(&span, parent);
    }
    span
}

async fn deliver(inner: &Inner, row: Claimed, finished: &mpsc::Sender<Completion>) {
    let span = delivery_span(&row);
    deliver_in(inner, row, finished, &span).instrument(span.clone()).await;
}

async fn deliver_in(inner: &Inner, row: Claimed, finished: &mpsc::Sender<Completion>, span: &tracing::Span) {
    let started = Instant::now();
    let attempt = async {
        match row.kind.as_str() {
            "prompt.send" => send_prompt(inner, &row).await,
            "prompt.close" => close_prompt(inner, &row).await,
            "notify" => notify(inner, &row).await,
            "webhook" => webhook(inner, &row).await,
            other => Outcome::Failed(format!("unknown outbox kind `{other}`")),
        }
    };
    // Bounded well inside the lease, so a slow platform cannot outlive our claim and have another replica
    // deliver the same row while this attempt is still going.
    let outcome = match tokio::time::timeout(DELIVERY_TIMEOUT, attempt).await {
        Ok(o) => o,
        Err(_) => Outcome::Retry {
            after: retry_delay(&inner.tuning, &row),
            error: format!("no answer within {}s", DELIVERY_TIMEOUT.as_secs()),
            count: true,
            sure: false,
        },
    };
    metrics::histogram!("signoff_dispatch_seconds", "kind" => row.kind.clone()).record(started.elapsed().as_secs_f64());
    span.record(
        "outcome",
        match &outcome {
            Outcome::Done(_) | Outcome::Sent { .. } => "done",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed(_) => "failed",
        },
    );
    let key = row.key.clone();
    let (done, recorded) = oneshot::channel();
    let result = match finished.send(Completion { row, outcome, done }).await {
        Ok(()) => recorded.await.unwrap_or_else(|_| Err(sqlx::Error::PoolClosed)),
        Err(_) => Err(sqlx::Error::PoolClosed),
    };
    if let Err(e) = result {
        // The lease will expire and the row be delivered again; receivers dedupe by key.
        tracing::warn!(error = %e, %key, "recording a delivery failed");
    }
}

/// The wait before retrying `row` after a failure of ours or the destination's: chat rows on the chat curve,
/// webhook rows on the webhook's.
fn retry_delay(tuning: &Tuning, row: &Claimed) -> Duration {
    if row.kind == "webhook" {
        exp_delay(tuning.backoff_base, tuning.backoff_max, row.attempts)
    } else {
        exp_delay(tuning.chat_backoff_base, tuning.chat_backoff_max, row.attempts)
    }
}

/// `base * 2^(attempts - 1)`, capped at `max`, plus up to 20% jitter so retries from many rows do not arrive in
/// step.
fn exp_delay(base: Duration, max: Duration, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let capped = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    capped + capped.mul_f64(rand::random::<f64>() * 0.2)
}

/// The prefix of `last_error` for a rate-limited attempt; such rows keep their wait when others are pulled forward.
const RATE_LIMITED: &str = "rate limited";

fn chat_outcome(inner: &Inner, row: &Claimed, e: ChatError) -> Outcome {
    match e {
        ChatError::RateLimited { retry_after } => Outcome::Retry {
            after: retry_after.max(Duration::from_millis(50)),
            error: RATE_LIMITED.to_owned(),
            count: true,
            sure: true,
        },
        ChatError::Transient(why) => {
            Outcome::Retry { after: retry_delay(&inner.tuning, row), error: why, count: true, sure: false }
        }
        ChatError::Permanent(why) => Outcome::Failed(why),
    }
}

/// Looks on the platform for what an earlier, doubtful attempt of `row` left: `Ok(Some(copy))` when it is there
/// (the first copy is kept, any others deleted), `Ok(None)` when nothing is, so the row may be sent.
async fn earlier_copy(
    inner: &Inner,
    row: &Claimed,
    adapter: &dyn signoff_port::ChatAdapter,
    to: &ChatUser,
    mark: &Mark,
) -> Result<Option<MessageRef>, Outcome> {
    let copies = adapter.find_copies(to, mark).await.map_err(|e| chat_outcome(inner, row, e))?;
    let Some((first, extra)) = copies.split_first() else { return Ok(None) };
    for m in extra {
        metrics::counter!("signoff_chat_copies_deleted_total", "platform" => m.platform.as_str()).increment(1);
        if let Err(e) = adapter.delete_message(m).await {
            // Not fatal: closing looks for every copy of a doubtful send and updates it.
            tracing::warn!(error = %e, key = %row.key, "could not delete an extra copy");
        }
    }
    metrics::counter!("signoff_chat_copies_found_total", "platform" => first.platform.as_str()).increment(1);
    Ok(Some(first.clone()))
}

async fn send_prompt(inner: &Inner, row: &Claimed) -> Outcome {
    let (Ok(to), Ok(message)) = (
        serde_json::from_value::<ChatUser>(row.payload["to"].clone()),
        serde_json::from_value::<PromptMessage>(row.payload["message"].clone()),
    ) else {
        return Outcome::Failed("malformed prompt row".to_owned());
    };
    let Some(adapter) = inner.chat.adapter(to.platform) else {
        return Outcome::Failed(format!("{} is not configured", to.platform.as_str()));
    };
    let mark = row.mark(Some(&message.token));
    let doubtful = row.in_doubt();
    if doubtful {
        match earlier_copy(inner, row, adapter.as_ref(), &to, &mark).await {
            Ok(Some(m)) => return Outcome::Sent { token: message.token.clone(), message: m, doubtful },
            Ok(None) => {}
            Err(outcome) => return outcome,
        }
    }
    match adapter.send_prompt(&to, &message, &mark).await {
        Ok(m) => Outcome::Sent { token: message.token.clone(), message: m, doubtful },
        Err(e) => chat_outcome(inner, row, e),
    }
}

async fn close_prompt(inner: &Inner, row: &Claimed) -> Outcome {
    let (Some(token), Ok(platform), Ok(closing)) = (
        row.payload["token"].as_str(),
        serde_json::from_value::<Platform>(row.payload["platform"].clone()),
        serde_json::from_value::<PromptClosing>(row.payload["closing"].clone()),
    ) else {
        return Outcome::Failed("malformed close row".to_owned());
    };
    // The approver, to search their conversation for copies (rows written before 7.4 have none).
    let to = serde_json::from_value::<ChatUser>(row.payload["to"].clone()).ok();
    let retry = |e: sqlx::Error| Outcome::Retry {
        after: retry_delay(&inner.tuning, row),
        error: e.to_string(),
        count: true,
        sure: true,
    };
    match sent_message(inner, token, platform).await {
        Err(e) => return retry(e),
        Ok(Some(sent)) => return close_copies(inner, row, sent, to.as_ref(), token, &closing).await,
        Ok(None) => {}
    }
    // Not sent (yet). If its send is still waiting and nobody holds it, it is no longer worth sending; but an
    // attempt of it that was in doubt may have left a copy, which must lose its buttons too.
    let now = ms(crate::time::now());
    let superseded = sqlx::query(
        "UPDATE outbox SET done_at = $1, outcome = 'superseded: closed before it was sent' \
         WHERE kind = 'prompt.send' AND token = $2 AND platform = $3 AND done_at IS NULL \
         AND (lease_until IS NULL OR lease_until < $1)",
    )
    .bind(now)
    .bind(token.to_owned())
    .bind(platform.as_str())
    .execute(inner.store.writer())
    .await;
    // Whether any attempt of its sends may have delivered: read after superseding, from every send row of the
    // prompt, so an earlier closing attempt that superseded the send (and then failed) loses nothing.
    let sends: Result<Vec<(i64, i64, Option<i64>)>, sqlx::Error> = sqlx::query_as(
        "SELECT attempts, sure_failures, done_at FROM outbox WHERE kind = 'prompt.send' AND token = $1 AND platform = $2",
    )
    .bind(token.to_owned())
    .bind(platform.as_str())
    .fetch_all(inner.store.writer())
    .await;
    match (superseded, sends) {
        // Nothing in flight any more: either it was never sent, or its send finished between our first look
        // and now. Look again, so a message that just landed still loses its buttons.
        (Ok(_), Ok(sends)) if sends.iter().all(|(_, _, done)| done.is_some()) => {
            match sent_message(inner, token, platform).await {
                Ok(Some(sent)) => close_copies(inner, row, sent, to.as_ref(), token, &closing).await,
                Ok(None) => {
                    let doubtful = sends.iter().any(|(attempts, sure, _)| attempts > sure);
                    match (&to, doubtful) {
                        (Some(to), true) => close_found(inner, row, to, token, None, &closing).await,
                        _ => Outcome::Done("nothing to close: never sent".to_owned()),
                    }
                }
                Err(e) => retry(e),
            }
        }
        (Err(e), _) | (_, Err(e)) => retry(e),
        // The send is in flight: close it once it lands. Waiting is not a failed attempt.
        _ => Outcome::Retry {
            after: Duration::from_millis(200),
            error: "waiting for the prompt to be sent".to_owned(),
            count: false,
            sure: true,
        },
    }
}

/// Closes the stored message of a prompt and, when its send was in doubt, every other copy found on the platform.
async fn close_copies(
    inner: &Inner,
    row: &Claimed,
    sent: Sent,
    to: Option<&ChatUser>,
    token: &str,
    closing: &PromptClosing,
) -> Outcome {
    match (sent.doubtful, to) {
        (true, Some(to)) => close_found(inner, row, to, token, Some(&sent.message), closing).await,
        _ => close_message(inner, row, &sent.message, closing).await,
    }
}

/// Closes `stored` (if any) and every copy of the prompt `token` found in `to`'s conversation.
async fn close_found(
    inner: &Inner,
    row: &Claimed,
    to: &ChatUser,
    token: &str,
    stored: Option<&MessageRef>,
    closing: &PromptClosing,
) -> Outcome {
    let Some(adapter) = inner.chat.adapter(to.platform) else {
        return Outcome::Failed(format!("{} is not configured", to.platform.as_str()));
    };
    // Copies are no older than the prompt's first send: the search of the conversation starts there.
    let first_send: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(created_at) FROM outbox WHERE kind = 'prompt.send' AND token = $1 AND platform = $2",
    )
    .bind(token.to_owned())
    .bind(to.platform.as_str())
    .fetch_one(inner.store.reader())
    .await
    .unwrap_or(None);
    let since_ms = first_send.unwrap_or(row.created_at - DAY_MS);
    let mark = Mark { key: row.key.clone(), token: Some(token.to_owned()), since_ms };
    let mut copies = match adapter.find_copies(to, &mark).await {
        Ok(c) => c,
        Err(e) => return chat_outcome(inner, row, e),
    };
    if let Some(m) = stored
        && !copies.contains(m)
    {
        copies.insert(0, m.clone());
    }
    for m in &copies {
        if let Err(e) = adapter.close_prompt(m, closing).await {
            return chat_outcome(inner, row, e);
        }
    }
    if copies.len() > 1 {
        metrics::counter!("signoff_chat_copies_closed_total", "platform" => to.platform.as_str())
            .increment(copies.len() as u64 - 1);
    }
    Outcome::Done(format!("closed {} cop{}", copies.len(), if copies.len() == 1 { "y" } else { "ies" }))
}

/// How far back a closing searches a conversation for copies when the prompt's send rows are gone (purged after a
/// week): a prompt is sent before it is closed, and rarely more than a day before.
const DAY_MS: i64 = 86_400_000;

/// A prompt's stored message, and whether its send had an attempt in doubt.
struct Sent {
    message: MessageRef,
    doubtful: bool,
}

/// Where a prompt's message landed on `platform`, if it was sent. Read on the reader pool: a send counts as
/// done in the same commit that stores its message, so a committed read sees both or neither, and the one
/// SQLite writer connection stays free for the committer.
async fn sent_message(inner: &Inner, token: &str, platform: Platform) -> Result<Option<Sent>, sqlx::Error> {
    let row = sqlx::query("SELECT channel, message, doubtful FROM prompt_messages WHERE token = $1 AND platform = $2")
        .bind(token.to_owned())
        .bind(platform.as_str())
        .fetch_optional(inner.store.reader())
        .await?;
    Ok(row.map(|m| Sent {
        message: MessageRef {
            platform,
            channel: m.try_get("channel").unwrap_or_default(),
            message: m.try_get("message").unwrap_or_default(),
        },
        doubtful: m.try_get::<i64, _>("doubtful").unwrap_or(0) != 0,
    }))
}

async fn close_message(inner: &Inner, row: &Claimed, msg: &MessageRef, closing: &PromptClosing) -> Outcome {
    let Some(adapter) = inner.chat.adapter(msg.platform) else {
        return Outcome::Failed(format!("{} is not configured", msg.platform.as_str()));
    };
    match adapter.close_prompt(msg, closing).await {
        Ok(()) => Outcome::Done("closed".to_owned()),
        Err(e) => chat_outcome(inner, row, e),
    }
}

async fn notify(inner: &Inner, row: &Claimed) -> Outcome {
    let (Ok(to), Ok(n)) = (
        serde_json::from_value::<ChatUser>(row.payload["to"].clone()),
        serde_json::from_value::<Notification>(row.payload["notification"].clone()),
    ) else {
        return Outcome::Failed("malformed notify row".to_owned());
    };
    let Some(adapter) = inner.chat.adapter(to.platform) else {
        return Outcome::Failed(format!("{} is not configured", to.platform.as_str()));
    };
    let mark = row.mark(None);
    if row.in_doubt() {
        match earlier_copy(inner, row, adapter.as_ref(), &to, &mark).await {
            Ok(Some(m)) => return Outcome::Done(format!("found as {}", m.message)),
            Ok(None) => {}
            Err(outcome) => return outcome,
        }
    }
    match adapter.notify(&to, &n, &mark).await {
        Ok(m) => Outcome::Done(format!("sent as {}", m.message)),
        Err(e) => chat_outcome(inner, row, e),
    }
}

async fn webhook(inner: &Inner, row: &Claimed) -> Outcome {
    let Some(hook) = &inner.webhook else {
        return Outcome::Failed("no webhook is configured".to_owned());
    };
    let Some(body) = row.payload["body"].as_str() else {
        return Outcome::Failed("malformed webhook row".to_owned());
    };
    let result = hook.deliver(&row.key, body, crate::time::now().as_second()).await;
    let (outcome, status) = match &result {
        Ok(status) => (Outcome::Done(format!("{status}")), json!(status)),
        // Retried until a 2xx, as the contract says; the receiver's Retry-After wins over our backoff.
        Err(DeliveryError::Status { status, retry_after }) => (
            Outcome::Retry {
                after: retry_after.unwrap_or_else(|| retry_delay(&inner.tuning, row)),
                error: if retry_after.is_some() && *status == 429 {
                    format!("{RATE_LIMITED}: HTTP {status}")
                } else {
                    format!("HTTP {status}")
                },
                count: true,
                sure: true,
            },
            json!(status),
        ),
        Err(DeliveryError::Transport(why)) => (
            Outcome::Retry { after: retry_delay(&inner.tuning, row), error: why.clone(), count: true, sure: true },
            Value::Null,
        ),
    };
    let event: Option<String> =
        serde_json::from_str::<Value>(body).ok().and_then(|b| b["event"].as_str().map(str::to_owned));
    let request: Option<String> =
        serde_json::from_str::<Value>(body).ok().and_then(|b| b["request"].as_str().map(str::to_owned));
    // Every delivery attempt and its result goes into the audit trail.
    let entry = Entry {
        at: crate::time::now(),
        request_id: request,
        item_id: row.item_id.clone(),
        kind: "webhook.delivery".to_owned(),
        actor: None,
        detail: json!({
            "delivery": row.key, "event": event, "attempt": row.attempts, "status": status,
            "error": result.as_ref().err().map(ToString::to_string),
        }),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = Job { work: Work::Audit(vec![entry]), reply: Some(tx), span: tracing::Span::current() };
    if inner.jobs.send(job).await.is_ok() {
        let _ = rx.await;
    }
    outcome
}

/// Writes a retry or a failure, inside the recorder's transaction. Every update is conditional on our lease,
/// so a row another replica took over after our lease ran out is left to it.
async fn finish(
    inner: &Inner,
    tx: &mut Transaction<'static, Any>,
    row: &Claimed,
    outcome: &Outcome,
    now: i64,
) -> Result<(), sqlx::Error> {
    match outcome {
        // Written for the whole batch by `record_batch`.
        Outcome::Done(_) | Outcome::Sent { .. } => {}
        Outcome::Retry { after, error, count, sure } => {
            // A rate limit's wait is the platform's to set; any other failure may make this row the probe.
            let due = if error.starts_with(RATE_LIMITED) {
                now + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2)
            } else {
                probe_due(inner, tx, row, *after, now).await?
            };
            // An attempt that does not count (waiting for something) gives its attempt back, and so proves
            // nothing either way; one that surely delivered nothing adds to `sure_failures`.
            let (attempts, sure) = match (count, sure) {
                (false, _) => ("attempts - 1", "sure_failures"),
                (true, true) => ("attempts", "sure_failures + 1"),
                (true, false) => ("attempts", "sure_failures"),
            };
            let sql = format!(
                "UPDATE outbox SET due_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL, \
                 attempts = {attempts}, sure_failures = {sure} WHERE id = $3 AND lease_owner = $4"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(due)
                .bind(error.clone())
                .bind(row.id)
                .bind(inner.owner.clone())
                .execute(&mut **tx)
                .await?;
        }
        Outcome::Failed(error) => {
            tracing::warn!(key = %row.key, kind = %row.kind, %error, "delivery failed for good");
            sqlx::query("UPDATE outbox SET done_at = $1, outcome = 'failed', last_error = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4")
                .bind(now)
                .bind(error.clone())
                .bind(row.id)
                .bind(inner.owner.clone())
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;
    use crate::chat::Chat;
    use crate::runtime::{Runtime, Tuning};
    use crate::store::Store;

    #[tokio::test]
    async fn delivered_rows_older_than_the_retention_are_purged_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let now = ms(crate::time::now());
        let old = now - i64::try_from(RETAIN_DELIVERED.as_millis()).unwrap() - 1_000;
        // (key, done_at): delivered long ago, delivered recently, never delivered (however old).
        for (key, done) in [("old-done", Some(old)), ("new-done", Some(now)), ("old-pending", None)] {
            sqlx::query(
                "INSERT INTO outbox (key, kind, payload, due_at, done_at, created_at) VALUES ($1, 'notify', '{}', $2, $3, $2)",
            )
            .bind(key)
            .bind(if done.is_some() { old } else { now + 3_600_000 })
            .bind(done)
            .execute(store.writer())
            .await
            .unwrap();
        }
        let rt =
            Runtime::start(store.clone(), Arc::new(Catalog::empty()), Chat::default(), None, Tuning::default(), None);

        let purged = purge(&rt.inner).await.unwrap();

        assert_eq!(purged, 1);
        let left: Vec<String> =
            sqlx::query_scalar("SELECT key FROM outbox ORDER BY key").fetch_all(store.reader()).await.unwrap();
        assert_eq!(left, ["new-done", "old-pending"]);
        rt.shutdown().await;
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let t = Tuning::default();
        let base = t.backoff_base.as_secs_f64();
        let cap = t.backoff_max.as_secs_f64();
        for (attempt, expected) in [(1, base), (2, 2.0 * base), (3, 4.0 * base), (40, cap)] {
            let d = exp_delay(t.backoff_base, t.backoff_max, attempt).as_secs_f64();
            // Up to 20% jitter on top.
            assert!(d >= expected && d <= expected * 1.2 + 1e-9, "attempt {attempt}: {d} vs {expected}");
        }
    }
}
