//! signoff on Discord, end to end, as Discord drives it: the real app with its real `DiscordAdapter` talks to a
//! fake Discord REST API (`tests/support/fake_discord.rs`), and the tests POST interactions to
//! `/discord/interactions` signed with a fixed Ed25519 test key (`timestamp + body`), whose public half is the
//! app's `[discord] public_key`. The two-platform scenarios add the fake Slack. Every scenario runs on every
//! test database and is bounded in time.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake_discord::{self, FakeDiscord};
use support::fake_slack::FakeSlack;
use support::*;

fn kim_only() -> String {
    format!("user_constant_expression: {{ user: {KIM} }}\n")
}

/// A Discord-chatting app on `db` with `opts`.
async fn discord_app(db: &TestDb, fake: &FakeDiscord, opts: AppOptions) -> TestApp {
    spawn_app(opts.on(db).discord(fake)).await
}

/// Discord markdown with its escapes undone (`req\_01` reads `req_01`).
fn unescaped(text: &str) -> String {
    text.replace('\\', "")
}

/// `POST /discord/interactions` with these headers and body, as anyone could send it.
async fn post_raw(app: &TestApp, body: &str, headers: &[(&str, String)]) -> Response {
    app.post_with_headers("/discord/interactions", body.as_bytes(), headers).await
}

#[tokio::test]
async fn a_ping_gets_a_pong_and_forged_stale_or_foreign_interactions_get_401_are_counted_and_write_nothing() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeDiscord::start().await;
            let app = discord_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let kim = discord_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let click = fake_discord::click(&kim, &prompt, &prompt.button("Approve")).to_string();
            let refused_before = app.metric("signoff_callbacks_refused_total", &[("platform", "discord")]).await;

            // Act and assert: PING -> PONG, as JSON.
            let pong = app.discord_post(&fake_discord::ping()).await;
            assert_eq!(pong.status, 200, "[{db}] {}", pong.text);
            assert_eq!(pong.json(), json!({ "type": 1 }), "[{db}] {}", pong.text);
            assert!(
                pong.headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json")),
                "[{db}] {:?}",
                pong.headers
            );

            // Forged, tampered, unsigned, half-signed: 401, and the click is never parsed.
            let ts = unix_now().to_string();
            let day_ago = (unix_now() - 86_400).to_string();
            let mut other_app: Value = serde_json::from_str(&click).unwrap();
            other_app["application_id"] = json!("1999999999999999999");
            let other_app = other_app.to_string();
            let other_key = ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]);
            let json_ct = || ("content-type", "application/json".to_owned());
            let cases: Vec<ForgedCase<'_>> = vec![
                (
                    "signed with another key",
                    click.clone(),
                    vec![
                        json_ct(),
                        ("x-signature-timestamp", ts.clone()),
                        ("x-signature-ed25519", fake_discord::sign(&other_key, &ts, click.as_bytes())),
                    ],
                ),
                (
                    "body changed after signing",
                    click.replace("so:a:", "so:d:"),
                    vec![
                        json_ct(),
                        ("x-signature-timestamp", ts.clone()),
                        (
                            "x-signature-ed25519",
                            fake_discord::sign(&fake_discord::signing_key(), &ts, click.as_bytes()),
                        ),
                    ],
                ),
                (
                    "timestamp changed after signing",
                    click.clone(),
                    vec![
                        json_ct(),
                        ("x-signature-timestamp", format!("{}", ts.parse::<i64>().unwrap() + 1)),
                        (
                            "x-signature-ed25519",
                            fake_discord::sign(&fake_discord::signing_key(), &ts, click.as_bytes()),
                        ),
                    ],
                ),
                ("unsigned", click.clone(), vec![json_ct()]),
                (
                    "no timestamp",
                    click.clone(),
                    vec![
                        json_ct(),
                        (
                            "x-signature-ed25519",
                            fake_discord::sign(&fake_discord::signing_key(), &ts, click.as_bytes()),
                        ),
                    ],
                ),
                (
                    "garbage signature",
                    click.clone(),
                    vec![json_ct(), ("x-signature-timestamp", ts.clone()), ("x-signature-ed25519", "zz".repeat(64))],
                ),
                ("unsigned, and not even JSON", "{not json".to_owned(), vec![json_ct()]),
                ("an unsigned PING", fake_discord::ping().to_string(), vec![json_ct()]),
                (
                    "correctly signed 24 hours ago (a replay)",
                    click.clone(),
                    vec![
                        json_ct(),
                        ("x-signature-timestamp", day_ago.clone()),
                        (
                            "x-signature-ed25519",
                            fake_discord::sign(&fake_discord::signing_key(), &day_ago, click.as_bytes()),
                        ),
                    ],
                ),
                (
                    "correctly signed, for another application",
                    other_app.clone(),
                    vec![
                        json_ct(),
                        ("x-signature-timestamp", ts.clone()),
                        (
                            "x-signature-ed25519",
                            fake_discord::sign(&fake_discord::signing_key(), &ts, other_app.as_bytes()),
                        ),
                    ],
                ),
            ];
            let rows_before = app.row_counts().await;
            for (what, body, headers) in &cases {
                let r = post_raw(&app, body, headers).await;
                assert_eq!(r.status, 401, "[{db}] {what}: {}", r.text);
                assert!(r.json()["error"].is_string(), "[{db}] {what}: a JSON error: {}", r.text);
            }
            // Nothing written for the unauthenticated: not even an audit row.
            assert_eq!(app.row_counts().await, rows_before, "[{db}] refusals write nothing");
            let refused = app.metric("signoff_callbacks_refused_total", &[("platform", "discord")]).await;
            assert!(refused - refused_before >= cases.len() as f64, "[{db}] every refusal is counted: {refused}");
            for reason in ["signature", "timestamp", "headers", "application"] {
                let n =
                    app.metric("signoff_callbacks_refused_total", &[("platform", "discord"), ("reason", reason)]).await;
                assert!(n >= 1.0, "[{db}] refusals for `{reason}` are counted");
            }
            let view = app.request_view(&id).await;
            assert_eq!(view["state"], "requested", "[{db}] nothing was decided");
            assert!(decisions(&view).is_empty());
            assert!(fake.patches_of(&prompt).is_empty(), "[{db}] the prompt is untouched");
        })
        .await;
    }
}

