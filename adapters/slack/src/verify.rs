//! Checking that an HTTP request really comes from Slack, before anything in it is parsed.
//!
//! Slack signs every slash command and interactivity request with the app's signing secret:
//! `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{X-Slack-Request-Timestamp}:{raw body}")>`, and asks us to
//! refuse timestamps more than five minutes away from our clock, in either direction, so that a captured request
//! cannot be replayed later (<https://docs.slack.dev/authentication/verifying-requests-from-slack>).
//!
//! Why not slack-morphism's `SlackEventSignatureVerifier`: it reads the wall clock itself (so the window cannot be
//! tested, and the published known-answer example, dated 2018, can never pass), and takes the body as `&str`
//! (a body that is not UTF-8 cannot even be checked). The algorithm is ten lines; we take `now` as an argument,
//! like the rest of signoff, and compare in constant time through [`Mac::verify_slice`].
//!
//! Errors say what is wrong (a header is missing, the timestamp is out of the window, the signature does not
//! match) and never carry the secret, the expected signature or the received one.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header that carries the signature, as Slack spells it (header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The header that carries the Unix time, in seconds, at which Slack signed the request.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// How far, in seconds, a request's timestamp may be from our clock, in either direction: Slack's documented
/// replay window is five minutes.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request was refused. Every case should be answered with 401 and otherwise ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header is absent or empty.
    #[error("missing {header} header")]
    Missing {
        /// Which one ([`SIGNATURE_HEADER`] or [`TIMESTAMP_HEADER`]).
        header: &'static str,
    },
    /// The timestamp is not a whole number of seconds.
    #[error("malformed {header} header: not a Unix time in seconds")]
    Malformed {
        /// Which one (always [`TIMESTAMP_HEADER`]).
        header: &'static str,
    },
    /// The timestamp is more than [`MAX_SKEW_SECS`] away from our clock: a replay, or a badly wrong clock.
    #[error("request timestamp is {skew_secs} s away from our clock (at most {MAX_SKEW_SECS} s allowed)")]
    Stale {
        /// `now - timestamp`: positive when the request is old, negative when it is dated in the future.
        skew_secs: i64,
    },
    /// The signature is not `v0=` and 64 hex digits, or does not match the body. Also returned when our signing
    /// secret is empty, so that a misconfiguration never accepts anything.
    #[error("signature does not match the request")]
    BadSignature,
}

impl VerifyError {
    /// A short label for metrics: `headers`, `timestamp`, `signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Missing { .. } => "headers",
            VerifyError::Malformed { .. } | VerifyError::Stale { .. } => "timestamp",
            VerifyError::BadSignature => "signature",
        }
    }
}

/// Verifies a Slack request: both headers present, the timestamp within [`MAX_SKEW_SECS`] of `now_unix`, and the
/// `v0` signature matching `body` (the raw bytes as received, before any decoding). `now_unix` is the current
/// Unix time in seconds; it is an argument so that tests can fix it.
pub fn verify(
    signing_secret: &str,
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let timestamp = present(timestamp_header, TIMESTAMP_HEADER)?;
    let signature = present(signature_header, SIGNATURE_HEADER)?;
    let ts: i64 = timestamp.parse().map_err(|_| VerifyError::Malformed { header: TIMESTAMP_HEADER })?;
    let skew_secs = now_unix.saturating_sub(ts);
    if skew_secs.saturating_abs() > MAX_SKEW_SECS {
        return Err(VerifyError::Stale { skew_secs });
    }
    if signing_secret.is_empty() {
        return Err(VerifyError::BadSignature);
    }
    let received = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|bytes| bytes.len() == 32)
        .ok_or(VerifyError::BadSignature)?;
    // `verify_slice` compares in constant time, so a forger learns nothing from how long a refusal takes.
    mac(signing_secret, timestamp, body).verify_slice(&received).map_err(|_| VerifyError::BadSignature)
}

/// The `X-Slack-Signature` value Slack would send for `body` at `timestamp`: `v0=` and 64 lowercase hex digits.
/// For tests and fakes that play Slack; the server only ever calls [`verify`].
pub fn sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", hex::encode(mac(signing_secret, timestamp, body).finalize().into_bytes()))
}

