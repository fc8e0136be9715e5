//! `signoff audit verify`: the audit trail proves itself (DESIGN 7.3).
//!
//! Four checks, each for an attack the others miss:
//!
//! 1. **The hash chain** (every row hashes the previous row's hash and its own content; the head row records
//!    the last): catches an edited, deleted, inserted or reordered row, or a cut tail, by someone who did not
//!    recompute the hashes.
//! 2. **Signed checkpoints** (with a key: the config's `[audit] signing_key` or `--public-key`): anyone who can
//!    write the database can recompute every hash, but not sign. Each checkpoint's signature must verify, and
//!    its hash must be the chain's at its row (else the chain was recomputed); the latest must not name a row
//!    past the chain's end (else the tail was cut) and no row may come after it (else rows were appended,
//!    because every commit writes one when signing is on); rows with no checkpoint at all were not signed.
//!    Checkpoints under another key (before a rotation) are checked with that key when it is given as an
//!    earlier key (`--earlier-key`), else counted and reported as not checked; the latest must be under the
//!    current key either way, so a retired (perhaps leaked) key cannot sign rows appended after the rotation.
//! 3. **An expected head** (`--expect-head`, the line `signoff audit head` printed earlier and kept elsewhere):
//!    a tail cut back to an earlier checkpoint, with the later checkpoints deleted too, leaves a chain that
//!    checks 1 and 2 accept; only a head kept outside the database shows that the chain once went further.
//! 4. **Replay** ([`super::replay`]): the chain says what happened; `items` and `grants` say what is, and
//!    nothing signs them. Every item is rebuilt through the engine from its audit rows and compared whole.
//!
//! Scale: a trail of millions of rows is read in pages, never whole, inside two read transactions that see the
//! same commit (they read the same `audit_head`; on PostgreSQL they are `REPEATABLE READ`), so rows written
//! while it runs change nothing. Three lines of work run side by side, so that two cores are kept busy: the
//! chain (a task reads pages of rows and hashes each as it reads it; a thread follows the links and compares
//! the checkpoints), the signatures (a thread checks them in batches), and the replay (a task reads a page of
//! requests at a time and replays it). Memory is bounded by a few pages: about 70 to 110 MB at a million items
//! (BENCHMARKS.md).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use ed25519_dalek::VerifyingKey;
use sqlx::{Any, Row, Transaction};
use tokio::sync::mpsc;

use super::checkpoint::{self, BadCheckpoint, Checkpoint};
use super::replay::{self, AuditRow, Catalogs, Counts, GrantRow, ItemRow, REPLAYED_KINDS};
use super::{Canonical, GENESIS, keys};
use crate::catalog::{Catalog, Snapshot};
use crate::store::{Backend, Store};

/// Rows of the chain read per query.
const CHAIN_PAGE: i64 = 5_000;
/// Requests replayed per page (their items, grants and audit rows are read by request id range).
const REQUEST_PAGE: i64 = 500;
/// Signatures checked in one batch (a larger batch amortises more of the multi-scalar multiplication: 11 µs a
/// signature at 1,024 against 12 at 256 and 17 at 64, measured on the benchmark machine).
const SIGNATURE_BATCH: usize = 1024;
/// Pages read ahead of the thread working on them: the bound on memory.
const READ_AHEAD: usize = 2;
/// Problems listed; past this many they are only counted (a broken trail does not print a million lines).
const MAX_LISTED: usize = 50;

/// What to check besides the chain.
pub struct Options {
    /// The public key checkpoints are signed with; `None`: signatures are not checked (and said so).
    pub key: Option<VerifyingKey>,
    /// Keys the trail was signed with before a rotation: checkpoints under them are checked with them too. The
    /// latest checkpoint must still be under [`key`](Self::key). Ignored without `key`.
    pub earlier_keys: Vec<VerifyingKey>,
    /// A head kept outside the database, which the chain must contain.
    pub expect_head: Option<Checkpoint>,
    /// Loads the current config's catalog, called at most once and only if some row names no catalog
    /// snapshot (rows written before snapshots were recorded).
    pub current_catalog: Box<dyn FnOnce() -> Result<Catalog, String> + Send>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            key: None,
            earlier_keys: Vec::new(),
            expect_head: None,
            current_catalog: Box::new(|| Err("no current directory and policies were given".to_owned())),
        }
    }
}

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// An audit row, by sequence number.
    Row(i64),
    /// A checkpoint, by the row it names.
    Checkpoint(i64),
    /// An item, by id.
    Item(String),
    /// A catalog snapshot, by id.
    Catalog(String),
    /// The expected head given with `--expect-head`.
    ExpectedHead,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Row(seq) => write!(f, "row {seq}"),
            Place::Checkpoint(seq) => write!(f, "checkpoint at row {seq}"),
            Place::Item(id) => write!(f, "item {id}"),
            Place::Catalog(id) => write!(f, "catalog snapshot {id}"),
            Place::ExpectedHead => f.write_str("expected head"),
        }
    }
}