/// One forged or tampered delivery: what it is, its body, its headers.
type ForgedCase<'a> = (&'a str, String, Vec<(&'a str, String)>);

/// The Unix time now, in seconds (what Discord puts in `X-Signature-Timestamp`).
fn unix_now() -> i64 {
    support::fake_slack::now_unix()
}

#[tokio::test]
async fn approving_by_button_updates_the_clicked_dm_in_the_response_and_patches_the_leftovers() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeDiscord::start().await;
            let hook = WebhookReceiver::start().await;
            let app =
                discord_app(&db, &fake, AppOptions::new().webhook(&hook).workflow("ANY_OF_THREE", &any_of_three()))
                    .await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await);
            let (kim, max, sam) = (discord_id(KIM), discord_id(MAX), discord_id(SAM));
            let prompts = fake.wait_for_prompts(&[&kim, &max, &sam]).await;

            // The prompts are DMs: POST /users/@me/channels, then POST /channels/{dm}/messages, as the bot.
            let routes = fake.routes();
            for user in [&kim, &max, &sam] {
                assert!(
                    fake.calls()
                        .iter()
                        .any(|c| c.path == "/api/v10/users/@me/channels" && c.body["recipient_id"] == user.as_str()),
                    "[{db}] a DM is opened with {user}: {routes:?}"
                );
                assert!(
                    routes.contains(&format!("POST /api/v10/channels/{}/messages", FakeDiscord::dm_of(user))),
                    "[{db}] {routes:?}"
                );
            }
            assert!(
                fake.calls().iter().all(|c| c.auth.as_deref() == Some(&format!("Bot {}", fake_discord::BOT_TOKEN)))
            );
            for p in &prompts {
                assert_eq!(p.button("Approve")["style"], 3, "[{db}] {}", p.components);
                assert_eq!(p.button("Deny")["style"], 4, "[{db}] {}", p.components);
                assert!(p.all_text().contains("Ana Diaz"), "[{db}] {}", p.all_text());
            }

            // Act: Max approves.
            let started = Instant::now();
            let answer = app.discord_post(&fake_discord::click(&max, &prompts[1], &prompts[1].button("Approve"))).await;

            // Assert: the clicked message is replaced in the response (type 7), with no components.
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            assert!(started.elapsed() < Duration::from_secs(3), "[{db}] answered within Discord's 3 seconds");
            let reply = answer.json();
            assert_eq!(reply["type"], 7, "[{db}] {reply}");
            assert_eq!(reply["data"]["components"], json!([]), "[{db}] {reply}");
            assert!(
                reply["data"]["content"].as_str().unwrap_or_default().contains("You approved this"),
                "[{db}] {reply}"
            );
            let view = app.wait_for_state(&id, "approved").await;
            assert_eq!(decisions(&view).len(), 1);
            assert_eq!(
                (decisions(&view)[0]["approver"].as_str(), decisions(&view)[0]["channel"].as_str()),
                (Some(MAX), Some("discord"))
            );
            fake.wait_for("the leftovers are PATCHed", |f| {
                [&kim, &sam].iter().all(|u| f.prompts_to(u).iter().all(|m| m.elements().is_empty()))
            })
            .await;
            for user in [&kim, &sam] {
                let m = fake.prompts_to(user).remove(0);
                let text = unescaped(&m.all_text());
                assert!(
                    text.contains("Approved by Max Field") && text.contains("no longer needed"),
                    "[{db}] {user}: {text}"
                );
                assert_eq!(fake.patches_of(&m).len(), 1, "[{db}] patched once");
                assert_eq!(fake.patches_of(&m)[0].body["components"], json!([]));
            }
            hook.wait_until("grant.created is delivered", WAIT, |d| d.iter().any(|d| d.event() == "grant.created"))
                .await;
        })
        .await;
    }
}

