//! Signed checkpoints of the audit chain's head (DESIGN 7.3).
//!
//! The hash chain alone shows that rows were edited, removed or reordered by someone who did not recompute the
//! hashes; anyone with write access to the database can recompute them all. A checkpoint is the head (sequence
//! number and hash) signed with an Ed25519 key that lives outside the database, written in the same transaction
//! as the rows it covers. Without the key nobody can make a checkpoint for a recomputed, shortened or extended
//! chain, so [`super::verify::verify`] can tell those apart from the chain signoff wrote.
//!
//! The signed message is `signoff-audit-checkpoint:v1:{seq}:{hash}`: the version names the format, so a
//! signature can never be read as one over something else. `at` (when the checkpoint was made) is not signed:
//! it is there for people, and the row's hash already fixes everything the chain recorded.

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use super::keys;
use crate::store::{from_ms, ms};
use crate::time::Timestamp;

/// What a checkpoint's signature covers.
pub fn message(seq: i64, hash: &str) -> String {
    format!("signoff-audit-checkpoint:v1:{seq}:{hash}")
}

/// A signed head: the row `seq` of the chain has hash `hash`. `signoff audit head` prints it as one JSON line,
/// and `audit verify --expect-head` reads that line back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The chain's last row when it was made.
    pub seq: i64,
    /// That row's hash.
    pub hash: String,
    /// Which key signed it ([`keys::key_id`]).
    pub key_id: String,
    /// Base64 of the Ed25519 signature over [`message`].
    pub signature: String,
    /// When it was made (not signed; for people).
    pub at: Timestamp,
}

/// Why a checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCheckpoint {
    /// Signed by another key (made before a key rotation, or by someone else's key).
    #[error("it is signed by key {found}, not by the given key {expected}")]
    OtherKey {
        /// The checkpoint's key id.
        found: String,
        /// The given key's id.
        expected: String,
    },
    /// The signature field is not base64 of 64 bytes.
    #[error("its signature is not base64 of an Ed25519 signature")]
    Malformed,
    /// The signature does not match the key and the (seq, hash) it names.
    #[error("its signature does not verify: it was not made by the signing key for this row and hash")]
    Invalid,
}

impl Checkpoint {
    /// Checks the signature against `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), BadCheckpoint> {
        let expected = keys::key_id(key);
        if self.key_id != expected {
            return Err(BadCheckpoint::OtherKey { found: self.key_id.clone(), expected });
        }
        let signature = self.decoded_signature()?;
        key.verify(message(self.seq, &self.hash).as_bytes(), &signature).map_err(|_| BadCheckpoint::Invalid)
    }

    fn decoded_signature(&self) -> Result<Signature, BadCheckpoint> {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(&self.signature).map_err(|_| BadCheckpoint::Malformed)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| BadCheckpoint::Malformed)?;
        Ok(Signature::from_bytes(&bytes))
    }

    /// The JSON line `signoff audit head` prints.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Verifies many checkpoints made by one key, all of whose key id is `key`'s. Returns the indexes of those that
/// do not verify, in order.
///
/// Batch verification (one multi-scalar multiplication for the whole batch) costs about a third of checking
/// each signature on its own, which matters when a large trail has a checkpoint for every commit; when a batch
/// fails, each of its signatures is checked alone to name the bad ones.
pub fn verify_many(key: &VerifyingKey, checkpoints: &[Checkpoint]) -> Vec<usize> {
    let mut bad = Vec::new();
    let mut messages = Vec::with_capacity(checkpoints.len());
    let mut signatures = Vec::with_capacity(checkpoints.len());
    for (i, c) in checkpoints.iter().enumerate() {
        match c.decoded_signature() {
            Ok(s) => {
                messages.push(message(c.seq, &c.hash));
                signatures.push((i, s));
            }
            Err(_) => bad.push(i),
        }
    }
    let bytes: Vec<&[u8]> = messages.iter().map(String::as_bytes).collect();
    let sigs: Vec<Signature> = signatures.iter().map(|(_, s)| *s).collect();
    let keys = vec![*key; sigs.len()];
    if ed25519_dalek::verify_batch(&bytes, &sigs, &keys).is_err() {
        for ((i, s), m) in signatures.iter().zip(&bytes) {
            if key.verify(m, s).is_err() {
                bad.push(*i);
            }
        }
        bad.sort_unstable();
    }
    bad
}

/// Signs checkpoints with the `[audit] signing_key`. Never prints the key.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with this key.
    pub fn new(key: SigningKey) -> Signer {
        let key_id = keys::key_id(&key.verifying_key());
        Signer { key, key_id }
    }

    /// A signer from the text of `[audit] signing_key` (PKCS#8 PEM or base64 of the seed).
    pub fn from_text(text: &str) -> Result<Signer, String> {
        keys::signing_key(text).map(Signer::new)
    }

    /// The key's id, as checkpoints record it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, for verifying.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// A checkpoint saying that row `seq` has hash `hash`, made at `at`.
    pub fn sign(&self, seq: i64, hash: &str, at: Timestamp) -> Checkpoint {
        let signature = self.key.sign(message(seq, hash).as_bytes());
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            key_id: self.key_id.clone(),
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            at,
        }
    }
}

