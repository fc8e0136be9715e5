//! SCIM errors as RFC 7644 §3.12 describes them: an HTTP status, an optional `scimType` keyword and a
//! human-readable `detail`.
//!
//! Every function of the protocol layer returns this one type, so the HTTP routes turn any failure into the
//! SCIM error body with [`ScimError::to_json`] and the status with [`ScimError::status`], and identity
//! providers (Okta, Entra) show the `detail` to the administrator. Details say what is wrong and where (the
//! attribute, the column in a filter) and never repeat a value the client sent, since that value may be a
//! password or another secret.

use std::fmt;

use serde_json::{Value, json};

/// The URN of the SCIM error message schema (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12, Table 9: identity providers branch on them (Okta retries a
/// `uniqueness` conflict as a match, for instance), so each failure names the one that fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter syntax was invalid or the filter names an attribute or operator that is not supported.
    InvalidFilter,
    /// The filter yields more results than the server is willing to return.
    TooMany,
    /// One or more attribute values are already in use or reserved (`userName` taken).
    Uniqueness,
    /// The attempted modification is not compatible with the attribute's mutability (readOnly, immutable).
    Mutability,
    /// The request body structure was invalid or did not conform to the request schema.
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed.
    InvalidPath,
    /// The `path` did not yield an attribute or attribute value that could be operated on.
    NoTarget,
    /// A required value was missing, or the value was not compatible with the attribute's type.
    InvalidValue,
    /// The specified SCIM protocol version is not supported.
    InvalidVers,
    /// The request cannot be completed because sensitive information would appear in a URI.
    Sensitive,
}

impl ScimType {
    /// The keyword as it appears in the `scimType` member of an error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM protocol error: what the HTTP layer sends back as the RFC 7644 §3.12 error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    /// The HTTP status code (400, 404, 409, 413, 500...), also repeated in the body as a string.
    pub status: u16,
    /// The RFC keyword for 400 and 409 errors; `None` for statuses that have none (404, 500).
    pub scim_type: Option<ScimType>,
    /// What went wrong and where, for the administrator reading the identity provider's log. Never holds a
    /// value the client sent.
    pub detail: String,
}

impl ScimError {
    /// An error with any status and keyword, for the cases the named constructors do not cover.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    /// 400 `invalidFilter`: a `filter` query parameter that does not parse or cannot be evaluated.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidFilter), detail)
    }

    /// 400 `invalidSyntax`: a body that is not the JSON shape the request requires (a PATCH without the
    /// PatchOp schema, an operation without `op`).
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidSyntax), detail)
    }

    /// 400 `invalidValue`: a missing required attribute or a value of the wrong type.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidValue), detail)
    }

    /// 400 `invalidPath`: a PATCH `path` that does not parse or names no attribute of the resource's schemas.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidPath), detail)
    }

    /// 400 `noTarget`: a PATCH `path` whose filter matched nothing that the operation could act on.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::NoTarget), detail)
    }

    /// 400 `mutability`: a change to a readOnly attribute, or to an immutable one that already has a value.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::Mutability), detail)
    }

    /// 400 `tooMany`: a filter or request that would return more resources than the server allows.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::TooMany), detail)
    }

    /// 409 `uniqueness`: a `userName` (or another server-unique value) that another resource already holds.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    /// 404 without a keyword: no resource with that id.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// The RFC 7644 §3.12 error body: `schemas`, `status` (a string, as the RFC's examples and Okta expect),
    /// `scimType` when there is one, and `detail`.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".to_owned(), Value::String(t.as_str().to_owned()));
        }
        body
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scim_type {
            Some(t) => write!(f, "{} {}: {}", self.status, t, self.detail),
            None => write!(f, "{}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_follows_rfc_7644_section_3_12() {
        let e = ScimError::uniqueness("userName is already taken");
        assert_eq!(
            e.to_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName is already taken",
            })
        );
    }

    #[test]
    fn not_found_has_no_scim_type() {
        let body = ScimError::not_found("no User with that id").to_json();
        assert_eq!(body["status"], "404");
        assert!(body.get("scimType").is_none());
    }
}
