//! The adapter against a fake Slack Web API: what it calls, with what, and what it makes of Slack's answers.

mod fake_slack;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_slack::{BOT_TOKEN, FakeSlack, Scripted};
use serde_json::{Value, json};
use signoff_port::{
    ChatAdapter, ChatError, ChatUser, MessageRef, Notification, Platform, PromptClosing, PromptMessage,
};
use signoff_slack::{SlackAdapter, SlackSettings, blocks, ids};

fn settings(fake: &FakeSlack) -> SlackSettings {
    SlackSettings {
        api_url: fake.api_url(),
        min_interval: Duration::ZERO,
        request_timeout: Duration::from_secs(5),
        ..SlackSettings::new(BOT_TOKEN.into())
    }
}

async fn adapter(fake: &FakeSlack) -> SlackAdapter {
    SlackAdapter::new(settings(fake)).unwrap()
}

fn user(id: &str) -> ChatUser {
    ChatUser { platform: Platform::Slack, id: id.to_owned() }
}

fn prompt(token: &str) -> PromptMessage {
    PromptMessage {
        token: token.to_owned(),
        requester: "Kim Lee".to_owned(),
        beneficiary: None,
        resource: "prod-db".to_owned(),
        role: Some("admin".to_owned()),
        reason: Some("incident 42".to_owned()),
        duration: Some("8h".to_owned()),
        progress: "1 of 2 needed".to_owned(),
        step: None,
        replaces: None,
        fallback: None,
        allow_escalate: true,
        duration_choices: vec!["1h".to_owned()],
        link: None,
        step_up: false,
    }
}

/// The action elements of a posted message.
fn buttons(blocks: &Value) -> Vec<Value> {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn send_prompt_opens_each_dm_once_and_posts_the_prompt_blocks() {
    let fake = FakeSlack::start().await;
    fake.set_delay(Duration::from_millis(20)); // so the concurrent sends really overlap
    let slack = Arc::new(adapter(&fake).await);

    let mut sends = tokio::task::JoinSet::new();
    for (to, token) in [("U1", "t1"), ("U1", "t2"), ("U1", "t3"), ("U2", "t4")] {
        let slack = slack.clone();
        sends.spawn(async move { (to, slack.send_prompt(&user(to), &prompt(token), &mark()).await.unwrap()) });
    }
    let mut refs = Vec::new();
    while let Some(r) = sends.join_next().await {
        refs.push(r.unwrap());
    }
    for (to, r) in &refs {
        assert_eq!(r.platform, Platform::Slack);
        assert_eq!(r.channel, format!("D-{to}"));
        assert!(r.message.starts_with("1700000000."), "{r:?}");
    }
    let opens = fake.calls_to("conversations.open");
    let opened: HashSet<String> = opens.iter().map(|c| c.params["users"].to_string()).collect();
    assert_eq!(opens.len(), 2, "one conversations.open per person: {opened:?}");

    let posts = fake.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 4);
    let mut tokens: Vec<String> = Vec::new();
    for post in &posts {
        assert_eq!(post.auth.as_deref(), Some(format!("Bearer {BOT_TOKEN}").as_str()));
        assert!(post.params["channel"].as_str().unwrap().starts_with("D-U"));
        let text = post.params["text"].as_str().unwrap();
        assert!(text.contains("Kim Lee asks for prod-db") && text.chars().count() <= 4000);
        let els = buttons(&post.params["blocks"]);
        let approve = els.iter().find(|e| e["action_id"].as_str().unwrap().contains("approve")).unwrap();
        let deny = els.iter().find(|e| e["action_id"].as_str().unwrap().contains("deny")).unwrap();
        assert_eq!((approve["style"].as_str(), deny["style"].as_str()), (Some("primary"), Some("danger")));
        assert_eq!(approve["value"], deny["value"]);
        tokens.push(approve["value"].as_str().unwrap().to_owned());
        // Exactly what blocks::prompt_message built.
        let (_, built) = blocks::prompt_message(&prompt(&tokens[tokens.len() - 1]));
        assert_eq!(post.params["blocks"], json!(built));
    }
    tokens.sort();
    assert_eq!(tokens, ["t1", "t2", "t3", "t4"]);
}

