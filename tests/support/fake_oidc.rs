//! A fake OpenID Connect provider for the web sign-in tests (DESIGN 7.6): discovery
//! (`/.well-known/openid-configuration`), `/jwks`, `/authorize`, `/token` and `/userinfo` under the issuer
//! `http://127.0.0.1:<port>/idp` (a path, as Keycloak's and Okta's issuers have, so that discovery URLs are built
//! from the issuer and not from its origin), on a free local port; it stops when dropped.
//!
//! It behaves as a strict provider with a live session does, with no UI: [`FakeOidc::sign_in_as`] says who is
//! signed in at the provider, and `/authorize` then answers at once with a 302 to `redirect_uri?code=..&state=..`
//! (with no one signed in it shows its sign-in page, a 200 that goes nowhere). It refuses what a strict provider
//! refuses:
//!
//! - `/authorize`: an unknown `client_id` or a `redirect_uri` that is not registered ([`FakeOidc::register_redirect`];
//!   when none is, the first one used is registered and then required) get a 400 page and no redirect (RFC 6749
//!   4.1.2.1); everything else wrong is an error redirect carrying `state`: `unsupported_response_type` (not
//!   `code`), `invalid_scope` (no `openid`), `invalid_request` (no `state`, no `nonce`, a `code_challenge` missing
//!   or malformed, `code_challenge_method` missing, `plain` or unknown, a repeated parameter, a bad `prompt` or
//!   `max_age`), and `login_required` (`prompt=none` when a login would be needed).
//! - `prompt=login`, or a `max_age` that the session is older than (`max_age=0` always), is a fresh login:
//!   `auth_time` becomes now and `amr` the one set with [`FakeOidc::next_login_amr`] (else the person's own).
//! - `/token`: client authentication by `client_secret_basic` (id and secret form-encoded, then base64, RFC 6749
//!   2.3.1) or `client_secret_post`, not both (`invalid_request`) and not neither (`invalid_client`, 401, with
//!   `WWW-Authenticate` for Basic); `grant_type=authorization_code` (else `unsupported_grant_type`); the code is
//!   good once, for [`CODE_LIFETIME`], and is spent by any exchange that gets past client authentication, even
//!   one refused later; `redirect_uri` must be the authorize request's; `BASE64URL(SHA-256(code_verifier))` must
//!   be its `code_challenge` (RFC 7636 4.6). Every refusal of the code is `invalid_grant`.
//! - id_tokens are signed RS256 with the fixed test key ([`TEST_KEY_PEM`], kid [`KEY_ID`]) by `openidconnect`
//!   itself, with `iss`, `sub`, `aud` (the client id), `exp`, `iat`, `auth_time`, `nonce`, `amr` and `at_hash`,
//!   plus `email`, `email_verified` with scope `email` and `name` with scope `profile`.
//!
//! Faults for tests: [`FakeOidc::tamper_next`] spoils the next id_token ([`Tamper`]); [`FakeOidc::fail_token_once`]
//! makes the token endpoint answer one 500 (before it looks at the request: the code stays good). Every
//! authorize and token request is recorded ([`FakeOidc::authorize_requests`], [`FakeOidc::token_requests`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{
    AccessToken, Audience, AuthenticationMethodReference, EmptyAdditionalClaims, EndUserEmail, EndUserName, IssuerUrl,
    JsonWebKeyId, Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// The fake's RSA private key, PKCS#1 PEM. A TEST-ONLY key, generated for this fake and public in this
/// repository: it protects nothing.
pub const TEST_KEY_PEM: &str = include_str!("fake_oidc_TEST_ONLY_rsa_key.pem");
/// The `kid` of that key in `/jwks` and in every id_token's header.
pub const KEY_ID: &str = "fake-oidc-test-key-1";
/// The path of the issuer on the fake's origin.
pub const ISSUER_PATH: &str = "/idp";
/// How long an authorization code can be exchanged.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long an id_token is valid (`exp - iat`).
pub const ID_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// `expires_in` of the access tokens.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The person signed in at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// `sub`.
    pub sub: String,
    /// `email` (scope `email`).
    pub email: String,
    /// `name` (scope `profile`).
    pub name: String,
    /// `email_verified` (scope `email`).
    pub email_verified: bool,
    /// `amr` of this sign-in (`["pwd"]` by [`Login::new`]).
    pub amr: Vec<String>,
    /// How long ago this person signed in at the provider: `auth_time` is that long before
    /// [`FakeOidc::sign_in_as`] (0 by [`Login::new`]).
    pub authenticated_ago: Duration,
}

