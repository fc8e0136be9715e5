//! The `signoff` command line: one file per command.
//!
//! Exit codes: 0 success; 1 the input is wrong (a config, directory or policy error, printed as
//! `file:line:col: message`, or an unknown id); 2 the command line itself is wrong (clap's own code).

mod audit;
mod check;
mod completions;
mod discord;
mod migrate;
mod pid_file;
mod reload;
mod serve;
mod simulate;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::diag::Diagnostics;

/// signoff: approvals in chat.
#[derive(Debug, Parser)]
#[command(name = "signoff", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP API, chat endpoints, timers and deliveries.
    Serve(serve::Args),
    /// Make the running service reload its directory and policy files (sends SIGHUP to `[server] pid_file`).
    Reload(reload::Args),
    /// Validate the config, directory and policies; print every problem as `file:line:col: message`.
    Check(check::Args),
    /// Show who would be asked for a request, step by step, without sending anything.
    Simulate(simulate::Args),
    /// Apply pending database migrations and exit.
    Migrate(migrate::Args),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Discord setup.
    #[command(subcommand)]
    Discord(discord::Command),
    /// API tokens.
    #[command(subcommand)]
    Token(token::Command),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) to stdout.
    Completions(completions::Args),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Reload(args) => reload::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::Audit(cmd) => audit::run(&cmd),
        Command::Discord(cmd) => discord::run(&cmd),
        Command::Token(cmd) => token::run(&cmd),
        Command::Completions(args) => completions::run(&args),
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Sets up logging: `RUST_LOG` (or `SIGNOFF_LOG`) picks levels, default `info`; colours only on a terminal.
pub(crate) fn init_logging(format: LogFormat) {
    init_logging_with(format, None);
}

/// [`init_logging`], plus `traces` (the OpenTelemetry layer of [`crate::telemetry`]) with a filter of its own: the
/// log's levels do not decide which spans are exported.
pub(crate) fn init_logging_with(format: LogFormat, traces: Option<crate::telemetry::BoxedLayer>) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = std::env::var("SIGNOFF_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal: a log file or a collector would get escape codes in every line.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let log: crate::telemetry::BoxedLayer = match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_filter(filter).boxed(),
    };
    let layers: Vec<crate::telemetry::BoxedLayer> = std::iter::once(log).chain(traces).collect();
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

/// A multi-threaded tokio runtime for the commands that need one.
pub(crate) fn tokio_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(1)
    })
}

/// `--config FILE`, shared by every command that reads the configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The configuration file (default: `signoff.toml` in the current folder, if present).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Loads the config and the catalog it points at, or prints every problem to stderr.
pub(crate) fn load_catalog(arg: &ConfigArg) -> Result<(Config, Catalog), ExitCode> {
    let config = Config::load(arg.config.as_deref()).map_err(report)?;
    let catalog = Catalog::load(&config).map_err(report)?;
    Ok((config, catalog))
}

/// Prints diagnostics, one per line, and gives the "bad input" exit code.
pub(crate) fn report(diags: Diagnostics) -> ExitCode {
    for d in &diags.0 {
        eprintln!("{d}");
    }
    let n = diags.0.len();
    eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
    ExitCode::from(1)
}
