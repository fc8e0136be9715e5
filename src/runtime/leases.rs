//! Renews this process's claims while it works on them.
//!
//! Outbox rows and timers are claimed with a short lease ([`super::Tuning::lease`]) so that work a dead replica
//! held goes to the others within seconds. A delivery may take longer than that (a slow platform: up to
//! [`super::dispatch::DELIVERY_TIMEOUT`]), so every third of a lease the holder extends every claim it still holds,
//! in one statement per table. A process that dies stops renewing, and its claims run out one lease later.

use std::sync::Arc;

use super::Inner;
use crate::store::ms;

pub(super) async fn run(inner: Arc<Inner>) {
    let mut stopping = inner.stopping.subscribe();
    let every = inner.tuning.lease / 3;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = super::stopped(&mut stopping) => break,
        }
        if let Err(e) = renew(&inner).await {
            tracing::warn!(error = %e, "renewing leases failed; retrying");
        }
    }
}

/// Extends every lease this process holds by one lease from now; returns how many were renewed.
pub(super) async fn renew(inner: &Inner) -> Result<u64, sqlx::Error> {
    let now = ms(crate::time::now());
    let until = now + i64::try_from(inner.tuning.lease.as_millis()).unwrap_or(60_000);
    let rows = sqlx::query(
        "UPDATE outbox SET lease_until = $1 WHERE lease_owner = $2 AND done_at IS NULL AND lease_until >= $3",
    )
    .bind(until)
    .bind(inner.owner.clone())
    .bind(now)
    .execute(inner.store.writer())
    .await?
    .rows_affected();
    let timers = sqlx::query("UPDATE timers SET lease_until = $1 WHERE lease_owner = $2 AND lease_until >= $3")
        .bind(until)
        .bind(inner.owner.clone())
        .bind(now)
        .execute(inner.store.writer())
        .await?
        .rows_affected();
    Ok(rows + timers)
}
