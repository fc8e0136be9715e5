//! Only the right person can decide (DESIGN 7.1, 7.2), tried as an attacker would: tokens used beyond their scopes
//! or for someone else, a Slack account that shares a pinned person's email, callbacks from another workspace or
//! organisation, signed callbacks replayed, requests with thousands of items. Each refusal is checked for its
//! status, for changing nothing, and for the audit row or metric it leaves.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use signoff::access::digest;
use signoff::access::{Scope, TokenSpec};
use support::fake_slack::{self, Scripted};
use support::*;

/// A token's value and its `[[api.token]]` entry.
fn token(name: &str, scopes: &[Scope], as_: Option<&str>) -> (String, TokenSpec) {
    let value = format!("test-{name}-token");
    let spec = TokenSpec {
        name: name.to_owned(),
        sha256: digest(&value),
        scopes: scopes.to_vec(),
        as_: as_.map(str::to_owned),
    };
    (value, spec)
}

/// The tokens of these tests: two personal ones, an integrator's, a reader's, a SCIM client's and a grants robot's.
struct Tokens {
    ana: String,
    kim: String,
    jira: String,
    reader: String,
    scim: String,
    grants: String,
}

fn with_tokens(opts: AppOptions) -> (AppOptions, Tokens) {
    let all = [
        token("ana-cli", &[Scope::Request, Scope::Decide, Scope::Read], Some(ANA)),
        token("kim-cli", &[Scope::Decide, Scope::Read], Some(KIM)),
        token("jira", &[Scope::RequestAny, Scope::Read], None),
        token("reader", &[Scope::Read], None),
        token("scim-bot", &[Scope::Scim], None),
        token("grants-bot", &[Scope::Grants], None),
    ];
    let tokens = Tokens {
        ana: all[0].0.clone(),
        kim: all[1].0.clone(),
        jira: all[2].0.clone(),
        reader: all[3].0.clone(),
        scim: all[4].0.clone(),
        grants: all[5].0.clone(),
    };
    let specs: Vec<TokenSpec> = all.into_iter().map(|(_, s)| s).collect();
    (opts.config(move |c| c.api.token = specs.clone()), tokens)
}

/// `method path` with `token` and an optional JSON body.
async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> Response {
    let body = body.map(|b| b.to_string());
    app.call(method, path, body.as_deref(), Some(token), None).await
}

/// The refused rows of the audit trail whose detail names this `via`.
async fn refusals_via(app: &TestApp, via: &str) -> Vec<(Option<String>, Value)> {
    app.audit_rows("refused").await.into_iter().filter(|(_, d)| d["via"] == via).collect()
}

/// Asserts a 403 with a JSON error that mentions `words`.
fn assert_forbidden(what: &str, r: &Response, words: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.text);
    let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains(words), "{what}: the error says why ({words}): {}", r.text);
}

