//! Who may call the HTTP API, and what they may do: scoped bearer tokens (DESIGN 7.1).
//!
//! A token is declared in `[[api.token]]` by the SHA-256 of its value (the value itself is never stored), with a
//! name that appears in the audit trail (`api:NAME`), a set of [`Scope`]s and, for a personal token, the person it
//! acts for (`as`). The legacy `[api] tokens` list still works; each of those tokens holds [`Scope::Admin`].
//!
//! This module is pure: which scope a route needs ([`required`]), whether a token holds it
//! ([`Caller::holds`]), and whether it may act for a given person ([`Caller::may_act_for`]). The HTTP layer
//! (`http::auth`) applies it and audits refusals.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// One right a token can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every `GET` under `/api/v1`.
    Read,
    /// Create and cancel requests as the token's `as` person.
    Request,
    /// Create and cancel requests as anyone.
    RequestAny,
    /// Decide as the token's `as` person.
    Decide,
    /// Decide as anyone (audited with the token's name).
    DecideAny,
    /// Release grants.
    Grants,
    /// The SCIM endpoints, and nothing else.
    Scim,
    /// Everything above.
    Admin,
}

impl Scope {
    /// Every scope, in the order the documentation lists them.
    pub const ALL: [Scope; 8] = [
        Scope::Read,
        Scope::Request,
        Scope::RequestAny,
        Scope::Decide,
        Scope::DecideAny,
        Scope::Grants,
        Scope::Scim,
        Scope::Admin,
    ];

    /// The name written in the config: `read`, `request:any`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Request => "request",
            Scope::RequestAny => "request:any",
            Scope::Decide => "decide",
            Scope::DecideAny => "decide:any",
            Scope::Grants => "grants",
            Scope::Scim => "scim",
            Scope::Admin => "admin",
        }
    }

    /// Reads a scope name.
    pub fn parse(name: &str) -> Result<Scope, String> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            match crate::diag::closest(name, known.iter().copied()) {
                Some(s) => format!("unknown scope `{name}`, did you mean `{s}`?"),
                None => format!("unknown scope `{name}` (scopes: {})", known.join(", ")),
            }
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route asks of the caller's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// This scope (or `admin`).
    One(Scope),
    /// Either of two scopes (or `admin`): the narrow one that acts only as `as`, or its `:any` form. Which person
    /// the call acts for is checked by the handler, once it has read the body.
    Either(Scope, Scope),
    /// Only `admin` (a route this table does not know).
    Admin,
}

/// The scope a call to the API needs, by method and route template (as axum matched it, e.g.
/// `/api/v1/requests/{id}/decisions`). SCIM routes need `scim` whatever their method.
pub fn required(method: &str, route: &str) -> Need {
    if route == "/scim/v2" || route.starts_with("/scim/v2/") {
        return Need::One(Scope::Scim);
    }
    let Some(path) = route.strip_prefix("/api/v1") else { return Need::Admin };
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return Need::One(Scope::Read);
    }
    if !method.eq_ignore_ascii_case("POST") {
        return Need::Admin;
    }
    match path {
        "/requests" | "/requests/{id}/cancel" => Need::Either(Scope::Request, Scope::RequestAny),
        "/requests/{id}/decisions" => Need::Either(Scope::Decide, Scope::DecideAny),
        "/grants/{id}/release" => Need::One(Scope::Grants),
        _ => Need::Admin,
    }
}

/// A token as declared in `[[api.token]]`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Its name, as the audit trail shows it (`api:NAME`).
    pub name: String,
    /// SHA-256 of the token's value.
    pub sha256: [u8; 32],
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The person it acts for (an id or email, as written), for the narrow scopes.
    pub as_: Option<String>,
}

impl fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The digest is not secret, but it is noise in a debug print.
        f.debug_struct("TokenSpec")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("as", &self.as_)
            .finish()
    }
}

/// The caller behind a bearer token that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// The person it acts for, as written in the config (resolved to a directory id by the caller of
    /// [`Caller::may_act_for`]).
    pub as_: Option<String>,
    /// Whether it is one of the legacy `[api] tokens` (every right, no identity).
    pub legacy: bool,
}

impl Caller {
    /// How the audit trail names what acted: `api:NAME`.
    pub fn via(&self) -> String {
        format!("api:{}", self.name)
    }

    /// Whether the token holds `scope` (`admin` holds every scope but `scim`'s exclusivity does not matter here:
    /// admin may call SCIM too).
    pub fn holds(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    /// Whether the token may call a route that needs `need`.
    pub fn allows(&self, need: Need) -> bool {
        match need {
            Need::One(s) => self.holds(s),
            Need::Either(narrow, any) => self.holds(narrow) || self.holds(any),
            Need::Admin => self.holds(Scope::Admin),
        }
    }

    /// Whether the token may act for `person` (a directory id) given the pair of scopes the route takes: the
    /// `:any` scope (or admin) acts for anyone; the narrow one only for the token's own `as` person, whose id
    /// `as_id` the caller resolved from the directory.
    pub fn may_act_for(&self, person: &str, narrow: Scope, any: Scope, as_id: Option<&str>) -> bool {
        self.holds(any) || (self.holds(narrow) && as_id.is_some_and(|me| me == person))
    }
}

/// Every accepted token, looked up by the SHA-256 of what the caller sent (one hash and one map lookup per call).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Arc<Caller>>,
}

