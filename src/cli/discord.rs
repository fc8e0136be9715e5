//! `signoff discord register-commands [--guild ID]`: registers the `/request` command
//! (`manifests/discord-commands.json`) through Discord's REST API, globally or for one guild (guild
//! commands appear at once; global ones can take up to an hour).

use std::process::ExitCode;

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::{ConfigArg, tokio_runtime};
use crate::config::Config;

/// `signoff discord ...`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register (or update) the `/request` command.
    RegisterCommands {
        #[command(flatten)]
        config: ConfigArg,
        /// Register in this guild only (appears at once) instead of globally.
        #[arg(long, value_name = "ID")]
        guild: Option<String>,
    },
}

pub(super) fn run(cmd: &Command) -> ExitCode {
    let Command::RegisterCommands { config, guild } = cmd;
    let config = match Config::load(config.config.as_deref()) {
        Ok(c) => c,
        Err(d) => return super::report(d),
    };
    let (Some(app), Some(token)) = (&config.discord.application_id, &config.discord.bot_token) else {
        eprintln!(
            "error: set [discord] application_id and bot_token (or SIGNOFF_DISCORD_APPLICATION_ID and SIGNOFF_DISCORD_BOT_TOKEN)"
        );
        return ExitCode::from(1);
    };
    let adapter = match signoff_discord::DiscordAdapter::new(token.expose_secret(), &config.discord.api_url) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let definitions = signoff_discord::commands::definitions();
    match rt.block_on(adapter.register_commands(app, guild.as_deref(), &definitions)) {
        Ok(registered) => {
            let scope = guild.as_ref().map_or_else(|| "globally".to_owned(), |g| format!("in guild {g}"));
            for c in registered {
                println!("registered /{} ({}) {scope}", c.name, c.id);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
