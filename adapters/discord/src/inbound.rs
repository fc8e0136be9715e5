//! Incoming interactions: a verified request body turned into what the core acts on.
//!
//! Discord POSTs one JSON interaction per request; `type` says which kind
//! (<https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type>):
//! 1 PING, 2 APPLICATION_COMMAND (our `/request`), 3 MESSAGE_COMPONENT (a button or select on a prompt),
//! 4 APPLICATION_COMMAND_AUTOCOMPLETE (the `resource` option being typed), 5 MODAL_SUBMIT (the
//! deny-reason form).
//!
//! Why not serenity's `Interaction` model: serenity 0.12.5 deserializes the whole interaction, including the
//! full `message` and `member` objects, and makes fields mandatory that Discord added over time: `locale`,
//! `entitlements`, `attachment_size_limit` and `member.flags`. So it rejects Discord's own "Sample Component
//! Interaction" (which predates them), and any later change of that kind would make a signed, valid click
//! unreadable, which for an approver means a button that does nothing. This module reads only the fields it
//! needs with serde_json and ignores the rest; serenity still parses current payloads (a test checks both).
//!
//! Who acted is `member.user` in a server and `user` in a DM (the prompts are DMs); both are read.

use serde::Deserialize;
use serde_json::Value;
use signoff_port::{Answer, ChatUser, IncomingAnswer, MessageRef, Platform};

use crate::commands;
use crate::custom_id::{Action, CustomId, CustomIdError};
use crate::verify::{Verifier, VerifyError};

/// An interaction, as far as signoff is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Discord checking the endpoint: answer [`crate::respond::pong`].
    Ping,
    /// Someone ran `/request`.
    Command(RequestCommand),
    /// Someone is typing an option of `/request` that has autocomplete: answer
    /// [`crate::respond::autocomplete`].
    Autocomplete {
        /// Who is typing (a Discord user id).
        user: String,
        /// The option being typed (`resource`).
        option: String,
        /// What has been typed so far (may be empty).
        partial: String,
    },
    /// An approver clicked Approve or Deny, picked someone to hand the decision to, or submitted the
    /// deny-reason form (a [`Answer::Deny`] with its comment).
    Click(IncomingAnswer),
    /// Someone clicked "Deny with reason…": answer [`crate::respond::reason_modal`] for this token. Nothing is
    /// decided until the form comes back.
    AskReason {
        /// The prompt's token.
        token: String,
        /// Who clicked (a Discord user id).
        clicker: String,
    },
    /// Anything else: another command, a component that is not signoff's, a modal. Answer with an ephemeral
    /// message; the text says what it was, for the log.
    Unknown(String),
}

/// `/request`, with its options read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCommand {
    /// Who ran it (a Discord user id; the core maps it to a directory user by `discord_id`).
    pub user: String,
    /// The `resource` option: a resource id when picked from autocomplete, else what was typed.
    pub resource: String,
    /// The `role` option.
    pub role: Option<String>,
    /// Who the access is for, as Discord user ids from the `for` option; empty means the requester.
    pub for_: Vec<String>,
    /// The `duration` option, as typed ("8h").
    pub duration: Option<String>,
    /// The `reason` option.
    pub reason: Option<String>,
    /// The interaction, for a follow-up after a deferred answer.
    pub interaction: InteractionRef,
}

/// An interaction's id and token: what a follow-up or an edit of the original response needs
/// (`/webhooks/{application}/{token}/messages/@original`, valid for 15 minutes).
#[derive(Clone, PartialEq, Eq)]
pub struct InteractionRef {
    /// The interaction id.
    pub id: String,
    /// The interaction token. It lets anyone edit our response for 15 minutes, so `Debug` does not print it.
    pub token: String,
}

impl std::fmt::Debug for InteractionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionRef").field("id", &self.id).field("token", &"<redacted>").finish()
    }
}

/// Why a signed body could not be read. The body came from Discord, so this is a bug on one side or the
/// other: answer 400 and log it.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not shaped like an interaction.
    #[error("not a Discord interaction: {0}")]
    Json(#[from] serde_json::Error),
    /// A field signoff needs is absent.
    #[error("Discord interaction without {0}")]
    Missing(&'static str),
    /// A component claims to be signoff's but its `custom_id` is malformed.
    #[error(transparent)]
    CustomId(#[from] CustomIdError),
}

/// Why the endpoint refuses a request, with the status to answer.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// The signature check failed: answer 401, as Discord requires.
    #[error(transparent)]
    Unauthorized(#[from] VerifyError),
    /// Signed, but unreadable: answer 400.
    #[error(transparent)]
    Malformed(#[from] ParseError),
}

impl Rejected {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Rejected::Unauthorized(_) => 401,
            Rejected::Malformed(_) => 400,
        }
    }
}

/// A verified interaction with what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Discord's id for this interaction: a replay of the same request carries the same one.
    pub id: String,
    /// The application it was sent to; the core refuses any other than its own.
    pub application_id: Option<String>,
    /// What it asks.
    pub inbound: Inbound,
}

