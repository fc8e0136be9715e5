//! The committer: applies jobs with the engine inside one transaction per batch (group commit), and turns
//! effects into rows: outbox rows for chat and the webhook, timer rows, grant rows, audit rows.
//!
//! Why one task: on SQLite the writer is one connection anyway, and batching is what lifts throughput past
//! the disk's fsync rate. On PostgreSQL each replica runs its own committer; item rows are locked
//! `FOR UPDATE` (in id order within a batch, to avoid deadlocks between replicas), so concurrent decisions
//! on one item are applied one after the other and a quorum is counted once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;
use sqlx::{Any, Row, Transaction};
use tokio::sync::mpsc;

use super::{Inner, Job, Reply, RuntimeError, Work};
use crate::audit::{self, Entry};
use crate::catalog::Catalog;
use crate::chat::render;
use crate::engine::{self, Effect, Event, Item, ItemStatus};
use crate::store::rows::{Inserts, Params, Val};
use crate::store::{from_ms, ms};
use crate::time::Timestamp;
use crate::webhook::Payload;

/// Runs until shutdown, committing batches of jobs.
pub(super) async fn run(inner: Arc<Inner>, mut rx: mpsc::Receiver<Job>) {
    let mut stopping = inner.stopping.subscribe();
    loop {
        let first = tokio::select! {
            job = rx.recv() => job,
            _ = super::stopped(&mut stopping) => {
                // Take what is already queued, then stop.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < inner.tuning.max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&inner, batch).await;
    }
}

/// How many times a batch is tried when it conflicts with another replica's.
const MAX_ATTEMPTS: u32 = 8;

/// Whether a database error means "try the transaction again" (deadlock or serialization failure).
///
/// A unique violation (`23505`) is retried too: the only ones a batch can hit are two replicas storing the same
/// `Idempotency-Key` or the same chat callback id at once, and on the retry the check finds the other replica's.
fn retryable(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "40P01" || c == "40001" || c == "23505")
}

async fn commit_batch(inner: &Inner, mut batch: Vec<Job>) {
    // Lock items in one order across replicas.
    batch.sort_by(|a, b| lock_key(&a.work).cmp(lock_key(&b.work)));
    let works: Vec<&Work> = batch.iter().map(|j| &j.work).collect();
    // One `commit` span per job, a child of the span that submitted it, open until its answer is sent: every job of
    // a group commit waits for the whole transaction. The outbox rows a job writes carry its span's `traceparent`,
    // so their deliveries join the same trace (None, and nothing computed, when traces are not exported).
    let spans: Vec<tracing::Span> = batch
        .iter()
        .map(|j| {
            tracing::info_span!(
                parent: &j.span,
                "commit",
                work = j.work.kind(),
                batch = batch.len(),
                otel.status_code = tracing::field::Empty,
            )
        })
        .collect();
    let traceparents: Vec<Option<String>> = spans.iter().map(crate::telemetry::traceparent).collect();
    let mut attempt = 0;
    let results = loop {
        attempt += 1;
        match try_commit(inner, &works, &traceparents).await {
            Ok((results, decisions)) => {
                // Counted once the commit holds, so a retried batch is not counted twice.
                metrics::counter!("signoff_decisions_total").increment(decisions);
                break results;
            }
            Err(e) if retryable(&e) && attempt < MAX_ATTEMPTS => {
                tracing::debug!(attempt, "batch conflicted with another replica; retrying");
                // A short random pause, growing with each attempt, so two replicas that just deadlocked do
                // not collide again in step.
                let pause = 5 * u64::from(attempt) + rand::random::<u64>() % (20 * u64::from(attempt));
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                continue;
            }
            Err(e) => {
                for span in &spans {
                    span.record("otel.status_code", "error");
                }
                tracing::error!(error = %e, jobs = works.len(), "commit failed");
                metrics::counter!("signoff_commit_failures_total").increment(1);
                break works.iter().map(|_| Err(RuntimeError::Store(clone_err(&e)))).collect();
            }
        }
    };
    metrics::histogram!("signoff_commit_batch_size").record(batch.len() as f64);
    for ((job, result), span) in batch.into_iter().zip(results).zip(spans) {
        if let Some(reply) = job.reply {
            let _ = reply.send(result);
        }
        drop(span);
    }
    inner.wake_dispatch.notify_one();
    inner.wake_timers.notify_one();
}

fn clone_err(e: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(e.to_string())
}

fn lock_key(w: &Work) -> &str {
    match w {
        Work::Create { request, .. } => &request.id,
        Work::Decide { request, .. } | Work::Cancel { request, .. } => request,
        Work::Answer { token, .. } => token,
        Work::EndGrant { grant, .. } => grant,
        Work::Timer { item, .. } | Work::Unavailable { item, .. } => item,
        Work::People { change, .. } => change.id(),
        Work::Audit(_) => "",
    }
}

/// One transaction for the whole batch. Domain refusals are results, not errors: they do not roll back the
/// others. A database error rolls back everything (and every job gets the error).
async fn try_commit(
    inner: &Inner,
    works: &[&Work],
    traceparents: &[Option<String>],
) -> Result<(Vec<Result<Reply, RuntimeError>>, u64), sqlx::Error> {
    let mut tx = inner.store.begin().await?;
    let mut w = Writer::new(inner);
    w.read_ahead(&mut tx, works).await?;
    let mut results = Vec::with_capacity(works.len());
    for (work, traceparent) in works.iter().zip(traceparents) {
        w.traceparent.clone_from(traceparent);
        let r = w.apply(&mut tx, work).await;
        match r {
            Err(RuntimeError::Store(e)) => return Err(e),
            other => results.push(other),
        }
    }
    w.flush(&mut tx).await?;
    let checkpoint = audit::append(&inner.store, &mut tx, &w.audit, inner.signer.as_deref()).await?;
    tx.commit().await?;
    if let Some(c) = &checkpoint {
        audit::checkpoint::log(c);
    }
    Ok((results, w.decisions))
}

/// Writes one batch's changes.
///
/// A statement is a round trip, and round trips, not the disk, bound a batch. So the writer reads each item
/// once per batch (later events on it in the same batch use the copy it keeps) and buffers every write, to
/// send them at the end as a few multi-row statements ([`Writer::flush`]): item states, new prompts, prompt
/// states, timers, grants, the event log, outbox deliveries, audit entries. Where a job reads what an earlier
/// job of the batch may have written (a timer's lease, a grant's existence), the matching buffer is flushed
/// first. Jobs of a batch run in lock order, not arrival order, so a decision racing in the same batch with
/// the escalation that asks its author is refused as it would be had it arrived first.
struct Writer<'a> {
    inner: &'a Inner,
    /// The catalog every event of this batch runs on (the runtime's may be swapped meanwhile).
    catalog: Arc<Catalog>,
    /// A SCIM write of this batch changed the people: the revision is bumped once, at the end.
    people_changed: bool,
    audit: Vec<Entry>,
    /// Items read or changed in this batch, by id.
    items: HashMap<String, Cached>,
    /// The prompts the batch's decisions and clicks name, read before the first job.
    ahead: Ahead,
    /// `prompts` rows created in this batch.
    new_prompts: Inserts,
    /// New prompt states by token (`answered`, `dismissed`).
    prompt_states: Vec<(String, &'static str)>,
    /// Timer changes by (item, timer), the last one winning: `Some(due)` schedules, `None` cancels.
    timers: BTreeMap<(String, u32), Option<Timestamp>>,
    /// `grants` rows created in this batch.
    grants: Inserts,
    /// `item_events` rows.
    events: Inserts,
    /// `outbox` rows; a key already there is left alone, so a batch replayed after a crash sends nothing twice.
    outbox: Inserts,
    /// Prompt tokens by (item, prompt id) known in this batch: read with the prompt a decision names, created by
    /// this batch, or loaded for a whole item when its leftovers are closed.
    tokens: HashMap<(String, u32), String>,
    /// Items whose every prompt token is in `tokens`.
    tokens_loaded: HashSet<String>,
    /// Decisions applied in this batch, for the metric once it commits.
    decisions: u64,
    /// Items entering (positive) and leaving (negative) each status in this batch, for `item_counts`.
    counts: BTreeMap<&'static str, i64>,
    /// What acted in the job being applied (`api:jira`), added to the audit rows it writes.
    via: Option<String>,
    /// The `traceparent` of the job being applied, stored with the outbox rows it writes (see [`crate::telemetry`]).
    traceparent: Option<String>,
    /// Chat callback ids already stored, or stored by an earlier job of this batch: a job carrying one of these
    /// is a replay.
    seen_callbacks: HashSet<String>,
    /// `callbacks` rows for the callback ids this batch handled.
    callbacks: Inserts,
}

impl<'a> Writer<'a> {
    fn new(inner: &'a Inner) -> Writer<'a> {
        Writer {
            inner,
            catalog: inner.catalog.load_full(),
            people_changed: false,
            audit: Vec::new(),
            items: HashMap::new(),
            ahead: Ahead::default(),
            new_prompts: Inserts::new(
                "INSERT INTO prompts (token, item_id, prompt_id, request_id, approver, state, created_at)",
                7,
                "",
            ),
            prompt_states: Vec::new(),
            timers: BTreeMap::new(),
            grants: Inserts::new(
                "INSERT INTO grants (id, request_id, user_id, resource, role, granted_at, expires_at)",
                7,
                "",
            ),
            events: Inserts::new("INSERT INTO item_events (item_id, seq, event, at)", 4, ""),
            outbox: Inserts::new(
                "INSERT INTO outbox (key, kind, item_id, token, platform, payload, due_at, created_at, traceparent)",
                9,
                "ON CONFLICT (key) DO NOTHING",
            ),
            tokens: HashMap::new(),
            tokens_loaded: HashSet::new(),
            decisions: 0,
            counts: BTreeMap::new(),
            via: None,
            traceparent: None,
            seen_callbacks: HashSet::new(),
            // No `ON CONFLICT`: another replica storing the same id at once must make this batch fail and be
            // retried (a unique violation is retryable), and the retry then finds the id and replays nothing.
            callbacks: Inserts::new("INSERT INTO callbacks (id, expires_at)", 2, ""),
        }
    }

    /// The token of an item's prompt; the first miss for an item loads all of that item's tokens at once (closing
    /// the 999 leftovers of a 1,000-person ask is one query, not 999).
    async fn token(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        item_id: &str,
        prompt: u32,
    ) -> Result<Option<String>, sqlx::Error> {
        let key = (item_id.to_owned(), prompt);
        if let Some(t) = self.tokens.get(&key) {
            return Ok(Some(t.clone()));
        }
        if self.tokens_loaded.insert(item_id.to_owned()) {
            let rows = sqlx::query("SELECT prompt_id, token FROM prompts WHERE item_id = $1")
                .bind(item_id.to_owned())
                .fetch_all(&mut **tx)
                .await?;
            for r in rows {
                let id: i64 = r.try_get("prompt_id")?;
                let token: String = r.try_get("token")?;
                self.tokens.entry((item_id.to_owned(), u32::try_from(id).unwrap_or(u32::MAX))).or_insert(token);
            }
        }
        Ok(self.tokens.get(&key).cloned())
    }

    fn remember_token(&mut self, item_id: &str, prompt: i64, token: String) {
        self.tokens.insert((item_id.to_owned(), u32::try_from(prompt).unwrap_or(u32::MAX)), token);
    }

    /// Reads, in a few statements, what the batch's decisions and clicks need: their prompts and their items
    /// (locked in id order on PostgreSQL). Jobs then find them here instead of asking the database one by one.
    async fn read_ahead(&mut self, tx: &mut Transaction<'static, Any>, works: &[&Work]) -> Result<(), sqlx::Error> {
        let mut requests: Vec<&str> = Vec::new();
        let mut tokens: Vec<&str> = Vec::new();
        let mut callbacks: Vec<&str> = Vec::new();
        for w in works {
            match w {
                Work::Decide { request, source, .. } => {
                    requests.push(request);
                    callbacks.extend(source.callback.as_deref());
                }
                Work::Answer { token, source, .. } => {
                    tokens.push(token);
                    callbacks.extend(source.callback.as_deref());
                }
                _ => {}
            }
        }
        self.read_callbacks(tx, &callbacks).await?;
        requests.sort_unstable();
        requests.dedup();
        tokens.sort_unstable();
        tokens.dedup();
        let mut items: Vec<String> = Vec::new();
        let style = Params::of(tx);
        for (column, keys) in [("request_id", &requests), ("token", &tokens)] {
            for chunk in keys.chunks(500) {
                let list = style.list(1, chunk.len());
                let sql = format!(
                    "SELECT item_id, prompt_id, token, request_id, approver, state FROM prompts WHERE {column} IN ({list})"
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for k in chunk {
                    q = q.bind((*k).to_owned());
                }
                for r in q.fetch_all(&mut **tx).await? {
                    let prompt = AheadPrompt {
                        item: r.try_get("item_id")?,
                        prompt: r.try_get("prompt_id")?,
                        token: r.try_get("token")?,
                        request: r.try_get("request_id")?,
                    };
                    let approver: String = r.try_get("approver")?;
                    let state: String = r.try_get("state")?;
                    self.remember_token(&prompt.item, prompt.prompt, prompt.token.clone());
                    items.push(prompt.item.clone());
                    if state == "pending" {
                        self.ahead.pending.entry((prompt.request.clone(), approver)).or_default().push(prompt.clone());
                    }
                    self.ahead.by_token.insert(prompt.token.clone(), prompt);
                }
            }
        }
        for list in self.ahead.pending.values_mut() {
            list.sort_by(|a, b| (&a.item, a.prompt).cmp(&(&b.item, b.prompt)));
        }
        // A request's rows are all of its items' prompts, so those items need no token lookup later.
        if !requests.is_empty() {
            self.tokens_loaded.extend(
                self.ahead
                    .by_token
                    .values()
                    .filter(|p| requests.binary_search(&p.request.as_str()).is_ok())
                    .map(|p| p.item.clone()),
            );
        }
        self.ahead.requests = requests.iter().map(|r| (*r).to_owned()).collect();
        self.ahead.tokens = tokens.iter().map(|t| (*t).to_owned()).collect();
        items.sort_unstable();
        items.dedup();
        for chunk in items.chunks(500) {
            let list = style.list(1, chunk.len());
            let sql = format!(
                "SELECT id, state, request_id, updated_at FROM items WHERE id IN ({list}) ORDER BY id{}",
                self.inner.store.for_update()
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&mut **tx).await? {
                let id: String = r.try_get("id")?;
                let cached = Cached::from_row(&id, &r)?;
                self.items.insert(id, cached);
            }
        }
        Ok(())
    }

    /// Which of the batch's callback ids are already stored (replays).
    async fn read_callbacks(&mut self, tx: &mut Transaction<'static, Any>, ids: &[&str]) -> Result<(), sqlx::Error> {
        let style = Params::of(tx);
        for chunk in ids.chunks(500) {
            let sql = format!("SELECT id FROM callbacks WHERE id IN ({})", style.list(1, chunk.len()));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind((*id).to_owned());
            }
            for r in q.fetch_all(&mut **tx).await? {
                self.seen_callbacks.insert(r.try_get("id")?);
            }
        }
        Ok(())
    }

    /// Whether the job's callback was handled before (here or by an earlier job of the batch); if not, it is
    /// stored with this batch.
    fn replayed(&mut self, source: &super::Source, at: Timestamp) -> bool {
        let Some(id) = &source.callback else { return false };
        if !self.seen_callbacks.insert(id.clone()) {
            metrics::counter!("signoff_callbacks_replayed_total", "channel" => source.channel.clone()).increment(1);
            return true;
        }
        let expires = ms(at) + i64::try_from(super::CALLBACK_MEMORY.as_millis()).unwrap_or(i64::MAX);
        self.callbacks.push(vec![Val::Text(id.clone()), Val::Int(expires)]);
        false
    }

    /// Writes everything buffered, in an order that respects the schema: items and their counts, then prompts and their states,
    /// timers, grants, the event log and the outbox (audit entries are appended by the caller).
    async fn flush(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        self.flush_items(tx).await?;
        self.flush_counts(tx).await?;
        self.new_prompts.flush(tx).await?;
        self.flush_prompt_states(tx).await?;
        self.flush_timers(tx).await?;
        self.grants.flush(tx).await?;
        self.events.flush(tx).await?;
        self.outbox.flush(tx).await?;
        self.callbacks.flush(tx).await?;
        if self.people_changed {
            crate::people::store::bump(tx).await?;
        }
        Ok(())
    }

    /// Changed item states, as one upsert (every changed item exists: it was read or inserted in this batch).
    async fn flush_items(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        let mut rows = Inserts::new(
            "INSERT INTO items (id, request_id, beneficiary, resource, role, status, state, version, created_at, \
             updated_at)",
            10,
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state, \
             version = excluded.version, updated_at = excluded.updated_at",
        );
        let mut dirty: Vec<(&String, &mut Cached)> = self.items.iter_mut().filter(|(_, c)| c.dirty).collect();
        dirty.sort_by(|a, b| a.0.cmp(b.0));
        let mut moved = Vec::new();
        for (id, c) in dirty {
            c.dirty = false;
            if c.stored != c.item.status {
                moved.push((c.stored, c.item.status));
                c.stored = c.item.status;
            }
            let item = &c.item;
            rows.push(vec![
                Val::Text(id.clone()),
                Val::Text(c.request_id.clone()),
                Val::Text(item.spec.beneficiary.clone()),
                Val::Text(item.spec.resource.clone()),
                Val::OptText(item.spec.role.clone()),
                Val::Text(item.status.as_str().to_owned()),
                Val::Text(serde_json::to_string(item).unwrap_or_default()),
                Val::Int(i64::try_from(item.events_applied).unwrap_or(i64::MAX)),
                // Only used if the row were new, which it never is; `created_at` is not updated.
                Val::Int(ms(c.updated_at)),
                Val::Int(ms(c.updated_at)),
            ]);
        }
        for (from, to) in moved {
            self.count(Some(from), to);
        }
        rows.flush(tx).await
    }

    /// Notes an item entering status `to` (leaving `from`, unless it is new) for `item_counts`.
    fn count(&mut self, from: Option<ItemStatus>, to: ItemStatus) {
        if let Some(from) = from {
            *self.counts.entry(from.as_str()).or_default() -= 1;
        }
        *self.counts.entry(to.as_str()).or_default() += 1;
    }

    /// Adds the batch's changes to `item_counts`, one row per status, in status order (so that replicas
    /// sharing PostgreSQL lock those rows in one order).
    async fn flush_counts(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        let mut rows = Inserts::new(
            "INSERT INTO item_counts (status, n)",
            2,
            "ON CONFLICT (status) DO UPDATE SET n = item_counts.n + excluded.n",
        );
        for (status, n) in std::mem::take(&mut self.counts) {
            if n != 0 {
                rows.push(vec![Val::Text(status.to_owned()), Val::Int(n)]);
            }
        }
        rows.flush(tx).await
    }

    /// Prompt states, one statement per state for the whole batch.
    async fn flush_prompt_states(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        let changes = std::mem::take(&mut self.prompt_states);
        let style = Params::of(tx);
        for state in ["answered", "dismissed"] {
            let tokens: Vec<&String> = changes.iter().filter(|(_, s)| *s == state).map(|(t, _)| t).collect();
            for chunk in tokens.chunks(500) {
                let sql = format!(
                    "UPDATE prompts SET state = {} WHERE token IN ({})",
                    style.one(1),
                    style.list(2, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(state.to_owned());
                for t in chunk {
                    q = q.bind((*t).clone());
                }
                q.execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Timer changes: cancellations as one delete, schedules as one upsert.
    async fn flush_timers(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        let changes = std::mem::take(&mut self.timers);
        let cancelled: Vec<&(String, u32)> = changes.iter().filter(|(_, due)| due.is_none()).map(|(k, _)| k).collect();
        let style = Params::of(tx);
        for chunk in cancelled.chunks(500) {
            let list = (0..chunk.len()).map(|i| format!("({})", style.list(2 * i + 1, 2))).collect::<Vec<_>>();
            let sql = format!("DELETE FROM timers WHERE (item_id, timer_id) IN (VALUES {})", list.join(", "));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (item, timer) in chunk {
                q = q.bind(item.clone()).bind(i64::from(*timer));
            }
            q.execute(&mut **tx).await?;
        }
        let mut scheduled = Inserts::new(
            "INSERT INTO timers (item_id, timer_id, due_at)",
            3,
            "ON CONFLICT (item_id, timer_id) DO UPDATE SET due_at = excluded.due_at, lease_owner = NULL, \
             lease_until = NULL",
        );
        for ((item, timer), due) in &changes {
            if let Some(due) = due {
                scheduled.push(vec![Val::Text(item.clone()), Val::Int(i64::from(*timer)), Val::Int(ms(*due))]);
            }
        }
        scheduled.flush(tx).await
    }

    /// Queues one outbox row.
    fn outbox(&mut self, key: String, row: OutboxRow<'_>, item_id: &str, payload: &serde_json::Value, at: Timestamp) {
        self.outbox.push(vec![
            Val::Text(key),
            Val::Text(row.kind.to_owned()),
            Val::Text(item_id.to_owned()),
            Val::OptText(row.token.map(str::to_owned)),
            Val::OptText(row.platform.map(str::to_owned)),
            Val::Text(payload.to_string()),
            Val::Int(ms(at)),
            Val::Int(ms(at)),
            Val::OptText(self.traceparent.clone()),
        ]);
    }

    async fn apply(&mut self, tx: &mut Transaction<'static, Any>, work: &Work) -> Result<Reply, RuntimeError> {
        self.via = work.via().map(str::to_owned);
        match work {
            Work::Create { request, started, at, idempotency_key, catalog, .. } => {
                let body = json!({
                    "roles": request.roles,
                    "for": request.beneficiaries,
                    "justification": request.justification,
                    "duration": request.duration.map(|d| d.to_string()),
                });
                if let Some(key) = idempotency_key {
                    let existing =
                        sqlx::query("SELECT id, requester, resource, body FROM requests WHERE idempotency_key = $1")
                            .bind(key.clone())
                            .fetch_optional(&mut **tx)
                            .await?;
                    if let Some(row) = existing {
                        let same = row.try_get::<String, _>("requester")? == request.requester
                            && row.try_get::<String, _>("resource")? == request.resource
                            && serde_json::from_str::<serde_json::Value>(&row.try_get::<String, _>("body")?).ok()
                                == Some(body.clone());
                        if !same {
                            return Err(RuntimeError::Invalid(
                                "this Idempotency-Key was already used for a different request".to_owned(),
                            ));
                        }
                        return Ok(Reply::Existing(row.try_get("id")?));
                    }
                }
                sqlx::query(
                    "INSERT INTO requests (id, requester, resource, body, idempotency_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(request.id.clone())
                .bind(request.requester.clone())
                .bind(request.resource.clone())
                .bind(body.to_string())
                .bind(idempotency_key.clone())
                .bind(ms(*at))
                .execute(&mut **tx)
                .await?;
                self.audit.push(Entry {
                    at: *at,
                    request_id: Some(request.id.clone()),
                    item_id: None,
                    kind: "requested".to_owned(),
                    actor: Some(request.requester.clone()),
                    detail: self.with_via(with_catalog(
                        catalog,
                        json!({
                            "resource": request.resource, "items": started.len(), "request": body
                        }),
                    )),
                });
                for (_, s) in started {
                    insert_item(tx, &s.item, *at).await?;
                    self.count(None, s.item.status);
                    self.items.insert(
                        s.item.spec.item.clone(),
                        Cached {
                            item: s.item.clone(),
                            request_id: request.id.clone(),
                            stored: s.item.status,
                            dirty: false,
                            updated_at: *at,
                        },
                    );
                    self.effects(tx, &s.item, &s.effects, *at).await?;
                }
                Ok(Reply::Request(request.id.clone()))
            }
            Work::Decide { request, approver, decision, source, at } => {
                if self.replayed(source, *at) {
                    return Ok(Reply::Replayed);
                }
                let channel = &source.channel;
                let pending = self.pending_prompts(tx, request, approver).await?;
                if pending.is_empty() {
                    // Say why: the engine explains a settled prompt; otherwise this person was never asked.
                    let latest = sqlx::query(
                        "SELECT item_id, prompt_id FROM prompts WHERE request_id = $1 AND approver = $2 \
                         ORDER BY created_at DESC, prompt_id DESC LIMIT 1",
                    )
                    .bind(request.clone())
                    .bind(approver.clone())
                    .fetch_optional(&mut **tx)
                    .await?;
                    let Some(row) = latest else {
                        let exists = sqlx::query("SELECT id FROM requests WHERE id = $1")
                            .bind(request.clone())
                            .fetch_optional(&mut **tx)
                            .await?
                            .is_some();
                        if !exists {
                            return Err(RuntimeError::UnknownRequest(request.clone()));
                        }
                        self.refused(*at, Some(request), None, approver, "not an approver of this request", channel);
                        return Err(RuntimeError::NotAnApprover {
                            approver: approver.clone(),
                            request: request.clone(),
                        });
                    };
                    let item_id: String = row.try_get("item_id")?;
                    let prompt: i64 = row.try_get("prompt_id")?;
                    let event = decide_event(prompt, approver, decision, channel, *at);
                    return self.apply_event(tx, &item_id, event).await.map(|_| Reply::Request(request.clone()));
                }
                let mut first_refusal = None;
                let mut applied = 0;
                for p in pending {
                    self.remember_token(&p.item, p.prompt, p.token);
                    let event = decide_event(p.prompt, approver, decision, channel, *at);
                    match self.apply_event(tx, &p.item, event).await {
                        Ok(_) => applied += 1,
                        Err(RuntimeError::Store(e)) => return Err(RuntimeError::Store(e)),
                        Err(e) => {
                            first_refusal.get_or_insert(e);
                        }
                    }
                }
                match (applied, first_refusal) {
                    (0, Some(e)) => Err(e),
                    _ => Ok(Reply::Request(request.clone())),
                }
            }
            Work::Answer { token, by, decision, source, at } => {
                if self.replayed(source, *at) {
                    return Ok(Reply::Replayed);
                }
                let channel = &source.channel;
                let Some(AheadPrompt { item: item_id, prompt, request: request_id, .. }) =
                    self.prompt_by_token(tx, token).await?
                else {
                    self.refused(*at, None, None, by, "unknown prompt token", channel);
                    return Err(RuntimeError::UnknownPrompt);
                };
                self.remember_token(&item_id, prompt, token.clone());
                let next = self.apply_event(tx, &item_id, decide_event(prompt, by, decision, channel, *at)).await?;
                // What the clicked message should now say; chat answers the click with it at once.
                let verdict = next.decisions.last().map_or_else(|| decision.verdict(), |d| d.verdict.clone());
                let mut closing = render::answered(&self.catalog, &next, &verdict, *at);
                closing.link = self.link(&request_id);
                Ok(Reply::Answered { request: request_id, closing })
            }
            Work::Cancel { request, by, reason, at, .. } => {
                let items = sqlx::query("SELECT id FROM items WHERE request_id = $1 ORDER BY id")
                    .bind(request.clone())
                    .fetch_all(&mut **tx)
                    .await?;
                if items.is_empty() {
                    return Err(RuntimeError::UnknownRequest(request.clone()));
                }
                let mut cancelled = 0;
                let mut first_refusal = None;
                for row in items {
                    let id: String = row.try_get("id")?;
                    let event = Event::Cancel { by: by.clone(), reason: reason.clone(), at: *at };
                    match self.apply_event(tx, &id, event).await {
                        Ok(_) => cancelled += 1,
                        Err(RuntimeError::Store(e)) => return Err(RuntimeError::Store(e)),
                        Err(e) => {
                            first_refusal.get_or_insert(e);
                        }
                    }
                }
                match (cancelled, first_refusal) {
                    (0, Some(e)) => Err(e),
                    _ => Ok(Reply::Request(request.clone())),
                }
            }
            Work::EndGrant { grant, by, how, at, .. } => {
                // The grant may have been made earlier in this batch.
                self.grants.flush(tx).await?;
                let exists = sqlx::query("SELECT id FROM grants WHERE id = $1")
                    .bind(grant.clone())
                    .fetch_optional(&mut **tx)
                    .await?
                    .is_some();
                if !exists {
                    return Err(RuntimeError::UnknownGrant(grant.clone()));
                }
                self.apply_event(tx, grant, Event::EndGrant { by: by.clone(), how: *how, at: *at }).await?;
                Ok(Reply::Done)
            }
            Work::Timer { item, timer, at } => {
                // The item first, then its timer row: the order in which a decision takes them (it locks the
                // item, then cancels the item's timers), so two replicas cannot deadlock on the pair.
                let sql = format!("SELECT id FROM items WHERE id = $1{}", self.inner.store.for_update());
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(item.clone()).fetch_optional(&mut **tx).await?;
                // A decision earlier in this batch may have cancelled or moved this timer.
                self.flush_timers(tx).await?;
                // Only the holder of the timer's lease fires it. If the lease ran out while this job waited and
                // another replica claimed the timer, or a decision cancelled it meanwhile, no row is ours and
                // nothing happens: each timer fires once.
                let ours = sqlx::query("DELETE FROM timers WHERE item_id = $1 AND timer_id = $2 AND lease_owner = $3")
                    .bind(item.clone())
                    .bind(i64::from(*timer))
                    .bind(self.inner.owner.clone())
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                if ours == 0 {
                    return Ok(Reply::Done);
                }
                match self.apply_event(tx, item, Event::TimerFired { timer: *timer, at: *at }).await {
                    Ok(_) | Err(RuntimeError::UnknownRequest(_)) => Ok(Reply::Done),
                    Err(e) => Err(e),
                }
            }
            Work::Unavailable { item, user, reason, at } => {
                let event = Event::Unavailable { user: user.clone(), reason: reason.clone(), at: *at };
                match self.apply_event(tx, item, event).await {
                    Ok(_) | Err(RuntimeError::UnknownRequest(_)) | Err(RuntimeError::Refused(_)) => Ok(Reply::Done),
                    Err(e) => Err(e),
                }
            }
            Work::People { change, at, .. } => match crate::people::store::apply(tx, change, *at).await? {
                Ok((kind, detail)) => {
                    self.people_changed = true;
                    self.audit.push(Entry {
                        at: *at,
                        request_id: None,
                        item_id: None,
                        kind: kind.to_owned(),
                        actor: self.via.clone(),
                        detail: self.with_via(detail),
                    });
                    Ok(Reply::Done)
                }
                Err(e) => Err(RuntimeError::People(e)),
            },
            Work::Audit(entries) => {
                self.audit.extend(entries.iter().cloned());
                Ok(Reply::Done)
            }
        }
    }

    /// The prompts `approver` still has to answer on `request`, in (item, prompt) order.
    async fn pending_prompts(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        request: &str,
        approver: &str,
    ) -> Result<Vec<AheadPrompt>, sqlx::Error> {
        if self.ahead.requests.contains(request) {
            return Ok(self.ahead.pending.get(&(request.to_owned(), approver.to_owned())).cloned().unwrap_or_default());
        }
        let rows = sqlx::query(
            "SELECT item_id, prompt_id, token FROM prompts WHERE request_id = $1 AND approver = $2 \
             AND state = 'pending' ORDER BY item_id, prompt_id",
        )
        .bind(request.to_owned())
        .bind(approver.to_owned())
        .fetch_all(&mut **tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AheadPrompt {
                    item: r.try_get("item_id")?,
                    prompt: r.try_get("prompt_id")?,
                    token: r.try_get("token")?,
                    request: request.to_owned(),
                })
            })
            .collect()
    }

    /// The prompt with this token, if there is one.
    async fn prompt_by_token(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        token: &str,
    ) -> Result<Option<AheadPrompt>, sqlx::Error> {
        if self.ahead.tokens.contains(token) {
            return Ok(self.ahead.by_token.get(token).cloned());
        }
        let row = sqlx::query("SELECT item_id, prompt_id, request_id FROM prompts WHERE token = $1")
            .bind(token.to_owned())
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| {
            Ok(AheadPrompt {
                item: r.try_get("item_id")?,
                prompt: r.try_get("prompt_id")?,
                token: token.to_owned(),
                request: r.try_get("request_id")?,
            })
        })
        .transpose()
    }

    /// Takes an item out of the batch's copies, reading it (locked, on PostgreSQL) on first use. `None`: no such
    /// item.
    async fn take_item(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        item_id: &str,
    ) -> Result<Option<Cached>, RuntimeError> {
        if let Some(c) = self.items.remove(item_id) {
            return Ok(Some(c));
        }
        let sql =
            format!("SELECT state, request_id, updated_at FROM items WHERE id = $1{}", self.inner.store.for_update());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(item_id.to_owned()).fetch_optional(&mut **tx).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Cached::from_row(item_id, &row)?))
    }

    /// Applies one event to an item, keeps the result for the end of the batch, and turns its effects into rows.
    async fn apply_event(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        item_id: &str,
        event: Event,
    ) -> Result<Item, RuntimeError> {
        let Some(cached) = self.take_item(tx, item_id).await? else {
            return Err(RuntimeError::UnknownRequest(item_id.to_owned()));
        };
        let request_id = cached.request_id.clone();
        let at = event.at();
        match engine::apply(&self.catalog, &cached.item, &event) {
            Ok((next, effects)) => {
                self.record_event(&request_id, item_id, &event);
                let version = i64::try_from(next.events_applied).unwrap_or(i64::MAX);
                self.items.insert(
                    item_id.to_owned(),
                    Cached {
                        item: next.clone(),
                        request_id: request_id.clone(),
                        stored: cached.stored,
                        dirty: true,
                        updated_at: at,
                    },
                );
                self.events.push(vec![
                    Val::Text(item_id.to_owned()),
                    Val::Int(version),
                    Val::Text(serde_json::to_string(&event).unwrap_or_default()),
                    Val::Int(ms(at)),
                ]);
                if matches!(event, Event::Decide { .. }) {
                    self.decisions += 1;
                }
                self.effects(tx, &next, &effects, at).await?;
                Ok(next)
            }
            Err(refusal) => {
                self.items.insert(item_id.to_owned(), cached);
                if let Event::Decide { by, channel, .. } = &event {
                    // Refusals that matter for security are audited: someone else's prompt, or a settled one.
                    let why = refusal.to_string();
                    self.refused(at, Some(&request_id), Some(item_id), by, &why, channel);
                }
                Err(RuntimeError::Refused(refusal))
            }
        }
    }

    /// The audit row of an accepted event. It holds everything the event holds (the actor, the row's `at`, and
    /// the detail), because `signoff audit verify` rebuilds the event from this row to replay the item: the
    /// `item_events` table is not chained or signed, the audit trail is.
    fn record_event(&mut self, request_id: &str, item_id: &str, event: &Event) {
        let (kind, actor, detail) = match event {
            Event::Decide { prompt, by, decision, channel, .. } => {
                ("decision", Some(by.clone()), json!({ "prompt": prompt, "decision": decision, "channel": channel }))
            }
            Event::TimerFired { timer, .. } => ("timer", None, json!({ "timer": timer })),
            Event::Cancel { by, reason, .. } => ("cancel", Some(by.clone()), json!({ "reason": reason })),
            Event::Unavailable { user, reason, .. } => {
                ("unavailable", Some(user.clone()), json!({ "user": user, "reason": reason }))
            }
            Event::EndGrant { by, how, .. } => ("grant.end", Some(by.clone()), json!({ "how": how })),
        };
        let detail = self.with_via(detail);
        self.audit.push(Entry {
            at: event.at(),
            request_id: Some(request_id.to_owned()),
            item_id: Some(item_id.to_owned()),
            kind: kind.to_owned(),
            actor,
            detail: with_catalog(&self.catalog, detail),
        });
    }

    /// `detail` with the acting job's `via` added, when it has one.
    fn with_via(&self, mut detail: serde_json::Value) -> serde_json::Value {
        if let (Some(via), Some(map)) = (&self.via, detail.as_object_mut()) {
            map.insert("via".to_owned(), json!(via));
        }
        detail
    }

    fn refused(
        &mut self,
        at: Timestamp,
        request: Option<&String>,
        item: Option<&str>,
        by: &str,
        why: &str,
        channel: &str,
    ) {
        metrics::counter!("signoff_refused_total").increment(1);
        let detail = self.with_via(json!({ "why": why, "channel": channel }));
        self.audit.push(Entry {
            at,
            request_id: request.cloned(),
            item_id: item.map(str::to_owned),
            kind: "refused".to_owned(),
            actor: Some(by.to_owned()),
            detail,
        });
    }

    /// Turns an item's effects into rows. Keys are `{item}:{version}:{index}[:{platform}]`: unique, so a
    /// transaction replayed after a crash cannot duplicate a delivery.
    async fn effects(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        item: &Item,
        effects: &[Effect],
        at: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let cat_arc = self.catalog.clone();
        let cat = &*cat_arc;
        let item_id = item.spec.item.as_str();
        let request_id = item.spec.request.as_str();
        let version = item.events_applied;
        let audit = |kind: &str, actor: Option<&str>, detail: serde_json::Value| Entry {
            at,
            request_id: Some(request_id.to_owned()),
            item_id: Some(item_id.to_owned()),
            kind: kind.to_owned(),
            actor: actor.map(str::to_owned),
            detail,
        };
        for (i, e) in effects.iter().enumerate() {
            let key = format!("{item_id}:{version}:{i}");
            match e {
                Effect::SendPrompt { prompt, to, context } => {
                    let token = new_token();
                    self.remember_token(item_id, i64::from(*prompt), token.clone());
                    self.new_prompts.push(vec![
                        Val::Text(token.clone()),
                        Val::Text(item_id.to_owned()),
                        Val::Int(i64::from(*prompt)),
                        Val::Text(request_id.to_owned()),
                        Val::Text(to.clone()),
                        Val::Text("pending".to_owned()),
                        Val::Int(ms(at)),
                    ]);
                    let mut message = render::prompt(cat, item, &token, context);
                    message.link = self.link(request_id);
                    let recipients = self.recipients(to);
                    for r in &recipients {
                        let payload = json!({ "token": token, "to": r, "message": message });
                        let row =
                            OutboxRow { kind: "prompt.send", token: Some(&token), platform: Some(r.platform.as_str()) };
                        self.outbox(format!("{key}:{}", r.platform.as_str()), row, item_id, &payload, at);
                    }
                    self.audit.push(audit(
                        "prompt.sent",
                        None,
                        json!({ "approver": to, "prompt": prompt, "step": context.label,
                                "platforms": recipients.iter().map(|r| r.platform.as_str()).collect::<Vec<_>>() }),
                    ));
                }
                Effect::PromptAnswered { prompt, to, verdict } => {
                    self.prompt_state(tx, item_id, *prompt, "answered").await?;
                    let mut closing = render::answered(cat, item, verdict, at);
                    closing.link = self.link(request_id);
                    self.close_rows(tx, &key, item_id, *prompt, to, &closing, at).await?;
                }
                Effect::DismissPrompt { prompt, to, reason } => {
                    self.prompt_state(tx, item_id, *prompt, "dismissed").await?;
                    let mut closing = render::dismissed(cat, item, reason, at);
                    closing.link = self.link(request_id);
                    self.close_rows(tx, &key, item_id, *prompt, to, &closing, at).await?;
                    self.audit.push(audit(
                        "prompt.dismissed",
                        None,
                        json!({ "approver": to, "prompt": prompt, "reason": reason }),
                    ));
                }
                Effect::Notify { to, notice } => {
                    let mut n = render::notification(cat, item, notice);
                    n.link = self.link(request_id);
                    for r in self.recipients(to) {
                        let payload = json!({ "to": r, "notification": n });
                        let row = OutboxRow { kind: "notify", token: None, platform: Some(r.platform.as_str()) };
                        self.outbox(format!("{key}:{}", r.platform.as_str()), row, item_id, &payload, at);
                    }
                }
                Effect::ScheduleTimer { timer, due } => {
                    self.timers.insert((item_id.to_owned(), *timer), Some(*due));
                }
                Effect::CancelTimer { timer } => {
                    self.timers.insert((item_id.to_owned(), *timer), None);
                }
                Effect::Grant { user, expires_at } => {
                    self.grants.push(vec![
                        Val::Text(item_id.to_owned()),
                        Val::Text(request_id.to_owned()),
                        Val::Text(user.clone()),
                        Val::Text(item.spec.resource.clone()),
                        Val::OptText(item.spec.role.clone()),
                        Val::Int(ms(at)),
                        Val::OptInt(expires_at.map(ms)),
                    ]);
                    self.audit.push(audit("grant.created", None, json!({ "user": user, "expires_at": expires_at })));
                }
                Effect::EndGrant { user, how } => {
                    // The grant may have been made earlier in this batch.
                    self.grants.flush(tx).await?;
                    sqlx::query("UPDATE grants SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL")
                        .bind(ms(at))
                        .bind(how.as_str())
                        .bind(item_id.to_owned())
                        .execute(&mut **tx)
                        .await?;
                    self.audit.push(audit("grant.ended", None, json!({ "user": user, "how": how })));
                }
                Effect::Webhook { event, expires_at } => {
                    if self.inner.webhook.is_some() {
                        let body = Payload {
                            event: event.as_str().to_owned(),
                            request: request_id.to_owned(),
                            item: item_id.to_owned(),
                            user: item.spec.beneficiary.clone(),
                            resource: item.spec.resource.clone(),
                            role: item.spec.role.clone(),
                            expires_at: expires_at.map(|t| t.to_string()),
                        };
                        let payload = json!({ "body": serde_json::to_string(&body).unwrap_or_default() });
                        let row = OutboxRow { kind: "webhook", token: None, platform: None };
                        self.outbox(key.clone(), row, item_id, &payload, at);
                    }
                }
                Effect::Settled { status, reason } => {
                    self.audit.push(audit("outcome", None, json!({ "status": status, "reason": reason })));
                }
                Effect::Audit { what, node } => {
                    self.audit.push(audit("engine", None, json!({ "what": what, "node": node })));
                }
            }
        }
        Ok(())
    }

    /// The request's web page, when `[server] public_url` is set (DESIGN 7.6): every prompt and notice links to it.
    fn link(&self, request_id: &str) -> Option<String> {
        self.inner.tuning.public_url.as_deref().map(|u| format!("{u}/requests/{request_id}"))
    }

    fn recipients(&self, user: &str) -> Vec<signoff_port::ChatUser> {
        match self.catalog.directory.user(user) {
            Some(u) => self.inner.chat.recipients(u),
            None => Vec::new(),
        }
    }

    /// Queues a prompt's new state.
    async fn prompt_state(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        item_id: &str,
        prompt: u32,
        state: &'static str,
    ) -> Result<(), sqlx::Error> {
        if let Some(token) = self.token(tx, item_id, prompt).await? {
            self.prompt_states.push((token, state));
        }
        Ok(())
    }

    /// Outbox rows that close a prompt's message on every platform it was (or is being) sent to.
    #[allow(clippy::too_many_arguments)]
    async fn close_rows(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        key: &str,
        item_id: &str,
        prompt: u32,
        to: &str,
        closing: &signoff_port::PromptClosing,
        at: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let Some(token) = self.token(tx, item_id, prompt).await? else { return Ok(()) };
        for r in self.recipients(to) {
            let platform = r.platform.as_str();
            // `to`: whose conversation to search when the send was in doubt and copies may exist.
            let payload = json!({ "token": token, "platform": r.platform, "to": r, "closing": closing });
            let row = OutboxRow { kind: "prompt.close", token: Some(&token), platform: Some(platform) };
            self.outbox(format!("{key}:{platform}"), row, item_id, &payload, at);
        }
        Ok(())
    }
}

/// `detail` with `"catalog": id` of the catalog the engine ran on, for the rows that start or change an item
/// (`requested`, `decision`, `timer`, `cancel`, `grant.end`): `signoff audit verify` replays each item from
/// these rows on that very catalog (DESIGN 7.3). A catalog put together in code has no snapshot, and its
/// rows no id.
fn with_catalog(catalog: &Catalog, mut detail: serde_json::Value) -> serde_json::Value {
    if let (Some(id), Some(map)) = (catalog.snapshot_id(), detail.as_object_mut()) {
        map.insert("catalog".to_owned(), json!(id));
    }
    detail
}

fn decide_event(prompt: i64, by: &str, decision: &engine::Decision, channel: &str, at: Timestamp) -> Event {
    Event::Decide {
        prompt: u32::try_from(prompt).unwrap_or(u32::MAX),
        by: by.to_owned(),
        decision: decision.clone(),
        channel: channel.to_owned(),
        at,
    }
}

async fn insert_item(tx: &mut Transaction<'static, Any>, item: &Item, at: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO items (id, request_id, beneficiary, resource, role, status, state, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(item.spec.item.clone())
    .bind(item.spec.request.clone())
    .bind(item.spec.beneficiary.clone())
    .bind(item.spec.resource.clone())
    .bind(item.spec.role.clone())
    .bind(item.status.as_str())
    .bind(serde_json::to_string(item).unwrap_or_default())
    .bind(0_i64)
    .bind(ms(at))
    .bind(ms(at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What [`Writer::read_ahead`] found.
#[derive(Default)]
struct Ahead {
    /// The requests whose prompts were read (all of them).
    requests: HashSet<String>,
    /// The tokens looked up.
    tokens: HashSet<String>,
    /// Pending prompts by (request, approver).
    pending: HashMap<(String, String), Vec<AheadPrompt>>,
    /// Every prompt read, by token.
    by_token: HashMap<String, AheadPrompt>,
}

/// A prompt as the batch's jobs need it.
#[derive(Clone)]
struct AheadPrompt {
    item: String,
    prompt: i64,
    token: String,
    request: String,
}

/// An item as the batch last left it.
struct Cached {
    item: Item,
    request_id: String,
    /// The status the item's row has in the database now (for `item_counts`).
    stored: ItemStatus,
    /// Changed in this batch, so written at its end.
    dirty: bool,
    /// When it last changed.
    updated_at: Timestamp,
}

impl Cached {
    /// An item as read (columns `state`, `request_id`, `updated_at`), unchanged so far.
    fn from_row(id: &str, row: &sqlx::any::AnyRow) -> Result<Cached, sqlx::Error> {
        let state: String = row.try_get("state")?;
        let item: Item =
            serde_json::from_str(&state).map_err(|e| sqlx::Error::Decode(format!("item {id} state: {e}").into()))?;
        Ok(Cached {
            stored: item.status,
            item,
            request_id: row.try_get("request_id")?,
            dirty: false,
            updated_at: from_ms(row.try_get("updated_at")?),
        })
    }
}

/// What an outbox row is, besides its payload.
struct OutboxRow<'a> {
    kind: &'a str,
    /// The prompt token, for prompt rows.
    token: Option<&'a str>,
    /// The chat platform, for chat rows.
    platform: Option<&'a str>,
}

/// An unguessable prompt token (128 random bits, hex): chat buttons carry it instead of any id.
fn new_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