#[tokio::test]
async fn denying_by_button_denies_and_closes_the_prompt_in_the_response() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeDiscord::start().await;
            let hook = WebhookReceiver::start().await;
            let app = discord_app(&db, &fake, AppOptions::new().webhook(&hook).workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let kim = discord_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);

            // Act
            let answer = app.discord_post(&fake_discord::click(&kim, &prompt, &prompt.button("Deny"))).await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let reply = answer.json();
            assert_eq!(reply["type"], 7, "[{db}] {reply}");
            assert_eq!(reply["data"]["components"], json!([]), "[{db}] {reply}");
            assert!(
                reply["data"]["content"].as_str().unwrap_or_default().contains("You denied this"),
                "[{db}] {reply}"
            );
            let view = app.wait_for_state(&id, "denied").await;
            assert_eq!(decisions(&view)[0]["verdict"], "deny");
            hook.wait_until("item.denied is delivered", WAIT, |d| d.iter().any(|d| d.event() == "item.denied")).await;
            fake.wait_for("the requester is told on Discord", |f| {
                f.messages_to(&discord_id(ANA)).iter().any(|m| m.content.contains("Access denied"))
            })
            .await;
        })
        .await;
    }
}

#[tokio::test]
async fn deny_with_reason_opens_a_form_and_its_submission_denies_with_that_comment() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeDiscord::start().await;
            let app = discord_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let kim = discord_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);

            // Act 1: the button opens the form, and decides nothing.
            let opened =
                app.discord_post(&fake_discord::click(&kim, &prompt, &prompt.button("Deny with reason…"))).await;

            // Assert 1
            assert_eq!(opened.status, 200, "[{db}] {}", opened.text);
            let modal = opened.json();
            assert_eq!(modal["type"], 9, "[{db}] {modal}");
            assert_eq!(modal["data"]["custom_id"], prompt.button("Deny with reason…")["custom_id"], "[{db}] {modal}");
            assert_eq!(app.request_view(&id).await["state"], "requested", "[{db}] opening the form decides nothing");

            // Act 2: submitting it denies, with the reason.
            let reason = "Not on call this week; ask Max.";
            let submitted = app.discord_post(&fake_discord::submit(&kim, &prompt, &modal, reason)).await;

            // Assert 2: the prompt closes in the response, the decision carries the reason, the requester sees it.
            assert_eq!(submitted.status, 200, "[{db}] {}", submitted.text);
            let reply = submitted.json();
            assert_eq!(reply["type"], 7, "[{db}] {reply}");
            assert_eq!(reply["data"]["components"], json!([]), "[{db}] {reply}");
            let view = app.wait_for_state(&id, "denied").await;
            assert_eq!(decisions(&view)[0]["verdict"], "deny", "[{db}] {view}");
            assert_eq!(decisions(&view)[0]["comment"], reason, "[{db}] {view}");
            fake.wait_for("the requester is told why on Discord", |f| {
                f.messages_to(&discord_id(ANA)).iter().any(|m| m.all_text().contains("Not on call this week"))
            })
            .await;

            // A second submission of the same form is refused privately.
            let again = app.discord_post(&fake_discord::submit(&kim, &prompt, &modal, "again")).await;
            assert_eq!(again.status, 200, "[{db}] {}", again.text);
            assert_eq!(again.json()["type"], 4, "[{db}] {}", again.text);
            assert_eq!(again.json()["data"]["flags"], 64, "[{db}] {}", again.text);
            assert_eq!(decisions(&app.request_view(&id).await).len(), 1, "[{db}] one decision");
        })
        .await;
    }
}

