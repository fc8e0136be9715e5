//! Slack interactivity bodies (`payload=<url-encoded JSON>`) through `parse_interaction`, and the same bytes, when
//! they are JSON, through `parse_interaction_payload` (what Socket Mode hands over).
#![no_main]

use libfuzzer_sys::fuzz_target;
use signoff_slack::inbound::{Interaction, parse_interaction, parse_interaction_payload};

fn check(parsed: Result<(signoff_slack::inbound::Origin, Interaction), signoff_slack::inbound::ParseError>) {
    if let Ok((_, Interaction::Answer { answer, .. })) = &parsed {
        assert!(!answer.clicker.id.is_empty(), "an answer with no clicker");
    }
    if let Err(e) = parsed {
        let _ = e.to_string();
    }
}

fuzz_target!(|data: &[u8]| {
    check(parse_interaction(data));
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        check(parse_interaction_payload(&value));
    }
});
