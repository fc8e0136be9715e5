//! The service configuration: one TOML file plus `SIGNOFF_<SECTION>_<KEY>` environment variables, read once at
//! start.
//!
//! Nothing else in signoff reads the environment: the rest of the program receives a [`Config`] value, and tests
//! build one directly (every sub-struct has plain pub fields and a `Default`).
//!
//! # Sources and precedence
//!
//! Defaults, then the file, then the environment: an environment variable overrides the file's value for the same
//! key. Every key `[section] key` can be set by `SIGNOFF_SECTION_KEY` (upper-cased), `[policies.risk] 3` by
//! `SIGNOFF_POLICIES_RISK_3`, and `[api] tokens` by a comma-separated `SIGNOFF_API_TOKENS`.
//!
//! Environment values are trimmed, and a variable that is empty after trimming counts as not set: deployment
//! templates often render an unset variable as an empty string, and secret stores often append a newline, and
//! neither should change what the file says or make a token fail to match. `SIGNOFF_` variables whose section is
//! not one of ours (`SIGNOFF_LOG`, `SIGNOFF_TEST_POSTGRES_URL`) belong to someone else and are ignored; a variable
//! whose section is ours but whose key is not is an error, because it is almost certainly a typo that would
//! otherwise silently leave a secret unset.
//!
//! # Paths
//!
//! A relative `directory.path`, `policies.path` or `server.pid_file` written in the file is relative to the file's folder, so a
//! config works the same whatever folder signoff is started from. One given by an environment variable is relative
//! to the current folder, like any path typed in a shell. Database URLs are kept exactly as given: a relative
//! `sqlite://signoff.db` is relative to the current folder, which is what every other tool that reads the same URL
//! (sqlite3, migration tools) will assume.
//!
//! # Errors
//!
//! Everything wrong is reported in one go as [`Diagnostics`]: problems in the file as `file:line:col: message`,
//! problems in the environment as `environment variable SIGNOFF_X_Y: message`. A message about a secret never
//! contains the secret's value.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;
use toml::de::{DeTable, DeValue};

use crate::access::{Scope, TokenSpec};
use crate::diag::{self, Diagnostic, Diagnostics, Location, Origin, Pos};
use crate::time::Duration;

/// The file read when no `--config` is given, if it exists in the current folder.
pub const DEFAULT_FILE: &str = "signoff.toml";

/// The prefix of every environment variable signoff reads.
const ENV_PREFIX: &str = "SIGNOFF_";

/// Everything signoff needs to know before it starts serving. See the module documentation for where each value
/// comes from.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file the configuration was read from, if any: `signoff check` names it, and it is the folder relative
    /// paths were resolved against.
    pub file: Option<PathBuf>,
    /// `[server]`: where the HTTP server listens and how the outside world reaches it.
    pub server: ServerConfig,
    /// `[database]`: where requests, decisions and the audit trail are stored.
    pub database: DatabaseConfig,
    /// `[directory]`: who is who (users, groups, resources).
    pub directory: DirectoryConfig,
    /// `[policies]`: which workflow decides a request.
    pub policies: PoliciesConfig,
    /// `[api]`: who may call the REST API.
    pub api: ApiConfig,
    /// `[audit]`: how the audit trail proves itself.
    pub audit: AuditConfig,
    /// `[telemetry]`: where traces go, if anywhere.
    pub telemetry: TelemetryConfig,
    /// `[slack]`: the Slack app, if Slack is used.
    pub slack: SlackConfig,
    /// `[discord]`: the Discord application, if Discord is used.
    pub discord: DiscordConfig,
    /// `[webhooks]`: where grants are announced for provisioning.
    pub webhooks: WebhooksConfig,
    /// `[web]` and `[web.oidc]`: the pages and how people sign in to them.
    pub web: WebConfig,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address the HTTP server binds. Default `127.0.0.1:8080`: loopback, so a fresh install is not exposed
    /// to the network until someone decides it should be.
    pub listen: SocketAddr,
    /// The URL people and platforms use to reach this server (behind any proxy), without a trailing `/`, for
    /// links in prompts. Unset when signoff is only reached through the API.
    pub public_url: Option<String>,
    /// Where `signoff serve` writes its process id at start (and removes it on a clean stop), so that
    /// `signoff reload` knows which process to send `SIGHUP`. Unset: no pid file. Already resolved like the other
    /// paths: relative to the config file's folder when written in the file.
    pub pid_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8080)), public_url: None, pid_file: None }
    }
}

/// `[database]`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://...` (`postgresql://...`), exactly as given. Default `sqlite://signoff.db`,
    /// created if missing, so a first run needs no database server. A relative SQLite path is relative to the
    /// current folder, not to the config file: the URL means the same to every tool that reads it.
    pub url: String,
}

impl DatabaseConfig {
    /// The SQLite database file (the URL's path, without any `?options`), or `None` for PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        let rest = strip_prefix_ignore_case(&self.url, "sqlite://")?;
        Some(Path::new(rest.split('?').next().unwrap_or(rest)))
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: "sqlite://signoff.db".to_owned() }
    }
}

impl fmt::Debug for DatabaseConfig {
    /// Hides a password in the URL: a PostgreSQL URL usually carries one, and configs end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig").field("url", &redact_url(&self.url)).finish()
    }
}

/// `[directory]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryConfig {
    /// A YAML or JSON file, or a folder of them, listing users, groups and resources. Default `directory` next
    /// to the config file (or in the current folder when there is no file). Already resolved: a relative path
    /// from the file has been joined to the file's folder.
    pub path: PathBuf,
    /// Serve SCIM 2.0 at `/scim/v2` for the identity provider's provisioning (DESIGN 7.5); off by default.
    pub scim: bool,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig { path: PathBuf::from("directory"), scim: false }
    }
}

/// `[policies]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoliciesConfig {
    /// A YAML or JSON file, or a folder of them, defining named workflows in addition to the built-in ones.
    /// `None` (the default) means only the built-ins. Resolved like [`DirectoryConfig::path`].
    pub path: Option<PathBuf>,
    /// The workflow used when neither the resource, its role nor the risk mapping names one. Default `MANAGER`.
    pub default: String,
    /// The timeout of workflow nodes that set none. `None` (the default, also written `"0"`) means such nodes
    /// wait forever, as in the original product; a deployment that wants every request to end eventually sets
    /// e.g. `72h`.
    pub default_timeout: Option<Duration>,
    /// The workflow for each resource risk level, indexed by level 0..=4 (`risk[3]` is `[policies.risk] 3`).
    /// Defaults: 0 `AUTO_APPROVE`, 1 `MANAGER`, 2 `APP_ADMIN`, 3 and 4 `APP_ADMIN_THEN_SECURITY`.
    pub risk: [String; 5],
    /// Where [`default`](Self::default) was set (its place in the file, or the environment variable), so that
    /// `signoff check` can point there when it names no workflow. `None` for the built-in default.
    pub default_origin: Option<Origin>,
    /// Where each [`risk`](Self::risk) level was set, like [`default_origin`](Self::default_origin).
    pub risk_origins: [Option<Origin>; 5],
}

impl PoliciesConfig {
    /// The workflow for a resource of risk `level`; levels above 4 are treated as 4, the most careful.
    pub fn workflow_for_risk(&self, level: u8) -> &str {
        &self.risk[usize::from(level.min(4))]
    }
}

impl Default for PoliciesConfig {
    fn default() -> Self {
        PoliciesConfig {
            path: None,
            default: "MANAGER".to_owned(),
            default_timeout: None,
            risk: [
                "AUTO_APPROVE".to_owned(),
                "MANAGER".to_owned(),
                "APP_ADMIN".to_owned(),
                "APP_ADMIN_THEN_SECURITY".to_owned(),
                "APP_ADMIN_THEN_SECURITY".to_owned(),
            ],
            default_origin: None,
            risk_origins: Default::default(),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Legacy bearer tokens accepted by `/api/v1`, each with every right and no identity (`signoff check` warns
    /// about them). Empty tokens are rejected at load time, since `Bearer ` with nothing after it must not match.
    pub tokens: Vec<SecretString>,
    /// Where [`tokens`](Self::tokens) was set, for `signoff check`'s warning about them.
    pub tokens_origin: Option<Origin>,
    /// `[[api.token]]`: tokens declared one by one, by digest, with scopes and an optional person. With no token
    /// of either kind (the default) the REST API accepts no one; it is never open.
    pub token: Vec<TokenSpec>,
    /// Where each of [`token`](Self::token) was declared (its `as` is checked against the directory there).
    pub token_origins: Vec<Origin>,
    /// The most items one request may hold (people times roles); more is refused with 422. Default
    /// [`DEFAULT_MAX_ITEMS`].
    pub max_items: usize,
}

/// The default `[api] max_items`: more than any real request, few enough that one call cannot flood the
/// approvers, the database and the webhook receiver.
pub const DEFAULT_MAX_ITEMS: usize = 50;

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            tokens: Vec::new(),
            tokens_origin: None,
            token: Vec::new(),
            token_origins: Vec::new(),
            max_items: DEFAULT_MAX_ITEMS,
        }
    }
}

/// `[audit]`.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    /// An Ed25519 private key (PKCS#8 PEM, or base64 of the 32-byte seed) that signs a checkpoint of the chain's
    /// head at every commit. Checked when the config is read; kept out of the database.
    pub signing_key: Option<SecretString>,
}

/// `[telemetry]` (DESIGN 7.7). Traces are exported over OTLP only when [`otlp_endpoint`](Self::otlp_endpoint) is
/// set; without it nothing is exported and nothing is collected for export.
#[derive(Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector, such as `http://127.0.0.1:4318`: traces are POSTed to `{otlp_endpoint}/v1/traces`
    /// (a URL that already ends in `/v1/traces` is used as it is). `None` (the default) exports nothing.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the traces carry (default `signoff`).
    pub service_name: String,
}

/// The default `[telemetry] service_name`.
pub const DEFAULT_SERVICE_NAME: &str = "signoff";

impl fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A collector URL may carry a password (`https://user:pass@collector`).
        f.debug_struct("TelemetryConfig")
            .field("otlp_endpoint", &self.otlp_endpoint.as_deref().map(redact_url))
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig { otlp_endpoint: None, service_name: DEFAULT_SERVICE_NAME.to_owned() }
    }
}

/// `[slack]`. Slack is used when both [`signing_secret`](Self::signing_secret) and
/// [`bot_token`](Self::bot_token) are set (see [`Config::slack_enabled`]).
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Verifies that a request really comes from Slack (`v0` HMAC-SHA256).
    pub signing_secret: Option<SecretString>,
    /// `xoxb-...`: sends and updates the prompts.
    pub bot_token: Option<SecretString>,
    /// `xapp-...`: Socket Mode, for installs that cannot receive HTTP from Slack. Optional.
    pub app_token: Option<SecretString>,
    /// The Web API base URL, without a trailing `/`. Default `https://slack.com/api`; tests point it at a fake.
    pub api_url: String,
    /// The workspace whose callbacks count (`T...`); others are refused. Unset: the one `auth.test` reports at
    /// start.
    pub team_id: Option<String>,
    /// On Enterprise Grid, the organisation whose callbacks count (`E...`). Unset: the one `auth.test` reports,
    /// if any.
    pub enterprise_id: Option<String>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            signing_secret: None,
            bot_token: None,
            app_token: None,
            api_url: "https://slack.com/api".to_owned(),
            team_id: None,
            enterprise_id: None,
        }
    }
}

