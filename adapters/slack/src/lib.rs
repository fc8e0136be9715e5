//! signoff on Slack: the adapter the core plugs in as a [`signoff_port::ChatAdapter`], and the pieces its HTTP
//! routes need to take requests from Slack.
//!
//! - [`verify`]: checks the `v0` signature and the 5-minute window of a request, before anything is parsed.
//! - [`inbound`]: reads clicks, modal submissions and slash commands into neutral values.
//! - [`blocks`]: the Block Kit JSON for prompts, closings, notifications, the deny-reason modal and private replies.
//! - [`client`]: [`SlackAdapter`], the Web API through slack-morphism, with error mapping and pacing.
//! - [`socket`]: Socket Mode, for installs that cannot receive HTTP from Slack.
//! - [`ids`]: the action, block and callback ids shared by `blocks` and `inbound`.
//!
//! How the core uses it, for `POST /slack/interactions`: read the raw body, [`verify::verify`] it against the
//! signing secret and the two headers (401 on error), [`inbound::parse_interaction`] it (400 on error), answer
//! 200 within Slack's 3 seconds, and act: an [`inbound::Interaction::Answer`] goes to the engine (a refusal is
//! posted to its `response_url` with [`blocks::refused_reply`] through [`SlackAdapter::respond`]); an
//! [`inbound::Interaction::OpenDenyModal`] is [`SlackAdapter::open_view`] of [`blocks::deny_modal`] at once.
//! `POST /slack/commands` is the same with [`inbound::parse_command`] and [`inbound::parse_request_text`], and the
//! reply ([`blocks::help_reply`], [`blocks::confirmation_reply`], [`blocks::refused_reply`]) is the response body.
#![warn(missing_docs)]

pub mod blocks;
pub mod client;
pub mod ids;
pub mod inbound;
pub mod socket;
pub mod verify;

pub use client::{SetupError, SlackAdapter, SlackSettings, Workspace};
pub use inbound::{Interaction, Origin, ParseError, Person, RequestArgs, SlashCommand};
pub use socket::{SocketHandler, SocketSettings, run_socket_mode};
pub use verify::VerifyError;
