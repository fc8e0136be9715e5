//! The fake OpenID Connect provider (tests/support/fake_oidc.rs) against `openidconnect`'s own client, the one
//! signoff's web sign-in uses: discovery, authorization code with PKCE, `state` and `nonce`, the code exchange
//! with either kind of client authentication, and id_token verification. A full sign-in verifies; every spoiled
//! id_token, spent code, wrong verifier, wrong secret and sloppy authorize request is refused, as by a strict
//! provider; `prompt=login` and `max_age` give a fresh `auth_time` and the configured `amr`.

mod support;

use std::time::Duration;

use chrono::Utc;
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreProviderMetadata, CoreTokenResponse,
    CoreUserInfoClaims,
};
use openidconnect::url::Url;
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpClientError, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardErrorResponse, TokenResponse,
};
use serde_json::Value;
use support::fake_oidc::{FakeOidc, KEY_ID, Login, Tamper};

const CLIENT_ID: &str = "signoff-web";
const CLIENT_SECRET: &str = "fake-oidc-client-secret-0123456789";
const REDIRECT: &str = "http://127.0.0.1:8080/auth/callback";
const OTHER_REDIRECT: &str = "http://127.0.0.1:8080/other/callback";

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;
type TokenError = RequestTokenError<HttpClientError<reqwest::Error>, StandardErrorResponse<CoreErrorResponseType>>;

/// The HTTP client as openidconnect's docs require it: no redirects followed (SSRF).
fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a reqwest client")
}

fn ana() -> Login {
    Login::new("00u-ana-1234", "ana@example.com", "Ana Diaz")
}

/// A provider with Ana signed in and [`REDIRECT`] registered.
async fn provider() -> FakeOidc {
    let fake = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    fake.register_redirect(REDIRECT);
    fake.sign_in_as(ana());
    fake
}

/// The relying party, configured by discovery from the fake's issuer.
async fn client(fake: &FakeOidc, secret: &str, redirect: &str) -> Client {
    let issuer = IssuerUrl::new(fake.issuer()).expect("an issuer URL");
    let metadata = CoreProviderMetadata::discover_async(issuer, &http()).await.expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(CLIENT_ID.into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).expect("a redirect URL"))
}