impl Login {
    /// `sub`, `email` and `name`, a verified email, `amr` `["pwd"]`, signed in just now.
    pub fn new(sub: &str, email: &str, name: &str) -> Login {
        Login {
            sub: sub.to_owned(),
            email: email.to_owned(),
            name: name.to_owned(),
            email_verified: true,
            amr: vec!["pwd".to_owned()],
            authenticated_ago: Duration::ZERO,
        }
    }

    /// The same, with this `amr`.
    pub fn with_amr<S: Into<String>>(mut self, amr: impl IntoIterator<Item = S>) -> Login {
        self.amr = amr.into_iter().map(Into::into).collect();
        self
    }

    /// The same, signed in `ago` before [`FakeOidc::sign_in_as`].
    pub fn authenticated_ago(mut self, ago: Duration) -> Login {
        self.authenticated_ago = ago;
        self
    }
}

/// How the next id_token is spoiled ([`FakeOidc::tamper_next`]); each one must make a verifier refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// `nonce` is not the authorize request's.
    WrongNonce,
    /// `exp` is ten minutes past (and `iat` [`ID_TOKEN_LIFETIME`] before that).
    Expired,
    /// `aud` is another client's id.
    WrongAudience,
    /// `iss` is the issuer with `-other` appended (a prefix match would take it).
    WrongIssuer,
    /// One bit of the RS256 signature is flipped.
    BadSignature,
}

/// One request to `/authorize`, as received, and what the fake did.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    /// The parameters in order (query for GET, form for POST), repeats included.
    pub params: Vec<(String, String)>,
    /// The status answered: 302 (a code or an error redirect), 400 (bad client or redirect_uri) or 200 (the
    /// sign-in page: no one signed in).
    pub status: u16,
    /// The `Location` answered with a 302.
    pub location: Option<String>,
    /// The OAuth error, when refused.
    pub error: Option<String>,
    /// Whether the person logged in afresh for this request (`prompt=login`, `max_age`).
    pub fresh_login: bool,
}

impl AuthorizeRequest {
    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        param_of(&self.params, name)
    }

    /// `prompt`.
    pub fn prompt(&self) -> Option<&str> {
        self.param("prompt")
    }

    /// `max_age`.
    pub fn max_age(&self) -> Option<&str> {
        self.param("max_age")
    }
}

/// One request to `/token`, as received, and what the fake answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The form parameters in order, repeats included.
    pub params: Vec<(String, String)>,
    /// Whether an `Authorization: Basic` header came.
    pub basic_auth: bool,
    /// The status answered.
    pub status: u16,
    /// The OAuth error, when refused (`None` also for the scripted 500).
    pub error: Option<String>,
}

impl TokenRequest {
    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        param_of(&self.params, name)
    }
}

fn param_of<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The provider's session: who is signed in, since when, how.
#[derive(Debug, Clone)]
struct Session {
    login: Login,
    auth_time: DateTime<Utc>,
    amr: Vec<String>,
}

/// What a code stands for.
#[derive(Debug, Clone)]
struct Grant {
    redirect_uri: String,
    code_challenge: String,
    nonce: String,
    scopes: Vec<String>,
    session: Session,
    issued: Instant,
    spent: bool,
}

#[derive(Default)]
struct ProviderState {
    redirects: Vec<String>,
    session: Option<Session>,
    next_amr: Option<Vec<String>>,
    codes: HashMap<String, Grant>,
    /// Access token -> (the session it was issued for, its scopes, when it expires).
    access_tokens: HashMap<String, (Session, Vec<String>, Instant)>,
    tamper: Option<Tamper>,
    fail_token: usize,
    authorize: Vec<AuthorizeRequest>,
    token: Vec<TokenRequest>,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    key: CoreRsaPrivateSigningKey,
    state: Mutex<ProviderState>,
}

