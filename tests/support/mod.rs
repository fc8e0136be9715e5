//! The shared harness of the black-box tests that start the real server (zero-to-production's
//! `tests/api/helpers.rs`, adapted).
//!
//! - [`spawn_app`] builds the real [`signoff::app::Application`] on `127.0.0.1:0` with a fresh database, a
//!   recording chat adapter ([`MemoryAdapter`]), short background [`Tuning`], an API token, an optional
//!   webhook target, and a catalog built from YAML strings ([`AppOptions`]). It serves on a tokio task;
//!   [`TestApp::stop`] stops it gracefully, dropping it aborts it.
//! - [`test_databases`] lists the databases every scenario should run on: always a temporary SQLite file,
//!   plus a fresh PostgreSQL database per test when `SIGNOFF_TEST_POSTGRES_URL` names a server (an admin
//!   URL: each test creates `signoff_t_<random>` there and drops it afterwards).
//! - [`WebhookReceiver`] is a provisioning endpoint that records and verifies every delivery and can be
//!   told to fail or hang.
//! - [`AppOptions::slack`] and [`AppOptions::discord`] make the app chat through the config's real
//!   `SlackAdapter` and `DiscordAdapter`, pointed at a [`FakeSlack`] ([`fake_slack`]) or a [`FakeDiscord`]
//!   ([`fake_discord`]) on another local port; [`TestApp::slack_post`] and [`ApiClient::discord_post`] call
//!   the app as Slack and Discord do, signed with the secret and key the app was configured with.
//! - [`fake_oidc::FakeOidc`] is an OpenID Connect provider on another local port for the web sign-in: it
//!   signs in the person a test chooses, refuses what a strict provider refuses, and can spoil its id_tokens.
//! - `TEST_LOG=1` turns tracing output on (`RUST_LOG` filters it, default `info`).
//! - [`write_config`] and [`signoff_command`] run the built binary on an app's database.
//! - [`otlp::OtlpReceiver`] collects the traces a `signoff serve` child exports over OTLP/HTTP.
//!
//! The default company ([`default_directory`]): Cleo (CEO) <- Vera (VP Eng) <- Raj (manager) <- Ana, Ben;
//! Kim and Max (IT, under Vera, admins of `salesforce`); Sam (security, under Cleo) <- Lee; Olga (out of
//! office); Sofia (Sales); 24 numbered approvers in group `approvers`; groups `it-security` (Sam, Lee,
//! Kim). Resources: `wiki` (auto-approved) and `salesforce` (MANAGER; role `admin` is APP_ADMIN).
//! [`AppOptions::workflow`] adds a named workflow and a resource that uses it.
//!
//! ```ignore
//! mod support;
//! use support::*;
//!
//! #[tokio::test]
//! async fn a_request_is_created() {
//!     for db in test_databases() {
//!         let mut app = spawn_app(AppOptions::new().on(&db).workflow(
//!             "TWO_ADMINS",
//!             "user_list_expression: { users: [kim@example.com, max@example.com], number_required: 2 }",
//!         ))
//!         .await;
//!         let (status, body) = app.create_request(json!({"requester": ANA, "resource": "two-admins"})).await;
//!         assert_eq!(status, 201, "[{db}] {body}");
//!         app.wait_for_prompts(&[KIM, MAX]).await;
//!         app.stop().await;
//!     }
//! }
//! ```

// Each test crate uses its own subset of these helpers.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::SecretString;
use serde_json::Value;
use signoff::app::{Application, Options};
use signoff::catalog::{Catalog, CatalogSource, Settings};
use signoff::chat::memory::{Call, MemoryAdapter};
use signoff::config::Config;
use signoff::runtime::{Runtime, Tuning};
use signoff::store::Store;
use signoff_port::{ChatAdapter, ChatUser, MessageRef, Notification, Platform, PromptClosing, PromptMessage};

pub mod fake_discord;
pub mod fake_oidc;
pub mod fake_slack;
pub mod otlp;

pub use fake_discord::FakeDiscord;
pub use fake_slack::FakeSlack;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use serde_json::json;

// ---------------------------------------------------------------------------------------------------------
// The default company

/// People of the default directory, by id.
pub const CLEO: &str = "cleo@example.com"; // CEO, top of every reporting line
pub const VERA: &str = "vera@example.com"; // VP Engineering, reports to Cleo
pub const RAJ: &str = "raj@example.com"; // Engineering manager, reports to Vera
pub const ANA: &str = "ana@example.com"; // engineer, reports to Raj: the usual requester
pub const BEN: &str = "ben@example.com"; // engineer, reports to Raj
pub const KIM: &str = "kim@example.com"; // IT admin, reports to Vera; admin of most resources
pub const MAX: &str = "max@example.com"; // IT admin, reports to Vera
pub const SAM: &str = "sam@example.com"; // security lead, reports to Cleo
pub const LEE: &str = "lee@example.com"; // security engineer, reports to Sam
pub const OLGA: &str = "olga@example.com"; // out of office until 2099, reports to Vera
pub const SOFIA: &str = "sofia@example.com"; // Sales, reports to Cleo

/// How many numbered approvers (`approver01@example.com` ...) the default directory has, all in the
/// group `approvers` and reporting to Cleo: enough for large quorums and click storms.
pub const APPROVERS: usize = 24;

/// The `i`-th numbered approver (1-based).
pub fn approver(i: usize) -> String {
    format!("approver{i:02}@example.com")
}

/// The Slack id every default user has: `U` and the upper-cased local part (`U0ANA` style).
pub fn slack_id(user: &str) -> String {
    format!("U0{}", user.split('@').next().unwrap_or(user).to_uppercase())
}

/// The Discord id (a snowflake) every default user has, derived from their id so that tests can predict it.
pub fn discord_id(user: &str) -> String {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (310_000_000_000_000_000 + hash % 1_000_000_000_000_000).to_string()
}