/// What the relying party keeps between sending the browser to the provider and the callback.
struct Attempt {
    url: Url,
    csrf: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// How the authorize request differs from the plain one.
#[derive(Default)]
struct Ask {
    prompt_login: bool,
    prompt_none: bool,
    max_age: Option<Duration>,
}

fn begin(client: &Client, ask: Ask) -> Attempt {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if ask.prompt_login {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    if ask.prompt_none {
        request = request.add_prompt(CoreAuthPrompt::None);
    }
    if let Some(max_age) = ask.max_age {
        request = request.set_max_age(max_age);
    }
    let (url, csrf, nonce) = request.url();
    Attempt { url, csrf, nonce, verifier }
}

/// The browser's visit to the authorize URL: (status, `Location`).
async fn visit(url: &Url) -> (u16, Option<Url>) {
    let response = http().get(url.as_str()).send().await.expect("the fake answers");
    let location = response
        .headers()
        .get("location")
        .map(|l| Url::parse(l.to_str().expect("an ASCII Location")).expect("an absolute Location"));
    (response.status().as_u16(), location)
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Visits the authorize URL and returns the code of the callback, after the relying party's own `state` check.
async fn code_for(attempt: &Attempt) -> AuthorizationCode {
    let (status, location) = visit(&attempt.url).await;
    assert_eq!(status, 302, "the provider redirects at once");
    let location = location.expect("a Location");
    assert!(location.as_str().starts_with(REDIRECT), "{location} goes to the redirect_uri");
    assert_eq!(query(&location, "error"), None, "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(attempt.csrf.secret().as_str()), "state comes back");
    AuthorizationCode::new(query(&location, "code").expect("a code"))
}

async fn exchange(
    client: &Client,
    code: AuthorizationCode,
    verifier: PkceCodeVerifier,
) -> Result<CoreTokenResponse, TokenError> {
    client.exchange_code(code).expect("a token endpoint").set_pkce_verifier(verifier).request_async(&http()).await
}

/// The OAuth error code of a refused exchange; panics on any other failure.
fn oauth_error(result: Result<CoreTokenResponse, TokenError>) -> String {
    match result {
        Err(RequestTokenError::ServerResponse(e)) => e.error().as_ref().to_owned(),
        Err(e) => panic!("expected an OAuth error answer, got {e:?}"),
        Ok(_) => panic!("expected a refusal, got tokens"),
    }
}

/// A whole sign-in, up to the verified claims (as JSON).
async fn sign_in(fake: &FakeOidc, client: &Client, ask: Ask) -> Value {
    let attempt = begin(client, ask);
    let code = code_for(&attempt).await;
    let tokens = exchange(client, code, attempt.verifier).await.expect("the code is exchanged");
    let id_token = tokens.id_token().expect("an id_token");
    let claims = id_token.claims(&client.id_token_verifier(), &attempt.nonce).unwrap_or_else(|e| {
        panic!("the id_token verifies: {e:?}; authorize requests: {:#?}", fake.authorize_requests())
    });
    serde_json::to_value(claims).expect("claims as JSON")
}

#[tokio::test]
async fn discovery_and_jwks_describe_a_strict_code_flow_provider() {
    let fake = provider().await;
    let http = http();
    let get = async |path: &str| -> Value {
        let response = http.get(format!("{}{path}", fake.issuer())).send().await.expect("the fake answers");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json", "{path}");
        response.json().await.expect("JSON")
    };
    let metadata = get("/.well-known/openid-configuration").await;
    assert_eq!(metadata["issuer"], fake.issuer().as_str());
    assert!(fake.issuer().starts_with("http://127.0.0.1:") && fake.issuer().ends_with("/idp"), "{}", fake.issuer());
    assert_eq!(metadata["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(metadata["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(metadata["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    assert_eq!(metadata["subject_types_supported"], serde_json::json!(["public"]));
    for key in ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"] {
        assert!(metadata[key].as_str().is_some_and(|u| u.starts_with(&fake.issuer())), "{key}: {metadata}");
    }
    let jwks = get("/jwks").await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["kid"], KEY_ID);
    assert_eq!(keys[0]["alg"], "RS256");
    assert!(keys[0]["n"].as_str().is_some_and(|n| n.len() > 300), "a 2048-bit modulus: {jwks}");
    assert!(keys[0].get("d").is_none(), "no private part in the JWKS: {jwks}");
}

#[tokio::test]
async fn a_full_sign_in_verifies_with_the_real_client() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let attempt = begin(&client, Ask::default());
    let code = code_for(&attempt).await;
    let tokens = exchange(&client, code, attempt.verifier).await.expect("the code is exchanged");
    assert_eq!(tokens.token_type().as_ref(), "bearer");
    assert!(tokens.expires_in().is_some());
    let id_token = tokens.id_token().expect("an id_token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &attempt.nonce).expect("the id_token verifies");
    assert_eq!(claims.subject().as_str(), "00u-ana-1234");
    assert_eq!(claims.issuer().as_str(), fake.issuer());
    assert_eq!(claims.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), [CLIENT_ID]);
    assert_eq!(claims.nonce().map(|n| n.secret().as_str()), Some(attempt.nonce.secret().as_str()));
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ana@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ana Diaz"));
    let amr: Vec<&str> = claims.auth_method_refs().expect("amr").iter().map(|a| a.as_str()).collect();
    assert_eq!(amr, ["pwd"]);
    let auth_time = claims.auth_time().expect("auth_time");
    assert!((Utc::now() - auth_time).num_seconds().abs() < 30, "{auth_time}");
    assert!(claims.expiration() > Utc::now());
    // at_hash binds the access token to the id_token.
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("an alg"),
        id_token.signing_key(&verifier).expect("the key"),
    )
    .expect("an at_hash");
    assert_eq!(claims.access_token_hash(), Some(&at_hash));

    // The userinfo endpoint knows the access token.
    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .expect("a userinfo endpoint")
        .request_async(&http())
        .await
        .expect("userinfo answers");
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("ana@example.com"));

    let authorize = fake.authorize_requests();
    assert_eq!(authorize.len(), 1);
    assert_eq!(authorize[0].param("code_challenge_method"), Some("S256"));
    assert_eq!(authorize[0].param("state"), Some(attempt.csrf.secret().as_str()));
    assert_eq!(authorize[0].param("nonce"), Some(attempt.nonce.secret().as_str()));
    assert_eq!(authorize[0].prompt(), None);
    assert!(!authorize[0].fresh_login);
    let token = fake.token_requests();
    assert_eq!(token.len(), 1);
    assert!(token[0].basic_auth, "openidconnect defaults to client_secret_basic");
    assert_eq!((token[0].status, token[0].param("client_secret")), (200, None));
}

#[tokio::test]
async fn client_secret_post_is_accepted_too() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await.set_auth_type(AuthType::RequestBody);
    let claims = sign_in(&fake, &client, Ask::default()).await;
    assert_eq!(claims["sub"], "00u-ana-1234");
    let token = fake.token_requests();
    assert!(!token[0].basic_auth);
    assert_eq!(token[0].param("client_secret"), Some(CLIENT_SECRET));
}

#[tokio::test]
async fn every_tampered_id_token_is_refused_by_the_verifier() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    for tamper in
        [Tamper::WrongNonce, Tamper::Expired, Tamper::WrongAudience, Tamper::WrongIssuer, Tamper::BadSignature]
    {
        fake.tamper_next(tamper);
        let attempt = begin(&client, Ask::default());
        let code = code_for(&attempt).await;
        let tokens = exchange(&client, code, attempt.verifier).await.expect("the code is exchanged");
        let verified = tokens.id_token().expect("an id_token").claims(&client.id_token_verifier(), &attempt.nonce);
        let Err(refused) = verified else { panic!("{tamper:?} was accepted") };
        let expected = matches!(
            (tamper, &refused),
            (Tamper::WrongNonce, ClaimsVerificationError::InvalidNonce(_))
                | (Tamper::Expired, ClaimsVerificationError::Expired(_))
                | (Tamper::WrongAudience, ClaimsVerificationError::InvalidAudience(_))
                | (Tamper::WrongIssuer, ClaimsVerificationError::InvalidIssuer(_))
                | (Tamper::BadSignature, ClaimsVerificationError::SignatureVerification(_))
        );
        assert!(expected, "{tamper:?} is refused for its own reason, not {refused:?}");
        // The knob spoils one id_token only.
        let claims = sign_in(&fake, &client, Ask::default()).await;
        assert_eq!(claims["sub"], "00u-ana-1234");
    }
}

#[tokio::test]
async fn a_code_is_good_once() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let attempt = begin(&client, Ask::default());
    let code = code_for(&attempt).await;
    let verifier = attempt.verifier.secret().clone();
    exchange(&client, code.clone(), attempt.verifier).await.expect("the first exchange");
    assert_eq!(oauth_error(exchange(&client, code, PkceCodeVerifier::new(verifier)).await), "invalid_grant");
    let unknown = AuthorizationCode::new("not-a-code-the-fake-issued".into());
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    assert_eq!(oauth_error(exchange(&client, unknown, verifier).await), "invalid_grant");
}

