//! Socket Mode against a fake `apps.connections.open` and a local WebSocket server playing Slack's side: a click
//! and a slash command arrive as the same values the HTTP routes produce, and each envelope is acknowledged.

mod fake_slack;

use std::sync::Arc;
use std::time::Duration;

use fake_slack::{APP_TOKEN, FakeSlack};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use signoff_port::{Answer, BoxFuture, ChatUser, MessageRef, Platform};
use signoff_slack::{Interaction, Origin, SlashCommand, SocketHandler, SocketSettings, blocks, ids, run_socket_mode};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

struct Recorder {
    interactions: mpsc::UnboundedSender<(Origin, Interaction)>,
    commands: mpsc::UnboundedSender<SlashCommand>,
}

impl SocketHandler for Recorder {
    fn interaction(&self, origin: Origin, interaction: Interaction) -> BoxFuture<'_, ()> {
        let _ = self.interactions.send((origin, interaction));
        Box::pin(async {})
    }

    fn command(&self, command: SlashCommand) -> BoxFuture<'_, Value> {
        let _ = self.commands.send(command);
        Box::pin(async { blocks::confirmation_reply("req_1", "prod-db (admin)", &["Kim Lee"]) })
    }
}

fn block_actions() -> Value {
    let mut p: Value = serde_json::from_str(include_str!("fixtures/slack_block_actions.json")).unwrap();
    p["container"] =
        json!({"type": "message", "message_ts": "1548261231.000200", "channel_id": "D123", "is_ephemeral": false});
    p["actions"] = json!([{"action_id": ids::ESCALATE, "block_id": "signoff_escalate:tok-s", "type": "users_select",
                           "selected_user": "U0RAJ", "action_ts": "1548426417.840180"}]);
    p["state"] = json!({"values": {"signoff_escalate:tok-s": {ids::ESCALATE: {"type": "users_select", "selected_user": "U0RAJ"}}}});
    p
}

/// Plays Slack's end of one Socket Mode connection: hello, an interactive envelope, a slash command envelope;
/// returns the acknowledgements received.
async fn slack_side(listener: tokio::net::TcpListener, done: oneshot::Sender<Vec<Value>>) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let hello = json!({"type": "hello", "connection_info": {"app_id": "A1234"}, "num_connections": 1,
                       "debug_info": {"host": "applink-fake", "approximate_connection_time": 3600}});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let envelopes = [
        json!({"envelope_id": "env-1", "type": "interactive", "accepts_response_payload": false, "payload": block_actions()}),
        json!({"envelope_id": "env-2", "type": "slash_commands", "accepts_response_payload": true, "payload": {
            "token": "verification-token", "team_id": "T111", "team_domain": "xxx", "channel_id": "C111",
            "channel_name": "random", "user_id": "U111", "user_name": "testxyz", "command": "/request",
            "text": "prod-db admin for 8h", "api_app_id": "A111",
            "response_url": "https://hooks.slack.com/commands/T111/111/xxx", "trigger_id": "111.222.xxx"}}),
    ];
    let mut acks = Vec::new();
    for envelope in envelopes {
        ws.send(Message::text(envelope.to_string())).await.unwrap();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    acks.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
                    break;
                }
                Some(Ok(_)) => continue, // pings
                other => panic!("socket ended: {other:?}"),
            }
        }
    }
    let _ = done.send(acks);
    // Keep the socket open until the client closes it.
    while let Some(Ok(_)) = ws.next().await {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_and_commands_arrive_as_neutral_values_and_are_acknowledged() {
    let fake = FakeSlack::start().await;
    let ws_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fake.set_socket_url(&format!("ws://{}/link/?ticket=fake", ws_listener.local_addr().unwrap()));
    let (acks_tx, acks_rx) = oneshot::channel();
    tokio::spawn(slack_side(ws_listener, acks_tx));

    let (itx, mut irx) = mpsc::unbounded_channel();
    let (ctx, mut crx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let settings = SocketSettings { api_url: fake.api_url(), connections: 1, ..SocketSettings::new(APP_TOKEN.into()) };
    let running =
        tokio::spawn(run_socket_mode(settings, Arc::new(Recorder { interactions: itx, commands: ctx }), async {
            let _ = stop_rx.await;
        }));

    let acks = tokio::time::timeout(Duration::from_secs(15), acks_rx).await.expect("no acknowledgements").unwrap();
    assert_eq!(acks[0], json!({"envelope_id": "env-1"}));
    assert_eq!(acks[1]["envelope_id"], "env-2");
    assert_eq!(acks[1]["payload"]["response_type"], "ephemeral");
    assert!(acks[1]["payload"]["text"].as_str().unwrap().contains("req_1"));
    assert!(acks[1]["payload"]["blocks"].to_string().contains("Kim Lee"));

    let Some((origin, Interaction::Answer { answer, response_url })) = irx.recv().await else { panic!("no answer") };
    // The workspace and trigger survive slack-morphism's typed event, so the core can check and deduplicate.
    assert_eq!(origin.team_id.as_deref(), Some("T9TK3CUKW"));
    assert_eq!(origin.trigger_id.as_deref(), Some("12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3"));
    assert_eq!(answer.token, "tok-s");
    assert_eq!(answer.clicker, ChatUser { platform: Platform::Slack, id: "UA8RXUSPL".to_owned() });
    assert_eq!(answer.answer, Answer::Escalate { to: ChatUser { platform: Platform::Slack, id: "U0RAJ".to_owned() } });
    assert_eq!(
        answer.message,
        Some(MessageRef {
            platform: Platform::Slack,
            channel: "D123".to_owned(),
            message: "1548261231.000200".to_owned()
        })
    );
    assert!(response_url.unwrap().starts_with("https://hooks.slack.com/actions/"));

    let command = crx.recv().await.unwrap();
    assert_eq!(
        (command.command.as_str(), command.text.as_str(), command.user_id.as_str()),
        ("/request", "prod-db admin for 8h", "U111")
    );
    assert_eq!(
        (command.trigger_id.as_str(), command.team_id.as_str(), command.channel_id.as_str()),
        ("111.222.xxx", "T111", "C111")
    );

    let opens = fake.calls_to("apps.connections.open");
    assert_eq!(opens[0].auth.as_deref(), Some(format!("Bearer {APP_TOKEN}").as_str()));

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("did not stop").unwrap().unwrap();
}
