//! signoff on Slack, end to end, as Slack drives it: the real app with its real `SlackAdapter` talks to a fake
//! Slack Web API (`tests/support/fake_slack.rs`), and the tests call `POST /slack/interactions` and
//! `POST /slack/commands` with bodies shaped like Slack's (`/work/shared/protocol/slack_*`), signed as Slack
//! signs them (`v0:{ts}:{body}`, HMAC-SHA256 with the signing secret). Every scenario runs on every test
//! database and is bounded in time.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;

use support::fake_slack::{self, FakeSlack, Scripted};
use support::*;

/// One forged, stale or tampered delivery: what it is, the route, its body, its headers.
type ForgedCase<'a> = (&'a str, &'a str, String, Vec<(&'a str, String)>);

fn manager_then_kim() -> String {
    format!(
        "sequential_expression:\n  expressions:\n    - manager_expression: {{}}\n    \
         - user_constant_expression: {{ user: {KIM} }}\n"
    )
}

/// A Slack-chatting app on `db` with `opts`.
async fn slack_app(db: &TestDb, fake: &FakeSlack, opts: AppOptions) -> TestApp {
    spawn_app(opts.on(db).slack(fake)).await
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
async fn one_of_three_approves_on_slack_and_the_two_leftover_prompts_are_closed() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeSlack::start().await;
            let hook = WebhookReceiver::start().await;
            let app =
                slack_app(&db, &fake, AppOptions::new().webhook(&hook).workflow("ANY_OF_THREE", &any_of_three())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await);
            let (kim, max, sam) = (slack_id(KIM), slack_id(MAX), slack_id(SAM));
            let prompts = fake.wait_for_prompts(&[&kim, &max, &sam]).await;

            // The prompts are DMs: conversations.open, then chat.postMessage in that channel, with our bot token.
            for user in [&kim, &max, &sam] {
                assert!(
                    fake.calls_to("conversations.open")
                        .iter()
                        .any(|c| c.params["users"] == json!([user]) || c.params["users"] == user.as_str()),
                    "[{db}] a DM is opened with {user}"
                );
            }
            assert!(
                fake.calls().iter().all(|c| c.auth.as_deref() == Some(&format!("Bearer {}", fake_slack::BOT_TOKEN)))
            );
            for p in &prompts {
                let (_, approve) = p.button("approve");
                assert_eq!(approve["style"], "primary", "[{db}] {approve}");
                let (_, deny) = p.button("deny");
                assert_eq!(deny["style"], "danger", "[{db}] {deny}");
                assert!(p.elements().iter().any(|(_, e)| e["type"] == "users_select"), "[{db}] an escalate picker");
                assert!(p.all_text().contains("Ana Diaz"), "[{db}] says who asks: {}", p.all_text());
            }

            // Act: Max approves.
            let started = Instant::now();
            let (answer, response_url) = app.slack_click(&fake, &max, &prompts[1], "approve").await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            assert!(started.elapsed() < Duration::from_secs(3), "[{db}] answered within Slack's 3 seconds");
            let view = app.wait_for_state(&id, "approved").await;
            assert_eq!(decisions(&view).len(), 1, "[{db}] {view}");
            assert_eq!(decisions(&view)[0]["approver"], MAX, "[{db}] {view}");
            assert_eq!(decisions(&view)[0]["channel"], "slack", "[{db}] {view}");
            for user in [&kim, &sam] {
                let closed = fake.wait_for_closed(user).await;
                let text = closed.all_text();
                assert!(
                    text.contains("Approved by Max Field") && text.contains("no longer needed"),
                    "[{db}] {user}: {text}"
                );
            }
            let clicked = fake.wait_for_closed(&max).await;
            assert!(clicked.all_text().contains("You approved this"), "[{db}] {}", clicked.all_text());
            assert_eq!(fake.updates_of(&prompts[0]).len(), 1, "[{db}] each leftover is updated once");
            hook.wait_until("grant.created is delivered", WAIT, |d| d.iter().any(|d| d.event() == "grant.created"))
                .await;
            let grant = &hook.deliveries_of("grant.created")[0];
            assert!(grant.signature_valid);
            assert_eq!(grant.json()["request"], id.as_str());
            assert_eq!(grant.json()["user"], ANA);
            assert!(fake.responses_to(&response_url).is_empty(), "[{db}] an accepted click gets no private refusal");
        })
        .await;
    }
}

