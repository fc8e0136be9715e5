//! How signoff's messages look on Discord: the prompt, the closed prompt, the notification.
//!
//! A prompt is a DM with a short `content` line (what shows in the notification and the DM list), an embed
//! with the request's details, and legacy components
//! (<https://discord.com/developers/docs/components/reference>):
//!
//! - row 1: Approve (button style 3, success), Deny (style 4, danger) and "Deny with reason…" (style 2,
//!   secondary), which opens a form for the reason ([`crate::respond::reason_modal`]);
//! - row 2, when the item offers shorter durations: "Approve for 1h", ... (success, at most 5);
//! - row 3, when escalation is allowed: a user select (component type 5) to hand the decision to someone.
//!
//! Components V2 are not used: serenity 0.12.5 cannot build them, and the legacy layout is all a prompt needs.
//! The bodies are serenity's builders, so types and styles come from its model and serialize as Discord
//! documents them; the tests below pin the exact JSON.
//!
//! Limits (<https://discord.com/developers/docs/resources/message#create-message>,
//! <https://discord.com/developers/docs/resources/message#embed-object-embed-limits>): content 2,000
//! characters, embed title 256, description 4,096, button label 80, `custom_id` 100, 5 buttons per row. Text
//! is cut with an ellipsis to fit rather than refused: a prompt that says a little less is better than no
//! prompt. Tokens are the exception (see [`crate::custom_id`]).
//!
//! Every text field from the core is escaped for Discord markdown (a reason such as `**urgent**` or
//! `<@everyone>` shows as typed), and messages are sent with no allowed mentions, so nothing signoff relays
//! can ping anyone.

use serenity::all::{
    ButtonStyle, CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateMessage, CreateSelectMenu,
    CreateSelectMenuKind, EditMessage,
};
use signoff_port::{Notification, PromptClosing, PromptMessage};

use crate::custom_id::{CustomId, CustomIdError};

/// Message `content`, in characters.
pub const CONTENT_MAX: usize = 2000;
/// Embed title, in characters.
pub const EMBED_TITLE_MAX: usize = 256;
/// Embed description, in characters.
pub const EMBED_DESCRIPTION_MAX: usize = 4096;
/// Button label, in characters.
pub const BUTTON_LABEL_MAX: usize = 80;
/// Buttons in one action row.
pub const BUTTONS_PER_ROW: usize = 5;
/// The reason is cut to this many characters in a prompt, so that a long one cannot push the progress and
/// escalation lines out of the embed.
pub const REASON_MAX: usize = 1500;

/// Discord's blurple, for an open prompt.
const OPEN_COLOUR: u32 = 0x5865F2;
/// Grey, for a prompt that has been settled.
const CLOSED_COLOUR: u32 = 0x99AAB5;

/// The prompt as a new message: content, embed and components. Fails only when the token cannot be put in a
/// `custom_id`.
pub fn prompt_message(prompt: &PromptMessage) -> Result<CreateMessage, CustomIdError> {
    Ok(CreateMessage::new()
        .content(prompt_content(prompt))
        .embed(prompt_embed(prompt))
        .components(prompt_components(prompt)?)
        .allowed_mentions(no_mentions()))
}

/// The one-line summary shown in the DM list and in the push notification.
fn prompt_content(prompt: &PromptMessage) -> String {
    let mut line = format!(
        "**Approval needed**: {} asks for {}",
        escape_markdown(&prompt.requester),
        escape_markdown(&prompt.resource)
    );
    if let Some(role) = &prompt.role {
        line.push_str(&format!(" ({})", escape_markdown(role)));
    }
    if let Some(beneficiary) = &prompt.beneficiary {
        line.push_str(&format!(" for {}", escape_markdown(beneficiary)));
    }
    truncate(&line, CONTENT_MAX)
}