/// `[discord]`. Discord is used when the application id, public key and bot token are all set (see
/// [`Config::discord_enabled`]).
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The application's id (a snowflake, written as a string or an integer), used in interaction follow-up URLs.
    pub application_id: Option<String>,
    /// The application's Ed25519 public key, decoded from the 64 hex characters Discord shows; verifies that an
    /// interaction really comes from Discord.
    pub public_key: Option<[u8; 32]>,
    /// Sends and updates the prompts.
    pub bot_token: Option<SecretString>,
    /// The API base URL, without a trailing `/`. Default `https://discord.com/api/v10`; tests point it at a fake.
    pub api_url: String,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            application_id: None,
            public_key: None,
            bot_token: None,
            api_url: "https://discord.com/api/v10".to_owned(),
        }
    }
}

/// `[webhooks]`: the provisioning webhook.
#[derive(Debug, Clone, Default)]
pub struct WebhooksConfig {
    /// Where grant and denial events are POSTed, exactly as given. `None` (the default) sends nothing.
    pub url: Option<String>,
    /// Signs every delivery (`X-Signoff-Signature`) so the receiver can trust it. Required when `url` is set: an
    /// unsigned provisioning call would let anyone grant themselves access.
    pub secret: Option<SecretString>,
}

/// `[web]`: the pages of DESIGN 7.6. They are served when people can sign in: with `[web.oidc] issuer`, or with
/// `dev_login` on a loopback listener.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Shows a "sign in as" list of directory users instead of OpenID Connect. Refused unless `[server] listen` is
    /// a loopback address: anyone who reaches the page can be anyone.
    pub dev_login: bool,
    /// Signs the session cookies (at least 32 random bytes, hex or base64), so a session is valid on every
    /// replica and survives restarts. Required with `[web.oidc]`; with `dev_login` alone a random key is made at
    /// start.
    pub session_key: Option<SecretString>,
    /// `[web.oidc]`.
    pub oidc: OidcConfig,
}

impl WebConfig {
    /// Whether the pages are served at all.
    pub fn enabled(&self) -> bool {
        self.dev_login || self.oidc.issuer.is_some()
    }
}

/// `[web.oidc]`: OpenID Connect sign-in (authorization code with PKCE).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The provider's issuer URL; its discovery document is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// The client id registered with the provider.
    pub client_id: Option<String>,
    /// The client secret, when the provider gave one (a confidential client).
    pub client_secret: Option<SecretString>,
    /// The scopes asked for. Default `openid email profile`.
    pub scopes: Vec<String>,
    /// The id_token claim naming the directory user (by id or email). Default `email`.
    pub user_claim: String,
    /// How recent a sign-in must be to decide a `step_up` node. Default 10 minutes.
    pub step_up_max_age: Duration,
    /// The `amr` values of which a step-up sign-in must show one. Default `["mfa"]`.
    pub step_up_amr: Vec<String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: None,
            client_id: None,
            client_secret: None,
            scopes: ["openid", "email", "profile"].map(str::to_owned).to_vec(),
            user_claim: "email".to_owned(),
            step_up_max_age: Duration::from_secs(600),
            step_up_amr: vec!["mfa".to_owned()],
        }
    }
}

/// The fewest bytes a session key may have.
pub const MIN_SESSION_KEY: usize = 32;

/// The bytes of a session key written as hex or base64 (standard or URL-safe, padded or not), when there are
/// at least [`MIN_SESSION_KEY`] of them.
pub fn session_key_bytes(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let text = text.trim();
    let bytes = hex::decode(text).ok().or_else(|| {
        [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ]
        .iter()
        .find_map(|e| e.decode(text).ok())
    });
    match bytes {
        Some(b) if b.len() >= MIN_SESSION_KEY => Ok(b),
        Some(b) => Err(format!(
            "must hold at least {MIN_SESSION_KEY} random bytes, found {}; make one with `openssl rand -hex 32`",
            b.len()
        )),
        None => Err("must be hex or base64 (make one with `openssl rand -hex 32`)".to_owned()),
    }
}

impl Config {
    /// Reads the configuration from `path`, or from [`DEFAULT_FILE`] in the current folder when `path` is `None`
    /// (all defaults when that file does not exist), then applies the process's `SIGNOFF_*` environment variables.
    ///
    /// An explicit `path` that does not exist is an error: someone asked for that file.
    pub fn load(path: Option<&Path>) -> Result<Config, Diagnostics> {
        let mut diags = Diagnostics::new();
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            // Names that are not Unicode cannot be ours; values that are not must be reported, not dropped.
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => env.push((name, value)),
                Err(_) if name.starts_with(ENV_PREFIX) => diags
                    .push(Diagnostic::named(format!("environment variable {name}"), "the value is not valid UTF-8")),
                Err(_) => {}
            }
        }
        let result = load_from(path, Path::new(DEFAULT_FILE), env);
        match result {
            Ok(config) => diags.into_result(config),
            Err(more) => {
                diags.0.extend(more.0);
                diags.into_result(Config::default())
            }
        }
    }

    /// Builds a configuration from the text of `file` and the given environment variables (pairs not starting
    /// with `SIGNOFF_` are ignored). This is [`Config::load`] without any I/O, for tests and for `signoff check`.
    pub fn from_toml(
        file: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, Diagnostics> {
        let mut b = Builder::new();
        b.config.file = Some(file.to_owned());
        let base = file.parent().unwrap_or(Path::new(""));
        b.config.directory.path = base.join(&b.config.directory.path);
        b.read_file(file, text);
        b.read_env(env);
        b.finish()
    }

    /// Builds a configuration from defaults and the given environment variables only, as when there is no file.
    pub fn from_env(env: impl IntoIterator<Item = (String, String)>) -> Result<Config, Diagnostics> {
        let mut b = Builder::new();
        b.read_env(env);
        b.finish()
    }

    /// What is allowed but unwise, one line each (`where: warning: what`), for `signoff check` and the log at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.api.tokens.is_empty() {
            let at = self.api.tokens_origin.as_ref().map_or_else(|| "[api] tokens".to_owned(), ToString::to_string);
            out.push(format!(
                "{at}: warning: {} legacy `[api] tokens` can do everything and act as anyone, and the audit trail \
                 cannot tell who used them; declare `[[api.token]]` entries with scopes instead (`signoff token new`)",
                self.api.tokens.len()
            ));
        }
        out
    }

    /// Whether Slack is configured: it needs the signing secret (to trust Slack) and the bot token (to talk to it).
    pub fn slack_enabled(&self) -> bool {
        self.slack.signing_secret.is_some() && self.slack.bot_token.is_some()
    }

    /// Whether Discord is configured: it needs the public key (to trust Discord), the bot token (to talk to it)
    /// and the application id (to answer interactions).
    pub fn discord_enabled(&self) -> bool {
        self.discord.application_id.is_some() && self.discord.public_key.is_some() && self.discord.bot_token.is_some()
    }
}

/// [`Config::load`] with the default file and the environment as parameters, so tests need not change the
/// process's current folder or environment.
fn load_from(
    explicit: Option<&Path>,
    default_file: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, Diagnostics> {
    let path = explicit.unwrap_or(default_file);
    match std::fs::read_to_string(path) {
        Ok(text) => Config::from_toml(path, &text, env),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match explicit {
            Some(_) => Err(Diagnostic::file(path, "config file not found").into()),
            None => Config::from_env(env),
        },
        Err(e) => Err(Diagnostic::file(path, format!("cannot read config file: {e}")).into()),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The keys we know.

/// One settable key. `[policies.risk]` is one setting per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    Listen,
    PublicUrl,
    PidFile,
    DatabaseUrl,
    DirectoryPath,
    DirectoryScim,
    PoliciesPath,
    PoliciesDefault,
    DefaultTimeout,
    Risk(u8),
    ApiTokens,
    ApiToken,
    ApiMaxItems,
    AuditSigningKey,
    TelemetryOtlpEndpoint,
    TelemetryServiceName,
    SlackSigningSecret,
    SlackBotToken,
    SlackAppToken,
    SlackApiUrl,
    SlackTeamId,
    SlackEnterpriseId,
    DiscordApplicationId,
    DiscordPublicKey,
    DiscordBotToken,
    DiscordApiUrl,
    WebhooksUrl,
    WebhooksSecret,
    WebDevLogin,
    WebSessionKey,
    OidcIssuer,
    OidcClientId,
    OidcClientSecret,
    OidcScopes,
    OidcUserClaim,
    OidcStepUpMaxAge,
    OidcStepUpAmr,
}

/// A section and its keys, in the order the documentation lists them.
struct Section {
    name: &'static str,
    keys: &'static [(&'static str, Setting)],
}

/// The key of the `[policies.risk]` sub-table inside `[policies]`.
const RISK_KEY: &str = "risk";

const SECTIONS: &[Section] = &[
    Section {
        name: "server",
        keys: &[("listen", Setting::Listen), ("public_url", Setting::PublicUrl), ("pid_file", Setting::PidFile)],
    },
    Section { name: "database", keys: &[("url", Setting::DatabaseUrl)] },
    Section { name: "directory", keys: &[("path", Setting::DirectoryPath), ("scim", Setting::DirectoryScim)] },
    Section {
        name: "policies",
        keys: &[
            ("path", Setting::PoliciesPath),
            ("default", Setting::PoliciesDefault),
            ("default_timeout", Setting::DefaultTimeout),
        ],
    },
    Section {
        name: "api",
        keys: &[("tokens", Setting::ApiTokens), ("token", Setting::ApiToken), ("max_items", Setting::ApiMaxItems)],
    },
    Section { name: "audit", keys: &[("signing_key", Setting::AuditSigningKey)] },
    Section {
        name: "telemetry",
        keys: &[("otlp_endpoint", Setting::TelemetryOtlpEndpoint), ("service_name", Setting::TelemetryServiceName)],
    },
    Section {
        name: "slack",
        keys: &[
            ("signing_secret", Setting::SlackSigningSecret),
            ("bot_token", Setting::SlackBotToken),
            ("app_token", Setting::SlackAppToken),
            ("api_url", Setting::SlackApiUrl),
            ("team_id", Setting::SlackTeamId),
            ("enterprise_id", Setting::SlackEnterpriseId),
        ],
    },
    Section {
        name: "discord",
        keys: &[
            ("application_id", Setting::DiscordApplicationId),
            ("public_key", Setting::DiscordPublicKey),
            ("bot_token", Setting::DiscordBotToken),
            ("api_url", Setting::DiscordApiUrl),
        ],
    },
    Section { name: "webhooks", keys: &[("url", Setting::WebhooksUrl), ("secret", Setting::WebhooksSecret)] },
    Section { name: "web", keys: &[("dev_login", Setting::WebDevLogin), ("session_key", Setting::WebSessionKey)] },
    // Read from `[web.oidc]` in the file and from `SIGNOFF_WEB_OIDC_*` in the environment, never as a section of
    // its own (see [`OIDC_KEY`]).
    Section {
        name: "web.oidc",
        keys: &[
            ("issuer", Setting::OidcIssuer),
            ("client_id", Setting::OidcClientId),
            ("client_secret", Setting::OidcClientSecret),
            ("scopes", Setting::OidcScopes),
            ("user_claim", Setting::OidcUserClaim),
            ("step_up_max_age", Setting::OidcStepUpMaxAge),
            ("step_up_amr", Setting::OidcStepUpAmr),
        ],
    },
];

/// The key of the `[web.oidc]` sub-table inside `[web]`.
const OIDC_KEY: &str = "oidc";

/// The section `[web.oidc]`.
fn oidc_section() -> &'static Section {
    SECTIONS.iter().find(|s| s.name == "web.oidc").expect("listed above")
}