#[tokio::test]
async fn close_prompt_updates_that_channel_and_ts_and_removes_the_buttons() {
    let fake = FakeSlack::start().await;
    let slack = adapter(&fake).await;
    let sent = slack.send_prompt(&user("U1"), &prompt("t1"), &mark()).await.unwrap();
    let closing = PromptClosing {
        headline: "Approved by Raj".to_owned(),
        at: "10:42".to_owned(),
        summary: "prod-db (admin), 8h".to_owned(),
        link: None,
    };
    slack.close_prompt(&sent, &closing).await.unwrap();

    let updates = fake.calls_to("chat.update");
    assert_eq!(updates.len(), 1);
    let u = &updates[0].params;
    assert_eq!(
        (u["channel"].as_str().unwrap(), u["ts"].as_str().unwrap()),
        (sent.channel.as_str(), sent.message.as_str())
    );
    assert!(buttons(&u["blocks"]).is_empty());
    assert!(u["blocks"].as_array().unwrap().iter().all(|b| b.get("accessory").is_none()));
    assert!(u["blocks"].to_string().contains("Approved by Raj") && u["blocks"].to_string().contains("10:42"));
    assert_eq!(u["text"], "Approved by Raj: prod-db (admin), 8h");

    let discord = MessageRef { platform: Platform::Discord, ..sent };
    assert!(matches!(slack.close_prompt(&discord, &closing).await, Err(ChatError::Permanent(_))));
}

#[tokio::test]
async fn notify_sends_a_dm() {
    let fake = FakeSlack::start().await;
    let slack = adapter(&fake).await;
    slack
        .notify(
            &user("U9"),
            &Notification { title: "Approved".to_owned(), body: "prod-db for 8h".to_owned(), link: None },
            &mark(),
        )
        .await
        .unwrap();
    let posts = fake.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].params["channel"], "D-U9");
    assert_eq!(posts[0].params["text"], "Approved\nprod-db for 8h");
}

#[tokio::test]
async fn email_recipients_are_looked_up_once() {
    let fake = FakeSlack::start().await;
    fake.add_user("kim@example.com", "UKIM");
    let slack = adapter(&fake).await;
    let a = slack.send_prompt(&user("email:kim@example.com"), &prompt("t1"), &mark()).await.unwrap();
    let b = slack.send_prompt(&user("email:Kim@Example.com"), &prompt("t2"), &mark()).await.unwrap();
    slack
        .notify(
            &user("email:kim@example.com"),
            &Notification { title: "x".to_owned(), body: String::new(), link: None },
            &mark(),
        )
        .await
        .unwrap();
    assert_eq!(a.channel, "D-UKIM");
    assert_eq!(b.channel, "D-UKIM");
    let lookups = fake.calls_to("users.lookupByEmail");
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].params["email"], "kim@example.com");
    assert_eq!(fake.calls_to("conversations.open").len(), 1);

    let err = slack.send_prompt(&user("email:nobody@example.com"), &prompt("t3"), &mark()).await.unwrap_err();
    assert!(matches!(&err, ChatError::Permanent(m) if m.contains("users_not_found")), "{err:?}");
}

#[tokio::test]
async fn a_429_is_rate_limited_with_slacks_retry_after_and_holds_later_calls() {
    let fake = FakeSlack::start().await;
    let slack = adapter(&fake).await;
    fake.fail_next(1, Some("chat.postMessage"), Scripted::RateLimited { retry_after_secs: 1 });
    let err = slack.send_prompt(&user("U1"), &prompt("t1"), &mark()).await.unwrap_err();
    assert_eq!(err, ChatError::RateLimited { retry_after: Duration::from_secs(1) });

    // Nothing else is held: the refused call waits, as the outbox retries it.
    let t0 = Instant::now();
    slack
        .close_prompt(
            &MessageRef { platform: Platform::Slack, channel: "D-U1".to_owned(), message: "1.0".to_owned() },
            &PromptClosing { headline: "h".to_owned(), at: "a".to_owned(), summary: "s".to_owned(), link: None },
        )
        .await
        .unwrap();
    assert!(t0.elapsed() < Duration::from_millis(800), "{:?}", t0.elapsed());
    slack.send_prompt(&user("U1"), &prompt("t1b"), &mark()).await.unwrap();
    assert!(t0.elapsed() < Duration::from_millis(800), "{:?}", t0.elapsed());
    // A refused lookup that deliveries share holds its method for the wait.
    fake.fail_next(1, Some("conversations.open"), Scripted::RateLimited { retry_after_secs: 1 });
    let err = slack.send_prompt(&user("U7"), &prompt("t7"), &mark()).await.unwrap_err();
    assert_eq!(err, ChatError::RateLimited { retry_after: Duration::from_secs(1) });
    let t1 = Instant::now();
    slack.send_prompt(&user("U8"), &prompt("t8"), &mark()).await.unwrap();
    assert!(t1.elapsed() >= Duration::from_millis(800), "{:?}", t1.elapsed());

    // The same without a JSON body, as Slack's docs show a 429.
    fake.fail_next(1, Some("conversations.open"), Scripted::RateLimitedBare { retry_after_secs: 2 });
    let err = slack.send_prompt(&user("U2"), &prompt("t2"), &mark()).await.unwrap_err();
    assert_eq!(err, ChatError::RateLimited { retry_after: Duration::from_secs(2) });
}