fn prompt_embed(prompt: &PromptMessage) -> CreateEmbed {
    let mut lines = vec![format!("**Requested by** {}", escape_markdown(&prompt.requester))];
    if let Some(beneficiary) = &prompt.beneficiary {
        lines.push(format!("**For** {}", escape_markdown(beneficiary)));
    }
    if let Some(role) = &prompt.role {
        lines.push(format!("**Role** {}", escape_markdown(role)));
    }
    lines.push(format!(
        "**Duration** {}",
        prompt.duration.as_deref().map_or_else(|| "no end date".to_owned(), escape_markdown)
    ));
    if let Some(reason) = &prompt.reason {
        lines.push(format!("**Reason** {}", truncate(&escape_markdown(reason), REASON_MAX)));
    }
    lines.push(String::new());
    lines.push(escape_markdown(&prompt.progress));
    for extra in [&prompt.step, &prompt.replaces, &prompt.fallback].into_iter().flatten() {
        lines.push(escape_markdown(extra));
    }
    if prompt.step_up {
        lines.push(String::new());
        lines.push(
            "🔒 **This access is sensitive:** deciding it needs a fresh sign-in with a second factor, so it cannot be \
             approved from Discord. Open it on signoff's web page."
                .to_owned(),
        );
    }
    if let Some(url) = &prompt.link {
        lines.push(open_link(url));
    }
    CreateEmbed::new()
        .title(truncate(&escape_markdown(&prompt.resource), EMBED_TITLE_MAX))
        .description(truncate(&lines.join("\n"), EMBED_DESCRIPTION_MAX))
        .colour(OPEN_COLOUR)
}

/// The prompt's action rows (see the module doc for the layout).
pub fn prompt_components(prompt: &PromptMessage) -> Result<Vec<CreateActionRow>, CustomIdError> {
    let token = prompt.token.as_str();
    // A step-up step is decided on the web: a link button (which sends no interaction) and nothing to click here.
    if prompt.step_up {
        return Ok(match &prompt.link {
            Some(url) => vec![CreateActionRow::Buttons(vec![CreateButton::new_link(url).label("Open in signoff")])],
            None => Vec::new(),
        });
    }
    let mut rows = vec![CreateActionRow::Buttons(vec![
        CreateButton::new(CustomId::approve(token, None).encode()?).label("Approve").style(ButtonStyle::Success),
        CreateButton::new(CustomId::deny(token).encode()?).label("Deny").style(ButtonStyle::Danger),
        CreateButton::new(CustomId::deny_with_reason(token).encode()?)
            .label("Deny with reason…")
            .style(ButtonStyle::Secondary),
    ])];

    let mut shorter: Vec<CreateButton> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for duration in &prompt.duration_choices {
        if seen.contains(&duration.as_str()) || shorter.len() == BUTTONS_PER_ROW {
            continue;
        }
        match CustomId::approve(token, Some(duration.clone())).encode() {
            Ok(id) => {
                seen.push(duration);
                let label = truncate(&format!("Approve for {duration}"), BUTTON_LABEL_MAX);
                shorter.push(CreateButton::new(id).label(label).style(ButtonStyle::Success));
            }
            // A label the scheme cannot carry is left out rather than failing the whole prompt: the approver
            // still has Approve and Deny.
            Err(e) => tracing::warn!(error = %e, "leaving a duration choice out of a Discord prompt"),
        }
    }
    if !shorter.is_empty() {
        rows.push(CreateActionRow::Buttons(shorter));
    }

    if prompt.allow_escalate {
        let select = CreateSelectMenu::new(
            CustomId::escalate(token).encode()?,
            CreateSelectMenuKind::User { default_users: None },
        )
        .placeholder("Hand this to someone else…")
        .min_values(1)
        .max_values(1);
        rows.push(CreateActionRow::SelectMenu(select));
    }
    Ok(rows)
}

/// The closed prompt as an edit (`PATCH /channels/{channel}/messages/{message}`): how it ended, and no
/// components left to click.
pub fn closing_edit(closing: &PromptClosing) -> EditMessage {
    EditMessage::new()
        .content(closing_content(closing))
        .embeds(vec![closing_embed(closing)])
        .components(vec![])
        .allowed_mentions(no_mentions())
}

/// The closed prompt's content line: the headline and when.
pub(crate) fn closing_content(closing: &PromptClosing) -> String {
    truncate(&format!("**{}** · {}", escape_markdown(&closing.headline), escape_markdown(&closing.at)), CONTENT_MAX)
}