/// The default people, groups and resources (one directory document). Everyone has a `slack_id`
/// ([`slack_id`]) and a `discord_id` ([`discord_id`]); which of them is used depends on the platforms the
/// app chats on.
pub fn default_directory() -> String {
    let person = |id: &str, name: &str, manager: Option<&str>, dept: &str, extra: &str| {
        let manager = manager.map(|m| format!("    manager: {m}\n")).unwrap_or_default();
        format!(
            "  - id: {id}\n    name: {name}\n{manager}    department: {dept}\n    work_status: FULL_TIME\n    \
             slack_id: {}\n    discord_id: \"{}\"\n{extra}",
            slack_id(id),
            discord_id(id)
        )
    };
    let mut users = vec![
        person(CLEO, "Cleo Park", None, "Executive", "    grade: 12\n"),
        person(VERA, "Vera Stone", Some(CLEO), "Engineering", "    grade: 10\n"),
        person(RAJ, "Raj Patel", Some(VERA), "Engineering", "    grade: 8\n"),
        person(ANA, "Ana Diaz", Some(RAJ), "Engineering", "    grade: 5\n"),
        person(BEN, "Ben Okafor", Some(RAJ), "Engineering", "    grade: 4\n"),
        person(KIM, "Kim Lee", Some(VERA), "IT", "    grade: 6\n    permissions: [Helpdesk]\n"),
        person(MAX, "Max Field", Some(VERA), "IT", "    grade: 6\n"),
        person(SAM, "Sam Reed", Some(CLEO), "Security", "    grade: 9\n    permissions: [Security]\n"),
        person(LEE, "Lee Wong", Some(SAM), "Security", "    grade: 6\n"),
        person(OLGA, "Olga Ivanova", Some(VERA), "Engineering", "    out_of_office_until: 2099-01-01T00:00:00Z\n"),
        person(SOFIA, "Sofia Marin", Some(CLEO), "Sales", "    grade: 7\n"),
    ];
    let mut approvers = Vec::new();
    for i in 1..=APPROVERS {
        let id = approver(i);
        users.push(person(&id, &format!("Approver {i:02}"), Some(CLEO), "Operations", ""));
        approvers.push(id);
    }
    format!(
        "source: test\nusers:\n{}groups:\n  - id: it-security\n    name: IT Security\n    members: [{SAM}, {LEE}, {KIM}]\n    \
         owners: [{SAM}]\n  - id: approvers\n    name: Approvers\n    members: [{}]\n    owners: [{CLEO}]\n\
         resources:\n  - id: wiki\n    kind: app\n    name: Company Wiki\n    workflow: AUTO_APPROVE\n\
         \x20 - id: salesforce\n    kind: app\n    name: Salesforce\n    admins: [{KIM}, {MAX}]\n    workflow: MANAGER\n    \
         roles:\n      - name: basic_user\n      - name: admin\n        workflow: APP_ADMIN\n",
        users.concat(),
        approvers.join(", "),
    )
}

/// The default policy document: no workflows of its own (the built-ins always exist). Tests add theirs
/// with [`AppOptions::policies`].
pub const DEFAULT_POLICIES: &str = "workflows: {}\n";

// ---------------------------------------------------------------------------------------------------------
// Databases

/// A kind of database the scenarios run on; [`TestDb::create`] makes a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestDb {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A database created for the test on the PostgreSQL server of this admin URL.
    Postgres {
        /// `SIGNOFF_TEST_POSTGRES_URL`.
        admin_url: String,
    },
}

impl fmt::Display for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestDb::Sqlite => f.write_str("sqlite"),
            TestDb::Postgres { .. } => f.write_str("postgres"),
        }
    }
}

/// The environment variable that turns the PostgreSQL runs on.
pub const POSTGRES_URL_VAR: &str = "SIGNOFF_TEST_POSTGRES_URL";

/// Every database the scenarios should run on: SQLite always, PostgreSQL when `SIGNOFF_TEST_POSTGRES_URL`
/// is set (it says once per test binary when it is not).
pub fn test_databases() -> Vec<TestDb> {
    static SKIPPED: Once = Once::new();
    let mut dbs = vec![TestDb::Sqlite];
    match std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.trim().is_empty()) {
        Some(url) => dbs.push(TestDb::Postgres { admin_url: url.trim().to_owned() }),
        None => SKIPPED.call_once(|| {
            // Straight to the process's stderr: `eprintln!` inside a test is captured and shown only when
            // the test fails, and this note matters most when everything passes.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "PostgreSQL tests skipped: {POSTGRES_URL_VAR} is not set");
        }),
    }
    dbs
}

impl TestDb {
    /// Creates a fresh, empty database of this kind (signoff migrates it when it starts).
    pub async fn create(&self) -> Database {
        match self {
            TestDb::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let path = dir.path().join("signoff.db");
                Database {
                    url: format!("sqlite://{}", path.display()),
                    kind: self.clone(),
                    sqlite_dir: Some(dir),
                    postgres: None,
                }
            }
            TestDb::Postgres { admin_url } => {
                let name = format!("signoff_t_{:016x}", rand::random::<u64>());
                let mut admin = sqlx::postgres::PgConnection::connect(admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("connecting to {POSTGRES_URL_VAR}: {e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
                let _ = admin.close().await;
                Database {
                    url: with_database(admin_url, &name),
                    kind: self.clone(),
                    sqlite_dir: None,
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }
}

/// `admin_url` with its database name replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (scheme, rest) = admin_url.split_once("://").unwrap_or(("postgres", admin_url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (rest, String::new()),
    };
    let host = before_query.split('/').next().unwrap_or(before_query);
    format!("{scheme}://{host}/{name}{query}")
}

/// A database made for one test; removed when the last handle goes (a SQLite file's folder is deleted, a
/// PostgreSQL database is dropped, forcing out connections still open).
pub struct Database {
    /// The URL signoff opens.
    pub url: String,
    /// Which kind.
    pub kind: TestDb,
    sqlite_dir: Option<TempDir>,
    /// (admin URL, database name), to drop it.
    postgres: Option<(String, String)>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Database {
    /// The SQLite file, for SQLite databases.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.sqlite_dir.as_ref().map(|d| d.path().join("signoff.db"))
    }

    /// Drops a PostgreSQL database now (also done on drop; calling this first reports errors).
    pub async fn drop_database(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            drop_postgres(&admin_url, &name).await;
        }
    }
}

async fn drop_postgres(admin_url: &str, name: &str) {
    match sqlx::postgres::PgConnection::connect(admin_url).await {
        Ok(mut admin) => {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await {
                eprintln!("warning: could not drop the test database {name}: {e}");
            }
            let _ = admin.close().await;
        }
        Err(e) => eprintln!("warning: could not connect to drop the test database {name}: {e}"),
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop may run inside a runtime, where blocking on another future is not allowed: use a thread
            // with its own small runtime.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(drop_postgres(&admin_url, &name));
                }
            })
            .join();
        }
    }
}