/// One thing that does not check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub place: Place,
    /// What, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// Problems found, the first 50 listed.
#[derive(Debug, Default, Clone)]
pub struct Problems {
    /// The first ones.
    pub listed: Vec<Problem>,
    /// How many in all.
    pub total: u64,
}

impl Problems {
    pub(crate) fn push(&mut self, place: Place, message: impl Into<String>) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(Problem { place, message: message.into() });
        }
    }

    fn extend(&mut self, other: Problems) {
        let unlisted = other.total - other.listed.len() as u64;
        for p in other.listed {
            self.push(p.place, p.message);
        }
        self.total += unlisted;
    }
}

/// What the checkpoints showed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointCounts {
    /// Checkpoints stored (within the chain and past its end).
    pub total: u64,
    /// Signatures checked with the given key or an earlier key.
    pub checked: u64,
    /// Under another key id (before a rotation): hashes compared, signatures not checked.
    pub other_key: u64,
    /// Not checked at all for want of a key.
    pub unchecked: u64,
    /// The latest stored checkpoint.
    pub latest: Option<Checkpoint>,
}

/// What `verify` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows in the chain.
    pub rows: i64,
    /// The id of the key signatures were checked with, if any.
    pub key_id: Option<String>,
    /// The ids of the earlier keys given, checked too (none without `key_id`).
    pub earlier_key_ids: Vec<String>,
    /// Checkpoints.
    pub checkpoints: CheckpointCounts,
    /// Whether the expected head was found (and its signature checked, with a key).
    pub expected_head: Option<bool>,
    /// Replay counts.
    pub replay: Counts,
    /// Catalog snapshots replay used.
    pub catalogs: usize,
    /// Whether some rows named no snapshot and were replayed on the current catalog.
    pub used_current_catalog: bool,
    /// Everything that did not check out.
    pub problems: Problems,
    /// How long it took.
    pub elapsed: StdDuration,
    /// When the chain walk (with the signatures) finished, from the start.
    pub chain_elapsed: StdDuration,
    /// When the replay finished, from the start.
    pub replay_elapsed: StdDuration,
}

impl Report {
    /// Whether everything checked out.
    pub fn is_intact(&self) -> bool {
        self.problems.total == 0
    }

    /// The report in lines, for people: a verdict, then what was checked, then each problem.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_intact() {
            out.push(format!("audit trail intact: {} rows", self.rows));
        } else {
            let n = self.problems.total;
            out.push(format!(
                "audit trail NOT intact: {n} problem{} ({} rows)",
                if n == 1 { "" } else { "s" },
                self.rows
            ));
        }
        let c = &self.checkpoints;
        match &self.key_id {
            Some(id) => out.push(format!(
                "checkpoints: {} signature{} checked with key {id}{}, {} under other keys not checked, {} in all",
                c.checked,
                if c.checked == 1 { "" } else { "s" },
                match self.earlier_key_ids.as_slice() {
                    [] => String::new(),
                    [one] => format!(" and earlier key {one}"),
                    many => format!(" and earlier keys {}", many.join(", ")),
                },
                c.other_key,
                c.total
            )),
            None => out.push(format!(
                "checkpoints: signatures were NOT checked (no key: set [audit] signing_key or pass --public-key); \
                 {} checkpoints compared with the chain only",
                c.total
            )),
        }
        if let Some(l) = &c.latest {
            out.push(format!("latest checkpoint: row {} hash {} key {} at {}", l.seq, l.hash, l.key_id, l.at));
        }
        match self.expected_head {
            Some(true) => out.push("expected head: found in the chain".to_owned()),
            Some(false) => out.push("expected head: NOT found".to_owned()),
            None => {}
        }
        let r = &self.replay;
        out.push(format!(
            "replay: {} items of {} requests replayed ({} events) on {} catalog snapshot{}{}{}",
            r.items,
            r.requests,
            r.events,
            self.catalogs,
            if self.catalogs == 1 { "" } else { "s" },
            if self.used_current_catalog { " and the current catalog (rows that name none)" } else { "" },
            if r.skipped > 0 {
                format!("; {} not replayed for want of their catalog", r.skipped)
            } else {
                String::new()
            },
        ));
        out.push(format!(
            "time: {:.2}s (chain and checkpoints {:.2}s, replay {:.2}s, side by side)",
            self.elapsed.as_secs_f64(),
            self.chain_elapsed.as_secs_f64(),
            self.replay_elapsed.as_secs_f64()
        ));
        for p in &self.problems.listed {
            out.push(p.to_string());
        }
        let unlisted = self.problems.total - self.problems.listed.len() as u64;
        if unlisted > 0 {
            out.push(format!("... and {unlisted} more"));
        }
        out
    }
}

