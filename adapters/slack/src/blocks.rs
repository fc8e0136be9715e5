//! Block Kit JSON for everything signoff shows on Slack: prompts, closings, notifications, the deny-reason modal,
//! and the private replies to `/request` and to refused clicks.
//!
//! Built as `serde_json::Value` with `json!`, not with slack-morphism's block model: the JSON here reads like
//! Slack's Block Kit reference, tests assert on exactly what Slack receives, and the client hands these values to
//! slack-morphism unchanged (as `SlackBlock::Unknown`), so no field is lost or renamed on the way.
//!
//! Everything a person wrote (names, reasons, summaries) is escaped for `mrkdwn` (`&`, `<`, `>`), so a reason
//! cannot ping `<!channel>` or pass off a link. Slack refuses a whole message that breaks one of its limits, so
//! every text is cut to its limit here (with `…`), and the fallback `text` is kept within [`MAX_FALLBACK_CHARS`].

use serde_json::{Value, json};
use signoff_port::{Notification, PromptClosing, PromptMessage};

use crate::ids;

/// Blocks in one message: Slack's limit.
pub const MAX_MESSAGE_BLOCKS: usize = 50;
/// Characters in a section's text and in a `mrkdwn`/`plain_text` object in general: Slack's limit.
pub const MAX_TEXT_CHARS: usize = 3000;
/// Characters in one section field: Slack's limit.
pub const MAX_FIELD_CHARS: usize = 2000;
/// Characters in the top-level `text` (the notification and screen-reader fallback): Slack recommends at most
/// 4,000 and truncates beyond 40,000; we keep to 4,000.
pub const MAX_FALLBACK_CHARS: usize = 4000;
/// Characters in a header block: Slack's limit.
const MAX_HEADER_CHARS: usize = 150;
/// Characters in a button label, an option's label: Slack's limit.
const MAX_LABEL_CHARS: usize = 75;
/// Characters in an option's value: Slack's limit (longer duration choices are left out rather than cut, since a
/// cut value would mean something else).
const MAX_OPTION_VALUE_CHARS: usize = 150;
/// Options in a `static_select`: Slack's limit.
const MAX_OPTIONS: usize = 100;
/// Characters in a `block_id`: Slack's limit.
const MAX_BLOCK_ID_CHARS: usize = 255;
/// Characters a reason may have in the deny modal (Slack allows 3,000; a reason is a sentence or two).
const MAX_REASON_CHARS: usize = 2000;
/// Resources listed in the `/request` help before "and N more".
const MAX_HELP_ITEMS: usize = 200;