#[tokio::test]
async fn two_of_eight_from_a_group_settle_on_the_second_approval_on_slack() {
    for db in test_databases() {
        bounded(async {
            // Arrange: a group of eight; any two of them.
            let fake = FakeSlack::start().await;
            let eight: Vec<String> = (1..=8).map(approver).collect();
            let opts = AppOptions::new()
                .directory(format!("groups:\n  - id: eight\n    name: Eight\n    members: [{}]\n", eight.join(", ")))
                .workflow("TWO_OF_EIGHT", "parallel_group_expression: { group: eight, number_required: 2 }\n");
            let app = slack_app(&db, &fake, opts).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "two-of-eight" })).await);
            let users: Vec<String> = eight.iter().map(|u| slack_id(u)).collect();
            let refs: Vec<&str> = users.iter().map(String::as_str).collect();
            let prompts = fake.wait_for_prompts(&refs).await;
            assert!(prompts[0].all_text().contains("2 of 8"), "[{db}] {}", prompts[0].all_text());

            // Act: the first approval does not settle it; the second does.
            let (first, _) = app.slack_click(&fake, &users[2], &prompts[2], "approve").await;
            assert_eq!(first.status, 200, "[{db}] {}", first.text);
            let view = app.request_view(&id).await;
            assert_eq!(view["state"], "requested", "[{db}] one approval of two: {view}");
            let (second, _) = app.slack_click(&fake, &users[5], &prompts[5], "approve").await;
            assert_eq!(second.status, 200, "[{db}] {}", second.text);

            // Assert
            let view = app.wait_for_state(&id, "approved").await;
            assert_eq!(decisions(&view).len(), 2, "[{db}] {view}");
            fake.wait_for("every prompt lost its buttons", |f| {
                refs.iter().all(|u| f.prompts_to(u).iter().all(|m| !m.has_buttons()))
            })
            .await;
            for (i, u) in refs.iter().enumerate() {
                let text = fake.prompts_to(u)[0].all_text();
                if i == 2 || i == 5 {
                    assert!(text.contains("You approved this"), "[{db}] {u}: {text}");
                } else {
                    assert!(text.contains("Approved") && text.contains("no longer needed"), "[{db}] {u}: {text}");
                }
            }
        })
        .await;
    }
}

#[tokio::test]
async fn a_sequential_chain_dms_the_second_step_only_after_the_first_approved_on_slack() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("MANAGER_THEN_KIM", &manager_then_kim())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "manager-then-kim" })).await);
            let (raj, kim) = (slack_id(RAJ), slack_id(KIM));
            let first = fake.wait_for_prompts(&[&raj]).await.remove(0);
            assert!(first.all_text().contains("step 1 of 2"), "[{db}] {}", first.all_text());
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(fake.messages_to(&kim).is_empty(), "[{db}] the second step is not asked yet");

            // Act
            let (answer, _) = app.slack_click(&fake, &raj, &first, "approve").await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let second = fake.wait_for_prompts(&[&kim]).await.remove(0);
            assert!(second.all_text().contains("step 2 of 2"), "[{db}] {}", second.all_text());
            assert_eq!(app.request_view(&id).await["state"], "requested");
            let (answer, _) = app.slack_click(&fake, &kim, &second, "approve").await;
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            app.wait_for_state(&id, "approved").await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_denial_by_the_deny_button_mid_chain_denies_the_request_on_slack() {
    for db in test_databases() {
        bounded(async {
            // Arrange: the manager approved; the second step is asked.
            let fake = FakeSlack::start().await;
            let hook = WebhookReceiver::start().await;
            let opts = AppOptions::new().webhook(&hook).workflow("MANAGER_THEN_KIM", &manager_then_kim());
            let app = slack_app(&db, &fake, opts).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "manager-then-kim" })).await);
            let (raj, kim) = (slack_id(RAJ), slack_id(KIM));
            let first = fake.wait_for_prompts(&[&raj]).await.remove(0);
            app.slack_click(&fake, &raj, &first, "approve").await;
            let second = fake.wait_for_prompts(&[&kim]).await.remove(0);

            // Act
            let (answer, _) = app.slack_click(&fake, &kim, &second, "deny").await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let view = app.wait_for_state(&id, "denied").await;
            let last = decisions(&view).pop().unwrap();
            assert_eq!(
                (last["approver"].as_str(), last["verdict"].as_str()),
                (Some(KIM), Some("deny")),
                "[{db}] {view}"
            );
            let closed = fake.wait_for_closed(&kim).await;
            assert!(closed.all_text().contains("You denied this"), "[{db}] {}", closed.all_text());
            hook.wait_until("item.denied is delivered", WAIT, |d| d.iter().any(|d| d.event() == "item.denied")).await;
            assert!(hook.deliveries_of("grant.created").is_empty());
        })
        .await;
    }
}

#[tokio::test]
async fn deny_with_reason_opens_the_modal_and_its_submission_denies_with_that_comment() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("MANAGER_THEN_KIM", &manager_then_kim())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "manager-then-kim" })).await);
            let raj = slack_id(RAJ);
            let prompt = fake.wait_for_prompts(&[&raj]).await.remove(0);
            let (block_id, reason_button) = prompt
                .elements()
                .into_iter()
                .find(|(_, e)| {
                    e["type"] == "button"
                        && e["text"]["text"].as_str().is_some_and(|t| t.starts_with("Deny with reason"))
                })
                .unwrap_or_else(|| panic!("[{db}] a Deny with reason button in {:#}", prompt.blocks));

            // Act 1: the click opens the modal at once, with the click's trigger.
            let payload = fake_slack::click_payload(&raj, &prompt, &block_id, &reason_button, &fake.response_url());
            let answer = app.slack_interaction(&payload).await;
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let opened = fake.calls_to("views.open");
            assert_eq!(opened.len(), 1, "[{db}] views.open is called before the click is answered");
            assert_eq!(opened[0].params["trigger_id"], payload["trigger_id"]);
            let view = opened[0].params["view"].clone();
            assert_eq!(view["type"], "modal", "[{db}] {view}");
            assert_eq!(app.request_view(&id).await["state"], "requested", "[{db}] opening the form decides nothing");

            // Act 2: the approver types a reason and submits.
            let submission = fake_slack::deny_modal_submission(&raj, &view, "not during the freeze");
            let answer = app.slack_interaction(&submission).await;

            // Assert: the modal closes (an empty 200), the request is denied with that comment.
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            assert!(answer.text.is_empty() || answer.json().get("response_action").is_none(), "[{db}] {}", answer.text);
            let view = app.wait_for_state(&id, "denied").await;
            let last = decisions(&view).pop().unwrap();
            assert_eq!(last["verdict"], "deny", "[{db}] {view}");
            assert_eq!(last["comment"], "not during the freeze", "[{db}] {view}");
            let closed = fake.wait_for_closed(&raj).await;
            assert!(closed.all_text().contains("You denied this"), "[{db}] {}", closed.all_text());
        })
        .await;
    }
}

