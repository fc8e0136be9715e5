//! OpenID Connect sign-in (DESIGN 7.6) with the `openidconnect` crate: discovery, the authorization code flow
//! with PKCE (S256), `state` and `nonce`, and the id_token's checks (signature against the provider's JWKS,
//! `iss`, `aud`, `exp`, `nonce`). The person is the directory user named by the `user_claim` claim.
//!
//! Discovery happens at the first sign-in, not at start: a provider that is down must not keep signoff from
//! serving chat and the API. A failed discovery is retried at the next sign-in, and when an id_token's signature
//! does not verify, the provider's keys are read again once (providers rotate them).
//!
//! Step-up ([`StepUp`]): deciding a `step_up` node needs a sign-in within `step_up_max_age` whose `amr` holds one
//! of `step_up_amr`; when the session's is older or weaker, the person is sent to the provider again with
//! `prompt=login` and `max_age`.

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use secrecy::ExposeSecret;
use tokio::sync::RwLock;

use super::session::{Flow, Session};
use crate::config::OidcConfig;
use crate::time::Timestamp;

/// The claims a directory user can be found by.
pub const USER_CLAIMS: [&str; 3] = ["email", "sub", "preferred_username"];

/// How long the provider may take to answer.
const PROVIDER_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// The path the provider sends people back to.
pub const CALLBACK_PATH: &str = "/auth/callback";

/// What a step-up sign-in must show.
#[derive(Debug, Clone)]
pub struct StepUp {
    /// At most this old (seconds).
    pub max_age: i64,
    /// One of these `amr` values.
    pub amr: Vec<String>,
}

impl StepUp {
    /// Whether `session` may decide a `step_up` node at `now`.
    pub fn satisfied_by(&self, session: &Session, now: Timestamp) -> bool {
        session.method == "oidc"
            && now.as_second() - session.auth_time <= self.max_age
            && session.amr.iter().any(|a| self.amr.contains(a))
    }
}

/// The provider, as configured.
pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    scopes: Vec<String>,
    user_claim: String,
    redirect: RedirectUrl,
    step_up_max_age: StdDuration,
    http: openidconnect::reqwest::Client,
    /// The discovery document, once read.
    metadata: RwLock<Option<CoreProviderMetadata>>,
}

/// Why a sign-in failed. The message is for the person and the log: it never holds a token or a code.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider could not be reached: {0}")]
    Provider(String),
    /// The answer does not belong to a sign-in this browser started (wrong or missing `state`, expired flow).
    #[error("this sign-in was not started here or took too long; start again")]
    State,
    /// The provider refused (`error=` in the answer, or the token endpoint said no).
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The id_token failed a check (signature, issuer, audience, expiry, nonce).
    #[error("the identity provider's answer failed verification: {0}")]
    Token(String),
    /// The token names nobody in the directory.
    #[error("{0}")]
    Unknown(String),
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The value of the `user_claim` claim.
    pub claim: String,
    /// When they authenticated (seconds since the epoch): `auth_time`, else the token's `iat`.
    pub auth_time: i64,
    /// `amr`.
    pub amr: Vec<String>,
}

impl Oidc {
    /// The provider from `[web.oidc]`. People come back to `{public_url}/auth/callback`, or to the listener's
    /// own address when no public URL is set (a loopback setup).
    pub fn new(cfg: &OidcConfig, public_url: Option<&str>, listen: SocketAddr) -> anyhow::Result<Oidc> {
        let issuer = cfg.issuer.clone().ok_or_else(|| anyhow::anyhow!("`web.oidc.issuer` is not set"))?;
        let client_id = cfg.client_id.clone().ok_or_else(|| anyhow::anyhow!("`web.oidc.client_id` is not set"))?;
        let base = public_url.map_or_else(|| format!("http://{listen}"), |u| u.trim_end_matches('/').to_owned());
        let http = openidconnect::reqwest::ClientBuilder::new()
            // The library's advice: following redirects would let a provider's answer send us elsewhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()?;
        Ok(Oidc {
            issuer: IssuerUrl::new(issuer)?,
            client_id: ClientId::new(client_id),
            client_secret: cfg.client_secret.as_ref().map(|s| ClientSecret::new(s.expose_secret().to_owned())),
            scopes: cfg.scopes.clone(),
            user_claim: cfg.user_claim.clone(),
            redirect: RedirectUrl::new(format!("{base}{CALLBACK_PATH}"))?,
            step_up_max_age: StdDuration::from_secs(cfg.step_up_max_age.as_secs()),
            http,
            metadata: RwLock::new(None),
        })
    }