/// A prompt: who asks, for whom, which resource and role, why, for how long, where this step stands; then the
/// duration choice (when there are shorter choices), Approve (`primary`), Deny (`danger`) and "Deny with reason…"
/// buttons, each with the token as its `value`, and the escalate picker (when allowed). Returns the fallback text
/// and the blocks, for `chat.postMessage`.
pub fn prompt_message(p: &PromptMessage) -> (String, Vec<Value>) {
    let mut blocks = vec![header(&format!("Approval needed: {}", p.resource))];

    let mut asks = format!("*{}* asks for *{}*", esc(&p.requester), esc(&p.resource));
    if let Some(role) = &p.role {
        asks.push_str(&format!(" as *{}*", esc(role)));
    }
    if let Some(who) = &p.beneficiary {
        asks.push_str(&format!(" for *{}*", esc(who)));
    }
    asks.push('.');
    blocks.push(section(&asks));

    let mut fields = vec![
        field("Resource", &p.resource),
        field("Role", p.role.as_deref().unwrap_or("default")),
        field("For", p.beneficiary.as_deref().unwrap_or(&p.requester)),
        field("Duration", p.duration.as_deref().unwrap_or("no end")),
        field("Progress", &p.progress),
    ];
    if let Some(step) = &p.step {
        fields.push(field("Step", step));
    }
    blocks.push(json!({"type": "section", "fields": fields}));

    blocks.push(section(&match &p.reason {
        Some(reason) => format!("*Reason*\n{}", quote(reason)),
        None => "*Reason*\n_none given_".to_owned(),
    }));

    let notes: Vec<Value> = [&p.replaces, &p.fallback].into_iter().flatten().map(|n| mrkdwn(&esc(n))).collect();
    if !notes.is_empty() {
        blocks.push(json!({"type": "context", "elements": notes}));
    }

    // A step-up step is decided on the web after a fresh strong sign-in: no buttons here, only why and where.
    if p.step_up {
        let where_ = match &p.link {
            Some(url) => format!("<{}|Open the request in signoff>", link_target(url)),
            None => "Open it on signoff's web page.".to_owned(),
        };
        blocks.push(section(&format!(
            ":lock: *This access is sensitive:* deciding it needs a fresh sign-in with a second factor, so it cannot \
             be approved from Slack. {where_}"
        )));
        return (fallback_text(&fallback_of(p)), limit_blocks(blocks));
    }
    if let Some(url) = &p.link {
        blocks
            .push(json!({"type": "context", "elements": [mrkdwn(&format!("<{}|Open in signoff>", link_target(url)))]}));
    }

    let options: Vec<Value> = p
        .duration_choices
        .iter()
        .filter(|c| !c.is_empty() && c.chars().count() <= MAX_OPTION_VALUE_CHARS)
        .take(MAX_OPTIONS)
        .map(|c| json!({"text": plain(c, MAX_LABEL_CHARS), "value": c}))
        .collect();
    if !options.is_empty() {
        let full = p.duration.as_deref().map(|d| format!("Full duration ({d})")).unwrap_or("Full duration".to_owned());
        blocks.push(json!({
            "type": "section",
            "block_id": ids::DURATION_BLOCK,
            "text": mrkdwn("*Approve for less time?* Pick a duration, then Approve."),
            "accessory": {
                "type": "static_select",
                "action_id": ids::DURATION,
                "placeholder": plain(&full, MAX_HEADER_CHARS),
                "options": options,
            },
        }));
    }

    blocks.push(json!({
        "type": "actions",
        "block_id": ids::DECIDE_BLOCK,
        "elements": [
            {"type": "button", "action_id": ids::APPROVE, "style": "primary", "text": plain("Approve", MAX_LABEL_CHARS), "value": p.token},
            {"type": "button", "action_id": ids::DENY, "style": "danger", "text": plain("Deny", MAX_LABEL_CHARS), "value": p.token},
            {"type": "button", "action_id": ids::DENY_WITH_REASON, "text": plain("Deny with reason…", MAX_LABEL_CHARS), "value": p.token},
        ],
    }));

    if p.allow_escalate {
        let block_id = format!("{}:{}", ids::ESCALATE_BLOCK, p.token);
        // Past Slack's block_id limit, the parser finds the token on the buttons instead.
        let block_id =
            if block_id.chars().count() <= MAX_BLOCK_ID_CHARS { block_id } else { ids::ESCALATE_BLOCK.to_owned() };
        blocks.push(json!({
            "type": "section",
            "block_id": block_id,
            "text": mrkdwn("Not yours to decide? Hand it to someone else."),
            "accessory": {
                "type": "users_select",
                "action_id": ids::ESCALATE,
                "placeholder": plain("Pick a person", MAX_HEADER_CHARS),
                "confirm": {
                    "title": plain("Hand this decision over?", 100),
                    "text": plain("The person you picked will be asked instead of you.", 300),
                    "confirm": plain("Hand over", 30),
                    "deny": plain("Cancel", 30),
                },
            },
        }));
    }

    (fallback_text(&fallback_of(p)), limit_blocks(blocks))
}

/// The prompt in one line, for notifications and clients that show no blocks.
fn fallback_of(p: &PromptMessage) -> String {
    let mut fallback = format!("{} asks for {}", p.requester, p.resource);
    if let Some(role) = &p.role {
        fallback.push_str(&format!(" as {role}"));
    }
    if let Some(who) = &p.beneficiary {
        fallback.push_str(&format!(" for {who}"));
    }
    if let Some(d) = &p.duration {
        fallback.push_str(&format!(" ({d})"));
    }
    fallback.push_str(&format!(": {}", p.progress));
    if let Some(reason) = &p.reason {
        fallback.push_str(&format!(". Reason: {reason}"));
    }
    fallback
}