#[tokio::test]
async fn a_click_by_someone_else_is_refused_privately_changes_nothing_and_is_audited() {
    for db in test_databases() {
        bounded(async {
            // Arrange: a prompt for Kim.
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("ANY_OF_THREE", &any_of_three())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await);
            let kim_prompt = fake.wait_for_prompts(&[&slack_id(KIM)]).await.remove(0);
            fake.wait_for_prompts(&[&slack_id(MAX), &slack_id(SAM)]).await;
            let before = app.row_counts().await;

            // Act: Ben clicks Approve on Kim's prompt.
            let (answer, response_url) = app.slack_click(&fake, &slack_id(BEN), &kim_prompt, "approve").await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            fake.wait_for("the refusal is posted to the response_url", |f| !f.responses_to(&response_url).is_empty())
                .await;
            let reply = fake.responses_to(&response_url).remove(0);
            assert_eq!(reply["response_type"], "ephemeral", "[{db}] privately: {reply}");
            assert_eq!(reply["replace_original"], false, "[{db}] the prompt stays as it is: {reply}");
            let text = reply["text"].as_str().unwrap_or_default();
            assert!(text.contains("Kim Lee") && text.contains("not for you"), "[{db}] {text}");
            let view = app.request_view(&id).await;
            assert_eq!(view["state"], "requested");
            assert!(decisions(&view).is_empty(), "[{db}] {view}");
            assert_eq!(prompt_approvers(&view, "pending"), [KIM, MAX, SAM]);
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(fake.calls_to("chat.update").is_empty(), "[{db}] no message changes");
            let after = app.row_counts().await;
            assert_eq!(
                (after.items, after.prompts, after.outbox, after.item_events),
                (before.items, before.prompts, before.outbox, before.item_events)
            );
            let refused = app.audit_rows("refused").await;
            assert!(
                refused.iter().any(|(actor, detail)| actor.as_deref() == Some(BEN) && detail["channel"] == "slack"),
                "[{db}] {refused:?}"
            );
        })
        .await;
    }
}

#[tokio::test]
async fn forged_stale_unsigned_and_half_signed_callbacks_get_401_are_counted_write_nothing_and_are_never_parsed() {
    for db in test_databases() {
        bounded(async {
            // Arrange: a prompt for Kim, and a genuine-looking Approve click on it.
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("ANY_OF_THREE", &any_of_three())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await);
            let kim = slack_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let (block_id, approve) = prompt.button("approve");
            let click = fake_slack::form_payload(&fake_slack::click_payload(
                &kim,
                &prompt,
                &block_id,
                &approve,
                &fake.response_url(),
            ));
            let command = fake_slack::slash_command_body(&slack_id(ANA), "salesforce", &fake.response_url());
            let now = fake_slack::now_unix();
            let form = || ("content-type", "application/x-www-form-urlencoded".to_owned());
            let ts = |t: i64| ("x-slack-request-timestamp", t.to_string());
            let sig = |s: String| ("x-slack-signature", s);
            let refused_before = app.metric("signoff_callbacks_refused_total", &[("platform", "slack")]).await;
            let rows_before = app.row_counts().await;

            // Act
            let cases: Vec<ForgedCase<'_>> = vec![
                (
                    "forged (wrong secret)",
                    "/slack/interactions",
                    click.clone(),
                    vec![form(), ts(now), sig(fake_slack::sign("not-the-secret", now, click.as_bytes()))],
                ),
                (
                    "forged (body changed after signing)",
                    "/slack/interactions",
                    click.replace("approve", "approvf"),
                    vec![form(), ts(now), sig(fake_slack::sign(fake_slack::SIGNING_SECRET, now, click.as_bytes()))],
                ),
                (
                    "stale (6 minutes old)",
                    "/slack/interactions",
                    click.clone(),
                    vec![
                        form(),
                        ts(now - 360),
                        sig(fake_slack::sign(fake_slack::SIGNING_SECRET, now - 360, click.as_bytes())),
                    ],
                ),
                (
                    "from the future (6 minutes ahead)",
                    "/slack/interactions",
                    click.clone(),
                    vec![
                        form(),
                        ts(now + 360),
                        sig(fake_slack::sign(fake_slack::SIGNING_SECRET, now + 360, click.as_bytes())),
                    ],
                ),
                ("unsigned", "/slack/interactions", click.clone(), vec![form()]),
                (
                    "no timestamp",
                    "/slack/interactions",
                    click.clone(),
                    vec![form(), sig(fake_slack::sign(fake_slack::SIGNING_SECRET, now, click.as_bytes()))],
                ),
                ("no signature", "/slack/interactions", click.clone(), vec![form(), ts(now)]),
                (
                    "unsigned, and not even a payload",
                    "/slack/interactions",
                    "payload=%7Bnot json".to_owned(),
                    vec![form()],
                ),
                ("unsigned garbage", "/slack/interactions", "\u{0}\u{1}garbage".to_owned(), vec![]),
                (
                    "forged slash command",
                    "/slack/commands",
                    command.clone(),
                    vec![form(), ts(now), sig(fake_slack::sign("not-the-secret", now, command.as_bytes()))],
                ),
                ("unsigned slash command", "/slack/commands", command.clone(), vec![form()]),
            ];
            for (what, path, body, headers) in &cases {
                let r = app.post_with_headers(path, body.as_bytes(), headers).await;

                // Assert: 401, with no trace of parsing.
                assert_eq!(r.status, 401, "[{db}] {what}: {}", r.text);
                assert!(!r.text.contains("payload"), "[{db}] {what}: the body was not read: {}", r.text);
            }
            // Nothing written for the unauthenticated, not even an audit row; every refusal counted by reason.
            assert_eq!(app.row_counts().await, rows_before, "[{db}] refusals write nothing");
            let refused = app.metric("signoff_callbacks_refused_total", &[("platform", "slack")]).await;
            assert!(refused - refused_before >= cases.len() as f64, "[{db}] every refusal is counted: {refused}");
            for reason in ["signature", "timestamp", "headers"] {
                let n =
                    app.metric("signoff_callbacks_refused_total", &[("platform", "slack"), ("reason", reason)]).await;
                assert!(n >= 1.0, "[{db}] refusals for `{reason}` are counted");
            }
            let view = app.request_view(&id).await;
            assert_eq!(view["state"], "requested", "[{db}] nothing was decided");
            assert!(decisions(&view).is_empty());
            assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 1, "[{db}] no /request went through");
            assert!(fake.responses().is_empty(), "[{db}] no one was answered");

            // The same click, signed, goes through: the refusals above were about the signature alone.
            let r = app.slack_post("/slack/interactions", &click).await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            app.wait_for_state(&id, "approved").await;
        })
        .await;
    }
}

