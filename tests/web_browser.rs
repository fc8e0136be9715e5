//! The web pages in a real browser: Debian's Chromium, headless, driven through chromedriver (WebDriver) with
//! fantoccini. A person signs in, asks through the form, hands off, approves and denies with a reason from the
//! inbox, sees the approval path; a tampered form is refused; OpenID Connect sign-in against the fake provider,
//! a spoiled answer refused, and step-up with and without `mfa`. The pages need no JavaScript, so what the
//! browser does here is what any browser does.
//!
//! Screenshots of the inbox, the request form and a request page are taken on every run and replace the ones in
//! `docs/` (shown in the README) with `SIGNOFF_REGENERATE=1 cargo test --test web_browser`.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them); without them the tests say they skipped.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::fake_oidc::{FakeOidc, Login, Tamper};
use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium session; the driver process dies with it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    base: String,
}

impl Browser {
    /// A browser on `app`, or `None` (and a line saying so) when Chromium is not installed.
    async fn start(base: String) -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // As root in a container, without a GPU, and without the background traffic a closed network refuses.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1200,1000",
                    format!("--user-data-dir={}", profile.path().display())],
            }
        });
        let caps: serde_json::Map<String, serde_json::Value> = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let http = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(http).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => {
                    return Some(Browser { client, driver, _profile: profile, base });
                }
                Err(e) => {
                    last = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("could not start a Chromium session: {last:?}");
    }

    async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn text(&self) -> String {
        self.client.find(Locator::Css("main")).await.unwrap().text().await.unwrap()
    }

    /// Whether the browser holds a cookie of this name for the app.
    async fn has_cookie(&self, name: &str) -> bool {
        self.client.get_named_cookie(name).await.is_ok()
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Clicks what `css` finds, and waits for the page it leads to (every button and link here navigates): a
    /// click may return before the next page has replaced this one.
    async fn click(&self, css: &str) {
        self.mark_page().await;
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
        self.wait_for_new_page().await;
    }

    /// Marks the page shown now, so that [`Browser::wait_for_new_page`] can tell when another replaced it (even
    /// one at the same URL, as after a sign-in that comes back where it started). WebDriver's scripts run whatever
    /// the page's Content-Security-Policy says; the pages themselves have none.
    async fn mark_page(&self) {
        self.client.execute("window.__signoff_old_page = true", vec![]).await.unwrap();
    }

    async fn wait_for_new_page(&self) {
        for _ in 0..400 {
            let state = self
                .client
                .execute("return [window.__signoff_old_page === true, document.readyState]", vec![])
                .await
                .ok();
            if let Some(v) = state
                && v[0] == false
                && v[1] == "complete"
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no new page within 10 s (at {})", self.client.current_url().await.unwrap());
    }

    async fn type_in(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    /// Signs in through the dev list, by clicking the person's button.
    async fn dev_sign_in(&self, user: &str, return_to: &str) {
        self.open(&format!("/auth/login?return_to={return_to}")).await;
        self.click(&format!("button[value=\"{user}\"]")).await;
    }

    async fn sign_out(&self) {
        self.click("form.signout button").await;
    }

    /// Takes a screenshot; with `SIGNOFF_REGENERATE=1` it replaces `docs/<name>` (the README's pictures), so a
    /// plain `cargo test` leaves the working tree as it was.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1_000, "{name}: not a picture of a page");
        if std::env::var_os("SIGNOFF_REGENERATE").is_some() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, png).unwrap();
        }
    }

    async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The request of the screenshots: a 3-step chain whose second step is 2 of the 3 IT Security members, the
/// first step handed off (an escalation), the third still waiting with a due time.
const CHAIN: &str = "workflows:\n  THREE_STEPS:\n    sequential_expression:\n      expressions:\n\
                     \x20       - manager_expression: {}\n\
                     \x20       - parallel_group_expression: { group: it-security, number_required: 2, role: MEMBER }\n\
                     \x20       - user_constant_expression: { user: cleo@example.com, timeout: 48h }\n";