/// A closed prompt, for `chat.update` (and `replace_original`): the headline, when, and the request's summary;
/// no buttons, so nothing can be clicked any more.
pub fn closing_message(c: &PromptClosing) -> (String, Vec<Value>) {
    let mut blocks = vec![
        section(&format!("*{}*", esc(&c.headline))),
        json!({"type": "context", "elements": [mrkdwn(&esc(&c.at))]}),
        section(&esc(&c.summary)),
    ];
    if let Some(url) = &c.link {
        blocks
            .push(json!({"type": "context", "elements": [mrkdwn(&format!("<{}|Open in signoff>", link_target(url)))]}));
    }
    (fallback_text(&format!("{}: {}", c.headline, c.summary)), blocks)
}

/// A notification (an outcome, an escalation, a reminder), for `chat.postMessage`.
pub fn notification_message(n: &Notification) -> (String, Vec<Value>) {
    let mut blocks = vec![section(&format!("*{}*", esc(&n.title)))];
    if !n.body.trim().is_empty() {
        blocks.push(section(&esc(&n.body)));
    }
    if let Some(url) = &n.link {
        blocks
            .push(json!({"type": "context", "elements": [mrkdwn(&format!("<{}|Open in signoff>", link_target(url)))]}));
    }
    (fallback_text(&format!("{}\n{}", n.title, n.body)), blocks)
}

/// The deny-reason modal, for `views.open`: one optional multi-line reason and a Deny submit button. Its
/// `private_metadata` is the prompt's token and its `callback_id` is [`ids::DENY_MODAL`], so the submission
/// parses to a deny with that token.
pub fn deny_modal(token: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": ids::DENY_MODAL,
        "private_metadata": token,
        "title": plain("Deny request", 24),
        "submit": plain("Deny", 24),
        "close": plain("Cancel", 24),
        "blocks": [{
            "type": "input",
            "block_id": ids::REASON_BLOCK,
            "optional": true,
            "label": plain("Reason (optional)", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": ids::REASON_INPUT,
                "multiline": true,
                "max_length": MAX_REASON_CHARS,
                "placeholder": plain("Why not?", 150),
            },
        }],
    })
}

/// The private reply to `/request` when it needs help: the usage line and what can be requested, as
/// `(id, name)` pairs. With `typo` (a resource that does not exist), the closest matches come first; without,
/// the order given is kept.
pub fn help_reply(resources: &[(&str, &str)], typo: Option<&str>) -> Value {
    const USAGE: &str = "`/request <resource> [role] [for @user] [for 8h] [reason...]`";
    // Written plain, escaped where it goes into mrkdwn (the usage's `<resource>` would otherwise read as a link).
    let intro = match typo {
        Some(t) => format!("There is nothing called `{t}` to request. Closest matches first:"),
        None => "What you can request:".to_owned(),
    };
    let ordered: Vec<&(&str, &str)> = match typo {
        Some(t) => ranked(resources, t),
        None => resources.iter().collect(),
    };
    let lines: Vec<String> = ordered
        .iter()
        .take(MAX_HELP_ITEMS)
        .map(|(id, name)| {
            if id == name || name.is_empty() {
                format!("• `{}`", esc(id))
            } else {
                format!("• `{}`: {}", esc(id), esc(name))
            }
        })
        .collect();

    let mut blocks = vec![section(&format!("Usage: {}", esc(USAGE))), section(&esc(&intro))];
    if lines.is_empty() {
        blocks.push(section("_Nothing is set up to be requested yet._"));
    }
    // Several items per section, each section under the text limit, as many sections as fit with one block
    // kept for "and N more".
    let budget = MAX_MESSAGE_BLOCKS - blocks.len() - 1;
    let mut sections: Vec<String> = Vec::new();
    let mut chunk = String::new();
    let mut shown = 0;
    for line in &lines {
        if !chunk.is_empty() && chunk.chars().count() + 1 + line.chars().count() > MAX_TEXT_CHARS {
            sections.push(std::mem::take(&mut chunk));
            if sections.len() == budget {
                break;
            }
        }
        if !chunk.is_empty() {
            chunk.push('\n');
        }
        chunk.push_str(line);
        shown += 1;
    }
    if !chunk.is_empty() {
        sections.push(chunk);
    }
    blocks.extend(sections.iter().map(|s| section(s)));
    if ordered.len() > shown {
        blocks.push(json!({"type": "context", "elements": [mrkdwn(&format!("…and {} more.", ordered.len() - shown))]}));
    }

    let names: Vec<&str> = ordered.iter().take(20).map(|(id, _)| *id).collect();
    let fallback = format!("Usage: {USAGE}. {}: {}", intro.trim_end_matches(':'), names.join(", "));
    ephemeral(&fallback, limit_blocks(blocks))
}