#[tokio::test]
async fn twenty_concurrent_clicks_by_the_same_approver_make_one_decision_and_one_grant_delivery() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeSlack::start().await;
            let hook = WebhookReceiver::start().await;
            let opts = AppOptions::new()
                .webhook(&hook)
                .workflow("KIM_ONLY", &format!("user_constant_expression: {{ user: {KIM} }}\n"));
            let app = slack_app(&db, &fake, opts).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let kim = slack_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let (block_id, approve) = prompt.button("approve");

            // Act: twenty clicks at once, each with its own response_url, as Slack would send them.
            let mut clicks = Vec::new();
            let mut urls = Vec::new();
            for _ in 0..20 {
                let url = fake.response_url();
                let body =
                    fake_slack::form_payload(&fake_slack::click_payload(&kim, &prompt, &block_id, &approve, &url));
                urls.push(url);
                let client = app.client();
                clicks.push(async move {
                    client.slack_post_signed("/slack/interactions", &body, fake_slack::SIGNING_SECRET).await
                });
            }
            let answers = join_all(clicks).await;

            // Assert
            for a in &answers {
                assert_eq!(a.status, 200, "[{db}] {}", a.text);
            }
            let view = app.wait_for_state(&id, "approved").await;
            assert_eq!(decisions(&view).len(), 1, "[{db}] one decision: {view}");
            assert_eq!(app.count("SELECT COUNT(*) FROM grants").await, 1);
            hook.wait_until("grant.created is delivered", WAIT, |d| d.iter().any(|d| d.event() == "grant.created"))
                .await;
            // Every click but one is refused privately (the prompt is already answered).
            fake.wait_for("19 clicks are refused privately", |f| {
                urls.iter().filter(|u| !f.responses_to(u).is_empty()).count() == 19
            })
            .await;
            for u in &urls {
                for r in fake.responses_to(u) {
                    assert_eq!(r["response_type"], "ephemeral", "[{db}] {r}");
                    let text = r["text"].as_str().unwrap_or_default();
                    assert!(text.starts_with("Already settled: You approved it at "), "[{db}] {r}");
                }
            }
            app.wait_for_outbox_drained().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let ids: std::collections::BTreeSet<String> =
                hook.deliveries_of("grant.created").iter().map(|d| d.id.clone()).collect();
            assert_eq!(ids.len(), 1, "[{db}] one grant.created delivery id: {ids:?}");
            assert_eq!(fake.updates_of(&prompt).len(), 1, "[{db}] the prompt is closed once");
        })
        .await;
    }
}