impl Section {
    /// The key names a file may use in this section.
    fn file_keys(&self) -> impl Iterator<Item = &'static str> + Clone {
        let sub = match self.name {
            "policies" => Some(RISK_KEY),
            "web" => Some(OIDC_KEY),
            _ => None,
        };
        self.keys.iter().map(|(k, _)| *k).chain(sub)
    }
}

impl Setting {
    /// `section.key`, as messages name it.
    fn name(self) -> String {
        if let Setting::Risk(level) = self {
            return format!("policies.risk.{level}");
        }
        for section in SECTIONS {
            if let Some((key, _)) = section.keys.iter().find(|(_, s)| *s == self) {
                return format!("{}.{key}", section.name);
            }
        }
        unreachable!("every setting but Risk is listed in SECTIONS")
    }

    /// Whether the value is a secret, which no message may repeat.
    fn is_secret(self) -> bool {
        matches!(
            self,
            Setting::ApiTokens
                | Setting::AuditSigningKey
                | Setting::SlackSigningSecret
                | Setting::SlackBotToken
                | Setting::SlackAppToken
                | Setting::DiscordBotToken
                | Setting::WebhooksSecret
                | Setting::WebSessionKey
                | Setting::OidcClientSecret
        )
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading.

/// A configuration being assembled from defaults, the file and the environment, with every problem found so far.
struct Builder {
    config: Config,
    diags: Diagnostics,
    /// Where `webhooks.url` was set, to point at it if the secret it needs is missing.
    webhooks_url_origin: Option<Origin>,
    /// Where `web.dev_login` was set, to point at it if the listener is not a loopback address.
    dev_login_origin: Option<Origin>,
    /// Where `web.oidc.issuer` was set, to point at it if what it needs is missing.
    oidc_issuer_origin: Option<Origin>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            config: Config::default(),
            diags: Diagnostics::new(),
            webhooks_url_origin: None,
            dev_login_origin: None,
            oidc_issuer_origin: None,
        }
    }

    /// Checks what can only be checked once every source has been read, and hands over the result.
    fn finish(mut self) -> Result<Config, Diagnostics> {
        if let Some(origin) = self.webhooks_url_origin.take()
            && self.config.webhooks.secret.is_none()
        {
            self.diags.push(Diagnostic {
                origin,
                message: "`webhooks.secret` is required when `webhooks.url` is set: deliveries are signed with it"
                    .to_owned(),
            });
        }
        if self.config.web.dev_login && !self.config.server.listen.ip().is_loopback() {
            self.diags.push(Diagnostic {
                origin: self.dev_login_origin.take().unwrap_or_else(|| Origin::Named("[web] dev_login".to_owned())),
                message: format!(
                    "`web.dev_login` lets anyone who reaches the page sign in as anyone, so it needs a loopback \
                     `server.listen` (127.0.0.1 or ::1), not `{}`; configure `[web.oidc]` instead",
                    self.config.server.listen
                ),
            });
        }
        if let Some(origin) = self.oidc_issuer_origin.take() {
            if self.config.web.oidc.client_id.is_none() {
                self.diags.push(Diagnostic {
                    origin: origin.clone(),
                    message: "`web.oidc.client_id` is required when `web.oidc.issuer` is set".to_owned(),
                });
            }
            if self.config.web.session_key.is_none() {
                self.diags.push(Diagnostic {
                    origin,
                    message:
                        "`web.session_key` is required with `[web.oidc]`: sessions must be valid on every replica \
                              and survive restarts (make one with `openssl rand -hex 32`)"
                            .to_owned(),
                });
            }
        }
        self.diags.into_result(self.config)
    }

    /// Applies the file's settings. Stops after syntax errors: a document the parser had to guess at would only
    /// add misleading follow-up errors.
    fn read_file(&mut self, file: &Path, text: &str) {
        let file: Arc<Path> = Arc::from(file);
        let at = |span: Range<usize>| Origin::At(Location::new(file.clone(), Pos::of_offset(text, span.start)));
        let (doc, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            for e in errors {
                let span = e.span().unwrap_or(0..0);
                let mut message = e.message().to_owned();
                // The parser does not say which key; the person fixing the file wants to know.
                if message == "duplicate key"
                    && let Some(key) = text.get(span.clone()).filter(|k| !k.is_empty())
                {
                    message = format!("duplicate key `{key}`");
                }
                self.diags.push(Diagnostic { origin: at(span), message });
            }
            return;
        }
        let base = file.parent().unwrap_or(Path::new(""));
        for (name, value) in doc.get_ref() {
            let Some(section) = SECTIONS.iter().find(|s| s.name == name.get_ref() && !s.name.contains('.')) else {
                let suggestion = diag::closest(name.get_ref(), SECTIONS.iter().map(|s| s.name));
                let message = match suggestion {
                    Some(s) => format!("unknown section `[{}]`, did you mean `[{s}]`?", name.get_ref()),
                    None => format!(
                        "unknown section `[{}]` (known sections: {})",
                        name.get_ref(),
                        list(SECTIONS.iter().map(|s| s.name))
                    ),
                };
                self.diags.push(Diagnostic { origin: at(name.span()), message });
                continue;
            };
            let DeValue::Table(table) = value.get_ref() else {
                self.diags.push(Diagnostic {
                    origin: at(value.span()),
                    message: format!("`{}` must be a table, found {}", section.name, value.get_ref().type_str()),
                });
                continue;
            };
            for (key, value) in table {
                let key_name: &str = key.get_ref();
                if section.name == "policies" && key_name == RISK_KEY {
                    self.read_risk_table(value, &at);
                    continue;
                }
                if section.name == "web" && key_name == OIDC_KEY {
                    self.read_oidc_table(value, &at, base);
                    continue;
                }
                let Some(&(_, setting)) = section.keys.iter().find(|(k, _)| *k == key_name) else {
                    let message = match diag::closest(key_name, section.file_keys()) {
                        Some(s) => format!("unknown key `{key_name}` in [{}], did you mean `{s}`?", section.name),
                        None => format!(
                            "unknown key `{key_name}` in [{}] (known keys: {})",
                            section.name,
                            list(section.file_keys())
                        ),
                    };
                    self.diags.push(Diagnostic { origin: at(key.span()), message });
                    continue;
                };
                let origin = at(value.span());
                if setting == Setting::ApiTokens {
                    self.read_token_array(value, &at);
                    self.config.api.tokens_origin = Some(at(key.span()));
                    continue;
                }
                if setting == Setting::ApiToken {
                    self.read_token_tables(value, &at);
                    continue;
                }
                let result = file_text(setting, value.get_ref())
                    .and_then(|text| apply(&mut self.config, setting, &text, Some(base)));
                match result {
                    Ok(()) => self.set_from(setting, origin),
                    Err(message) => self.diags.push(Diagnostic { origin, message }),
                }
            }
        }
    }

    /// Remembers where `setting` was set, for the settings whose value is checked later against something
    /// else (a workflow name, the webhook secret).
    fn set_from(&mut self, setting: Setting, origin: Origin) {
        match setting {
            Setting::WebhooksUrl => self.webhooks_url_origin = Some(origin),
            Setting::WebDevLogin => self.dev_login_origin = Some(origin),
            Setting::OidcIssuer => self.oidc_issuer_origin = Some(origin),
            Setting::ApiTokens => self.config.api.tokens_origin = Some(origin),
            Setting::PoliciesDefault => self.config.policies.default_origin = Some(origin),
            Setting::Risk(level) => self.config.policies.risk_origins[usize::from(level)] = Some(origin),
            _ => {}
        }
    }

    /// `[policies.risk]`: keys `0` to `4`, each naming a workflow.
    fn read_risk_table(&mut self, value: &toml::Spanned<DeValue<'_>>, at: &impl Fn(Range<usize>) -> Origin) {
        let DeValue::Table(table) = value.get_ref() else {
            self.diags.push(Diagnostic {
                origin: at(value.span()),
                message: format!("`policies.risk` must be a table, found {}", value.get_ref().type_str()),
            });
            return;
        };
        for (key, value) in table {
            let Some(level) = risk_level(key.get_ref()) else {
                self.diags.push(Diagnostic { origin: at(key.span()), message: bad_risk_level(key.get_ref()) });
                continue;
            };
            let setting = Setting::Risk(level);
            let result =
                file_text(setting, value.get_ref()).and_then(|text| apply(&mut self.config, setting, &text, None));
            match result {
                Ok(()) => self.set_from(setting, at(value.span())),
                Err(message) => self.diags.push(Diagnostic { origin: at(value.span()), message }),
            }
        }
    }

    /// `[web.oidc]`: a table of the keys in [`oidc_section`].
    fn read_oidc_table(
        &mut self,
        value: &toml::Spanned<DeValue<'_>>,
        at: &impl Fn(Range<usize>) -> Origin,
        base: &Path,
    ) {
        let DeValue::Table(table) = value.get_ref() else {
            self.diags.push(Diagnostic {
                origin: at(value.span()),
                message: format!("`web.oidc` must be a table, found {}", value.get_ref().type_str()),
            });
            return;
        };
        let section = oidc_section();
        for (key, value) in table {
            let key_name: &str = key.get_ref();
            let Some(&(_, setting)) = section.keys.iter().find(|(k, _)| *k == key_name) else {
                let message = match diag::closest(key_name, section.file_keys()) {
                    Some(s) => format!("unknown key `{key_name}` in [web.oidc], did you mean `{s}`?"),
                    None => {
                        format!("unknown key `{key_name}` in [web.oidc] (known keys: {})", list(section.file_keys()))
                    }
                };
                self.diags.push(Diagnostic { origin: at(key.span()), message });
                continue;
            };
            let origin = at(value.span());
            let result = file_text(setting, value.get_ref())
                .and_then(|text| apply(&mut self.config, setting, &text, Some(base)));
            match result {
                Ok(()) => self.set_from(setting, origin),
                Err(message) => self.diags.push(Diagnostic { origin, message }),
            }
        }
    }