/// The endpoint's first step: verifies the signature and the timestamp's freshness (`now`, Unix seconds) on the
/// raw body, and only then parses it.
pub fn parse_verified(
    verifier: &Verifier,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Envelope, Rejected> {
    verifier.verify_fresh(signature, timestamp, body, now)?;
    Ok(parse_envelope(body)?)
}

/// Parses an interaction body with its id and application. Call it only on a body that [`Verifier::verify`]
/// accepted (or use [`parse_verified`]).
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, ParseError> {
    let raw: RawInteraction = serde_json::from_slice(body)?;
    let (id, application_id) = (raw.id.clone(), raw.application_id.clone().filter(|a| !a.is_empty()));
    Ok(Envelope { id, application_id, inbound: parse_raw(raw)? })
}

/// Parses an interaction body. Call it only on a body that [`Verifier::verify`] accepted (or use
/// [`parse_verified`]).
pub fn parse(body: &[u8]) -> Result<Inbound, ParseError> {
    parse_raw(serde_json::from_slice(body)?)
}

fn parse_raw(raw: RawInteraction) -> Result<Inbound, ParseError> {
    match raw.kind {
        1 => Ok(Inbound::Ping),
        2 => command(raw),
        3 => component(raw),
        4 => autocomplete(raw),
        5 => modal_submit(raw),
        other => Ok(Inbound::Unknown(format!("interaction type {other}"))),
    }
}

fn command(raw: RawInteraction) -> Result<Inbound, ParseError> {
    let user = raw.actor().ok_or(ParseError::Missing("member.user or user"))?;
    let data = raw.data.ok_or(ParseError::Missing("data"))?;
    let name = data.name.unwrap_or_default();
    if name != commands::REQUEST {
        return Ok(Inbound::Unknown(format!("command /{name}")));
    }
    let text = |option: &str| {
        data.options.iter().find(|o| o.name == option).and_then(RawOption::text).filter(|s| !s.is_empty())
    };
    let resource = text(commands::OPTION_RESOURCE).ok_or(ParseError::Missing("the resource option"))?;
    Ok(Inbound::Command(RequestCommand {
        user,
        resource,
        role: text(commands::OPTION_ROLE),
        for_: text(commands::OPTION_FOR).into_iter().collect(),
        duration: text(commands::OPTION_DURATION),
        reason: text(commands::OPTION_REASON),
        interaction: InteractionRef { id: raw.id, token: raw.token },
    }))
}

fn autocomplete(raw: RawInteraction) -> Result<Inbound, ParseError> {
    let user = raw.actor().ok_or(ParseError::Missing("member.user or user"))?;
    let data = raw.data.ok_or(ParseError::Missing("data"))?;
    let focused = focused(&data.options).ok_or(ParseError::Missing("a focused option"))?;
    Ok(Inbound::Autocomplete {
        user,
        option: focused.name.clone(),
        partial: focused.value.as_ref().map(value_text).unwrap_or_default(),
    })
}

/// The option being typed; subcommands nest options, so look inside them too.
fn focused(options: &[RawOption]) -> Option<&RawOption> {
    options.iter().find_map(|o| if o.focused { Some(o) } else { focused(&o.options) })
}

fn component(raw: RawInteraction) -> Result<Inbound, ParseError> {
    let clicker = raw.actor().ok_or(ParseError::Missing("member.user or user"))?;
    let message = raw.message.as_ref().and_then(|m| {
        let channel = m.channel_id.clone().or_else(|| raw.channel_id.clone()).or_else(|| raw.channel.clone()?.id)?;
        Some(MessageRef { platform: Platform::Discord, channel, message: m.id.clone() })
    });
    let data = raw.data.ok_or(ParseError::Missing("data"))?;
    let custom_id = data.custom_id.ok_or(ParseError::Missing("data.custom_id"))?;
    let Some(id) = CustomId::parse(&custom_id)? else {
        return Ok(Inbound::Unknown(format!("component {custom_id:?}")));
    };
    let answer = match id.action {
        Action::Approve { duration } => Answer::Approve { duration },
        Action::Deny => Answer::Deny { comment: None },
        Action::DenyWithReason => return Ok(Inbound::AskReason { token: id.token, clicker }),
        Action::Escalate => {
            let to = data.values.first().map(value_text).filter(|s| !s.is_empty());
            let to = to.ok_or(ParseError::Missing("a selected user in data.values"))?;
            Answer::Escalate { to: ChatUser { platform: Platform::Discord, id: to } }
        }
    };
    Ok(Inbound::Click(IncomingAnswer {
        token: id.token,
        clicker: ChatUser { platform: Platform::Discord, id: clicker },
        answer,
        message,
    }))
}

/// The deny-reason form coming back: a denial with the text written in it.
fn modal_submit(raw: RawInteraction) -> Result<Inbound, ParseError> {
    let clicker = raw.actor().ok_or(ParseError::Missing("member.user or user"))?;
    let message = raw.message.as_ref().and_then(|m| {
        let channel = m.channel_id.clone().or_else(|| raw.channel_id.clone()).or_else(|| raw.channel.clone()?.id)?;
        Some(MessageRef { platform: Platform::Discord, channel, message: m.id.clone() })
    });
    let data = raw.data.ok_or(ParseError::Missing("data"))?;
    let custom_id = data.custom_id.ok_or(ParseError::Missing("data.custom_id"))?;
    let id = match CustomId::parse(&custom_id)? {
        Some(id @ CustomId { action: Action::DenyWithReason, .. }) => id,
        _ => return Ok(Inbound::Unknown(format!("modal {custom_id:?}"))),
    };
    let reason = find_input(&data.components, crate::respond::REASON_INPUT)
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or(ParseError::Missing("the reason in data.components"))?;
    Ok(Inbound::Click(IncomingAnswer {
        token: id.token,
        clicker: ChatUser { platform: Platform::Discord, id: clicker },
        answer: Answer::Deny { comment: Some(reason) },
        message,
    }))
}

/// The value of the text input `custom_id` in a modal submission's components, wherever it sits: in an action
/// row's `components` (the legacy layout) or in a label's `component` (the newer one).
fn find_input<'a>(components: &'a [Value], custom_id: &str) -> Option<&'a str> {
    components.iter().find_map(|c| {
        if c.get("custom_id").and_then(Value::as_str) == Some(custom_id) {
            return c.get("value").and_then(Value::as_str);
        }
        let nested = c.get("components").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        find_input(nested, custom_id).or_else(|| find_input(c.get("component").map(std::slice::from_ref)?, custom_id))
    })
}