#[tokio::test]
async fn a_wrong_code_verifier_is_refused_and_spends_the_code() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let attempt = begin(&client, Ask::default());
    let code = code_for(&attempt).await;
    let (_, wrong) = PkceCodeChallenge::new_random_sha256();
    assert_eq!(oauth_error(exchange(&client, code.clone(), wrong).await), "invalid_grant");
    // The challenge itself is not the verifier (a plain-method mistake).
    let challenge = fake.authorize_requests()[0].param("code_challenge").expect("a challenge").to_owned();
    let attempt2 = begin(&client, Ask::default());
    let code2 = code_for(&attempt2).await;
    assert_eq!(oauth_error(exchange(&client, code2, PkceCodeVerifier::new(challenge)).await), "invalid_grant");
    // The right verifier is too late now.
    assert_eq!(oauth_error(exchange(&client, code, attempt.verifier).await), "invalid_grant");
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_with_either_authentication() {
    let fake = provider().await;
    let good = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let attempt = begin(&good, Ask::default());
    let code = code_for(&attempt).await;
    let verifier = attempt.verifier.secret().clone();
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let bad = client(&fake, "not-the-secret", REDIRECT).await.set_auth_type(auth);
        let refused = exchange(&bad, code.clone(), PkceCodeVerifier::new(verifier.clone())).await;
        assert_eq!(oauth_error(refused), "invalid_client");
    }
    assert_eq!(fake.token_requests().iter().map(|t| t.status).collect::<Vec<_>>(), [401, 401]);
    // The client was refused before its code was looked at: the right client can still use it.
    let tokens = exchange(&good, code, attempt.verifier).await.expect("the real client exchanges the code");
    tokens.id_token().expect("an id_token").claims(&good.id_token_verifier(), &attempt.nonce).expect("verifies");
}

#[tokio::test]
async fn the_token_request_needs_the_authorize_requests_redirect_uri() {
    let fake = provider().await;
    fake.register_redirect(OTHER_REDIRECT);
    let client_a = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let client_b = client(&fake, CLIENT_SECRET, OTHER_REDIRECT).await;
    let attempt = begin(&client_a, Ask::default());
    let code = code_for(&attempt).await;
    assert_eq!(oauth_error(exchange(&client_b, code, attempt.verifier).await), "invalid_grant");
}

