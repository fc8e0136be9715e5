//! `signoff serve`: runs the service until SIGTERM or Ctrl-C, then drains and exits 0.

use std::process::ExitCode;

use super::{ConfigArg, LogFormat, init_logging, tokio_runtime};
use crate::app::{Application, Options, shutdown_signal};
use crate::config::Config;

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
    init_logging(args.log_format);
    let config = match Config::load(args.config.config.as_deref()) {
        Ok(c) => c,
        Err(d) => return super::report(d),
    };
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let app = match Application::build(&config, Options::default()).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!("{e:#}");
                return ExitCode::from(1);
            }
        };
        match app.run_until(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::from(1)
            }
        }
    })
}