#[tokio::test]
async fn a_click_after_settlement_is_told_privately_who_settled_it_and_when() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Max approved; Kim still has her prompt (as it read before it was closed).
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("ANY_OF_THREE", &any_of_three())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await);
            let (kim, max) = (slack_id(KIM), slack_id(MAX));
            let prompts = fake.wait_for_prompts(&[&kim, &max]).await;
            app.slack_click(&fake, &max, &prompts[1], "approve").await;
            let settled = app.wait_for_state(&id, "approved").await;
            fake.wait_for_closed(&kim).await;
            app.wait_for_outbox_drained().await;
            let updates_before = fake.calls_to("chat.update").len();

            // Act: Kim clicks Deny on her (stale) copy.
            let (answer, response_url) = app.slack_click(&fake, &kim, &prompts[0], "deny").await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            fake.wait_for("Kim is told privately", |f| !f.responses_to(&response_url).is_empty()).await;
            let reply = fake.responses_to(&response_url).remove(0);
            assert_eq!(reply["response_type"], "ephemeral", "[{db}] {reply}");
            let text = reply["text"].as_str().unwrap_or_default();
            assert!(text.contains("Max Field"), "[{db}] says who: {text}");
            assert!(text.contains(" UTC"), "[{db}] says when: {text}");
            let view = app.request_view(&id).await;
            assert_eq!(view["state"], "approved");
            assert_eq!(decisions(&view), decisions(&settled), "[{db}] no state change");
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(fake.calls_to("chat.update").len(), updates_before, "[{db}] no message changes");
        })
        .await;
    }
}

#[tokio::test]
async fn the_request_slash_command_helps_suggests_confirms_and_asks_for_someone_else() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new()).await;
            let ana = slack_id(ANA);

            // Act and assert 1: no text -> help listing the resources.
            let r = app.slack_command(&fake, &ana, "").await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            let help = r.json();
            assert_eq!(help["response_type"], "ephemeral", "[{db}] {help}");
            let text = help.to_string();
            assert!(text.contains("Usage") && text.contains("salesforce") && text.contains("wiki"), "[{db}] {help}");

            // 2: an unknown resource -> help with the closest first.
            let r = app.slack_command(&fake, &ana, "salesforse admin").await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            let help = r.json();
            let lines: String = help["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["text"]["text"].as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(lines.contains("salesforse"), "[{db}] names what was typed: {lines}");
            let first_item = lines.lines().find(|l| l.starts_with('•')).unwrap_or_default();
            assert!(first_item.contains("salesforce"), "[{db}] the closest first: {lines}");
            assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0, "[{db}] help requests nothing");

            // 3: a full request -> an ephemeral confirmation with the id and who will be asked.
            let r = app.slack_command(&fake, &ana, "salesforce admin for 8h because audit").await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            let reply = r.json();
            assert_eq!(reply["response_type"], "ephemeral", "[{db}] {reply}");
            let id = request_id_in(&reply);
            let text = reply["text"].as_str().unwrap_or_default();
            assert!(text.contains("Kim Lee") && text.contains("Max Field"), "[{db}] who will be asked: {text}");
            let view = app.request_view(&id).await;
            assert_eq!(view["requester"], ANA);
            assert_eq!(
                (item(&view)["resource"].as_str(), item(&view)["role"].as_str()),
                (Some("salesforce"), Some("admin"))
            );
            assert_eq!(item(&view)["for"], ANA);
            let stored: String = sqlx::query_scalar("SELECT body FROM requests WHERE id = $1")
                .bind(id.clone())
                .fetch_one(app.store().reader())
                .await
                .unwrap();
            let stored: Value = serde_json::from_str(&stored).unwrap();
            assert_eq!(
                (stored["duration"].as_str(), stored["justification"].as_str()),
                (Some("8h"), Some("because audit")),
                "[{db}] {stored}"
            );
            fake.wait_for_prompts(&[&slack_id(KIM), &slack_id(MAX)]).await;

            // 4: for someone else, named with a Slack mention.
            let r =
                app.slack_command(&fake, &ana, &format!("salesforce for <@{}|ben> onboarding", slack_id(BEN))).await;
            assert_eq!(r.status, 200, "[{db}] {}", r.text);
            let reply = r.json();
            let id = request_id_in(&reply);
            let view = app.request_view(&id).await;
            assert_eq!(
                (view["requester"].as_str(), item(&view)["for"].as_str()),
                (Some(ANA), Some(BEN)),
                "[{db}] {view}"
            );
            assert_eq!(prompt_approvers(&view, "pending"), [RAJ], "[{db}] Ben's manager is asked: {view}");
            assert!(reply["text"].as_str().unwrap_or_default().contains("Raj Patel"), "[{db}] {reply}");
        })
        .await;
    }
}

#[tokio::test]
async fn people_without_a_slack_id_are_found_by_email_both_as_approver_and_as_clicker() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Nina has no slack_id in the directory; Slack knows her email.
            let fake = FakeSlack::start().await;
            fake.add_user("nina@example.com", "U0NINA");
            let opts = AppOptions::new()
                .directory(format!("users:\n  - id: nina@example.com\n    name: Nina Berg\n    manager: {VERA}\n"))
                .workflow("NINA", "user_constant_expression: { user: nina@example.com }\n");
            let app = slack_app(&db, &fake, opts).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "nina" })).await);

            // Act 1: the prompt reaches her.
            let prompt = fake.wait_for_prompts(&["U0NINA"]).await.remove(0);
            let lookups = fake.calls_to("users.lookupByEmail");
            assert_eq!(lookups.len(), 1, "[{db}] {lookups:?}");
            assert_eq!(lookups[0].params["email"], "nina@example.com");

            // Act 2: she clicks Approve as U0NINA, whom the directory does not know by Slack id.
            let (answer, response_url) = app.slack_click(&fake, "U0NINA", &prompt, "approve").await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let view = app.wait_for_state(&id, "approved").await;
            assert_eq!(decisions(&view)[0]["approver"], "nina@example.com", "[{db}] {view}");
            assert!(
                fake.calls_to("users.info").iter().any(|c| c.params["user"] == "U0NINA"),
                "[{db}] mapped through users.info"
            );
            assert!(fake.responses_to(&response_url).is_empty(), "[{db}] not refused");
        })
        .await;
    }
}

