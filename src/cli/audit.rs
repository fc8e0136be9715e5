//! `signoff audit verify | head | keygen`: check the audit trail, print its signed head, make a signing key
//! (DESIGN 7.3).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use ed25519_dalek::VerifyingKey;
use secrecy::ExposeSecret;

use super::{ConfigArg, tokio_runtime};
use crate::audit::checkpoint::{self, Checkpoint};
use crate::audit::keys;
use crate::audit::verify::{Options, verify};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::store::Store;

/// `signoff audit ...`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the audit trail: the hash chain, the signed checkpoints (with a key), an expected head, and every
    /// item replayed through the engine against its stored state and grant. Exit 0 when intact, 1 when not.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// The public key checkpoints are signed with: SPKI PEM (`openssl pkey -pubout`) or base64 of its 32
        /// bytes, given as the key itself or as the path of a file holding it. Default: the public half of
        /// `[audit] signing_key`. Without either, signatures are not checked (and the report says so).
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// A public key the trail was signed with before a rotation (repeatable; same forms as `--public-key`):
        /// checkpoints under it are checked too, instead of only counted. The latest checkpoint must still be
        /// under the current key.
        #[arg(long, value_name = "KEY")]
        earlier_key: Vec<String>,
        /// A head printed earlier by `signoff audit head` and kept outside the database (a file with that JSON
        /// line): fails when the chain does not contain that row with that hash, or its signature does not
        /// verify. This is what catches a tail cut back to an earlier checkpoint.
        #[arg(long, value_name = "FILE")]
        expect_head: Option<PathBuf>,
    },
    /// Print the latest signed checkpoint as one JSON line (`{"seq", "hash", "key_id", "signature", "at"}`), to
    /// keep outside the database for `audit verify --expect-head`.
    Head {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print a fresh Ed25519 signing key (for `SIGNOFF_AUDIT_SIGNING_KEY`) and its public key (for
    /// `audit verify --public-key`).
    Keygen,
}

pub(super) fn run(cmd: &Command) -> ExitCode {
    match cmd {
        Command::Verify { config, public_key, earlier_key, expect_head } => {
            run_verify(config, public_key.as_deref(), earlier_key, expect_head.as_deref())
        }
        Command::Head { config } => run_head(config),
        Command::Keygen => keygen(),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

fn run_verify(arg: &ConfigArg, public_key: Option<&str>, earlier: &[String], expect_head: Option<&Path>) -> ExitCode {
    let config = match Config::load(arg.config.as_deref()) {
        Ok(c) => c,
        Err(d) => return super::report(d),
    };
    let key = match public_key {
        Some(given) => match read_public_key(given) {
            Ok(k) => Some(k),
            Err(e) => return fail(format!("--public-key: {e}")),
        },
        None => match &config.audit.signing_key {
            // Checked when the config was read; the message never repeats the key.
            Some(secret) => match keys::signing_key(secret.expose_secret()) {
                Ok(k) => Some(k.verifying_key()),
                Err(e) => return fail(format!("[audit] signing_key: {e}")),
            },
            None => None,
        },
    };
    if key.is_none() && !earlier.is_empty() {
        return fail("--earlier-key needs the current key too: pass --public-key or set [audit] signing_key");
    }
    let mut earlier_keys = Vec::with_capacity(earlier.len());
    for given in earlier {
        match read_public_key(given) {
            Ok(k) => earlier_keys.push(k),
            Err(e) => return fail(format!("--earlier-key: {e}")),
        }
    }
    let expect_head = match expect_head.map(read_head).transpose() {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let for_catalog = config.clone();
    let options = Options {
        key,
        earlier_keys,
        expect_head,
        current_catalog: Box::new(move || Catalog::load(&for_catalog).map_err(|d| d.to_string())),
    };
    rt.block_on(async {
        let store = match Store::connect(&config.database.url).await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let result = verify(&store, options).await;
        store.close().await;
        match result {
            Ok(report) => {
                for line in report.lines() {
                    println!("{line}");
                }
                if report.is_intact() { ExitCode::SUCCESS } else { ExitCode::from(1) }
            }
            Err(e) => fail(format!("{e} (is the database migrated? `signoff migrate`)")),
        }
    })
}

/// A public key given literally or as the path of a file that holds it.
fn read_public_key(given: &str) -> Result<VerifyingKey, String> {
    let path = Path::new(given.trim());
    let looks_like_key = given.trim_start().starts_with("-----BEGIN");
    let text = if !looks_like_key && path.is_file() {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
    } else {
        given.to_owned()
    };
    keys::verifying_key(&text)
}

/// The JSON line `signoff audit head` printed, from a file.
fn read_head(path: &Path) -> Result<Checkpoint, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--expect-head: cannot read {}: {e}", path.display()))?;
    serde_json::from_str(text.trim())
        .map_err(|e| format!("--expect-head: {} is not the JSON line `signoff audit head` prints: {e}", path.display()))
}

fn run_head(arg: &ConfigArg) -> ExitCode {
    let config = match Config::load(arg.config.as_deref()) {
        Ok(c) => c,
        Err(d) => return super::report(d),
    };
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let store = match Store::connect(&config.database.url).await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let latest = checkpoint::latest(store.reader()).await;
        store.close().await;
        match latest {
            Ok(Some(c)) => {
                println!("{}", c.to_line());
                ExitCode::SUCCESS
            }
            Ok(None) => fail("no signed checkpoint yet: set [audit] signing_key (SIGNOFF_AUDIT_SIGNING_KEY) and let signoff commit something"),
            Err(e) => fail(format!("cannot read the checkpoints: {e} (is the database migrated? `signoff migrate`)")),
        }
    })
}

fn keygen() -> ExitCode {
    let mut seed = [0u8; 32];
    if let Err(e) = rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut seed) {
        return fail(format!("the operating system gave no random bytes: {e}"));
    }
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = key.verifying_key();
    println!("# Private key: keep it secret and out of the database; give it to `signoff serve` as");
    println!("# SIGNOFF_AUDIT_SIGNING_KEY (or [audit] signing_key).");
    println!("SIGNOFF_AUDIT_SIGNING_KEY={}", keys::private_base64(&key));
    println!("# Public key (id {}): for `signoff audit verify --public-key`.", keys::key_id(&public));
    println!("{}", keys::public_base64(&public));
    ExitCode::SUCCESS
}
