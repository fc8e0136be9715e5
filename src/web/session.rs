//! Who is signed in: a session kept entirely in a cookie signed with `[web] session_key` (DESIGN 7.6), so every
//! replica accepts it without a shared session store, and a restart signs nobody out.
//!
//! The cookie holds the directory user id, when and how they signed in (`auth_time` and `amr`, which step-up
//! reads), the session's CSRF token and when it ends. It is signed, not encrypted: none of it is secret from
//! its owner. The sign-in flow's own cookie (state, nonce, PKCE verifier) is encrypted, see [`Flow`].

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite, SignedCookieJar};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "signoff_session";
/// The sign-in flow's cookie (between the redirect to the provider and its answer).
pub const FLOW_COOKIE: &str = "signoff_signin";
/// How long a session lasts, however active: a working day and a half.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// How long a sign-in at the provider may take.
pub const FLOW_SECONDS: i64 = 600;

/// A signed-in person.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The directory user id.
    #[serde(rename = "u")]
    pub user: String,
    /// How they signed in: `oidc` or `dev`.
    #[serde(rename = "m")]
    pub method: String,
    /// When they authenticated at the provider (seconds since the epoch), for step-up.
    #[serde(rename = "t")]
    pub auth_time: i64,
    /// The provider's `amr` claim: how they authenticated (`pwd`, `mfa`, ...).
    #[serde(rename = "a", default)]
    pub amr: Vec<String>,
    /// The token every form of this session carries.
    #[serde(rename = "c")]
    pub csrf: String,
    /// When the session ends (seconds since the epoch).
    #[serde(rename = "e")]
    pub expires: i64,
}

impl Session {
    /// A new session for `user`, starting at `now`.
    pub fn new(user: String, method: &str, auth_time: i64, amr: Vec<String>, now: Timestamp) -> Session {
        Session {
            user,
            method: method.to_owned(),
            auth_time,
            amr,
            csrf: random_token(),
            expires: now.as_second() + SESSION_SECONDS,
        }
    }

    /// Whether `given` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        constant_time_eq(self.csrf.as_bytes(), given.as_bytes())
    }
}

/// The sign-in in progress: what the provider's answer must match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flow {
    /// The `state` sent; the answer must carry it back.
    pub state: String,
    /// The `nonce` sent; the id_token must carry it.
    pub nonce: String,
    /// The PKCE verifier whose challenge was sent.
    pub verifier: String,
    /// Where to go once signed in (a local path).
    pub return_to: String,
    /// Whether this sign-in was asked for a step-up (a fresh, strong login).
    pub step_up: bool,
    /// When it was started (seconds since the epoch).
    pub started: i64,
    /// The CSRF token of the dev sign-in form, when that is how one signs in.
    #[serde(default)]
    pub csrf: String,
}

/// A fresh random token: 32 bytes, URL-safe base64.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two byte strings without stopping at the first difference, so timing says nothing about how much of a
/// guessed token was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads and writes the cookies with the session key.
#[derive(Clone)]
pub struct Cookies {
    key: Key,
    /// Whether cookies carry `Secure` (when `[server] public_url` is https).
    secure: bool,
}

impl Cookies {
    /// Cookies signed with a key derived from `secret` (at least 32 bytes).
    pub fn new(secret: &[u8], secure: bool) -> Cookies {
        Cookies { key: Key::derive_from(secret), secure }
    }

    /// The session in `headers`, when its signature is good and it has not ended at `now`.
    pub fn session(&self, headers: &HeaderMap, now: Timestamp) -> Option<Session> {
        let jar = SignedCookieJar::from_headers(headers, self.key.clone());
        let session: Session = decode(jar.get(SESSION_COOKIE)?.value())?;
        (session.expires > now.as_second()).then_some(session)
    }

    /// The sign-in flow in `headers`, when it decrypts and is recent.
    pub fn flow(&self, headers: &HeaderMap, now: Timestamp) -> Option<Flow> {
        let jar = PrivateCookieJar::from_headers(headers, self.key.clone());
        let flow: Flow = decode(jar.get(FLOW_COOKIE)?.value())?;
        (now.as_second() - flow.started < FLOW_SECONDS).then_some(flow)
    }