#[tokio::test]
async fn the_first_redirect_uri_used_is_registered_and_then_required() {
    let fake = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    fake.sign_in_as(ana());
    let first = client(&fake, CLIENT_SECRET, REDIRECT).await;
    sign_in(&fake, &first, Ask::default()).await;
    assert_eq!(fake.redirects(), [REDIRECT]);
    let other = client(&fake, CLIENT_SECRET, OTHER_REDIRECT).await;
    let (status, location) = visit(&begin(&other, Ask::default()).url).await;
    assert_eq!((status, location), (400, None), "an unregistered redirect_uri is never redirected to");
}

/// `url` with parameter `name` set to `value`, or removed.
fn edit(url: &Url, name: &str, value: Option<&str>) -> Url {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != name).collect();
    let mut edited = url.clone();
    {
        let mut q = edited.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    edited
}

#[tokio::test]
async fn authorize_refuses_what_a_strict_provider_refuses() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let attempt = begin(&client, Ask::default());
    let base = attempt.url.clone();
    let state = attempt.csrf.secret().clone();
    let challenge = query(&base, "code_challenge").expect("a challenge");
    let no_pkce = edit(&edit(&base, "code_challenge", None), "code_challenge_method", None);
    let mut repeated = base.clone();
    repeated.query_pairs_mut().append_pair("nonce", "a-second-nonce");

    let cases: Vec<(&str, Url, &str)> = vec![
        ("no PKCE", no_pkce, "invalid_request"),
        ("PKCE plain", edit(&base, "code_challenge_method", Some("plain")), "invalid_request"),
        ("PKCE without a method", edit(&base, "code_challenge_method", None), "invalid_request"),
        ("a method without a challenge", edit(&base, "code_challenge", None), "invalid_request"),
        ("a short challenge", edit(&base, "code_challenge", Some(&challenge[..20])), "invalid_request"),
        ("no state", edit(&base, "state", None), "invalid_request"),
        ("no nonce", edit(&base, "nonce", None), "invalid_request"),
        ("a repeated nonce", repeated, "invalid_request"),
        ("no openid scope", edit(&base, "scope", Some("email profile")), "invalid_scope"),
        ("the implicit flow", edit(&base, "response_type", Some("id_token")), "unsupported_response_type"),
        ("an unknown prompt", edit(&base, "prompt", Some("dance")), "invalid_request"),
        ("prompt none with login", edit(&base, "prompt", Some("none login")), "invalid_request"),
        ("a bad max_age", edit(&base, "max_age", Some("ten minutes")), "invalid_request"),
    ];
    for (what, url, error) in cases {
        let (status, location) = visit(&url).await;
        assert_eq!(status, 302, "{what}");
        let location = location.unwrap_or_else(|| panic!("{what}: an error redirect"));
        assert!(location.as_str().starts_with(REDIRECT), "{what}: {location}");
        assert_eq!(query(&location, "error").as_deref(), Some(error), "{what}: {location}");
        assert_eq!(query(&location, "code"), None, "{what}: no code");
        let echoed = query(&location, "state");
        if what == "no state" {
            assert_eq!(echoed, None);
        } else {
            assert_eq!(echoed.as_deref(), Some(state.as_str()), "{what}: state comes back with the error");
        }
    }
    // No redirect at all for an unknown client or redirect_uri: the person sees an error page.
    for (what, url) in [
        ("an unknown client", edit(&base, "client_id", Some("someone-else"))),
        ("no client", edit(&base, "client_id", None)),
        ("an unregistered redirect_uri", edit(&base, "redirect_uri", Some("http://127.0.0.1:8080/evil"))),
        ("a redirect_uri with an extra path", edit(&base, "redirect_uri", Some(&format!("{REDIRECT}/x")))),
        ("no redirect_uri", edit(&base, "redirect_uri", None)),
    ] {
        assert_eq!(visit(&url).await, (400, None), "{what}");
    }
    assert!(fake.authorize_requests().iter().all(|r| r.error.is_some()), "every one was refused");
    // The untouched request still works.
    assert!(query(&visit(&base).await.1.expect("a redirect"), "code").is_some());
}