impl Tokens {
    /// The legacy `tokens` (each an admin named `legacy-N`) and the declared ones.
    pub fn new(legacy: &[SecretString], declared: &[TokenSpec]) -> Tokens {
        let mut by_digest = HashMap::new();
        for (i, t) in legacy.iter().enumerate() {
            let caller =
                Caller { name: format!("legacy-{}", i + 1), scopes: vec![Scope::Admin], as_: None, legacy: true };
            by_digest.insert(digest(t.expose_secret()), Arc::new(caller));
        }
        for t in declared {
            let caller = Caller { name: t.name.clone(), scopes: t.scopes.clone(), as_: t.as_.clone(), legacy: false };
            by_digest.insert(t.sha256, Arc::new(caller));
        }
        Tokens { by_digest }
    }

    /// The caller a presented token belongs to.
    pub fn find(&self, presented: &str) -> Option<Arc<Caller>> {
        self.by_digest.get(&digest(presented)).cloned()
    }

    /// Whether no token is accepted at all.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

/// SHA-256 of a token's value.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh random token: `so_` and 32 random bytes in URL-safe base64 (256 bits; no padding, nothing a shell
/// or a header would mangle).
pub fn new_token() -> String {
    use base64::Engine as _;
    format!("so_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The contract's table (DESIGN 7.1), written out route by route, independently of [`required`].
    fn oracle(scopes: &[Scope], method: &str, route: &str) -> bool {
        let has = |s: Scope| scopes.contains(&s) || scopes.contains(&Scope::Admin);
        match (method, route) {
            (_, r) if r.starts_with("/scim/v2") => has(Scope::Scim),
            ("GET", _) => has(Scope::Read),
            ("POST", "/api/v1/requests") | ("POST", "/api/v1/requests/{id}/cancel") => {
                has(Scope::Request) || has(Scope::RequestAny)
            }
            ("POST", "/api/v1/requests/{id}/decisions") => has(Scope::Decide) || has(Scope::DecideAny),
            ("POST", "/api/v1/grants/{id}/release") => has(Scope::Grants),
            _ => has(Scope::Admin),
        }
    }

    const ROUTES: [(&str, &str); 12] = [
        ("GET", "/api/v1/requests"),
        ("GET", "/api/v1/requests/{id}"),
        ("GET", "/api/v1/grants/{id}"),
        ("GET", "/api/v1/audit"),
        ("POST", "/api/v1/requests"),
        ("POST", "/api/v1/requests/{id}/decisions"),
        ("POST", "/api/v1/requests/{id}/cancel"),
        ("POST", "/api/v1/grants/{id}/release"),
        ("GET", "/scim/v2/Users"),
        ("POST", "/scim/v2/Users"),
        ("PATCH", "/scim/v2/Groups/{id}"),
        ("DELETE", "/api/v1/requests/{id}"),
    ];

    fn caller(scopes: Vec<Scope>) -> Caller {
        Caller { name: "t".into(), scopes, as_: Some("ana@example.com".into()), legacy: false }
    }

    proptest! {
        #[test]
        fn every_scope_set_reaches_exactly_the_routes_the_contract_gives_it(
            mask in 0u16..256, route in 0usize..ROUTES.len()
        ) {
            let scopes: Vec<Scope> =
                Scope::ALL.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect();
            let (method, path) = ROUTES[route];
            let c = caller(scopes.clone());
            prop_assert_eq!(c.allows(required(method, path)), oracle(&scopes, method, path),
                "scopes {:?} on {} {}", scopes, method, path);
        }

        #[test]
        fn a_narrow_scope_acts_only_for_its_own_person(
            mask in 0u16..256, who in prop::sample::select(vec!["ana@example.com", "raj@example.com"])
        ) {
            let scopes: Vec<Scope> =
                Scope::ALL.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect();
            let c = caller(scopes.clone());
            let any = scopes.contains(&Scope::DecideAny) || scopes.contains(&Scope::Admin);
            let own = scopes.contains(&Scope::Decide) && who == "ana@example.com";
            prop_assert_eq!(c.may_act_for(who, Scope::Decide, Scope::DecideAny, Some("ana@example.com")), any || own);
            // Without a resolved `as`, the narrow scope acts for nobody.
            prop_assert_eq!(c.may_act_for(who, Scope::Decide, Scope::DecideAny, None), any);
        }
    }

    #[test]
    fn scope_names_round_trip_and_typos_get_a_suggestion() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Ok(s));
        }
        assert_eq!(Scope::parse("decide:all").unwrap_err(), "unknown scope `decide:all`, did you mean `decide:any`?");
    }

    #[test]
    fn tokens_are_found_by_their_digest_and_legacy_ones_are_admins() {
        let spec = TokenSpec {
            name: "jira".into(),
            sha256: digest("s3cret"),
            scopes: vec![Scope::RequestAny, Scope::Read],
            as_: None,
        };
        let tokens = Tokens::new(&[SecretString::from("old")], &[spec]);
        assert_eq!(tokens.find("s3cret").unwrap().via(), "api:jira");
        let legacy = tokens.find("old").unwrap();
        assert!(legacy.legacy && legacy.holds(Scope::DecideAny) && legacy.holds(Scope::Scim));
        assert!(tokens.find("s3cre").is_none());
        assert!(new_token().starts_with("so_") && new_token().len() == 3 + 43);
        assert_ne!(new_token(), new_token());
    }
}
