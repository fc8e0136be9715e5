//! Reading verified Slack requests into neutral values: clicks and modal submissions into
//! [`Interaction`]s, slash commands into [`SlashCommand`]s, and `/request` text into [`RequestArgs`].
//!
//! Call these only after [`verify`](crate::verify::verify) has accepted the request. Payloads are read as plain
//! JSON rather than through slack-morphism's typed events: Slack adds fields and element types over time, and a
//! typed model that fails on one unknown shape would turn a click into an error; here we read the few fields we
//! need and ignore the rest. Socket Mode, which does hand us typed events, re-serializes them and comes through
//! [`parse_interaction_payload`] too, so both transports share one reading.
//!
//! **Deny and the reason modal.** The Deny button denies at once, without a reason; a separate, unstyled
//! "Deny with reason…" button ([`ids::DENY_WITH_REASON`]) yields [`Interaction::OpenDenyModal`], and the modal's
//! submission yields a deny with the reason typed (which may be empty). Why not have Deny open the modal: the
//! contract promises that a click on the `deny` button denies (integrators and tests drive it that way, and the
//! Discord adapter has no modal), a `trigger_id` dies after 3 seconds so a slow `views.open` would leave the
//! approver unable to deny at all, and most denials need no essay.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use signoff_port::{Answer, ChatUser, IncomingAnswer, MessageRef, Platform};

use crate::ids;

/// What a click or a modal submission asks of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// A decision: Approve (with the duration picked, if any), Deny (at once, or from the reason modal), or
    /// Escalate (a person picked in the escalate picker). The core checks the token and the clicker.
    Answer {
        /// The decision, with the prompt's token, the clicker and, for clicks on a message, that message.
        answer: IncomingAnswer,
        /// Where to answer the clicker privately (`response_type: ephemeral`) or replace the clicked message
        /// (`replace_original: true`): at most 5 times within 30 minutes. `None` for modal submissions.
        response_url: Option<String>,
    },
    /// "Deny with reason…" was clicked: open [`deny_modal`](crate::blocks::deny_modal)`(token)` with
    /// `views.open` and this `trigger_id` within 3 seconds of the click (the trigger expires after that).
    OpenDenyModal {
        /// The prompt's token, for the modal's `private_metadata`.
        token: String,
        /// Slack's one-use, 3-second handle for opening the modal.
        trigger_id: String,
        /// Who clicked.
        clicker: ChatUser,
        /// The message clicked.
        message: Option<MessageRef>,
        /// As in [`Interaction::Answer`].
        response_url: Option<String>,
    },
    /// Nothing to decide: a duration picked (Approve reads it later), a modal that is not ours, another kind of
    /// payload. Answer 200 and do nothing.
    Ignored {
        /// What it was, for a debug log line.
        what: String,
    },
}

/// Where a verified callback comes from, as its payload says: the workspace and, on Enterprise Grid, the
/// organisation (the core refuses callbacks from any other), and Slack's id for this one user action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The workspace (`T...`): `team.id`, else the clicker's `user.team_id`.
    pub team_id: Option<String>,
    /// The Enterprise Grid organisation (`E...`), when there is one.
    pub enterprise_id: Option<String>,
    /// `trigger_id`: Slack makes a new one for every click, command and form submission, so a second callback
    /// with the same one is a replay of the first.
    pub trigger_id: Option<String>,
}

/// A slash command invocation (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlashCommand {
    /// The command, with its slash: `/request`.
    pub command: String,
    /// Everything after the command, with Slack's escaping (`<@U123|kim>`, `&amp;`); see [`parse_request_text`].
    pub text: String,
    /// Who ran it (`U...` or `W...`).
    pub user_id: String,
    /// Their user name (deprecated by Slack, may be empty; Socket Mode does not carry it).
    pub user_name: String,
    /// The workspace.
    pub team_id: String,
    /// The Enterprise Grid organisation, empty when there is none.
    pub enterprise_id: String,
    /// Where it was run.
    pub channel_id: String,
    /// Where to send up to 5 later replies within 30 minutes.
    pub response_url: String,
    /// A one-use, 3-second handle for opening a modal.
    pub trigger_id: String,
    /// Slack's SSL check ping (`ssl_check=1`): answer 200 with an empty body and do nothing else.
    pub ssl_check: bool,
}

impl SlashCommand {
    /// Who ran the command, as the core sees people on chat platforms.
    pub fn user(&self) -> ChatUser {
        ChatUser { platform: Platform::Slack, id: self.user_id.clone() }
    }

    /// Where it comes from.
    pub fn origin(&self) -> Origin {
        let some = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        Origin {
            team_id: some(&self.team_id),
            enterprise_id: some(&self.enterprise_id),
            trigger_id: some(&self.trigger_id),
        }
    }
}

