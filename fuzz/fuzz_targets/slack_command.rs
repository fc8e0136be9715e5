//! Slack slash command bodies (`application/x-www-form-urlencoded`) through `parse_command`, then the command's
//! text through `parse_request_text`; the raw bytes, as text, also go through `parse_request_text` and
//! `parse_duration` directly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signoff_slack::inbound::{parse_command, parse_duration, parse_request_text};

fuzz_target!(|data: &[u8]| {
    if let Ok(command) = parse_command(data) {
        let _ = command.origin();
        let _ = command.user();
        let _ = parse_request_text(&command.text);
    }
    let text = String::from_utf8_lossy(data);
    let _ = parse_request_text(&text);
    let _ = parse_duration(&text);
});