#[tokio::test]
async fn a_429_on_chat_post_message_delivers_the_prompt_after_retry_after_exactly_once() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Slack refuses the first chat.postMessage with 429, Retry-After: 1.
            let fake = FakeSlack::start().await;
            fake.fail_next(1, "chat.postMessage", Scripted::RateLimited { retry_after_secs: 1 });
            let opts =
                AppOptions::new().workflow("KIM_ONLY", &format!("user_constant_expression: {{ user: {KIM} }}\n"));
            let app = slack_app(&db, &fake, opts).await;

            // Act
            app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await;

            // Assert
            let kim = slack_id(KIM);
            fake.wait_for_prompts(&[&kim]).await;
            let posts = fake.calls_to("chat.postMessage");
            let refused = posts.iter().find(|c| c.answer.is_null()).expect("the 429 was answered");
            let delivered = posts.iter().find(|c| c.answer["ok"] == true).unwrap();
            let waited = delivered.at.duration_since(refused.at);
            assert!(waited >= Duration::from_millis(950), "[{db}] Retry-After was honoured: {waited:?}");
            app.wait_for_outbox_drained().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(fake.prompts_to(&kim).len(), 1, "[{db}] exactly once");
            assert_eq!(fake.calls_to("chat.postMessage").len(), 2, "[{db}] one refused, one delivered");
        })
        .await;
    }
}

#[tokio::test]
async fn slack_answering_500_twice_is_retried_and_the_prompt_and_its_closing_land_once() {
    for db in test_databases() {
        bounded(async {
            // Arrange: the first two chat.postMessage calls fail with HTTP 500.
            let fake = FakeSlack::start().await;
            fake.fail_next(2, "chat.postMessage", Scripted::ServerError);
            let opts =
                AppOptions::new().workflow("KIM_ONLY", &format!("user_constant_expression: {{ user: {KIM} }}\n"));
            let app = slack_app(&db, &fake, opts).await;

            // Act
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let kim = slack_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);

            // Assert: two failures, then one delivered prompt, and nothing more.
            let posts = fake.calls_to("chat.postMessage");
            let failed = posts.iter().filter(|c| c.answer["http"] == 500).count();
            assert_eq!(failed, 2, "[{db}] {posts:?}");
            app.wait_for_outbox_drained().await;
            assert_eq!(fake.prompts_to(&kim).len(), 1, "[{db}] the prompt landed exactly once");

            // The prompt still works: approving it closes that very message.
            let (click, _) = app.slack_click(&fake, &kim, &prompt, "approve").await;
            assert_eq!(click.status, 200, "[{db}] {}", click.text);
            app.wait_for_state(&id, "approved").await;
            fake.wait_for("the prompt is updated", |f| !f.updates_of(&prompt).is_empty()).await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_timeout_escalates_the_silent_approvers_dm_and_asks_the_manager() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Kim has one second.
            let fake = FakeSlack::start().await;
            let opts = AppOptions::new()
                .workflow("KIM_FAST", &format!("user_constant_expression: {{ user: {KIM}, timeout: 1s }}\n"));
            let app = slack_app(&db, &fake, opts).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-fast" })).await);
            let (kim, vera) = (slack_id(KIM), slack_id(VERA));
            fake.wait_for_prompts(&[&kim]).await;

            // Act: nobody answers.
            let escalated = fake.wait_for_closed(&kim).await;

            // Assert
            let text = escalated.all_text();
            assert!(text.contains("Escalated to Vera Stone after 1s without an answer"), "[{db}] {text}");
            let vera_prompt = fake.wait_for_prompts(&[&vera]).await.remove(0);
            assert!(vera_prompt.has_buttons());
            assert!(
                vera_prompt.all_text().contains("Kim Lee"),
                "[{db}] says whom it replaces: {}",
                vera_prompt.all_text()
            );
            assert_eq!(app.request_view(&id).await["state"], "escalated");
            let (answer, _) = app.slack_click(&fake, &vera, &vera_prompt, "approve").await;
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            app.wait_for_state(&id, "approved").await;
        })
        .await;
    }
}

/// The raw payloads in `/work/shared/protocol` are what Slack sends for other apps' buttons and modals:
/// signed, they are accepted (200) and change nothing.
#[tokio::test]
async fn slacks_documented_example_payloads_are_acknowledged_and_ignored() {
    for db in test_databases() {
        bounded(async {
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new()).await;
            for fixture in ["slack_block_actions.json", "slack_view_submission.json"] {
                let text = std::fs::read_to_string(format!(
                    "{}/adapters/slack/tests/fixtures/{fixture}",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap();
                let payload: Value = serde_json::from_str(&text).unwrap();
                let r = app.slack_interaction(&payload).await;
                assert_eq!(r.status, 200, "[{db}] {fixture}: {}", r.text);
            }
            let ssl_check =
                format!("{}&ssl_check=1", fake_slack::slash_command_body(&slack_id(ANA), "", &fake.response_url()));
            assert_eq!(app.slack_post("/slack/commands", &ssl_check).await.status, 200);
            assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0);
            assert!(fake.responses().is_empty());
        })
        .await;
    }
}

