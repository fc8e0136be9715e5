//! Slack's request signature check (`signoff_slack::verify::verify`) with arbitrary headers, body, secret and
//! clock. Besides "never panics": a request it accepts carries exactly the signature `sign` makes for it, and a
//! request signed with the secret at a timestamp inside the window is accepted.
//!
//! The input is lines, so that seeds made from the fixtures are readable: `now`, flags, secret, timestamp header,
//! signature header, then the body (the rest, newlines included). `now` is our clock in Unix seconds (anything that
//! is not a `u32` reads as 0); a header written `-` is absent; the flag `s` replaces the signature with the right
//! one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signoff_slack::verify::{MAX_SKEW_SECS, sign, verify};

/// A header line: `-` is an absent header.
fn header(line: &str) -> Option<&str> {
    if line == "-" { None } else { Some(line) }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(6, |&b| b == b'\n');
    let mut line = || std::str::from_utf8(parts.next().unwrap_or_default()).ok();
    let (Some(now), Some(flags), Some(secret), Some(timestamp), Some(signature)) =
        (line(), line(), line(), line(), line())
    else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let now = i64::from(now.parse::<u32>().unwrap_or(0));
    let (timestamp, signature) = (header(timestamp), header(signature));
    let signed = match (flags.contains('s'), timestamp) {
        (true, Some(ts)) => Some(sign(secret, ts, body)),
        _ => None,
    };
    let signature = signed.as_deref().or(signature);

    let result = verify(secret, timestamp, signature, body, now);

    if result.is_ok() {
        let ts = timestamp.expect("accepted without a timestamp").trim();
        let sig = signature.expect("accepted without a signature").trim();
        assert!(!secret.is_empty(), "accepted under an empty secret");
        assert_eq!(sig.to_ascii_lowercase(), sign(secret, ts, body), "accepted a wrong signature");
        let sent = ts.parse::<i64>().expect("accepted a malformed timestamp");
        assert!(now.abs_diff(sent) <= MAX_SKEW_SECS.unsigned_abs(), "accepted a stale timestamp");
    }
    if let (Some(_), Some(ts)) = (&signed, timestamp) {
        let fresh = ts.trim() == ts && ts.parse::<i64>().is_ok_and(|t| now.abs_diff(t) <= MAX_SKEW_SECS.unsigned_abs());
        if fresh && !secret.is_empty() {
            assert_eq!(result, Ok(()), "refused a correctly signed, fresh request");
        }
    }
    if let Err(e) = result {
        let _ = e.reason();
        if let Some(expected) = &signed {
            assert!(!e.to_string().contains(&expected[3..]), "an error shows the signature");
        }
    }
});
