//! The web pages (DESIGN 7.6) as a browser uses them, over HTTP: sign in (dev_login, and OpenID Connect against
//! the fake provider of tests/support/fake_oidc.rs), the inbox's Approve, Deny with reason and hand-off, the
//! request form, a request's page, one's grants; CSRF refusals, the security headers, and step-up. The decisions
//! land exactly as chat's and the API's do, with channel `web` in the trail.
//!
//! The client keeps cookies and follows no redirect by itself, so every redirect is checked. A real browser drives
//! the same pages in tests/web_browser.rs.

mod support;

use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE, X_FRAME_OPTIONS};
use reqwest::redirect::Policy;
use serde_json::json;
use support::fake_oidc::{FakeOidc, Login, Tamper};
use support::*;

/// A browser without JavaScript: cookies kept, redirects returned to the test.
struct Browser {
    base: String,
    client: reqwest::Client,
}

/// What a page answered.
struct Page {
    status: u16,
    location: Option<String>,
    headers: reqwest::header::HeaderMap,
    html: String,
}

impl Page {
    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        field_value(&self.html, "csrf").unwrap_or_else(|| panic!("no csrf field in:\n{}", self.html))
    }
}

/// The `value` of the first `<input name="NAME" value="...">` in `html`.
fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser::at(format!("http://{}", app.addr))
    }

    fn at(base: String) -> Browser {
        let client = reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap();
        Browser { base, client }
    }

    async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers.get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
        let html = resp.text().await.unwrap();
        Page { status, location, headers, html }
    }

    async fn get(&self, path: &str) -> Page {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        Browser::page(self.client.get(url).send().await.unwrap()).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Browser::page(self.client.post(format!("{}{path}", self.base)).form(form).send().await.unwrap()).await
    }

    /// Signs in with the dev list, as `user`, and lands on `return_to`.
    async fn dev_sign_in(&self, user: &str) {
        let page = self.get("/auth/login?return_to=/inbox").await;
        assert_eq!(page.status, 200, "{}", page.html);
        let signed = self.post("/auth/dev", &[("csrf", &page.csrf()), ("user", user), ("return_to", "/inbox")]).await;
        assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/inbox")), "{}", signed.html);
    }
}

fn web_app() -> AppOptions {
    AppOptions::new().config(|c| c.web.dev_login = true)
}