#[tokio::test]
async fn a_500_is_transient() {
    let fake = FakeSlack::start().await;
    let slack = adapter(&fake).await;
    fake.fail_next(1, Some("chat.postMessage"), Scripted::ServerError);
    let err = slack.send_prompt(&user("U1"), &prompt("t1"), &mark()).await.unwrap_err();
    assert!(matches!(&err, ChatError::Transient(m) if m.contains("500")), "{err:?}");
    // The next try goes through, on the DM channel opened the first time.
    slack.send_prompt(&user("U1"), &prompt("t1"), &mark()).await.unwrap();
    assert_eq!(fake.calls_to("conversations.open").len(), 1);
}

#[tokio::test]
async fn slack_errors_that_will_not_pass_are_permanent() {
    let fake = FakeSlack::start().await;
    let slack = adapter(&fake).await;
    for code in ["channel_not_found", "missing_scope", "account_inactive"] {
        fake.fail_next(1, Some("chat.update"), Scripted::ApiError(code));
        let m = MessageRef { platform: Platform::Slack, channel: "D1".to_owned(), message: "1.0".to_owned() };
        let c = PromptClosing { headline: "h".to_owned(), at: "a".to_owned(), summary: "s".to_owned(), link: None };
        let err = slack.close_prompt(&m, &c).await.unwrap_err();
        assert!(matches!(&err, ChatError::Permanent(s) if s.contains(code)), "{err:?}");
    }
    fake.fail_next(1, None, Scripted::ApiError("internal_error"));
    assert!(matches!(slack.send_prompt(&user("U1"), &prompt("t"), &mark()).await, Err(ChatError::Transient(_))));
}

#[tokio::test]
async fn a_bad_token_is_permanent_and_never_shown() {
    let fake = FakeSlack::start().await;
    let secret = "xoxb-wrong-token-that-must-not-leak";
    let slack = SlackAdapter::new(SlackSettings { bot_token: secret.into(), ..settings(&fake) }).unwrap();
    let err = slack.send_prompt(&user("U1"), &prompt("t1"), &mark()).await.unwrap_err();
    assert!(matches!(&err, ChatError::Permanent(m) if m.contains("invalid_auth")), "{err:?}");
    assert!(!err.to_string().contains(secret) && !format!("{err:?}").contains(secret));
    assert!(!format!("{slack:?}").contains(secret));
}

#[tokio::test]
async fn a_stuck_call_times_out_as_transient() {
    let fake = FakeSlack::start().await;
    fake.set_delay(Duration::from_millis(500));
    let slack =
        SlackAdapter::new(SlackSettings { request_timeout: Duration::from_millis(100), ..settings(&fake) }).unwrap();
    let err = slack.send_prompt(&user("U1"), &prompt("t1"), &mark()).await.unwrap_err();
    assert!(matches!(err, ChatError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    drop(listener);
    let slack = SlackAdapter::new(SlackSettings { api_url: url, ..SlackSettings::new(BOT_TOKEN.into()) }).unwrap();
    let err = slack.send_prompt(&user("U1"), &prompt("t1"), &mark()).await.unwrap_err();
    assert!(matches!(&err, ChatError::Transient(_)), "{err:?}");
    assert!(!err.to_string().contains(BOT_TOKEN));
}

#[tokio::test]
async fn email_of_reads_the_profile_once() {
    let fake = FakeSlack::start().await;
    fake.add_user("raj@example.com", "URAJ");
    let slack = adapter(&fake).await;
    assert_eq!(slack.email_of("URAJ").await.unwrap().as_deref(), Some("raj@example.com"));
    assert_eq!(slack.email_of("URAJ").await.unwrap().as_deref(), Some("raj@example.com"));
    assert_eq!(fake.calls_to("users.info").len(), 1);
    assert_eq!(slack.email_of("UNOMAIL").await.unwrap(), None);
    assert!(matches!(slack.email_of("XGONE").await, Err(ChatError::Permanent(m)) if m.contains("user_not_found")));
}

#[tokio::test]
async fn open_view_opens_the_deny_modal_with_the_trigger() {
    let fake = FakeSlack::start().await;
    let slack = adapter(&fake).await;
    let modal = blocks::deny_modal("tok-7");
    slack.open_view("123.456.abc", &modal).await.unwrap();
    let opens = fake.calls_to("views.open");
    assert_eq!(opens.len(), 1);
    let p = &opens[0].params;
    assert_eq!(p["trigger_id"], "123.456.abc");
    assert_eq!(p["view"]["private_metadata"], "tok-7");
    assert_eq!(p["view"]["callback_id"], ids::DENY_MODAL);
    assert_eq!(p["view"]["blocks"], modal["blocks"]);

    fake.fail_next(1, Some("views.open"), Scripted::ApiError("trigger_expired"));
    assert!(
        matches!(slack.open_view("old", &modal).await, Err(ChatError::Permanent(m)) if m.contains("trigger_expired"))
    );
}

#[tokio::test]
async fn respond_posts_the_reply_to_the_response_url_without_our_token() {
    let fake = FakeSlack::start().await;
    let slack = adapter(&fake).await;
    let url = format!("http://{}/hooks/actions/A1/2/secret", fake.addr);
    slack.respond(&url, &blocks::refused_reply("Already approved by Kim.")).await.unwrap();
    let hooks = fake.calls_to("response_url");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].auth, None);
    assert_eq!(hooks[0].params["replace_original"], false);
    assert_eq!(hooks[0].params["text"], "Already approved by Kim.");
}