/// Which database an application opens.
#[derive(Debug, Clone)]
pub enum Db {
    /// A fresh database of this kind, made by [`spawn_app`] and removed with the app.
    Fresh(TestDb),
    /// One made earlier (restart scenarios: several apps, one after the other, on one database).
    Shared(Arc<Database>),
    /// A URL managed by the caller.
    Url(String),
}

// ---------------------------------------------------------------------------------------------------------
// Options

/// The API token [`spawn_app`] configures.
pub const TOKEN: &str = "test-token";

/// The webhook secret [`WebhookReceiver`] uses by default.
pub const WEBHOOK_SECRET: &str = "whsec-test";

/// Short background timings, so retries and timers happen within a test.
pub fn test_tuning() -> Tuning {
    Tuning {
        idle: Duration::from_millis(50),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
        lease: Duration::from_secs(2),
        ..Tuning::default()
    }
}

/// How to build an app. `AppOptions::new()` is the default company on a temporary SQLite file, chatting
/// through one recording console adapter, with no webhook.
#[derive(Clone)]
pub struct AppOptions {
    /// The database.
    pub db: Db,
    /// One [`MemoryAdapter`] per platform, in this order.
    pub platforms: Vec<Platform>,
    /// Background timings.
    pub tuning: Tuning,
    /// Accepted API tokens.
    pub tokens: Vec<String>,
    /// `(url, secret)` of the provisioning webhook.
    pub webhook: Option<(String, String)>,
    /// Directory documents (YAML), merged into one directory.
    pub directory: Vec<String>,
    /// Policy documents (YAML).
    pub policies: Vec<String>,
    /// Workflow defaults and the risk mapping.
    pub settings: Settings,
    /// Chat on Slack through the config's real adapter, pointed at a fake Slack, instead of `platforms`.
    pub slack: Option<SlackSetup>,
    /// Chat on Discord through the config's real adapter, pointed at a fake Discord, instead of `platforms`.
    pub discord: Option<DiscordSetup>,
    /// Last changes to the config, after everything above is applied (tokens, limits, keys, workspaces).
    pub configure: Vec<Configure>,
    /// `[audit] signing_key` (base64 of a seed, or PEM).
    pub signing_key: Option<String>,
    /// Whether the catalog keeps its snapshot (audit rows then name it). `false` plays a database written
    /// before catalog snapshots were recorded.
    pub snapshot: bool,
    /// `([directory] path, [policies] path)`: load the catalog from these files, as `signoff serve` does,
    /// instead of from `directory` and `policies`.
    pub files: Option<(PathBuf, PathBuf)>,
}

/// `[slack]` for an app that talks to a fake Slack ([`AppOptions::slack`]).
#[derive(Debug, Clone)]
pub struct SlackSetup {
    /// `[slack] api_url`: the fake's Web API.
    pub api_url: String,
    /// `[slack] signing_secret`: what the tests sign callbacks with.
    pub signing_secret: String,
    /// `[slack] bot_token`: what the fake accepts.
    pub bot_token: String,
}

/// `[discord]` for an app that talks to a fake Discord ([`AppOptions::discord`]).
#[derive(Debug, Clone)]
pub struct DiscordSetup {
    /// `[discord] api_url`: the fake's REST API.
    pub api_url: String,
    /// `[discord] application_id`.
    pub application_id: String,
    /// `[discord] public_key`: the public half of [`fake_discord::signing_key`].
    pub public_key: [u8; 32],
    /// `[discord] bot_token`: what the fake accepts.
    pub bot_token: String,
}

/// A change to the config ([`AppOptions::config`]).
pub type Configure = Arc<dyn Fn(&mut Config) + Send + Sync>;

impl fmt::Debug for AppOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppOptions").field("db", &self.db).field("platforms", &self.platforms).finish_non_exhaustive()
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            db: Db::Fresh(TestDb::Sqlite),
            platforms: vec![Platform::Console],
            tuning: test_tuning(),
            tokens: vec![TOKEN.to_owned()],
            webhook: None,
            directory: vec![default_directory()],
            policies: vec![DEFAULT_POLICIES.to_owned()],
            settings: Settings::default(),
            slack: None,
            discord: None,
            configure: Vec::new(),
            signing_key: None,
            snapshot: true,
            files: None,
        }
    }
}

impl AppOptions {
    /// The defaults.
    pub fn new() -> AppOptions {
        AppOptions::default()
    }

    /// Changes the config after everything else is applied (e.g. `|c| c.api.max_items = 3`).
    pub fn config(mut self, f: impl Fn(&mut Config) + Send + Sync + 'static) -> Self {
        self.configure.push(Arc::new(f));
        self
    }

    /// A fresh database of this kind.
    pub fn on(mut self, db: &TestDb) -> Self {
        self.db = Db::Fresh(db.clone());
        self
    }

    /// An existing database (e.g. to start a second app where the first stopped).
    pub fn database(mut self, db: Arc<Database>) -> Self {
        self.db = Db::Shared(db);
        self
    }

    /// Chat through recording adapters for these platforms.
    pub fn platforms(mut self, platforms: impl IntoIterator<Item = Platform>) -> Self {
        self.platforms = platforms.into_iter().collect();
        self
    }

    /// Chat on Slack for real: the app builds its `SlackAdapter` from `[slack]`, with `api_url` pointing at
    /// `fake`, the bot token the fake accepts and [`fake_slack::SIGNING_SECRET`] (which
    /// [`TestApp::slack_post`] signs with). The recording adapters of [`platforms`](Self::platforms) are
    /// not used then.
    pub fn slack(mut self, fake: &FakeSlack) -> Self {
        self.slack = Some(SlackSetup {
            api_url: fake.api_url(),
            signing_secret: fake_slack::SIGNING_SECRET.to_owned(),
            bot_token: fake_slack::BOT_TOKEN.to_owned(),
        });
        self
    }

