//! One place decides what a chat user sees when they click: the click becomes a decision for the runtime,
//! and every way it can be refused becomes one private sentence.

use signoff_port::ClickReply;

use crate::catalog::Catalog;
use crate::chat::render::when;
use crate::engine::{Decision, Refusal};
use crate::runtime::{Runtime, RuntimeError, Source};

/// Applies a click by directory user `by` (already mapped from the platform's id) on the prompt `token`.
pub async fn answer(runtime: &Runtime, token: &str, by: &str, decision: Decision, source: Source) -> ClickReply {
    match runtime.answer(token, by, decision, source, crate::time::now()).await {
        Ok(answered) => ClickReply::Closed(answered.closing),
        Err(RuntimeError::Replayed) => ClickReply::Replayed,
        Err(e) => ClickReply::Refused { message: refusal(&runtime.catalog(), &e) },
    }
}

/// The refusal shown to someone who is not in the directory.
pub fn not_in_directory(platform: &str) -> ClickReply {
    ClickReply::Refused {
        message: format!(
            "You are not in signoff's directory, so you cannot answer this request. \
             Ask an administrator to add your {platform} account."
        ),
    }
}

/// A refusal in one sentence for the person who clicked. Never includes internal details.
pub fn refusal(cat: &Catalog, e: &RuntimeError) -> String {
    let name = |id: &str| cat.directory.name_of(id).to_owned();
    match e {
        RuntimeError::Refused(r) => match r {
            Refusal::NotTheApprover { approver, .. } => {
                format!("This request is waiting for {}, not for you.", name(approver))
            }
            Refusal::AlreadySettled { how, at, .. } => {
                let how = if how.starts_with("you ") { how.replacen("you ", "You ", 1) } else { capitalize(how) };
                format!("Already settled: {how} at {}.", when(*at))
            }
            Refusal::ItemSettled { status, by, at } => match by {
                Some(b) => format!("This request was already {status} by {} at {}.", name(b), when(*at)),
                None => format!("This request was already {status} at {}.", when(*at)),
            },
            other => format!("{}.", capitalize(&other.to_string())),
        },
        RuntimeError::UnknownPrompt => "This prompt is no longer known to signoff.".to_owned(),
        RuntimeError::Unavailable => "signoff is restarting; please try again in a moment.".to_owned(),
        RuntimeError::Store(_) => "Something went wrong on our side; nothing was changed. Please try again.".to_owned(),
        other => format!("{}.", capitalize(&other.to_string())),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
