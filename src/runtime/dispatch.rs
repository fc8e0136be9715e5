//! The dispatcher: delivers outbox rows at least once.
//!
//! Rows are claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same
//! row), delivered concurrently, then marked done or rescheduled with exponential backoff, honouring a
//! platform's `Retry-After`. A replica that dies mid-delivery loses nothing: its lease expires and the row
//! is claimed again. Receivers see each row's idempotency key (the webhook's `X-Signoff-Delivery`), so a
//! delivery repeated after such a crash is recognisable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signoff_port::{ChatError, ChatUser, MessageRef, Notification, Platform, PromptClosing, PromptMessage};
use sqlx::{Any, Row, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::{Inner, Job, Work};
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
    payload: Value,
    attempts: i64,
    created_at: i64,
}

/// How a delivery went.
enum Outcome {
    /// Done; `note` goes in the row.
    Done(String),
    /// A prompt was posted as `message`: its reference is saved with the row's completion, in one transaction,
    /// so a closing that looks for it finds it exactly when the send counts as done.
    Sent { token: String, message: MessageRef },
    /// Try again after this long; `error` says why (not a failure when `count` is false).
    Retry { after: Duration, error: String, count: bool },
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
                while inflight.try_join_next().is_some() {}
                while inflight.len() > inner.tuning.concurrency / 2 {
                    inflight.join_next().await;
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
        "INSERT INTO prompt_messages (token, platform, channel, message)",
        4,
        "ON CONFLICT (token, platform) DO UPDATE SET channel = excluded.channel, message = excluded.message",
    );
    let mut done: Vec<(i64, String)> = Vec::new();
    for c in batch {
        let note = match &c.outcome {
            Outcome::Done(note) => note.clone(),
            Outcome::Sent { token, message } => {
                messages.push(vec![
                    Val::Text(token.clone()),
                    Val::Text(message.platform.as_str().to_owned()),
                    Val::Text(message.channel.clone()),
                    Val::Text(message.message.clone()),
                ]);
                format!("sent as {}", message.message)
            }
            other => {
                finish(inner, &mut tx, &c.row, other, now).await?;
                continue;
            }
        };
        done.push((c.row.id, note));
        let age = (now - c.row.created_at).max(0) as f64 / 1000.0;
        metrics::histogram!("signoff_outbox_delivery_age_seconds", "kind" => c.row.kind.clone()).record(age);
    }
    messages.flush(&mut tx).await?;
    mark_done(inner, &mut tx, &done, now).await?;
    tx.commit().await
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
         RETURNING id, key, kind, item_id, payload, attempts, created_at",
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
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                attempts: r.try_get("attempts")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

async fn deliver(inner: &Inner, row: Claimed, finished: &mpsc::Sender<Completion>) {
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
            after: backoff(inner, row.attempts),
            error: format!("no answer within {}s", DELIVERY_TIMEOUT.as_secs()),
            count: true,
        },
    };
    metrics::histogram!("signoff_dispatch_seconds", "kind" => row.kind.clone()).record(started.elapsed().as_secs_f64());
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

fn backoff(inner: &Inner, attempts: i64) -> Duration {
    exp_delay(&inner.tuning, attempts)
}

/// `backoff_base * 2^(attempts - 1)`, capped at `backoff_max`, plus up to 20% jitter so retries from many rows
/// do not arrive in step.
fn exp_delay(tuning: &super::Tuning, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let capped = tuning.backoff_base.saturating_mul(2u32.saturating_pow(exp)).min(tuning.backoff_max);
    capped + capped.mul_f64(rand::random::<f64>() * 0.2)
}

