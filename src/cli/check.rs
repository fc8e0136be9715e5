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
                "ok: {}, {}, {}, {} (+{builtin} built-in)",
                count(d.users().len(), "user"),
                count(d.groups().len(), "group"),
                count(d.resources().len(), "resource"),
                count(custom, "workflow"),
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `1 user`, `2 users`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