/// Why verification could not run at all (as opposed to finding problems).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading failed.
    #[error("cannot read the audit trail: {0}")]
    Store(#[from] sqlx::Error),
    /// The two read transactions never saw the same commit.
    #[error("the audit trail kept changing while verify started; try again")]
    Moving,
    /// A task panicked or was cancelled.
    #[error("verification stopped: {0}")]
    Stopped(String),
}

/// Runs every check. Problems are in the report; an error means the checks could not run.
pub async fn verify(store: &Store, options: Options) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let (chain_tx, replay_tx) = snapshot_pair(store).await?;
    let key = options.key;
    // Earlier keys only beside a current one, each once, and never the current key again.
    let current_id = key.as_ref().map(keys::key_id);
    let mut earlier: Vec<VerifyingKey> = Vec::new();
    if current_id.is_some() {
        for k in options.earlier_keys {
            let id = Some(keys::key_id(&k));
            if id != current_id && !earlier.iter().any(|e| Some(keys::key_id(e)) == id) {
                earlier.push(k);
            }
        }
    }
    let earlier_key_ids = earlier.iter().map(keys::key_id).collect();

    // The chain: a task reads pages and hashes each row as it reads it (so the rows are freed by the thread that
    // allocated them), a thread follows the links and the checkpoints, and another checks signatures.
    let (pages, chain_pages) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_chain(chain_tx, pages));
    let expect = options.expect_head.clone();
    let walker = tokio::task::spawn_blocking(move || {
        let result = walk_chain(chain_pages, key, earlier, expect);
        (result, started.elapsed())
    });
    // The replay: a task reads a page of requests and replays it, while the chain runs beside it.
    let current = options.current_catalog;
    let replayer = tokio::spawn(async move {
        let result = replay_all(replay_tx, current).await;
        result.map(|r| (r, started.elapsed()))
    });

    let stopped = |e: tokio::task::JoinError| VerifyError::Stopped(e.to_string());
    let (chain, chain_elapsed) = walker.await.map_err(stopped)?;
    let (replayed, replay_elapsed) = replayer.await.map_err(stopped)??;
    // A reader whose walker stopped early ends with a closed channel, which is not an error.
    reader.await.map_err(stopped)??;

    let mut problems = chain.problems;
    problems.extend(replayed.problems);
    Ok(Report {
        rows: chain.rows,
        key_id: current_id,
        earlier_key_ids,
        checkpoints: chain.checkpoints,
        expected_head: chain.expected_head,
        replay: replayed.counts,
        catalogs: replayed.catalogs,
        used_current_catalog: replayed.used_current,
        problems,
        elapsed: started.elapsed(),
        chain_elapsed,
        replay_elapsed,
    })
}