fn mac(signing_secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(signing_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

fn present<'a>(value: Option<&'a str>, header: &'static str) -> Result<&'a str, VerifyError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(VerifyError::Missing { header }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example (docs "Verifying requests from Slack"; also python-slack-sdk's test).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: i64 = 1_531_420_618;

    #[test]
    fn slacks_published_example_signs_to_the_published_signature() {
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), EXPECTED);
    }

    #[test]
    fn slacks_published_example_verifies_at_its_own_time() {
        assert_eq!(verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), NOW), Ok(()));
    }

    #[test]
    fn the_window_is_five_minutes_in_both_directions_inclusive() {
        for now in [NOW - 300, NOW + 300] {
            assert_eq!(verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), now), Ok(()), "now = {now}");
        }
    }

    #[test]
    fn a_request_older_than_five_minutes_is_stale_even_when_correctly_signed() {
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), NOW + 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
    }

    #[test]
    fn a_request_dated_more_than_five_minutes_ahead_is_refused() {
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), NOW - 301),
            Err(VerifyError::Stale { skew_secs: -301 })
        );
    }

    #[test]
    fn a_forged_body_or_signature_or_secret_is_refused() {
        let forged_body = format!("{BODY}------");
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), forged_body.as_bytes(), NOW),
            Err(VerifyError::BadSignature)
        );
        let flipped = format!("{}0", &EXPECTED[..EXPECTED.len() - 1]);
        assert_eq!(verify(SECRET, Some(TS), Some(&flipped), BODY.as_bytes(), NOW), Err(VerifyError::BadSignature));
        assert_eq!(
            verify("another-secret", Some(TS), Some(EXPECTED), BODY.as_bytes(), NOW),
            Err(VerifyError::BadSignature)
        );
        // The timestamp is part of what is signed: moving it inside the window breaks the signature.
        let moved = (NOW + 1).to_string();
        assert_eq!(verify(SECRET, Some(&moved), Some(EXPECTED), BODY.as_bytes(), NOW), Err(VerifyError::BadSignature));
    }

    #[test]
    fn malformed_signatures_are_bad_signatures() {
        for sig in ["a2114d57", "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v0=zz", "v0="] {
            assert_eq!(
                verify(SECRET, Some(TS), Some(sig), BODY.as_bytes(), NOW),
                Err(VerifyError::BadSignature),
                "{sig}"
            );
        }
    }

    #[test]
    fn an_unsigned_request_says_which_header_is_missing() {
        assert_eq!(
            verify(SECRET, None, Some(EXPECTED), BODY.as_bytes(), NOW),
            Err(VerifyError::Missing { header: TIMESTAMP_HEADER })
        );
        assert_eq!(
            verify(SECRET, Some(TS), None, BODY.as_bytes(), NOW),
            Err(VerifyError::Missing { header: SIGNATURE_HEADER })
        );
        assert_eq!(
            verify(SECRET, Some(TS), Some("  "), BODY.as_bytes(), NOW),
            Err(VerifyError::Missing { header: SIGNATURE_HEADER })
        );
        assert_eq!(
            verify(SECRET, Some("yesterday"), Some(EXPECTED), BODY.as_bytes(), NOW),
            Err(VerifyError::Malformed { header: TIMESTAMP_HEADER })
        );
    }

    #[test]
    fn an_empty_secret_accepts_nothing_not_even_its_own_signature() {
        let sig = sign("", TS, BODY.as_bytes());
        assert_eq!(verify("", Some(TS), Some(&sig), BODY.as_bytes(), NOW), Err(VerifyError::BadSignature));
    }

    #[test]
    fn bodies_that_are_not_utf8_are_still_checked() {
        let body = [0xff, 0xfe, b'a'];
        let sig = sign(SECRET, TS, &body);
        assert_eq!(verify(SECRET, Some(TS), Some(&sig), &body, NOW), Ok(()));
    }

    #[test]
    fn errors_never_show_the_secret_or_a_signature() {
        let errors = [
            verify(SECRET, Some(TS), Some(EXPECTED), b"x", NOW).unwrap_err(),
            verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), NOW + 1000).unwrap_err(),
            verify(SECRET, None, None, BODY.as_bytes(), NOW).unwrap_err(),
        ];
        for e in errors {
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains(SECRET) && !shown.contains(&EXPECTED[3..13]), "{shown}");
            }
        }
    }
}