    /// Chat on Discord for real: the app builds its `DiscordAdapter` from `[discord]`, with `api_url`
    /// pointing at `fake`, the bot token it accepts, [`fake_discord::APPLICATION_ID`] and the public half of
    /// [`fake_discord::signing_key`] (which [`TestApp::discord_post`] signs with).
    pub fn discord(mut self, fake: &FakeDiscord) -> Self {
        self.discord = Some(DiscordSetup {
            api_url: fake.api_url(),
            application_id: fake_discord::APPLICATION_ID.to_owned(),
            public_key: fake_discord::public_key(),
            bot_token: fake_discord::BOT_TOKEN.to_owned(),
        });
        self
    }

    /// Deliver the provisioning webhook to this receiver.
    pub fn webhook(mut self, receiver: &WebhookReceiver) -> Self {
        self.webhook = Some((receiver.url(), receiver.secret.clone()));
        self
    }

    /// Add a directory document (users, groups or resources) to the default company.
    pub fn directory(mut self, yaml: impl Into<String>) -> Self {
        self.directory.push(yaml.into());
        self
    }

    /// Replace the whole directory.
    pub fn only_directory(mut self, yaml: impl Into<String>) -> Self {
        self.directory = vec![yaml.into()];
        self
    }

    /// Add a policy document (`workflows: {NAME: expression}`).
    pub fn policies(mut self, yaml: impl Into<String>) -> Self {
        self.policies.push(yaml.into());
        self
    }

    /// A resource named `id` whose workflow is `workflow` (a name), added to the directory.
    pub fn resource(self, id: &str, workflow: &str) -> Self {
        self.directory(format!(
            "resources:\n  - id: {id}\n    kind: app\n    name: {id}\n    admins: [{KIM}]\n    workflow: {workflow}\n"
        ))
    }

    /// A workflow named `name` with this expression (YAML, as it would sit under `workflows: NAME:`, written
    /// flush left), and a resource of the same name (lower-cased, `_` as `-`) that uses it.
    pub fn workflow(self, name: &str, expression: &str) -> Self {
        let indented: String = expression.lines().map(|l| format!("    {l}\n")).collect();
        let resource = name.to_lowercase().replace('_', "-");
        self.policies(format!("workflows:\n  {name}:\n{indented}")).resource(&resource, name)
    }

    /// Sign audit checkpoints with this `[audit] signing_key`.
    pub fn signing_key(mut self, key: impl Into<String>) -> Self {
        self.signing_key = Some(key.into());
        self
    }

    /// Run on a catalog without a snapshot, as signoff did before snapshots were recorded.
    pub fn without_snapshot(mut self) -> Self {
        self.snapshot = false;
        self
    }

    /// Load the directory and policies from these files or folders (`[directory] path`, `[policies] path`) with
    /// `Catalog::load`, as `signoff serve` does; `directory` and `policies` are then not used.
    pub fn files(mut self, directory: impl Into<PathBuf>, policies: impl Into<PathBuf>) -> Self {
        self.files = Some((directory.into(), policies.into()));
        self
    }

    /// Background timings.
    pub fn tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Workflow settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Builds the catalog these options describe (panics with the diagnostics when invalid). It is built from
    /// its source text, as `signoff serve` builds one from files, so it carries a snapshot that audit rows name.
    pub fn catalog(&self) -> Catalog {
        let named = |folder: &str, docs: &[String]| -> Vec<(String, String)> {
            docs.iter().enumerate().map(|(i, text)| (format!("{folder}/{i}.yaml"), text.clone())).collect()
        };
        let source = CatalogSource::new(
            named("directory", &self.directory),
            named("policies", &self.policies),
            signoff::policy::builtin_text(),
            &self.settings,
        );
        Catalog::from_source(&source)
            .unwrap_or_else(|d| panic!("the test directory and policies are invalid or do not fit together:\n{d}"))
    }
}

// ---------------------------------------------------------------------------------------------------------
// The application

/// Turns tracing output on when `TEST_LOG=1` (once per test binary).
pub fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
    });
}

/// A running signoff.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The database it uses (`None` for [`Db::Url`]); clone it to start another app on the same data.
    pub database: Option<Arc<Database>>,
    runtime: Runtime,
    /// The test's own connection to the app's database: it stays usable after the app stopped (the app
    /// closes its pools on shutdown).
    store: Store,
    adapters: Vec<MemoryAdapter>,
    /// How the app's `[slack]` is set, when it chats with a fake Slack.
    slack: Option<SlackSetup>,
    api: ApiClient,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Builds and starts the real application described by `opts`.
pub async fn spawn_app(opts: AppOptions) -> TestApp {
    init_tracing();
    let catalog = opts.files.is_none().then(|| {
        let mut catalog = opts.catalog();
        if !opts.snapshot {
            catalog.snapshot = None;
        }
        catalog
    });
    let (database, url) = match &opts.db {
        Db::Fresh(kind) => {
            let db = Arc::new(kind.create().await);
            let url = db.url.clone();
            (Some(db), url)
        }
        Db::Shared(db) => (Some(db.clone()), db.url.clone()),
        Db::Url(url) => (None, url.clone()),
    };
    let db_kind = database.as_ref().map_or_else(|| "url".to_owned(), |d| d.kind.to_string());
    let mut config = Config::default();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = url;
    config.api.tokens = opts.tokens.iter().map(|t| SecretString::from(t.clone())).collect();
    config.audit.signing_key = opts.signing_key.clone().map(SecretString::from);
    if let Some((directory, policies)) = &opts.files {
        config.directory.path = directory.clone();
        config.policies.path = Some(policies.clone());
    }
    if let Some((url, secret)) = &opts.webhook {
        config.webhooks.url = Some(url.clone());
        config.webhooks.secret = Some(SecretString::from(secret.clone()));
    }
    if let Some(slack) = &opts.slack {
        config.slack.api_url = slack.api_url.clone();
        config.slack.signing_secret = Some(SecretString::from(slack.signing_secret.clone()));
        config.slack.bot_token = Some(SecretString::from(slack.bot_token.clone()));
    }
    if let Some(discord) = &opts.discord {
        config.discord.api_url = discord.api_url.clone();
        config.discord.application_id = Some(discord.application_id.clone());
        config.discord.public_key = Some(discord.public_key);
        config.discord.bot_token = Some(SecretString::from(discord.bot_token.clone()));
    }
    for f in &opts.configure {
        f(&mut config);
    }
    // With a fake platform, the config's real adapters chat (`chat: None`); else the recording ones.
    let real_chat = opts.slack.is_some() || opts.discord.is_some();
    let adapters: Vec<MemoryAdapter> =
        if real_chat { Vec::new() } else { opts.platforms.iter().map(|p| MemoryAdapter::new(*p)).collect() };
    let chat: Vec<Arc<dyn ChatAdapter>> =
        adapters.iter().map(|a| Arc::new(a.clone()) as Arc<dyn ChatAdapter>).collect();
    let options = Options { chat: (!real_chat).then_some(chat), tuning: opts.tuning.clone(), catalog };
    let app = Application::build(&config, options).await.unwrap_or_else(|e| panic!("signoff did not start: {e:#}"));
    let store = Store::connect(&config.database.url).await.unwrap_or_else(|e| panic!("test connection: {e}"));
    let addr = app.local_addr();
    let runtime = app.runtime().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        database,
        runtime,
        store,
        adapters,
        slack: opts.slack.clone(),
        api: ApiClient {
            base: format!("http://{addr}"),
            token: opts.tokens.first().cloned().unwrap_or_default(),
            db_kind,
            client: Client::builder(TokioExecutor::new()).build_http(),
        },
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// What an HTTP call answered.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status (0 when no answer came: connection refused or reset).
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
}