#[tokio::test]
async fn a_click_by_someone_else_is_refused_ephemerally_and_changes_nothing() {
    for db in test_databases() {
        bounded(async {
            // Arrange: a prompt for Kim.
            let fake = FakeDiscord::start().await;
            let app = discord_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let prompt = fake.wait_for_prompts(&[&discord_id(KIM)]).await.remove(0);
            app.wait_for_outbox_drained().await;
            let before = app.row_counts().await;

            // Act: Ben clicks Approve on it; then someone signoff does not know.
            let ben =
                app.discord_post(&fake_discord::click(&discord_id(BEN), &prompt, &prompt.button("Approve"))).await;
            let stranger =
                app.discord_post(&fake_discord::click("399999999999999999", &prompt, &prompt.button("Approve"))).await;

            // Assert: an ephemeral message (type 4, flags 64) to each, nothing else.
            for (who, r) in [("Ben", &ben), ("a stranger", &stranger)] {
                assert_eq!(r.status, 200, "[{db}] {who}: {}", r.text);
                let reply = r.json();
                assert_eq!(reply["type"], 4, "[{db}] {who}: {reply}");
                assert_eq!(reply["data"]["flags"], 64, "[{db}] {who}: {reply}");
            }
            let text = unescaped(ben.json()["data"]["content"].as_str().unwrap_or_default());
            assert!(text.contains("Kim Lee") && text.contains("not for you"), "[{db}] {text}");
            let text = unescaped(stranger.json()["data"]["content"].as_str().unwrap_or_default());
            assert!(text.contains("not in signoff's directory"), "[{db}] {text}");
            let view = app.request_view(&id).await;
            assert_eq!(view["state"], "requested");
            assert!(decisions(&view).is_empty());
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(fake.patches_of(&prompt).is_empty(), "[{db}] the prompt is untouched");
            let after = app.row_counts().await;
            assert_eq!(
                (after.items, after.prompts, after.outbox, after.item_events),
                (before.items, before.prompts, before.outbox, before.item_events)
            );
            let refused = app.audit_rows("refused").await;
            assert!(
                refused.iter().any(|(a, d)| a.as_deref() == Some(BEN) && d["channel"] == "discord"),
                "[{db}] {refused:?}"
            );
            assert!(
                refused.iter().any(|(a, d)| a.as_deref() == Some("399999999999999999") && d["channel"] == "discord"),
                "[{db}] {refused:?}"
            );
        })
        .await;
    }
}

