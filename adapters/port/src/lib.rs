//! The boundary between signoff's core and its chat adapters.
//!
//! The core decides *what* to say (a prompt, a dismissal, a notice) in these neutral types; an adapter
//! decides *how* it looks on its platform (Block Kit on Slack, components on Discord) and delivers it.
//! Incoming clicks come back the other way as [`IncomingAnswer`]s. No platform crate appears here, so the
//! core never depends on Slack or Discord types, and a new platform is one new crate.
//!
//! Text fields arrive already written for people (names, not ids; "8h", not seconds): adapters lay them
//! out and never have to look anything up.
#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A boxed future, so that [`ChatAdapter`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A chat platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Slack.
    Slack,
    /// Discord.
    Discord,
    /// No chat platform: prompts and notices are written to the log (the API acts for approvers).
    Console,
}

impl Platform {
    /// The lower-case name used in audit rows and decision records.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Console => "console",
        }
    }
}

/// A person on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatUser {
    /// Which platform.
    pub platform: Platform,
    /// The platform's id for them (Slack `U...`, a Discord snowflake).
    pub id: String,
}

/// Where a delivered message lives, so it can be updated later.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    /// Which platform.
    pub platform: Platform,
    /// The conversation (Slack DM channel `D...`, Discord DM channel id).
    pub channel: String,
    /// The message (Slack `ts`, Discord message id).
    pub message: String,
}

/// How signoff marks each message it sends, so that a send whose outcome is in doubt (a timeout, a 5xx after the
/// platform may have accepted it, a replica that died mid-call) can be found on the platform before it is sent
/// again, and every copy of a prompt can be found when it closes (DESIGN 7.4). Slack carries it in the message's
/// `metadata`; Discord in the `nonce` (with `enforce_nonce`, so a retried create returns the first message) and,
/// for prompts, in the buttons' ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Unique per message signoff means to send (the outbox row's key): every attempt of one send carries it.
    pub key: String,
    /// For a prompt, its token: every copy of one prompt carries it, whichever send made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the message was first meant to be sent (Unix milliseconds): copies are not older, so a search of the
    /// conversation can stop there.
    pub since_ms: i64,
}

impl Mark {
    /// The identity a search for copies matches on: the token for prompts, else the key.
    pub fn identity(&self) -> &str {
        self.token.as_deref().unwrap_or(&self.key)
    }
}

/// The `metadata.event_type` of every Slack message signoff sends; `event_payload` holds the [`Mark`]'s `key` and,
/// for prompts, `token`.
pub const SLACK_EVENT_TYPE: &str = "signoff_message";

/// A request for a decision, as an approver should see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// Opaque token that identifies this prompt when the approver clicks; adapters put it in the button's
    /// value or `custom_id` and hand it back unchanged.
    pub token: String,
    /// Who asks, by name.
    pub requester: String,
    /// Who the access is for, when not the requester.
    pub beneficiary: Option<String>,
    /// The resource's display name.
    pub resource: String,
    /// The requested role.
    pub role: Option<String>,
    /// The requester's reason.
    pub reason: Option<String>,
    /// How long the access would last ("8h"), or `None` for no end.
    pub duration: Option<String>,
    /// Where this step stands: "1 of 3 needed".
    pub progress: String,
    /// Position in a chain: "step 1 of 2: app admin".
    pub step: Option<String>,
    /// Set when this ask replaces someone: "escalated from Kim Lee: no answer within 48h".
    pub replaces: Option<String>,
    /// Set when this ask is a fallback: "asked because the group owner is out of office".
    pub fallback: Option<String>,
    /// Whether to offer the "hand to someone else" picker.
    pub allow_escalate: bool,
    /// Shorter durations the approver may pick instead ("1h", "4h"); empty when the item asks for none.
    pub duration_choices: Vec<String>,
    /// The request's web page (`[server] public_url`), shown as a link when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The step needs a fresh sign-in with a second factor: no Approve or Deny here, only the link, and a line
    /// saying why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub step_up: bool,
}

