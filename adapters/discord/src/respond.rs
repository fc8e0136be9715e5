//! Interaction responses: the JSON that `POST /discord/interactions` answers with.
//!
//! Discord wants the first answer to every interaction within 3 seconds, either in the HTTP response body
//! (what signoff does: no second request, no token to keep) or by a callback request
//! (<https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction>).
//! Every body here is sent with status 200 and `Content-Type: application/json` ([`CONTENT_TYPE`]).
//!
//! | function | type | use |
//! | --- | --- | --- |
//! | [`pong`] | 1 PONG | answer a PING |
//! | [`ephemeral`] | 4 CHANNEL_MESSAGE_WITH_SOURCE, flags 64 | a reply only the user sees (refusals, "request sent") |
//! | [`deferred_ephemeral`] | 5 DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, flags 64 | "thinking…" for a command that needs longer than 3s |
//! | [`deferred_update`] | 6 DEFERRED_UPDATE_MESSAGE | acknowledge a click now; close the prompt later with `close_prompt` |
//! | [`update_message`] | 7 UPDATE_MESSAGE | replace the clicked prompt with how it ended |
//! | [`autocomplete`] | 8 APPLICATION_COMMAND_AUTOCOMPLETE_RESULT | suggestions for `resource` |
//! | [`reason_modal`] | 9 MODAL | the form behind "Deny with reason…" |
//!
//! Bodies with content are serenity's `CreateInteractionResponse` serialized, so they match the builders used
//! for REST. PONG and the deferred update are written by hand as `{"type":1}` and `{"type":6}`: serenity adds
//! `"data": null`, which the documentation never shows, and the PONG is what the Developer Portal checks before
//! it accepts the endpoint at all.

use serde_json::{Value, json};
use serenity::all::{
    AutocompleteChoice, CreateActionRow, CreateAutocompleteResponse, CreateInputText, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateModal, InputTextStyle,
};
use signoff_port::{ClickReply, PromptClosing};

use crate::components::{CONTENT_MAX, closing_content, closing_embed, escape_markdown, no_mentions, truncate};
use crate::custom_id::{CustomId, CustomIdError};

/// The `Content-Type` of every response body.
pub const CONTENT_TYPE: &str = "application/json";
/// Discord shows at most 25 autocomplete choices.
pub const AUTOCOMPLETE_MAX_CHOICES: usize = 25;
/// An autocomplete choice's name and string value are each at most 100 characters.
pub const AUTOCOMPLETE_TEXT_MAX: usize = 100;
/// The `EPHEMERAL` message flag, `1 << 6`.
pub const FLAG_EPHEMERAL: u64 = 64;

/// Answers a PING: `{"type":1}`.
pub fn pong() -> Value {
    json!({ "type": 1 })
}

/// Replaces the clicked prompt with how it ended, and removes its components (type 7).
pub fn update_message(closing: &PromptClosing) -> Value {
    let message = CreateInteractionResponseMessage::new()
        .content(closing_content(closing))
        .embeds(vec![closing_embed(closing)])
        .components(vec![])
        .allowed_mentions(no_mentions());
    to_value(&CreateInteractionResponse::UpdateMessage(message))
}

/// A message only the person who acted sees (type 4 with the EPHEMERAL flag): refusals, confirmations.
pub fn ephemeral(text: &str) -> Value {
    let message = CreateInteractionResponseMessage::new()
        .content(truncate(&escape_markdown(text), CONTENT_MAX))
        .ephemeral(true)
        .allowed_mentions(no_mentions());
    to_value(&CreateInteractionResponse::Message(message))
}

/// "signoff is thinking…", visible only to the person who acted (type 5, EPHEMERAL); complete it within 15
/// minutes with `PATCH /webhooks/{application}/{interaction token}/messages/@original`.
pub fn deferred_ephemeral() -> Value {
    to_value(&CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true)))
}