/// The running fake provider; stops when dropped.
pub struct FakeOidc {
    inner: Arc<Inner>,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeOidc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOidc {
    /// Starts a provider on a free local port that knows one confidential client.
    pub async fn start(client_id: &str, client_secret: &str) -> FakeOidc {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the fake OIDC provider");
        let addr = listener.local_addr().expect("its address");
        let key = CoreRsaPrivateSigningKey::from_pem(TEST_KEY_PEM, Some(JsonWebKeyId::new(KEY_ID.to_owned())))
            .expect("the fake's test key");
        let inner = Arc::new(Inner {
            issuer: format!("http://{addr}{ISSUER_PATH}"),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            key,
            state: Mutex::default(),
        });
        let app = Router::new()
            .route(&format!("{ISSUER_PATH}/.well-known/openid-configuration"), get(discovery))
            .route(&format!("{ISSUER_PATH}/jwks"), get(jwks))
            .route(&format!("{ISSUER_PATH}/authorize"), get(authorize).post(authorize))
            .route(&format!("{ISSUER_PATH}/token"), post(token))
            .route(&format!("{ISSUER_PATH}/userinfo"), any(userinfo))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeOidc { inner, addr, task }
    }

    /// The issuer, `http://127.0.0.1:<port>/idp` (no trailing slash), for `[web.oidc] issuer`.
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    /// The client id it was started with.
    pub fn client_id(&self) -> String {
        self.inner.client_id.clone()
    }

    /// The client secret it was started with.
    pub fn client_secret(&self) -> String {
        self.inner.client_secret.clone()
    }

    /// Registers a redirect URI (exact match). Until one is registered, the first one used is.
    pub fn register_redirect(&self, uri: &str) {
        let mut state = self.inner.state.lock().unwrap();
        if !state.redirects.iter().any(|r| r == uri) {
            state.redirects.push(uri.to_owned());
        }
    }

    /// The registered redirect URIs.
    pub fn redirects(&self) -> Vec<String> {
        self.inner.state.lock().unwrap().redirects.clone()
    }

    /// `login` is now signed in at the provider (replacing whoever was), since `login.authenticated_ago`.
    pub fn sign_in_as(&self, login: Login) {
        let auth_time = Utc::now() - chrono::Duration::from_std(login.authenticated_ago).expect("a sane duration");
        let amr = login.amr.clone();
        self.inner.state.lock().unwrap().session = Some(Session { login, auth_time, amr });
    }

    /// No one is signed in at the provider any more.
    pub fn sign_out(&self) {
        self.inner.state.lock().unwrap().session = None;
    }

    /// The next fresh login (`prompt=login`, `max_age`) reports this `amr` (and the session keeps it).
    pub fn next_login_amr<S: Into<String>>(&self, amr: impl IntoIterator<Item = S>) {
        self.inner.state.lock().unwrap().next_amr = Some(amr.into_iter().map(Into::into).collect());
    }

    /// The `auth_time` of the current session, if someone is signed in.
    pub fn session_auth_time(&self) -> Option<DateTime<Utc>> {
        self.inner.state.lock().unwrap().session.as_ref().map(|s| s.auth_time)
    }

    /// Spoils the next id_token issued (one only).
    pub fn tamper_next(&self, tamper: Tamper) {
        self.inner.state.lock().unwrap().tamper = Some(tamper);
    }

    /// The next token request gets a 500 with a body that is not JSON (as an outage or a failing proxy
    /// answers), before the fake looks at it: its code stays good.
    pub fn fail_token_once(&self) {
        self.inner.state.lock().unwrap().fail_token += 1;
    }

    /// Every authorize request so far, in order.
    pub fn authorize_requests(&self) -> Vec<AuthorizeRequest> {
        self.inner.state.lock().unwrap().authorize.clone()
    }

    /// Every token request so far, in order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.inner.state.lock().unwrap().token.clone()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Discovery and keys

async fn discovery(State(inner): State<Arc<Inner>>) -> Response {
    let issuer = &inner.issuer;
    let metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "email", "email_verified", "name"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    json_response(StatusCode::OK, &metadata)
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Response {
    let mut key = serde_json::to_value(inner.key.as_verification_key()).expect("a JWK");
    key["alg"] = json!("RS256");
    json_response(StatusCode::OK, &json!({ "keys": [key] }))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

// ---------------------------------------------------------------------------------------------------------
// /authorize

fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// The parameter if given once; `Err` if repeated (RFC 6749 3.1: parameters MUST NOT be repeated).
fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = values.next();
    match values.next() {
        Some(_) => Err(format!("{name} is repeated")),
        None => Ok(first.filter(|v| !v.is_empty())),
    }
}

/// RFC 7636 4.1/4.2: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// `uri` with these query parameters added.
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(uri).expect("a registered redirect_uri parses");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

async fn authorize(
    State(inner): State<Arc<Inner>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = if method == Method::POST {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if form { form_pairs(&body) } else { Vec::new() }
    } else {
        form_pairs(query.unwrap_or_default().as_bytes())
    };
    let mut state = inner.state.lock().unwrap();
    let mut record =
        AuthorizeRequest { params: params.clone(), status: 0, location: None, error: None, fresh_login: false };
    let response = decide_authorize(&inner, &mut state, &params, &mut record);
    state.authorize.push(record);
    response
}

/// A page for errors that must not be redirected (RFC 6749 4.1.2.1), as a provider shows the person.
fn error_page(record: &mut AuthorizeRequest, error: &str, description: &str) -> Response {
    record.status = 400;
    record.error = Some(error.to_owned());
    let page = format!("<!doctype html><title>Sign-in error</title><p>{error}: {description}</p>");
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn redirect(record: &mut AuthorizeRequest, location: String) -> Response {
    record.status = 302;
    record.location = Some(location.clone());
    (StatusCode::FOUND, [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store".to_owned())]).into_response()
}

fn decide_authorize(
    inner: &Inner,
    state: &mut ProviderState,
    params: &[(String, String)],
    record: &mut AuthorizeRequest,
) -> Response {
    // Who is asking, and where to: wrong here, the person sees an error page and goes nowhere.
    match single(params, "client_id") {
        Ok(Some(id)) if id == inner.client_id => {}
        Ok(Some(_)) => return error_page(record, "invalid_client", "unknown client_id"),
        Ok(None) => return error_page(record, "invalid_request", "client_id is missing"),
        Err(e) => return error_page(record, "invalid_request", &e),
    }
    let redirect_uri = match single(params, "redirect_uri") {
        Ok(Some(uri)) => uri,
        Ok(None) => return error_page(record, "invalid_request", "redirect_uri is missing"),
        Err(e) => return error_page(record, "invalid_request", &e),
    };
    match url::Url::parse(redirect_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => {}
        _ => return error_page(record, "invalid_request", "redirect_uri is not an absolute http(s) URI"),
    }
    if state.redirects.is_empty() {
        state.redirects.push(redirect_uri.to_owned());
    }
    if !state.redirects.iter().any(|r| r == redirect_uri) {
        return error_page(record, "invalid_request", "redirect_uri is not registered for this client");
    }

    // From here on, errors go back to the client.
    let state_param = single(params, "state").ok().flatten();
    let refuse = |record: &mut AuthorizeRequest, error: &str, description: &str| {
        record.error = Some(error.to_owned());
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = state_param {
            pairs.push(("state", s));
        }
        redirect(record, with_query(redirect_uri, &pairs))
    };
    let repeated = params.iter().enumerate().find(|(i, (k, _))| params[..*i].iter().any(|(k2, _)| k2 == k));
    if let Some((_, (name, _))) = repeated {
        return refuse(record, "invalid_request", &format!("{name} is repeated"));
    }
    let get = |name: &str| single(params, name).ok().flatten();
    match get("response_type") {
        Some("code") => {}
        Some(_) => return refuse(record, "unsupported_response_type", "only response_type=code is supported"),
        None => return refuse(record, "invalid_request", "response_type is missing"),
    }
    let scopes: Vec<String> =
        get("scope").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return refuse(record, "invalid_scope", "scope must contain openid");
    }
    let Some(state_value) = state_param else { return refuse(record, "invalid_request", "state is missing") };
    let Some(nonce) = get("nonce") else { return refuse(record, "invalid_request", "nonce is missing") };
    match get("code_challenge_method") {
        Some("S256") => {}
        Some(m) => return refuse(record, "invalid_request", &format!("code_challenge_method {m} is not supported")),
        None => return refuse(record, "invalid_request", "code_challenge_method is missing (PKCE S256 is required)"),
    }
    let Some(code_challenge) = get("code_challenge") else {
        return refuse(record, "invalid_request", "code_challenge is missing (PKCE is required)");
    };
    if !is_pkce_value(code_challenge) {
        return refuse(record, "invalid_request", "code_challenge is malformed");
    }
    let prompts: Vec<&str> = get("prompt").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    if prompts.iter().any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account")) {
        return refuse(record, "invalid_request", "unknown prompt value");
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return refuse(record, "invalid_request", "prompt=none cannot be combined");
    }
    let max_age = match get("max_age").map(str::parse::<u64>) {
        None => None,
        Some(Ok(secs)) => Some(secs),
        Some(Err(_)) => return refuse(record, "invalid_request", "max_age is not a number of seconds"),
    };

    // The person.
    let Some(session) = state.session.as_mut() else {
        if prompt_none {
            return refuse(record, "login_required", "no one is signed in");
        }
        record.status = 200;
        let page = "<!doctype html><title>Sign in</title><form method=post><p>The fake provider has no one \
                    signed in: the test did not call sign_in_as.</p></form>";
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    };
    let now = Utc::now();
    let age = (now - session.auth_time).num_seconds().max(0) as u64;
    let fresh = prompts.contains(&"login") || max_age.is_some_and(|m| m == 0 || age > m);
    if fresh {
        if prompt_none {
            return refuse(record, "login_required", "a fresh login is needed");
        }
        session.auth_time = now;
        session.amr = state.next_amr.take().unwrap_or_else(|| session.login.amr.clone());
        record.fresh_login = true;
    }
    let session = session.clone();
    let code = random_token();
    state.codes.insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: code_challenge.to_owned(),
            nonce: nonce.to_owned(),
            scopes,
            session,
            issued: Instant::now(),
            spent: false,
        },
    );
    redirect(record, with_query(redirect_uri, &[("code", code.as_str()), ("state", state_value)]))
}

// ---------------------------------------------------------------------------------------------------------
// /token

/// An OAuth error answer (RFC 6749 5.2).
fn token_error(status: StatusCode, error: &str, description: &str, basic: bool) -> Response {
    let body = json!({ "error": error, "error_description": description }).to_string();
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
        body,
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED && basic {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, "Basic realm=\"fake-oidc\"".parse().unwrap());
    }
    response
}

/// Why a token request is refused.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn refusal(error: &'static str, description: impl Into<String>) -> Refusal {
    let status = if error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    Refusal { status, error, description: description.into() }
}