/// An option value or select value as text: strings as they are, numbers written out (snowflakes always
/// arrive as strings, but an integer option would not).
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The fields of an interaction that signoff reads; serde ignores the rest.
#[derive(Deserialize)]
struct RawInteraction {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    id: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    application_id: Option<String>,
    data: Option<RawData>,
    member: Option<RawMember>,
    user: Option<RawUser>,
    message: Option<RawMessage>,
    channel_id: Option<String>,
    channel: Option<RawChannel>,
}

impl RawInteraction {
    /// Who acted: `member.user` in a server, `user` in a DM.
    fn actor(&self) -> Option<String> {
        let user = self.member.as_ref().and_then(|m| m.user.as_ref()).or(self.user.as_ref())?;
        Some(user.id.clone()).filter(|id| !id.is_empty())
    }
}

#[derive(Deserialize)]
struct RawData {
    name: Option<String>,
    #[serde(default)]
    options: Vec<RawOption>,
    custom_id: Option<String>,
    #[serde(default)]
    values: Vec<Value>,
    /// A modal submission's inputs.
    #[serde(default)]
    components: Vec<Value>,
}

#[derive(Deserialize)]
struct RawOption {
    name: String,
    value: Option<Value>,
    #[serde(default)]
    focused: bool,
    #[serde(default)]
    options: Vec<RawOption>,
}

impl RawOption {
    fn text(&self) -> Option<String> {
        self.value.as_ref().map(value_text)
    }
}

#[derive(Deserialize)]
struct RawMember {
    user: Option<RawUser>,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
}

#[derive(Deserialize)]
struct RawMessage {
    id: String,
    channel_id: Option<String>,
}