#[tokio::test]
async fn ask_hand_off_approve_and_deny_in_a_browser() {
    let mut app = spawn_app(
        AppOptions::new().policies(CHAIN).resource("vault", "THREE_STEPS").config(|c| c.web.dev_login = true),
    )
    .await;
    let Some(b) = Browser::start(format!("http://{}", app.addr)).await else { return };

    // Ana asks through the form: search, pick, say why.
    b.dev_sign_in(ANA, "/requests/new").await;
    assert_eq!(b.path().await, "/requests/new");
    b.type_in("#q", "vau").await;
    b.click("form.search button").await;
    b.click("a[href=\"/requests/new?resource=vault\"]").await;
    b.type_in("#duration", "8h").await;
    b.type_in("#justification", "Rotate the production database credentials").await;
    b.screenshot("web-request-form.png").await;
    b.click("form.stack button.primary").await;
    let path = b.path().await;
    assert!(path.starts_with("/requests/req_") && path.ends_with("?done=created"), "{path}");
    let id = path.trim_start_matches("/requests/").split('?').next().unwrap().to_owned();
    assert!(b.text().await.contains("Your request is sent"));

    // A second request, which Raj will deny with a reason.
    let other = app
        .create_ok(json!({"requester": BEN, "resource": "salesforce", "role": "basic_user",
        "justification": "one-off export"}))
        .await;
    let other = other["id"].as_str().unwrap().to_owned();

    // Raj hands the first off to Vera (the escalation in the picture) and denies the second.
    b.sign_out().await;
    b.dev_sign_in(RAJ, "/inbox").await;
    let inbox = b.text().await;
    assert!(
        inbox.contains("Rotate the production database credentials") && inbox.contains("one-off export"),
        "{inbox}"
    );
    b.screenshot("web-inbox.png").await;
    b.type_in(&format!("#deny-{other}"), "exports go through the data team").await;
    b.click(&format!("#r-{other} button[value=\"deny\"]")).await;
    assert_eq!(b.path().await, "/inbox?done=deny");
    b.type_in(&format!("#to-{id}"), VERA).await;
    b.click(&format!("#r-{id} button[value=\"handoff\"]")).await;
    assert!(b.text().await.contains("Nothing is waiting"));
    let view = app.request_view(&other).await;
    assert_eq!(view["state"], "denied");
    assert_eq!(view["items"][0]["decisions"][0]["comment"], "exports go through the data team");

    // A form whose CSRF token was tampered with is refused and changes nothing.
    b.sign_out().await;
    b.dev_sign_in(VERA, "/inbox").await;
    let form = b.client.form(Locator::Css(&format!("#r-{id} form"))).await.unwrap();
    form.set_by_name("csrf", "forged").await.unwrap();
    b.mark_page().await;
    form.submit_with(Locator::Css("button[value=\"approve\"]")).await.unwrap();
    b.wait_for_new_page().await;
    assert!(b.text().await.contains("403"), "{}", b.text().await);
    // Handed off and still waiting: `escalated`, and Vera's prompt is still pending.
    assert_eq!(app.request_view(&id).await["state"], "escalated");
    assert!(app.request_view(&id).await["items"][0]["prompts"].to_string().contains("\"pending\""));

    // Vera approves from the inbox; two of the three IT Security members approve (the third is dismissed).
    b.open("/inbox").await;
    b.click(&format!("#r-{id} button[value=\"approve\"]")).await;
    assert_eq!(b.path().await, "/inbox?done=approve");
    app.decide_ok(&id, SAM, "approve").await;
    app.decide_ok(&id, LEE, "approve").await;

    // Ana's page shows the whole path.
    b.sign_out().await;
    b.dev_sign_in(ANA, &format!("/requests/{id}")).await;
    let page = b.client.source().await.unwrap();
    for who in ["Raj Patel", "Vera Stone", "Sam Reed", "Lee Wong", "Kim Lee", "Cleo Park"] {
        assert!(page.contains(who), "{who} missing from the request page:\n{page}");
    }
    // The whole picture in one screenshot: a window as tall as the page.
    b.client.set_window_size(1200, 1250).await.unwrap();
    b.screenshot("web-request.png").await;
    b.close().await;
    app.stop().await;
}

const CLIENT_ID: &str = "signoff-web";
const CLIENT_SECRET: &str = "web-client-secret-0123456789";

#[tokio::test]
async fn openid_connect_sign_in_and_step_up_in_a_browser() {
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let issuer = idp.issuer();
    let mut app = spawn_app(
        AppOptions::new()
            .policies("workflows:\n  SENSITIVE: { manager_expression: { step_up: true } }\n")
            .resource("vault", "SENSITIVE")
            .config(move |c| {
                c.web.session_key = Some("11".repeat(32).into());
                c.web.oidc.issuer = Some(issuer.clone());
                c.web.oidc.client_id = Some(CLIENT_ID.to_owned());
                c.web.oidc.client_secret = Some(CLIENT_SECRET.into());
            }),
    )
    .await;
    idp.register_redirect(&format!("http://{}/auth/callback", app.addr));
    let Some(b) = Browser::start(format!("http://{}", app.addr)).await else { return };
    let id = app.create_ok(json!({"requester": ANA, "resource": "vault", "justification": "audit"})).await;
    let id = id["id"].as_str().unwrap().to_owned();

    // A spoiled id_token (wrong nonce, or expired) signs nobody in.
    idp.sign_in_as(Login::new("00u-raj", RAJ, "Raj Patel"));
    for tamper in [Tamper::WrongNonce, Tamper::Expired] {
        idp.tamper_next(tamper);
        b.open(&format!("/requests/{id}")).await;
        assert!(b.text().await.contains("failed verification"), "{tamper:?}: {}", b.text().await);
        assert!(b.path().await.starts_with("/auth/callback?"), "{tamper:?}: {}", b.path().await);
        assert!(!b.has_cookie("signoff_session").await, "{tamper:?} must not sign in");
    }
    // An answer with a state this browser never sent (a login CSRF) is refused before its code is used.
    let tokens_before = idp.token_requests().len();
    b.open("/auth/callback?code=stolen&state=forged").await;
    assert!(b.text().await.contains("not started here"), "{}", b.text().await);
    assert_eq!(idp.token_requests().len(), tokens_before, "the code must not reach the provider");
    assert_eq!(app.request_view(&id).await["state"], "requested");

    // A password-only sign-in sees the request but is asked to sign in again to decide it.
    b.open(&format!("/requests/{id}")).await;
    assert_eq!(b.path().await, format!("/requests/{id}"));
    assert!(b.text().await.contains("Sign in again to decide"), "{}", b.text().await);
    assert!(b.has_cookie("signoff_session").await, "signed in now");

    // With a second factor, the fresh sign-in decides.
    idp.next_login_amr(["pwd", "mfa"]);
    b.click("a.button.primary").await;
    assert_eq!(b.path().await, format!("/requests/{id}"));
    assert_eq!(idp.authorize_requests().last().unwrap().prompt(), Some("login"));
    b.click("button[value=\"approve\"]").await;
    assert!(b.text().await.contains("You approved it"), "{}", b.text().await);
    assert_eq!(app.request_view(&id).await["state"], "approved");
    b.close().await;
    app.stop().await;
}
