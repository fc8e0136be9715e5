//! Whole approval flows through the HTTP API: a requester asks, approvers answer with
//! `POST /api/v1/requests/{id}/decisions`, and the chat adapter, the webhook and the views show what the
//! design promises (DESIGN.md section 4). Every scenario runs on every test database.

mod support;

use support::*;

#[tokio::test]
async fn one_of_three_approvers_settles_a_parallel_step_and_the_other_prompts_are_closed() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db).workflow(
            "ANY_OF_THREE",
            &format!(
                "parallel_expression:\n  number_required: 1\n  expressions:\n    - user_constant_expression: {{ user: {KIM} }}\n    \
                 - user_constant_expression: {{ user: {MAX} }}\n    - user_constant_expression: {{ user: {SAM} }}\n"
            ),
        ))
        .await;
        let view = app.create_ok(json!({ "requester": ANA, "resource": "any-of-three" })).await;
        let id = id_of(&view);
        assert_eq!(view["state"], "requested");
        assert_eq!(prompt_approvers(&view, "pending"), [KIM, MAX, SAM]);
        app.wait_for_prompts(&[KIM, MAX, SAM]).await;

        // Act
        let view = app.decide_ok(&id, MAX, "approve").await;

        // Assert
        assert_eq!(view["state"], "approved", "[{db}] {view}");
        assert_eq!(prompt_approvers(&view, "answered"), [MAX]);
        assert_eq!(prompt_approvers(&view, "dismissed"), [KIM, SAM]);
        app.wait_for("the other prompts are closed", async |app| {
            app.closes_for(KIM).len() == 1 && app.closes_for(SAM).len() == 1 && app.closes_for(MAX).len() == 1
        })
        .await;
        for other in [KIM, SAM] {
            let closing = &app.closes_for(other)[0];
            assert!(closing.headline.contains("no longer needed"), "[{db}] {other}: {closing:?}");
            assert!(closing.headline.contains("Max Field"), "[{db}] says who settled it: {closing:?}");
        }
        assert_eq!(app.closes_for(MAX)[0].headline, "You approved this");
        app.wait_for("the requester is told", async |app| {
            app.notifications_to(ANA).iter().any(|n| n.title == "Access approved")
        })
        .await;
    }
}

#[tokio::test]
async fn a_sequential_chain_asks_the_next_step_only_after_the_previous_one_approved() {
    for db in test_databases() {
        // Arrange: the manager, then an IT admin.
        let app = spawn_app(AppOptions::new().on(&db).workflow(
            "MANAGER_THEN_KIM",
            &format!(
                "sequential_expression:\n  expressions:\n    - manager_expression: {{}}\n    \
                 - user_constant_expression: {{ user: {KIM} }}\n"
            ),
        ))
        .await;
        let view = app.create_ok(json!({ "requester": ANA, "resource": "manager-then-kim" })).await;
        let id = id_of(&view);
        assert_eq!(prompt_approvers(&view, "pending"), [RAJ], "[{db}] only the first step is asked");

        // Act: the second step's approver cannot answer yet; the first step approves.
        let (early, body) = app.decide(&id, KIM, "approve").await;
        let view = app.decide_ok(&id, RAJ, "approve").await;

        // Assert
        assert_eq!(early, 403, "[{db}] {body}");
        assert!(body["error"].as_str().unwrap_or_default().contains("not an approver"), "[{db}] {body}");
        assert_eq!(view["state"], "requested", "[{db}] {view}");
        assert_eq!(prompt_approvers(&view, "pending"), [KIM], "[{db}] the second step starts");
        app.wait_for("the second step is asked in chat", async |app| app.prompts_to(KIM).len() == 1).await;
        let prompt = &app.prompts_to(KIM)[0];
        assert_eq!(prompt.step.as_deref().map(|s| s.starts_with("step 2 of 2")), Some(true), "{prompt:?}");

        let view = app.decide_ok(&id, KIM, "approve").await;
        assert_eq!(view["state"], "approved", "[{db}] {view}");
        let decisions: Vec<&str> =
            item(&view)["decisions"].as_array().unwrap().iter().map(|d| d["approver"].as_str().unwrap()).collect();
        assert_eq!(decisions, [RAJ, KIM]);
        assert_eq!(item(&view)["grant"]["active"], true, "[{db}] {view}");
    }
}

