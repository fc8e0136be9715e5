//! The durable runtime around the pure engine.
//!
//! Every change goes through one path: a [`Job`] is queued to the committer, which applies it with the
//! engine inside a database transaction that stores the new state and writes the effects as outbox rows,
//! timer rows, grant rows and audit rows. Jobs that arrive together share one transaction (group commit),
//! so a burst of decisions costs one fsync, not one each. After the commit, the dispatcher delivers outbox
//! rows (chat, webhook) at least once, and the timer loop turns due timers into engine events.
//!
//! - [`commit`]: the committer and how effects become rows.
//! - [`dispatch`]: delivering outbox rows, with leases, retries and backoff.
//! - [`timers`]: firing due timers.
//! - [`leases`]: renewing this process's claims while it works on them.
//! - [`view`]: what the API returns about requests and items.
//! - [`reload`]: reloading the directory and policy files while serving (`SIGHUP`).

mod commit;
mod dispatch;
mod leases;
mod people;
pub use people::with_stored_people;
pub mod reload;
mod timers;
pub mod view;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::audit::Signer;
use crate::catalog::{Catalog, CatalogSource, LookupError};
use crate::chat::Chat;
use crate::engine::{self, Decision, GrantEnd, ItemSpec, Refusal};
use crate::request::RequestSpec;
use crate::store::Store;
use crate::time::{Duration, Timestamp};
use crate::webhook::Webhook;

pub use view::{GrantView, RequestView};

/// Tunables of the background work. The defaults suit production; tests shorten them.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Most jobs committed in one transaction.
    pub max_batch: usize,
    /// How long a claimed outbox row or timer stays claimed before another worker may take it. The holder renews
    /// its claims every third of this while it works on them, so it can be short: a replica that dies leaves its
    /// work to the others this soon (plus one `idle`).
    pub lease: StdDuration,
    /// Longest idle sleep of the dispatcher and timer loops (they are also woken after each commit).
    pub idle: StdDuration,
    /// First retry delay of a failed webhook delivery; doubles per attempt.
    pub backoff_base: StdDuration,
    /// Longest retry delay of a webhook delivery.
    pub backoff_max: StdDuration,
    /// While a webhook receiver fails, one of its deliveries is kept due at least this often (a probe), so that
    /// once it recovers every waiting delivery is pulled forward within about this long.
    pub probe_every: StdDuration,
    /// First retry delay of a failed chat delivery; doubles per attempt.
    pub chat_backoff_base: StdDuration,
    /// Longest retry delay of a chat delivery: seconds, so that a prompt appears soon after the platform recovers.
    pub chat_backoff_max: StdDuration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// The most items one request may create (`[api] max_items`): one call must not be able to ask thousands of
    /// approvers, write thousands of rows and call the webhook thousands of times.
    pub max_items: usize,
    /// How often each replica checks whether the people provisioned through SCIM changed (one indexed row).
    pub people_poll: StdDuration,
    /// `[server] public_url`, without a trailing `/`: prompts and notices link to `{public_url}/requests/{id}`.
    pub public_url: Option<String>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_batch: 256,
            lease: StdDuration::from_secs(10),
            idle: StdDuration::from_secs(2),
            backoff_base: StdDuration::from_secs(1),
            backoff_max: StdDuration::from_secs(600),
            probe_every: StdDuration::from_secs(5),
            chat_backoff_base: StdDuration::from_millis(500),
            chat_backoff_max: StdDuration::from_secs(3),
            concurrency: 64,
            max_items: crate::config::DEFAULT_MAX_ITEMS,
            people_poll: StdDuration::from_secs(1),
            public_url: None,
        }
    }
}

/// An accepted chat click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The request concerned.
    pub request: String,
    /// What the clicked message should now say.
    pub closing: signoff_port::PromptClosing,
}

/// Where an action came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    /// The channel recorded with a decision: `api`, `slack`, `discord`, `web`.
    pub channel: String,
    /// What exactly acted, for the audit trail: `api:jira` (a token's name), `slack:T0001/U0ANA`.
    pub via: Option<String>,
    /// The platform's id for the callback that carried the action (Slack's `trigger_id`, Discord's interaction id).
    /// It is stored with the change it caused, so the same signed callback replayed, to any replica, changes
    /// nothing.
    pub callback: Option<String>,
}

