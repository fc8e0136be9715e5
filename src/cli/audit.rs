//! `signoff audit verify`: walks the hash chain and reports the first row that does not check out.

use std::process::ExitCode;

use clap::Subcommand;

use super::{ConfigArg, tokio_runtime};
use crate::audit::{Verdict, verify};
use crate::config::Config;
use crate::store::Store;

/// `signoff audit ...`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that no audit row was edited, deleted or reordered. Exit 0 when intact, 1 when not.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub(super) fn run(cmd: &Command) -> ExitCode {
    let Command::Verify { config } = cmd;
    let config = match Config::load(config.config.as_deref()) {
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
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let result = verify(&store).await;
        store.close().await;
        match result {
            Ok(Verdict::Intact { rows }) => {
                println!("audit trail intact: {rows} rows");
                ExitCode::SUCCESS
            }
            Ok(Verdict::Broken { seq, problem }) => {
                println!("audit trail broken at row {seq}: {problem}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: cannot read the audit trail: {e}");
                ExitCode::from(1)
            }
        }
    })
}