#[tokio::test]
async fn a_group_quorum_of_two_needs_two_members_and_then_closes_the_third_prompt() {
    for db in test_databases() {
        // Arrange: two of IT Security (Sam, Lee, Kim).
        let app = spawn_app(
            AppOptions::new()
                .on(&db)
                .workflow("TWO_OF_SECURITY", "parallel_group_expression: { group: it-security, number_required: 2 }\n"),
        )
        .await;
        let view = app.create_ok(json!({ "requester": ANA, "resource": "two-of-security" })).await;
        let id = id_of(&view);
        assert_eq!(prompt_approvers(&view, "pending"), [KIM, LEE, SAM]);
        app.wait_for_prompts(&[KIM, LEE, SAM]).await;

        // Act
        let after_one = app.decide_ok(&id, SAM, "approve").await;
        let after_two = app.decide_ok(&id, LEE, "approve").await;

        // Assert
        assert_eq!(after_one["state"], "requested", "[{db}] one approval is not enough: {after_one}");
        assert_eq!(after_two["state"], "approved", "[{db}] {after_two}");
        assert_eq!(prompt_approvers(&after_two, "dismissed"), [KIM]);
        app.wait_for("Kim's prompt is closed", async |app| app.closes_for(KIM).len() == 1).await;
        assert!(app.closes_for(KIM)[0].headline.contains("no longer needed"), "{:?}", app.closes_for(KIM));
        let (status, body) = app.decide(&id, KIM, "approve").await;
        assert_eq!(status, 409, "[{db}] a late answer changes nothing: {body}");
    }
}

#[tokio::test]
async fn a_condition_picks_the_approver_from_the_requesters_department() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db).workflow(
            "BY_DEPARTMENT",
            &format!(
                "condition_expression:\n  clauses:\n    - condition: {{ rule_v2: 'requestor.department == \"Sales\"' }}\n      \
                 expression: {{ user_constant_expression: {{ user: {SAM} }} }}\n  \
                 default_expression: {{ user_constant_expression: {{ user: {KIM} }} }}\n"
            ),
        ))
        .await;

        // Act
        let from_sales = app.create_ok(json!({ "requester": SOFIA, "resource": "by-department" })).await;
        let from_engineering = app.create_ok(json!({ "requester": ANA, "resource": "by-department" })).await;

        // Assert
        assert_eq!(prompt_approvers(&from_sales, "pending"), [SAM], "[{db}] {from_sales}");
        assert_eq!(prompt_approvers(&from_engineering, "pending"), [KIM], "[{db}] {from_engineering}");
        let view = app.decide_ok(&id_of(&from_sales), SAM, "deny").await;
        assert_eq!(view["state"], "denied");
    }
}

#[tokio::test]
async fn an_out_of_office_approver_falls_back_to_the_requesters_manager() {
    for db in test_databases() {
        // Arrange: Olga is out of office until 2099.
        let app = spawn_app(
            AppOptions::new().on(&db).workflow("OLGA_ONLY", &format!("user_constant_expression: {{ user: {OLGA} }}\n")),
        )
        .await;

        // Act
        let view = app.create_ok(json!({ "requester": ANA, "resource": "olga-only" })).await;
        let id = id_of(&view);

        // Assert
        assert_eq!(prompt_approvers(&view, "pending"), [RAJ], "[{db}] the fallback is Ana's manager: {view}");
        app.wait_for("Raj is asked and told why", async |app| {
            app.prompts_to(RAJ).len() == 1
                && app.notifications_to(RAJ).iter().any(|n| n.title == "You are asked as a fallback")
        })
        .await;
        assert!(app.prompts_to(RAJ)[0].fallback.is_some(), "{:?}", app.prompts_to(RAJ));
        assert!(app.prompts_to(OLGA).is_empty());
        let view = app.decide_ok(&id, RAJ, "approve").await;
        assert_eq!(view["state"], "approved");
    }
}

#[tokio::test]
async fn a_silent_approver_is_escalated_to_their_manager_after_the_timeout() {
    for db in test_databases() {
        // Arrange: Kim has one second; then her manager, Vera, is asked.
        let app = spawn_app(AppOptions::new().on(&db).workflow(
            "KIM_ONE_SECOND",
            &format!("user_constant_expression: {{ user: {KIM}, timeout: 1s, on_timeout: escalate }}\n"),
        ))
        .await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-one-second" })).await);

        // Act: nobody answers.
        app.wait_for("Vera is asked and Kim's prompt is closed", async |app| {
            app.prompts_to(VERA).len() == 1 && app.closes_for(KIM).len() == 1
        })
        .await;

        // Assert
        let view = app.wait_for_state(&id, "escalated").await;
        assert_eq!(prompt_approvers(&view, "pending"), [VERA], "[{db}] {view}");
        assert_eq!(prompt_approvers(&view, "dismissed"), [KIM], "[{db}] {view}");
        let closing = &app.closes_for(KIM)[0];
        assert_eq!(closing.headline, "Escalated to Vera Stone after 1s without an answer");
        let replaces = app.prompts_to(VERA)[0].replaces.clone().unwrap_or_default();
        assert!(replaces.contains("Kim Lee"), "{replaces}");
        app.wait_for("Ana is told", async |app| {
            app.notifications_to(ANA).iter().any(|n| n.title == "Request escalated")
        })
        .await;
        let (status, body) = app.decide(&id, KIM, "approve").await;
        assert_eq!(status, 409, "[{db}] the escalated prompt is closed: {body}");
        let view = app.decide_ok(&id, VERA, "approve").await;
        assert_eq!(view["state"], "approved");
    }
}