/// Why a verified body could not be read. Answer 400; nothing in here repeats the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The form has no `payload` field (interactivity always sends one).
    #[error("the form has no payload field")]
    MissingPayload,
    /// `payload` is not JSON.
    #[error("payload is not JSON: {0}")]
    Json(String),
    /// A field we need is absent or empty.
    #[error("missing {0}")]
    Missing(&'static str),
}

/// Reads an interactivity request body: `payload=<url-encoded JSON>`.
pub fn parse_interaction(body: &[u8]) -> Result<(Origin, Interaction), ParseError> {
    let payload = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or(ParseError::MissingPayload)?;
    let value: Value = serde_json::from_str(&payload).map_err(|e| ParseError::Json(e.to_string()))?;
    parse_interaction_payload(&value)
}

/// Reads an interactivity payload already decoded to JSON (what Socket Mode delivers).
pub fn parse_interaction_payload(payload: &Value) -> Result<(Origin, Interaction), ParseError> {
    let interaction = match payload.get("type").and_then(Value::as_str) {
        Some("block_actions") => block_actions(payload),
        Some("view_submission") => view_submission(payload),
        Some(other) => Ok(Interaction::Ignored { what: format!("a {other} payload") }),
        None => Err(ParseError::Missing("type")),
    }?;
    Ok((origin(payload), interaction))
}

/// The workspace, organisation and trigger of an interactivity payload. Org-wide installs may send `team: null`;
/// the clicker's own workspace is then in `user.team_id`.
fn origin(p: &Value) -> Origin {
    let owned = |v: Option<&str>| v.map(str::to_owned);
    Origin {
        team_id: owned(text_at(p, &["team", "id"]).or_else(|| text_at(p, &["user", "team_id"]))),
        enterprise_id: owned(text_at(p, &["enterprise", "id"]).or_else(|| text_at(p, &["user", "enterprise_id"]))),
        trigger_id: owned(text_at(p, &["trigger_id"])),
    }
}

fn block_actions(p: &Value) -> Result<Interaction, ParseError> {
    let clicker = slack_user(text_at(p, &["user", "id"]).ok_or(ParseError::Missing("user.id"))?);
    let actions = p.get("actions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let Some((action, kind)) = actions.iter().find_map(|a| action_kind(a).map(|k| (a, k))) else {
        return Ok(Interaction::Ignored { what: "an action that is not signoff's".to_owned() });
    };
    let message = clicked_message(p);
    let response_url = text_at(p, &["response_url"]).map(str::to_owned);
    let answer = match kind {
        Kind::Duration => return Ok(Interaction::Ignored { what: "a duration picked".to_owned() }),
        Kind::DenyWithReason => {
            return Ok(Interaction::OpenDenyModal {
                token: button_token(action)?,
                trigger_id: text_at(p, &["trigger_id"]).ok_or(ParseError::Missing("trigger_id"))?.to_owned(),
                clicker,
                message,
                response_url,
            });
        }
        Kind::Approve => IncomingAnswer {
            token: button_token(action)?,
            clicker,
            answer: Answer::Approve { duration: state_value(p, ids::DURATION, &["selected_option", "value"]) },
            message,
        },
        Kind::Deny => {
            IncomingAnswer { token: button_token(action)?, clicker, answer: Answer::Deny { comment: None }, message }
        }
        Kind::Escalate => {
            // Slack puts `selected_user` on the action; slack-morphism's typed action (Socket Mode) drops it, but
            // the message's state carries it too.
            let picked = text_at(action, &["selected_user"]).map(str::to_owned).or_else(|| {
                state_value(p, text_at(action, &["action_id"]).unwrap_or(ids::ESCALATE), &["selected_user"])
            });
            let Some(picked) = picked else {
                return Ok(Interaction::Ignored { what: "an escalate picker with no one picked".to_owned() });
            };
            IncomingAnswer {
                token: escalate_token(p, action)?,
                clicker,
                answer: Answer::Escalate { to: slack_user(&picked) },
                message,
            }
        }
    };
    Ok(Interaction::Answer { answer, response_url })
}

fn view_submission(p: &Value) -> Result<Interaction, ParseError> {
    if text_at(p, &["view", "callback_id"]) != Some(ids::DENY_MODAL) {
        return Ok(Interaction::Ignored { what: "a modal that is not signoff's".to_owned() });
    }
    let clicker = slack_user(text_at(p, &["user", "id"]).ok_or(ParseError::Missing("user.id"))?);
    let token = text_at(p, &["view", "private_metadata"]).ok_or(ParseError::Missing("view.private_metadata"))?;
    let comment = p
        .pointer("/view/state/values")
        .and_then(|values| find_action_state(values, ids::REASON_INPUT))
        .and_then(|v| text_at(v, &["value"]))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let response_url = p
        .get("response_urls")
        .and_then(Value::as_array)
        .and_then(|urls| urls.iter().find_map(|u| text_at(u, &["response_url"])))
        .map(str::to_owned);
    Ok(Interaction::Answer {
        answer: IncomingAnswer { token: token.to_owned(), clicker, answer: Answer::Deny { comment }, message: None },
        response_url,
    })
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Approve,
    Deny,
    DenyWithReason,
    Escalate,
    Duration,
}