impl Response {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// A cheap, cloneable HTTP client for one app's API (a [`TestApp`] derefs to it; clone it into spawned
/// tasks).
#[derive(Clone)]
pub struct ApiClient {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bearer token sent by the typed helpers.
    pub token: String,
    /// Which kind of database the app runs on (for messages).
    pub db_kind: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    /// A client for a signoff at `base` (`http://127.0.0.1:PORT`, such as a `signoff serve` child) sending `token`.
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> ApiClient {
        ApiClient {
            base: base.into(),
            token: token.into(),
            db_kind: "sqlite".to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base.clone()
    }

    // ---- HTTP ----------------------------------------------------------------------------------------

    /// Any call. `token: None` sends no `Authorization` header; JSON bodies get `content-type: application/json`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
        content_type: Option<&str>,
    ) -> Response {
        let mut req = hyper::Request::builder().method(method).uri(format!("{}{path}", self.base_url()));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type.or(body.map(|_| "application/json")) {
            req = req.header("content-type", ct);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or("").to_owned()))).expect("a valid request");
        match tokio::time::timeout(Duration::from_secs(30), self.client.request(req)).await {
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                Response { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
            }
            Ok(Err(e)) => Response { status: 0, headers: HeaderMap::new(), text: format!("no answer: {e}") },
            Err(_) => Response { status: 0, headers: HeaderMap::new(), text: "no answer within 30s".to_owned() },
        }
    }

    /// `POST path` with this raw body and these headers, and no API token: how Slack and Discord call.
    pub async fn post_with_headers(&self, path: &str, body: &[u8], headers: &[(&str, String)]) -> Response {
        let mut req = hyper::Request::builder().method("POST").uri(format!("{}{path}", self.base_url()));
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body.to_vec()))).expect("a valid request");
        match tokio::time::timeout(Duration::from_secs(30), self.client.request(req)).await {
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                Response { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
            }
            Ok(Err(e)) => Response { status: 0, headers: HeaderMap::new(), text: format!("no answer: {e}") },
            Err(_) => Response { status: 0, headers: HeaderMap::new(), text: "no answer within 30s".to_owned() },
        }
    }

    /// `POST path` as Slack sends it: form-encoded, signed now with `secret` (`v0:{ts}:{body}`).
    pub async fn slack_post_signed(&self, path: &str, body: &str, secret: &str) -> Response {
        let ts = fake_slack::now_unix();
        let headers = [
            ("content-type", "application/x-www-form-urlencoded".to_owned()),
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", fake_slack::sign(secret, ts, body.as_bytes())),
        ];
        self.post_with_headers(path, body.as_bytes(), &headers).await
    }

    /// `POST /discord/interactions` as Discord sends it: JSON, signed now with the test key.
    pub async fn discord_post(&self, interaction: &Value) -> Response {
        let body = interaction.to_string();
        let ts = fake_slack::now_unix().to_string();
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("x-signature-timestamp", ts.clone()),
            ("x-signature-ed25519", fake_discord::sign(&fake_discord::signing_key(), &ts, body.as_bytes())),
        ];
        self.post_with_headers("/discord/interactions", body.as_bytes(), &headers).await
    }

    /// `GET path` with the API token.
    pub async fn get(&self, path: &str) -> Response {
        self.call("GET", path, None, Some(&self.token), None).await
    }

    /// `POST path` with a JSON body and the API token.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.call("POST", path, Some(&body.to_string()), Some(&self.token), None).await
    }

    /// `POST path` with this raw body (sent as JSON) and the API token.
    pub async fn post_raw(&self, path: &str, body: &str) -> Response {
        self.call("POST", path, Some(body), Some(&self.token), None).await
    }

    /// `POST /api/v1/requests` with an `Idempotency-Key` header.
    pub async fn create_with_key(&self, body: Value, key: &str) -> (u16, Value) {
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!("{}/api/v1/requests", self.base_url()))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a valid request");
        let resp = self.client.request(req).await.expect("an answer");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `POST /api/v1/requests`.
    pub async fn create_request(&self, body: Value) -> (u16, Value) {
        let r = self.post("/api/v1/requests", &body).await;
        (r.status, r.json())
    }

    /// Creates a request that must succeed; returns its view.
    pub async fn create_ok(&self, body: Value) -> Value {
        let (status, view) = self.create_request(body.clone()).await;
        assert_eq!(status, 201, "[{}] creating {body}: {view}", self.db_kind);
        view
    }

    /// `POST /api/v1/requests/{id}/decisions` with `{approver, verdict}`.
    pub async fn decide(&self, id: &str, approver: &str, verdict: &str) -> (u16, Value) {
        self.decide_with(id, json!({ "approver": approver, "verdict": verdict })).await
    }

    /// `POST /api/v1/requests/{id}/decisions` with any body.
    pub async fn decide_with(&self, id: &str, body: Value) -> (u16, Value) {
        let r = self.post(&format!("/api/v1/requests/{id}/decisions"), &body).await;
        (r.status, r.json())
    }

    /// A decision that must succeed; returns the request's view.
    pub async fn decide_ok(&self, id: &str, approver: &str, verdict: &str) -> Value {
        let (status, view) = self.decide(id, approver, verdict).await;
        assert_eq!(status, 200, "[{}] {approver} {verdict}s {id}: {view}", self.db_kind);
        view
    }

    /// `GET /api/v1/requests/{id}`.
    pub async fn get_request(&self, id: &str) -> (u16, Value) {
        let r = self.get(&format!("/api/v1/requests/{id}")).await;
        (r.status, r.json())
    }

    /// The view of a request that must exist.
    pub async fn request_view(&self, id: &str) -> Value {
        let (status, view) = self.get_request(id).await;
        assert_eq!(status, 200, "[{}] reading {id}: {view}", self.db_kind);
        view
    }

    /// `POST /api/v1/requests/{id}/cancel`, by `by` (or, with `None`, an empty body: the requester).
    pub async fn cancel(&self, id: &str, by: Option<&str>) -> (u16, Value) {
        let path = format!("/api/v1/requests/{id}/cancel");
        let r = match by {
            Some(by) => self.post(&path, &json!({ "by": by })).await,
            None => self.call("POST", &path, None, Some(&self.token), None).await,
        };
        (r.status, r.json())
    }

    /// `POST /api/v1/grants/{id}/release`, by `by` (or the holder).
    pub async fn release_grant(&self, id: &str, by: Option<&str>) -> (u16, Value) {
        let path = format!("/api/v1/grants/{id}/release");
        let r = match by {
            Some(by) => self.post(&path, &json!({ "by": by })).await,
            None => self.call("POST", &path, None, Some(&self.token), None).await,
        };
        (r.status, r.json())
    }

    /// `GET /api/v1/grants/{id}`.
    pub async fn get_grant(&self, id: &str) -> (u16, Value) {
        let r = self.get(&format!("/api/v1/grants/{id}")).await;
        (r.status, r.json())
    }

    /// `GET /api/v1/audit?request={id}`.
    pub async fn audit(&self, id: &str) -> (u16, Value) {
        let r = self.get(&format!("/api/v1/audit?request={id}")).await;
        (r.status, r.json())
    }

    /// `GET /api/v1/requests?{query}`.
    pub async fn list(&self, query: &str) -> (u16, Value) {
        let r = self.get(&format!("/api/v1/requests?{query}")).await;
        (r.status, r.json())
    }
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;
    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