/// Acknowledges a click without changing the message yet (type 6); the prompt can then be closed with
/// [`crate::DiscordAdapter`]'s `close_prompt`, since the bot wrote it.
pub fn deferred_update() -> Value {
    json!({ "type": 6 })
}

/// Autocomplete suggestions as `(name shown, value sent)` pairs (type 8). At most 25 are sent; names longer
/// than 100 characters are cut, and a value longer than 100 (which Discord would refuse, and which cannot
/// be cut without changing it) is left out.
pub fn autocomplete(choices: &[(String, String)]) -> Value {
    let choices = choices
        .iter()
        .filter(|(_, value)| !value.is_empty() && value.chars().count() <= AUTOCOMPLETE_TEXT_MAX)
        .take(AUTOCOMPLETE_MAX_CHOICES)
        .map(|(name, value)| {
            let name = if name.is_empty() { value.clone() } else { truncate(name, AUTOCOMPLETE_TEXT_MAX) };
            AutocompleteChoice::new(name, value.clone())
        })
        .collect();
    to_value(&CreateInteractionResponse::Autocomplete(CreateAutocompleteResponse::new().set_choices(choices)))
}

/// The `custom_id` of the reason field in [`reason_modal`]; the submission is read by it.
pub const REASON_INPUT: &str = "reason";
/// The longest reason the form takes, in characters (the audit trail and the requester's DM carry it).
pub const REASON_MAX: u16 = 1000;

/// Answers a click on "Deny with reason…" with a form asking why. Its submission comes back as a modal
/// submission whose `custom_id` is the button's (`so:r:<token>`), with the text in [`REASON_INPUT`]; that is
/// where the denial is decided, so opening the form commits nothing.
pub fn reason_modal(token: &str) -> Result<Value, CustomIdError> {
    let input = CreateInputText::new(InputTextStyle::Paragraph, "Why are you denying this?", REASON_INPUT)
        .placeholder("The requester sees this.")
        .min_length(1)
        .max_length(REASON_MAX)
        .required(true);
    let modal = CreateModal::new(CustomId::deny_with_reason(token).encode()?, "Deny with reason")
        .components(vec![CreateActionRow::InputText(input)]);
    Ok(to_value(&CreateInteractionResponse::Modal(modal)))
}

/// The answer to a click, from the core's verdict: a closed prompt replaces the clicked message; a refusal
/// ("only the approver may answer", "already approved by Kim Lee") goes to the clicker alone and leaves the
/// prompt as it is.
pub fn click_reply(reply: &ClickReply) -> Value {
    match reply {
        ClickReply::Closed(closing) => update_message(closing),
        ClickReply::Refused { message } => ephemeral(message),
        // Acknowledges the component interaction and leaves the message as it is.
        ClickReply::Replayed => to_value(&CreateInteractionResponse::Acknowledge),
    }
}