    /// `[api] tokens`: an array of non-empty strings, each problem reported at its element.
    fn read_token_array(&mut self, value: &toml::Spanned<DeValue<'_>>, at: &impl Fn(Range<usize>) -> Origin) {
        let DeValue::Array(items) = value.get_ref() else {
            self.diags.push(Diagnostic {
                origin: at(value.span()),
                message: format!("`api.tokens` must be an array of strings, found {}", value.get_ref().type_str()),
            });
            return;
        };
        let mut tokens = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) if s.is_empty() => self.diags.push(Diagnostic {
                    origin: at(item.span()),
                    message: "`api.tokens` entries must not be empty".to_owned(),
                }),
                DeValue::String(s) => tokens.push(SecretString::from(s.as_ref())),
                other => self.diags.push(Diagnostic {
                    origin: at(item.span()),
                    message: format!("`api.tokens` entries must be strings, found {}", other.type_str()),
                }),
            }
        }
        self.config.api.tokens = tokens;
    }

    /// `[[api.token]]`: tables with `name`, `sha256`, `scopes` and an optional `as`, each problem reported where it
    /// is.
    fn read_token_tables(&mut self, value: &toml::Spanned<DeValue<'_>>, at: &impl Fn(Range<usize>) -> Origin) {
        let DeValue::Array(items) = value.get_ref() else {
            self.diags.push(Diagnostic {
                origin: at(value.span()),
                message: "declare tokens as `[[api.token]]` tables with `name`, `sha256` and `scopes`".to_owned(),
            });
            return;
        };
        for item in items.iter() {
            let DeValue::Table(table) = item.get_ref() else {
                self.diags.push(Diagnostic {
                    origin: at(item.span()),
                    message: format!("`[[api.token]]` entries must be tables, found {}", item.get_ref().type_str()),
                });
                continue;
            };
            let origin = at(item.span());
            match token_table(table, at) {
                Ok(spec) => {
                    let taken = self.config.api.token.iter().any(|t| t.name == spec.name);
                    let same_digest = self.config.api.token.iter().any(|t| t.sha256 == spec.sha256);
                    if taken {
                        self.diags.push(Diagnostic {
                            origin,
                            message: format!("a token named `{}` is already declared; names must be unique", spec.name),
                        });
                    } else if same_digest {
                        self.diags.push(Diagnostic {
                            origin,
                            message: format!(
                                "token `{}` has the same `sha256` as another token: each token needs its own value",
                                spec.name
                            ),
                        });
                    } else {
                        self.config.api.token.push(spec);
                        self.config.api.token_origins.push(origin);
                    }
                }
                Err(problems) => self.diags.0.extend(problems),
            }
        }
    }

    /// Applies the `SIGNOFF_*` variables among `env`, in name order so that results never depend on the
    /// environment's order.
    fn read_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
        let mut vars: Vec<(String, String)> = env.into_iter().filter(|(n, _)| n.starts_with(ENV_PREFIX)).collect();
        vars.sort();
        for (var, value) in vars {
            let rest = &var[ENV_PREFIX.len()..];
            let (section_name, key) = rest.split_once('_').unwrap_or((rest, ""));
            let Some(section) = SECTIONS.iter().find(|s| s.name.eq_ignore_ascii_case(section_name)) else {
                // Not one of ours: another tool's or a test harness's variable.
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let origin = Origin::Named(format!("environment variable {var}"));
            let key = key.to_ascii_lowercase();
            let setting = match env_setting(section, &key) {
                Ok(setting) => setting,
                Err(message) => {
                    self.diags.push(Diagnostic { origin, message });
                    continue;
                }
            };
            match apply(&mut self.config, setting, value, None) {
                Ok(()) => self.set_from(setting, origin),
                Err(message) => self.diags.push(Diagnostic { origin, message }),
            }
        }
    }
}

/// The longest token name: it appears in every audit row the token causes.
const MAX_TOKEN_NAME: usize = 64;