async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let params = if is_form { form_pairs(&body) } else { Vec::new() };
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut state = inner.state.lock().unwrap();
    let mut record = TokenRequest { params: params.clone(), basic_auth: basic.is_some(), status: 500, error: None };
    let response = if state.fail_token > 0 {
        state.fail_token -= 1;
        (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/html")], "<h1>500 Internal Server Error</h1>")
            .into_response()
    } else {
        let answer = if is_form {
            exchange(&inner, &mut state, &params, basic.as_deref())
        } else {
            Err(refusal("invalid_request", "the body must be application/x-www-form-urlencoded"))
        };
        match answer {
            Ok(tokens) => {
                record.status = 200;
                (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "no-store"),
                        (header::PRAGMA, "no-cache"),
                    ],
                    tokens.to_string(),
                )
                    .into_response()
            }
            Err(refused) => {
                record.status = refused.status.as_u16();
                record.error = Some(refused.error.to_owned());
                token_error(refused.status, refused.error, &refused.description, basic.is_some())
            }
        }
    };
    state.token.push(record);
    response
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 2.3.1).
fn basic_credentials(header_value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header_value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn exchange(
    inner: &Inner,
    state: &mut ProviderState,
    params: &[(String, String)],
    basic: Option<&str>,
) -> Result<Value, Refusal> {
    if let Some((_, (name, _))) =
        params.iter().enumerate().find(|(i, (k, _))| params[..*i].iter().any(|(k2, _)| k2 == k))
    {
        return Err(refusal("invalid_request", format!("{name} is repeated")));
    }
    let get = |name: &str| single(params, name).ok().flatten();

    // The client.
    let body_id = get("client_id");
    let body_secret = get("client_secret");
    match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(refusal("invalid_request", "more than one client authentication method"));
        }
        (Some(header_value), None) => {
            let Some((id, secret)) = basic_credentials(header_value) else {
                return Err(refusal("invalid_client", "malformed Basic credentials"));
            };
            if id != inner.client_id || secret != inner.client_secret || body_id.is_some_and(|b| b != id) {
                return Err(refusal("invalid_client", "client authentication failed"));
            }
        }
        (None, Some(secret)) => {
            if body_id != Some(inner.client_id.as_str()) || secret != inner.client_secret {
                return Err(refusal("invalid_client", "client authentication failed"));
            }
        }
        (None, None) => return Err(refusal("invalid_client", "client authentication is required")),
    }

    match get("grant_type") {
        Some("authorization_code") => {}
        Some(_) => return Err(refusal("unsupported_grant_type", "only authorization_code is supported")),
        None => return Err(refusal("invalid_request", "grant_type is missing")),
    }
    let Some(code) = get("code") else { return Err(refusal("invalid_request", "code is missing")) };
    let Some(grant) = state.codes.get_mut(code) else {
        return Err(refusal("invalid_grant", "unknown authorization code"));
    };
    if grant.spent {
        return Err(refusal("invalid_grant", "the authorization code was already used"));
    }
    // Any exchange that gets this far spends the code, refused or not.
    grant.spent = true;
    if grant.issued.elapsed() > CODE_LIFETIME {
        return Err(refusal("invalid_grant", "the authorization code expired"));
    }
    if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(refusal("invalid_grant", "redirect_uri does not match the authorization request"));
    }
    let Some(verifier) = get("code_verifier") else {
        return Err(refusal("invalid_grant", "code_verifier is missing"));
    };
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !is_pkce_value(verifier) || computed != grant.code_challenge {
        return Err(refusal("invalid_grant", "PKCE verification failed"));
    }
    let grant = grant.clone();

    let access_token = random_token();
    state.access_tokens.insert(
        access_token.clone(),
        (grant.session.clone(), grant.scopes.clone(), Instant::now() + ACCESS_TOKEN_LIFETIME),
    );
    let id_token = id_token(inner, &grant, &AccessToken::new(access_token.clone()), state.tamper.take());
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME.as_secs(),
        "scope": grant.scopes.join(" "),
        "id_token": id_token,
    }))
}