#[tokio::test]
async fn a_personal_token_acts_only_for_its_person_and_every_refusal_is_audited_and_changes_nothing() {
    for db in test_databases() {
        // Arrange: Salesforce admin asks Kim and Max (APP_ADMIN).
        let (opts, t) = with_tokens(AppOptions::new().on(&db));
        let app = spawn_app(opts).await;

        // Ana's token asks as Raj: refused, nothing stored, audited with the token's name.
        let before = app.row_counts().await;
        let r =
            call(&app, &t.ana, "POST", "/api/v1/requests", Some(json!({ "requester": RAJ, "resource": "wiki" }))).await;
        assert_forbidden(&format!("[{db}] ana-cli as Raj"), &r, "request:any");
        let after = app.row_counts().await;
        assert_eq!((after.requests, after.items, after.outbox), (before.requests, before.items, before.outbox));
        assert_eq!(after.audit, before.audit + 1, "[{db}] exactly the refusal was written");
        let refused = refusals_via(&app, "api:ana-cli").await;
        assert_eq!(refused.len(), 1, "[{db}] {refused:?}");
        assert_eq!(refused[0].0.as_deref(), Some(ANA), "[{db}] the actor is the token's person");

        // Without a requester, Ana's token asks as Ana, and the trail names the token.
        let r =
            call(&app, &t.ana, "POST", "/api/v1/requests", Some(json!({ "resource": "salesforce", "role": "admin" })))
                .await;
        assert_eq!(r.status, 201, "[{db}] {}", r.text);
        let id = id_of(&r.json());
        assert_eq!(r.json()["requester"], ANA);
        let requested: Vec<_> = app.audit_rows("requested").await;
        assert_eq!(requested.last().unwrap().1["via"], "api:ana-cli", "[{db}] {requested:?}");

        // Kim's token decides as Max: refused, the request untouched, the refusal on the request's trail.
        let before = app.row_counts().await;
        let r = call(
            &app,
            &t.kim,
            "POST",
            &format!("/api/v1/requests/{id}/decisions"),
            Some(json!({ "approver": MAX, "verdict": "approve" })),
        )
        .await;
        assert_forbidden(&format!("[{db}] kim-cli as Max"), &r, "decide:any");
        assert_eq!(app.row_counts().await.item_events, before.item_events, "[{db}] no decision");
        let (_, trail) = app.audit(&id).await;
        let on_trail = trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "refused" && e["detail"]["via"] == "api:kim-cli");
        assert!(on_trail, "[{db}] the refusal is on the request's trail: {trail}");

        // Tokens whose scopes do not cover the route at all.
        for (what, token, method, path, body, scope) in [
            (
                "jira decides",
                &t.jira,
                "POST",
                format!("/api/v1/requests/{id}/decisions"),
                Some(json!({ "approver": KIM, "verdict": "approve" })),
                "decide",
            ),
            (
                "reader creates",
                &t.reader,
                "POST",
                "/api/v1/requests".to_owned(),
                Some(json!({ "requester": ANA, "resource": "wiki" })),
                "request",
            ),
            ("reader cancels", &t.reader, "POST", format!("/api/v1/requests/{id}/cancel"), None, "request"),
            ("the SCIM token reads requests", &t.scim, "GET", format!("/api/v1/requests/{id}"), None, "read"),
            ("the SCIM token reads the trail", &t.scim, "GET", format!("/api/v1/audit?request={id}"), None, "read"),
            (
                "the grants robot decides",
                &t.grants,
                "POST",
                format!("/api/v1/requests/{id}/decisions"),
                Some(json!({ "approver": KIM, "verdict": "deny" })),
                "decide",
            ),
            ("kim-cli releases a grant", &t.kim, "POST", format!("/api/v1/grants/{id}-1/release"), None, "grants"),
        ] {
            let before = app.row_counts().await;
            let r = call(&app, token, method, &path, body).await;
            assert_forbidden(&format!("[{db}] {what}"), &r, scope);
            let after = app.row_counts().await;
            assert_eq!(after.item_events, before.item_events, "[{db}] {what}: nothing decided");
            assert_eq!(after.audit, before.audit + 1, "[{db}] {what}: the refusal is audited");
        }
        assert_eq!(app.request_view(&id).await["state"], "requested", "[{db}] nothing was decided");

        // Ana's token cancels as Raj: refused. The reader may read.
        let r = call(&app, &t.ana, "POST", &format!("/api/v1/requests/{id}/cancel"), Some(json!({ "by": RAJ }))).await;
        assert_forbidden(&format!("[{db}] ana-cli cancels as Raj"), &r, "request:any");
        assert_eq!(call(&app, &t.reader, "GET", &format!("/api/v1/requests/{id}"), None).await.status, 200);

        // An unknown token: 401, and nothing at all is written.
        let before = app.row_counts().await;
        let r = call(
            &app,
            "not-a-token",
            "POST",
            "/api/v1/requests",
            Some(json!({ "requester": ANA, "resource": "wiki" })),
        )
        .await;
        assert_eq!(r.status, 401, "[{db}] {}", r.text);
        assert_eq!(app.row_counts().await, before, "[{db}] an unknown token writes nothing");

        // Kim's token decides as Kim (no approver named): the decision and the trail name the token.
        let r = call(
            &app,
            &t.kim,
            "POST",
            &format!("/api/v1/requests/{id}/decisions"),
            Some(json!({ "verdict": "approve" })),
        )
        .await;
        assert_eq!(r.status, 200, "[{db}] {}", r.text);
        let view = app.wait_for_state(&id, "approved").await;
        let decisions = decisions(&view);
        assert_eq!(decisions[0]["approver"], KIM, "[{db}] {view}");
        let decided = app.audit_rows("decision").await;
        assert_eq!(decided.last().unwrap().1["via"], "api:kim-cli", "[{db}] {decided:?}");

        // The grants robot releases the grant; the trail names it.
        let r = call(&app, &t.grants, "POST", &format!("/api/v1/grants/{id}-1/release"), None).await;
        assert_eq!(r.status, 200, "[{db}] {}", r.text);
        let ended = app.audit_rows("grant.end").await;
        assert_eq!(ended.last().unwrap().1["via"], "api:grants-bot", "[{db}] {ended:?}");
    }
}