/// The private reply to a `/request` that was accepted: the request id, what was asked, and who will be asked.
pub fn confirmation_reply(request_id: &str, summary: &str, asked: &[&str]) -> Value {
    let who = if asked.is_empty() { "no one (nothing to approve)".to_owned() } else { asked.join(", ") };
    let blocks = vec![
        section(&format!("*Request sent* `{}`\n{}", esc(request_id), esc(summary))),
        section(&format!("*Asking:* {}", esc(&who))),
    ];
    ephemeral(&format!("Request {request_id} sent: {summary}. Asking: {who}"), blocks)
}

/// A private reply in a sentence: for a click the core refused ("This request was already approved by Kim Lee
/// at 10:42.", "You are not in the directory.") or a `/request` it could not take. `replace_original: false`
/// keeps the clicked message as it is when sent to an interaction's `response_url`.
pub fn refused_reply(message: &str) -> Value {
    let mut reply = ephemeral(message, vec![section(&esc(message))]);
    reply["replace_original"] = json!(false);
    reply
}

/// A URL inside Slack's `<url|text>` link syntax: `|` and `>` would end it early, so they are percent-encoded
/// (ours never hold them, but the URL comes from configuration).
fn link_target(url: &str) -> String {
    url.replace('|', "%7C").replace('>', "%3E").replace('<', "%3C")
}

/// For an interaction's `response_url`: replaces the clicked prompt with its closing, at once and without a
/// `chat.update` (the core still closes the approver's other copies through the adapter).
pub fn closed_reply(c: &PromptClosing) -> Value {
    let (text, blocks) = closing_message(c);
    json!({"replace_original": true, "text": text, "blocks": blocks})
}

fn ephemeral(fallback: &str, blocks: Vec<Value>) -> Value {
    json!({"response_type": "ephemeral", "text": fallback_text(fallback), "blocks": blocks})
}

/// Resources ordered by how close `typo` is to their id or name (Jaro-Winkler, case-insensitive; containing the
/// typo counts as closest); ties keep the order given.
fn ranked<'a>(resources: &'a [(&'a str, &'a str)], typo: &str) -> Vec<&'a (&'a str, &'a str)> {
    let typo = typo.to_lowercase();
    let score = |s: &str| {
        let s = s.to_lowercase();
        if !typo.is_empty() && s.contains(&typo) {
            1.0 + strsim::jaro_winkler(&typo, &s)
        } else {
            strsim::jaro_winkler(&typo, &s)
        }
    };
    let mut scored: Vec<(f64, &(&str, &str))> = resources.iter().map(|r| (score(r.0).max(score(r.1)), r)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, r)| r).collect()
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": plain(text, MAX_HEADER_CHARS)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": mrkdwn(text)})
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": cut_escaped(&format!("*{label}*\n{}", esc(value)), MAX_FIELD_CHARS)})
}

/// A `mrkdwn` text object. `text` must already be escaped.
fn mrkdwn(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": cut_escaped(text, MAX_TEXT_CHARS)})
}

fn plain(text: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": cut(text, max), "emoji": true})
}

/// Each line of a reason as a `mrkdwn` quote.
fn quote(text: &str) -> String {
    text.lines().map(|l| format!(">{}", esc(l))).collect::<Vec<_>>().join("\n")
}

