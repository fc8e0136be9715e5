//! `signoff token new`: a fresh API token, printed once, with the `[[api.token]]` block to paste into the config.
//!
//! Only the token's SHA-256 goes in the config; the token itself is shown here and nowhere else, so it is printed
//! to stdout once and never logged.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use crate::access::{digest, new_token};
use crate::config::Config;

/// `signoff token ...`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a fresh random token once, and the `[[api.token]]` block (with its SHA-256) to paste.
    New {
        /// The token's name, shown in the audit trail as `api:NAME`.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, request, request:any, decide, decide:any, grants, scim, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// The person the token acts for (needed by `request` and `decide`).
        #[arg(long = "as", value_name = "ID")]
        as_: Option<String>,
    },
}

pub(super) fn run(cmd: &Command) -> ExitCode {
    let Command::New { name, scopes, as_ } = cmd;
    let token = new_token();
    let block = block(name, scopes, as_.as_deref(), &hex::encode(digest(&token)));
    // The block is checked exactly as the config loader will read it, so what is printed is what will load.
    if let Err(diags) = Config::from_toml(Path::new("signoff token new"), &block, Vec::new()) {
        return super::report(diags);
    }
    println!("# The token (shown once; give it to its user, keep it out of the config):");
    println!("# {token}");
    print!("{block}");
    ExitCode::SUCCESS
}

/// The `[[api.token]]` block, with every string quoted as TOML quotes it.
fn block(name: &str, scopes: &[String], as_: Option<&str>, sha256: &str) -> String {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let scopes: Vec<String> = scopes.iter().map(|s| quote(s.trim())).collect();
    let mut out = format!(
        "[[api.token]]\nname = {}\nsha256 = {}\nscopes = [{}]\n",
        quote(name),
        quote(sha256),
        scopes.join(", ")
    );
    if let Some(who) = as_ {
        out.push_str(&format!("as = {}\n", quote(who)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_loads_back_as_the_token_it_describes() {
        let token = new_token();
        let text =
            block("ana-cli", &["request".into(), "read".into()], Some("ana@example.com"), &hex::encode(digest(&token)));
        let config = Config::from_toml(Path::new("t.toml"), &text, Vec::new()).unwrap();
        let tokens = crate::access::Tokens::new(&[], &config.api.token);
        let caller = tokens.find(&token).unwrap();
        assert_eq!(caller.via(), "api:ana-cli");
        assert_eq!(caller.as_.as_deref(), Some("ana@example.com"));
        // Odd characters are quoted, not pasted raw.
        let text = block("x", &["read".into()], Some("o\"brien@example.com"), &hex::encode(digest(&token)));
        assert!(Config::from_toml(Path::new("t.toml"), &text, Vec::new()).is_ok(), "{text}");
    }
}