#[tokio::test]
async fn duplicate_clicks_make_one_decision_and_the_others_are_told_it_is_settled() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeDiscord::start().await;
            let hook = WebhookReceiver::start().await;
            let app = discord_app(&db, &fake, AppOptions::new().webhook(&hook).workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let kim = discord_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);

            // Act: ten clicks at once.
            let clicks: Vec<_> = (0..10)
                .map(|_| {
                    let client = app.client();
                    let body = fake_discord::click(&kim, &prompt, &prompt.button("Approve"));
                    async move { client.discord_post(&body).await }
                })
                .collect();
            let answers = join_all(clicks).await;

            // Assert
            let types: Vec<u64> = answers.iter().map(|a| a.json()["type"].as_u64().unwrap_or(0)).collect();
            assert_eq!(types.iter().filter(|t| **t == 7).count(), 1, "[{db}] one click closes the prompt: {types:?}");
            assert_eq!(types.iter().filter(|t| **t == 4).count(), 9, "[{db}] the rest are told privately: {types:?}");
            for a in answers.iter().filter(|a| a.json()["type"] == 4) {
                assert_eq!(a.json()["data"]["flags"], 64);
                assert!(
                    a.json()["data"]["content"].as_str().unwrap_or_default().contains("Already settled"),
                    "[{db}] {}",
                    a.text
                );
            }
            let view = app.wait_for_state(&id, "approved").await;
            assert_eq!(decisions(&view).len(), 1, "[{db}] {view}");
            hook.wait_until("grant.created is delivered", WAIT, |d| d.iter().any(|d| d.event() == "grant.created"))
                .await;
            app.wait_for_outbox_drained().await;
            let ids: BTreeSet<String> = hook.deliveries_of("grant.created").iter().map(|d| d.id.clone()).collect();
            assert_eq!(ids.len(), 1, "[{db}] {ids:?}");
        })
        .await;
    }
}

#[tokio::test]
async fn a_person_on_both_platforms_is_asked_on_both_and_an_answer_on_discord_closes_the_slack_copy() {
    for db in test_databases() {
        bounded(async {
            // Arrange: everyone has a slack_id and a discord_id; both platforms are configured.
            let (slack, discord) = (FakeSlack::start().await, FakeDiscord::start().await);
            let app =
                spawn_app(AppOptions::new().on(&db).slack(&slack).discord(&discord).workflow("KIM_ONLY", &kim_only()))
                    .await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let on_slack = slack.wait_for_prompts(&[&slack_id(KIM)]).await.remove(0);
            let on_discord = discord.wait_for_prompts(&[&discord_id(KIM)]).await.remove(0);

            // Act: Kim approves on Discord.
            let answer = app
                .discord_post(&fake_discord::click(&discord_id(KIM), &on_discord, &on_discord.button("Approve")))
                .await;

            // Assert: the Slack copy is updated too.
            assert_eq!(answer.json()["type"], 7, "[{db}] {}", answer.text);
            app.wait_for_state(&id, "approved").await;
            let closed = slack.wait_for_closed(&slack_id(KIM)).await;
            assert_eq!(closed.ts, on_slack.ts);
            assert!(closed.all_text().contains("You approved this"), "[{db}] {}", closed.all_text());
            // Ana is told on both platforms.
            slack
                .wait_for("Ana is told on Slack", |f| {
                    f.notifications_to(&slack_id(ANA)).iter().any(|n| n.contains("Access approved"))
                })
                .await;
            discord
                .wait_for("Ana is told on Discord", |f| {
                    f.messages_to(&discord_id(ANA)).iter().any(|m| m.content.contains("Access approved"))
                })
                .await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_person_on_both_platforms_answering_on_slack_gets_the_discord_copy_patched() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let (slack, discord) = (FakeSlack::start().await, FakeDiscord::start().await);
            let app =
                spawn_app(AppOptions::new().on(&db).slack(&slack).discord(&discord).workflow("KIM_ONLY", &kim_only()))
                    .await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let on_slack = slack.wait_for_prompts(&[&slack_id(KIM)]).await.remove(0);
            let on_discord = discord.wait_for_prompts(&[&discord_id(KIM)]).await.remove(0);

            // Act: Kim denies on Slack.
            let (answer, _) = app.slack_click(&slack, &slack_id(KIM), &on_slack, "deny").await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            app.wait_for_state(&id, "denied").await;
            discord.wait_for("the Discord copy is PATCHed", |f| !f.patches_of(&on_discord).is_empty()).await;
            let patched = discord.prompts_to(&discord_id(KIM)).remove(0);
            assert!(patched.elements().is_empty(), "[{db}] no buttons left: {}", patched.components);
            assert!(unescaped(&patched.all_text()).contains("You denied this"), "[{db}] {}", patched.all_text());
            slack.wait_for_closed(&slack_id(KIM)).await;
        })
        .await;
    }
}

