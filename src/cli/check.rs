//! `signoff check`: validates the config, the directory and the policies, and says what it read.

use std::process::ExitCode;

use super::{ConfigArg, load_catalog};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics, did_you_mean};

/// Arguments of `signoff check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

pub(super) fn run(args: &Args) -> ExitCode {
    match load_catalog(&args.config) {
        Ok((config, cat)) => {
            if let Err(diags) = check_tokens(&config, &cat) {
                return super::report(diags);
            }
            for w in config.warnings() {
                eprintln!("{w}");
            }
            for w in cat.directory.warnings() {
                eprintln!("warning: {w}");
            }
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

/// Every `[[api.token]]` that acts for a person must name someone in the directory.
fn check_tokens(config: &Config, cat: &Catalog) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::new();
    for (token, origin) in config.api.token.iter().zip(&config.api.token_origins) {
        if let Some(who) = &token.as_
            && cat.directory.user(who).is_none()
        {
            diags.push(Diagnostic {
                origin: origin.clone(),
                message: format!(
                    "token `{}` acts as `{who}`, who is not in the directory{}",
                    token.name,
                    did_you_mean(who, cat.directory.users().iter().map(|u| u.id.as_str()))
                ),
            });
        }
    }
    diags.into_result(())
}

/// `1 user`, `2 users`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