/// How a prompt ended, shown in place of its buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptClosing {
    /// One line: "Approved by you", "Approved by Kim Lee — no longer needed", "Escalated to Raj after 48h".
    pub headline: String,
    /// When, already formatted for people.
    pub at: String,
    /// The original request, one line, so the message still says what it was about.
    pub summary: String,
    /// The request's web page, when `[server] public_url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Something a person is told outside a prompt: an outcome, an escalation, a reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// One line.
    pub title: String,
    /// More detail, possibly several lines.
    pub body: String,
    /// The request's web page, when `[server] public_url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// What an approver clicked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "answer")]
pub enum Answer {
    /// Approve, optionally for a shorter time ("4h").
    Approve {
        /// The duration picked, as written on the choice.
        duration: Option<String>,
    },
    /// Deny, with an optional reason.
    Deny {
        /// The reason typed.
        comment: Option<String>,
    },
    /// Hand the decision to someone else.
    Escalate {
        /// The person picked, on the same platform.
        to: ChatUser,
    },
}

/// A click that came in from a platform, already verified (signature) by the adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingAnswer {
    /// The prompt's token, as given in [`PromptMessage::token`].
    pub token: String,
    /// Who clicked.
    pub clicker: ChatUser,
    /// What they clicked.
    pub answer: Answer,
    /// The message clicked, so it can be updated in the response.
    pub message: Option<MessageRef>,
}

/// How the core answers a click, for the adapter to show privately or in the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum ClickReply {
    /// Accepted: replace the clicked message with this closing.
    Closed(PromptClosing),
    /// Refused: tell the clicker privately, and change nothing.
    Refused {
        /// Why, in a sentence: "This request was already approved by Kim Lee at 10:42."
        message: String,
    },
    /// The same callback was already handled (a replay): acknowledge it, change nothing and show nothing new.
    Replayed,
}

/// Why a delivery failed, so the outbox knows whether and when to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// The platform asked us to slow down; retry after this long.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// From `Retry-After` or `retry_after`.
        retry_after: Duration,
    },
    /// A failure that may pass (a 5xx, a timeout, a dropped connection): retry with backoff.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// A failure that will not pass by retrying (unknown user, revoked token): give up and audit.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A chat platform, as the core sees it. The outbox delivers at least once; every message carries its [`Mark`],
/// so that the core can find what an earlier, doubtful attempt left on the platform.
pub trait ChatAdapter: Send + Sync {
    /// Which platform this adapter serves.
    fn platform(&self) -> Platform;

    /// Sends a prompt as a direct message to `to`, marked with `mark`; returns where it landed.
    fn send_prompt<'a>(
        &'a self,
        to: &'a ChatUser,
        prompt: &'a PromptMessage,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>>;

    /// Replaces a prompt's buttons with how it ended.
    fn close_prompt<'a>(
        &'a self,
        message: &'a MessageRef,
        closing: &'a PromptClosing,
    ) -> BoxFuture<'a, Result<(), ChatError>>;

    /// Sends a notification as a direct message to `to`, marked with `mark`; returns where it landed.
    fn notify<'a>(
        &'a self,
        to: &'a ChatUser,
        notification: &'a Notification,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>>;

    /// Our messages in the direct-message conversation with `to` that carry `mark` ([`Mark::identity`]), oldest
    /// first, read back from the platform (Slack `conversations.history` with its metadata, Discord's message
    /// list). Empty when there are none.
    fn find_copies<'a>(&'a self, to: &'a ChatUser, mark: &'a Mark)
    -> BoxFuture<'a, Result<Vec<MessageRef>, ChatError>>;

    /// Deletes one of our own messages: an extra copy left by a send that was in doubt.
    fn delete_message<'a>(&'a self, message: &'a MessageRef) -> BoxFuture<'a, Result<(), ChatError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_through_json_with_a_tag_that_names_them() {
        let a = IncomingAnswer {
            token: "t1".to_owned(),
            clicker: ChatUser { platform: Platform::Slack, id: "U1".to_owned() },
            answer: Answer::Escalate { to: ChatUser { platform: Platform::Slack, id: "U2".to_owned() } },
            message: None,
        };
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["answer"]["answer"], "escalate");
        assert_eq!(json["clicker"]["platform"], "slack");
        let back: IncomingAnswer = serde_json::from_value(json).unwrap();
        assert_eq!(back, a);
    }
}