#[derive(Deserialize, Clone)]
struct RawChannel {
    id: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn parse_value(v: Value) -> Inbound {
        parse(v.to_string().as_bytes()).unwrap()
    }

    /// A component click in a DM, shaped like a current Discord payload (with the newer fields).
    fn dm_click(custom_id: &str, component_type: u8, values: Option<Value>) -> Value {
        let mut data = json!({ "custom_id": custom_id, "component_type": component_type, "id": 3 });
        if let Some(values) = values {
            data["values"] = values;
            data["resolved"] =
                json!({ "users": { "310000000000000002": { "id": "310000000000000002", "username": "raj" } } });
        }
        json!({
            "type": 3, "version": 1, "id": "1300000000000000001", "application_id": "1200000000000000000",
            "token": "aW50ZXJhY3Rpb24tdG9rZW4", "channel_id": "1310000000000000001",
            "channel": { "id": "1310000000000000001", "type": 1 },
            "user": { "id": "310000000000000001", "username": "kim", "discriminator": "0", "global_name": "Kim Lee" },
            "message": {
                "id": "1320000000000000001", "channel_id": "1310000000000000001", "type": 0, "content": "",
                "components": [{ "type": 1, "components": [{ "type": 2, "style": 3, "label": "Approve", "custom_id": custom_id }] }]
            },
            "data": data,
            "app_permissions": "442368", "locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": { "0": "290926798626357999" }, "context": 1,
            "attachment_size_limit": 10485760
        })
    }

    #[test]
    fn a_ping_is_a_ping() {
        let body = br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;
        assert_eq!(parse(body).unwrap(), Inbound::Ping);
    }

    #[test]
    fn discords_sample_component_interaction_parses_although_serenity_rejects_it() {
        let body = include_bytes!("../tests/fixtures/discord_component_interaction.json");
        // The sample's custom_id is not ours: it is read (clicker, message) and reported as unknown.
        assert_eq!(parse(body).unwrap(), Inbound::Unknown("component \"click_one\"".to_owned()));
        assert!(serde_json::from_slice::<serenity::all::Interaction>(body).is_err());
    }

    #[test]
    fn discords_sample_with_our_custom_id_is_an_approve_by_the_guild_member() {
        let body = include_str!("../tests/fixtures/discord_component_interaction.json");
        let body = body.replace(
            "\"custom_id\": \"click_one\",\n        \"component_type\"",
            &format!("\"custom_id\": \"so:a:{TOKEN}\",\n        \"component_type\""),
        );
        let Inbound::Click(click) = parse(body.as_bytes()).unwrap() else { panic!("not a click") };
        assert_eq!(click.token, TOKEN);
        assert_eq!(click.clicker, ChatUser { platform: Platform::Discord, id: "53908232506183680".into() });
        assert_eq!(click.answer, Answer::Approve { duration: None });
        assert_eq!(
            click.message,
            Some(MessageRef {
                platform: Platform::Discord,
                channel: "345626669114982402".into(),
                message: "844397162624450620".into()
            })
        );
    }

    #[test]
    fn approve_and_deny_buttons_in_a_dm_become_answers_by_the_dm_user() {
        let approve = parse_value(dm_click(&format!("so:a:{TOKEN}"), 2, None));
        let expected_message = MessageRef {
            platform: Platform::Discord,
            channel: "1310000000000000001".into(),
            message: "1320000000000000001".into(),
        };
        assert_eq!(
            approve,
            Inbound::Click(IncomingAnswer {
                token: TOKEN.into(),
                clicker: ChatUser { platform: Platform::Discord, id: "310000000000000001".into() },
                answer: Answer::Approve { duration: None },
                message: Some(expected_message.clone()),
            })
        );
        let Inbound::Click(deny) = parse_value(dm_click(&format!("so:d:{TOKEN}"), 2, None)) else { panic!() };
        assert_eq!(deny.answer, Answer::Deny { comment: None });
        let Inbound::Click(shorter) = parse_value(dm_click(&format!("so:a:{TOKEN}:4h"), 2, None)) else { panic!() };
        assert_eq!(shorter.answer, Answer::Approve { duration: Some("4h".into()) });
    }