impl From<&str> for Source {
    fn from(channel: &str) -> Source {
        Source { channel: channel.to_owned(), via: None, callback: None }
    }
}

/// How long a callback id is remembered: the platforms' 5-minute timestamp window plus room for clock skew.
/// After that the window itself refuses the callback.
pub const CALLBACK_MEMORY: StdDuration = StdDuration::from_secs(10 * 60);

/// What a caller asked for, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRequest {
    /// Who asks (id or email).
    pub requester: String,
    /// The resource id.
    pub resource: String,
    /// Roles; empty for none.
    pub roles: Vec<String>,
    /// People it is for; empty for the requester.
    pub for_: Vec<String>,
    /// Why.
    pub justification: Option<String>,
    /// For how long.
    pub duration: Option<Duration>,
    /// What acted, for the audit trail (`api:jira`).
    pub via: Option<String>,
}

/// Why the runtime refused something. Domain refusals are the caller's to fix (4xx); `Store` and
/// `Unavailable` are ours (5xx).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Bad input that names what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// No such request.
    #[error("unknown request `{0}`")]
    UnknownRequest(String),
    /// No such grant.
    #[error("unknown grant `{0}`")]
    UnknownGrant(String),
    /// An unknown resource, role or user.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The person is not asked to decide anything in this request.
    #[error("{approver} is not an approver of request {request}")]
    NotAnApprover {
        /// Who tried.
        approver: String,
        /// The request.
        request: String,
    },
    /// No prompt with this token.
    #[error("unknown or expired prompt")]
    UnknownPrompt,
    /// The engine refused the event (not the approver, already settled, duration too long...).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// More items than `[api] max_items` allows.
    #[error("this request would create {items} items (people times roles); at most {max} are allowed per request")]
    TooManyItems {
        /// Items it would create.
        items: usize,
        /// The limit.
        max: usize,
    },
    /// The same chat callback was already handled (a replay): nothing changed.
    #[error("this callback was already handled")]
    Replayed,
    /// The service is shutting down and takes no new work.
    #[error("signoff is shutting down")]
    Unavailable,
    /// A SCIM write that was not made (a taken `userName`, an unknown id, a concurrent change).
    #[error(transparent)]
    People(#[from] crate::people::ChangeError),
    /// A database failure.
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// One unit of work for the committer.
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) reply: Option<oneshot::Sender<Result<Reply, RuntimeError>>>,
    /// The span that submitted the job (a request's `http request`, a delivery's `chat call`; none for timers): the
    /// job's `commit` span is its child, so a click and the commit it caused are one trace (see [`crate::telemetry`]).
    pub(crate) span: tracing::Span,
}

/// What to do.
pub(crate) enum Work {
    /// Store a new request whose items the engine already started.
    Create {
        request: RequestSpec,
        started: Vec<(ItemSpec, engine::Started)>,
        at: Timestamp,
        /// The client's `Idempotency-Key`, if given.
        idempotency_key: Option<String>,
        /// What acted.
        via: Option<String>,
        /// The catalog the items were started on: their `requested` rows name it.
        catalog: Arc<Catalog>,
    },
    /// An approver decides on every prompt they hold in a request (the API's decision route).
    Decide { request: String, approver: String, decision: Decision, source: Source, at: Timestamp },
    /// A click on one prompt, by its token (chat).
    Answer { token: String, by: String, decision: Decision, source: Source, at: Timestamp },
    /// The requester withdraws the request.
    Cancel { request: String, by: String, reason: Option<String>, via: Option<String>, at: Timestamp },
    /// A grant ends early.
    EndGrant { grant: String, by: String, how: GrantEnd, via: Option<String>, at: Timestamp },
    /// A timer is due.
    Timer { item: String, timer: u32, at: Timestamp },
    /// An approver of `item` can no longer be asked (the directory changed): their part is asked again.
    Unavailable { item: String, user: String, reason: String, at: Timestamp },
    /// A change to the people provisioned through SCIM, audited in the same commit.
    People { change: crate::people::Change, via: Option<String>, at: Timestamp },
    /// Rows for the audit trail that no state change carries (delivery results, refused callbacks).
    Audit(Vec<crate::audit::Entry>),
}