/// One `[[api.token]]` table, or every problem in it.
fn token_table(
    table: &toml::de::DeTable<'_>,
    at: &impl Fn(Range<usize>) -> Origin,
) -> Result<TokenSpec, Vec<Diagnostic>> {
    const KEYS: [&str; 4] = ["name", "sha256", "scopes", "as"];
    let mut problems = Vec::new();
    let (mut name, mut sha256, mut scopes, mut as_) = (None, None, None, None);
    for (key, value) in table {
        let origin = at(value.span());
        let text = match value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => None,
        };
        match key.get_ref().as_ref() {
            "name" => match text {
                Some(n) if !n.is_empty()
                    && n.len() <= MAX_TOKEN_NAME
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b)) =>
                {
                    name = Some(n.to_owned())
                }
                _ => problems.push(Diagnostic {
                    origin,
                    message: format!(
                        "a token's `name` must be 1 to {MAX_TOKEN_NAME} letters, digits, `.`, `_`, `-` or `@`; it is shown in the audit trail as `api:NAME`"
                    ),
                }),
            },
            "sha256" => match text.and_then(|t| hex::decode(t.trim()).ok()).and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                Some(d) => sha256 = Some(d),
                None => problems.push(Diagnostic {
                    origin,
                    message: "`sha256` must be the token's SHA-256 as 64 hexadecimal characters (`signoff token new` prints it)".to_owned(),
                }),
            },
            "scopes" => {
                let DeValue::Array(list) = value.get_ref() else {
                    problems.push(Diagnostic { origin, message: "`scopes` must be an array of scope names".to_owned() });
                    continue;
                };
                let mut parsed = Vec::new();
                for s in list.iter() {
                    match s.get_ref() {
                        DeValue::String(name) => match Scope::parse(name) {
                            Ok(scope) => parsed.push(scope),
                            Err(message) => problems.push(Diagnostic { origin: at(s.span()), message }),
                        },
                        other => problems.push(Diagnostic {
                            origin: at(s.span()),
                            message: format!("scopes are strings, found {}", other.type_str()),
                        }),
                    }
                }
                if list.is_empty() {
                    problems.push(Diagnostic { origin, message: "`scopes` must name at least one scope".to_owned() });
                }
                scopes = Some(parsed);
            }
            "as" => match text.map(str::trim).filter(|t| !t.is_empty()) {
                Some(who) => as_ = Some(who.to_owned()),
                None => problems.push(Diagnostic { origin, message: "`as` must name a person (an id or email)".to_owned() }),
            },
            "token" | "value" | "secret" => problems.push(Diagnostic {
                origin: at(key.span()),
                message: "a token's value never goes in the config: write its SHA-256 as `sha256` (`signoff token new` prints both)".to_owned(),
            }),
            other => problems.push(Diagnostic {
                origin: at(key.span()),
                message: match diag::closest(other, KEYS.iter().copied()) {
                    Some(s) => format!("unknown key `{other}` in [[api.token]], did you mean `{s}`?"),
                    None => format!("unknown key `{other}` in [[api.token]] (known keys: {})", list(KEYS.iter().copied())),
                },
            }),
        }
    }
    let missing = |what: &str| format!("`[[api.token]]` needs `{what}`");
    if name.is_none() && !problems.iter().any(|p| p.message.contains("`name`")) {
        problems.push(Diagnostic { origin: table_origin(table, at), message: missing("name") });
    }
    if sha256.is_none() && !problems.iter().any(|p| p.message.contains("`sha256`")) {
        problems.push(Diagnostic { origin: table_origin(table, at), message: missing("sha256") });
    }
    if scopes.is_none() {
        problems.push(Diagnostic { origin: table_origin(table, at), message: missing("scopes") });
    }
    if let Some(list) = &scopes
        && as_.is_none()
    {
        for (narrow, any) in [(Scope::Request, Scope::RequestAny), (Scope::Decide, Scope::DecideAny)] {
            if list.contains(&narrow) && !list.contains(&any) && !list.contains(&Scope::Admin) {
                problems.push(Diagnostic {
                    origin: table_origin(table, at),
                    message: format!(
                        "scope `{narrow}` acts as the token's own person: set `as = \"<id or email>\"`, or use `{any}`"
                    ),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    match (name, sha256, scopes) {
        (Some(name), Some(sha256), Some(mut scopes)) => {
            scopes.sort();
            scopes.dedup();
            Ok(TokenSpec { name, sha256, scopes, as_ })
        }
        _ => Err(problems),
    }
}

/// Where a table is, for problems that belong to the whole table: its first key.
fn table_origin(table: &toml::de::DeTable<'_>, at: &impl Fn(Range<usize>) -> Origin) -> Origin {
    table.iter().next().map_or_else(|| at(0..0), |(k, _)| at(k.span()))
}

/// The setting an environment variable's lower-cased key names in `section`, or why there is none.
fn env_setting(section: &Section, key: &str) -> Result<Setting, String> {
    if let Some(&(_, setting)) = section.keys.iter().find(|(k, _)| *k == key) {
        return Ok(setting);
    }
    if section.name == "web"
        && let Some(rest) = key.strip_prefix("oidc_")
        && let Some(&(_, setting)) = oidc_section().keys.iter().find(|(k, _)| *k == rest)
    {
        return Ok(setting);
    }
    if section.name == "policies" {
        if let Some(level) = key.strip_prefix("risk_") {
            return risk_level(level).map(Setting::Risk).ok_or_else(|| bad_risk_level(level));
        }
        if key == RISK_KEY {
            return Err(
                "set one risk level's workflow at a time, with SIGNOFF_POLICIES_RISK_0 to SIGNOFF_POLICIES_RISK_4"
                    .to_owned(),
            );
        }
    }
    let env_name = |k: &str| format!("{ENV_PREFIX}{}_{}", section.name, k).to_ascii_uppercase();
    let mut known: Vec<String> = section.keys.iter().map(|(k, _)| (*k).to_owned()).collect();
    if section.name == "policies" {
        known.extend((0..=4).map(|level| format!("risk_{level}")));
    }
    if section.name == "web" {
        known.extend(oidc_section().keys.iter().map(|(k, _)| format!("oidc_{k}")));
    }
    // Compare the keys alone: the shared `SIGNOFF_SECTION_` prefix would make every name look close.
    Err(match diag::closest(key, known.iter().map(String::as_str)) {
        Some(k) => format!("unknown key `{key}` in [{}], did you mean `{}`?", section.name, env_name(k)),
        None => {
            let names: Vec<String> = known.iter().map(|k| env_name(k)).collect();
            format!("unknown key `{key}` in [{}] (known: {})", section.name, list(names.iter().map(String::as_str)))
        }
    })
}

/// A risk level from a key: `0` to `4`.
fn risk_level(key: &str) -> Option<u8> {
    match key {
        "0" => Some(0),
        "1" => Some(1),
        "2" => Some(2),
        "3" => Some(3),
        "4" => Some(4),
        _ => None,
    }
}

fn bad_risk_level(key: &str) -> String {
    format!("`policies.risk` levels are the integers 0 to 4, found `{key}`")
}

/// The text of a file value for `setting`: a string, or for the few settings where it is natural, an integer
/// (a Discord snowflake, `default_timeout = 0`).
fn file_text<'a>(setting: Setting, value: &'a DeValue<'_>) -> Result<Cow<'a, str>, String> {
    match value {
        DeValue::String(s) => Ok(Cow::Borrowed(s.as_ref())),
        DeValue::Boolean(b) if matches!(setting, Setting::DirectoryScim | Setting::WebDevLogin) => {
            Ok(Cow::Owned(b.to_string()))
        }
        // Lists of words: joined with spaces, which is also how the environment gives them.
        DeValue::Array(items) if matches!(setting, Setting::OidcScopes | Setting::OidcStepUpAmr) => {
            let mut words = Vec::with_capacity(items.len());
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(w) if !w.is_empty() && !w.contains(char::is_whitespace) => words.push(w.as_ref()),
                    _ => return Err(format!("`{}` must be a list of single words", setting.name())),
                }
            }
            Ok(Cow::Owned(words.join(" ")))
        }
        DeValue::Integer(i)
            if matches!(setting, Setting::DiscordApplicationId | Setting::DefaultTimeout | Setting::ApiMaxItems) =>
        {
            u64::from_str_radix(i.as_str(), i.radix())
                .map(|n| Cow::Owned(n.to_string()))
                .map_err(|_| format!("`{}` must not be negative", setting.name()))
        }
        other => {
            let expected = match setting {
                Setting::DiscordApplicationId => "a string or an integer",
                Setting::DefaultTimeout => "a duration string such as \"72h\"",
                Setting::ApiMaxItems => "an integer",
                Setting::DirectoryScim | Setting::WebDevLogin => "true or false",
                Setting::OidcScopes | Setting::OidcStepUpAmr => "a list of strings",
                Setting::OidcStepUpMaxAge => "a duration string such as \"10m\"",
                _ => "a string",
            };
            Err(format!("`{}` must be {expected}, found {}", setting.name(), other.type_str()))
        }
    }
}

/// Validates `text` for `setting` and stores it in `config`. `base` is the folder relative paths are resolved
/// against (`None`: keep them relative to the current folder). The error never contains a secret's value.
fn apply(config: &mut Config, setting: Setting, text: &str, base: Option<&Path>) -> Result<(), String> {
    let name = setting.name();
    if text.is_empty() {
        let hint = if setting.is_secret() { "; leave the key out to keep it unset" } else { "" };
        return Err(format!("`{name}` must not be empty{hint}"));
    }
    let secret = || Some(SecretString::from(text));
    let path = || match base {
        Some(base) => base.join(text),
        None => PathBuf::from(text),
    };
    match setting {
        Setting::Listen => {
            config.server.listen = text.parse().map_err(|_| {
                format!("`{name}`: `{text}` is not an IP address and port such as `127.0.0.1:8080` or `[::1]:8080`")
            })?;
        }
        Setting::PublicUrl => config.server.public_url = Some(base_url(&name, text)?),
        Setting::PidFile => config.server.pid_file = Some(path()),
        Setting::DatabaseUrl => config.database.url = database_url(&name, text)?,
        Setting::DirectoryPath => config.directory.path = path(),
        Setting::DirectoryScim => {
            config.directory.scim = match text {
                "true" => true,
                "false" => false,
                _ => return Err(format!("`{name}` must be true or false, found `{text}`")),
            }
        }
        Setting::PoliciesPath => config.policies.path = Some(path()),
        Setting::PoliciesDefault => config.policies.default = text.to_owned(),
        Setting::DefaultTimeout => {
            let d = Duration::parse(text).map_err(|e| format!("`{name}`: {e}"))?;
            config.policies.default_timeout = (!d.is_zero()).then_some(d);
        }
        Setting::Risk(level) => config.policies.risk[usize::from(level)] = text.to_owned(),
        Setting::ApiTokens => {
            // The environment's form: comma-separated, spaces and empty pieces ignored (a trailing comma is fine).
            config.api.tokens =
                text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(SecretString::from).collect();
        }
        Setting::ApiToken => {
            return Err("declare `[[api.token]]` tables in the config file; the environment can only set the legacy \
                        SIGNOFF_API_TOKENS"
                .to_owned());
        }
        Setting::ApiMaxItems => {
            config.api.max_items = match text.parse::<usize>() {
                Ok(n) if (1..=100_000).contains(&n) => n,
                _ => return Err(format!("`{name}` must be a whole number from 1 to 100000, found `{text}`")),
            }
        }
        Setting::AuditSigningKey => {
            crate::audit::keys::signing_key(text).map_err(|e| format!("`{name}`: {e}"))?;
            config.audit.signing_key = secret();
        }
        Setting::TelemetryOtlpEndpoint => config.telemetry.otlp_endpoint = Some(base_url(&name, text)?),
        Setting::TelemetryServiceName => {
            if text.trim() != text || text.chars().any(char::is_control) {
                return Err(format!("`{name}` must not have surrounding spaces or control characters"));
            }
            config.telemetry.service_name = text.to_owned();
        }
        Setting::SlackSigningSecret => config.slack.signing_secret = secret(),
        Setting::SlackBotToken => config.slack.bot_token = secret(),
        Setting::SlackAppToken => config.slack.app_token = secret(),
        Setting::SlackApiUrl => config.slack.api_url = base_url(&name, text)?,
        Setting::SlackTeamId => config.slack.team_id = Some(slack_id(&name, text, 'T')?),
        Setting::SlackEnterpriseId => config.slack.enterprise_id = Some(slack_id(&name, text, 'E')?),
        Setting::DiscordApplicationId => config.discord.application_id = Some(text.to_owned()),
        Setting::DiscordPublicKey => config.discord.public_key = Some(public_key(&name, text)?),
        Setting::DiscordBotToken => config.discord.bot_token = secret(),
        Setting::DiscordApiUrl => config.discord.api_url = base_url(&name, text)?,
        Setting::WebhooksUrl => {
            check_http_url(&name, text)?;
            config.webhooks.url = Some(text.to_owned());
        }
        Setting::WebhooksSecret => config.webhooks.secret = secret(),
        Setting::WebDevLogin => {
            config.web.dev_login = match text {
                "true" => true,
                "false" => false,
                _ => return Err(format!("`{name}` must be true or false, found `{text}`")),
            }
        }
        Setting::WebSessionKey => {
            session_key_bytes(text).map_err(|e| format!("`{name}` {e}"))?;
            config.web.session_key = secret();
        }
        Setting::OidcIssuer => config.web.oidc.issuer = Some(base_url(&name, text)?),
        Setting::OidcClientId => config.web.oidc.client_id = Some(text.to_owned()),
        Setting::OidcClientSecret => config.web.oidc.client_secret = secret(),
        Setting::OidcScopes | Setting::OidcStepUpAmr => {
            let words: Vec<String> =
                text.split([' ', ',']).map(str::trim).filter(|w| !w.is_empty()).map(str::to_owned).collect();
            if words.is_empty() {
                return Err(format!("`{name}` must name at least one value"));
            }
            if setting == Setting::OidcScopes {
                if !words.iter().any(|w| w == "openid") {
                    return Err(format!("`{name}` must include `openid`: without it there is no id_token"));
                }
                config.web.oidc.scopes = words;
            } else {
                config.web.oidc.step_up_amr = words;
            }
        }
        Setting::OidcUserClaim => {
            if !crate::web::oidc::USER_CLAIMS.contains(&text) {
                return Err(format!(
                    "`{name}` must be one of {}, found `{text}`",
                    list(crate::web::oidc::USER_CLAIMS.iter().copied())
                ));
            }
            config.web.oidc.user_claim = text.to_owned();
        }
        Setting::OidcStepUpMaxAge => {
            let d = Duration::parse(text).map_err(|e| format!("`{name}`: {e}"))?;
            if d.is_zero() {
                return Err(format!("`{name}` must be longer than zero"));
            }
            config.web.oidc.step_up_max_age = d;
        }
    }
    Ok(())
}

/// Checks that `text` is an `http://` or `https://` URL with a host. Deliberately shallow: it catches the
/// mistakes people make (a missing scheme, `ftp://`, a stray space) without pulling in a URL parser.
fn check_http_url(name: &str, text: &str) -> Result<(), String> {
    let Some(rest) = strip_prefix_ignore_case(text, "https://").or_else(|| strip_prefix_ignore_case(text, "http://"))
    else {
        return Err(format!("`{name}`: `{text}` is not an http:// or https:// URL"));
    };
    if text.chars().any(char::is_whitespace) {
        return Err(format!("`{name}`: `{text}` contains whitespace"));
    }
    if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() {
        return Err(format!("`{name}`: `{text}` has no host"));
    }
    Ok(())
}

/// A base URL that paths are appended to: checked, and without a trailing `/`, so `{base}/chat.postMessage` is
/// right whichever way it was written.
fn base_url(name: &str, text: &str) -> Result<String, String> {
    check_http_url(name, text)?;
    Ok(text.trim_end_matches('/').to_owned())
}

/// `sqlite://PATH`, `postgres://...` or `postgresql://...`. The message shows the URL with any password hidden.
fn database_url(name: &str, text: &str) -> Result<String, String> {
    for scheme in ["sqlite://", "postgres://", "postgresql://"] {
        if let Some(rest) = strip_prefix_ignore_case(text, scheme) {
            if rest.is_empty() {
                let what = if scheme == "sqlite://" {
                    "a file path, like `sqlite://signoff.db`"
                } else {
                    "a host, like `postgres://user@localhost/signoff`"
                };
                return Err(format!("`{name}`: `{text}` is missing {what}"));
            }
            return Ok(text.to_owned());
        }
    }
    Err(format!("`{name}`: unsupported database URL `{}`: use `sqlite://PATH` or `postgres://...`", redact_url(text)))
}

/// A Slack workspace (`T...`) or organisation (`E...`) id: upper-case letters and digits after the letter.
fn slack_id(name: &str, text: &str, first: char) -> Result<String, String> {
    let ok = text.starts_with(first)
        && text.len() > 1
        && text.len() <= 32
        && text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{name}` must be a Slack id starting with `{first}` (upper-case letters and digits), found `{text}`"
        ))
    }
}

/// Decodes the Discord public key: 64 hex characters, 32 bytes.
fn public_key(name: &str, text: &str) -> Result<[u8; 32], String> {
    let what = "must be 64 hexadecimal characters (the application's Ed25519 public key)";
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("`{name}` {what}, found `{bad}`"));
    }
    if text.len() != 64 {
        return Err(format!("`{name}` {what}, found {} characters", text.len()));
    }
    // Every character was checked to be a hex digit, so there are exactly 64 nibbles.
    let nibbles: Vec<u8> = text.chars().filter_map(|c| c.to_digit(16)).map(|d| d as u8).collect();
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(nibbles.chunks_exact(2)) {
        *byte = (pair[0] << 4) | pair[1];
    }
    Ok(key)
}

/// `url` with the password of its user info (`user:PASSWORD@host`) and any `password=` query value replaced by
/// `***`, for messages and `Debug`.
pub(crate) fn redact_url(url: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(url);
    if let Some(scheme_end) = url.find("://") {
        let authority_start = scheme_end + 3;
        let authority_len = url[authority_start..].find(['/', '?', '#']).unwrap_or(url.len() - authority_start);
        let authority = &url[authority_start..authority_start + authority_len];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            let start = authority_start + colon + 1;
            let end = authority_start + at;
            out = Cow::Owned(format!("{}***{}", &url[..start], &url[end..]));
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        let redacted = format!("{head}{}", redacted.join("&"));
        if redacted != *out {
            out = Cow::Owned(redacted);
        }
    }
    out
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// "`a`, `b`, `c`", for lists of known names in messages.
fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const FILE: &str = "conf/signoff.toml";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn parse(text: &str) -> Result<Config, Diagnostics> {
        Config::from_toml(Path::new(FILE), text, Vec::new())
    }

    fn parse_env(text: &str, pairs: &[(&str, &str)]) -> Result<Config, Diagnostics> {
        Config::from_toml(Path::new(FILE), text, env(pairs))
    }

    /// The error lines for `text`, which must fail.
    fn errors(text: &str) -> Vec<String> {
        errors_env(text, &[])
    }

    fn errors_env(text: &str, pairs: &[(&str, &str)]) -> Vec<String> {
        match parse_env(text, pairs) {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(d) => d.0.iter().map(ToString::to_string).collect(),
        }
    }

    fn secret(s: &Option<SecretString>) -> Option<&str> {
        s.as_ref().map(|s| s.expose_secret())
    }

    const FULL: &str = r#"
[server]
listen = "0.0.0.0:9000"
public_url = "https://signoff.example.com/"
pid_file = "run/signoff.pid"

[database]
url = "postgres://signoff:hunter2@db.internal/signoff"

[directory]
path = "directory.yaml"

[policies]
path = "workflows"
default = "APP_ADMIN"
default_timeout = "72h"

[policies.risk]
0 = "MANAGER"
4 = "ANY_ONE_VP"

[api]
tokens = ["tok-one", "tok-two"]

[telemetry]
otlp_endpoint = "http://collector.internal:4318/"
service_name = "signoff-eu"

[slack]
signing_secret = "slack-signing-secret"
bot_token = "xoxb-slack-bot"
app_token = "xapp-slack-app"
api_url = "http://127.0.0.1:9999/api"

[discord]
application_id = 310000000000000009
public_key = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
bot_token = "discord-bot-token"
api_url = "http://127.0.0.1:9998/api/v10/"

[webhooks]
url = "https://provisioning.example.com/hook/"
secret = "webhook-secret"
"#;

    const FULL_SECRETS: [&str; 8] = [
        "hunter2",
        "tok-one",
        "tok-two",
        "slack-signing-secret",
        "xoxb-slack-bot",
        "xapp-slack-app",
        "discord-bot-token",
        "webhook-secret",
    ];

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.file, None);
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.public_url, None);
        assert_eq!(c.server.pid_file, None);
        assert_eq!(c.database.url, "sqlite://signoff.db");
        assert_eq!(c.database.sqlite_path(), Some(Path::new("signoff.db")));
        assert_eq!(c.directory.path, Path::new("directory"));
        assert_eq!(c.policies.path, None);
        assert_eq!(c.policies.default, "MANAGER");
        assert_eq!(c.policies.default_timeout, None);
        assert_eq!(
            c.policies.risk,
            ["AUTO_APPROVE", "MANAGER", "APP_ADMIN", "APP_ADMIN_THEN_SECURITY", "APP_ADMIN_THEN_SECURITY"]
        );
        assert!(c.api.tokens.is_empty());
        assert_eq!(c.slack.api_url, "https://slack.com/api");
        assert_eq!(c.discord.api_url, "https://discord.com/api/v10");
        assert!(c.webhooks.url.is_none() && c.webhooks.secret.is_none());
        assert_eq!(c.telemetry.otlp_endpoint, None);
        assert_eq!(c.telemetry.service_name, "signoff");
        assert!(!c.slack_enabled());
        assert!(!c.discord_enabled());
    }

    #[test]
    fn an_empty_file_gives_the_defaults_with_paths_next_to_the_file() {
        let c = parse("").unwrap();
        assert_eq!(c.file.as_deref(), Some(Path::new(FILE)));
        assert_eq!(c.directory.path, Path::new("conf/directory"));
        assert_eq!(c.server, ServerConfig::default());
        assert_eq!(c.database, DatabaseConfig::default());
        assert_eq!(c.policies, PoliciesConfig::default());

        // A file in the current folder keeps the default relative to it.
        let c = Config::from_toml(Path::new("signoff.toml"), "", Vec::new()).unwrap();
        assert_eq!(c.directory.path, Path::new("directory"));
    }

    #[test]
    fn a_full_file_sets_every_key() {
        let c = parse(FULL).unwrap();
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.server.public_url.as_deref(), Some("https://signoff.example.com"));
        assert_eq!(c.server.pid_file.as_deref(), Some(Path::new("conf/run/signoff.pid")));
        assert_eq!(c.database.url, "postgres://signoff:hunter2@db.internal/signoff");
        assert_eq!(c.database.sqlite_path(), None);
        assert_eq!(c.directory.path, Path::new("conf/directory.yaml"));
        assert_eq!(c.policies.path.as_deref(), Some(Path::new("conf/workflows")));
        assert_eq!(c.policies.default, "APP_ADMIN");
        assert_eq!(c.policies.default_timeout, Some(Duration::from_hours(72)));
        assert_eq!(c.policies.risk, ["MANAGER", "MANAGER", "APP_ADMIN", "APP_ADMIN_THEN_SECURITY", "ANY_ONE_VP"]);
        assert_eq!(c.policies.workflow_for_risk(4), "ANY_ONE_VP");
        assert_eq!(c.policies.workflow_for_risk(200), "ANY_ONE_VP");
        let tokens: Vec<&str> = c.api.tokens.iter().map(|t| t.expose_secret()).collect();
        assert_eq!(tokens, ["tok-one", "tok-two"]);
        assert_eq!(c.telemetry.otlp_endpoint.as_deref(), Some("http://collector.internal:4318"));
        assert_eq!(c.telemetry.service_name, "signoff-eu");
        assert_eq!(secret(&c.slack.signing_secret), Some("slack-signing-secret"));
        assert_eq!(secret(&c.slack.bot_token), Some("xoxb-slack-bot"));
        assert_eq!(secret(&c.slack.app_token), Some("xapp-slack-app"));
        assert_eq!(c.slack.api_url, "http://127.0.0.1:9999/api");
        assert_eq!(c.discord.application_id.as_deref(), Some("310000000000000009"));
        let key = c.discord.public_key.unwrap();
        assert_eq!(key[..4], [0x00, 0x11, 0x22, 0x33]);
        assert_eq!(key[28..], [0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(secret(&c.discord.bot_token), Some("discord-bot-token"));
        assert_eq!(c.discord.api_url, "http://127.0.0.1:9998/api/v10");
        // The webhook URL is the receiver's, kept exactly as written.
        assert_eq!(c.webhooks.url.as_deref(), Some("https://provisioning.example.com/hook/"));
        assert_eq!(secret(&c.webhooks.secret), Some("webhook-secret"));
        assert!(c.slack_enabled());
        assert!(c.discord_enabled());
    }

    #[test]
    fn integrations_need_all_their_credentials() {
        let c =
            parse("[slack]\nsigning_secret = \"s\"\n[discord]\nbot_token = \"b\"\napplication_id = \"1\"\n").unwrap();
        assert!(!c.slack_enabled(), "no bot token");
        assert!(!c.discord_enabled(), "no public key");
        let c = parse("[slack]\nsigning_secret = \"s\"\nbot_token = \"b\"\n").unwrap();
        assert!(c.slack_enabled());
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let c = parse(FULL).unwrap();
        let debug = format!("{c:?}");
        for s in FULL_SECRETS {
            assert!(!debug.contains(s), "{s:?} leaked in {debug}");
        }
        assert!(debug.contains("postgres://signoff:***@db.internal/signoff"), "{debug}");
        assert!(debug.contains("listen: 0.0.0.0:9000"), "{debug}");
    }

    #[test]
    fn urls_lose_their_passwords_in_messages() {
        assert_eq!(redact_url("postgres://u:pw@h:5432/db?x=1"), "postgres://u:***@h:5432/db?x=1");
        assert_eq!(
            redact_url("postgres://u@h/db?password=pw&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(redact_url("sqlite://signoff.db"), "sqlite://signoff.db");
        assert_eq!(redact_url("mysql://a:b@c@d/e"), "mysql://a:***@d/e");
    }

    #[test]
    fn database_urls_are_sqlite_or_postgres_and_kept_as_given() {
        for url in
            ["sqlite://data/signoff.db", "sqlite://:memory:", "postgres://h/db", "postgresql://u@h/db", "SQLITE://x.db"]
        {
            let c = parse(&format!("[database]\nurl = \"{url}\"\n")).unwrap();
            assert_eq!(c.database.url, url);
        }
        let c = parse("[database]\nurl = \"sqlite://data/x.db?mode=rwc\"\n").unwrap();
        assert_eq!(c.database.sqlite_path(), Some(Path::new("data/x.db")));
        assert_eq!(
            errors("[database]\nurl = \"mysql://root:hunter2@db/signoff\"\n"),
            [
                "conf/signoff.toml:2:7: `database.url`: unsupported database URL `mysql://root:***@db/signoff`: use `sqlite://PATH` or `postgres://...`"
            ]
        );
        assert_eq!(
            errors("[database]\nurl = \"sqlite://\"\n"),
            ["conf/signoff.toml:2:7: `database.url`: `sqlite://` is missing a file path, like `sqlite://signoff.db`"]
        );
    }

    #[test]
    fn syntax_errors_are_reported_at_their_place() {
        assert_eq!(
            errors("[server]\nlisten = \n"),
            ["conf/signoff.toml:2:10: string values must be quoted, expected literal string"]
        );
        assert_eq!(
            errors("[server]\nlisten = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n"),
            ["conf/signoff.toml:3:1: duplicate key `listen`"]
        );
    }

    #[test]
    fn wrong_types_are_reported_at_the_value() {
        assert_eq!(
            errors("[server]\nlisten = 8080\n"),
            ["conf/signoff.toml:2:10: `server.listen` must be a string, found integer"]
        );
        assert_eq!(errors("server = \"x\"\n"), ["conf/signoff.toml:1:10: `server` must be a table, found string"]);
        assert_eq!(
            errors("[api]\ntokens = \"abc\"\n"),
            ["conf/signoff.toml:2:10: `api.tokens` must be an array of strings, found string"]
        );
        assert_eq!(
            errors("[api]\ntokens = [\"a\", 5, \"\"]\n"),
            [
                "conf/signoff.toml:2:16: `api.tokens` entries must be strings, found integer",
                "conf/signoff.toml:2:19: `api.tokens` entries must not be empty",
            ]
        );
        assert_eq!(
            errors("[policies]\nrisk = \"MANAGER\"\n"),
            ["conf/signoff.toml:2:8: `policies.risk` must be a table, found string"]
        );
        assert_eq!(
            errors("[policies.risk]\n1 = true\n"),
            ["conf/signoff.toml:2:5: `policies.risk.1` must be a string, found boolean"]
        );
    }

    #[test]
    fn bad_values_are_reported_at_the_value() {
        assert_eq!(
            errors("[server]\nlisten = \"localhost:80\"\n"),
            [
                "conf/signoff.toml:2:10: `server.listen`: `localhost:80` is not an IP address and port such as `127.0.0.1:8080` or `[::1]:8080`"
            ]
        );
        assert_eq!(
            errors("[server]\npublic_url = \"ftp://x\"\n"),
            ["conf/signoff.toml:2:14: `server.public_url`: `ftp://x` is not an http:// or https:// URL"]
        );
        assert_eq!(
            errors("[slack]\napi_url = \"https:///api\"\n"),
            ["conf/signoff.toml:2:11: `slack.api_url`: `https:///api` has no host"]
        );
        assert_eq!(
            errors("[policies]\ndefault_timeout = \"3x\"\n"),
            [
                "conf/signoff.toml:2:19: `policies.default_timeout`: invalid duration `3x`: unknown unit `x`: use s, m, h, d or w"
            ]
        );
        assert_eq!(
            errors("[policies]\ndefault_timeout = 48\n"),
            [
                "conf/signoff.toml:2:19: `policies.default_timeout`: invalid duration `48`: missing unit after the number: add s, m, h, d or w, like `48h`"
            ]
        );
        assert_eq!(
            errors("[discord]\npublic_key = \"abcd\"\n"),
            [
                "conf/signoff.toml:2:14: `discord.public_key` must be 64 hexadecimal characters (the application's Ed25519 public key), found 4 characters"
            ]
        );
        assert_eq!(
            errors(&format!("[discord]\npublic_key = \"{}g\"\n", "a".repeat(63))),
            [
                "conf/signoff.toml:2:14: `discord.public_key` must be 64 hexadecimal characters (the application's Ed25519 public key), found `g`"
            ]
        );
        assert_eq!(
            errors("[discord]\napplication_id = -5\n"),
            ["conf/signoff.toml:2:18: `discord.application_id` must not be negative"]
        );
    }

    #[test]
    fn telemetry_keys_are_checked_at_their_place() {
        assert_eq!(
            errors("[telemetry]\notlp_endpoint = \"localhost:4318\"\n"),
            ["conf/signoff.toml:2:17: `telemetry.otlp_endpoint`: `localhost:4318` is not an http:// or https:// URL"]
        );
        assert_eq!(
            errors("[telemetry]\notlp_endpoint = 4318\n"),
            ["conf/signoff.toml:2:17: `telemetry.otlp_endpoint` must be a string, found integer"]
        );
        assert_eq!(
            errors("[telemetry]\nservice_name = \" signoff\"\n"),
            ["conf/signoff.toml:2:16: `telemetry.service_name` must not have surrounding spaces or control characters"]
        );
        assert_eq!(
            errors("[telemetry]\notlp_endpoit = \"http://127.0.0.1:4318\"\n"),
            ["conf/signoff.toml:2:1: unknown key `otlp_endpoit` in [telemetry], did you mean `otlp_endpoint`?"]
        );
        // A password in the collector's URL stays out of `Debug`.
        let c = parse("[telemetry]\notlp_endpoint = \"https://u:hunter3@otel.example.com\"\n").unwrap();
        assert!(!format!("{c:?}").contains("hunter3"), "{c:?}");
    }

    #[test]
    fn risk_levels_are_zero_to_four() {
        assert_eq!(
            errors("[policies.risk]\n5 = \"MANAGER\"\nhigh = \"MANAGER\"\n"),
            [
                "conf/signoff.toml:2:1: `policies.risk` levels are the integers 0 to 4, found `5`",
                "conf/signoff.toml:3:1: `policies.risk` levels are the integers 0 to 4, found `high`",
            ]
        );
        // Inline tables are the same table.
        let c = parse("[policies]\nrisk = { 2 = \"X\" }\n").unwrap();
        assert_eq!(c.policies.risk[2], "X");
    }

    #[test]
    fn a_zero_timeout_means_never() {
        assert_eq!(parse("[policies]\ndefault_timeout = \"0\"\n").unwrap().policies.default_timeout, None);
        assert_eq!(parse("[policies]\ndefault_timeout = 0\n").unwrap().policies.default_timeout, None);
        assert_eq!(
            parse("[policies]\ndefault_timeout = \"1h30m\"\n").unwrap().policies.default_timeout,
            Some(Duration::from_secs(5400))
        );
    }

    #[test]
    fn unknown_keys_and_sections_suggest_the_closest_known_name() {
        assert_eq!(
            errors("[server]\nlistne = \"127.0.0.1:1\"\n"),
            ["conf/signoff.toml:2:1: unknown key `listne` in [server], did you mean `listen`?"]
        );
        assert_eq!(
            errors("[policies]\nrsk = {}\n"),
            ["conf/signoff.toml:2:1: unknown key `rsk` in [policies], did you mean `risk`?"]
        );
        assert_eq!(
            errors("[server]\nzzz = 1\n"),
            ["conf/signoff.toml:2:1: unknown key `zzz` in [server] (known keys: `listen`, `public_url`, `pid_file`)"]
        );
        assert_eq!(
            errors("[sever]\nlisten = \"x\"\n"),
            ["conf/signoff.toml:1:2: unknown section `[sever]`, did you mean `[server]`?"]
        );
        assert_eq!(
            errors("[zzz]\n"),
            [
                "conf/signoff.toml:1:2: unknown section `[zzz]` (known sections: `server`, `database`, `directory`, `policies`, `api`, `audit`, `telemetry`, `slack`, `discord`, `webhooks`, `web`, `web.oidc`)"
            ]
        );
    }

    #[test]
    fn empty_values_are_errors_and_secrets_are_not_repeated() {
        assert_eq!(
            errors("[slack]\nbot_token = \"\"\n[policies]\ndefault = \"\"\n"),
            [
                "conf/signoff.toml:2:13: `slack.bot_token` must not be empty; leave the key out to keep it unset",
                "conf/signoff.toml:4:11: `policies.default` must not be empty",
            ]
        );
    }

    #[test]
    fn a_webhook_url_needs_a_secret() {
        assert_eq!(
            errors("[webhooks]\nurl = \"https://h/x\"\n"),
            [
                "conf/signoff.toml:2:7: `webhooks.secret` is required when `webhooks.url` is set: deliveries are signed with it"
            ]
        );
        assert_eq!(
            errors_env("", &[("SIGNOFF_WEBHOOKS_URL", "https://h/x")]),
            [
                "environment variable SIGNOFF_WEBHOOKS_URL: `webhooks.secret` is required when `webhooks.url` is set: deliveries are signed with it"
            ]
        );
        // The secret may come from the environment while the URL is in the file.
        let c = parse_env("[webhooks]\nurl = \"https://h/x\"\n", &[("SIGNOFF_WEBHOOKS_SECRET", "s3")]).unwrap();
        assert_eq!(secret(&c.webhooks.secret), Some("s3"));
    }

    #[test]
    fn every_problem_is_reported_at_once_in_file_order() {
        let text = "[webhooks]\nurl = \"https://h\"\n[server]\nlisten = \"nope\"\npublic_url = \"x\"\n[slack]\nbot_tokn = \"t\"\n";
        assert_eq!(
            errors_env(text, &[("SIGNOFF_DATABASE_URL", "mysql://x")]),
            [
                "conf/signoff.toml:2:7: `webhooks.secret` is required when `webhooks.url` is set: deliveries are signed with it",
                "conf/signoff.toml:4:10: `server.listen`: `nope` is not an IP address and port such as `127.0.0.1:8080` or `[::1]:8080`",
                "conf/signoff.toml:5:14: `server.public_url`: `x` is not an http:// or https:// URL",
                "conf/signoff.toml:7:1: unknown key `bot_tokn` in [slack], did you mean `bot_token`?",
                "environment variable SIGNOFF_DATABASE_URL: `database.url`: unsupported database URL `mysql://x`: use `sqlite://PATH` or `postgres://...`",
            ]
        );
    }

    #[test]
    fn environment_overrides_every_section() {
        let key = "ff".repeat(32);
        let c = parse_env(
            FULL,
            &[
                ("SIGNOFF_SERVER_LISTEN", "127.0.0.1:7000"),
                ("SIGNOFF_SERVER_PUBLIC_URL", "http://localhost:7000/"),
                ("SIGNOFF_DATABASE_URL", "sqlite://other.db"),
                ("SIGNOFF_DIRECTORY_PATH", "dir"),
                ("SIGNOFF_POLICIES_PATH", "/etc/signoff/policies"),
                ("SIGNOFF_POLICIES_DEFAULT", "AUTO_APPROVE"),
                ("SIGNOFF_POLICIES_DEFAULT_TIMEOUT", "2d"),
                ("SIGNOFF_POLICIES_RISK_3", "SECURITY"),
                ("SIGNOFF_SERVER_PID_FILE", "run/env.pid"),
                ("SIGNOFF_API_TOKENS", " a, b ,,c, "),
                ("SIGNOFF_SLACK_SIGNING_SECRET", "env-signing\n"),
                ("SIGNOFF_SLACK_BOT_TOKEN", "xoxb-env"),
                ("SIGNOFF_SLACK_APP_TOKEN", "xapp-env"),
                ("SIGNOFF_SLACK_API_URL", "http://fake/slack"),
                ("SIGNOFF_DISCORD_APPLICATION_ID", "42"),
                ("SIGNOFF_DISCORD_PUBLIC_KEY", &key),
                ("SIGNOFF_DISCORD_BOT_TOKEN", "discord-env"),
                ("SIGNOFF_DISCORD_API_URL", "http://fake/discord"),
                ("SIGNOFF_WEBHOOKS_URL", "http://hooks/in"),
                ("SIGNOFF_WEBHOOKS_SECRET", "hook-env"),
                ("SIGNOFF_TELEMETRY_OTLP_ENDPOINT", "https://otel.example.com/v1/traces"),
                ("SIGNOFF_TELEMETRY_SERVICE_NAME", "signoff-env"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.server.public_url.as_deref(), Some("http://localhost:7000"));
        assert_eq!(c.database.url, "sqlite://other.db");
        // Paths from the environment are relative to the current folder, not the file's.
        assert_eq!(c.directory.path, Path::new("dir"));
        assert_eq!(c.policies.path.as_deref(), Some(Path::new("/etc/signoff/policies")));
        assert_eq!(c.server.pid_file.as_deref(), Some(Path::new("run/env.pid")));
        assert_eq!(c.policies.default, "AUTO_APPROVE");
        assert_eq!(c.policies.default_timeout, Some(Duration::from_hours(48)));
        assert_eq!(c.policies.risk, ["MANAGER", "MANAGER", "APP_ADMIN", "SECURITY", "ANY_ONE_VP"]);
        let tokens: Vec<&str> = c.api.tokens.iter().map(|t| t.expose_secret()).collect();
        assert_eq!(tokens, ["a", "b", "c"]);
        // A trailing newline from a secret store is not part of the secret.
        assert_eq!(secret(&c.slack.signing_secret), Some("env-signing"));
        assert_eq!(secret(&c.slack.bot_token), Some("xoxb-env"));
        assert_eq!(secret(&c.slack.app_token), Some("xapp-env"));
        assert_eq!(c.slack.api_url, "http://fake/slack");
        assert_eq!(c.discord.application_id.as_deref(), Some("42"));
        assert_eq!(c.discord.public_key, Some([0xff; 32]));
        assert_eq!(secret(&c.discord.bot_token), Some("discord-env"));
        assert_eq!(c.discord.api_url, "http://fake/discord");
        assert_eq!(c.webhooks.url.as_deref(), Some("http://hooks/in"));
        assert_eq!(secret(&c.webhooks.secret), Some("hook-env"));
        assert_eq!(c.telemetry.otlp_endpoint.as_deref(), Some("https://otel.example.com/v1/traces"));
        assert_eq!(c.telemetry.service_name, "signoff-env");
    }

    #[test]
    fn environment_alone_configures_without_a_file() {
        let c = Config::from_env(env(&[
            ("SIGNOFF_SLACK_SIGNING_SECRET", "s"),
            ("SIGNOFF_SLACK_BOT_TOKEN", "b"),
            ("SIGNOFF_POLICIES_RISK_0", "MANAGER"),
        ]))
        .unwrap();
        assert!(c.slack_enabled());
        assert_eq!(c.file, None);
        assert_eq!(c.directory.path, Path::new("directory"));
        assert_eq!(c.policies.risk[0], "MANAGER");
    }

    #[test]
    fn foreign_and_empty_variables_are_ignored() {
        let c = parse_env(
            "",
            &[
                ("SIGNOFF_LOG", "debug"),
                ("SIGNOFF_TEST_POSTGRES_URL", "postgres://x"),
                ("HOME", "/root"),
                ("signoff_server_listen", "nope"),
                ("SIGNOFF_SERVER_LISTEN", "  "),
                ("DATABASE_URL", "mysql://x"),
            ],
        )
        .unwrap();
        assert_eq!(c.server, ServerConfig::default());
        assert_eq!(c.database, DatabaseConfig::default());
    }

    #[test]
    fn environment_errors_name_the_variable() {
        assert_eq!(
            errors_env("", &[("SIGNOFF_SERVER_LISTEN", "nope")]),
            [
                "environment variable SIGNOFF_SERVER_LISTEN: `server.listen`: `nope` is not an IP address and port such as `127.0.0.1:8080` or `[::1]:8080`"
            ]
        );
        assert_eq!(
            errors_env("", &[("SIGNOFF_POLICIES_RISK_7", "X"), ("SIGNOFF_POLICIES_RISK", "X")]),
            [
                "environment variable SIGNOFF_POLICIES_RISK: set one risk level's workflow at a time, with SIGNOFF_POLICIES_RISK_0 to SIGNOFF_POLICIES_RISK_4",
                "environment variable SIGNOFF_POLICIES_RISK_7: `policies.risk` levels are the integers 0 to 4, found `7`",
            ]
        );
        assert_eq!(
            errors_env("", &[("SIGNOFF_SERVER_ZZZ", "1")]),
            [
                "environment variable SIGNOFF_SERVER_ZZZ: unknown key `zzz` in [server] (known: `SIGNOFF_SERVER_LISTEN`, `SIGNOFF_SERVER_PUBLIC_URL`, `SIGNOFF_SERVER_PID_FILE`)"
            ]
        );
        assert_eq!(
            errors_env("", &[("SIGNOFF_POLICIES_DEFAULT_TIMEOUT", "soon")]),
            [
                "environment variable SIGNOFF_POLICIES_DEFAULT_TIMEOUT: `policies.default_timeout`: invalid duration `soon`: expected a number followed by a unit (s, m, h, d or w), like `30m` or `48h`"
            ]
        );
    }

    #[test]
    fn a_misspelt_secret_variable_is_named_with_a_suggestion_but_its_value_is_not_shown() {
        let errs = errors_env("", &[("SIGNOFF_SLACK_SIGNING_SECRT", "very-secret-value")]);
        assert_eq!(
            errs,
            [
                "environment variable SIGNOFF_SLACK_SIGNING_SECRT: unknown key `signing_secrt` in [slack], did you mean `SIGNOFF_SLACK_SIGNING_SECRET`?"
            ]
        );
        assert!(!errs[0].contains("very-secret-value"));
        assert_eq!(
            errors_env("", &[("SIGNOFF_POLICIES_RISK3", "X")]),
            [
                "environment variable SIGNOFF_POLICIES_RISK3: unknown key `risk3` in [policies], did you mean `SIGNOFF_POLICIES_RISK_3`?"
            ]
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_config_files_folder() {
        let text = "[directory]\npath = \"people\"\n[policies]\npath = \"../shared/policies.yaml\"\n";
        let c = Config::from_toml(Path::new("/etc/signoff/signoff.toml"), text, Vec::new()).unwrap();
        assert_eq!(c.directory.path, Path::new("/etc/signoff/people"));
        assert_eq!(c.policies.path.as_deref(), Some(Path::new("/etc/signoff/../shared/policies.yaml")));
        let c = Config::from_toml(Path::new("/etc/signoff/signoff.toml"), "[server]\npid_file = \"signoff.pid\"\n", [])
            .unwrap();
        assert_eq!(c.server.pid_file.as_deref(), Some(Path::new("/etc/signoff/signoff.pid")));

        let c = parse("[directory]\npath = \"/srv/directory\"\n").unwrap();
        assert_eq!(c.directory.path, Path::new("/srv/directory"));

        // The database URL is not a path of the file: it stays as given.
        let c = parse("[database]\nurl = \"sqlite://data/signoff.db\"\n").unwrap();
        assert_eq!(c.database.sqlite_path(), Some(Path::new("data/signoff.db")));
    }

    #[test]
    fn load_reads_the_named_file_and_rejects_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("custom.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:1234\"\n").unwrap();
        let c = load_from(Some(&file), Path::new("unused.toml"), env(&[("SIGNOFF_DATABASE_URL", "sqlite://t.db")]))
            .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:1234");
        assert_eq!(c.database.url, "sqlite://t.db");
        assert_eq!(c.directory.path, dir.path().join("directory"));

        let missing = dir.path().join("missing.toml");
        let err = load_from(Some(&missing), Path::new("unused.toml"), Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: config file not found", missing.display()));

        let err = Config::load(Some(&missing)).unwrap_err();
        assert!(err.to_string().contains("config file not found"), "{err}");
    }

    #[test]
    fn load_without_a_path_uses_the_default_file_only_if_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let default = dir.path().join("signoff.toml");
        let c = load_from(None, &default, env(&[("SIGNOFF_POLICIES_DEFAULT", "APP_ADMIN")])).unwrap();
        assert_eq!(c.file, None);
        assert_eq!(c.policies.default, "APP_ADMIN");

        std::fs::write(&default, "[policies]\ndefault = \"AUTO_APPROVE\"\n").unwrap();
        let c = load_from(None, &default, Vec::new()).unwrap();
        assert_eq!(c.file.as_deref(), Some(default.as_path()));
        assert_eq!(c.policies.default, "AUTO_APPROVE");

        // A folder where the file should be is reported, not mistaken for "no file".
        let folder = dir.path().join("folder.toml");
        std::fs::create_dir(&folder).unwrap();
        let err = load_from(None, &folder, Vec::new()).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}: cannot read config file:", folder.display())), "{err}");
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn token_tables_are_read_with_scopes_and_person() {
        let c = parse(&format!(
            "[api]\nmax_items = 10\n[[api.token]]\nname = \"jira\"\nsha256 = \"{SHA}\"\nscopes = [\"request:any\", \"read\"]\n\
             [[api.token]]\nname = \"ana-cli\"\nsha256 = \"{}\"\nscopes = [\"request\", \"decide\", \"read\"]\nas = \"ana@example.com\"\n",
            "ab".repeat(32)
        ))
        .unwrap();
        assert_eq!(c.api.max_items, 10);
        assert_eq!(c.api.token.len(), 2);
        assert_eq!(c.api.token[0].name, "jira");
        assert_eq!(c.api.token[0].scopes, vec![Scope::Read, Scope::RequestAny]);
        assert_eq!(hex::encode(c.api.token[0].sha256), SHA);
        assert_eq!(c.api.token[1].as_.as_deref(), Some("ana@example.com"));
        assert_eq!(c.api.token_origins[1].to_string(), "conf/signoff.toml:7:1");
        assert_eq!(Config::default().api.max_items, DEFAULT_MAX_ITEMS);
    }

    #[test]
    fn bad_token_tables_say_what_and_where() {
        let errs = errors(&format!(
            "[[api.token]]\nname = \"a b\"\nsha256 = \"xyz\"\nscopes = [\"decide:all\"]\ntoken = \"s3cret\"\n\
             [[api.token]]\nname = \"cli\"\nsha256 = \"{SHA}\"\nscopes = [\"decide\"]\n\
             [[api.token]]\nname = \"cli\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n",
            "cd".repeat(32)
        ));
        let all = errs.join("\n");
        assert!(all.contains("conf/signoff.toml:2:8: a token's `name` must be"), "{all}");
        assert!(all.contains("conf/signoff.toml:3:10: `sha256` must be the token's SHA-256"), "{all}");
        assert!(
            all.contains("conf/signoff.toml:4:11: unknown scope `decide:all`, did you mean `decide:any`?"),
            "{all}"
        );
        assert!(all.contains("conf/signoff.toml:5:1: a token's value never goes in the config"), "{all}");
        assert!(all.contains("scope `decide` acts as the token's own person"), "{all}");
        assert!(!all.contains("s3cret"), "{all}");
        assert_eq!(errs.len(), 5, "{all}");
        let errs = errors(&format!(
            "[[api.token]]\nname = \"a\"\nsha256 = \"{SHA}\"\nscopes = [\"read\"]\n[[api.token]]\nname = \"a\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n",
            "cd".repeat(32)
        ));
        assert_eq!(errs, vec!["conf/signoff.toml:5:1: a token named `a` is already declared; names must be unique"]);
        let errs = errors_env("", &[("SIGNOFF_API_TOKEN", "x"), ("SIGNOFF_API_MAX_ITEMS", "0")]);
        assert!(
            errs[0].contains("SIGNOFF_API_MAX_ITEMS: `api.max_items` must be a whole number from 1 to 100000"),
            "{errs:?}"
        );
        assert!(errs[1].contains("SIGNOFF_API_TOKEN: declare `[[api.token]]` tables in the config file"), "{errs:?}");
    }

    #[test]
    fn audit_key_and_slack_workspace_are_checked() {
        let seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
        let c = parse_env(
            "[slack]\nteam_id = \"T0001\"\nenterprise_id = \"E0001\"\n",
            &[("SIGNOFF_AUDIT_SIGNING_KEY", seed)],
        )
        .unwrap();
        assert_eq!(secret(&c.audit.signing_key), Some(seed));
        assert_eq!(c.slack.team_id.as_deref(), Some("T0001"));
        assert_eq!(c.slack.enterprise_id.as_deref(), Some("E0001"));
        let errs = errors("[audit]\nsigning_key = \"not-a-key\"\n[slack]\nteam_id = \"workspace\"\n");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("conf/signoff.toml:2:15: `audit.signing_key`: must be an Ed25519 private key"),
            "{errs:?}"
        );
        assert!(!errs[0].contains("not-a-key"), "{errs:?}");
        assert!(errs[1].contains("`slack.team_id` must be a Slack id starting with `T`"), "{errs:?}");
    }

    #[test]
    fn web_settings_are_read_from_the_file_and_the_environment() {
        let key = "00".repeat(32);
        let text = format!(
            "[web]\ndev_login = true\nsession_key = \"{key}\"\n[web.oidc]\nissuer = \"https://login.example.com/\"\n\
             client_id = \"signoff\"\nscopes = [\"openid\", \"email\"]\nstep_up_max_age = \"5m\"\n"
        );
        let c = parse_env(
            &text,
            &[("SIGNOFF_WEB_OIDC_CLIENT_SECRET", "s3cret"), ("SIGNOFF_WEB_OIDC_STEP_UP_AMR", "mfa hwk")],
        )
        .unwrap();
        assert!(c.web.dev_login && c.web.enabled());
        assert_eq!(c.web.oidc.issuer.as_deref(), Some("https://login.example.com"));
        assert_eq!(c.web.oidc.client_id.as_deref(), Some("signoff"));
        assert_eq!(secret(&c.web.oidc.client_secret), Some("s3cret"));
        assert_eq!(c.web.oidc.scopes, ["openid", "email"]);
        assert_eq!(c.web.oidc.step_up_amr, ["mfa", "hwk"]);
        assert_eq!(c.web.oidc.step_up_max_age, Duration::from_secs(300));
        assert_eq!(c.web.oidc.user_claim, "email");
        assert!(!Config::default().web.enabled());
    }

    #[test]
    fn web_mistakes_are_reported_where_they_are() {
        assert_eq!(
            errors("[server]\nlisten = \"0.0.0.0:8080\"\n[web]\ndev_login = true\n"),
            [
                "conf/signoff.toml:4:13: `web.dev_login` lets anyone who reaches the page sign in as anyone, so it needs a \
              loopback `server.listen` (127.0.0.1 or ::1), not `0.0.0.0:8080`; configure `[web.oidc]` instead"
            ]
        );
        assert_eq!(
            errors("[web]\nsession_key = \"abcd\"\n"),
            ["conf/signoff.toml:2:15: `web.session_key` must hold at least 32 random bytes, found 2; make one with \
              `openssl rand -hex 32`"]
        );
        assert_eq!(
            errors("[web.oidc]\nissuer = \"https://login.example.com\"\nuser_claim = \"upn\"\nclient_sekret = \"x\"\n"),
            [
                "conf/signoff.toml:2:10: `web.oidc.client_id` is required when `web.oidc.issuer` is set",
                "conf/signoff.toml:2:10: `web.session_key` is required with `[web.oidc]`: sessions must be valid on every \
                 replica and survive restarts (make one with `openssl rand -hex 32`)",
                "conf/signoff.toml:3:14: `web.oidc.user_claim` must be one of `email`, `sub`, `preferred_username`, found `upn`",
                "conf/signoff.toml:4:1: unknown key `client_sekret` in [web.oidc], did you mean `client_secret`?",
            ]
        );
        assert_eq!(
            errors("[web.oidc]\nscopes = [\"email\"]\n"),
            ["conf/signoff.toml:2:10: `web.oidc.scopes` must include `openid`: without it there is no id_token"]
        );
        assert_eq!(
            errors_env("", &[("SIGNOFF_WEB_OIDC_ISSUR", "https://x")]),
            ["environment variable SIGNOFF_WEB_OIDC_ISSUR: unknown key `oidc_issur` in [web], did you mean \
              `SIGNOFF_WEB_OIDC_ISSUER`?"]
        );
    }
}