fn to_value(response: &CreateInteractionResponse) -> Value {
    // Serializing serenity's builders into a `Value` cannot fail: their keys are strings and they hold no
    // maps with non-string keys or non-finite floats.
    serde_json::to_value(response).expect("interaction responses serialize to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closing() -> PromptClosing {
        PromptClosing {
            headline: "Denied by you".into(),
            at: "9 May, 10:42".into(),
            summary: "Ana Ruiz: GitHub (admin)".into(),
            link: None,
        }
    }

    #[test]
    fn the_reason_modal_is_type_9_with_one_required_paragraph_under_the_buttons_id() {
        let token = "0123456789abcdef0123456789abcdef";
        let modal = reason_modal(token).unwrap();
        assert_eq!(modal["type"], 9);
        assert_eq!(modal["data"]["custom_id"], format!("so:r:{token}"));
        assert_eq!(modal["data"]["title"], "Deny with reason");
        let input = &modal["data"]["components"][0]["components"][0];
        assert_eq!(modal["data"]["components"][0]["type"], 1);
        assert_eq!(input["type"], 4);
        assert_eq!(input["style"], 2, "a paragraph");
        assert_eq!(input["custom_id"], REASON_INPUT);
        assert_eq!(input["required"], true);
        assert_eq!(input["min_length"], 1);
        assert_eq!(input["max_length"], 1000);
        assert!(input["label"].as_str().is_some_and(|l| !l.is_empty() && l.len() <= 45), "{input}");
        assert!(reason_modal("not a token!").is_err());
    }

    #[test]
    fn pong_is_type_1_and_nothing_else() {
        assert_eq!(pong(), json!({ "type": 1 }));
    }

    #[test]
    fn update_message_is_type_7_with_the_closing_and_no_components() {
        assert_eq!(
            update_message(&closing()),
            json!({
                "type": 7,
                "data": {
                    "content": "**Denied by you** · 9 May, 10:42",
                    "embeds": [{ "type": "rich", "description": "Ana Ruiz: GitHub (admin)", "color": 0x99AAB5 }],
                    "allowed_mentions": { "parse": [], "users": [], "roles": [] },
                    "components": [],
                    "attachments": []
                }
            })
        );
    }

    #[test]
    fn ephemeral_is_type_4_with_flag_64() {
        assert_eq!(
            ephemeral("Only Kim Lee can answer this request."),
            json!({
                "type": 4,
                "data": {
                    "content": "Only Kim Lee can answer this request.",
                    "allowed_mentions": { "parse": [], "users": [], "roles": [] },
                    "flags": 64,
                    "attachments": []
                }
            })
        );
    }

    #[test]
    fn click_replies_map_to_update_or_ephemeral() {
        assert_eq!(click_reply(&ClickReply::Closed(closing())), update_message(&closing()));
        let refused = click_reply(&ClickReply::Refused { message: "Already approved by Kim Lee at 10:42.".into() });
        assert_eq!(refused["type"], 4);
        assert_eq!(refused["data"]["flags"], FLAG_EPHEMERAL);
        assert_eq!(refused["data"]["content"], "Already approved by Kim Lee at 10:42.");
    }

    #[test]
    fn deferred_responses() {
        assert_eq!(deferred_ephemeral(), json!({ "type": 5, "data": { "flags": 64, "attachments": [] } }));
        assert_eq!(deferred_update(), json!({ "type": 6 }));
    }

    #[test]
    fn autocomplete_is_type_8_with_name_value_choices() {
        let choices = vec![("GitHub".to_owned(), "github".to_owned()), ("VPN (office)".to_owned(), "vpn".to_owned())];
        assert_eq!(
            autocomplete(&choices),
            json!({ "type": 8, "data": { "choices": [
                { "name": "GitHub", "value": "github" },
                { "name": "VPN (office)", "value": "vpn" }
            ]}})
        );
        assert_eq!(autocomplete(&[]), json!({ "type": 8, "data": { "choices": [] } }));
    }

    #[test]
    fn autocomplete_keeps_to_discords_limits() {
        let many: Vec<(String, String)> = (0..40).map(|i| (format!("R{i}"), format!("r{i}"))).collect();
        assert_eq!(autocomplete(&many)["data"]["choices"].as_array().unwrap().len(), AUTOCOMPLETE_MAX_CHOICES);

        let odd = vec![
            ("n".repeat(150), "long-name".to_owned()),
            ("too long a value".to_owned(), "v".repeat(101)),
            ("empty value".to_owned(), String::new()),
            (String::new(), "no-name".to_owned()),
        ];
        let body = autocomplete(&odd);
        let choices = body["data"]["choices"].as_array().unwrap();
        assert_eq!(choices.len(), 2);
        assert_eq!(choices[0]["name"].as_str().unwrap().chars().count(), AUTOCOMPLETE_TEXT_MAX);
        assert_eq!(choices[1], json!({ "name": "no-name", "value": "no-name" }));
    }
}
