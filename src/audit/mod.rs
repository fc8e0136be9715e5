//! The audit trail: append-only and hash-chained.
//!
//! Row `n` stores `hash_n = SHA-256(hash_{n-1} || canonical(row_n))`, where the canonical form is a JSON
//! array of the row's columns. Editing a row changes its hash; deleting or reordering rows breaks the chain
//! of `prev_hash`; the one-row `audit_head` records the last sequence number and hash, so truncating the
//! tail is caught too, unless whoever did it recomputed the hashes: with `[audit] signing_key` each commit also
//! stores a signed checkpoint of the head ([`checkpoint`]), which nobody without the key can recompute.
//! `signoff audit verify` ([`verify::verify`]) checks the chain, the checkpoints, and every item replayed from the
//! trail ([`replay`]).
//!
//! Appends lock `audit_head` in the writing transaction, so on PostgreSQL replicas take turns and the chain
//! never forks; on SQLite the single writer connection does the same.

pub mod checkpoint;
pub mod keys;
pub mod replay;
pub mod verify;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

pub use checkpoint::{Checkpoint, Signer};

use crate::catalog::Snapshot;
use crate::store::rows::{Inserts, Val};
use crate::store::{Store, from_ms, ms};
use crate::time::Timestamp;

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A row to append.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// When it happened.
    pub at: Timestamp,
    /// The request concerned.
    pub request_id: Option<String>,
    /// The item concerned.
    pub item_id: Option<String>,
    /// What happened: `requested`, `plan`, `prompt.sent`, `decision`, `refused`, ...
    pub kind: String,
    /// Who did it (a user id, `system`, or a platform user for refused callbacks).
    pub actor: Option<String>,
    /// Details, as JSON.
    pub detail: serde_json::Value,
}

