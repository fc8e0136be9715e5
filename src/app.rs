//! The composition root: one `Application::build(config)` for `signoff serve` and for every test.
//!
//! It opens and migrates the store, loads the catalog, starts the runtime, binds the listener and builds
//! the router. `run_until` serves until the shutdown future resolves, then drains: the server stops taking
//! connections and finishes in-flight requests, the committer commits what is queued, deliveries in flight
//! finish, and undelivered outbox rows wait in the database for the next start.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;
use signoff_discord::{DiscordAdapter, Verifier};
use signoff_port::ChatAdapter;
use signoff_slack::{SlackAdapter, SlackSettings, SocketSettings, run_socket_mode};
use tokio::net::TcpListener;

use crate::audit::Signer;
use crate::catalog::Catalog;
use crate::chat::Chat;
use crate::chat::console::ConsoleAdapter;
use crate::config::Config;
use crate::http::discord::DiscordSurface;
use crate::http::slack::{SlackSurface, SocketBridge};
use crate::http::{self, AppState};
use crate::runtime::{Runtime, Tuning};
use crate::store::Store;
use crate::webhook::Webhook;

/// Choices that tests (and embedders) make differently from `signoff serve`.
#[derive(Default)]
pub struct Options {
    /// Chat adapters to use instead of those the config implies.
    pub chat: Option<Vec<Arc<dyn ChatAdapter>>>,
    /// Background tuning.
    pub tuning: Tuning,
    /// A catalog to use instead of loading the config's directory and policies.
    pub catalog: Option<Catalog>,
}

/// A built, not yet serving, signoff.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    runtime: Runtime,
    /// Slack Socket Mode, when an app token is configured.
    socket: Option<(SocketSettings, Arc<dyn signoff_slack::SocketHandler>)>,
}