#[tokio::test]
async fn an_approver_may_approve_for_less_time_by_picking_a_duration_before_approve() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Ana asks for 8h through /request; Kim's prompt offers shorter durations.
            let fake = FakeSlack::start().await;
            let app = slack_app(
                &db,
                &fake,
                AppOptions::new().workflow("KIM_ONLY", &format!("user_constant_expression: {{ user: {KIM} }}\n")),
            )
            .await;
            let r = app.slack_command(&fake, &slack_id(ANA), "kim-only for 8h").await;
            let id = request_id_in(&r.json());
            let kim = slack_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let (select_block, select) = prompt
                .elements()
                .into_iter()
                .find(|(_, e)| e["type"] == "static_select")
                .unwrap_or_else(|| panic!("[{db}] a duration choice in {:#}", prompt.blocks));
            let values: Vec<&str> =
                select["options"].as_array().unwrap().iter().filter_map(|o| o["value"].as_str()).collect();
            assert!(values.contains(&"4h") && values.contains(&"8h"), "[{db}] {values:?}");
            let picked = select["options"].as_array().unwrap().iter().find(|o| o["value"] == "4h").unwrap().clone();

            // Act: Kim picks 4h (the message state carries it), then clicks Approve.
            let (block_id, approve) = prompt.button("approve");
            let mut payload = fake_slack::click_payload(&kim, &prompt, &block_id, &approve, &fake.response_url());
            payload["state"]["values"] = json!({ select_block: { select["action_id"].as_str().unwrap(): {
                "type": "static_select", "selected_option": picked } } });
            let answer = app.slack_interaction(&payload).await;

            // Assert: the grant lasts 4h, not 8h.
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let view = app.wait_for_state(&id, "approved").await;
            assert_eq!(decisions(&view)[0]["duration"], "4h", "[{db}] {view}");
            let grant = &item(&view)["grant"];
            let granted: jiff::Timestamp = grant["granted_at"].as_str().unwrap().parse().unwrap();
            let expires: jiff::Timestamp =
                grant["expires_at"].as_str().unwrap_or_else(|| panic!("[{db}] {view}")).parse().unwrap();
            assert_eq!(expires.duration_since(granted).as_secs(), 4 * 3600, "[{db}] {grant}");
            let closed = fake.wait_for_closed(&kim).await;
            assert!(closed.all_text().contains("You approved this for 4h"), "[{db}] {}", closed.all_text());
        })
        .await;
    }
}

#[tokio::test]
async fn an_approver_hands_the_decision_to_someone_else_with_the_user_picker() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeSlack::start().await;
            let app = slack_app(
                &db,
                &fake,
                AppOptions::new().workflow("KIM_ONLY", &format!("user_constant_expression: {{ user: {KIM} }}\n")),
            )
            .await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await);
            let (kim, max) = (slack_id(KIM), slack_id(MAX));
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            let (block_id, picker) = prompt.elements().into_iter().find(|(_, e)| e["type"] == "users_select").unwrap();

            // Act: Kim picks Max in the picker (Slack sends the pick as a block action).
            let action = json!({ "type": "users_select", "action_id": picker["action_id"], "block_id": block_id,
                                 "selected_user": max, "action_ts": "1700000000.000200" });
            let mut payload = fake_slack::click_payload(&kim, &prompt, &block_id, &action, &fake.response_url());
            payload["state"]["values"] = json!({ block_id.clone(): { picker["action_id"].as_str().unwrap(): {
                "type": "users_select", "selected_user": max } } });
            let answer = app.slack_interaction(&payload).await;

            // Assert: Max is asked instead; Kim's prompt says so.
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let max_prompt = fake.wait_for_prompts(&[&max]).await.remove(0);
            assert!(
                max_prompt.all_text().contains("Kim Lee"),
                "[{db}] says whom it replaces: {}",
                max_prompt.all_text()
            );
            let closed = fake.wait_for_closed(&kim).await;
            assert!(closed.all_text().contains("You handed this to Max Field"), "[{db}] {}", closed.all_text());
            assert_eq!(app.request_view(&id).await["state"], "escalated");
            let (answer, _) = app.slack_click(&fake, &max, &max_prompt, "approve").await;
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            app.wait_for_state(&id, "approved").await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_deny_reason_submitted_after_the_request_settled_is_refused_in_the_modal() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Kim opened the deny form; meanwhile Max approved.
            let fake = FakeSlack::start().await;
            let app = slack_app(&db, &fake, AppOptions::new().workflow("ANY_OF_THREE", &any_of_three())).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await);
            let (kim, max) = (slack_id(KIM), slack_id(MAX));
            let prompts = fake.wait_for_prompts(&[&kim, &max]).await;
            let (block_id, reason) =
                prompts[0].elements().into_iter().find(|(_, e)| e["action_id"] == "signoff_reason").unwrap();
            app.slack_interaction(&fake_slack::click_payload(
                &kim,
                &prompts[0],
                &block_id,
                &reason,
                &fake.response_url(),
            ))
            .await;
            let view = fake.calls_to("views.open")[0].params["view"].clone();
            app.slack_click(&fake, &max, &prompts[1], "approve").await;
            app.wait_for_state(&id, "approved").await;

            // Act
            let answer = app.slack_interaction(&fake_slack::deny_modal_submission(&kim, &view, "too late")).await;

            // Assert: the modal shows why under its input; nothing changes.
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            let body = answer.json();
            assert_eq!(body["response_action"], "errors", "[{db}] {body}");
            let input_block = view["blocks"][0]["block_id"].as_str().unwrap();
            let message = body["errors"][input_block].as_str().unwrap_or_else(|| panic!("[{db}] {body}"));
            assert!(message.contains("Max Field"), "[{db}] {message}");
            let view = app.request_view(&id).await;
            assert_eq!((view["state"].as_str(), decisions(&view).len()), (Some("approved"), 1), "[{db}] {view}");
        })
        .await;
    }
}