/// How long [`TestApp::wait_until`] waits by default.
pub const WAIT: Duration = Duration::from_secs(10);

impl TestApp {
    /// A client for this app's API, to move into spawned tasks.
    pub fn client(&self) -> ApiClient {
        self.api.clone()
    }

    /// The runtime (its store, catalog; direct calls).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// `POST path` (`/slack/interactions`, `/slack/commands`) signed as Slack signs it, with the app's
    /// signing secret.
    pub async fn slack_post(&self, path: &str, body: &str) -> Response {
        let secret = self.slack.as_ref().map_or(fake_slack::SIGNING_SECRET.to_owned(), |s| s.signing_secret.clone());
        self.api.slack_post_signed(path, body, &secret).await
    }

    /// A signed `POST /slack/interactions` with this payload (`payload=<JSON>`).
    pub async fn slack_interaction(&self, payload: &Value) -> Response {
        self.slack_post("/slack/interactions", &fake_slack::form_payload(payload)).await
    }

    /// `clicker` clicks the button whose `action_id` contains `word` on a Slack message; returns signoff's
    /// answer and the `response_url` the click carried.
    pub async fn slack_click(
        &self,
        fake: &FakeSlack,
        clicker: &str,
        message: &fake_slack::Message,
        word: &str,
    ) -> (Response, String) {
        let (block_id, button) = message.button(word);
        let response_url = fake.response_url();
        let payload = fake_slack::click_payload(clicker, message, &block_id, &button, &response_url);
        (self.slack_interaction(&payload).await, response_url)
    }

    /// A signed `/request` from Slack user `user` with this text; returns signoff's answer.
    pub async fn slack_command(&self, fake: &FakeSlack, user: &str, text: &str) -> Response {
        self.slack_post("/slack/commands", &fake_slack::slash_command_body(user, text, &fake.response_url())).await
    }

    /// Audit rows of one kind (`refused`, ...), newest last, as `(actor, detail)`.
    pub async fn audit_rows(&self, kind: &str) -> Vec<(Option<String>, Value)> {
        let rows: Vec<(Option<String>, String)> =
            sqlx::query_as("SELECT actor, detail FROM audit WHERE kind = $1 ORDER BY seq")
                .bind(kind.to_owned())
                .fetch_all(self.store().reader())
                .await
                .unwrap_or_else(|e| panic!("[{}] reading the audit trail: {e}", self.db_kind));
        rows.into_iter().map(|(a, d)| (a, serde_json::from_str(&d).unwrap_or(Value::Null))).collect()
    }

    /// The store, for direct SQL checks (the test's own connection).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The recording adapter of the first platform.
    pub fn chat(&self) -> &MemoryAdapter {
        &self.adapters[0]
    }

    /// The recording adapter of `platform`.
    pub fn chat_on(&self, platform: Platform) -> &MemoryAdapter {
        self.adapters.iter().find(|a| a.platform() == platform).expect("no adapter for this platform")
    }

    /// Every recorded chat call on every platform.
    pub fn calls(&self) -> Vec<Call> {
        self.adapters.iter().flat_map(MemoryAdapter::calls).collect()
    }