/// The closed prompt's embed: what the request was, greyed.
pub(crate) fn closing_embed(closing: &PromptClosing) -> CreateEmbed {
    let mut text = escape_markdown(&closing.summary);
    if let Some(url) = &closing.link {
        text.push('\n');
        text.push_str(&open_link(url));
    }
    CreateEmbed::new().description(truncate(&text, EMBED_DESCRIPTION_MAX)).colour(CLOSED_COLOUR)
}

/// A notification as a DM: the title in bold, then the body.
pub fn notification_message(notification: &Notification) -> CreateMessage {
    let mut text = format!("**{}**", escape_markdown(&notification.title));
    if !notification.body.is_empty() {
        text.push('\n');
        text.push_str(&escape_markdown(&notification.body));
    }
    if let Some(url) = &notification.link {
        text.push('\n');
        text.push_str(&open_link(url));
    }
    CreateMessage::new().content(truncate(&text, CONTENT_MAX)).allowed_mentions(no_mentions())
}

/// A masked link to the request's web page. `)` and spaces would end the link early, so they are
/// percent-encoded (ours never hold them, but the URL comes from configuration).
fn open_link(url: &str) -> String {
    format!("[Open in signoff]({})", url.replace(')', "%29").replace(' ', "%20"))
}

/// Allowed mentions that allow none: `{"parse":[],"users":[],"roles":[]}`.
pub(crate) fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// Escapes Discord markdown so that text shows as written: `\ * _ ~ ` | [ ] <` anywhere, and the line-start
/// markers (`#` headings, `>` quotes, `-`/`+` and `1.` lists). Words that start with `http://` or `https://`
/// are left alone, so links stay links.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let body = line.trim_start();
        out.push_str(&line[..line.len() - body.len()]);
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        let (marker, rest) = if body.starts_with(['#', '>', '-', '+']) {
            (format!("\\{}", &body[..1]), &body[1..])
        } else if digits > 0 && body[digits..].starts_with(['.', ')']) {
            (format!("{}\\{}", &body[..digits], &body[digits..=digits]), &body[digits + 1..])
        } else {
            (String::new(), body)
        };
        out.push_str(&marker);
        escape_inline(rest, &mut out);
    }
    out
}

