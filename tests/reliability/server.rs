//! One `signoff serve` child on its own temporary folder (config, directory, policies, SQLite file, log), which
//! the test starts, kills with SIGKILL and starts again on the same database.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::client::Api;

/// `[audit] signing_key`: every commit signs a checkpoint, so `audit verify` checks them after the kills too.
pub fn signing_key() -> String {
    signoff::audit::keys::private_base64(&ed25519_dalek::SigningKey::from_bytes(&[5; 32]))
}

/// The bearer token the config accepts.
pub const TOKEN: &str = "reliability-token";
/// The webhook's signing secret.
pub const SECRET: &str = "reliability-secret";

/// Approvers per resource; requesters and beneficiaries are never approvers, so nobody decides twice.
pub const DIRECTORY: &str = "\
users:
  - { id: boss@example.com, name: Boss }
  - { id: req1@example.com, name: Req One, manager: boss@example.com }
  - { id: req2@example.com, name: Req Two, manager: boss@example.com }
  - { id: req3@example.com, name: Req Three, manager: boss@example.com }
  - { id: ben1@example.com, name: Ben One, manager: boss@example.com }
  - { id: ben2@example.com, name: Ben Two, manager: boss@example.com }
  - { id: a1@example.com, name: A One }
  - { id: a2@example.com, name: A Two }
  - { id: a3@example.com, name: A Three }
  - { id: b1@example.com, name: B One }
  - { id: b2@example.com, name: B Two }
  - { id: b3@example.com, name: B Three }
  - { id: b4@example.com, name: B Four }
  - { id: t2@example.com, name: T Two }
  - { id: t1@example.com, name: T One, manager: t2@example.com }
resources:
  - { id: quorum, kind: app, name: Quorum, workflow: TWO_OF_THREE }
  - { id: chain, kind: app, name: Chain, workflow: CHAIN }
  - { id: clock, kind: app, name: Clock, workflow: TIMES_OUT }
";

/// Parallel 2-of-3; a sequential chain of three steps whose middle step is 1-of-2; a node that escalates after
/// 2s to the approver's manager and expires 2s later (timers that fire across restarts).
pub const POLICIES: &str = "\
workflows:
  TWO_OF_THREE:
    parallel_expression:
      expressions:
        - user_constant_expression: { user: a1@example.com }
        - user_constant_expression: { user: a2@example.com }
        - user_constant_expression: { user: a3@example.com }
      number_required: 2
  CHAIN:
    sequential_expression:
      expressions:
        - user_constant_expression: { user: b1@example.com }
        - parallel_expression:
            expressions:
              - user_constant_expression: { user: b2@example.com }
              - user_constant_expression: { user: b3@example.com }
            number_required: 1
        - user_constant_expression: { user: b4@example.com }
  TIMES_OUT:
    user_constant_expression: { user: t1@example.com, timeout: 2s, on_timeout: escalate }
";

/// Whether a server is up, and which start it is (bumped by every successful start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// Starts so far.
    pub number: u64,
    /// Whether the current one answers.
    pub up: bool,
}

/// Leases a killed server left behind: rows nobody may claim until the lease runs out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leftover {
    /// Undelivered outbox rows still leased to the dead process.
    pub outbox: i64,
    /// Timers still leased to the dead process.
    pub timers: i64,
}

/// The child and its files.
pub struct Server {
    path: PathBuf,
    dir: Mutex<TempDir>,
    hook: String,
    port: Mutex<u16>,
    child: tokio::sync::Mutex<Option<Child>>,
    generation: watch::Sender<Generation>,
    api: Api,
}