fn prompt_states(view: &serde_json::Value) -> Vec<(String, String)> {
    view["items"][0]["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["approver"].as_str().unwrap().to_owned(), p["state"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn the_pages_need_a_sign_in_and_carry_the_security_headers() {
    let mut app = spawn_app(web_app()).await;
    let b = Browser::new(&app);
    let page = b.get("/inbox").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/auth/login?return_to=/inbox")));
    let csp = page.headers.get(CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().to_owned();
    for part in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains('*'), "{csp}");
    assert_eq!(page.headers.get(X_FRAME_OPTIONS).unwrap(), "DENY");

    let login = b.get("/auth/login").await;
    assert_eq!(login.status, 200);
    assert!(login.html.contains("Ana Diaz") && login.html.contains("Sign in as"), "{}", login.html);
    let cookie = login.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

    // A forged sign-in form (no flow cookie, or another token) signs nobody in.
    let other = Browser::new(&app);
    let forged = other.post("/auth/dev", &[("csrf", &login.csrf()), ("user", ANA)]).await;
    assert_eq!(forged.status, 403, "{}", forged.html);
    assert_eq!(other.get("/inbox").await.status, 303);

    b.dev_sign_in(ANA).await;
    let inbox = b.get("/inbox").await;
    assert_eq!(inbox.status, 200);
    assert!(inbox.html.contains("Nothing is waiting for your decision") && inbox.html.contains("Ana Diaz"));
    // The stylesheet is ours and inline styles are not needed.
    let css = b.get("/static/signoff.css").await;
    assert_eq!(css.status, 200);
    assert!(!inbox.html.contains("style=") && !inbox.html.contains("<script"), "{}", inbox.html);

    // Signing out ends the session; the cookie no longer opens the inbox.
    let out = b.post("/auth/logout", &[("csrf", &inbox.csrf())]).await;
    assert_eq!(out.status, 303);
    assert_eq!(b.get("/inbox").await.status, 303);
    app.stop().await;
}

#[tokio::test]
async fn approve_deny_and_hand_off_from_the_inbox_as_chat_and_the_api_would() {
    for db in test_databases() {
        let mut app = spawn_app(web_app().on(&db)).await;
        let approve = app
            .create_ok(json!({"requester": ANA, "resource": "salesforce", "role": "basic_user",
            "justification": "Q3 <pipeline> review"}))
            .await;
        let deny = app.create_ok(json!({"requester": BEN, "resource": "salesforce", "role": "basic_user"})).await;
        let hand = app.create_ok(json!({"requester": ANA, "resource": "salesforce", "role": "basic_user"})).await;
        let (approve, deny, hand) =
            (approve["id"].as_str().unwrap(), deny["id"].as_str().unwrap(), hand["id"].as_str().unwrap());

        let raj = Browser::new(&app);
        raj.dev_sign_in(RAJ).await;
        let inbox = raj.get("/inbox").await;
        for id in [approve, deny, hand] {
            assert!(inbox.html.contains(&format!("/requests/{id}/decide")), "[{db}] {id} missing:\n{}", inbox.html);
        }
        // Names and reasons are escaped, never markup.
        assert!(inbox.html.contains("Q3 &#60;pipeline&#62; review"), "{}", inbox.html);
        assert!(inbox.html.contains("aria-label=\"3 waiting\""), "{}", inbox.html);
        let csrf = inbox.csrf();

        let done = raj
            .post(
                &format!("/requests/{approve}/decide"),
                &[("csrf", &csrf), ("verdict", "approve"), ("back", "/inbox")],
            )
            .await;
        assert_eq!((done.status, done.location.as_deref()), (303, Some("/inbox?done=approve")), "{}", done.html);
        let view = app.request_view(approve).await;
        assert_eq!(view["state"], "approved");
        assert_eq!(view["items"][0]["decisions"][0]["channel"], "web");

        // Deny needs a reason; with one, it is recorded.
        let no_reason = raj
            .post(&format!("/requests/{deny}/decide"), &[("csrf", &csrf), ("verdict", "deny"), ("comment", " ")])
            .await;
        assert_eq!(no_reason.status, 422, "{}", no_reason.html);
        assert_eq!(app.request_view(deny).await["state"], "requested");
        let denied = raj
            .post(
                &format!("/requests/{deny}/decide"),
                &[("csrf", &csrf), ("verdict", "deny"), ("comment", "not this quarter")],
            )
            .await;
        assert_eq!(denied.status, 303);
        let view = app.request_view(deny).await;
        assert_eq!(view["state"], "denied");
        assert_eq!(view["items"][0]["decisions"][0]["comment"], "not this quarter");

        // Hand-off: Raj's prompt closes, Vera is asked.
        let handed = raj
            .post(&format!("/requests/{hand}/decide"), &[("csrf", &csrf), ("verdict", "handoff"), ("to", VERA)])
            .await;
        assert_eq!(handed.status, 303, "{}", handed.html);
        let view = app.request_view(hand).await;
        assert_eq!(
            prompt_states(&view),
            [(RAJ.to_owned(), "answered".to_owned()), (VERA.to_owned(), "pending".to_owned())]
        );

        // A second click on a settled question is refused with a page that says so, and changes nothing.
        let again = raj
            .post(&format!("/requests/{approve}/decide"), &[("csrf", &csrf), ("verdict", "deny"), ("comment", "x")])
            .await;
        assert_eq!(again.status, 409, "{}", again.html);
        assert!(again.html.contains("already"), "{}", again.html);
        assert_eq!(app.request_view(approve).await["state"], "approved");

        // The trail names the web session.
        let rows = app.audit_rows("decision").await;
        assert!(rows.iter().any(|(_, d)| d.to_string().contains("web:dev")), "{rows:?}");
        assert!(raj.get("/inbox").await.html.contains("Nothing is waiting"));
        app.stop().await;
    }
}

#[tokio::test]
async fn a_form_without_the_session_csrf_token_changes_nothing() {
    let mut app = spawn_app(web_app()).await;
    let id = app.create_ok(json!({"requester": ANA, "resource": "salesforce", "role": "basic_user"})).await;
    let id = id["id"].as_str().unwrap();
    let raj = Browser::new(&app);
    raj.dev_sign_in(RAJ).await;
    let valid = raj.get("/inbox").await.csrf();
    // Another session's token (the attacker's own), a missing one, and a truncated one.
    let mallory = Browser::new(&app);
    mallory.dev_sign_in(BEN).await;
    let theirs = mallory.get("/inbox").await.csrf();
    for bad in [theirs.as_str(), "", &valid[..valid.len() - 1]] {
        let page = raj.post(&format!("/requests/{id}/decide"), &[("csrf", bad), ("verdict", "approve")]).await;
        assert_eq!(page.status, 403, "{bad:?}: {}", page.html);
    }
    let page = raj.post(&format!("/requests/{id}/decide"), &[("verdict", "approve")]).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert_eq!(app.request_view(id).await["state"], "requested");
    // Without a session at all, a POST goes to the sign-in page.
    let anon =
        Browser::new(&app).post(&format!("/requests/{id}/decide"), &[("csrf", &valid), ("verdict", "approve")]).await;
    assert_eq!(anon.status, 303);
    assert_eq!(app.request_view(id).await["state"], "requested");
    app.stop().await;
}

#[tokio::test]
async fn ask_through_the_form_then_see_the_request_and_release_the_grant() {
    let mut app = spawn_app(web_app()).await;
    let ana = Browser::new(&app);
    ana.dev_sign_in(ANA).await;
    let search = ana.get("/requests/new?q=sales").await;
    assert!(search.html.contains("/requests/new?resource=salesforce") && !search.html.contains("resource=wiki"));
    let form = ana.get("/requests/new?resource=salesforce").await;
    assert!(form.html.contains("<option value=\"basic_user\">"), "{}", form.html);
    let csrf = form.csrf();
    let bad = ana
        .post(
            "/requests",
            &[
                ("csrf", &csrf),
                ("resource", "salesforce"),
                ("role", "basic_user"),
                ("duration", "soon"),
                ("justification", "x"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    let sent = ana
        .post(
            "/requests",
            &[
                ("csrf", &csrf),
                ("resource", "salesforce"),
                ("role", "basic_user"),
                ("duration", "8h"),
                ("justification", "pipeline review"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.html);
    let location = sent.location.unwrap();
    let id = location.trim_start_matches("/requests/").split('?').next().unwrap().to_owned();
    let page = ana.get(&location).await;
    assert!(page.html.contains("Your request is sent") && page.html.contains("Raj Patel"), "{}", page.html);
    assert!(page.html.contains("Cancel this request"));

    // Someone not involved cannot see it.
    let sofia = Browser::new(&app);
    sofia.dev_sign_in(SOFIA).await;
    assert_eq!(sofia.get(&format!("/requests/{id}")).await.status, 404);

    app.decide_ok(&id, RAJ, "approve").await;
    let grants = ana.get("/grants").await;
    assert!(grants.html.contains(&format!("/grants/{id}-1/release")), "{}", grants.html);
    // Only the holder releases.
    let not_hers =
        sofia.post(&format!("/grants/{id}-1/release"), &[("csrf", &sofia.get("/grants").await.csrf())]).await;
    assert_eq!(not_hers.status, 404);
    let released = ana.post(&format!("/grants/{id}-1/release"), &[("csrf", &grants.csrf())]).await;
    assert_eq!((released.status, released.location.as_deref()), (303, Some("/grants?done=release")));
    let (_, grant) = app.get_grant(&format!("{id}-1")).await;
    assert_eq!(grant["active"], false);
    assert_eq!(grant["end_reason"], "released");
    app.stop().await;
}

#[tokio::test]
async fn dev_login_is_refused_on_a_listener_that_is_not_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("signoff.toml");
    std::fs::write(&config, "[server]\nlisten = \"0.0.0.0:0\"\n[web]\ndev_login = true\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("signoff.toml:4:13: `web.dev_login`") && stderr.contains("loopback"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------------------------
// OpenID Connect and step-up.

const CLIENT_ID: &str = "signoff-web";
const CLIENT_SECRET: &str = "web-client-secret-0123456789";
const SESSION_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The policy of the step-up tests: the manager decides, with a fresh second factor.
const STEP_UP: &str = "workflows:\n  SENSITIVE: { manager_expression: { step_up: true } }\n";

async fn oidc_app(idp: &FakeOidc) -> TestApp {
    let issuer = idp.issuer();
    spawn_app(AppOptions::new().policies(STEP_UP).resource("vault", "SENSITIVE").config(move |c| {
        c.web.session_key = Some(SESSION_KEY.into());
        c.web.oidc.issuer = Some(issuer.clone());
        c.web.oidc.client_id = Some(CLIENT_ID.to_owned());
        c.web.oidc.client_secret = Some(CLIENT_SECRET.into());
    }))
    .await
}

/// Follows the sign-in through the fake provider: signoff's redirect, the provider's answer, signoff's callback.
/// Returns the callback's page.
async fn oidc_sign_in(b: &Browser, idp: &FakeOidc, return_to: &str) -> Page {
    let start = b.get(&format!("/auth/login?return_to={return_to}")).await;
    assert_eq!(start.status, 303, "{}", start.html);
    let authorize = start.location.unwrap();
    assert!(authorize.starts_with(&idp.issuer()), "{authorize}");
    let answer = b.get(&authorize).await;
    assert_eq!(answer.status, 302, "{}", answer.html);
    let callback = answer.location.unwrap();
    b.get(&callback).await
}

#[tokio::test]
async fn sign_in_with_openid_connect_and_every_spoiled_answer_is_refused() {
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let mut app = oidc_app(&idp).await;
    idp.register_redirect(&format!("http://{}/auth/callback", app.addr));
    idp.sign_in_as(Login::new("00u-raj", RAJ, "Raj Patel"));

    let b = Browser::new(&app);
    let done = oidc_sign_in(&b, &idp, "/grants").await;
    assert_eq!((done.status, done.location.as_deref()), (303, Some("/grants")), "{}", done.html);
    assert_eq!(b.get("/inbox").await.status, 200);
    // What signoff asked for: PKCE with S256, a state and a nonce.
    let asked = idp.authorize_requests().last().cloned().unwrap();
    assert_eq!(asked.param("code_challenge_method"), Some("S256"));
    assert!(asked.param("state").is_some() && asked.param("nonce").is_some());

    for tamper in
        [Tamper::WrongNonce, Tamper::Expired, Tamper::WrongAudience, Tamper::WrongIssuer, Tamper::BadSignature]
    {
        let b = Browser::new(&app);
        idp.tamper_next(tamper);
        let page = oidc_sign_in(&b, &idp, "/inbox").await;
        assert_eq!(page.status, 401, "{tamper:?}: {}", page.html);
        assert_eq!(b.get("/inbox").await.status, 303, "{tamper:?} must not sign in");
    }

    // A callback whose state is not this browser's (a login CSRF) is refused before the code is used.
    let victim = Browser::new(&app);
    let attacker = Browser::new(&app);
    let start = attacker.get("/auth/login").await;
    let answer = attacker.get(&start.location.unwrap()).await;
    let page = victim.get(&answer.location.unwrap()).await;
    assert_eq!(page.status, 400, "{}", page.html);
    let page = Browser::new(&app).get("/auth/callback?code=x&state=y").await;
    assert_eq!(page.status, 400);

    // Someone the directory does not know signs in at the provider but not here.
    idp.sign_in_as(Login::new("00u-eve", "eve@elsewhere.example", "Eve"));
    let page = oidc_sign_in(&Browser::new(&app), &idp, "/inbox").await;
    assert_eq!(page.status, 403, "{}", page.html);
    app.stop().await;
}

#[tokio::test]
async fn a_step_up_step_needs_a_fresh_sign_in_with_a_second_factor() {
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let mut app = oidc_app(&idp).await;
    idp.register_redirect(&format!("http://{}/auth/callback", app.addr));
    let id = app.create_ok(json!({"requester": ANA, "resource": "vault"})).await;
    let id = id["id"].as_str().unwrap().to_owned();

    // The API cannot decide it, whatever its scopes.
    let (status, body) = app.decide(&id, RAJ, "approve").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("second factor"), "{body}");

    // Raj signed in with a password only: the page explains, and a POST does not decide.
    idp.sign_in_as(Login::new("00u-raj", RAJ, "Raj Patel"));
    let b = Browser::new(&app);
    oidc_sign_in(&b, &idp, "/inbox").await;
    let inbox = b.get("/inbox").await;
    assert!(inbox.html.contains("needs a recent sign-in with a second factor"), "{}", inbox.html);
    let page = b.get(&format!("/requests/{id}")).await;
    assert!(page.html.contains("Sign in again to decide"), "{}", page.html);
    let tried = b.post(&format!("/requests/{id}/decide"), &[("csrf", &inbox.csrf()), ("verdict", "approve")]).await;
    assert_eq!(tried.status, 303);
    assert_eq!(app.request_view(&id).await["state"], "requested");

    // Stepping up asks the provider for a fresh login; with `mfa` in `amr`, the decision goes through.
    idp.next_login_amr(["pwd", "mfa"]);
    let start = b.get(&format!("/auth/login?provider=oidc&step_up=1&return_to=/requests/{id}")).await;
    let answer = b.get(&start.location.unwrap()).await;
    let asked = idp.authorize_requests().last().cloned().unwrap();
    assert_eq!(asked.prompt(), Some("login"));
    assert_eq!(asked.max_age(), Some("600"));
    let back = b.get(&answer.location.unwrap()).await;
    assert_eq!(back.location.as_deref(), Some(format!("/requests/{id}").as_str()));
    let page = b.get(&format!("/requests/{id}")).await;
    assert!(!page.html.contains("Sign in again to decide"), "{}", page.html);
    let done = b.post(&format!("/requests/{id}/decide"), &[("csrf", &page.csrf()), ("verdict", "approve")]).await;
    assert_eq!(done.status, 303, "{}", done.html);
    let view = app.request_view(&id).await;
    assert_eq!(view["state"], "approved");
    assert_eq!(view["items"][0]["decisions"][0]["channel"], "web");
    app.stop().await;
}

#[tokio::test]
async fn with_a_public_url_every_prompt_and_notice_links_to_the_request_page() {
    use signoff::chat::memory::Call;
    let mut app = spawn_app(
        AppOptions::new()
            .policies(STEP_UP)
            .resource("vault", "SENSITIVE")
            .config(|c| c.server.public_url = Some("https://signoff.example.com".to_owned())),
    )
    .await;
    let id = app.create_ok(json!({"requester": ANA, "resource": "salesforce", "role": "basic_user"})).await;
    let id = id["id"].as_str().unwrap().to_owned();
    let vault = app.create_ok(json!({"requester": ANA, "resource": "vault"})).await;
    let vault = vault["id"].as_str().unwrap().to_owned();
    app.decide_ok(&id, RAJ, "approve").await;
    let link = |r: &str| Some(format!("https://signoff.example.com/requests/{r}"));
    app.wait_for("the prompts, the closing and the outcome notice", async |app: &TestApp| {
        let calls = app.chat().calls();
        let prompts = calls.iter().filter(|c| matches!(c, Call::Prompt(..))).count();
        let closes = calls.iter().filter(|c| matches!(c, Call::Close(..))).count();
        let notices = calls.iter().filter(|c| matches!(c, Call::Notify(..))).count();
        prompts >= 2 && closes >= 1 && notices >= 1
    })
    .await;
    for call in app.chat().calls() {
        match call {
            Call::Prompt(_, p) if p.resource == "vault" => {
                assert_eq!(p.link, link(&vault));
                assert!(p.step_up, "the vault's step is step_up: {p:?}");
            }
            Call::Prompt(_, p) => {
                assert_eq!(p.link, link(&id));
                assert!(!p.step_up);
            }
            Call::Close(_, c) => assert_eq!(c.link, link(&id)),
            Call::Notify(_, n) => assert_eq!(n.link, link(&id), "{n:?}"),
        }
    }
    app.stop().await;
}