impl Entry {
    /// An entry with no request or item.
    pub fn new(at: Timestamp, kind: &str, actor: Option<&str>, detail: serde_json::Value) -> Entry {
        Entry { at, request_id: None, item_id: None, kind: kind.to_owned(), actor: actor.map(str::to_owned), detail }
    }
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Record {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When it happened.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The request concerned.
    pub request_id: Option<String>,
    /// The item concerned.
    pub item_id: Option<String>,
    /// What happened.
    pub kind: String,
    /// Who did it.
    pub actor: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The columns a row's hash covers, as stored (`detail` is the stored JSON text).
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a> {
    /// Position in the chain.
    pub seq: i64,
    /// Epoch milliseconds.
    pub at_ms: i64,
    /// The request concerned.
    pub request_id: Option<&'a str>,
    /// The item concerned.
    pub item_id: Option<&'a str>,
    /// What happened.
    pub kind: &'a str,
    /// Who did it.
    pub actor: Option<&'a str>,
    /// Details, as stored.
    pub detail: &'a str,
}

impl Canonical<'_> {
    /// `SHA-256(prev || "\n" || JSON array of the columns)`, hex.
    ///
    /// The array is written straight into the hasher (a tuple serializes as the same compact JSON array that
    /// `json!([...]).to_string()` gives): `audit verify` hashes every row of the trail, and building a JSON value
    /// per row, a copy of every column, was most of that cost.
    pub fn hash(&self, prev: &str) -> String {
        String::from_utf8_lossy(&self.hash_hex(prev)).into_owned()
    }

    /// [`hash`](Self::hash) as 64 ASCII hex digits, without allocating.
    pub fn hash_hex(&self, prev: &str) -> [u8; 64] {
        struct Hasher(Sha256);
        impl std::io::Write for Hasher {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.update(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut h = Hasher(Sha256::new());
        h.0.update(prev.as_bytes());
        h.0.update(b"\n");
        let columns = (self.seq, self.at_ms, self.request_id, self.item_id, self.kind, self.actor, self.detail);
        // Writing numbers, strings and nulls into a hasher cannot fail.
        let _ = serde_json::to_writer(&mut h, &columns);
        let mut out = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(h.0.finalize(), &mut out);
        out
    }
}

/// Appends entries in the caller's transaction, locking the chain's head until it commits. With a `signer`, a
/// checkpoint of the new head is stored in the same transaction and returned, for the caller to log once the
/// transaction has committed (`checkpoint::log`).
pub async fn append(
    store: &Store,
    tx: &mut Transaction<'static, Any>,
    entries: &[Entry],
    signer: Option<&Signer>,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    if entries.is_empty() {
        return Ok(None);
    }
    let sql = format!("SELECT seq, hash FROM audit_head WHERE id = 1{}", store.for_update());
    let head = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&mut **tx).await?;
    let mut seq: i64 = head.try_get("seq")?;
    let mut prev: String = head.try_get("hash")?;
    // One multi-row insert for the whole batch: the hash chain is computed here, in order, and the rows go in
    // together (a statement per entry was most of a batch's round trips).
    let mut rows =
        Inserts::new("INSERT INTO audit (seq, at, request_id, item_id, kind, actor, detail, prev_hash, hash)", 9, "");
    for e in entries {
        seq += 1;
        let detail = e.detail.to_string();
        let at = ms(e.at);
        let hash = Canonical {
            seq,
            at_ms: at,
            request_id: e.request_id.as_deref(),
            item_id: e.item_id.as_deref(),
            kind: &e.kind,
            actor: e.actor.as_deref(),
            detail: &detail,
        }
        .hash(&prev);
        rows.push(vec![
            Val::Int(seq),
            Val::Int(at),
            Val::OptText(e.request_id.clone()),
            Val::OptText(e.item_id.clone()),
            Val::Text(e.kind.clone()),
            Val::OptText(e.actor.clone()),
            Val::Text(detail),
            Val::Text(std::mem::replace(&mut prev, hash.clone())),
            Val::Text(hash),
        ]);
    }
    rows.flush(tx).await?;
    let checkpoint = signer.map(|s| s.sign(seq, &prev, crate::time::now()));
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(prev)
        .execute(&mut **tx)
        .await?;
    if let Some(c) = &checkpoint {
        checkpoint::insert(tx, c).await?;
    }
    Ok(checkpoint)
}

/// Stores a catalog snapshot, once per id (a restart with the same files finds it there). Audit rows name the
/// id of the catalog the runtime runs on, so it must be stored before the first such row commits: the
/// application does it right after opening the store, before the runtime starts.
pub async fn save_catalog(store: &Store, snapshot: &Snapshot) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO catalogs (id, source, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
        .bind(snapshot.id().to_owned())
        .bind(snapshot.stored().to_owned())
        .bind(ms(crate::time::now()))
        .execute(store.writer())
        .await?;
    Ok(())
}

fn decode(r: &sqlx::any::AnyRow) -> Result<Record, sqlx::Error> {
    let detail: String = r.try_get("detail")?;
    Ok(Record {
        seq: r.try_get("seq")?,
        at: from_ms(r.try_get("at")?),
        request_id: r.try_get("request_id")?,
        item_id: r.try_get("item_id")?,
        kind: r.try_get("kind")?,
        actor: r.try_get("actor")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// The trail of one request, in order (or the whole trail's last `limit` rows when `request` is `None`).
pub async fn list(store: &Store, request: Option<&str>, limit: i64) -> Result<Vec<Record>, sqlx::Error> {
    let rows = match request {
        Some(r) => {
            sqlx::query("SELECT * FROM audit WHERE request_id = $1 ORDER BY seq LIMIT $2")
                .bind(r.to_owned())
                .bind(limit)
                .fetch_all(store.reader())
                .await?
        }
        None => {
            let mut v = sqlx::query("SELECT * FROM audit ORDER BY seq DESC LIMIT $1")
                .bind(limit)
                .fetch_all(store.reader())
                .await?;
            v.reverse();
            v
        }
    };
    rows.iter().map(decode).collect()
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every row checks out.
    Intact {
        /// Rows checked.
        rows: i64,
    },
    /// The first problem found.
    Broken {
        /// The row where it shows.
        seq: i64,
        /// What is wrong, in words.
        problem: String,
    },
}

/// Walks the whole chain, in pages, and reports the first row that does not check out: the hash chain alone,
/// without the checkpoints or the replay that [`verify::verify`] (`signoff audit verify`) adds.
pub async fn verify(store: &Store) -> Result<Verdict, sqlx::Error> {
    const PAGE: i64 = 5_000;
    let mut expected_seq = 1_i64;
    let mut prev = GENESIS.to_owned();
    let mut after = 0_i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, request_id, item_id, kind, actor, detail, prev_hash, hash FROM audit \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(store.reader())
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let seq: i64 = r.try_get("seq")?;
            let stored_prev: String = r.try_get("prev_hash")?;
            let stored_hash: String = r.try_get("hash")?;
            if seq != expected_seq {
                return Ok(Verdict::Broken {
                    seq,
                    problem: format!("row {expected_seq} is missing (found {seq} next): rows were deleted"),
                });
            }
            if stored_prev != prev {
                return Ok(Verdict::Broken {
                    seq,
                    problem: "does not follow the previous row: rows were deleted, inserted or reordered".to_owned(),
                });
            }
            let at: i64 = r.try_get("at")?;
            let request_id: Option<String> = r.try_get("request_id")?;
            let item_id: Option<String> = r.try_get("item_id")?;
            let kind: String = r.try_get("kind")?;
            let actor: Option<String> = r.try_get("actor")?;
            let detail: String = r.try_get("detail")?;
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
            if hash != stored_hash {
                return Ok(Verdict::Broken { seq, problem: "its content was edited (hash mismatch)".to_owned() });
            }
            prev = hash;
            expected_seq += 1;
            after = seq;
        }
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(store.reader()).await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    if head_seq != expected_seq - 1 || head_hash != prev {
        return Ok(Verdict::Broken {
            seq: head_seq,
            problem: format!(
                "the chain ends at row {} but its head records row {head_seq}: rows at the end were deleted",
                expected_seq - 1
            ),
        });
    }
    Ok(Verdict::Intact { rows: expected_seq - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows hashed before the hash was streamed must hash the same now: the canonical form is the JSON array
    /// `json!` made, escapes and all.
    #[test]
    fn the_canonical_form_is_the_json_array_of_the_columns() {
        let tricky = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 漢 😀 </script>";
        for (request, actor) in [(None, None), (Some("req_1"), Some(tricky))] {
            let row = Canonical {
                seq: 42,
                at_ms: -7,
                request_id: request,
                item_id: Some("req_1-1"),
                kind: "decision",
                actor,
                detail: r#"{"a":"\u00e9","b":[1,2]}"#,
            };
            let old =
                serde_json::json!([row.seq, row.at_ms, row.request_id, row.item_id, row.kind, row.actor, row.detail])
                    .to_string();
            let mut h = Sha256::new();
            h.update(GENESIS.as_bytes());
            h.update(b"\n");
            h.update(old.as_bytes());
            assert_eq!(row.hash(GENESIS), hex::encode(h.finalize()));
        }
    }
}