/// Stores a checkpoint in the caller's transaction.
pub(crate) async fn insert(tx: &mut Transaction<'static, Any>, c: &Checkpoint) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audit_checkpoints (seq, hash, key_id, signature, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(c.seq)
        .bind(c.hash.clone())
        .bind(c.key_id.clone())
        .bind(c.signature.clone())
        .bind(ms(c.at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A checkpoint row (columns `seq, hash, key_id, signature, at`).
pub(crate) fn decode(r: &sqlx::any::AnyRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        seq: r.try_get("seq")?,
        hash: r.try_get("hash")?,
        key_id: r.try_get("key_id")?,
        signature: r.try_get("signature")?,
        at: from_ms(r.try_get("at")?),
    })
}

/// The latest stored checkpoint, if any.
pub async fn latest(pool: &sqlx::AnyPool) -> Result<Option<Checkpoint>, sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash, key_id, signature, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(decode).transpose()
}

/// Logs a checkpoint once its transaction committed, so a log kept elsewhere holds the signed head too (a
/// truncation back to an earlier checkpoint is only visible against a head kept outside the database).
pub(crate) fn log(c: &Checkpoint) {
    tracing::info!(
        target: "signoff::audit",
        seq = c.seq,
        hash = %c.hash,
        key_id = %c.key_id,
        signature = %c.signature,
        "audit checkpoint"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(seed: u8) -> Signer {
        Signer::new(SigningKey::from_bytes(&[seed; 32]))
    }

    fn at() -> Timestamp {
        "2026-11-23T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_signed_message_names_the_format_the_row_and_its_hash() {
        assert_eq!(message(42, "ab12"), "signoff-audit-checkpoint:v1:42:ab12");
    }

    #[test]
    fn a_checkpoint_verifies_with_its_key_and_its_json_line_reads_back() {
        let s = signer(1);
        let c = s.sign(7, &"a".repeat(64), at());
        assert_eq!(c.key_id, keys::key_id(&s.verifying_key()));
        c.verify(&s.verifying_key()).unwrap();
        let line = c.to_line();
        assert!(line.starts_with(r#"{"seq":7,"hash":""#), "{line}");
        let back: Checkpoint = serde_json::from_str(&line).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn a_checkpoint_moved_to_another_row_or_hash_does_not_verify() {
        let s = signer(1);
        let key = s.verifying_key();
        let c = s.sign(7, &"a".repeat(64), at());
        let moved = Checkpoint { seq: 8, ..c.clone() };
        assert_eq!(moved.verify(&key), Err(BadCheckpoint::Invalid));
        let rehashed = Checkpoint { hash: "b".repeat(64), ..c.clone() };
        assert_eq!(rehashed.verify(&key), Err(BadCheckpoint::Invalid));
        let garbled = Checkpoint { signature: "not base64!".to_owned(), ..c.clone() };
        assert_eq!(garbled.verify(&key), Err(BadCheckpoint::Malformed));
        // `at` is not signed: changing it changes nothing the chain relies on.
        Checkpoint { at: Timestamp::UNIX_EPOCH, ..c }.verify(&key).unwrap();
    }

    #[test]
    fn another_keys_checkpoint_is_named_as_such_and_a_forged_key_id_does_not_help() {
        let ours = signer(1);
        let theirs = signer(2);
        let c = theirs.sign(3, &"c".repeat(64), at());
        assert!(matches!(c.verify(&ours.verifying_key()), Err(BadCheckpoint::OtherKey { .. })));
        let forged = Checkpoint { key_id: ours.key_id().to_owned(), ..c };
        assert_eq!(forged.verify(&ours.verifying_key()), Err(BadCheckpoint::Invalid));
    }

    #[test]
    fn verify_many_names_exactly_the_bad_checkpoints() {
        let s = signer(1);
        let mut all: Vec<Checkpoint> = (1..=120).map(|seq| s.sign(seq, &format!("{seq:064x}"), at())).collect();
        assert!(verify_many(&s.verifying_key(), &all).is_empty());
        all[17].hash = "f".repeat(64);
        all[100].signature = "AAAA".to_owned();
        all[119].seq = 1;
        assert_eq!(verify_many(&s.verifying_key(), &all), vec![17, 100, 119]);
    }

    #[test]
    fn the_signer_never_prints_its_key() {
        let seed = [9u8; 32];
        let s = Signer::new(SigningKey::from_bytes(&seed));
        let printed = format!("{s:?}");
        assert!(printed.contains(s.key_id()));
        assert!(!printed.contains(&keys::private_base64(&SigningKey::from_bytes(&seed))), "{printed}");
        assert!(!printed.contains(&hex::encode(seed)), "{printed}");
    }
}