#[tokio::test]
async fn the_request_command_creates_a_request_and_autocomplete_suggests_resources() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeDiscord::start().await;
            let app = discord_app(&db, &fake, AppOptions::new()).await;
            let ana = discord_id(ANA);

            // Act and assert 1: autocomplete of the resource option.
            let r = app.discord_post(&fake_discord::autocomplete(&ana, "sales")).await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            let choices = r.json();
            assert_eq!(choices["type"], 8, "[{db}] {choices}");
            assert_eq!(
                choices["data"]["choices"][0],
                json!({ "name": "Salesforce", "value": "salesforce" }),
                "[{db}] {choices}"
            );
            let r = app.discord_post(&fake_discord::autocomplete(&ana, "")).await;
            let all = r.json()["data"]["choices"].as_array().cloned().unwrap_or_default();
            assert!(all.len() >= 2 && all.len() <= 25, "[{db}] {all:?}");

            // 2: /request salesforce admin for 8h, with a reason.
            let r = app
                .discord_post(&fake_discord::command(
                    &ana,
                    &[
                        ("resource", json!("salesforce")),
                        ("role", json!("admin")),
                        ("duration", json!("8h")),
                        ("reason", json!("because audit")),
                    ],
                ))
                .await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            let reply = r.json();
            assert_eq!(
                (reply["type"].as_u64(), reply["data"]["flags"].as_u64()),
                (Some(4), Some(64)),
                "[{db}] {reply}"
            );
            let text = unescaped(reply["data"]["content"].as_str().unwrap_or_default());
            let id = text
                .strip_prefix("Request ")
                .and_then(|t| t.split_whitespace().next())
                .unwrap_or_else(|| panic!("[{db}] {text}"));
            assert!(text.contains("Kim Lee") && text.contains("Max Field"), "[{db}] who is asked: {text}");
            let view = app.request_view(id).await;
            assert_eq!(
                (item(&view)["resource"].as_str(), item(&view)["role"].as_str()),
                (Some("salesforce"), Some("admin"))
            );
            fake.wait_for_prompts(&[&discord_id(KIM), &discord_id(MAX)]).await;

            // 3: for someone else (a USER option).
            let r = app
                .discord_post(&fake_discord::command(
                    &ana,
                    &[("resource", json!("salesforce")), ("for", json!(discord_id(BEN)))],
                ))
                .await;
            let text = unescaped(r.json()["data"]["content"].as_str().unwrap_or_default());
            let id = text
                .strip_prefix("Request ")
                .and_then(|t| t.split_whitespace().next())
                .unwrap_or_else(|| panic!("[{db}] {text}"));
            let view = app.request_view(id).await;
            assert_eq!(item(&view)["for"], BEN, "[{db}] {view}");
            assert_eq!(prompt_approvers(&view, "pending"), [RAJ]);

            // 4: an unknown resource: told so privately, with what can be requested, closest first.
            let r = app.discord_post(&fake_discord::command(&ana, &[("resource", json!("salesforse"))])).await;
            let reply = r.json();
            assert_eq!(reply["data"]["flags"], 64, "[{db}] {reply}");
            let text = unescaped(reply["data"]["content"].as_str().unwrap_or_default());
            assert!(text.contains("salesforse") && text.contains("salesforce"), "[{db}] {text}");
            assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 2);
        })
        .await;
    }
}

