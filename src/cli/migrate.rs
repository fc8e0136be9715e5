//! `signoff migrate`: applies pending migrations to the configured database and exits.

use std::process::ExitCode;

use super::{ConfigArg, tokio_runtime};
use crate::config::Config;
use crate::store::Store;

/// Arguments of `signoff migrate`.
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
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        match Store::open(&config.database.url).await {
            Ok(store) => {
                store.close().await;
                println!("migrations applied");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}
