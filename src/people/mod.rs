//! People provisioned through SCIM (DESIGN 7.5): stored in the database, seen by every replica.
//!
//! The identity provider writes SCIM resources ([`crate::scim`] checks and shapes them); this module stores them
//! ([`Change`], applied by the committer in the same transaction as their audit row, so a write is durable,
//! ordered and audited like a decision), reads them back for the SCIM API ([`store`]), and turns the whole set
//! into one more directory document ([`render`]) that the catalog loads after the files, its entries taking
//! precedence over file entries with the same id ([`crate::directory::PROVISIONED`]). Going through the same
//! loader as the files keeps one set of rules for what a directory is, and puts the people an item ran with
//! into its catalog snapshot, where `signoff audit verify` finds them.
//!
//! Replicas learn of a change by polling one row, `people_revision`, bumped by every write (`src/runtime/people.rs`).

pub mod render;
pub mod store;

use serde_json::Value;

/// One write to the provisioned people, as the committer applies it.
#[derive(Debug, Clone)]
pub enum Change {
    /// Stores a user: a new one (`expect_version` `None`) or a new version of one.
    PutUser {
        /// The SCIM id.
        id: String,
        /// `userName` (the directory id).
        user_name: String,
        /// `externalId`, if the provider sent one.
        external_id: Option<String>,
        /// The whole resource, without `id` and `meta`.
        resource: Value,
        /// The version read before the change, for an update: another write in between makes this one fail
        /// with [`ChangeError::Stale`] (and the caller reads again), so no update is lost.
        expect_version: Option<i64>,
    },
    /// Stores a group, as [`Change::PutUser`] does a user.
    PutGroup {
        /// The SCIM id.
        id: String,
        /// The directory id: `externalId`, else `displayName`.
        directory_id: String,
        /// `displayName`.
        display_name: String,
        /// `externalId`.
        external_id: Option<String>,
        /// The whole resource, without `id` and `meta`.
        resource: Value,
        /// As for users.
        expect_version: Option<i64>,
    },
    /// Removes a user.
    DeleteUser {
        /// The SCIM id.
        id: String,
    },
    /// Removes a group.
    DeleteGroup {
        /// The SCIM id.
        id: String,
    },
}

impl Change {
    /// The SCIM id the change is about: the committer's lock order.
    pub fn id(&self) -> &str {
        match self {
            Change::PutUser { id, .. }
            | Change::PutGroup { id, .. }
            | Change::DeleteUser { id }
            | Change::DeleteGroup { id } => id,
        }
    }
}

/// Why a change was not made. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// Another resource already has this `userName` or group id.
    #[error("{0}")]
    Taken(String),
    /// No resource with this id.
    #[error("no {kind} with id `{id}`")]
    NotFound {
        /// `User` or `Group`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The resource changed since it was read: read it again and redo the change.
    #[error("the resource changed meanwhile")]
    Stale,
}

/// What a stored resource looks like to readers: its JSON and bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The SCIM id.
    pub id: String,
    /// The resource, without `id` and `meta`.
    pub resource: Value,
    /// Bumped by every write: `meta.version`, and the check that no update is lost.
    pub version: i64,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When it last changed (epoch ms).
    pub updated_at: i64,
}