fn chat_outcome(inner: &Inner, attempts: i64, e: ChatError) -> Outcome {
    match e {
        ChatError::RateLimited { retry_after } => Outcome::Retry {
            after: retry_after.max(Duration::from_millis(50)),
            error: "rate limited".to_owned(),
            count: true,
        },
        ChatError::Transient(why) => Outcome::Retry { after: backoff(inner, attempts), error: why, count: true },
        ChatError::Permanent(why) => Outcome::Failed(why),
    }
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
    match adapter.send_prompt(&to, &message).await {
        Ok(m) => Outcome::Sent { token: message.token.clone(), message: m },
        Err(e) => chat_outcome(inner, row.attempts, e),
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
    match sent_message(inner, token, platform).await {
        Err(e) => return Outcome::Retry { after: backoff(inner, row.attempts), error: e.to_string(), count: true },
        Ok(Some(msg)) => return close_message(inner, row, &msg, &closing).await,
        Ok(None) => {}
    }
    // Not sent (yet). If its send is still waiting and nobody holds it, it is no longer worth sending.
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
    let in_flight: Result<i64, _> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'prompt.send' AND token = $1 AND platform = $2 AND done_at IS NULL",
    )
    .bind(token.to_owned())
    .bind(platform.as_str())
    .fetch_one(inner.store.writer())
    .await;
    match (superseded, in_flight) {
        // Nothing in flight any more: either it was never sent, or its send finished between our first look
        // and now. Look again, so a message that just landed still loses its buttons.
        (Ok(_), Ok(0)) => match sent_message(inner, token, platform).await {
            Ok(Some(msg)) => close_message(inner, row, &msg, &closing).await,
            Ok(None) => Outcome::Done("nothing to close: never sent".to_owned()),
            Err(e) => Outcome::Retry { after: backoff(inner, row.attempts), error: e.to_string(), count: true },
        },
        // The send is in flight: close it once it lands. Waiting is not a failed attempt.
        _ => Outcome::Retry {
            after: Duration::from_millis(200),
            error: "waiting for the prompt to be sent".to_owned(),
            count: false,
        },
    }
}

/// Where a prompt's message landed on `platform`, if it was sent. Read on the reader pool: a send counts as
/// done in the same commit that stores its message, so a committed read sees both or neither, and the one
/// SQLite writer connection stays free for the committer.
async fn sent_message(inner: &Inner, token: &str, platform: Platform) -> Result<Option<MessageRef>, sqlx::Error> {
    let row = sqlx::query("SELECT channel, message FROM prompt_messages WHERE token = $1 AND platform = $2")
        .bind(token.to_owned())
        .bind(platform.as_str())
        .fetch_optional(inner.store.reader())
        .await?;
    Ok(row.map(|m| MessageRef {
        platform,
        channel: m.try_get("channel").unwrap_or_default(),
        message: m.try_get("message").unwrap_or_default(),
    }))
}

async fn close_message(inner: &Inner, row: &Claimed, msg: &MessageRef, closing: &PromptClosing) -> Outcome {
    let Some(adapter) = inner.chat.adapter(msg.platform) else {
        return Outcome::Failed(format!("{} is not configured", msg.platform.as_str()));
    };
    match adapter.close_prompt(msg, closing).await {
        Ok(()) => Outcome::Done("closed".to_owned()),
        Err(e) => chat_outcome(inner, row.attempts, e),
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
    match adapter.notify(&to, &n).await {
        Ok(()) => Outcome::Done("sent".to_owned()),
        Err(e) => chat_outcome(inner, row.attempts, e),
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
                after: retry_after.unwrap_or_else(|| backoff(inner, row.attempts)),
                error: format!("HTTP {status}"),
                count: true,
            },
            json!(status),
        ),
        Err(DeliveryError::Transport(why)) => {
            (Outcome::Retry { after: backoff(inner, row.attempts), error: why.clone(), count: true }, Value::Null)
        }
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
    if inner.jobs.send(Job { work: Work::Audit(vec![entry]), reply: Some(tx) }).await.is_ok() {
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
        Outcome::Retry { after, error, count } => {
            let due = now + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
            let sql = if *count {
                "UPDATE outbox SET due_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4"
            } else {
                "UPDATE outbox SET due_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 WHERE id = $3 AND lease_owner = $4"
            };
            sqlx::query(sql)
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
            let d = exp_delay(&t, attempt).as_secs_f64();
            // Up to 20% jitter on top.
            assert!(d >= expected && d <= expected * 1.2 + 1e-9, "attempt {attempt}: {d} vs {expected}");
        }
    }
}