#[tokio::test]
async fn an_integrator_token_asks_for_anyone_but_a_personal_token_releases_only_its_own_grants() {
    for db in test_databases() {
        let (ana_grants, ana_grants_spec) = token("ana-grants", &[Scope::Grants, Scope::Read], Some(ANA));
        let (opts, t) = with_tokens(AppOptions::new().on(&db));
        let app = spawn_app(opts.config(move |c| c.api.token.push(ana_grants_spec.clone()))).await;

        // Jira asks for Ben and for Ana (the wiki approves at once).
        let mut ids = Vec::new();
        for who in [BEN, ANA] {
            let r =
                call(&app, &t.jira, "POST", "/api/v1/requests", Some(json!({ "requester": who, "resource": "wiki" })))
                    .await;
            assert_eq!(r.status, 201, "[{db}] {}", r.text);
            assert_eq!(r.json()["state"], "approved");
            ids.push(id_of(&r.json()));
        }
        let r = call(&app, &t.jira, "POST", "/api/v1/requests", Some(json!({ "resource": "wiki" }))).await;
        assert_eq!(r.status, 422, "[{db}] a token for no one must name the requester: {}", r.text);

        // Ana's personal grants token: Ben's grant is not hers.
        let r = call(&app, &ana_grants, "POST", &format!("/api/v1/grants/{}-1/release", ids[0]), None).await;
        assert_forbidden(&format!("[{db}] Ana releases Ben's grant"), &r, "acts for ana@example.com");
        let r = call(&app, &ana_grants, "POST", &format!("/api/v1/grants/{}-1/release", ids[1]), None).await;
        assert_eq!(r.status, 200, "[{db}] {}", r.text);
        assert_eq!(r.json()["end_reason"], "released", "[{db}] {}", r.text);
    }
}

#[tokio::test]
async fn one_request_may_not_create_more_items_than_max_items() {
    for db in test_databases() {
        let app = spawn_app(AppOptions::new().on(&db).config(|c| c.api.max_items = 3)).await;
        let before = app.row_counts().await;
        let (status, body) =
            app.create_request(json!({ "requester": ANA, "resource": "wiki", "for": [ANA, BEN, KIM, MAX] })).await;
        assert_eq!(status, 422, "[{db}] {body}");
        assert!(body["error"].as_str().unwrap().contains("4 items"), "[{db}] {body}");
        // The same people named twice are one item each: three is within the limit.
        let (status, body) = app
            .create_request(json!({ "requester": ANA, "resource": "wiki", "for": [ANA, BEN, KIM, "ben@example.com"] }))
            .await;
        assert_eq!(status, 201, "[{db}] {body}");
        assert_eq!(body["items"].as_array().unwrap().len(), 3);
        assert_eq!(app.row_counts().await.requests, before.requests + 1, "[{db}] only the second request was stored");
    }
    // The default limit, against the attack seen: one call with 3,000 roles.
    let app = spawn_app(AppOptions::new()).await;
    let roles: Vec<String> = (0..3000).map(|i| format!("role-{i}")).collect();
    let before = app.row_counts().await;
    let (status, body) =
        app.create_request(json!({ "requester": ANA, "resource": "salesforce", "roles": roles })).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("at most 50"), "{body}");
    assert_eq!(app.row_counts().await, before, "nothing written");
}

// ---------------------------------------------------------------------------------------------------------
// Slack

async fn slack_app(db: &TestDb, fake: &FakeSlack, opts: AppOptions) -> TestApp {
    spawn_app(opts.on(db).slack(fake)).await
}

fn kim_only() -> String {
    format!("user_constant_expression: {{ user: {KIM} }}\n")
}

