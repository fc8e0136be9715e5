//! `signoff serve`: runs the service until SIGTERM or Ctrl-C, then drains and exits 0. `SIGHUP` reloads the
//! directory and policy files; with `[server] pid_file` the process id is written there for `signoff reload`.

use std::process::ExitCode;

use super::pid_file::PidFile;
use super::{ConfigArg, LogFormat, init_logging, init_logging_with, tokio_runtime};
use crate::app::{Application, Options, shutdown_signal};
use crate::config::Config;
use crate::telemetry::Telemetry;

/// Arguments of `signoff serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

pub(super) fn run(args: &Args) -> ExitCode {
    // The config first: whether traces are exported is part of how logging is set up. Its problems go to stderr
    // either way.
    let config = match Config::load(args.config.config.as_deref()) {
        Ok(c) => c,
        Err(d) => {
            init_logging(args.log_format);
            return super::report(d);
        }
    };
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // Inside the runtime: the exporter's batch task runs on it.
    let telemetry = {
        let _runtime = rt.enter();
        Telemetry::start(&config.telemetry)
    };
    let telemetry = match telemetry {
        Ok((telemetry, layer)) => {
            init_logging_with(args.log_format, layer);
            if let Some(endpoint) = &config.telemetry.otlp_endpoint {
                tracing::info!(endpoint = %crate::config::redact_url(endpoint), "exporting traces over OTLP/HTTP");
            }
            telemetry
        }
        Err(e) => {
            init_logging(args.log_format);
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(serve(&config));
    // After serving and draining: the spans of the last deliveries are in the batch being flushed.
    rt.block_on(telemetry.shutdown());
    code
}

/// Builds and serves until SIGTERM or Ctrl-C; the process's exit code.
async fn serve(config: &Config) -> ExitCode {
    let app = match Application::build(config, Options::default()).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e:#}");
            return ExitCode::from(1);
        }
    };
    // The SIGHUP handler first, then the pid file: `signoff reload` must never reach a process that SIGHUP
    // would still terminate.
    #[cfg(unix)]
    let reloads = match crate::app::reload_on_hangup(app.runtime().clone(), config.clone()) {
        Ok(task) => task,
        Err(e) => {
            tracing::error!("cannot handle SIGHUP (reloads): {e}");
            return ExitCode::from(1);
        }
    };
    let pid_file = match &config.server.pid_file {
        Some(path) => match PidFile::write(path) {
            Ok(file) => {
                tracing::info!(path = %path.display(), pid = std::process::id(), "wrote the pid file");
                Some(file)
            }
            Err(e) => {
                tracing::error!("[server] pid_file: cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let result = app.run_until(shutdown_signal()).await;
    #[cfg(unix)]
    reloads.abort();
    // Removed however serving ended: the process is about to exit, and a pid file left behind would name a
    // process id the system may give to another program.
    if let Some(file) = pid_file
        && let Err(e) = file.remove()
    {
        tracing::warn!("[server] pid_file: cannot remove it: {e}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}