#[tokio::test]
async fn a_429_on_creating_a_message_delivers_the_prompt_after_retry_after_exactly_once() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Discord refuses the first message with a 429 (retry_after 1 s).
            let fake = FakeDiscord::start().await;
            fake.rate_limit_next(1, "/messages", 1.0);
            let app = discord_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;

            // Act
            app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await;

            // Assert
            let kim = discord_id(KIM);
            fake.wait_for_prompts(&[&kim]).await;
            app.wait_for_outbox_drained().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let posts: Vec<u16> =
                fake.calls().iter().filter(|c| c.path.ends_with("/messages")).map(|c| c.status).collect();
            assert_eq!(posts, [429, 200], "[{db}] one refused, one delivered");
            assert_eq!(fake.prompts_to(&kim).len(), 1, "[{db}] exactly once");
        })
        .await;
    }
}

#[tokio::test]
async fn register_commands_puts_the_manifest_definitions_in_the_guild_and_prints_them() {
    bounded(async {
        // Arrange: a config whose [discord] api_url is the fake.
        let fake = FakeDiscord::start().await;
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("signoff.db").display());
        let extra = format!(
            "[discord]\napplication_id = \"{}\"\nbot_token = \"{}\"\npublic_key = \"{}\"\napi_url = \"{}\"\n",
            fake_discord::APPLICATION_ID,
            fake_discord::BOT_TOKEN,
            hex::encode(fake_discord::public_key()),
            fake.api_url()
        );
        let config = write_config(dir.path(), &db, &extra);
        let mut cmd = signoff_command(dir.path());
        cmd.args(["discord", "register-commands", "--config"]).arg(&config).args(["--guild", "290926798626357999"]);

        // Act: the built binary, on a blocking thread while the fake serves.
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("running signoff")).await.unwrap();

        // Assert
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
        let puts: Vec<_> = fake.calls().into_iter().filter(|c| c.method == "PUT").collect();
        assert_eq!(puts.len(), 1, "{:?}", fake.routes());
        assert_eq!(
            puts[0].path,
            format!("/api/v10/applications/{}/guilds/290926798626357999/commands", fake_discord::APPLICATION_ID)
        );
        assert_eq!(puts[0].auth.as_deref(), Some(&*format!("Bot {}", fake_discord::BOT_TOKEN)));
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}/manifests/discord-commands.json", env!("CARGO_MANIFEST_DIR")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(puts[0].body, manifest, "the manifest's definitions, as they are");
        assert!(stdout.contains("/request") && stdout.contains("290926798626357999"), "{stdout}");
    })
    .await;
}

#[tokio::test]
async fn an_approver_may_approve_for_less_time_with_a_shorter_duration_button() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Ana asks for 8h; Kim's prompt offers shorter approvals.
            let fake = FakeDiscord::start().await;
            let app = discord_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only", "duration": "8h" })).await);
            let kim = discord_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);

            // Act
            let answer = app.discord_post(&fake_discord::click(&kim, &prompt, &prompt.button("Approve for 4h"))).await;

            // Assert
            assert_eq!(answer.json()["type"], 7, "[{db}] {}", answer.text);
            assert!(
                answer.json()["data"]["content"].as_str().unwrap_or_default().contains("You approved this for 4h"),
                "[{db}] {}",
                answer.text
            );
            let view = app.wait_for_state(&id, "approved").await;
            let grant = &item(&view)["grant"];
            let granted: jiff::Timestamp = grant["granted_at"].as_str().unwrap().parse().unwrap();
            let expires: jiff::Timestamp =
                grant["expires_at"].as_str().unwrap_or_else(|| panic!("[{db}] {view}")).parse().unwrap();
            assert_eq!(expires.duration_since(granted).as_secs(), 4 * 3600, "[{db}] {grant}");
        })
        .await;
    }
}