    /// Prompts sent (on any platform), with who they went to (the chat identity).
    pub fn prompts(&self) -> Vec<(ChatUser, PromptMessage)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Prompt(u, p) => Some((u, p)),
                _ => None,
            })
            .collect()
    }

    /// Prompts sent to directory user `user` on the console (whose chat id is the user id) or on Slack.
    pub fn prompts_to(&self, user: &str) -> Vec<PromptMessage> {
        let slack = slack_id(user);
        self.prompts().into_iter().filter(|(u, _)| u.id == user || u.id == slack).map(|(_, p)| p).collect()
    }

    /// Prompt messages closed, with how.
    pub fn closes(&self) -> Vec<(MessageRef, PromptClosing)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Close(m, c) => Some((m, c)),
                _ => None,
            })
            .collect()
    }

    /// Closings of the prompts sent to `user` (the memory adapter's channel is `D-<chat id>`).
    pub fn closes_for(&self, user: &str) -> Vec<PromptClosing> {
        let (a, b) = (format!("D-{user}"), format!("D-{}", slack_id(user)));
        self.closes().into_iter().filter(|(m, _)| m.channel == a || m.channel == b).map(|(_, c)| c).collect()
    }

    /// Notifications sent to `user`.
    pub fn notifications_to(&self, user: &str) -> Vec<Notification> {
        let slack = slack_id(user);
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Notify(u, n) if u.id == user || u.id == slack => Some(n),
                _ => None,
            })
            .collect()
    }

    // ---- Waiting and the database ----------------------------------------------------------------

    /// Polls `cond` every 20 ms until it holds; fails the test with `what` after `timeout`.
    pub async fn wait_until(&self, what: &str, timeout: Duration, cond: impl AsyncFn(&TestApp) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self).await {
                return;
            }
            if Instant::now() >= deadline {
                let outbox: Vec<(String, String, Option<String>, i64)> =
                    sqlx::query_as("SELECT key, kind, outcome, attempts FROM outbox ORDER BY id")
                        .fetch_all(self.store().reader())
                        .await
                        .unwrap_or_default();
                panic!(
                    "[{}] timed out after {timeout:?} waiting until {what}\nchat calls: {:#?}\noutbox: {outbox:#?}",
                    self.db_kind,
                    self.calls()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`wait_until`](Self::wait_until) with the default bound ([`WAIT`]).
    pub async fn wait_for(&self, what: &str, cond: impl AsyncFn(&TestApp) -> bool) {
        self.wait_until(what, WAIT, cond).await;
    }

    /// Waits until a request's state is `state`; returns its view.
    pub async fn wait_for_state(&self, id: &str, state: &str) -> Value {
        self.wait_for(&format!("request {id} is {state}"), async |app| app.get_request(id).await.1["state"] == state)
            .await;
        self.request_view(id).await
    }

    /// Waits until each of `users` has been sent at least one prompt in chat (approvers answer what they
    /// see; answering before the prompt arrives is its own scenario).
    pub async fn wait_for_prompts(&self, users: &[&str]) {
        self.wait_for(&format!("{users:?} are asked in chat"), async |app| {
            users.iter().all(|u| !app.prompts_to(u).is_empty())
        })
        .await;
    }

    /// Waits until every outbox row is delivered (or given up).
    pub async fn wait_for_outbox_drained(&self) {
        self.wait_for("the outbox is drained", async |app| {
            app.count("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL").await == 0
        })
        .await;
    }

    /// One number from SQL (on the reader), e.g. `SELECT COUNT(*) FROM items`.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.store().reader())
            .await
            .unwrap_or_else(|e| panic!("[{}] {sql}: {e}", self.db_kind))
    }

    /// One text value from SQL.
    pub async fn store_scalar(&self, sql: &str) -> String {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.store().reader())
            .await
            .unwrap_or_else(|e| panic!("[{}] {sql}: {e}", self.db_kind))
    }

    /// One number from SQL with one text parameter (`$1`).
    pub async fn count_with(&self, sql: &str, arg: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(arg.to_owned())
            .fetch_one(self.store().reader())
            .await
            .unwrap_or_else(|e| panic!("[{}] {sql}: {e}", self.db_kind))
    }

    /// The value of a Prometheus counter or gauge on `/metrics`, summed over the series whose labels include
    /// `labels` (0 when there is none). Metrics are process-wide and tests share the process, so compare a
    /// test's own before and after.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self.get("/metrics").await.text;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (n, rest) = series.split_once('{').unwrap_or((series, ""));
                let wanted = n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
                wanted.then(|| value.parse::<f64>().ok()).flatten()
            })
            .sum()
    }

    /// Row counts of the tables a request writes.
    pub async fn row_counts(&self) -> RowCounts {
        RowCounts {
            requests: self.count("SELECT COUNT(*) FROM requests").await,
            items: self.count("SELECT COUNT(*) FROM items").await,
            item_events: self.count("SELECT COUNT(*) FROM item_events").await,
            prompts: self.count("SELECT COUNT(*) FROM prompts").await,
            grants: self.count("SELECT COUNT(*) FROM grants").await,
            audit: self.count("SELECT COUNT(*) FROM audit").await,
            outbox: self.count("SELECT COUNT(*) FROM outbox").await,
            callbacks: self.count("SELECT COUNT(*) FROM callbacks").await,
        }
    }

    /// Runs a statement on the writer (for tampering with the database directly).
    pub async fn execute(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.store().writer())
            .await
            .unwrap_or_else(|e| panic!("[{}] {sql}: {e}", self.db_kind));
    }

    // ---- Stopping ----------------------------------------------------------------------------------

    /// Stops gracefully: no new connections, in-flight requests finish, queued work is committed. The
    /// store stays open for checks afterwards.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(20), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("[{}] signoff stopped with an error: {e:#}", self.db_kind),
                Ok(Err(e)) => panic!("[{}] the server task failed: {e}", self.db_kind),
                Err(_) => panic!("[{}] signoff did not stop within 20s", self.db_kind),
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            // The background loops outlive an aborted server; tell them to stop too.
            let runtime = self.runtime.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { runtime.shutdown().await });
            }
        }
    }
}

/// Row counts of the tables a request writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    pub requests: i64,
    pub items: i64,
    pub item_events: i64,
    pub prompts: i64,
    pub grants: i64,
    pub audit: i64,
    pub outbox: i64,
    pub callbacks: i64,
}

/// The longest any chat scenario may take.
pub const SCENARIO: Duration = Duration::from_secs(60);

/// Runs a scenario, failing it if it takes longer than [`SCENARIO`].
pub async fn bounded(scenario: impl Future<Output = ()>) {
    tokio::time::timeout(SCENARIO, scenario).await.expect("the scenario finished in time");
}

/// A workflow asking Kim, Max and Sam at once, any one of whom settles it.
pub fn any_of_three() -> String {
    format!(
        "parallel_expression:\n  number_required: 1\n  expressions:\n    - user_constant_expression: {{ user: {KIM} }}\n    \
         - user_constant_expression: {{ user: {MAX} }}\n    - user_constant_expression: {{ user: {SAM} }}\n"
    )
}

/// The decisions of a view's first item.
pub fn decisions(view: &Value) -> Vec<Value> {
    item(view)["decisions"].as_array().cloned().unwrap_or_default()
}