fn escape_inline(text: &str, out: &mut String) {
    let mut in_link = false;
    let mut at_word_start = true;
    for (i, c) in text.char_indices() {
        if at_word_start {
            let word = &text[i..];
            in_link = word.starts_with("https://") || word.starts_with("http://");
        }
        at_word_start = c.is_whitespace();
        if !in_link && matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Cuts `text` to at most `max_chars` characters, ending with `…` when it was cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    if max_chars == 0 {
        return String::new();
    }
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn prompt() -> PromptMessage {
        PromptMessage {
            token: TOKEN.to_owned(),
            requester: "Ana Ruiz".to_owned(),
            beneficiary: None,
            resource: "GitHub".to_owned(),
            role: Some("admin".to_owned()),
            reason: Some("release *today*".to_owned()),
            duration: Some("8h".to_owned()),
            progress: "1 of 2 needed".to_owned(),
            step: None,
            replaces: None,
            fallback: None,
            allow_escalate: false,
            duration_choices: vec![],
            link: None,
            step_up: false,
        }
    }

    #[test]
    fn a_prompt_has_content_an_embed_and_approve_and_deny_buttons() {
        let body = serde_json::to_value(prompt_message(&prompt()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "content": "**Approval needed**: Ana Ruiz asks for GitHub (admin)",
                "tts": false,
                "embeds": [{
                    "type": "rich",
                    "title": "GitHub",
                    "description": "**Requested by** Ana Ruiz\n**Role** admin\n**Duration** 8h\n**Reason** release \\*today\\*\n\n1 of 2 needed",
                    "color": 0x5865F2
                }],
                "allowed_mentions": { "parse": [], "users": [], "roles": [] },
                "components": [{
                    "type": 1,
                    "components": [
                        { "type": 2, "style": 3, "label": "Approve", "custom_id": format!("so:a:{TOKEN}"), "disabled": false },
                        { "type": 2, "style": 4, "label": "Deny", "custom_id": format!("so:d:{TOKEN}"), "disabled": false },
                        { "type": 2, "style": 2, "label": "Deny with reason…", "custom_id": format!("so:r:{TOKEN}"), "disabled": false }
                    ]
                }],
                "sticker_ids": [],
                "attachments": [],
                "enforce_nonce": false
            })
        );
    }

    #[test]
    fn a_step_up_prompt_offers_only_a_link_button() {
        let url = "https://signoff.example.com/requests/req_1";
        let p = PromptMessage { step_up: true, link: Some(url.to_owned()), ..prompt() };
        let body = serde_json::to_value(prompt_message(&p).unwrap()).unwrap();
        let buttons = &body["components"][0]["components"];
        assert_eq!(buttons.as_array().unwrap().len(), 1, "{body}");
        assert_eq!(buttons[0]["url"], url);
        assert_eq!(body["components"].as_array().unwrap().len(), 1);
        assert!(!body.to_string().contains("custom_id"), "nothing that sends an interaction: {body}");
        assert!(body["embeds"][0]["description"].as_str().unwrap().contains("second factor"));
        let body = serde_json::to_value(prompt_message(&PromptMessage { link: None, ..p }).unwrap()).unwrap();
        assert!(body["components"].as_array().is_none_or(|c| c.is_empty()), "{body}");
    }

    #[test]
    fn notices_and_closings_link_to_the_request_page() {
        let url = "https://signoff.example.com/requests/req_1";
        let n = Notification { title: "Approved".into(), body: "b".into(), link: Some(url.to_owned()) };
        let body = serde_json::to_value(notification_message(&n)).unwrap();
        assert!(body["content"].as_str().unwrap().contains(&format!("[Open in signoff]({url})")), "{body}");
        let c = PromptClosing { headline: "h".into(), at: "a".into(), summary: "s".into(), link: Some(url.to_owned()) };
        let body = serde_json::to_value(closing_edit(&c)).unwrap();
        assert!(body["embeds"][0]["description"].as_str().unwrap().contains(url), "{body}");
    }

    #[test]
    fn a_full_prompt_offers_shorter_durations_and_a_user_select() {
        let p = PromptMessage {
            beneficiary: Some("Raj Patel".into()),
            role: None,
            duration: None,
            reason: None,
            step: Some("step 1 of 2: app admin".into()),
            replaces: Some("escalated from Kim Lee: no answer within 48h".into()),
            fallback: Some("asked because the group owner is out of office".into()),
            allow_escalate: true,
            duration_choices: vec!["1h".into(), "4h".into(), "1h".into(), "not valid".into()],
            ..prompt()
        };
        let body = serde_json::to_value(prompt_message(&p).unwrap()).unwrap();
        assert_eq!(body["content"], "**Approval needed**: Ana Ruiz asks for GitHub for Raj Patel");
        assert_eq!(
            body["embeds"][0]["description"],
            "**Requested by** Ana Ruiz\n**For** Raj Patel\n**Duration** no end date\n\n1 of 2 needed\n\
             step 1 of 2: app admin\nescalated from Kim Lee: no answer within 48h\n\
             asked because the group owner is out of office"
        );
        assert_eq!(
            body["components"],
            json!([
                { "type": 1, "components": [
                    { "type": 2, "style": 3, "label": "Approve", "custom_id": format!("so:a:{TOKEN}"), "disabled": false },
                    { "type": 2, "style": 4, "label": "Deny", "custom_id": format!("so:d:{TOKEN}"), "disabled": false },
                        { "type": 2, "style": 2, "label": "Deny with reason…", "custom_id": format!("so:r:{TOKEN}"), "disabled": false }
                ]},
                { "type": 1, "components": [
                    { "type": 2, "style": 3, "label": "Approve for 1h", "custom_id": format!("so:a:{TOKEN}:1h"), "disabled": false },
                    { "type": 2, "style": 3, "label": "Approve for 4h", "custom_id": format!("so:a:{TOKEN}:4h"), "disabled": false }
                ]},
                { "type": 1, "components": [
                    { "type": 5, "custom_id": format!("so:e:{TOKEN}"), "placeholder": "Hand this to someone else…", "min_values": 1, "max_values": 1 }
                ]}
            ])
        );
    }

    #[test]
    fn no_more_than_five_shorter_durations_are_offered() {
        let p = PromptMessage { duration_choices: (1..=8).map(|h| format!("{h}h")).collect(), ..prompt() };
        let body = serde_json::to_value(prompt_message(&p).unwrap()).unwrap();
        assert_eq!(body["components"][1]["components"].as_array().unwrap().len(), BUTTONS_PER_ROW);
    }

    #[test]
    fn a_token_that_cannot_be_a_custom_id_fails_the_prompt() {
        let p = PromptMessage { token: "has:colon".into(), ..prompt() };
        assert!(matches!(prompt_message(&p), Err(CustomIdError::BadToken(_))));
    }

    #[test]
    fn long_text_is_cut_to_discords_limits() {
        let p = PromptMessage {
            requester: "r".repeat(3000),
            resource: "x".repeat(300),
            reason: Some("y".repeat(5000)),
            progress: "z".repeat(4000),
            ..prompt()
        };
        let body = serde_json::to_value(prompt_message(&p).unwrap()).unwrap();
        let chars = |v: &serde_json::Value| v.as_str().unwrap().chars().count();
        assert_eq!(chars(&body["content"]), CONTENT_MAX);
        assert!(body["content"].as_str().unwrap().ends_with('…'));
        assert_eq!(chars(&body["embeds"][0]["title"]), EMBED_TITLE_MAX);
        assert_eq!(chars(&body["embeds"][0]["description"]), EMBED_DESCRIPTION_MAX);
        for row in body["components"].as_array().unwrap() {
            for c in row["components"].as_array().unwrap() {
                assert!(c["custom_id"].as_str().unwrap().len() <= crate::custom_id::MAX_LEN);
            }
        }
    }

    #[test]
    fn a_closing_edit_replaces_content_and_embed_and_removes_the_components() {
        let closing = PromptClosing {
            headline: "Approved by Kim Lee".into(),
            at: "10:42".into(),
            summary: "Ana Ruiz: GitHub (admin) for 8h".into(),
            link: None,
        };
        assert_eq!(
            serde_json::to_value(closing_edit(&closing)).unwrap(),
            json!({
                "content": "**Approved by Kim Lee** · 10:42",
                "embeds": [{ "type": "rich", "description": "Ana Ruiz: GitHub (admin) for 8h", "color": 0x99AAB5 }],
                "allowed_mentions": { "parse": [], "users": [], "roles": [] },
                "components": []
            })
        );
    }

    #[test]
    fn a_notification_is_a_bold_title_and_a_body() {
        let n = Notification {
            title: "Approved".into(),
            body: "GitHub (admin) until 18:00\nby Kim Lee".into(),
            link: None,
        };
        assert_eq!(
            serde_json::to_value(notification_message(&n)).unwrap(),
            json!({
                "content": "**Approved**\nGitHub (admin) until 18:00\nby Kim Lee",
                "tts": false,
                "embeds": [],
                "allowed_mentions": { "parse": [], "users": [], "roles": [] },
                "sticker_ids": [],
                "attachments": [],
                "enforce_nonce": false
            })
        );
    }

    #[test]
    fn markdown_is_escaped_but_links_are_left_alone() {
        assert_eq!(
            escape_markdown("**urgent** _now_ ~~x~~ `c` ||s|| [a](b) <@1>"),
            r"\*\*urgent\*\* \_now\_ \~\~x\~\~ \`c\` \|\|s\|\| \[a\](b) \<@1>"
        );
        assert_eq!(
            escape_markdown("# big\n> quote\n - item\n1. first\nplain - text #1"),
            "\\# big\n\\> quote\n \\- item\n1\\. first\nplain - text #1"
        );
        assert_eq!(escape_markdown("see https://x.example/a_b*c and a_b"), r"see https://x.example/a_b*c and a\_b");
        assert_eq!(escape_markdown(r"back\slash"), r"back\\slash");
        assert_eq!(escape_markdown("Kim Lee"), "Kim Lee");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("ééé", 3), "ééé");
        assert_eq!(truncate("éééé", 3), "éé…");
        assert_eq!(truncate("abc", 1), "…");
        assert_eq!(truncate("abc", 0), "");
    }
}
