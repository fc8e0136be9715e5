//! The `custom_id` scheme: how a button or select carries a prompt's token back to us.
//!
//! Discord returns a component's `custom_id` verbatim in the click, and it is the only state a component can
//! carry (1 to 100 characters, unique within a message:
//! <https://discord.com/developers/docs/components/reference#anatomy-of-a-component-custom-id>). So it
//! holds everything a click needs, and nothing is stored on our side per message:
//!
//! | component | `custom_id` |
//! | --- | --- |
//! | Approve | `so:a:<token>` |
//! | Approve for a shorter time | `so:a:<token>:<duration>`, e.g. `so:a:<token>:4h` |
//! | Deny | `so:d:<token>` |
//! | Deny with reason (button, and the modal it opens) | `so:r:<token>` |
//! | Hand to someone else (user select) | `so:e:<token>` |
//!
//! `so` marks the id as signoff's, so a component of any other scheme parses as "not ours" rather than as an
//! error; the one-letter verb keeps room for the token. The token is the core's opaque prompt token (32 hex
//! digits today); it is limited to [`MAX_TOKEN_LEN`] characters of `[A-Za-z0-9_-]` so that no token can
//! contain the `:` separator, and the longest id, `so:a:` + 64 + `:` + 16, is 86 characters, inside Discord's
//! 100. A token that does not fit is refused when the prompt is built, not truncated: a truncated token would
//! come back as a different prompt.
//!
//! The clicker cannot change a `custom_id` (it is set by the bot on its own message and the interaction is
//! signed by Discord), so the duration in an id is one that was offered.

use std::fmt;

/// Discord's limit on a `custom_id`, in characters.
pub const MAX_LEN: usize = 100;
/// The longest prompt token we accept.
pub const MAX_TOKEN_LEN: usize = 64;
/// The longest duration label ("90m", "8h", "7d") we put in an id.
pub const MAX_DURATION_LEN: usize = 16;

const SCHEME: &str = "so";

/// What a component does when clicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Approve, for the requested time or for the shorter `duration` written on the button.
    Approve {
        /// The shorter duration offered on the button ("4h"), if any.
        duration: Option<String>,
    },
    /// Deny.
    Deny,
    /// Deny with a reason: on the button, open the reason form; on the form's submission, deny with what was
    /// written.
    DenyWithReason,
    /// Hand the decision to the user picked in the select.
    Escalate,
}

/// A decoded signoff `custom_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomId {
    /// What the component does.
    pub action: Action,
    /// The prompt's token, as given by the core.
    pub token: String,
}

/// A token, duration or id that does not fit the scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomIdError {
    /// The token is empty, longer than [`MAX_TOKEN_LEN`], or has a character outside `[A-Za-z0-9_-]`.
    #[error("prompt token {0:?} cannot go in a Discord custom_id (1 to 64 characters of A-Z, a-z, 0-9, _ and -)")]
    BadToken(String),
    /// The duration is empty, longer than [`MAX_DURATION_LEN`], or not alphanumeric.
    #[error("duration {0:?} cannot go in a Discord custom_id (1 to 16 letters and digits)")]
    BadDuration(String),
    /// An id that starts like ours but is not well formed.
    #[error("malformed signoff custom_id {0:?}")]
    Malformed(String),
}

impl CustomId {
    /// An Approve id.
    pub fn approve(token: impl Into<String>, duration: Option<String>) -> Self {
        Self { action: Action::Approve { duration }, token: token.into() }
    }

    /// A Deny id.
    pub fn deny(token: impl Into<String>) -> Self {
        Self { action: Action::Deny, token: token.into() }
    }

    /// A Deny-with-reason id (the button and the modal it opens).
    pub fn deny_with_reason(token: impl Into<String>) -> Self {
        Self { action: Action::DenyWithReason, token: token.into() }
    }

    /// An Escalate (user select) id.
    pub fn escalate(token: impl Into<String>) -> Self {
        Self { action: Action::Escalate, token: token.into() }
    }

    /// Writes the id, checking that its parts fit the scheme.
    pub fn encode(&self) -> Result<String, CustomIdError> {
        if !valid_token(&self.token) {
            return Err(CustomIdError::BadToken(self.token.clone()));
        }
        let id = match &self.action {
            Action::Approve { duration: None } => format!("{SCHEME}:a:{}", self.token),
            Action::Approve { duration: Some(d) } => {
                if !valid_duration(d) {
                    return Err(CustomIdError::BadDuration(d.clone()));
                }
                format!("{SCHEME}:a:{}:{d}", self.token)
            }
            Action::Deny => format!("{SCHEME}:d:{}", self.token),
            Action::DenyWithReason => format!("{SCHEME}:r:{}", self.token),
            Action::Escalate => format!("{SCHEME}:e:{}", self.token),
        };
        debug_assert!(id.len() <= MAX_LEN);
        Ok(id)
    }