fn action_kind(action: &Value) -> Option<Kind> {
    let id = text_at(action, &["action_id"])?;
    match id {
        ids::APPROVE => Some(Kind::Approve),
        ids::DENY => Some(Kind::Deny),
        ids::DENY_WITH_REASON => Some(Kind::DenyWithReason),
        ids::ESCALATE => Some(Kind::Escalate),
        ids::DURATION => Some(Kind::Duration),
        // The contract only promises "contains approve/deny"; accept buttons spelled otherwise, since the token
        // in their value is what the core checks.
        _ if text_at(action, &["type"]) == Some("button") && id.contains("approve") => Some(Kind::Approve),
        _ if text_at(action, &["type"]) == Some("button") && id.contains("deny") => Some(Kind::Deny),
        _ => None,
    }
}

fn button_token(action: &Value) -> Result<String, ParseError> {
    text_at(action, &["value"]).map(str::to_owned).ok_or(ParseError::Missing("actions[].value"))
}

/// The escalate picker's token: from its block id (`signoff_escalate:<token>`), else from the value of one of the
/// message's buttons (`message.blocks` echoes the prompt).
fn escalate_token(p: &Value, action: &Value) -> Result<String, ParseError> {
    let from_block = text_at(action, &["block_id"])
        .and_then(|b| b.strip_prefix(ids::ESCALATE_BLOCK))
        .and_then(|rest| rest.strip_prefix(':'))
        .filter(|t| !t.is_empty());
    if let Some(token) = from_block {
        return Ok(token.to_owned());
    }
    let blocks = p.pointer("/message/blocks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    blocks
        .iter()
        .filter_map(|b| b.get("elements").and_then(Value::as_array))
        .flatten()
        .find(|e| matches!(text_at(e, &["action_id"]), Some(ids::APPROVE | ids::DENY)))
        .and_then(|e| text_at(e, &["value"]))
        .map(str::to_owned)
        .ok_or(ParseError::Missing("the escalate picker's token"))
}

/// The message a click came from: `container` first (always present for message clicks), else `channel` and
/// `message`.
fn clicked_message(p: &Value) -> Option<MessageRef> {
    let channel = text_at(p, &["container", "channel_id"]).or_else(|| text_at(p, &["channel", "id"]))?;
    let ts = text_at(p, &["container", "message_ts"]).or_else(|| text_at(p, &["message", "ts"]))?;
    Some(MessageRef { platform: Platform::Slack, channel: channel.to_owned(), message: ts.to_owned() })
}

/// A value of the element `action_id` in the message's `state.values` (`{block_id: {action_id: {...}}}`).
fn state_value(p: &Value, action_id: &str, path: &[&str]) -> Option<String> {
    let values = p.pointer("/state/values")?;
    find_action_state(values, action_id).and_then(|v| text_at(v, path)).map(str::to_owned)
}

fn find_action_state<'a>(values: &'a Value, action_id: &str) -> Option<&'a Value> {
    values.as_object()?.values().find_map(|block| block.get(action_id))
}

/// The non-empty string at `path`.
fn text_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str().filter(|s| !s.is_empty())
}

fn slack_user(id: &str) -> ChatUser {
    ChatUser { platform: Platform::Slack, id: id.to_owned() }
}

/// Reads a slash command body. `user_id` is required except in Slack's SSL check ping.
pub fn parse_command(body: &[u8]) -> Result<SlashCommand, ParseError> {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let command = SlashCommand {
        command: get("command"),
        text: get("text"),
        user_id: get("user_id"),
        user_name: get("user_name"),
        team_id: get("team_id"),
        enterprise_id: get("enterprise_id"),
        channel_id: get("channel_id"),
        response_url: get("response_url"),
        trigger_id: get("trigger_id"),
        ssl_check: get("ssl_check") == "1",
    };
    if command.user_id.is_empty() && !command.ssl_check {
        return Err(ParseError::Missing("user_id"));
    }
    Ok(command)
}

/// Someone named in `/request ... for <person>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    /// A Slack mention, `<@U123|kim>` or `<@U123>`: the user id.
    SlackUser(String),
    /// An email, plain or as Slack's `<mailto:a@b.c|a@b.c>` link.
    Email(String),
    /// `@kim` that Slack did not turn into a mention (the command's "escape users" option is off, or no one is
    /// called that): the name without `@`. The core may match a directory id, or say it cannot tell who it is.
    Name(String),
}