    #[test]
    fn serenity_needs_fields_the_sample_lacks_and_we_do_not() {
        // What serenity 0.12.5's model requires beyond Discord's sample: `member.flags`, `locale`, `entitlements`
        // and `attachment_size_limit`. With them it parses; the adapter reads the sample without them.
        let body = include_bytes!("../tests/fixtures/discord_component_interaction.json");
        let mut v: Value = serde_json::from_slice(body).unwrap();
        v["member"]["flags"] = json!(0);
        v["locale"] = json!("en-US");
        v["entitlements"] = json!([]);
        let err = serde_json::from_value::<serenity::all::Interaction>(v.clone()).unwrap_err();
        assert!(err.to_string().contains("attachment_size_limit"), "{err}");
        v["attachment_size_limit"] = json!(10485760);
        assert!(serde_json::from_value::<serenity::all::Interaction>(v).is_ok());
    }

    #[test]
    fn the_escalate_user_select_hands_to_the_picked_user() {
        let v = dm_click(&format!("so:e:{TOKEN}"), 5, Some(json!(["310000000000000002"])));
        let Inbound::Click(click) = parse_value(v) else { panic!("not a click") };
        assert_eq!(
            click.answer,
            Answer::Escalate { to: ChatUser { platform: Platform::Discord, id: "310000000000000002".into() } }
        );
    }

    #[test]
    fn an_escalate_select_without_a_value_is_an_error() {
        let v = dm_click(&format!("so:e:{TOKEN}"), 5, Some(json!([])));
        assert!(matches!(parse(v.to_string().as_bytes()), Err(ParseError::Missing(_))));
    }

    #[test]
    fn a_malformed_id_of_our_scheme_is_an_error_and_another_scheme_is_unknown() {
        let bad = dm_click("so:z:abc", 2, None);
        assert!(matches!(parse(bad.to_string().as_bytes()), Err(ParseError::CustomId(_))));
        assert_eq!(parse_value(dm_click("other-app:1", 2, None)), Inbound::Unknown("component \"other-app:1\"".into()));
    }

    #[test]
    fn a_click_on_a_components_v2_message_still_parses() {
        let mut v = dm_click(&format!("so:d:{TOKEN}"), 2, None);
        v["message"]["flags"] = json!(32768);
        v["message"]["components"] =
            json!([{ "type": 17, "id": 1, "components": [{ "type": 10, "id": 2, "content": "hi" }] }]);
        assert!(matches!(parse_value(v), Inbound::Click(_)));
    }

    fn request_command(options: Value, in_guild: bool) -> Value {
        let mut v = json!({
            "type": 2, "version": 1, "id": "1300000000000000009", "application_id": "1200000000000000000",
            "token": "Y29tbWFuZC10b2tlbg", "channel_id": "1310000000000000009",
            "data": { "id": "1250000000000000000", "name": "request", "type": 1, "options": options },
            "locale": "en-US", "entitlements": [], "attachment_size_limit": 10485760, "context": 0
        });
        let user = json!({ "id": "310000000000000001", "username": "kim" });
        if in_guild {
            v["guild_id"] = json!("290926798626357999");
            v["member"] = json!({ "user": user, "roles": [], "permissions": "0", "flags": 0 });
        } else {
            v["user"] = user;
        }
        v
    }

    #[test]
    fn request_with_every_option_is_read_in_a_server() {
        let options = json!([
            { "name": "resource", "type": 3, "value": "github-admin" },
            { "name": "role", "type": 3, "value": "maintainer" },
            { "name": "for", "type": 6, "value": "310000000000000003" },
            { "name": "duration", "type": 3, "value": "8h" },
            { "name": "reason", "type": 3, "value": "  release day  " }
        ]);
        let mut v = request_command(options, true);
        v["data"]["resolved"] =
            json!({ "users": { "310000000000000003": { "id": "310000000000000003", "username": "ana" } } });
        assert_eq!(
            parse_value(v),
            Inbound::Command(RequestCommand {
                user: "310000000000000001".into(),
                resource: "github-admin".into(),
                role: Some("maintainer".into()),
                for_: vec!["310000000000000003".into()],
                duration: Some("8h".into()),
                reason: Some("release day".into()),
                interaction: InteractionRef { id: "1300000000000000009".into(), token: "Y29tbWFuZC10b2tlbg".into() },
            })
        );
    }

    #[test]
    fn request_with_only_the_resource_in_a_dm() {
        let v = request_command(json!([{ "name": "resource", "type": 3, "value": "vpn" }]), false);
        let Inbound::Command(cmd) = parse_value(v) else { panic!("not a command") };
        assert_eq!((cmd.user.as_str(), cmd.resource.as_str()), ("310000000000000001", "vpn"));
        assert_eq!((cmd.role, cmd.for_, cmd.duration, cmd.reason), (None, vec![], None, None));
    }