#[tokio::test]
async fn an_approver_hands_the_decision_to_someone_else_with_the_user_select() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeDiscord::start().await;
            let app = discord_app(&db, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let (kim, max) = (discord_id(KIM), discord_id(MAX));
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let select = prompt
                .elements()
                .into_iter()
                .find(|c| c["type"] == 5)
                .unwrap_or_else(|| panic!("[{db}] {}", prompt.components));

            // Act
            let answer = app.discord_post(&fake_discord::pick(&kim, &prompt, &select, &max)).await;

            // Assert
            assert_eq!(answer.json()["type"], 7, "[{db}] {}", answer.text);
            assert!(
                unescaped(answer.json()["data"]["content"].as_str().unwrap_or_default())
                    .contains("You handed this to Max Field"),
                "[{db}] {}",
                answer.text
            );
            let max_prompt = fake.wait_for_prompts(&[&max]).await.remove(0);
            assert_eq!(app.request_view(&id).await["state"], "escalated");
            let answer = app.discord_post(&fake_discord::click(&max, &max_prompt, &max_prompt.button("Approve"))).await;
            assert_eq!(answer.json()["type"], 7, "[{db}] {}", answer.text);
            app.wait_for_state(&id, "approved").await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_timeout_escalates_the_silent_approvers_dm_and_asks_the_manager_on_discord() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Kim has one second.
            let fake = FakeDiscord::start().await;
            let app = discord_app(
                &db,
                &fake,
                AppOptions::new()
                    .workflow("KIM_FAST", &format!("user_constant_expression: {{ user: {KIM}, timeout: 1s }}\n")),
            )
            .await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-fast" })).await);
            let (kim, vera) = (discord_id(KIM), discord_id(VERA));
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);

            // Act: nobody answers.
            fake.wait_for("Kim's prompt is PATCHed", |f| !f.patches_of(&prompt).is_empty()).await;

            // Assert
            let text = unescaped(&fake.prompts_to(&kim)[0].all_text());
            assert!(text.contains("Escalated to Vera Stone after 1s without an answer"), "[{db}] {text}");
            fake.wait_for_prompts(&[&vera]).await;
            assert_eq!(app.request_view(&id).await["state"], "escalated");
        })
        .await;
    }
}

/// Discord creates the prompt but answers after signoff's timeout (DESIGN 7.4): the retry finds the message it
/// left (by the token in its buttons) instead of creating another, the click closes the one copy there is, and the
/// outcome notice, also answered late, is sent again with the same nonce and arrives once (`enforce_nonce`).
#[tokio::test]
async fn a_prompt_discord_created_but_answered_late_is_found_not_sent_twice_and_closes() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        // The prompt's create and then the outcome notice's: both answered after signoff gave up on them.
        fake.answer_creates_late(2, Duration::from_secs(8));
        let app = discord_app(&TestDb::Sqlite, &fake, AppOptions::new().workflow("KIM_ONLY", &kim_only())).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
        let kim = discord_id(KIM);
        let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);

        // The send timed out, was retried, and found the message instead of creating a second one.
        app.wait_until("the prompt's send is recorded", Duration::from_secs(30), async |app| {
            app.count("SELECT COUNT(*) FROM prompt_messages").await == 1
        })
        .await;
        let recorded: String = app.store_scalar("SELECT message FROM prompt_messages").await;
        assert_eq!(recorded, prompt.id, "the message Discord created is the one recorded");
        assert_eq!(fake.prompts_to(&kim).len(), 1, "one prompt on Discord");
        let lists = fake.routes().iter().filter(|r| r.starts_with("GET ") && r.ends_with("/messages")).count();
        assert!(lists >= 1, "the DM was read back before sending again: {:?}", fake.routes());

        let r = app.discord_post(&fake_discord::click(&kim, &prompt, &prompt.button("Approve"))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.wait_for_state(&id, "approved").await;
        app.wait_until("the outbox drains", Duration::from_secs(40), async |app| {
            app.count("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL").await == 0
        })
        .await;
        let prompts = fake.prompts_to(&kim);
        assert_eq!(prompts.len(), 1, "still one prompt");
        assert!(prompts[0].elements().is_empty(), "no button left: {:#}", prompts[0].components);
        let ana = discord_id(ANA);
        assert_eq!(fake.messages_to(&ana).len(), 1, "one outcome notice for Ana: {:?}", fake.messages_to(&ana));
    })
    .await;
}