    /// The discovery document, read now if not yet (or again with `fresh`).
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, SignInError> {
        if !fresh && let Some(m) = self.metadata.read().await.as_ref() {
            return Ok(m.clone());
        }
        let m = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| SignInError::Provider(error_chain(&e)))?;
        *self.metadata.write().await = Some(m.clone());
        Ok(m)
    }

    fn client(
        &self,
        m: CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(m, self.client_id.clone(), self.client_secret.clone())
            .set_redirect_uri(self.redirect.clone())
    }

    /// Where to send the browser to sign in, and the flow to remember in its cookie. A step-up asks for a fresh
    /// login (`prompt=login`, `max_age`).
    pub async fn start(&self, return_to: String, step_up: bool, now: Timestamp) -> Result<(String, Flow), SignInError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for s in self.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        req = req.set_pkce_challenge(challenge);
        if step_up {
            req = req.add_prompt(CoreAuthPrompt::Login).set_max_age(self.step_up_max_age);
        }
        let (url, state, nonce) = req.url();
        let flow = Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            return_to,
            step_up,
            started: now.as_second(),
            csrf: String::new(),
        };
        Ok((url.to_string(), flow))
    }

    /// Completes a sign-in: checks `state` against the flow, exchanges the code (with the PKCE verifier) and
    /// verifies the id_token.
    pub async fn finish(&self, flow: &Flow, code: &str, state: &str) -> Result<SignedIn, SignInError> {
        if !super::session::constant_time_eq(flow.state.as_bytes(), state.as_bytes()) {
            return Err(SignInError::State);
        }
        {
            let client = self.client(self.metadata(false).await?);
            let response = client
                .exchange_code(AuthorizationCode::new(code.to_owned()))
                .map_err(|e| SignInError::Provider(e.to_string()))?
                .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
                .request_async(&self.http)
                .await
                .map_err(|e| match e {
                    openidconnect::RequestTokenError::ServerResponse(r) => SignInError::Refused(r.error().to_string()),
                    other => SignInError::Provider(error_chain(&other)),
                })?;
            let Some(token) = response.id_token() else {
                return Err(SignInError::Token("no id_token in the answer".to_owned()));
            };
            let verifier = client.id_token_verifier();
            let claims = match token.claims(&verifier, &Nonce::new(flow.nonce.clone())) {
                Ok(c) => c,
                // Perhaps the provider rotated its keys since discovery: read them again, once. The code is
                // spent by then, so this only helps the next sign-in; this one fails.
                Err(e @ openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                    let _ = self.metadata(true).await;
                    return Err(SignInError::Token(e.to_string()));
                }
                Err(e) => return Err(SignInError::Token(e.to_string())),
            };
            let claim = match self.user_claim.as_str() {
                "sub" => Some(claims.subject().to_string()),
                "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
                _ => claims.email().map(|e| e.to_string()),
            };
            let Some(claim) = claim.filter(|c| !c.is_empty()) else {
                return Err(SignInError::Unknown(format!(
                    "the identity provider did not send the `{}` claim that names you here",
                    self.user_claim
                )));
            };
            let auth_time = claims.auth_time().unwrap_or_else(|| claims.issue_time()).timestamp();
            let amr = claims.auth_method_refs().map(|v| v.iter().map(|a| a.to_string()).collect()).unwrap_or_default();
            Ok(SignedIn { claim, auth_time, amr })
        }
    }
}

/// An error and its causes in one line (the library's errors wrap the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