/// `/request <resource> [role] [for @user|email]... [for 8h] [reason...]`, read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestArgs {
    /// The first word; `None` for empty text (the core shows help).
    pub resource: Option<String>,
    /// The second word, unless it is `for`, a person or a duration.
    pub role: Option<String>,
    /// The people the access is for (none: the requester).
    pub for_: Vec<Person>,
    /// `for 8h`, as typed (lower-cased): `90s`, `30m`, `48h`, `7d`, `2w`, `1h30m`.
    pub duration: Option<String>,
    /// The rest, with Slack's escaping undone (`<@U1|kim>` reads `@kim`, `&amp;` reads `&`).
    pub reason: Option<String>,
}

impl RequestArgs {
    /// The same request read without a role: the role word becomes the reason's first word. For the core, when
    /// the resource has no role by that name and the user most likely started their reason
    /// (`/request vpn need it for the demo`).
    pub fn without_role(mut self) -> RequestArgs {
        if let Some(role) = self.role.take() {
            self.reason = Some(match self.reason.take() {
                Some(reason) => format!("{role} {reason}"),
                None => role,
            });
        }
        self
    }
}

/// Reads the text of `/request`. The grammar is lenient where it cannot be ambiguous: `for` may be left out
/// before a mention, an email or a duration (`/request db @kim 8h`), people may follow one `for` in a row
/// (`for @a @b`) or each have their own, and a trailing comma is ignored. The first word that is none of these
/// starts the reason, so `for the migration` reads as a reason. A second duration also starts the reason.
pub fn parse_request_text(text: &str) -> RequestArgs {
    let tokens = tokens(text);
    let mut args = RequestArgs::default();
    let Some(&(_, first)) = tokens.first() else {
        return args;
    };
    args.resource = Some(unescape(first));
    let mut i = 1;
    if let Some(&(_, word)) = tokens.get(1)
        && !is_for(word)
        && person(word).is_none()
        && parse_duration(word).is_none()
    {
        args.role = Some(unescape(word));
        i = 2;
    }
    while let Some(&(_, word)) = tokens.get(i) {
        if is_for(word) {
            let Some(&(_, next)) = tokens.get(i + 1) else { break };
            if let Some(p) = person(next) {
                args.for_.push(p);
                i += 2;
            } else if args.duration.is_none() && parse_duration(next).is_some() {
                args.duration = Some(clean(next).to_lowercase());
                i += 2;
            } else {
                break;
            }
        } else if let Some(p) = person(word) {
            args.for_.push(p);
            i += 1;
        } else if args.duration.is_none() && parse_duration(word).is_some() {
            args.duration = Some(clean(word).to_lowercase());
            i += 1;
        } else {
            break;
        }
    }
    if let Some(&(start, _)) = tokens.get(i) {
        let reason = humanize(text[start..].trim());
        if !reason.is_empty() {
            args.reason = Some(reason);
        }
    }
    args
}

/// Whitespace-separated words with their byte offsets, so the reason keeps its own spacing.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

fn is_for(word: &str) -> bool {
    word.eq_ignore_ascii_case("for")
}

/// A word without the punctuation that separates list items.
fn clean(word: &str) -> &str {
    word.trim_end_matches([',', ';'])
}

fn person(word: &str) -> Option<Person> {
    let word = clean(word);
    if let Some(inner) = word.strip_prefix("<@").and_then(|w| w.strip_suffix('>')) {
        let id = inner.split('|').next().unwrap_or_default();
        return (!id.is_empty()).then(|| Person::SlackUser(id.to_owned()));
    }
    if let Some(inner) = word.strip_prefix("<mailto:").and_then(|w| w.strip_suffix('>')) {
        let email = inner.split('|').next().unwrap_or_default();
        return is_email(email).then(|| Person::Email(email.to_owned()));
    }
    if let Some(name) = word.strip_prefix('@') {
        return (!name.is_empty() && !name.contains('@')).then(|| Person::Name(name.to_owned()));
    }
    is_email(word).then(|| Person::Email(word.to_owned()))
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !s.contains(['<', '>', '|'])
        }
        None => false,
    }
}

/// Parses a duration written as one or more `<number><unit>` parts with units `s`, `m`, `h`, `d`, `w`
/// (`90s`, `30m`, `48h`, `7d`, `1h30m`; case-insensitive). `None` for anything else, and for zero.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = clean(text);
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(d))?);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() || total == 0 {
        return None;
    }
    Some(Duration::from_secs(total))
}