    /// Reads an id from a click: `Ok(None)` when it is not signoff's (another scheme), an error when it claims
    /// to be ours but is malformed.
    pub fn parse(custom_id: &str) -> Result<Option<Self>, CustomIdError> {
        let Some(rest) = custom_id.strip_prefix(SCHEME).and_then(|r| r.strip_prefix(':')) else {
            return Ok(None);
        };
        let malformed = || CustomIdError::Malformed(custom_id.chars().take(MAX_LEN).collect());
        let mut parts = rest.split(':');
        let (verb, token, extra, more) = (parts.next(), parts.next(), parts.next(), parts.next());
        let token = token.filter(|t| valid_token(t)).ok_or_else(malformed)?.to_owned();
        if more.is_some() {
            return Err(malformed());
        }
        let action = match (verb, extra) {
            (Some("a"), None) => Action::Approve { duration: None },
            (Some("a"), Some(d)) if valid_duration(d) => Action::Approve { duration: Some(d.to_owned()) },
            (Some("d"), None) => Action::Deny,
            (Some("r"), None) => Action::DenyWithReason,
            (Some("e"), None) => Action::Escalate,
            _ => return Err(malformed()),
        };
        Ok(Some(Self { action, token }))
    }
}

impl fmt::Display for CustomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.encode() {
            Ok(id) => f.write_str(&id),
            Err(e) => write!(f, "<{e}>"),
        }
    }
}

fn valid_token(token: &str) -> bool {
    (1..=MAX_TOKEN_LEN).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_duration(duration: &str) -> bool {
    (1..=MAX_DURATION_LEN).contains(&duration.len()) && duration.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn ids_round_trip() {
        for id in [
            CustomId::approve(TOKEN, None),
            CustomId::approve(TOKEN, Some("4h".to_owned())),
            CustomId::deny(TOKEN),
            CustomId::deny_with_reason(TOKEN),
            CustomId::escalate(TOKEN),
        ] {
            let text = id.encode().unwrap();
            assert_eq!(CustomId::parse(&text), Ok(Some(id)), "{text}");
        }
    }

    #[test]
    fn ids_are_written_as_documented() {
        assert_eq!(CustomId::approve(TOKEN, None).encode().unwrap(), format!("so:a:{TOKEN}"));
        assert_eq!(CustomId::approve(TOKEN, Some("4h".into())).encode().unwrap(), format!("so:a:{TOKEN}:4h"));
        assert_eq!(CustomId::deny(TOKEN).encode().unwrap(), format!("so:d:{TOKEN}"));
        assert_eq!(CustomId::deny_with_reason(TOKEN).encode().unwrap(), format!("so:r:{TOKEN}"));
        assert_eq!(CustomId::escalate(TOKEN).encode().unwrap(), format!("so:e:{TOKEN}"));
    }

    #[test]
    fn the_longest_id_fits_discords_limit() {
        let id = CustomId::approve("t".repeat(MAX_TOKEN_LEN), Some("d".repeat(MAX_DURATION_LEN)));
        assert!(id.encode().unwrap().len() <= MAX_LEN);
    }

    #[test]
    fn tokens_and_durations_that_do_not_fit_are_refused_not_truncated() {
        assert!(matches!(CustomId::deny("").encode(), Err(CustomIdError::BadToken(_))));
        assert!(matches!(CustomId::deny("a:b").encode(), Err(CustomIdError::BadToken(_))));
        assert!(matches!(CustomId::deny("t".repeat(MAX_TOKEN_LEN + 1)).encode(), Err(CustomIdError::BadToken(_))));
        assert!(matches!(CustomId::approve(TOKEN, Some("4 h".into())).encode(), Err(CustomIdError::BadDuration(_))));
        assert!(matches!(CustomId::approve(TOKEN, Some(String::new())).encode(), Err(CustomIdError::BadDuration(_))));
    }

    #[test]
    fn ids_of_other_schemes_are_not_ours() {
        for other in ["click_one", "so", "sox:a:abc", "", "approve:abc"] {
            assert_eq!(CustomId::parse(other), Ok(None), "{other}");
        }
    }

    #[test]
    fn malformed_ids_of_our_scheme_are_errors() {
        for bad in [
            "so:",
            "so:a",
            "so:a:",
            "so:x:abc",
            "so:d:abc:4h",
            "so:r:abc:x",
            "so:e:abc:x",
            "so:a:abc:4h:x",
            "so:a:ab c",
        ] {
            assert!(matches!(CustomId::parse(bad), Err(CustomIdError::Malformed(_))), "{bad}");
        }
    }
}