/// The id_token for a grant, signed RS256 with the test key, spoiled as `tamper` says.
fn id_token(inner: &Inner, grant: &Grant, access_token: &AccessToken, tamper: Option<Tamper>) -> String {
    let now = Utc::now();
    let lifetime = chrono::Duration::from_std(ID_TOKEN_LIFETIME).expect("a sane lifetime");
    let mut issuer = inner.issuer.clone();
    let mut audience = inner.client_id.clone();
    let mut nonce = grant.nonce.clone();
    let (mut iat, mut exp) = (now, now + lifetime);
    match tamper {
        Some(Tamper::WrongNonce) => nonce = random_token(),
        Some(Tamper::Expired) => {
            exp = now - chrono::Duration::minutes(10);
            iat = exp - lifetime;
        }
        Some(Tamper::WrongAudience) => audience = format!("{audience}-other"),
        Some(Tamper::WrongIssuer) => issuer = format!("{issuer}-other"),
        Some(Tamper::BadSignature) | None => {}
    }
    let login = &grant.session.login;
    let mut standard = StandardClaims::new(SubjectIdentifier::new(login.sub.clone()));
    if grant.scopes.iter().any(|s| s == "email") {
        standard = standard
            .set_email(Some(EndUserEmail::new(login.email.clone())))
            .set_email_verified(Some(login.email_verified));
    }
    if grant.scopes.iter().any(|s| s == "profile") {
        standard = standard.set_name(Some(EndUserName::new(login.name.clone()).into()));
    }
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).expect("an issuer URL"),
        vec![Audience::new(audience)],
        exp,
        iat,
        standard,
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)))
    .set_auth_time(Some(grant.session.auth_time))
    .set_auth_method_refs(Some(
        grant.session.amr.iter().map(|a| AuthenticationMethodReference::new(a.clone())).collect(),
    ));
    let token =
        CoreIdToken::new(claims, &inner.key, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, Some(access_token), None)
            .expect("signing the id_token")
            .to_string();
    if tamper != Some(Tamper::BadSignature) {
        return token;
    }
    let (signed, signature) = token.rsplit_once('.').expect("a compact JWS");
    let mut signature = URL_SAFE_NO_PAD.decode(signature).expect("a base64url signature");
    signature[17] ^= 0x01;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

// ---------------------------------------------------------------------------------------------------------
// /userinfo

async fn userinfo(State(inner): State<Arc<Inner>>, method: Method, headers: HeaderMap) -> Response {
    let unauthorized = |error: &str| {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, format!("Bearer error=\"{error}\""))]).into_response()
    };
    if method != Method::GET && method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = bearer else { return unauthorized("invalid_request") };
    let state = inner.state.lock().unwrap();
    let Some((session, scopes, expires)) = state.access_tokens.get(&token) else {
        return unauthorized("invalid_token");
    };
    if Instant::now() > *expires {
        return unauthorized("invalid_token");
    }
    let mut claims = json!({ "sub": session.login.sub });
    if scopes.iter().any(|s| s == "email") {
        claims["email"] = json!(session.login.email);
        claims["email_verified"] = json!(session.login.email_verified);
    }
    if scopes.iter().any(|s| s == "profile") {
        claims["name"] = json!(session.login.name);
    }
    json_response(StatusCode::OK, &claims)
}