impl Server {
    /// Writes the directory and policies; nothing runs yet.
    pub fn new(hook: &str) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new().prefix("signoff-reliability-").tempdir()?;
        std::fs::write(dir.path().join("directory.yaml"), DIRECTORY)?;
        std::fs::write(dir.path().join("policies.yaml"), POLICIES)?;
        let (generation, _) = watch::channel(Generation { number: 0, up: false });
        Ok(Server {
            path: dir.path().to_owned(),
            dir: Mutex::new(dir),
            hook: hook.to_owned(),
            port: Mutex::new(0),
            child: tokio::sync::Mutex::new(None),
            generation,
            api: Api::new(TOKEN),
        })
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.path.join("signoff.toml")
    }

    /// The SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.path.join("signoff.db")
    }

    /// Everything every child printed.
    pub fn log_path(&self) -> PathBuf {
        self.path.join("serve.log")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port.lock().unwrap())
    }

    /// Watches starts and kills.
    pub fn generation(&self) -> watch::Receiver<Generation> {
        self.generation.subscribe()
    }

    /// Keeps the temporary folder after the test (for a failed trial).
    pub fn keep(&self) -> &Path {
        self.dir.lock().unwrap().disable_cleanup(true);
        &self.path
    }

    fn write_config(&self) -> anyhow::Result<()> {
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [database]\nurl = \"sqlite://{db}\"\n\n\
             [directory]\npath = \"directory.yaml\"\n\n\
             [policies]\npath = \"policies.yaml\"\n\n\
             [api]\ntokens = [\"{TOKEN}\"]\n\n\
             [webhooks]\nurl = \"{hook}\"\nsecret = \"{SECRET}\"\n\n\
             [audit]\nsigning_key = \"{key}\"\n",
            db = self.db_path().display(),
            hook = self.hook,
            key = signing_key(),
        );
        std::fs::write(self.config(), toml)?;
        Ok(())
    }

    /// Starts `signoff serve` and waits for `/readyz`. The child binds port 0 and announces the address it got
    /// in its "signoff is ready" log line; guessing a free port beforehand would race with the other trials,
    /// and another trial's server could then answer our `/readyz`.
    pub async fn start(&self) -> anyhow::Result<()> {
        let mut child = self.child.lock().await;
        anyhow::ensure!(child.is_none(), "the server is already running");
        self.write_config()?;
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path())?;
        use std::io::Write as _;
        writeln!(log, "----- start {} -----", self.generation.borrow().number + 1)?;
        let log_start = log.metadata()?.len() as usize;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signoff"));
        cmd.arg("serve").arg("--config").arg(self.config()).current_dir(&self.path);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SIGNOFF_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("SIGNOFF_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let mut c = cmd.spawn().context("spawning signoff serve")?;
        match self.wait_ready(&mut c, log_start).await {
            Ok(()) => {
                *child = Some(c);
                self.generation.send_modify(|g| {
                    g.number += 1;
                    g.up = true;
                });
                Ok(())
            }
            Err(e) => {
                let _ = c.kill().await;
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                Err(e.context(format!("signoff serve did not become ready; log:\n{}", tail(&log, 40))))
            }
        }
    }

    /// Waits for this start's "signoff is ready" line, takes the port from it, then for `/readyz` there.
    async fn wait_ready(&self, child: &mut Child, log_start: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("signoff serve exited with {status} while starting");
            }
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if let Some(port) = announced_port(log.get(log_start..).unwrap_or_default()) {
                *self.port.lock().unwrap() = port;
                break;
            }
            if Instant::now() > deadline {
                bail!("signoff serve did not say it was ready within 60s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let url = format!("{}/readyz", self.base());
        loop {
            if let Ok((200, _)) = self.api.get_raw(&url).await {
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                bail!("signoff serve exited with {status} after saying it was ready");
            }
            if Instant::now() > deadline {
                bail!("signoff serve not ready after 60s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (tokio's `Child::kill`, like `std::process::Child::kill`, sends SIGKILL on Unix) and reaps it.
    /// Returns what leases the dead process left.
    pub async fn kill(&self) -> anyhow::Result<Leftover> {
        let mut child = self.child.lock().await;
        let mut c = child.take().context("no server to kill")?;
        self.generation.send_modify(|g| g.up = false);
        if let Some(status) = c.try_wait()? {
            bail!("signoff serve ended by itself ({status}) before it was killed");
        }
        let pid = c.id().context("the child has no pid")?;
        c.kill().await.context("SIGKILL")?;
        drop(child);
        self.leftover(pid).await
    }

    /// Leases held by process `pid` that have not run out.
    async fn leftover(&self, pid: u32) -> anyhow::Result<Leftover> {
        let db = self.db().await?;
        let now = jiff::Timestamp::now().as_millisecond();
        let owner = format!("{pid}-%");
        let outbox: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL AND lease_owner LIKE ?1 AND lease_until > ?2",
        )
        .bind(&owner)
        .bind(now)
        .fetch_one(&db)
        .await?;
        let timers: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM timers WHERE lease_owner LIKE ?1 AND lease_until > ?2")
                .bind(&owner)
                .bind(now)
                .fetch_one(&db)
                .await?;
        db.close().await;
        Ok(Leftover { outbox, timers })
    }

    /// A read-only connection to the database (never writes; the server stays its only writer).
    pub async fn db(&self) -> anyhow::Result<SqlitePool> {
        let opts = SqliteConnectOptions::new().filename(self.db_path()).read_only(true);
        Ok(SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?)
    }

    /// `signoff audit verify --config ...`: exit code and output.
    pub async fn audit_verify(&self) -> anyhow::Result<(Option<i32>, String)> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signoff"));
        cmd.arg("audit").arg("verify").arg("--config").arg(self.config()).current_dir(&self.path);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SIGNOFF_") {
                cmd.env_remove(name);
            }
        }
        let out = cmd.output().await?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.code(), text))
    }

    /// The last lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&std::fs::read_to_string(self.log_path()).unwrap_or_default(), lines)
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The port in the last `signoff is ready addr=127.0.0.1:PORT` line of `log` (plain text, no colours).
fn announced_port(log: &str) -> Option<u16> {
    let line = log.lines().rev().find(|l| l.contains("signoff is ready"))?;
    let addr = line.split_whitespace().find_map(|w| w.strip_prefix("addr="))?;
    addr.rsplit_once(':')?.1.parse().ok()
}
