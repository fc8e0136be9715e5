//! signoff: an approval orchestrator that lives in chat.
//!
//! Modules, from the inside out:
//! - [`time`]: instants and human durations (`48h`).
//! - [`access`]: scoped API tokens: who may call which route, acting for whom.
//! - [`diag`]: `file:line:col: message` diagnostics and "did you mean" suggestions.
//! - [`source`]: YAML and JSON files read into trees where every value knows its position.
//! - [`config`]: `signoff.toml` plus `SIGNOFF_<SECTION>_<KEY>` overrides.
//! - [`directory`]: users, groups and resources, validated.
//! - [`policy`]: the expression language, `rule_v2` conditions and the built-in workflows.
//! - [`catalog`]: directory and policies checked against each other; which workflow applies; content-addressed
//!   snapshots of what a catalog was built from.
//! - [`people`]: people and groups provisioned through SCIM, stored, and rendered into the directory.
//! - [`request`]: a request split into one item per person, resource and role.
//! - [`engine`]: the pure approval state machine (state + event -> state + effects).
//! - [`store`]: SQLite or PostgreSQL through sqlx, with migrations.
//! - [`audit`]: the hash-chained audit trail, its signed checkpoints, and `audit verify` (which replays every item).
//! - [`webhook`]: the signed provisioning webhook.
//! - [`chat`]: adapters in use, recipients, and effects in words.
//! - [`runtime`]: the engine made durable: group commit, outbox, timers.
//! - [`http`]: the HTTP API (axum).
//! - [`web`]: the web pages; [`web::picture`] draws an item's approval path as SVG.
//! - [`app`]: the composition root shared by `signoff serve` and the tests.
//! - [`cli`]: the `signoff` command line.

pub mod access;
pub mod app;
pub mod audit;
pub mod catalog;
pub mod chat;
pub mod cli;
pub mod config;
pub mod diag;
pub mod directory;
pub mod engine;
pub mod http;
pub mod people;
pub mod policy;
pub mod request;
pub mod runtime;
pub mod scim;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod web;
pub mod webhook;
