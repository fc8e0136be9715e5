//! Discord adapter for signoff, over HTTP interactions (no gateway connection).
//!
//! Discord reaches signoff by `POST`ing every interaction (PING, the `/request` command, its autocomplete,
//! button and select clicks) to `POST /discord/interactions`; signoff reaches Discord through its REST API
//! with the bot token. This crate holds everything Discord-shaped on both paths, so the core only sees
//! [`signoff_port`] types:
//!
//! - [`verify`]: the Ed25519 check of `X-Signature-Ed25519` / `X-Signature-Timestamp`, done before any parsing.
//! - [`inbound`]: a verified body turned into an [`Inbound`]: PING, `/request`, autocomplete, or a click as an
//!   [`signoff_port::IncomingAnswer`].
//! - [`respond`]: the JSON bodies the endpoint answers with (PONG, update the clicked message, ephemeral refusals,
//!   autocomplete choices).
//! - [`components`]: how a prompt, a closed prompt and a notification look (content, embed, buttons, user select),
//!   within Discord's size limits.
//! - [`custom_id`]: the `custom_id` scheme that carries a prompt's token through a click.
//! - [`client`]: [`DiscordAdapter`], the [`signoff_port::ChatAdapter`] over the REST API (DM channels, messages,
//!   command registration), with Discord's 429s turned into [`signoff_port::ChatError::RateLimited`].
//! - [`commands`]: the `/request` command definitions, read from `manifests/discord-commands.json`.
//!
//! What the core does with it: answer `POST /discord/interactions` with [`inbound::parse_verified`] then one of
//! the [`respond`] bodies (within Discord's 3 seconds); build one [`DiscordAdapter`] from `[discord]` config for
//! the outbox; call [`DiscordAdapter::register_commands`] with [`commands::definitions`] from
//! `signoff discord register-commands [--guild ID]`.
#![warn(missing_docs)]

pub mod client;
pub mod commands;
pub mod components;
pub mod custom_id;
pub mod inbound;
pub mod respond;
pub mod verify;

pub use client::{ConfigError, DiscordAdapter, RegisteredCommand};
pub use inbound::{Envelope, Inbound, InteractionRef, ParseError, Rejected, RequestCommand};
pub use verify::{KeyError, Verifier, VerifyError};