    #[test]
    fn request_without_a_resource_is_an_error_and_another_command_is_unknown() {
        let v = request_command(json!([{ "name": "role", "type": 3, "value": "x" }]), false);
        assert!(matches!(parse(v.to_string().as_bytes()), Err(ParseError::Missing(_))));
        let mut other = request_command(json!([]), false);
        other["data"]["name"] = json!("ping");
        assert_eq!(parse_value(other), Inbound::Unknown("command /ping".into()));
    }

    #[test]
    fn autocomplete_reports_the_focused_option_and_what_was_typed() {
        let mut v = request_command(
            json!([
                { "name": "resource", "type": 3, "value": "git", "focused": true },
                { "name": "role", "type": 3, "value": "admin" }
            ]),
            true,
        );
        v["type"] = json!(4);
        assert_eq!(
            parse_value(v),
            Inbound::Autocomplete {
                user: "310000000000000001".into(),
                option: "resource".into(),
                partial: "git".into()
            }
        );
    }

    #[test]
    fn autocomplete_with_nothing_typed_yet_has_an_empty_partial() {
        let mut v = request_command(json!([{ "name": "resource", "type": 3, "value": "", "focused": true }]), false);
        v["type"] = json!(4);
        assert!(matches!(parse_value(v), Inbound::Autocomplete { partial, .. } if partial.is_empty()));
    }

    #[test]
    fn not_json_is_a_parse_error() {
        assert!(matches!(parse(b"type=1"), Err(ParseError::Json(_))));
        assert!(matches!(parse(br#"{"id":"1"}"#), Err(ParseError::Json(_))));
    }

    #[test]
    fn deny_with_reason_asks_for_the_reason_and_decides_nothing() {
        let v = dm_click(&format!("so:r:{TOKEN}"), 2, None);
        assert_eq!(parse_value(v), Inbound::AskReason { token: TOKEN.into(), clicker: "310000000000000001".into() });
    }

    fn modal_submit(custom_id: &str, components: Value) -> Value {
        json!({
            "type": 5, "id": "1", "application_id": "2", "token": "t",
            "channel_id": "99", "user": { "id": "80351110224678912", "username": "kim" },
            "message": { "id": "555", "channel_id": "99" },
            "data": { "custom_id": custom_id, "components": components }
        })
    }

    #[test]
    fn the_reason_form_comes_back_as_a_denial_with_its_text_in_either_layout() {
        let legacy =
            json!([{ "type": 1, "components": [{ "type": 4, "custom_id": "reason", "value": " not on call \n" }] }]);
        let labelled =
            json!([{ "type": 18, "id": 1, "component": { "type": 4, "custom_id": "reason", "value": "not on call" } }]);
        for components in [legacy, labelled] {
            let Inbound::Click(a) = parse_value(modal_submit(&format!("so:r:{TOKEN}"), components)) else { panic!() };
            assert_eq!(a.token, TOKEN);
            assert_eq!(a.clicker.id, "80351110224678912");
            assert_eq!(a.answer, Answer::Deny { comment: Some("not on call".into()) });
            assert_eq!(a.message.map(|m| (m.channel, m.message)), Some(("99".into(), "555".into())));
        }
    }

    #[test]
    fn a_reason_form_without_a_reason_is_an_error_and_another_modal_is_unknown() {
        let empty = json!([{ "type": 1, "components": [{ "type": 4, "custom_id": "reason", "value": "  " }] }]);
        let body = modal_submit(&format!("so:r:{TOKEN}"), empty).to_string();
        assert!(parse(body.as_bytes()).is_err());
        let other = modal_submit("someone-elses-form", json!([])).to_string();
        assert!(matches!(parse(other.as_bytes()).unwrap(), Inbound::Unknown(_)));
        let approve = modal_submit(&format!("so:a:{TOKEN}"), json!([])).to_string();
        assert!(matches!(parse(approve.as_bytes()).unwrap(), Inbound::Unknown(_)));
    }

    #[test]
    fn unknown_types_are_unknown() {
        assert_eq!(parse(br#"{"type":99}"#).unwrap(), Inbound::Unknown("interaction type 99".into()));
    }

    #[test]
    fn the_interaction_token_is_not_printed() {
        let r = InteractionRef { id: "1".into(), token: "secret-token".into() };
        assert!(!format!("{r:?}").contains("secret-token"));
    }
}
