//! SCIM 2.0 (RFC 7643 and RFC 7644) as a pure protocol layer: no HTTP, no database.
//!
//! Okta and Microsoft Entra provision people and groups into signoff over SCIM (DESIGN 7.5). This module
//! knows the protocol: the schemas signoff serves ([`schema`]), how a body becomes the stored form and the
//! stored form a response ([`resource`]), filters and PATCH paths ([`filter`]), PATCH in the RFC's form and
//! in the forms Okta and Entra really send ([`patch`]), the error body ([`error`]), and what the directory
//! reads from a stored resource ([`map`]). The routes under `/scim/v2`, the storage and the directory
//! integration sit on top of it and call these functions; everything here is synchronous and tested on
//! JSON alone.
//!
//! The flow for a write: `normalize` (POST) or `apply_put` (PUT) or `apply_patch` (PATCH) returns the stored
//! form; the storage keeps it with an id and [`Meta`]; `render` returns it; `map::user_fields` /
//! `map::group_fields` turn it into directory users and groups.

#![warn(missing_docs)]

pub mod error;
pub mod filter;
pub mod map;
pub mod patch;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::{AttrPath, CompValue, CompareOp, Filter, PathExpr, parse as parse_filter, parse_path};
pub use map::{GroupFields, UserFields, group_fields, user_fields};
pub use patch::apply_patch;
pub use resource::{Kind, Meta, apply_put, location, normalize, render};
pub use schema::{resource_types_json, schemas_json, service_provider_config_json};