    /// A jar that sets `session` (and ends any sign-in flow).
    pub fn set_session(&self, session: &Session) -> (SignedCookieJar, PrivateCookieJar) {
        let jar =
            SignedCookieJar::new(self.key.clone()).add(self.cookie(SESSION_COOKIE, encode(session), SESSION_SECONDS));
        (jar, PrivateCookieJar::new(self.key.clone()).add(self.removal(FLOW_COOKIE)))
    }

    /// A jar that ends the session.
    pub fn clear_session(&self) -> SignedCookieJar {
        SignedCookieJar::new(self.key.clone()).add(self.removal(SESSION_COOKIE))
    }

    /// A jar that starts a sign-in flow.
    pub fn set_flow(&self, flow: &Flow) -> PrivateCookieJar {
        PrivateCookieJar::new(self.key.clone()).add(self.cookie(FLOW_COOKIE, encode(flow), FLOW_SECONDS))
    }

    fn cookie(&self, name: &'static str, value: String, seconds: i64) -> Cookie<'static> {
        let mut c = Cookie::new(name, value);
        c.set_path("/");
        c.set_http_only(true);
        // Lax, not Strict: the provider's redirect back to `/auth/callback` is a cross-site navigation, and a
        // link from a chat message to a request page should arrive signed in.
        c.set_same_site(SameSite::Lax);
        c.set_secure(self.secure);
        c.set_max_age(Some(cookie::time::Duration::seconds(seconds)));
        c
    }

    /// A cookie that makes the browser forget `name` (empty, expired). Added, not `remove`d: a jar only emits a
    /// removal for a cookie it read from the request, and ours are built fresh.
    fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = self.cookie(name, String::new(), 0);
        c.make_removal();
        c
    }
}

/// Cookie values are URL-safe base64 of JSON: JSON's quotes and commas are not allowed in a cookie value.
fn encode<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::COOKIE;
    use axum::response::IntoResponseParts;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    /// The `Cookie` request header a browser would send back for the jar's `Set-Cookie`s.
    fn echo(jar: impl IntoResponseParts) -> HeaderMap {
        let resp = (jar, "").into_response();
        let mut pairs = Vec::new();
        for v in resp.headers().get_all(axum::http::header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            pairs.push(v.split(';').next().unwrap().to_owned());
        }
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
        h
    }

    use axum::response::IntoResponse;

    #[test]
    fn a_session_round_trips_and_a_tampered_one_is_refused() {
        let cookies = Cookies::new(&[7u8; 32], false);
        let s = Session::new("ana@example.com".into(), "dev", 1_800_000_000, vec![], now());
        let headers = echo(cookies.set_session(&s).0);
        assert_eq!(cookies.session(&headers, now()), Some(s.clone()));
        // Another key (another deployment) does not accept it.
        assert_eq!(Cookies::new(&[8u8; 32], false).session(&headers, now()), None);
        // Changing one character of the value breaks the signature.
        let raw = headers.get(COOKIE).unwrap().to_str().unwrap().to_owned();
        let mut tampered = raw.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_bytes(&tampered).unwrap());
        assert_eq!(cookies.session(&h, now()), None);
        // An ended session is no session.
        let later = Timestamp::from_second(1_800_000_000 + SESSION_SECONDS).unwrap();
        assert_eq!(cookies.session(&headers, later), None);
    }

    #[test]
    fn the_flow_cookie_is_encrypted_and_short_lived() {
        let cookies = Cookies::new(&[7u8; 32], true);
        let flow = Flow {
            state: "st".into(),
            nonce: "no".into(),
            verifier: "very-secret-verifier".into(),
            return_to: "/inbox".into(),
            step_up: false,
            started: 1_800_000_000,
            csrf: String::new(),
        };
        let headers = echo(cookies.set_flow(&flow));
        let raw = headers.get(COOKIE).unwrap().to_str().unwrap();
        assert!(!raw.contains(&URL_SAFE_NO_PAD.encode(b"very-secret")[..8]), "the verifier must not be readable");
        assert_eq!(cookies.flow(&headers, now()), Some(flow));
        let later = Timestamp::from_second(1_800_000_000 + FLOW_SECONDS).unwrap();
        assert_eq!(cookies.flow(&headers, later), None);
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        let s = Session::new("u".into(), "dev", 0, vec![], now());
        assert!(s.csrf_matches(&s.csrf.clone()));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches(&s.csrf[..s.csrf.len() - 1]));
        assert_ne!(random_token(), random_token());
    }
}