/// The request id a `/request` confirmation names (`Request <id> sent: ...`).
fn request_id_in(reply: &Value) -> String {
    let text = reply["text"].as_str().unwrap_or_default();
    text.strip_prefix("Request ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

#[tokio::test]
async fn a_slack_account_that_shares_a_pinned_persons_email_cannot_answer_for_them() {
    for db in test_databases() {
        bounded(async {
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let prompt = fake.wait_for_prompts(&[&slack_id(KIM)]).await.remove(0);
            // Another Slack account whose profile shows Kim's email; Kim is pinned to U0KIM in the directory.
            fake.add_user(KIM, "U0IMPOSTOR");

            let (r, response_url) = app.slack_click(&fake, "U0IMPOSTOR", &prompt, "approve").await;

            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            fake.wait_for(&format!("[{db}] the impostor is told privately"), |f| {
                !f.responses_to(&response_url).is_empty()
            })
            .await;
            let told = fake.responses_to(&response_url)[0].to_string();
            assert!(told.contains("not in signoff's directory"), "[{db}] {told}");
            assert_eq!(app.request_view(&id).await["state"], "requested", "[{db}] nothing was decided");
            let refused = app.audit_rows("refused").await;
            assert!(
                refused.iter().any(|(a, d)| a.as_deref() == Some("U0IMPOSTOR") && d["channel"] == "slack"),
                "[{db}] {refused:?}"
            );

            // Kim's own account still decides.
            let (r, _) = app.slack_click(&fake, &slack_id(KIM), &prompt, "approve").await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            app.wait_for_state(&id, "approved").await;
        })
        .await;
    }
}

#[tokio::test]
async fn clicks_and_commands_from_another_workspace_or_organisation_are_refused_and_write_nothing() {
    for db in test_databases() {
        bounded(async {
            let fake = FakeSlack::start().await;
            // The workspace is configured here (no auth.test), with an Enterprise Grid organisation.
            let opts = AppOptions::new().workflow("KIM_ONLY", &kim_only()).config(|c| {
                c.slack.team_id = Some(fake_slack::TEAM.to_owned());
                c.slack.enterprise_id = Some("E0ORG".to_owned());
            });
            let app = slack_app(&db, &fake, opts).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let kim = slack_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let (block_id, approve) = prompt.button("approve");
            let click = |team: &str, enterprise: Option<&str>| {
                let mut p = fake_slack::click_payload(&kim, &prompt, &block_id, &approve, &fake.response_url());
                p["team"]["id"] = json!(team);
                p["user"]["team_id"] = json!(team);
                p["enterprise"] = enterprise.map_or(Value::Null, |e| json!({ "id": e, "name": "Org" }));
                p
            };
            let before_metric =
                app.metric("signoff_callbacks_refused_total", &[("platform", "slack"), ("reason", "workspace")]).await;
            let before = app.row_counts().await;

            for (what, payload) in [
                ("another workspace", click("T0OTHER", Some("E0ORG"))),
                ("another organisation", click(fake_slack::TEAM, Some("E0OTHER"))),
                ("no organisation", click(fake_slack::TEAM, None)),
            ] {
                let r = app.slack_interaction(&payload).await;
                assert_eq!(r.status, 403, "[{db}] {what}: {}", r.text);
                assert!(r.json()["error"].as_str().unwrap().contains("workspace"), "[{db}] {what}: {}", r.text);
            }
            let mut command = fake_slack::slash_command_body(&slack_id(ANA), "wiki", &fake.response_url());
            command = command.replace(&format!("team_id={}", fake_slack::TEAM), "team_id=T0OTHER");
            let r = app.slack_post("/slack/commands", &format!("{command}&enterprise_id=E0ORG")).await;
            assert_eq!(r.status, 403, "[{db}] a command from another workspace: {}", r.text);

            assert_eq!(app.row_counts().await, before, "[{db}] refusals write nothing");
            let refused =
                app.metric("signoff_callbacks_refused_total", &[("platform", "slack"), ("reason", "workspace")]).await;
            assert!(refused - before_metric >= 4.0, "[{db}] every refusal is counted");
            assert_eq!(app.request_view(&id).await["state"], "requested");

            // From our workspace and organisation, the same click decides.
            let r = app.slack_interaction(&click(fake_slack::TEAM, Some("E0ORG"))).await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            app.wait_for_state(&id, "approved").await;
            assert!(fake.calls_to("auth.test").is_empty(), "[{db}] a configured workspace needs no auth.test");
        })
        .await;
    }
}

#[tokio::test]
async fn the_workspace_is_learnt_from_auth_test_and_callbacks_wait_for_it() {
    bounded(async {
        let fake = FakeSlack::start().await;
        fake.fail_next(2, "auth.test", Scripted::ServerError);
        let app = spawn_app(AppOptions::new().slack(&fake).workflow("KIM_ONLY", &kim_only())).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
        let prompt = fake.wait_for_prompts(&[&slack_id(KIM)]).await.remove(0);
        let before = app.row_counts().await;

        // auth.test has failed once so far (and is retried after 1 s, then 2 s): the click must wait.
        let (r, _) = app.slack_click(&fake, &slack_id(KIM), &prompt, "approve").await;
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(app.row_counts().await, before, "a refused click writes nothing");

        fake.wait_until("auth.test answers", Duration::from_secs(10), |f| {
            f.calls_to("auth.test").iter().any(|c| c.answer["ok"] == true)
        })
        .await;
        let (r, _) = app.slack_click(&fake, &slack_id(KIM), &prompt, "approve").await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.wait_for_state(&id, "approved").await;
    })
    .await;
}

#[tokio::test]
async fn a_replayed_slack_click_and_a_replayed_request_command_count_once() {
    for db in test_databases() {
        bounded(async {
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;

            // A signed `/request`, sent three times as captured: one request, and every answer names it.
            let command = fake_slack::slash_command_body(&slack_id(ANA), "kim-only", &fake.response_url());
            let ts = fake_slack::now_unix();
            let headers = [
                ("content-type", "application/x-www-form-urlencoded".to_owned()),
                ("x-slack-request-timestamp", ts.to_string()),
                ("x-slack-signature", fake_slack::sign(fake_slack::SIGNING_SECRET, ts, command.as_bytes())),
            ];
            let mut ids = Vec::new();
            for _ in 0..3 {
                let r = app.post_with_headers("/slack/commands", command.as_bytes(), &headers).await;
                assert_eq!(r.status, 200, "[{db}] {}", r.text);
                ids.push(request_id_in(&r.json()));
            }
            assert!(ids.iter().all(|i| *i == ids[0]), "[{db}] {ids:?}");
            assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 1, "[{db}] one request");
            let id = ids.remove(0);

            // A signed Approve click, sent three times as captured: one decision; the replays write nothing.
            let prompt = fake.wait_for_prompts(&[&slack_id(KIM)]).await.remove(0);
            let (block_id, approve) = prompt.button("approve");
            let click = fake_slack::form_payload(&fake_slack::click_payload(
                &slack_id(KIM),
                &prompt,
                &block_id,
                &approve,
                &fake.response_url(),
            ));
            let headers = [
                ("content-type", "application/x-www-form-urlencoded".to_owned()),
                ("x-slack-request-timestamp", ts.to_string()),
                ("x-slack-signature", fake_slack::sign(fake_slack::SIGNING_SECRET, ts, click.as_bytes())),
            ];
            let r = app.post_with_headers("/slack/interactions", click.as_bytes(), &headers).await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            app.wait_for_state(&id, "approved").await;
            app.wait_for_outbox_drained().await;
            let before = app.row_counts().await;
            let replayed_before = app.metric("signoff_callbacks_replayed_total", &[("channel", "slack")]).await;
            for _ in 0..2 {
                let r = app.post_with_headers("/slack/interactions", click.as_bytes(), &headers).await;
                assert_eq!(r.status, 200, "[{db}] a replay is acknowledged: {}", r.text);
            }
            assert_eq!(app.row_counts().await, before, "[{db}] replays write nothing, not even a refusal");
            let replayed = app.metric("signoff_callbacks_replayed_total", &[("channel", "slack")]).await;
            assert!(replayed - replayed_before >= 2.0, "[{db}] replays are counted");
            assert_eq!(decisions(&app.request_view(&id).await).len(), 1, "[{db}] one decision");
            assert_eq!(app.count("SELECT COUNT(*) FROM callbacks").await, 1, "[{db}] the click's id is remembered");

            // Once the replay window has passed, the remembered ids go.
            app.execute("UPDATE callbacks SET expires_at = 0").await;
            assert_eq!(app.runtime().purge_callbacks().await.unwrap(), 1);
            assert_eq!(app.count("SELECT COUNT(*) FROM callbacks").await, 0);
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Discord

#[tokio::test]
async fn a_replayed_discord_click_and_a_replayed_request_command_count_once() {
    use support::fake_discord;
    for db in test_databases() {
        bounded(async {
            let fake = FakeDiscord::start().await;
            let app = spawn_app(AppOptions::new().on(&db).discord(&fake).workflow("KIM_ONLY", &kim_only())).await;
            let signed = |body: &str| {
                let ts = fake_slack::now_unix().to_string();
                let sig = fake_discord::sign(&fake_discord::signing_key(), &ts, body.as_bytes());
                vec![
                    ("content-type", "application/json".to_owned()),
                    ("x-signature-timestamp", ts),
                    ("x-signature-ed25519", sig),
                ]
            };

            // `/request`, captured and sent three times: one request.
            let command = fake_discord::command(&discord_id(ANA), &[("resource", json!("kim-only"))]).to_string();
            let headers = signed(&command);
            let mut replies = Vec::new();
            for _ in 0..3 {
                let r = app.post_with_headers("/discord/interactions", command.as_bytes(), &headers).await;
                assert_eq!(r.status, 200, "[{db}] {}", r.text);
                replies.push(r.json()["data"]["content"].as_str().unwrap_or_default().replace('\\', ""));
            }
            assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 1, "[{db}] one request: {replies:?}");
            let id: String = app.store_scalar("SELECT id FROM requests").await;
            assert!(
                replies.iter().all(|r| r.contains(&id)),
                "[{db}] every answer names the first request: {replies:?}"
            );

            // An Approve click, captured and sent three times: one decision; the replays are acknowledged (type 6)
            // without changing the message, and write nothing.
            let kim = discord_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let click = fake_discord::click(&kim, &prompt, &prompt.button("Approve")).to_string();
            let headers = signed(&click);
            let r = app.post_with_headers("/discord/interactions", click.as_bytes(), &headers).await;
            assert_eq!(r.json()["type"], 7, "[{db}] {}", r.text);
            app.wait_for_state(&id, "approved").await;
            app.wait_for_outbox_drained().await;
            let before = app.row_counts().await;
            for _ in 0..2 {
                let r = app.post_with_headers("/discord/interactions", click.as_bytes(), &headers).await;
                assert_eq!(r.status, 200, "[{db}] {}", r.text);
                assert_eq!(r.json()["type"], 6, "[{db}] a replay is acknowledged and changes nothing: {}", r.text);
            }
            assert_eq!(app.row_counts().await, before, "[{db}] replays write nothing");
            assert_eq!(decisions(&app.request_view(&id).await).len(), 1, "[{db}] one decision");
        })
        .await;
    }
}

#[tokio::test]
async fn the_same_signed_click_sent_to_two_replicas_at_once_counts_once() {
    // Replicas share only the database, so the callback ids must live there (PostgreSQL; SQLite has one process).
    let Some(db) = test_databases().into_iter().find(|d| matches!(d, TestDb::Postgres { .. })) else {
        eprintln!("two-replica replay test skipped: SIGNOFF_TEST_POSTGRES_URL is not set");
        return;
    };
    bounded(async {
        let fake = FakeSlack::start().await;
        let shared = Arc::new(db.create().await);
        let opts = || AppOptions::new().database(shared.clone()).slack(&fake).workflow("KIM_ONLY", &kim_only());
        let one = spawn_app(opts()).await;
        let two = spawn_app(opts()).await;
        let id = id_of(&one.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
        let prompt = fake.wait_for_prompts(&[&slack_id(KIM)]).await.remove(0);
        let (block_id, deny) = prompt.button("deny");
        let click = fake_slack::form_payload(&fake_slack::click_payload(
            &slack_id(KIM),
            &prompt,
            &block_id,
            &deny,
            &fake.response_url(),
        ));
        let ts = fake_slack::now_unix();
        let headers = vec![
            ("content-type", "application/x-www-form-urlencoded".to_owned()),
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", fake_slack::sign(fake_slack::SIGNING_SECRET, ts, click.as_bytes())),
        ];

        // Ten copies, five to each replica, all at once.
        let mut sends = Vec::new();
        for i in 0..10 {
            let client = if i % 2 == 0 { one.client() } else { two.client() };
            let (click, headers) = (click.clone(), headers.clone());
            sends
                .push(async move { client.post_with_headers("/slack/interactions", click.as_bytes(), &headers).await });
        }
        let answers = join_all(sends).await;
        assert!(answers.iter().all(|r| r.status == 200), "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());

        one.wait_for_state(&id, "denied").await;
        assert_eq!(decisions(&one.request_view(&id).await).len(), 1, "one decision");
        assert_eq!(one.count("SELECT COUNT(*) FROM callbacks").await, 1, "one remembered id");
        let refused = one.audit_rows("refused").await;
        assert!(refused.is_empty(), "the copies were replays, not refused decisions: {refused:?}");
    })
    .await;
}