/// Two read transactions that see the same commit: each reads `audit_head`, and they are retried until both
/// read the same. Every commit that changes items or grants appends audit rows, so the same head means the same
/// items, grants and rows.
async fn snapshot_pair(store: &Store) -> Result<(ReadTx, ReadTx), VerifyError> {
    let sqlite = match store.sqlite_url() {
        Some(url) => Some(sqlite_readers(url).await?),
        None => None,
    };
    for _ in 0..20 {
        let mut a = begin_read(store, sqlite.as_ref()).await?;
        let ha = head(&mut a).await?;
        let mut b = begin_read(store, sqlite.as_ref()).await?;
        let hb = head(&mut b).await?;
        if ha == hb {
            return Ok((a, b));
        }
        drop((a, b));
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    Err(VerifyError::Moving)
}

/// A read transaction on either backend. On SQLite it runs on SQLite's own driver: through `Any` every row is
/// converted and copied once more, and the driver hands rows over in batches of [`SQLITE_ROW_BUFFER`] rather
/// than its default 50, so its thread and ours switch far less often (together about 40% less time to read
/// a million rows, measured).
enum ReadTx {
    Any(Transaction<'static, Any>),
    Sqlite(Transaction<'static, sqlx::Sqlite>),
}

/// Rows SQLite's driver thread may run ahead of the reader.
const SQLITE_ROW_BUFFER: usize = 4096;

/// A pool of two read-only connections to the SQLite file, one per read transaction.
async fn sqlite_readers(url: &str) -> Result<sqlx::SqlitePool, sqlx::Error> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .read_only(true)
        .row_buffer_size(SQLITE_ROW_BUFFER)
        .busy_timeout(StdDuration::from_secs(10));
    sqlx::sqlite::SqlitePoolOptions::new().max_connections(2).connect_with(options).await
}

/// A read-only transaction whose snapshot is taken by its first read (SQLite takes it then; on PostgreSQL,
/// `REPEATABLE READ` keeps the first statement's snapshot for the whole transaction).
async fn begin_read(store: &Store, sqlite: Option<&sqlx::SqlitePool>) -> Result<ReadTx, sqlx::Error> {
    if let Some(pool) = sqlite {
        return Ok(ReadTx::Sqlite(pool.begin().await?));
    }
    let mut tx = store.reader().begin().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    }
    Ok(ReadTx::Any(tx))
}

/// A parameter of a [`fetch!`] query.
enum Bind {
    Int(i64),
    Text(String),
}

/// Runs `$sql` with `$binds` in a [`ReadTx`] and maps each row with `$map` (in which `$r` is the row, of either
/// driver's row type: the body is compiled once per driver).
macro_rules! fetch {
    ($tx:expr, $sql:expr, $binds:expr, |$r:ident| $map:expr) => {{
        let sql: String = $sql;
        let binds: Vec<Bind> = $binds;
        match $tx {
            ReadTx::Any(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = match b {
                        Bind::Int(v) => q.bind(v),
                        Bind::Text(v) => q.bind(v),
                    };
                }
                let rows = q.fetch_all(&mut **tx).await?;
                rows.iter().map(|$r| -> Result<_, sqlx::Error> { Ok($map) }).collect::<Result<Vec<_>, _>>()?
            }
            ReadTx::Sqlite(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = match b {
                        Bind::Int(v) => q.bind(v),
                        Bind::Text(v) => q.bind(v),
                    };
                }
                let rows = q.fetch_all(&mut **tx).await?;
                rows.iter().map(|$r| -> Result<_, sqlx::Error> { Ok($map) }).collect::<Result<Vec<_>, _>>()?
            }
        }
    }};
}