/// The first item of a request view.
pub fn item(view: &Value) -> &Value {
    &view["items"][0]
}

/// The request id of a view.
pub fn id_of(view: &Value) -> String {
    view["id"].as_str().unwrap_or_else(|| panic!("no id in {view}")).to_owned()
}

/// The approvers of the prompts of a view's first item that are in `state`, sorted.
pub fn prompt_approvers(view: &Value, state: &str) -> Vec<String> {
    let mut v: Vec<String> = item(view)["prompts"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["state"] == state)
                .filter_map(|p| p["approver"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------------------
// The webhook receiver

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-Signoff-Delivery`.
    pub id: String,
    /// `X-Signoff-Timestamp`.
    pub timestamp: String,
    /// `X-Signoff-Signature`.
    pub signature: String,
    /// The raw body.
    pub body: String,
    /// Whether the signature matches the receiver's secret.
    pub signature_valid: bool,
    /// What the receiver answered (or was about to, for a hang).
    pub answered: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Delivery {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The body's `event`.
    pub fn event(&self) -> String {
        self.json()["event"].as_str().unwrap_or_default().to_owned()
    }
}

/// What the receiver does with the next deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Answer 500.
    Fail,
    /// Sleep longer than signoff's attempt timeout, then answer 200 (signoff gives up first).
    Hang,
}

#[derive(Default)]
struct ReceiverState {
    deliveries: Vec<Delivery>,
    script: VecDeque<Script>,
    /// Until then every delivery gets a 503 (an outage).
    down_until: Option<Instant>,
}

/// A provisioning endpoint on `127.0.0.1:0` that records and verifies every delivery.
pub struct WebhookReceiver {
    addr: SocketAddr,
    /// The secret deliveries are verified with.
    pub secret: String,
    state: Arc<Mutex<ReceiverState>>,
    task: JoinHandle<()>,
}

/// How long a scripted hang lasts: longer than signoff's attempt timeout.
pub fn hang_time() -> Duration {
    signoff::webhook::ATTEMPT_TIMEOUT + Duration::from_secs(2)
}

impl WebhookReceiver {
    /// Starts a receiver verifying with [`WEBHOOK_SECRET`].
    pub async fn start() -> WebhookReceiver {
        WebhookReceiver::with_secret(WEBHOOK_SECRET).await
    }

    /// Starts a receiver verifying with `secret`.
    pub async fn with_secret(secret: &str) -> WebhookReceiver {
        let state: Arc<Mutex<ReceiverState>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the webhook receiver");
        let addr = listener.local_addr().expect("its address");
        let handler_state = state.clone();
        let key = secret.to_owned();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = handler_state.clone();
                let key = key.clone();
                async move { receive(&state, &key, &headers, &body).await }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { addr, secret: secret.to_owned(), state, task }
    }

    /// Where signoff should POST.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next `n` deliveries get a 500.
    pub fn fail_next(&self, n: usize) {
        self.script(std::iter::repeat_n(Script::Fail, n));
    }

    /// Every delivery in the next `d` gets a 503: the receiver is down.
    pub fn down_for(&self, d: Duration) {
        self.state.lock().unwrap().down_until = Some(Instant::now() + d);
    }

    /// The next `n` deliveries hang past signoff's timeout.
    pub fn hang_next(&self, n: usize) {
        self.script(std::iter::repeat_n(Script::Hang, n));
    }

    /// Scripts the next deliveries, in order; after them, 200.
    pub fn script(&self, steps: impl IntoIterator<Item = Script>) {
        self.state.lock().unwrap().script.extend(steps);
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }

    /// Deliveries of one event kind (`grant.created`, ...).
    pub fn deliveries_of(&self, event: &str) -> Vec<Delivery> {
        self.deliveries().into_iter().filter(|d| d.event() == event).collect()
    }

    /// Polls until `cond` holds on the deliveries; fails after `timeout`.
    pub async fn wait_until(&self, what: &str, timeout: Duration, cond: impl Fn(&[Delivery]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.deliveries()) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting until {what}; received: {:#?}", self.deliveries());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(state: &Mutex<ReceiverState>, secret: &str, headers: &HeaderMap, body: &Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let timestamp = header("x-signoff-timestamp");
    let signature = header("x-signoff-signature");
    let signature_valid =
        timestamp.parse::<i64>().is_ok_and(|ts| verify_signature(secret.as_bytes(), ts, body, &signature));
    let down = state.lock().unwrap().down_until.is_some_and(|t| Instant::now() < t);
    let step = if down { None } else { state.lock().unwrap().script.pop_front() };
    let answered = if down {
        503
    } else if step == Some(Script::Fail) {
        500
    } else {
        200
    };
    state.lock().unwrap().deliveries.push(Delivery {
        id: header("x-signoff-delivery"),
        timestamp,
        signature,
        body: String::from_utf8_lossy(body).into_owned(),
        signature_valid,
        answered,
        at: Instant::now(),
    });
    if step == Some(Script::Hang) {
        tokio::time::sleep(hang_time()).await;
    }
    StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
}

/// Checks `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`, computed here independently of signoff.
pub fn verify_signature(secret: &[u8], timestamp: i64, body: &[u8], signature: &str) -> bool {
    use hmac::{KeyInit, Mac};
    let Some(hex_sig) = signature.strip_prefix("v1=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret) else { return false };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

// ---------------------------------------------------------------------------------------------------------
// The binary

/// Writes `signoff.toml` in `dir` naming only this database, so the built binary (`signoff audit verify`,
/// `signoff migrate`, `signoff serve`) works on the same data as an app. Returns its path.
pub fn write_config(dir: &Path, database_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("signoff.toml");
    std::fs::write(&path, format!("[database]\nurl = \"{database_url}\"\n{extra}")).expect("writing the test config");
    path
}

/// The built `signoff` binary, run in `dir`, with no `SIGNOFF_*` variable inherited from the test's
/// environment (so `SIGNOFF_TEST_POSTGRES_URL` and the like cannot change what it reads).
pub fn signoff_command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"));
    cmd.current_dir(dir).env("RUST_BACKTRACE", "0");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SIGNOFF_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers

/// Runs futures concurrently and collects their outputs in order.
pub async fn join_all<F: Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<JoinHandle<F::Output>> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a task panicked"));
    }
    out
}
