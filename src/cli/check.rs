//! `signoff check`: validates the config, the directory and the policies, and says what it read.

use std::process::ExitCode;

use super::{ConfigArg, load_catalog};

/// Arguments of `signoff check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

pub(super) fn run(args: &Args) -> ExitCode {
    match load_catalog(&args.config) {
        Ok((_, cat)) => {
            let d = &cat.directory;
            let custom = cat.policies.iter().filter(|w| !w.builtin).count();
            let builtin = cat.policies.iter().filter(|w| w.builtin).count();
            println!(
                "ok: {} users, {} groups, {} resources, {custom} workflows (+{builtin} built-in)",
                d.users().len(),
                d.groups().len(),
                d.resources().len(),
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