#[tokio::test]
async fn a_step_with_on_timeout_reject_denies_the_item_when_nobody_answers() {
    for db in test_databases() {
        // Arrange
        let hook = WebhookReceiver::start().await;
        let app = spawn_app(AppOptions::new().on(&db).webhook(&hook).workflow(
            "KIM_OR_REJECT",
            &format!("user_constant_expression: {{ user: {KIM}, timeout: 1s, on_timeout: reject }}\n"),
        ))
        .await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "kim-or-reject" })).await);

        // Act: nobody answers.
        let view = app.wait_for_state(&id, "denied").await;

        // Assert
        assert_eq!(prompt_approvers(&view, "dismissed"), [KIM], "[{db}] {view}");
        app.wait_for("Kim's prompt is closed and Ana is told", async |app| {
            app.closes_for(KIM).len() == 1 && app.notifications_to(ANA).iter().any(|n| n.title == "Access denied")
        })
        .await;
        assert_eq!(app.closes_for(KIM)[0].headline, "Rejected: no decision within 1s");
        hook.wait_until("item.denied is delivered", WAIT, |d| d.iter().any(|d| d.event() == "item.denied")).await;
        assert!(hook.deliveries_of("grant.created").is_empty());
    }
}

#[tokio::test]
async fn a_grant_for_one_second_expires_calls_the_webhook_and_tells_the_holder() {
    for db in test_databases() {
        // Arrange
        let hook = WebhookReceiver::start().await;
        let app = spawn_app(AppOptions::new().on(&db).webhook(&hook)).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce", "duration": "1s" })).await);

        // Act
        let view = app.decide_ok(&id, RAJ, "approve").await;

        // Assert
        let grant = item(&view)["grant"].clone();
        assert_eq!(grant["active"], true, "[{db}] {view}");
        assert!(grant["expires_at"].is_string(), "[{db}] {grant}");
        let grant_id = grant["id"].as_str().unwrap().to_owned();
        app.wait_for("the grant has ended", async |app| app.get_grant(&grant_id).await.1["active"] == false).await;
        let (_, ended) = app.get_grant(&grant_id).await;
        assert_eq!(ended["end_reason"], "expired", "[{db}] {ended}");
        hook.wait_until("grant.ended is delivered", WAIT, |d| d.iter().any(|d| d.event() == "grant.ended")).await;
        let created = hook.deliveries_of("grant.created");
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].json()["expires_at"], grant["expires_at"], "[{db}] the webhook says when it ends");
        app.wait_for("Ana is told her access expired", async |app| {
            app.notifications_to(ANA).iter().any(|n| n.title == "Access expired")
        })
        .await;
        assert_eq!(app.request_view(&id).await["state"], "approved", "the item stays approved");
    }
}

#[tokio::test]
async fn an_approver_can_hand_the_decision_to_a_supervisor_of_their_choice() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        app.wait_for_prompts(&[RAJ]).await;

        // Act
        let (status, view) = app
            .decide_with(
                &id,
                json!({ "approver": RAJ, "verdict": "escalate", "to": VERA, "comment": "above my pay grade" }),
            )
            .await;

        // Assert
        assert_eq!(status, 200, "[{db}] {view}");
        assert_eq!(view["state"], "escalated");
        assert_eq!(prompt_approvers(&view, "pending"), [VERA]);
        let decision = &item(&view)["decisions"][0];
        assert_eq!((decision["verdict"].as_str(), decision["to"].as_str()), (Some("escalate"), Some(VERA)));
        app.wait_for("Vera is asked in Raj's place and Raj's prompt is closed", async |app| {
            app.prompts_to(VERA).len() == 1 && app.closes_for(RAJ).len() == 1
        })
        .await;
        assert_eq!(app.closes_for(RAJ)[0].headline, "You handed this to Vera Stone");
        assert!(app.prompts_to(VERA)[0].replaces.as_deref().unwrap_or_default().contains("Raj Patel"));
        let view = app.decide_ok(&id, VERA, "approve").await;
        assert_eq!(view["state"], "approved");

        // Handing it to oneself, to the requester or to a stranger is refused.
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        for to in [RAJ, ANA, "nobody@example.com"] {
            let (status, body) =
                app.decide_with(&id, json!({ "approver": RAJ, "verdict": "escalate", "to": to })).await;
            assert_eq!(status, 422, "[{db}] escalate to {to}: {body}");
            assert!(body["error"].is_string());
        }
        assert_eq!(app.request_view(&id).await["state"], "requested");
    }
}