impl Work {
    /// What kind of work it is, for its `commit` span.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Work::Create { .. } => "create",
            Work::Decide { .. } => "decide",
            Work::Answer { .. } => "answer",
            Work::Cancel { .. } => "cancel",
            Work::EndGrant { .. } => "end_grant",
            Work::Timer { .. } => "timer",
            Work::Unavailable { .. } => "unavailable",
            Work::People { .. } => "people",
            Work::Audit(_) => "audit",
        }
    }

    /// What acted, for the audit rows this work writes.
    pub(crate) fn via(&self) -> Option<&str> {
        match self {
            Work::Create { via, .. }
            | Work::Cancel { via, .. }
            | Work::EndGrant { via, .. }
            | Work::People { via, .. } => via.as_deref(),
            Work::Decide { source, .. } | Work::Answer { source, .. } => source.via.as_deref(),
            Work::Timer { .. } | Work::Unavailable { .. } | Work::Audit(_) => None,
        }
    }
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The request concerned.
    Request(String),
    /// A create whose `Idempotency-Key` was already used: the request made the first time.
    Existing(String),
    /// A chat click was accepted: the request, and what the clicked message should now say.
    Answered {
        /// The request concerned.
        request: String,
        /// The clicked prompt's closing.
        closing: signoff_port::PromptClosing,
    },
    /// A replayed chat callback: nothing changed.
    Replayed,
    /// Nothing to report.
    Done,
}

/// The runtime. Cheap to clone; every clone drives the same background tasks.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    /// The catalog in use. Swapped whole (never edited) when the directory changes; each commit batch takes one
    /// and runs every event of the batch on it, so an audit row always names the catalog its event ran on.
    pub(crate) catalog: arc_swap::ArcSwap<Catalog>,
    /// The files, built-ins and settings the catalog in use was built from, without provisioned people (`None`
    /// when it was put together in code). Replaced by a reload of the files; the provisioned people are rendered
    /// onto it. Locked for a whole rebuild ([`people::rebuild`]), which keeps rebuilds from interleaving.
    pub(crate) base: tokio::sync::Mutex<Option<CatalogSource>>,
    pub(crate) chat: Chat,
    pub(crate) webhook: Option<Webhook>,
    /// Signs a checkpoint of the audit chain's head at every commit that appends to it (`[audit] signing_key`).
    pub(crate) signer: Option<Arc<Signer>>,
    pub(crate) tuning: Tuning,
    /// This process's name in leases.
    pub(crate) owner: String,
    pub(crate) jobs: mpsc::Sender<Job>,
    /// Woken after each commit, so new outbox rows and timers are handled at once.
    pub(crate) wake_dispatch: Notify,
    pub(crate) wake_timers: Notify,
    /// `true` once shutdown began.
    pub(crate) stopping: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
}

/// Resolves once shutdown has begun (the watch guard is dropped before returning, so callers may await
/// other things afterwards).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Jobs waiting for the committer before callers are made to wait (back-pressure).
const QUEUE: usize = 8192;