/// Undoes Slack's HTML escaping of `&`, `<` and `>`.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Slack's markup made readable: `<@U1|kim>` → `@kim`, `<@U1>` → `@U1`, `<#C1|ops>` → `#ops`, `<!here>` → `@here`,
/// `<mailto:a@b|a@b>` → `a@b`, `<https://x|label>` → `label (https://x)`, then the HTML escaping undone.
fn humanize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        let shown = if let Some(id) = target.strip_prefix('@') {
            format!("@{}", label.unwrap_or(id))
        } else if let Some(id) = target.strip_prefix('#') {
            format!("#{}", label.unwrap_or(id))
        } else if let Some(special) = target.strip_prefix('!') {
            format!("@{}", label.unwrap_or(special.split('^').next().unwrap_or(special)))
        } else if let Some(email) = target.strip_prefix("mailto:") {
            email.to_owned()
        } else {
            match label {
                Some(l) if l != target => format!("{l} ({target})"),
                _ => target.to_owned(),
            }
        };
        out.push_str(&shown);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    unescape(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The interaction alone, for the tests that are about it.
    fn parse_interaction(body: &[u8]) -> Result<Interaction, ParseError> {
        super::parse_interaction(body).map(|(_, i)| i)
    }

    #[test]
    fn the_origin_names_the_workspace_organisation_and_trigger() {
        let mut p: Value = serde_json::from_str(BLOCK_ACTIONS).unwrap();
        let (origin, _) = super::parse_interaction(&form(&p)).unwrap();
        assert_eq!(
            origin,
            Origin {
                team_id: Some("T9TK3CUKW".into()),
                enterprise_id: None,
                trigger_id: Some("12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3".into()),
            }
        );
        // An org-wide install may send `team: null`; the clicker's workspace stands in.
        p["team"] = Value::Null;
        p["enterprise"] = json!({"id": "E0ORG", "name": "Org"});
        p["user"]["team_id"] = json!("T0OTHER");
        let (origin, _) = super::parse_interaction(&form(&p)).unwrap();
        assert_eq!((origin.team_id.as_deref(), origin.enterprise_id.as_deref()), (Some("T0OTHER"), Some("E0ORG")));
        let cmd = parse_command(b"command=%2Frequest&user_id=U1&team_id=T1&enterprise_id=E1&trigger_id=9.9").unwrap();
        assert_eq!(
            cmd.origin(),
            Origin { team_id: Some("T1".into()), enterprise_id: Some("E1".into()), trigger_id: Some("9.9".into()) }
        );
    }

    const BLOCK_ACTIONS: &str = include_str!("../tests/fixtures/slack_block_actions.json");
    const VIEW_SUBMISSION: &str = include_str!("../tests/fixtures/slack_view_submission.json");

    fn form(payload: &Value) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    /// Slack's documented block_actions example, with the clicked action replaced by `action`.
    fn clicked(action: Value) -> Value {
        let mut p: Value = serde_json::from_str(BLOCK_ACTIONS).unwrap();
        p["actions"] = json!([action]);
        p
    }

    fn button(action_id: &str, value: &str) -> Value {
        json!({"action_id": action_id, "block_id": ids::DECIDE_BLOCK, "type": "button", "value": value,
               "text": {"type": "plain_text", "text": "x"}, "action_ts": "1548426417.840180"})
    }

    fn slack(id: &str) -> ChatUser {
        ChatUser { platform: Platform::Slack, id: id.to_owned() }
    }

    fn the_message() -> Option<MessageRef> {
        Some(MessageRef {
            platform: Platform::Slack,
            channel: "CBR2V3XEX".to_owned(),
            message: "1548261231.000200".to_owned(),
        })
    }

    const RESPONSE_URL: &str = "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209";

    #[test]
    fn approve_click_carries_token_clicker_message_and_response_url() {
        let got = parse_interaction(&form(&clicked(button(ids::APPROVE, "tok-1")))).unwrap();
        assert_eq!(
            got,
            Interaction::Answer {
                answer: IncomingAnswer {
                    token: "tok-1".to_owned(),
                    clicker: slack("UA8RXUSPL"),
                    answer: Answer::Approve { duration: None },
                    message: the_message(),
                },
                response_url: Some(RESPONSE_URL.to_owned()),
            }
        );
    }

    #[test]
    fn approve_reads_the_duration_picked_from_the_message_state() {
        let mut p = clicked(button(ids::APPROVE, "tok-1"));
        p["state"] = json!({"values": {ids::DURATION_BLOCK: {ids::DURATION: {
            "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": "4h"}, "value": "4h"}}}}});
        let Interaction::Answer { answer, .. } = parse_interaction(&form(&p)).unwrap() else { panic!() };
        assert_eq!(answer.answer, Answer::Approve { duration: Some("4h".to_owned()) });
    }

    #[test]
    fn deny_click_denies_at_once_without_a_comment() {
        let Interaction::Answer { answer, .. } =
            parse_interaction(&form(&clicked(button(ids::DENY, "tok-2")))).unwrap()
        else {
            panic!()
        };
        assert_eq!(answer.token, "tok-2");
        assert_eq!(answer.answer, Answer::Deny { comment: None });
    }

    #[test]
    fn buttons_spelled_otherwise_are_read_by_the_contracts_approve_and_deny_words() {
        for (id, want) in
            [("x_approve_1", Answer::Approve { duration: None }), ("deny-now", Answer::Deny { comment: None })]
        {
            let Interaction::Answer { answer, .. } = parse_interaction(&form(&clicked(button(id, "t")))).unwrap()
            else {
                panic!("{id}")
            };
            assert_eq!(answer.answer, want);
        }
    }

    #[test]
    fn deny_with_reason_asks_for_the_modal() {
        let got = parse_interaction(&form(&clicked(button(ids::DENY_WITH_REASON, "tok-3")))).unwrap();
        assert_eq!(
            got,
            Interaction::OpenDenyModal {
                token: "tok-3".to_owned(),
                trigger_id: "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3".to_owned(),
                clicker: slack("UA8RXUSPL"),
                message: the_message(),
                response_url: Some(RESPONSE_URL.to_owned()),
            }
        );
    }

    #[test]
    fn escalate_picks_a_person_and_finds_the_token_in_the_block_id() {
        let action = json!({"action_id": ids::ESCALATE, "block_id": "signoff_escalate:tok-4", "type": "users_select",
                            "selected_user": "U0RAJ", "action_ts": "1"});
        let Interaction::Answer { answer, .. } = parse_interaction(&form(&clicked(action))).unwrap() else { panic!() };
        assert_eq!(answer.token, "tok-4");
        assert_eq!(answer.answer, Answer::Escalate { to: slack("U0RAJ") });
        assert_eq!(answer.clicker, slack("UA8RXUSPL"));
    }

    #[test]
    fn escalate_without_selected_user_on_the_action_reads_the_state_and_the_message_buttons() {
        // What Socket Mode hands over after slack-morphism's typed model: no `selected_user` on the action, a
        // plain block id.
        let mut p = clicked(json!({"action_id": ids::ESCALATE, "block_id": "b", "type": "users_select"}));
        p["state"] = json!({"values": {"b": {ids::ESCALATE: {"type": "users_select", "selected_user": "U0RAJ"}}}});
        p["message"]["blocks"] = json!([{"type": "actions", "block_id": ids::DECIDE_BLOCK, "elements": [
            {"type": "button", "action_id": ids::APPROVE, "value": "tok-5", "text": {"type": "plain_text", "text": "Approve"}}]}]);
        let Interaction::Answer { answer, .. } = parse_interaction(&form(&p)).unwrap() else { panic!() };
        assert_eq!(answer.token, "tok-5");
        assert_eq!(answer.answer, Answer::Escalate { to: slack("U0RAJ") });
    }

    #[test]
    fn picking_a_duration_alone_decides_nothing() {
        let action = json!({"action_id": ids::DURATION, "block_id": ids::DURATION_BLOCK, "type": "static_select",
                            "selected_option": {"text": {"type": "plain_text", "text": "1h"}, "value": "1h"}});
        assert!(matches!(parse_interaction(&form(&clicked(action))).unwrap(), Interaction::Ignored { .. }));
    }

    #[test]
    fn slacks_documented_example_click_is_not_ours() {
        let p: Value = serde_json::from_str(BLOCK_ACTIONS).unwrap();
        assert!(matches!(parse_interaction(&form(&p)).unwrap(), Interaction::Ignored { .. }));
    }

    #[test]
    fn the_deny_modal_submission_denies_with_the_reason_typed() {
        let mut p: Value = serde_json::from_str(VIEW_SUBMISSION).unwrap();
        p["view"]["callback_id"] = json!(ids::DENY_MODAL);
        p["view"]["private_metadata"] = json!("tok-6");
        p["view"]["state"] = json!({"values": {ids::REASON_BLOCK: {ids::REASON_INPUT: {"type": "plain_text_input", "value": "  not on a Friday  "}}}});
        let got = parse_interaction(&form(&p)).unwrap();
        assert_eq!(
            got,
            Interaction::Answer {
                answer: IncomingAnswer {
                    token: "tok-6".to_owned(),
                    clicker: slack("W111"),
                    answer: Answer::Deny { comment: Some("not on a Friday".to_owned()) },
                    message: None,
                },
                response_url: None,
            }
        );
    }

    #[test]
    fn the_deny_modal_submitted_empty_denies_without_a_comment() {
        let mut p: Value = serde_json::from_str(VIEW_SUBMISSION).unwrap();
        p["view"]["callback_id"] = json!(ids::DENY_MODAL);
        p["view"]["private_metadata"] = json!("tok-7");
        p["view"]["state"] =
            json!({"values": {ids::REASON_BLOCK: {ids::REASON_INPUT: {"type": "plain_text_input", "value": null}}}});
        let Interaction::Answer { answer, .. } = parse_interaction(&form(&p)).unwrap() else { panic!() };
        assert_eq!(answer.answer, Answer::Deny { comment: None });
    }

    #[test]
    fn other_modals_are_ignored() {
        let p: Value = serde_json::from_str(VIEW_SUBMISSION).unwrap();
        assert!(matches!(parse_interaction(&form(&p)).unwrap(), Interaction::Ignored { .. }));
    }

    #[test]
    fn broken_bodies_say_what_is_wrong() {
        assert_eq!(parse_interaction(b"foo=bar"), Err(ParseError::MissingPayload));
        assert!(matches!(parse_interaction(b"payload=%7Bnot"), Err(ParseError::Json(_))));
        assert_eq!(parse_interaction(&form(&json!({"user": {"id": "U1"}}))), Err(ParseError::Missing("type")));
        let mut p = clicked(button(ids::APPROVE, "t"));
        p["user"] = json!(null);
        assert_eq!(parse_interaction(&form(&p)), Err(ParseError::Missing("user.id")));
        let mut no_value = button(ids::APPROVE, "t");
        no_value["value"] = json!(null);
        assert_eq!(parse_interaction(&form(&clicked(no_value))), Err(ParseError::Missing("actions[].value")));
        let mut modal: Value = serde_json::from_str(VIEW_SUBMISSION).unwrap();
        modal["view"]["callback_id"] = json!(ids::DENY_MODAL);
        modal["view"]["private_metadata"] = json!("");
        assert_eq!(parse_interaction(&form(&modal)), Err(ParseError::Missing("view.private_metadata")));
    }

    /// What Socket Mode hands over: slack-morphism's typed event, turned back into JSON.
    fn through_slack_morphism(p: &Value) -> Value {
        let typed: slack_morphism::prelude::SlackInteractionEvent = serde_json::from_value(p.clone()).unwrap();
        serde_json::to_value(typed).unwrap()
    }

    #[test]
    fn typed_events_read_the_same_as_raw_payloads() {
        let mut approve = clicked(button(ids::APPROVE, "tok-1"));
        approve["state"] = json!({"values": {ids::DURATION_BLOCK: {ids::DURATION: {
            "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": "4h"}, "value": "4h"}}}}});
        let mut modal: Value = serde_json::from_str(VIEW_SUBMISSION).unwrap();
        modal["view"]["callback_id"] = json!(ids::DENY_MODAL);
        modal["view"]["private_metadata"] = json!("tok-6");
        modal["view"]["state"] =
            json!({"values": {ids::REASON_BLOCK: {ids::REASON_INPUT: {"type": "plain_text_input", "value": "no"}}}});
        for p in [approve, clicked(button(ids::DENY, "t")), clicked(button(ids::DENY_WITH_REASON, "t")), modal] {
            assert_eq!(parse_interaction_payload(&through_slack_morphism(&p)), parse_interaction_payload(&p), "{p}");
        }
    }

    #[test]
    fn slash_command_bodies_from_the_protocol_notes_parse() {
        let bodies: Vec<&str> = include_str!("../tests/fixtures/slack_slash_command.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(bodies.len(), 3);
        let a = parse_command(bodies[0].as_bytes()).unwrap();
        assert_eq!((a.command.as_str(), a.text.as_str(), a.user_id.as_str()), ("/weather", "94070", "U2147483697"));
        assert_eq!(
            (a.user_name.as_str(), a.team_id.as_str(), a.channel_id.as_str()),
            ("Steve", "T0001", "C2147483705")
        );
        assert_eq!(a.response_url, "https://hooks.slack.com/commands/1234/5678");
        assert_eq!(a.trigger_id, "13345224609.738474920.8088930838d88f008e0");
        let b = parse_command(bodies[1].as_bytes()).unwrap();
        assert_eq!((b.command.as_str(), b.text.as_str()), ("/webhook-collect", ""));
        assert_eq!(b.response_url, "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN");
        let c = parse_command(bodies[2].as_bytes()).unwrap();
        assert_eq!((c.user_id.as_str(), c.text.as_str(), c.user()), ("W111", "Hi", slack("W111")));
        assert!(!c.ssl_check);
        let ping = parse_command(format!("{}&ssl_check=1", bodies[2]).as_bytes()).unwrap();
        assert!(ping.ssl_check);
        assert!(parse_command(b"ssl_check=1&token=x").unwrap().ssl_check);
        assert_eq!(parse_command(b"command=%2Frequest&text=db"), Err(ParseError::Missing("user_id")));
        let plus = parse_command(b"user_id=U1&text=db+admin+for+8h+fix+%26+ship").unwrap();
        assert_eq!(plus.text, "db admin for 8h fix & ship");
    }

    fn args(
        resource: &str,
        role: Option<&str>,
        for_: Vec<Person>,
        duration: Option<&str>,
        reason: Option<&str>,
    ) -> RequestArgs {
        RequestArgs {
            resource: Some(resource.to_owned()),
            role: role.map(str::to_owned),
            for_,
            duration: duration.map(str::to_owned),
            reason: reason.map(str::to_owned),
        }
    }

    fn u(id: &str) -> Person {
        Person::SlackUser(id.to_owned())
    }

    fn e(email: &str) -> Person {
        Person::Email(email.to_owned())
    }

    #[test]
    fn request_text_table() {
        let table: Vec<(&str, RequestArgs)> = vec![
            ("db", args("db", None, vec![], None, None)),
            ("  db  ", args("db", None, vec![], None, None)),
            ("db admin", args("db", Some("admin"), vec![], None, None)),
            ("db admin for 8h", args("db", Some("admin"), vec![], Some("8h"), None)),
            ("db for 8h", args("db", None, vec![], Some("8h"), None)),
            ("db admin for <@U123|kim>", args("db", Some("admin"), vec![u("U123")], None, None)),
            ("db admin for <@U123>", args("db", Some("admin"), vec![u("U123")], None, None)),
            ("db for <@W9> for 48h hotfix", args("db", None, vec![u("W9")], Some("48h"), Some("hotfix"))),
            (
                "db admin for <@U1|a> for <@U2|b> for 7d release week",
                args("db", Some("admin"), vec![u("U1"), u("U2")], Some("7d"), Some("release week")),
            ),
            (
                "db admin for <@U1|a> <@U2|b>, for 1h30m",
                args("db", Some("admin"), vec![u("U1"), u("U2")], Some("1h30m"), None),
            ),
            ("db for <@U1|a>, <@U2|b> x", args("db", None, vec![u("U1"), u("U2")], None, Some("x"))),
            (
                "db admin for <mailto:kim@example.com|kim@example.com> for 30m",
                args("db", Some("admin"), vec![e("kim@example.com")], Some("30m"), None),
            ),
            ("db for kim@example.com", args("db", None, vec![e("kim@example.com")], None, None)),
            ("db admin for @kim", args("db", Some("admin"), vec![Person::Name("kim".to_owned())], None, None)),
            ("db <@U1|a> 8h", args("db", None, vec![u("U1")], Some("8h"), None)),
            ("db 90s", args("db", None, vec![], Some("90s"), None)),
            ("db admin FOR 2H Quick look", args("db", Some("admin"), vec![], Some("2h"), Some("Quick look"))),
            ("db admin for the migration", args("db", Some("admin"), vec![], None, Some("for the migration"))),
            ("db admin for 8h for 4h twice", args("db", Some("admin"), vec![], Some("8h"), Some("for 4h twice"))),
            ("db admin for", args("db", Some("admin"), vec![], None, Some("for"))),
            (
                "db admin for 8h  keep   my  spacing ",
                args("db", Some("admin"), vec![], Some("8h"), Some("keep   my  spacing")),
            ),
            (
                "db admin for 8h ask <@U7|raj> in <#C1|ops> &amp; see <https://x.example/1|ticket> &lt;3",
                args(
                    "db",
                    Some("admin"),
                    vec![],
                    Some("8h"),
                    Some("ask @raj in #ops & see ticket (https://x.example/1) <3"),
                ),
            ),
            ("r&amp;d lead", args("r&d", Some("lead"), vec![], None, None)),
            ("db admin 0h", args("db", Some("admin"), vec![], None, Some("0h"))),
        ];
        for (text, want) in table {
            assert_eq!(parse_request_text(text), want, "{text:?}");
        }
    }

    #[test]
    fn empty_request_text_has_no_resource() {
        assert_eq!(parse_request_text(""), RequestArgs::default());
        assert_eq!(parse_request_text("   \t "), RequestArgs::default());
    }

    #[test]
    fn without_role_turns_the_role_into_the_start_of_the_reason() {
        assert_eq!(
            parse_request_text("vpn need it for the demo").without_role(),
            args("vpn", None, vec![], None, Some("need it for the demo"))
        );
        assert_eq!(parse_request_text("vpn urgent").without_role(), args("vpn", None, vec![], None, Some("urgent")));
        assert_eq!(parse_request_text("vpn").without_role(), args("vpn", None, vec![], None, None));
    }

    #[test]
    fn durations() {
        let ok = [
            ("90s", 90),
            ("30m", 1800),
            ("48h", 172_800),
            ("7d", 604_800),
            ("1h30m", 5400),
            ("2w", 1_209_600),
            ("8H", 28_800),
            ("1d12h", 129_600),
        ];
        for (text, secs) in ok {
            assert_eq!(parse_duration(text), Some(Duration::from_secs(secs)), "{text}");
        }
        for text in ["", "8", "h", "8x", "h8", "1.5h", "0h", "-1h", "8 h", "99999999999999999999h", "for"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }
}