/// Escapes what `mrkdwn` would read as markup: Slack asks for exactly these three.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn fallback_text(s: &str) -> String {
    cut_escaped(&esc(s), MAX_FALLBACK_CHARS)
}

/// At most `max` characters, the last one `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// [`cut`] for escaped text: never leaves half an entity (`&am…`) behind.
fn cut_escaped(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut kept: String = s.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = kept.rfind('&')
        && !kept[amp..].contains(';')
    {
        kept.truncate(amp);
    }
    kept.push('…');
    kept
}

/// Keeps a message within [`MAX_MESSAGE_BLOCKS`]; builders stay under it already, this is the last guard.
fn limit_blocks(mut blocks: Vec<Value>) -> Vec<Value> {
    blocks.truncate(MAX_MESSAGE_BLOCKS);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt() -> PromptMessage {
        PromptMessage {
            token: "tok_01J9ZQ".to_owned(),
            requester: "Kim Lee".to_owned(),
            beneficiary: Some("Raj Patel".to_owned()),
            resource: "prod-db".to_owned(),
            role: Some("admin".to_owned()),
            reason: Some("incident 42\nneed to read the logs".to_owned()),
            duration: Some("8h".to_owned()),
            progress: "1 of 3 needed".to_owned(),
            step: Some("step 1 of 2: app admin".to_owned()),
            replaces: Some("escalated from Ana: no answer within 48h".to_owned()),
            fallback: None,
            allow_escalate: true,
            duration_choices: vec!["1h".to_owned(), "4h".to_owned()],
            link: None,
            step_up: false,
        }
    }

    /// Every element of every block, flattened: actions' elements and sections' accessories.
    fn elements(blocks: &[Value]) -> Vec<&Value> {
        let mut out = Vec::new();
        for b in blocks {
            if let Some(es) = b["elements"].as_array() {
                out.extend(es.iter().filter(|e| e.get("action_id").is_some()));
            }
            if b.get("accessory").is_some() {
                out.push(&b["accessory"]);
            }
        }
        out
    }

    /// Every text string in the JSON.
    fn texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(t)) = m.get("text") {
                    out.push(t.clone());
                }
                m.values().for_each(|v| texts(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
            _ => {}
        }
    }

    fn all_text(blocks: &[Value]) -> String {
        let mut out = Vec::new();
        texts(&Value::Array(blocks.to_vec()), &mut out);
        out.join("\n")
    }

    #[test]
    fn prompt_has_approve_primary_and_deny_danger_buttons_carrying_the_token() {
        let (_, blocks) = prompt_message(&prompt());
        let els = elements(&blocks);
        let approve = els.iter().find(|e| e["action_id"].as_str().unwrap().contains("approve")).unwrap();
        assert_eq!(
            (approve["type"].as_str(), approve["style"].as_str(), approve["value"].as_str()),
            (Some("button"), Some("primary"), Some("tok_01J9ZQ"))
        );
        let deny: Vec<_> = els.iter().filter(|e| e["action_id"].as_str().unwrap().contains("deny")).collect();
        assert_eq!(deny.len(), 1, "exactly one element whose action_id contains deny");
        assert_eq!((deny[0]["style"].as_str(), deny[0]["value"].as_str()), (Some("danger"), Some("tok_01J9ZQ")));
        let reason = els.iter().find(|e| e["action_id"] == ids::DENY_WITH_REASON).unwrap();
        assert_eq!((reason["value"].as_str(), reason.get("style")), (Some("tok_01J9ZQ"), None));
        assert_eq!(els.iter().filter(|e| e["action_id"].as_str().unwrap().contains("approve")).count(), 1);
    }

    #[test]
    fn prompt_says_who_asks_for_whom_what_why_how_long_and_where_the_step_stands() {
        let (fallback, blocks) = prompt_message(&prompt());
        let text = all_text(&blocks);
        for want in [
            "Kim Lee",
            "Raj Patel",
            "prod-db",
            "admin",
            ">incident 42\n>need to read the logs",
            "8h",
            "1 of 3 needed",
            "step 1 of 2: app admin",
            "escalated from Ana",
        ] {
            assert!(text.contains(want), "missing {want:?} in {text}");
        }
        assert_eq!(
            fallback,
            "Kim Lee asks for prod-db as admin for Raj Patel (8h): 1 of 3 needed. Reason: incident 42\nneed to read the logs"
        );
    }

    #[test]
    fn prompt_offers_the_escalate_picker_and_the_duration_choices() {
        let (_, blocks) = prompt_message(&prompt());
        let els = elements(&blocks);
        let pick = els.iter().find(|e| e["type"] == "users_select").unwrap();
        assert_eq!(pick["action_id"], ids::ESCALATE);
        let escalate_block = blocks.iter().find(|b| b["accessory"]["type"] == "users_select").unwrap();
        assert_eq!(escalate_block["block_id"], "signoff_escalate:tok_01J9ZQ");
        let select = els.iter().find(|e| e["type"] == "static_select").unwrap();
        assert_eq!(select["action_id"], ids::DURATION);
        let values: Vec<&str> =
            select["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap()).collect();
        assert_eq!(values, ["1h", "4h"]);
        assert_eq!(select["placeholder"]["text"], "Full duration (8h)");
    }

    #[test]
    fn a_step_up_prompt_has_no_buttons_only_the_link_and_why() {
        let p = PromptMessage {
            step_up: true,
            link: Some("https://signoff.example.com/requests/req_1".to_owned()),
            ..prompt()
        };
        let (_, blocks) = prompt_message(&p);
        let text = serde_json::to_string(&blocks).unwrap();
        assert!(!text.contains(ids::APPROVE) && !text.contains(ids::DENY) && !text.contains(ids::ESCALATE), "{text}");
        assert!(text.contains("second factor"), "{text}");
        assert!(text.contains("<https://signoff.example.com/requests/req_1|Open the request in signoff>"), "{text}");
        // Without a public URL it still says why, and still offers nothing to click.
        let (_, blocks) = prompt_message(&PromptMessage { link: None, ..p });
        let text = serde_json::to_string(&blocks).unwrap();
        assert!(text.contains("signoff's web page") && !text.contains(ids::APPROVE), "{text}");
    }

    #[test]
    fn prompts_closings_and_notifications_link_to_the_request_page() {
        let url = "https://signoff.example.com/requests/req_1";
        let (_, blocks) = prompt_message(&PromptMessage { link: Some(url.to_owned()), ..prompt() });
        let text = serde_json::to_string(&blocks).unwrap();
        assert!(text.contains(&format!("<{url}|Open in signoff>")) && text.contains(ids::APPROVE), "{text}");
        let (_, blocks) = closing_message(&PromptClosing {
            headline: "Approved".to_owned(),
            at: "now".to_owned(),
            summary: "s".to_owned(),
            link: Some(url.to_owned()),
        });
        assert!(serde_json::to_string(&blocks).unwrap().contains(&format!("<{url}|Open in signoff>")));
        let (_, blocks) = notification_message(&Notification {
            title: "t".to_owned(),
            body: "b".to_owned(),
            link: Some(format!("{url}|evil>")),
        });
        let text = serde_json::to_string(&blocks).unwrap();
        assert!(text.contains(&format!("<{url}%7Cevil%3E|Open in signoff>")), "{text}");
    }

    #[test]
    fn prompt_without_escalation_or_choices_has_neither_control() {
        let p = PromptMessage {
            allow_escalate: false,
            duration_choices: vec![],
            beneficiary: None,
            role: None,
            reason: None,
            duration: None,
            step: None,
            replaces: None,
            ..prompt()
        };
        let (fallback, blocks) = prompt_message(&p);
        let els = elements(&blocks);
        assert!(els.iter().all(|e| e["type"] == "button"), "{els:?}");
        assert_eq!(els.len(), 3);
        assert!(blocks.iter().all(|b| b["type"] != "context"));
        assert_eq!(fallback, "Kim Lee asks for prod-db: 1 of 3 needed");
        assert!(all_text(&blocks).contains("no end"));
    }

    #[test]
    fn block_ids_are_unique_within_a_prompt() {
        let (_, blocks) = prompt_message(&prompt());
        let ids: Vec<&str> = blocks.iter().filter_map(|b| b["block_id"].as_str()).collect();
        let mut dedup = ids.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(ids.len(), dedup.len());
    }

    #[test]
    fn what_people_wrote_is_escaped_so_it_cannot_ping_or_link() {
        let p = PromptMessage {
            reason: Some("<!channel> see <http://evil|docs> & more".to_owned()),
            requester: "<@U1>".to_owned(),
            ..prompt()
        };
        let (fallback, blocks) = prompt_message(&p);
        let text = all_text(&blocks);
        assert!(!text.contains("<!channel>") && !text.contains("<http") && !text.contains("<@U1>"), "{text}");
        assert!(text.contains("&lt;!channel&gt; see &lt;http://evil|docs&gt; &amp; more"));
        assert!(!fallback.contains('<'));
    }

    #[test]
    fn long_texts_are_cut_to_slacks_limits() {
        let huge = "x".repeat(10_000);
        let p = PromptMessage {
            reason: Some(format!("{huge}&{huge}")),
            resource: "r".repeat(500),
            requester: "&".repeat(5000),
            progress: "p".repeat(5000),
            duration_choices: (0..300).map(|i| format!("{i}h")).chain(["y".repeat(151)]).collect(),
            ..prompt()
        };
        let (fallback, blocks) = prompt_message(&p);
        assert!(fallback.chars().count() <= MAX_FALLBACK_CHARS);
        assert!(blocks.len() <= MAX_MESSAGE_BLOCKS);
        for b in &blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_TEXT_CHARS, "{} chars", t.chars().count());
                assert!(!t.ends_with("&am…") && !t.contains("&…"));
            }
            if b["type"] == "header" {
                assert!(b["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER_CHARS);
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD_CHARS);
            }
            if b["accessory"]["type"] == "static_select" {
                assert_eq!(b["accessory"]["options"].as_array().unwrap().len(), MAX_OPTIONS);
            }
        }
    }

    #[test]
    fn cutting_escaped_text_never_leaves_half_an_entity() {
        assert_eq!(cut_escaped("ab&amp;cd", 5), "ab…");
        assert_eq!(cut_escaped("ab&amp;cd", 8), "ab&amp;…");
        assert_eq!(cut_escaped("abc", 3), "abc");
        assert_eq!(cut("héllo wörld", 5), "héll…");
    }

    #[test]
    fn closing_has_headline_time_and_summary_and_no_buttons() {
        let c = PromptClosing {
            headline: "Approved by Kim Lee".to_owned(),
            at: "10:42, 3 May".to_owned(),
            summary: "prod-db (admin) for Raj, 8h".to_owned(),
            link: None,
        };
        let (fallback, blocks) = closing_message(&c);
        assert!(elements(&blocks).is_empty());
        assert!(blocks.iter().all(|b| b["type"] != "actions" && b.get("accessory").is_none()));
        let text = all_text(&blocks);
        for want in ["*Approved by Kim Lee*", "10:42, 3 May", "prod-db (admin) for Raj, 8h"] {
            assert!(text.contains(want), "{text}");
        }
        assert_eq!(fallback, "Approved by Kim Lee: prod-db (admin) for Raj, 8h");
        let replace = closed_reply(&c);
        assert_eq!(replace["replace_original"], true);
        assert_eq!(replace["blocks"], json!(blocks));
    }

    #[test]
    fn notification_has_title_and_body() {
        let (fallback, blocks) = notification_message(&Notification {
            title: "Approved".to_owned(),
            body: "prod-db for 8h".to_owned(),
            link: None,
        });
        assert_eq!(fallback, "Approved\nprod-db for 8h");
        assert_eq!(blocks.len(), 2);
        let (_, blocks) =
            notification_message(&Notification { title: "t".to_owned(), body: String::new(), link: None });
        assert_eq!(blocks.len(), 1);
    }

    #[test]
    fn deny_modal_carries_the_token_and_an_optional_reason() {
        let v = deny_modal("tok-9");
        assert_eq!(v["type"], "modal");
        assert_eq!(v["callback_id"], ids::DENY_MODAL);
        assert_eq!(v["private_metadata"], "tok-9");
        assert_eq!(v["submit"]["text"], "Deny");
        let input = &v["blocks"][0];
        assert_eq!(
            (input["type"].as_str(), input["optional"].as_bool(), input["block_id"].as_str()),
            (Some("input"), Some(true), Some(ids::REASON_BLOCK))
        );
        assert_eq!(input["element"]["action_id"], ids::REASON_INPUT);
        assert!(v["title"]["text"].as_str().unwrap().chars().count() <= 24);
    }

    #[test]
    fn help_ranks_the_closest_matches_first() {
        let resources = [
            ("github-admin", "GitHub org admin"),
            ("staging-db", "Staging database"),
            ("prod-db", "Production database"),
            ("vpn", "VPN"),
        ];
        let reply = help_reply(&resources, Some("prdo-db"));
        assert_eq!(reply["response_type"], "ephemeral");
        let text = all_text(reply["blocks"].as_array().unwrap());
        let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(pos("`prod-db`") < pos("`staging-db`") && pos("`staging-db`") < pos("`vpn`"), "{text}");
        assert!(text.contains("prdo-db") && text.contains("/request &lt;resource&gt;"), "{text}");
        assert!(!text.contains('<'), "unescaped markup in {text}");
        assert!(reply["text"].as_str().unwrap().contains("prod-db"));
        let by_name = help_reply(&resources, Some("vpn"));
        let text = all_text(by_name["blocks"].as_array().unwrap());
        assert!(text.find("`vpn`").unwrap() < text.find("`prod-db`").unwrap());
    }

    #[test]
    fn help_without_a_typo_keeps_the_given_order() {
        let reply = help_reply(&[("b", "B"), ("a", "a")], None);
        let text = all_text(reply["blocks"].as_array().unwrap());
        assert!(text.contains("• `b`: B\n• `a`"), "{text}");
        assert!(reply["text"].as_str().unwrap().contains("b, a"));
        let empty = help_reply(&[], None);
        assert!(all_text(empty["blocks"].as_array().unwrap()).contains("Nothing is set up"));
    }

    #[test]
    fn help_for_thousands_of_resources_stays_within_the_limits() {
        let owned: Vec<(String, String)> = (0..5000)
            .map(|i| (format!("resource-{i:05}"), format!("A resource with a long descriptive name number {i}")))
            .collect();
        let resources: Vec<(&str, &str)> = owned.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let reply = help_reply(&resources, Some("resource-4999"));
        let blocks = reply["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_MESSAGE_BLOCKS);
        for b in blocks {
            assert!(b["text"]["text"].as_str().map_or(0, |t| t.chars().count()) <= MAX_TEXT_CHARS);
        }
        assert!(reply["text"].as_str().unwrap().chars().count() <= MAX_FALLBACK_CHARS);
        let text = all_text(blocks);
        let listed = text.matches("• ").count();
        assert!(text.contains(&format!("…and {} more.", 5000 - listed)), "{listed} listed");
        assert!(text.find("`resource-04999`").unwrap() < text.find("`resource-00000`").unwrap_or(usize::MAX));
    }

    #[test]
    fn confirmation_names_the_request_and_who_is_asked() {
        let reply = confirmation_reply("req_01J9", "prod-db (admin) for 8h", &["Kim Lee", "Raj Patel"]);
        assert_eq!(reply["response_type"], "ephemeral");
        let text = all_text(reply["blocks"].as_array().unwrap());
        assert!(
            text.contains("`req_01J9`")
                && text.contains("Kim Lee, Raj Patel")
                && text.contains("prod-db (admin) for 8h")
        );
        assert!(reply["text"].as_str().unwrap().contains("req_01J9"));
    }

    #[test]
    fn refused_click_is_private_and_leaves_the_message_alone() {
        let reply = refused_reply("You are not in the directory, so you cannot answer this.");
        assert_eq!(reply["response_type"], "ephemeral");
        assert_eq!(reply["replace_original"], false);
        assert_eq!(reply["text"], "You are not in the directory, so you cannot answer this.");
    }
}