/// The process-wide Prometheus recorder (a recorder can be installed once per process; tests build many
/// applications in one process and share it).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl Application {
    /// Opens everything the config names and binds `[server] listen` (port 0 picks a free port).
    pub async fn build(config: &Config, options: Options) -> anyhow::Result<Application> {
        let started = std::time::Instant::now();
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        let catalog = match options.catalog {
            Some(c) => c,
            None => Catalog::load(config)
                .map_err(|d| anyhow::anyhow!("{d}"))
                .context("loading the directory and policies")?,
        };
        for warning in catalog.directory.warnings() {
            tracing::warn!("{warning}");
        }
        let catalog_ms = started.elapsed().as_millis() as u64;
        let store = Store::open(&config.database.url).await.context("opening the database")?;
        // The people provisioned through SCIM are part of the directory from the first request on.
        let catalog =
            crate::runtime::with_stored_people(&store, catalog).await.context("reading provisioned people")?;
        let database_ms = started.elapsed().as_millis() as u64 - catalog_ms;
        // Before the runtime starts: audit rows name the catalog's snapshot, so it must be in the database first.
        if let Some(snapshot) = &catalog.snapshot {
            crate::audit::save_catalog(&store, snapshot).await.context("storing the catalog snapshot")?;
        }
        let signer = match &config.audit.signing_key {
            Some(key) => Some(Arc::new(
                Signer::from_text(key.expose_secret()).map_err(|e| anyhow::anyhow!("[audit] signing_key: {e}"))?,
            )),
            None => None,
        };
        let released = store.release_dead_leases().await.context("releasing leases of a previous run")?;
        let leases_ms = started.elapsed().as_millis() as u64 - catalog_ms - database_ms;
        if released > 0 {
            tracing::info!(released, "took over deliveries and timers a previous run had claimed");
        }
        let surfaces = Surfaces::from_config(config)?;
        if let Some(slack) = &surfaces.slack {
            // The workspace whose callbacks count, when `[slack] team_id` does not say: callbacks wait for it.
            let slack = slack.clone();
            tokio::spawn(async move { slack.learn_workspace().await });
        }
        let chat = Chat::new(match options.chat {
            Some(adapters) => adapters,
            None => surfaces.adapters(),
        });
        let webhook = match (&config.webhooks.url, &config.webhooks.secret) {
            (Some(url), Some(secret)) => Some(Webhook::new(url, secret.clone()).map_err(anyhow::Error::msg)?),
            _ => None,
        };
        if let Some(s) = &signer {
            tracing::info!(key_id = s.key_id(), "audit checkpoints are signed");
        }
        tracing::info!(catalog = catalog.snapshot_id().unwrap_or("none"), "catalog snapshot");
        let mut tuning = options.tuning;
        tuning.max_items = config.api.max_items;
        tuning.public_url = config.server.public_url.clone();
        let runtime = Runtime::start(store, Arc::new(catalog), chat, webhook, tuning, signer);
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("listening on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let socket = match (&surfaces.slack, &config.slack.app_token) {
            (Some(slack), Some(app_token)) => {
                let mut settings = SocketSettings::new(app_token.clone());
                settings.api_url = config.slack.api_url.clone();
                let bridge: Arc<dyn signoff_slack::SocketHandler> =
                    Arc::new(SocketBridge { runtime: runtime.clone(), slack: slack.clone() });
                Some((settings, bridge))
            }
            _ => None,
        };
        let state = AppState {
            runtime: runtime.clone(),
            tokens: Arc::new(crate::access::Tokens::new(&config.api.tokens, &config.api.token)),
            metrics: metrics_handle(),
            slack: surfaces.slack,
            discord: surfaces.discord,
            scim: config.directory.scim,
            public_url: config.server.public_url.clone(),
            scim_slots: Arc::new(tokio::sync::Semaphore::new(http::scim::CONCURRENCY)),
            web: crate::web::Web::from_config(config, addr)?,
        };
        let router = http::router(state);
        // Where start-up time went, so a slow start can be read off the log line.
        tracing::info!(
            %addr,
            elapsed_ms = started.elapsed().as_millis() as u64,
            catalog_ms,
            database_ms,
            leases_ms,
            "signoff is ready"
        );
        Ok(Application { listener, addr, router, runtime, socket })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The runtime (tests drive and inspect it directly).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Serves until `shutdown` resolves, then drains and stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { listener, router, runtime, socket, .. } = self;
        let (stop_socket, socket_stopped) = tokio::sync::oneshot::channel::<()>();
        let socket_task = socket.map(|(settings, bridge)| {
            tokio::spawn(async move {
                let stopped = async {
                    let _ = socket_stopped.await;
                };
                if let Err(e) = run_socket_mode(settings, bridge, stopped).await {
                    tracing::error!(error = %e, "Slack Socket Mode could not start");
                }
            })
        });
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await.context("serving HTTP")?;
        let _ = stop_socket.send(());
        if let Some(task) = socket_task {
            let _ = task.await;
        }
        tracing::info!("draining: committing queued work and finishing deliveries in flight");
        runtime.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The chat platforms a config enables, with what their routes need.
struct Surfaces {
    slack: Option<Arc<SlackSurface>>,
    discord: Option<Arc<DiscordSurface>>,
}

impl Surfaces {
    fn from_config(config: &Config) -> anyhow::Result<Surfaces> {
        let slack = match (&config.slack.signing_secret, &config.slack.bot_token) {
            (Some(signing_secret), Some(bot_token)) => {
                let mut settings = SlackSettings::new(bot_token.clone());
                settings.api_url = config.slack.api_url.clone();
                let adapter = SlackAdapter::new(settings).context("setting up the Slack client")?;
                let workspace = config.slack.team_id.as_ref().map(|team| signoff_slack::Workspace {
                    team_id: team.clone(),
                    enterprise_id: config.slack.enterprise_id.clone(),
                });
                Some(Arc::new(SlackSurface::new(Arc::new(adapter), signing_secret.clone(), workspace)))
            }
            _ => None,
        };
        let discord = match (&config.discord.public_key, &config.discord.bot_token) {
            (Some(key), Some(bot_token)) if let Some(application_id) = &config.discord.application_id => {
                let verifier = Verifier::from_hex(&hex::encode(key)).context("reading [discord] public_key")?;
                let adapter = DiscordAdapter::new(bot_token.expose_secret(), &config.discord.api_url)
                    .context("setting up the Discord client")?;
                Some(Arc::new(DiscordSurface {
                    adapter: Arc::new(adapter),
                    verifier,
                    application_id: application_id.clone(),
                }))
            }
            _ => None,
        };
        Ok(Surfaces { slack, discord })
    }

    /// The chat adapters: Slack and Discord as configured, else the console (prompts in the log, answers
    /// through the API).
    fn adapters(&self) -> Vec<Arc<dyn ChatAdapter>> {
        let mut adapters: Vec<Arc<dyn ChatAdapter>> = Vec::new();
        if let Some(s) = &self.slack {
            adapters.push(s.adapter.clone());
        }
        if let Some(d) = &self.discord {
            adapters.push(d.adapter.clone());
        }
        if adapters.is_empty() {
            adapters.push(Arc::new(ConsoleAdapter));
        }
        adapters
    }
}

/// Reloads the directory and policy files on every `SIGHUP` (DESIGN 7.5), until the task is aborted. The handler
/// is in place when this returns, so a pid file written afterwards never names a process that a `SIGHUP` would
/// still terminate.
#[cfg(unix)]
pub fn reload_on_hangup(runtime: Runtime, config: Config) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the directory and policy files");
            // Logged and counted by the runtime; the running catalog stays on any error.
            let _ = runtime.reload_files(&config).await;
        }
    }))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}