#[tokio::test]
async fn the_requester_can_cancel_and_nobody_else_can() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        app.wait_for_prompts(&[RAJ]).await;

        // Act
        let (by_other, other_body) = app.cancel(&id, Some(BEN)).await;
        let (by_requester, view) = app.cancel(&id, Some(ANA)).await;
        let (again, again_body) = app.cancel(&id, None).await;

        // Assert
        assert_eq!(by_other, 403, "[{db}] {other_body}");
        assert!(other_body["error"].is_string());
        assert_eq!(by_requester, 200, "[{db}] {view}");
        assert_eq!(view["state"], "cancelled");
        assert_eq!(prompt_approvers(&view, "dismissed"), [RAJ]);
        assert_eq!(again, 409, "[{db}] {again_body}");
        app.wait_for("Raj's prompt is closed", async |app| app.closes_for(RAJ).len() == 1).await;
        assert_eq!(app.closes_for(RAJ)[0].headline, "Cancelled by Ana Diaz");
        let (status, body) = app.decide(&id, RAJ, "approve").await;
        assert_eq!(status, 409, "[{db}] {body}");
        let (status, body) = app.cancel("req_does_not_exist", None).await;
        assert_eq!(status, 404, "[{db}] {body}");
    }
}

#[tokio::test]
async fn a_holder_can_release_a_grant_early_once() {
    for db in test_databases() {
        // Arrange
        let hook = WebhookReceiver::start().await;
        let app = spawn_app(AppOptions::new().on(&db).webhook(&hook)).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        let view = app.decide_ok(&id, RAJ, "approve").await;
        let grant_id = item(&view)["grant"]["id"].as_str().unwrap().to_owned();

        // Act
        let (status, grant) = app.release_grant(&grant_id, None).await;
        let (again, again_body) = app.release_grant(&grant_id, Some(ANA)).await;

        // Assert
        assert_eq!(status, 200, "[{db}] {grant}");
        assert_eq!(grant["active"], false);
        assert_eq!(grant["end_reason"], "released");
        assert_eq!(grant["expires_at"], serde_json::Value::Null, "it was granted with no end");
        assert_eq!(again, 409, "[{db}] {again_body}");
        hook.wait_until("grant.ended is delivered", WAIT, |d| d.iter().any(|d| d.event() == "grant.ended")).await;
        app.wait_for("Ana is told", async |app| app.notifications_to(ANA).iter().any(|n| n.title == "Access released"))
            .await;
        let (status, body) = app.release_grant("req_nope-1", None).await;
        assert_eq!(status, 404, "[{db}] {body}");
        assert_eq!(app.request_view(&id).await["items"][0]["grant"]["end_reason"], "released");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_while_decisions_are_in_flight_keeps_every_acknowledged_decision() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    for db in test_databases() {
        // Arrange: forty requests waiting for Raj, who answers them one every 3 ms.
        let mut app = spawn_app(AppOptions::new().on(&db)).await;
        let mut ids = Vec::new();
        for _ in 0..40 {
            ids.push(id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await));
        }
        let answered = Arc::new(AtomicUsize::new(0));
        let client = app.client();
        let decisions: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (client, id, answered) = (client.clone(), id.clone(), answered.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(3 * i as u64)).await;
                    let r = client.decide(&id, RAJ, "approve").await;
                    answered.fetch_add(1, Ordering::SeqCst);
                    (id, r)
                })
            })
            .collect();

        // Act: stop as soon as the first answers come back, with more in flight and more to come.
        while answered.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        app.stop().await;
        let mut results = Vec::new();
        for d in decisions {
            results.push(d.await.unwrap());
        }

        // Assert
        let acknowledged: Vec<&String> = results.iter().filter(|(_, (s, _))| *s == 200).map(|(id, _)| id).collect();
        assert!(!acknowledged.is_empty(), "[{db}] some decisions were answered before the stop");
        for (id, (status, body)) in &results {
            assert!(matches!(status, 0 | 200 | 503), "[{db}] {id}: {status} {body}");
        }
        for id in &acknowledged {
            // Read through the test's own connection: the app closed its pools when it stopped.
            let view = signoff::runtime::view::request(app.store(), &app.runtime().catalog(), id)
                .await
                .unwrap()
                .expect("the request is stored");
            assert_eq!(view.state.as_str(), "approved", "[{db}] an acknowledged decision was lost: {id}");
        }
        assert_eq!(verify_trail(&app).await, "intact", "[{db}]");
    }
}

/// `intact` or the problem `signoff::audit::verify` found.
async fn verify_trail(app: &TestApp) -> String {
    match signoff::audit::verify(app.store()).await.unwrap() {
        signoff::audit::Verdict::Intact { .. } => "intact".to_owned(),
        broken => format!("{broken:?}"),
    }
}