/// A thousand prompts at once, as the outbox would deliver a large fan-out: the adapter keeps at most
/// `max_in_flight` calls open, a 429 midway is waited out by the refused delivery, and the refused deliveries
/// succeed when retried (as the outbox does), so none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fan_out_of_a_thousand_prompts_is_paced_and_loses_nothing() {
    const PROMPTS: usize = 1000;
    const PEOPLE: usize = 100;
    const MAX_IN_FLIGHT: usize = 8;
    let fake = FakeSlack::start().await;
    fake.set_delay(Duration::from_millis(2));
    fake.stop_echoing_blocks();
    let slack = Arc::new(
        SlackAdapter::new(SlackSettings {
            max_in_flight: MAX_IN_FLIGHT,
            min_interval: Duration::from_millis(1),
            ..settings(&fake)
        })
        .unwrap(),
    );

    let started = Instant::now();
    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..PROMPTS {
        let slack = slack.clone();
        let fake = fake.clone();
        deliveries.spawn(async move {
            if i == PROMPTS / 3 {
                fake.fail_next(1, Some("chat.postMessage"), Scripted::RateLimited { retry_after_secs: 1 });
            }
            let to = user(&format!("U{:03}", i % PEOPLE));
            let p = prompt(&format!("tok-{i:04}"));
            let mut attempts = 0;
            loop {
                attempts += 1;
                match slack.send_prompt(&to, &p, &mark()).await {
                    Ok(r) => return (r, attempts),
                    Err(ChatError::RateLimited { retry_after }) => tokio::time::sleep(retry_after).await,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        });
    }
    let mut retried = 0;
    let mut delivered = 0;
    while let Some(r) = deliveries.join_next().await {
        let (_, attempts) = r.unwrap();
        delivered += 1;
        retried += usize::from(attempts > 1);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "fan-out: {PROMPTS} prompts to {PEOPLE} people in {elapsed:?} ({} calls, at most {} in flight, {retried} retried after 429)",
        fake.calls().len(),
        fake.max_in_flight()
    );

    assert_eq!(delivered, PROMPTS);
    assert_eq!(retried, 1);
    let posted: HashSet<String> = fake
        .calls_to("chat.postMessage")
        .iter()
        .filter(|c| !c.scripted)
        .map(|c| buttons(&c.params["blocks"])[0]["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(posted.len(), PROMPTS, "every prompt posted once it was accepted");
    assert_eq!(fake.calls_to("conversations.open").len(), PEOPLE);
    assert!(fake.max_in_flight() <= MAX_IN_FLIGHT, "{} in flight", fake.max_in_flight());
    // How fast the fan-out goes is a benchmark's question (BENCHMARKS.md), not this test's.

    // Starts were spaced by min_interval: the calls took at least that long in all.
    assert!(elapsed >= Duration::from_millis((PROMPTS + PEOPLE) as u64) - Duration::from_millis(100));
}

/// The mark every message of these tests carries.
fn mark() -> signoff_port::Mark {
    signoff_port::Mark { key: "item:1:0:test".to_owned(), token: None, since_ms: 0 }
}