impl Runtime {
    /// Starts the committer, dispatcher, timer loop and lease renewal over an open, migrated store. With a
    /// `signer`, every commit that appends audit rows also stores a signed checkpoint of the chain's head.
    pub fn start(
        store: Store,
        catalog: Arc<Catalog>,
        chat: Chat,
        webhook: Option<Webhook>,
        tuning: Tuning,
        signer: Option<Arc<Signer>>,
    ) -> Runtime {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stopping, _) = watch::channel(false);
        let owner = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        let base = people::base_source(&catalog);
        let inner = Arc::new(Inner {
            store,
            catalog: arc_swap::ArcSwap::new(catalog),
            base: tokio::sync::Mutex::new(base),
            chat,
            webhook,
            signer,
            tuning,
            owner,
            jobs: tx,
            wake_dispatch: Notify::new(),
            wake_timers: Notify::new(),
            stopping,
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
        });
        let rt = Runtime { inner: inner.clone() };
        let mut set = JoinSet::new();
        set.spawn(commit::run(inner.clone(), rx));
        set.spawn(dispatch::run(inner.clone()));
        set.spawn(timers::run(inner.clone()));
        set.spawn(leases::run(inner.clone()));
        set.spawn(people::run(inner.clone()));
        if let Ok(mut tasks) = inner.tasks.try_lock() {
            *tasks = set;
        }
        rt
    }

    /// The catalog in use now. Hold the `Arc` for one piece of work: the next call may return a newer one.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.load_full()
    }

    /// Puts `catalog` in use, after storing its snapshot: the audit rows written from now on name it, and
    /// `signoff audit verify` must find it. Then open work follows the change (DESIGN 7.5): every person who could
    /// be asked before and cannot now (deactivated, removed, gone out of office) has each pending prompt dismissed
    /// and their part asked again, one item at a time through the committer. Every replica that swaps does
    /// this; the second time an item has nothing pending for that person and nothing happens.
    pub async fn swap_catalog(&self, catalog: Arc<Catalog>) -> Result<(), sqlx::Error> {
        if let Some(snapshot) = &catalog.snapshot {
            crate::audit::save_catalog(&self.inner.store, snapshot).await?;
        }
        let now = crate::time::now();
        let before = self.inner.catalog.swap(catalog.clone());
        let leavers: Vec<(String, String)> = before
            .directory
            .users()
            .iter()
            .filter(|u| u.is_available(now))
            .filter_map(|u| match catalog.directory.user(&u.id) {
                None => Some((u.id.clone(), "no longer in the directory".to_owned())),
                Some(now_user) => now_user
                    .unavailable_reason(now)
                    .map(|why| (u.id.clone(), if why == "inactive" { "deactivated".to_owned() } else { why })),
            })
            .collect();
        for (user, reason) in leavers {
            let items: Vec<String> =
                sqlx::query("SELECT DISTINCT item_id FROM prompts WHERE approver = $1 AND state = 'pending'")
                    .bind(user.clone())
                    .fetch_all(self.inner.store.reader())
                    .await?
                    .iter()
                    .map(|r| sqlx::Row::try_get::<String, _>(r, 0))
                    .collect::<Result<_, _>>()?;
            tracing::info!(%user, %reason, items = items.len(), "an approver is no longer available; asking again");
            for item in items {
                let work = Work::Unavailable { item, user: user.clone(), reason: reason.clone(), at: now };
                if let Err(e) = self.submit(work).await {
                    tracing::warn!(error = %e, %user, "re-asking for an approver who left failed");
                }
            }
        }
        Ok(())
    }

    /// The store in use.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Stops taking work, commits what is queued, lets in-flight deliveries finish, and waits for the
    /// background tasks. Undelivered outbox rows stay for the next start.
    pub async fn shutdown(&self) {
        self.inner.stopping.send_replace(true);
        self.inner.wake_dispatch.notify_waiters();
        self.inner.wake_timers.notify_waiters();
        let mut tasks = self.inner.tasks.lock().await;
        // Each task stops on `stopping`: the committer after what is queued, the dispatcher after its
        // deliveries in flight (bounded), the timer loop at once.
        while tasks.join_next().await.is_some() {}
        self.inner.store.close().await;
    }

    async fn submit(&self, work: Work) -> Result<Reply, RuntimeError> {
        if *self.inner.stopping.borrow() {
            return Err(RuntimeError::Unavailable);
        }
        let (tx, rx) = oneshot::channel();
        let job = Job { work, reply: Some(tx), span: tracing::Span::current() };
        self.inner.jobs.send(job).await.map_err(|_| RuntimeError::Unavailable)?;
        rx.await.map_err(|_| RuntimeError::Unavailable)?
    }

    /// Validates and stores a request; its items start at once. Returns the stored request.
    pub async fn create(&self, new: NewRequest, now: Timestamp) -> Result<RequestView, RuntimeError> {
        self.create_once(new, now, None).await.map(|(view, _)| view)
    }

    /// As [`Runtime::create`], at most once per `idempotency_key`: a retry with the same key (after a lost
    /// answer, say) returns the request made the first time, with `false` for "not new".
    pub async fn create_once(
        &self,
        new: NewRequest,
        now: Timestamp,
        idempotency_key: Option<String>,
    ) -> Result<(RequestView, bool), RuntimeError> {
        let cat = self.inner.catalog.load_full();
        let requester = self.user_id(&new.requester)?;
        let mut beneficiaries = Vec::with_capacity(new.for_.len());
        for b in &new.for_ {
            beneficiaries.push(self.user_id(b)?);
        }
        cat.resource(&new.resource)?;
        // Counted on what was asked, before anything is started: a refusal costs no engine work.
        let people = count_distinct(new.for_.len().max(1), &beneficiaries);
        let roles = count_distinct(new.roles.len().max(1), &new.roles);
        let items = people.saturating_mul(roles);
        if items > self.inner.tuning.max_items {
            return Err(RuntimeError::TooManyItems { items, max: self.inner.tuning.max_items });
        }
        if new.duration.is_some_and(|d| d.is_zero()) {
            return Err(RuntimeError::Invalid("duration must be longer than zero".to_owned()));
        }
        let spec = RequestSpec {
            id: new_request_id(now),
            requester,
            resource: new.resource.clone(),
            roles: new.roles.clone(),
            beneficiaries,
            justification: new.justification.clone().filter(|j| !j.trim().is_empty()),
            duration: new.duration,
        };
        let mut started = Vec::new();
        for item in spec.items() {
            let s = engine::start(&cat, item.clone(), now).map_err(|e| match e {
                engine::StartError::Lookup(l) => RuntimeError::Lookup(l),
            })?;
            started.push((item, s));
        }
        let via = new.via.clone();
        let reply = self
            .submit(Work::Create { request: spec, started, at: now, idempotency_key, via, catalog: cat.clone() })
            .await?;
        let (id, new) = match reply {
            Reply::Existing(id) => (id, false),
            Reply::Request(id) => (id, true),
            Reply::Answered { request, .. } => (request, true),
            Reply::Replayed | Reply::Done => {
                return Err(RuntimeError::Invalid("the request was not stored".to_owned()));
            }
        };
        let view = self.request(&id).await?.ok_or(RuntimeError::UnknownRequest(id))?;
        Ok((view, new))
    }

    /// `approver` decides on every prompt they hold in `request` (the API route).
    pub async fn decide(
        &self,
        request: &str,
        approver: &str,
        decision: Decision,
        source: impl Into<Source>,
        now: Timestamp,
    ) -> Result<RequestView, RuntimeError> {
        let approver = self.user_id(approver)?;
        self.submit(Work::Decide { request: request.to_owned(), approver, decision, source: source.into(), at: now })
            .await?;
        self.request(request).await?.ok_or_else(|| RuntimeError::UnknownRequest(request.to_owned()))
    }

    /// A chat click on the prompt with `token`, by directory user `by`. Returns the request id and what the
    /// clicked message should now say; [`RuntimeError::Replayed`] when the source's callback id was already seen.
    pub async fn answer(
        &self,
        token: &str,
        by: &str,
        decision: Decision,
        source: impl Into<Source>,
        now: Timestamp,
    ) -> Result<Answered, RuntimeError> {
        match self
            .submit(Work::Answer {
                token: token.to_owned(),
                by: by.to_owned(),
                decision,
                source: source.into(),
                at: now,
            })
            .await?
        {
            Reply::Answered { request, closing } => Ok(Answered { request, closing }),
            Reply::Replayed => Err(RuntimeError::Replayed),
            Reply::Request(_) | Reply::Existing(_) | Reply::Done => Err(RuntimeError::UnknownPrompt),
        }
    }

    /// The requester withdraws a request (every item still open).
    pub async fn cancel(
        &self,
        request: &str,
        by: &str,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<RequestView, RuntimeError> {
        self.cancel_via(request, by, reason, None, now).await
    }

    /// As [`Runtime::cancel`], naming what acted for the audit trail (`api:jira`).
    pub async fn cancel_via(
        &self,
        request: &str,
        by: &str,
        reason: Option<String>,
        via: Option<String>,
        now: Timestamp,
    ) -> Result<RequestView, RuntimeError> {
        let by = self.user_id(by)?;
        self.submit(Work::Cancel { request: request.to_owned(), by, reason, via, at: now }).await?;
        self.request(request).await?.ok_or_else(|| RuntimeError::UnknownRequest(request.to_owned()))
    }

    /// Ends a grant before its time ("removed after use").
    pub async fn end_grant(
        &self,
        grant: &str,
        by: &str,
        how: GrantEnd,
        now: Timestamp,
    ) -> Result<GrantView, RuntimeError> {
        self.end_grant_via(grant, by, how, None, now).await
    }

    /// As [`Runtime::end_grant`], naming what acted for the audit trail (`api:jira`).
    pub async fn end_grant_via(
        &self,
        grant: &str,
        by: &str,
        how: GrantEnd,
        via: Option<String>,
        now: Timestamp,
    ) -> Result<GrantView, RuntimeError> {
        self.submit(Work::EndGrant { grant: grant.to_owned(), by: by.to_owned(), how, via, at: now }).await?;
        view::grant(&self.inner.store, grant).await?.ok_or_else(|| RuntimeError::UnknownGrant(grant.to_owned()))
    }

    /// Deletes remembered callback ids whose replay window has passed; the timer loop does this every minute.
    pub async fn purge_callbacks(&self) -> Result<u64, RuntimeError> {
        Ok(timers::purge_callbacks(&self.inner).await?)
    }

    /// Appends rows to the audit trail (e.g. a refused callback).
    pub async fn audit(&self, entries: Vec<crate::audit::Entry>) -> Result<(), RuntimeError> {
        self.submit(Work::Audit(entries)).await.map(|_| ())
    }

    /// A stored request.
    pub async fn request(&self, id: &str) -> Result<Option<RequestView>, RuntimeError> {
        Ok(view::request(&self.inner.store, &self.inner.catalog.load(), id).await?)
    }

    /// A page of requests, newest first.
    pub async fn list(&self, filter: &view::Filter) -> Result<Vec<RequestView>, RuntimeError> {
        let mut filter = filter.clone();
        if let Some(a) = &filter.approver {
            filter.approver = Some(self.user_id(a)?);
        }
        if let Some(r) = &filter.requester {
            filter.requester = Some(self.user_id(r)?);
        }
        Ok(view::list(&self.inner.store, &self.inner.catalog.load(), &filter).await?)
    }

    /// Makes one change to the people provisioned through SCIM, durably and audited (`via` names the token). Every
    /// replica's catalog follows within [`Tuning::people_poll`].
    pub async fn provision(&self, change: crate::people::Change, via: Option<String>) -> Result<(), RuntimeError> {
        self.submit(Work::People { change, via, at: crate::time::now() }).await.map(|_| ())
    }

    /// The directory id of a person named by id or email.
    pub fn user_id(&self, who: &str) -> Result<String, RuntimeError> {
        self.inner
            .catalog
            .load()
            .directory
            .user(who.trim())
            .map(|u| u.id.clone())
            .ok_or_else(|| RuntimeError::Lookup(LookupError::UnknownUser(who.to_owned())))
    }
}

/// How many distinct values `asked` holds, or `default` when it is empty (no roles: one item; nobody named: the
/// requester).
fn count_distinct<T: Eq + std::hash::Hash>(default: usize, asked: &[T]) -> usize {
    if asked.is_empty() { default } else { asked.iter().collect::<std::collections::HashSet<_>>().len() }
}

/// A request id: `req_` and a lower-case ULID, so ids sort by creation time and never collide.
fn new_request_id(now: Timestamp) -> String {
    let ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
    format!("req_{}", ulid::Ulid::from_parts(ms, rand::random::<u128>()).to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_sort_by_time_and_differ() {
        let a = new_request_id("2026-11-23T09:00:00Z".parse().unwrap());
        let b = new_request_id("2026-11-23T09:00:01Z".parse().unwrap());
        let c = new_request_id("2026-11-23T09:00:01Z".parse().unwrap());
        assert!(a < b, "{a} {b}");
        assert_ne!(b, c);
        assert_eq!(a.len(), 4 + 26);
    }
}
