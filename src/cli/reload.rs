//! `signoff reload`: asks the running `signoff serve` to reload the directory and policy files, by sending
//! `SIGHUP` to the process id in `[server] pid_file` (DESIGN 7.5). The server logs the outcome: on an error it
//! keeps the catalog it runs and logs every problem as `file:line:col: message` (`signoff check` prints the
//! same problems here).

use std::process::ExitCode;

use super::ConfigArg;
use super::pid_file::{SignalError, send_hangup};
use crate::config::Config;

/// Arguments of `signoff reload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

pub(super) fn run(args: &Args) -> ExitCode {
    let config = match Config::load(args.config.config.as_deref()) {
        Ok(c) => c,
        Err(d) => return super::report(d),
    };
    match signal_server(&config) {
        Ok(pid) => {
            println!(
                "sent SIGHUP to signoff serve (pid {pid}): it reloads the directory and policy files and logs the outcome"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Sends `SIGHUP` to the server `config` describes; returns its process id.
fn signal_server(config: &Config) -> Result<i32, SignalError> {
    let Some(path) = &config.server.pid_file else {
        let config = match &config.file {
            Some(file) => file.display().to_string(),
            None => format!("no config file (`--config FILE`, or {} here)", crate::config::DEFAULT_FILE),
        };
        return Err(SignalError::NotConfigured { config });
    };
    send_hangup(path)
}