#[tokio::test]
async fn prompt_login_is_a_fresh_login_with_the_configured_amr() {
    let fake = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    fake.register_redirect(REDIRECT);
    fake.sign_in_as(ana().authenticated_ago(Duration::from_secs(3600)));
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;

    let before = sign_in(&fake, &client, Ask::default()).await;
    let age = Utc::now().timestamp() - before["auth_time"].as_i64().expect("auth_time");
    assert!((3590..3700).contains(&age), "the live session is an hour old: {age}s");
    assert_eq!(before["amr"], serde_json::json!(["pwd"]));

    fake.next_login_amr(["pwd", "mfa"]);
    let fresh = sign_in(&fake, &client, Ask { prompt_login: true, ..Ask::default() }).await;
    let age = Utc::now().timestamp() - fresh["auth_time"].as_i64().expect("auth_time");
    assert!((0..30).contains(&age), "prompt=login signs in again now: {age}s");
    assert_eq!(fresh["amr"], serde_json::json!(["pwd", "mfa"]));

    // The session keeps the new login: without prompt, the same auth_time and amr.
    let after = sign_in(&fake, &client, Ask::default()).await;
    assert_eq!((&after["auth_time"], &after["amr"]), (&fresh["auth_time"], &fresh["amr"]));

    // A further prompt=login without a configured amr uses the person's own.
    let again = sign_in(&fake, &client, Ask { prompt_login: true, ..Ask::default() }).await;
    assert_eq!(again["amr"], serde_json::json!(["pwd"]));

    let asked: Vec<(Option<String>, bool)> =
        fake.authorize_requests().iter().map(|r| (r.prompt().map(str::to_owned), r.fresh_login)).collect();
    assert_eq!(asked, [(None, false), (Some("login".into()), true), (None, false), (Some("login".into()), true)]);
}

#[tokio::test]
async fn max_age_forces_a_fresh_login_only_when_the_session_is_older() {
    let fake = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    fake.register_redirect(REDIRECT);
    fake.sign_in_as(ana().authenticated_ago(Duration::from_secs(300)));
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let session = fake.session_auth_time().expect("a session");

    let young = sign_in(&fake, &client, Ask { max_age: Some(Duration::from_secs(3600)), ..Ask::default() }).await;
    assert_eq!(young["auth_time"].as_i64(), Some(session.timestamp()), "a 5-minute session passes max_age=3600");

    fake.next_login_amr(["pwd", "otp", "mfa"]);
    let old = sign_in(&fake, &client, Ask { max_age: Some(Duration::from_secs(60)), ..Ask::default() }).await;
    let age = Utc::now().timestamp() - old["auth_time"].as_i64().expect("auth_time");
    assert!((0..30).contains(&age), "a 5-minute session fails max_age=60: fresh login {age}s ago");
    assert_eq!(old["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    let max_ages: Vec<Option<String>> =
        fake.authorize_requests().iter().map(|r| r.max_age().map(str::to_owned)).collect();
    assert_eq!(max_ages, [Some("3600".to_owned()), Some("60".to_owned())]);
}

#[tokio::test]
async fn prompt_none_is_login_required_when_a_login_would_be_needed() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    // A live session: prompt=none goes through.
    sign_in(&fake, &client, Ask { prompt_none: true, ..Ask::default() }).await;
    // max_age=0 needs a fresh login, which prompt=none forbids.
    let attempt = begin(&client, Ask { prompt_none: true, max_age: Some(Duration::ZERO), ..Ask::default() });
    let (status, location) = visit(&attempt.url).await;
    assert_eq!(status, 302);
    assert_eq!(query(&location.expect("a redirect"), "error").as_deref(), Some("login_required"));
    // No one signed in.
    fake.sign_out();
    let (_, location) = visit(&begin(&client, Ask { prompt_none: true, ..Ask::default() }).url).await;
    assert_eq!(query(&location.expect("a redirect"), "error").as_deref(), Some("login_required"));
    // Without prompt=none, the provider shows its sign-in page and redirects nowhere.
    assert_eq!(visit(&begin(&client, Ask::default()).url).await, (200, None));
}

#[tokio::test]
async fn the_token_endpoint_can_fail_once() {
    let fake = provider().await;
    let client = client(&fake, CLIENT_SECRET, REDIRECT).await;
    let attempt = begin(&client, Ask::default());
    let code = code_for(&attempt).await;
    let verifier = attempt.verifier.secret().clone();
    fake.fail_token_once();
    let failed = exchange(&client, code.clone(), PkceCodeVerifier::new(verifier.clone())).await;
    assert!(failed.is_err(), "a 500 is no token response");
    let retried = exchange(&client, code, PkceCodeVerifier::new(verifier)).await.expect("the retry succeeds");
    retried.id_token().expect("an id_token").claims(&client.id_token_verifier(), &attempt.nonce).expect("verifies");
    assert_eq!(fake.token_requests().iter().map(|t| t.status).collect::<Vec<_>>(), [500, 200]);
}