#[tokio::test]
async fn a_slow_slack_does_not_delay_the_answer_to_a_click_past_three_seconds() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Nina has no slack_id, so her click is mapped through users.info, which takes 5 s today.
            let fake = FakeSlack::start().await;
            fake.add_user("nina@example.com", "U0NINA");
            let opts = AppOptions::new()
                .directory(format!("users:\n  - id: nina@example.com\n    name: Nina Berg\n    manager: {VERA}\n"))
                .workflow("NINA", "user_constant_expression: { user: nina@example.com }\n");
            let app = slack_app(&db, &fake, opts).await;
            let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "nina" })).await);
            let prompt = fake.wait_for_prompts(&["U0NINA"]).await.remove(0);
            fake.delay("users.info", Duration::from_secs(5));

            // Act
            let started = Instant::now();
            let (answer, _) = app.slack_click(&fake, "U0NINA", &prompt, "approve").await;

            // Assert: acknowledged in time; the decision still lands, and the message is updated.
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            assert!(started.elapsed() < Duration::from_secs(3), "[{db}] answered after {:?}", started.elapsed());
            app.wait_until("the approval lands", Duration::from_secs(15), async |app| {
                app.get_request(&id).await.1["state"] == "approved"
            })
            .await;
            fake.wait_until("Nina's prompt is closed", Duration::from_secs(15), |f| {
                f.prompts_to("U0NINA").iter().any(|m| !m.has_buttons())
            })
            .await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_slow_views_open_does_not_delay_the_answer_past_three_seconds() {
    for db in test_databases() {
        bounded(async {
            // Arrange
            let fake = FakeSlack::start().await;
            let app = slack_app(
                &db,
                &fake,
                AppOptions::new().workflow("KIM_ONLY", &format!("user_constant_expression: {{ user: {KIM} }}\n")),
            )
            .await;
            app.create_ok(json!({ "requester": ANA, "resource": "kim-only" })).await;
            let kim = slack_id(KIM);
            let prompt = fake.wait_for_prompts(&[&kim]).await.remove(0);
            fake.delay("views.open", Duration::from_secs(5));
            let (block_id, reason) =
                prompt.elements().into_iter().find(|(_, e)| e["action_id"] == "signoff_reason").unwrap();

            // Act
            let started = Instant::now();
            let answer = app
                .slack_interaction(&fake_slack::click_payload(&kim, &prompt, &block_id, &reason, &fake.response_url()))
                .await;

            // Assert
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            assert!(started.elapsed() < Duration::from_secs(3), "[{db}] answered after {:?}", started.elapsed());
        })
        .await;
    }
}

#[tokio::test]
async fn a_slow_slack_gets_a_slash_command_acknowledged_in_time_and_the_reply_follows_at_its_response_url() {
    for db in test_databases() {
        bounded(async {
            // Arrange: Nina has no slack_id, so her command is mapped through users.info, which takes 4 s today.
            let fake = FakeSlack::start().await;
            fake.add_user("nina@example.com", "U0NINA");
            let opts = AppOptions::new()
                .directory(format!("users:\n  - id: nina@example.com\n    name: Nina Berg\n    manager: {VERA}\n"));
            let app = slack_app(&db, &fake, opts).await;
            fake.delay("users.info", Duration::from_secs(4));
            let response_url = fake.response_url();

            // Act
            let started = Instant::now();
            let body = fake_slack::slash_command_body("U0NINA", "salesforce because audit", &response_url);
            let answer = app.slack_post("/slack/commands", &body).await;

            // Assert: acknowledged in time, privately; the confirmation follows at the response_url.
            assert_eq!(answer.status, 200, "[{db}] {}", answer.text);
            assert!(started.elapsed() < Duration::from_secs(3), "[{db}] answered after {:?}", started.elapsed());
            assert_eq!(answer.json()["response_type"], "ephemeral", "[{db}] {}", answer.text);
            fake.wait_until("the reply is posted", Duration::from_secs(15), |f| {
                !f.responses_to(&response_url).is_empty()
            })
            .await;
            let reply = fake.responses_to(&response_url).remove(0);
            assert_eq!(reply["response_type"], "ephemeral", "[{db}] {reply}");
            let id = request_id_in(&reply);
            let view = app.request_view(&id).await;
            assert_eq!(view["requester"], "nina@example.com", "[{db}] {view}");
            assert_eq!(prompt_approvers(&view, "pending"), [VERA], "[{db}] Nina's manager is asked");
        })
        .await;
    }
}
