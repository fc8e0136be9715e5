//! The timer loop: turns due timer rows into engine events.
//!
//! Due timers come from an indexed `due_at` query and are claimed with a lease (`SKIP LOCKED` on
//! PostgreSQL), so each fires on one replica; a replica that dies after claiming loses nothing, since the
//! lease runs out and the timer is claimed again. Firing twice is harmless: the engine ignores a timer
//! that is no longer active.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;

use super::{Inner, Job, Work};
use crate::store::{from_ms, ms};

/// Timers claimed per round.
const BATCH: i64 = 256;

/// How often remembered callback ids past their expiry are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(60);

pub(super) async fn run(inner: Arc<Inner>) {
    let mut stopping = inner.stopping.subscribe();
    let mut last_purge = std::time::Instant::now();
    loop {
        if *stopping.borrow() {
            break;
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = std::time::Instant::now();
            if let Err(e) = purge_callbacks(&inner).await {
                tracing::warn!(error = %e, "purging expired callback ids failed; retrying later");
            }
        }
        match fire_due(&inner).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "firing timers failed; retrying"),
        }
        // Timers leased here or by another replica are left out, so this loop does not spin on one while it
        // is being fired (or while the lease of a replica that died runs out); the sleep is at most `idle`,
        // so an expired lease is noticed within it.
        let now = ms(crate::time::now());
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_at) FROM timers WHERE lease_until IS NULL OR lease_until < $1")
                .bind(now)
                .fetch_one(inner.store.reader())
                .await
                .ok()
                .flatten();
        let wait = next.map_or(inner.tuning.idle, |due| Duration::from_millis(u64::try_from(due - now).unwrap_or(0)));
        tokio::select! {
            _ = inner.wake_timers.notified() => {}
            _ = tokio::time::sleep(wait.min(inner.tuning.idle)) => {}
            _ = super::stopped(&mut stopping) => {}
        }
    }
}

/// Deletes callback ids whose replay window has passed (the platforms' timestamp check refuses those callbacks
/// now), so the table holds only the last few minutes' ids.
pub(super) async fn purge_callbacks(inner: &Inner) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM callbacks WHERE expires_at < $1")
        .bind(ms(crate::time::now()))
        .execute(inner.store.writer())
        .await?;
    Ok(done.rows_affected())
}

/// Claims due timers and hands them to the committer; returns how many.
async fn fire_due(inner: &Inner) -> Result<usize, sqlx::Error> {
    let now = ms(crate::time::now());
    let until = now + i64::try_from(inner.tuning.lease.as_millis()).unwrap_or(60_000);
    let sql = format!(
        "UPDATE timers SET lease_owner = $1, lease_until = $2 \
         WHERE (item_id, timer_id) IN (SELECT item_id, timer_id FROM timers WHERE due_at <= $3 \
                AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at LIMIT $4{}) \
         RETURNING item_id, timer_id, due_at",
        inner.store.skip_locked()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(inner.owner.clone())
        .bind(until)
        .bind(now)
        .bind(BATCH)
        .fetch_all(inner.store.writer())
        .await?;
    let mut waiting = Vec::with_capacity(rows.len());
    for r in &rows {
        let item: String = r.try_get("item_id")?;
        let timer: i64 = r.try_get("timer_id")?;
        let due: i64 = r.try_get("due_at")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The event carries the due time, not the moment we noticed: replay gives the same result, and an
        // item whose timer fired late after a restart behaves as if it had fired on time.
        let work = Work::Timer { item, timer: u32::try_from(timer).unwrap_or(u32::MAX), at: from_ms(due) };
        // A timer starts a trace of its own.
        if inner.jobs.send(Job { work, reply: Some(tx), span: tracing::Span::none() }).await.is_err() {
            break;
        }
        waiting.push(rx);
    }
    for rx in waiting {
        let _ = rx.await;
    }
    Ok(rows.len())
}