async fn head(tx: &mut ReadTx) -> Result<(i64, String), sqlx::Error> {
    let rows: Vec<(i64, String)> =
        fetch!(tx, "SELECT seq, hash FROM audit_head WHERE id = 1".to_owned(), vec![], |r| (
            r.try_get(0)?,
            r.try_get(1)?
        ));
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

/// Checkpoints (`seq, hash, key_id, signature, at` selected by `sql`).
async fn checkpoints(tx: &mut ReadTx, sql: &str, binds: Vec<Bind>) -> Result<Vec<Checkpoint>, sqlx::Error> {
    Ok(fetch!(tx, sql.to_owned(), binds, |r| Checkpoint {
        seq: r.try_get(0)?,
        hash: r.try_get(1)?,
        key_id: r.try_get(2)?,
        signature: r.try_get(3)?,
        at: crate::store::from_ms(r.try_get(4)?),
    }))
}

// ---------------------------------------------------------------------------------------------------------
// The chain and its checkpoints

/// A chain row, hashed as it was read: its stored links and whether its content still hashes to its stored hash.
struct Checked {
    seq: i64,
    /// The stored `prev_hash` (zeros when it is not 64 characters: it then links to nothing).
    prev: [u8; 64],
    /// The stored `hash`.
    hash: [u8; 64],
    /// `SHA-256(prev_hash || content) == hash`.
    content_ok: bool,
}

/// 64 bytes of a stored hash, or zeros (which match no hash) when it is not 64 bytes long.
fn hash64(s: &str) -> [u8; 64] {
    s.as_bytes().try_into().unwrap_or([0; 64])
}

enum ChainPage {
    /// Rows in sequence order, and the checkpoints whose rows are among them (or before the first row).
    Rows(Vec<Checked>, Vec<Checkpoint>),
    /// After the last row: the head row, the checkpoints naming rows past the chain's end (how many, and the
    /// latest), and the latest checkpoint of all.
    End { head: (i64, String), beyond: i64, latest_beyond: Option<Checkpoint>, latest: Option<Checkpoint> },
}

/// Reads the chain in pages, with the checkpoints of each page's rows.
async fn read_chain(mut tx: ReadTx, out: mpsc::Sender<ChainPage>) -> Result<(), sqlx::Error> {
    const COLUMNS: &str = "seq, hash, key_id, signature, at";
    let mut after = i64::MIN;
    loop {
        let page: Vec<Checked> = fetch!(
            &mut tx,
            "SELECT seq, at, request_id, item_id, kind, actor, detail, prev_hash, hash FROM audit \
             WHERE seq > $1 ORDER BY seq LIMIT $2"
                .to_owned(),
            vec![Bind::Int(after), Bind::Int(CHAIN_PAGE)],
            |r| {
                // Read in place (no copy of the row's text) and hashed here, once.
                let prev: &str = r.try_get(7)?;
                let stored: &str = r.try_get(8)?;
                let computed = Canonical {
                    seq: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    request_id: r.try_get(2)?,
                    item_id: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    actor: r.try_get(5)?,
                    detail: r.try_get(6)?,
                }
                .hash_hex(prev);
                Checked {
                    seq: r.try_get(0)?,
                    prev: hash64(prev),
                    hash: hash64(stored),
                    content_ok: computed.as_slice() == stored.as_bytes(),
                }
            }
        );
        let Some(last) = page.last().map(|r| r.seq) else { break };
        let within = checkpoints(
            &mut tx,
            &format!("SELECT {COLUMNS} FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq"),
            vec![Bind::Int(after), Bind::Int(last)],
        )
        .await?;
        if out.send(ChainPage::Rows(page, within)).await.is_err() {
            return Ok(());
        }
        after = last;
    }
    let head = head(&mut tx).await?;
    let beyond: Vec<i64> = fetch!(
        &mut tx,
        "SELECT COUNT(*) FROM audit_checkpoints WHERE seq > $1".to_owned(),
        vec![Bind::Int(after)],
        |r| r.try_get(0)?
    );
    let latest_beyond = checkpoints(
        &mut tx,
        &format!("SELECT {COLUMNS} FROM audit_checkpoints WHERE seq > $1 ORDER BY seq DESC LIMIT 1"),
        vec![Bind::Int(after)],
    )
    .await?
    .pop();
    let latest =
        checkpoints(&mut tx, &format!("SELECT {COLUMNS} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"), vec![])
            .await?
            .pop();
    let beyond = beyond.first().copied().unwrap_or(0);
    let _ = out.send(ChainPage::End { head, beyond, latest_beyond, latest }).await;
    Ok(())
}

/// What the chain walk found.
struct ChainResult {
    rows: i64,
    checkpoints: CheckpointCounts,
    expected_head: Option<bool>,
    problems: Problems,
}

/// Walks the chain (check 1), compares every checkpoint with it and has the signatures checked (check 2), and
/// looks for the expected head (check 3). Stops at the first broken row: past it, every row would be reported.
fn walk_chain(
    mut pages: mpsc::Receiver<ChainPage>,
    key: Option<VerifyingKey>,
    earlier: Vec<VerifyingKey>,
    expect: Option<Checkpoint>,
) -> ChainResult {
    let mut problems = Problems::default();
    let mut counts = CheckpointCounts::default();
    let key_id = key.as_ref().map(keys::key_id);
    // Every key given (the current one first, then the earlier ones) by id, each with its own checker thread.
    let given: Vec<(String, VerifyingKey)> = key.iter().chain(&earlier).map(|k| (keys::key_id(k), *k)).collect();
    let key_for = |id: &str| given.iter().find(|(i, _)| i == id).map(|(_, k)| k);
    let mut signatures: Vec<(String, SignatureChecker)> =
        given.iter().map(|(id, k)| (id.clone(), SignatureChecker::start(*k))).collect();
    let mut expected_seq = 1_i64;
    let mut prev: [u8; 64] = hash64(GENESIS);
    let mut expected_hash_at_seq: Option<String> = None;
    let mut broken = false;
    let mut end = None;
    while let Some(page) = pages.blocking_recv() {
        let (rows, checkpoints) = match page {
            ChainPage::Rows(rows, checkpoints) => (rows, checkpoints),
            ChainPage::End { head, beyond, latest_beyond, latest } => {
                end = Some((head, beyond, latest_beyond, latest));
                break;
            }
        };
        // (seq, hash) of this page's rows that checked out, for the checkpoints.
        let mut hashes: Vec<(i64, [u8; 64])> = Vec::with_capacity(rows.len());
        for r in &rows {
            if r.seq != expected_seq {
                problems.push(
                    Place::Row(r.seq),
                    format!("row {expected_seq} is missing (found {} next): rows were deleted", r.seq),
                );
                broken = true;
                break;
            }
            if r.prev != prev {
                problems.push(
                    Place::Row(r.seq),
                    "does not follow the previous row: rows were deleted, inserted or reordered",
                );
                broken = true;
                break;
            }
            if !r.content_ok {
                problems.push(Place::Row(r.seq), "its content was edited (hash mismatch)");
                broken = true;
                break;
            }
            if expect.as_ref().is_some_and(|e| e.seq == r.seq) {
                expected_hash_at_seq = Some(String::from_utf8_lossy(&r.hash).into_owned());
            }
            prev = r.hash;
            hashes.push((r.seq, r.hash));
            expected_seq += 1;
        }
        for c in checkpoints {
            counts.total += 1;
            // A checkpoint's hash must be the chain's at its row: the chain was recomputed if not.
            match hashes.binary_search_by_key(&c.seq, |(s, _)| *s) {
                Ok(i) if hashes[i].1.as_slice() != c.hash.as_bytes() => problems.push(
                    Place::Checkpoint(c.seq),
                    format!(
                        "it signs hash {} but row {} has hash {}: the chain was rewritten after it was signed",
                        c.hash,
                        c.seq,
                        String::from_utf8_lossy(&hashes[i].1)
                    ),
                ),
                Ok(_) => {}
                // Past the first broken row (already reported), or a checkpoint of a row that never existed.
                Err(_) if broken => {}
                Err(_) => problems.push(Place::Checkpoint(c.seq), "names a row the chain does not have"),
            }
            match signatures.iter_mut().find(|(id, _)| *id == c.key_id) {
                Some((_, s)) => {
                    counts.checked += 1;
                    s.check(c);
                }
                None if given.is_empty() => counts.unchecked += 1,
                None => counts.other_key += 1,
            }
        }
        if broken {
            break;
        }
    }
    drop(pages);
    let rows = expected_seq - 1;
    let mut bad: Vec<(i64, BadCheckpoint)> = signatures.into_iter().flat_map(|(_, s)| s.finish()).collect();
    bad.sort_by_key(|(seq, _)| *seq);
    for (seq, why) in bad {
        problems.push(Place::Checkpoint(seq), why.to_string());
    }
    let mut expected_head = None;
    if let Some(((head_seq, head_hash), beyond, latest_beyond, latest)) = end.filter(|_| !broken) {
        if head_seq != rows || head_hash.as_bytes() != prev.as_slice() {
            problems.push(
                Place::Row(head_seq),
                format!(
                    "the chain ends at row {rows} but its head records row {head_seq}: rows at the end were deleted"
                ),
            );
        }
        counts.total += u64::try_from(beyond).unwrap_or(0);
        if let Some(b) = &latest_beyond {
            // A signed head past the chain's end: the tail was cut after it was signed.
            problems.push(
                Place::Checkpoint(b.seq),
                format!(
                    "the latest checkpoint names row {} but the chain ends at row {rows}: rows at the end were deleted \
                     ({beyond} checkpoint{} past the end)",
                    b.seq,
                    if beyond == 1 { "" } else { "s" }
                ),
            );
            if let Some(key) = key_for(&b.key_id) {
                counts.checked += 1;
                if let Err(why) = b.verify(key) {
                    problems.push(Place::Checkpoint(b.seq), why.to_string());
                }
            }
        }
        counts.latest = latest.clone();
        if let Some(id) = &key_id {
            match &latest {
                None if rows > 0 => problems.push(
                    Place::Row(1),
                    format!(
                        "no signed checkpoint covers the trail's {rows} rows: they were written without the signing \
                         key, or the checkpoints were deleted"
                    ),
                ),
                None => {}
                Some(l) => {
                    if &l.key_id != id {
                        problems.push(
                            Place::Checkpoint(l.seq),
                            format!("the latest checkpoint is signed by key {}, not by the given key {id}", l.key_id),
                        );
                    }
                    if l.seq < rows {
                        // Every commit writes a checkpoint while signing is on: later rows were added by someone
                        // without the key (or signing was turned off since).
                        problems.push(
                            Place::Row(l.seq + 1),
                            format!(
                                "rows {}..{rows} come after the latest signed checkpoint (row {}): they were appended \
                                 without the signing key",
                                l.seq + 1,
                                l.seq
                            ),
                        );
                    }
                }
            }
        }
        if let Some(e) = &expect {
            let mut ok = true;
            if e.seq > rows {
                problems.push(
                    Place::ExpectedHead,
                    format!(
                        "the chain ends at row {rows}, before the expected head at row {}: rows at the end were deleted",
                        e.seq
                    ),
                );
                ok = false;
            } else if expected_hash_at_seq.as_deref() != Some(e.hash.as_str()) {
                problems.push(
                    Place::ExpectedHead,
                    format!(
                        "row {} has hash {}, not the expected head's {}: the chain was rewritten",
                        e.seq,
                        expected_hash_at_seq.as_deref().unwrap_or("(none)"),
                        e.hash
                    ),
                );
                ok = false;
            }
            // A head kept before a rotation is signed by an earlier key; any other is checked with the current one.
            if let Some(key) = key_for(&e.key_id).or(key.as_ref())
                && let Err(why) = e.verify(key)
            {
                problems.push(Place::ExpectedHead, why.to_string());
                ok = false;
            }
            expected_head = Some(ok);
        }
    } else if expect.is_some() {
        expected_head = Some(false);
    }
    ChainResult { rows, checkpoints: counts, expected_head, problems }
}

/// Checks signatures in batches on a thread of its own, beside the chain walk.
struct SignatureChecker {
    batch: Vec<Checkpoint>,
    to_thread: mpsc::Sender<Vec<Checkpoint>>,
    thread: std::thread::JoinHandle<Vec<(i64, BadCheckpoint)>>,
}

impl SignatureChecker {
    fn start(key: VerifyingKey) -> SignatureChecker {
        let (to_thread, mut batches) = mpsc::channel::<Vec<Checkpoint>>(READ_AHEAD);
        let thread = std::thread::spawn(move || {
            let mut bad = Vec::new();
            while let Some(batch) = batches.blocking_recv() {
                for i in checkpoint::verify_many(&key, &batch) {
                    let why = batch[i].verify(&key).err().unwrap_or(BadCheckpoint::Invalid);
                    bad.push((batch[i].seq, why));
                }
            }
            bad
        });
        SignatureChecker { batch: Vec::with_capacity(SIGNATURE_BATCH), to_thread, thread }
    }

    fn check(&mut self, c: Checkpoint) {
        self.batch.push(c);
        if self.batch.len() >= SIGNATURE_BATCH {
            let full = std::mem::replace(&mut self.batch, Vec::with_capacity(SIGNATURE_BATCH));
            let _ = self.to_thread.blocking_send(full);
        }
    }

    /// The checkpoints whose signature does not verify, in order.
    fn finish(self) -> Vec<(i64, BadCheckpoint)> {
        let rest = self.batch;
        if !rest.is_empty() {
            let _ = self.to_thread.blocking_send(rest);
        }
        drop(self.to_thread);
        let mut bad = self.thread.join().unwrap_or_default();
        bad.sort_by_key(|(seq, _)| *seq);
        bad
    }
}

// ---------------------------------------------------------------------------------------------------------
// Replay

/// The replayed audit rows of a range of request ids (`range` binds `$1` and maybe `$2`). Its `kind IN (...)`
/// is the predicate of the partial index `audit_replay` (migration 0006), so the index serves it.
fn replay_audit_sql(range: &str) -> String {
    let kinds = REPLAYED_KINDS.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    format!(
        "SELECT seq, at, request_id, item_id, kind, actor, detail FROM audit WHERE {range} AND kind IN ({kinds}) \
         ORDER BY request_id, seq"
    )
}

/// What replay found.
struct ReplayResult {
    counts: Counts,
    catalogs: usize,
    used_current: bool,
    problems: Problems,
}

/// Reads requests in id order, a page at a time, with everything stored under the request ids of the page's
/// range, and replays them. The ranges cover every id from the first page to the last, so a row whose request
/// does not exist (or was deleted) is read too, with its neighbours. The catalog snapshots rows name are read
/// and built the first time a page needs them.
async fn replay_all(
    mut tx: ReadTx,
    current: Box<dyn FnOnce() -> Result<Catalog, String> + Send>,
) -> Result<ReplayResult, sqlx::Error> {
    let mut problems = Problems::default();
    let mut counts = Counts::default();
    let mut catalogs = Catalogs::default();
    let mut current = Some(current);
    let mut used_current = false;
    let mut lo = String::new();
    loop {
        let ids: Vec<String> = fetch!(
            &mut tx,
            "SELECT id FROM requests WHERE id > $1 ORDER BY id LIMIT $2".to_owned(),
            vec![Bind::Text(lo.clone()), Bind::Int(REQUEST_PAGE)],
            |r| r.try_get(0)?
        );
        // The last page reaches to the end of the key space (bounded by whatever is there).
        let hi = if (ids.len() as i64) < REQUEST_PAGE { None } else { ids.last().cloned() };
        let (range, binds) = match &hi {
            Some(h) => ("request_id > $1 AND request_id <= $2", vec![lo.clone(), h.clone()]),
            None => ("request_id > $1", vec![lo.clone()]),
        };
        let binds = || binds.iter().cloned().map(Bind::Text).collect::<Vec<_>>();
        // Columns by position: looking each up by name was a measurable share of reading millions of rows.
        let audit: Vec<AuditRow> = fetch!(&mut tx, replay_audit_sql(range), binds(), |r| AuditRow {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            request_id: r.try_get(2)?,
            item_id: r.try_get(3)?,
            kind: r.try_get(4)?,
            actor: r.try_get(5)?,
            detail: r.try_get(6)?,
        });
        let items: Vec<ItemRow> =
            fetch!(&mut tx, format!("SELECT id, request_id, status, state FROM items WHERE {range}"), binds(), |r| {
                ItemRow { id: r.try_get(0)?, request_id: r.try_get(1)?, status: r.try_get(2)?, state: r.try_get(3)? }
            });
        let grants: Vec<GrantRow> = fetch!(
            &mut tx,
            format!(
                "SELECT id, request_id, user_id, resource, role, granted_at, expires_at, ended_at, end_reason \
                 FROM grants WHERE {range}"
            ),
            binds(),
            |r| GrantRow {
                id: r.try_get(0)?,
                request_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                resource: r.try_get(3)?,
                role: r.try_get(4)?,
                granted_at: r.try_get(5)?,
                expires_at: r.try_get(6)?,
                ended_at: r.try_get(7)?,
                end_reason: r.try_get(8)?,
            }
        );
        let mut needs_current = false;
        for named in audit.iter().map(|r| replay::catalog_id(&r.detail)) {
            let Some(id) = named else {
                needs_current = true;
                continue;
            };
            if catalogs.by_id.contains_key(&id) {
                continue;
            }
            let source: Vec<String> = fetch!(
                &mut tx,
                "SELECT source FROM catalogs WHERE id = $1".to_owned(),
                vec![Bind::Text(id.clone())],
                |r| r.try_get(0)?
            );
            let built = match source.into_iter().next() {
                None => Err("is named by audit rows but is not stored: it was deleted".to_owned()),
                Some(json) => Snapshot::read(&id, &json).map_err(|e| e.to_string()).and_then(|s| {
                    Catalog::from_source(&s).map_err(|d| format!("does not load with this version of signoff:\n{d}"))
                }),
            };
            if let Err(e) = &built {
                problems.push(Place::Catalog(id.clone()), e.clone());
            }
            catalogs.by_id.insert(id, built.ok().map(Arc::new));
        }
        if needs_current && catalogs.current.is_none() {
            let load = current.take().map_or_else(|| Err("already tried".to_owned()), |f| f());
            if let Err(e) = &load {
                problems.push(
                    Place::Catalog("(current)".to_owned()),
                    format!(
                        "some audit rows name no catalog snapshot (written before snapshots were recorded) and the \
                         current directory and policies do not load to replay them: {e}"
                    ),
                );
            }
            used_current = load.is_ok();
            catalogs.current = Some(load.ok().map(Arc::new));
        }
        for (id, rows) in replay::group(audit, items, grants) {
            replay::request(&id, &rows, &catalogs, &mut problems, &mut counts);
        }
        match hi {
            Some(h) => lo = h,
            None => break,
        }
    }
    let loaded = catalogs.by_id.values().filter(|c| c.is_some()).count();
    Ok(ReplayResult { counts, catalogs: loaded, used_current, problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The replay's query and the partial index must name the same kinds, or SQLite falls back to reading every
    /// row of every request.
    #[tokio::test]
    async fn the_replay_query_is_served_by_the_partial_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", replay_audit_sql("request_id > $1 AND request_id <= $2"));
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind("a")
            .bind("b")
            .fetch_all(store.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        assert!(plan.iter().any(|d| d.contains("USING INDEX audit_replay")), "{plan:?}");
        store.close().await;
    }
}
