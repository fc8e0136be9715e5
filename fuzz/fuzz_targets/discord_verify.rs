//! Discord's Ed25519 request check (`Verifier::from_hex`, `Verifier::verify_fresh`) with an arbitrary public key
//! or the application's, arbitrary headers, body and clock. Besides "never panics": a body signed with the
//! application's key at a fresh timestamp is accepted, and an accepted request's timestamp is fresh.
//!
//! The input is lines: `now` (Unix seconds; anything that is not a `u32` reads as 0), flags, the public key as
//! configured (`-`: the application's real key), the timestamp header, the signature header, then the body (the
//! rest). A header written `-` is absent; the flag `s` replaces the signature with the application key's over the
//! timestamp and body, `u` writes it in upper case.
#![no_main]

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use signoff_discord::verify::{Verifier, WINDOW_SECS};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A header line: `-` is an absent header.
fn header(line: &str) -> Option<&str> {
    if line == "-" { None } else { Some(line) }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(6, |&b| b == b'\n');
    let mut line = || std::str::from_utf8(parts.next().unwrap_or_default()).ok();
    let (Some(now), Some(flags), Some(public_key), Some(timestamp), Some(signature)) =
        (line(), line(), line(), line(), line())
    else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let now = i64::from(now.parse::<u32>().unwrap_or(0));
    let (timestamp, signature) = (header(timestamp), header(signature));

    let key = SigningKey::from_bytes(&[7u8; 32]);
    let our_key = public_key == "-";
    let our_hex = hex(&key.verifying_key().to_bytes());
    let Ok(verifier) = Verifier::from_hex(if our_key { &our_hex } else { public_key }) else { return };
    let signed = match (flags.contains('s'), timestamp) {
        (true, Some(ts)) => {
            let sig = hex(&key.sign(&[ts.as_bytes(), body].concat()).to_bytes());
            Some(if flags.contains('u') { sig.to_uppercase() } else { sig })
        }
        _ => None,
    };
    let signature = signed.as_deref().or(signature);

    let result = verifier.verify_fresh(signature, timestamp, body, now);
    let _ = verifier.verify(signature, timestamp, body);

    if result.is_ok() {
        let sent: i64 = timestamp.expect("accepted without a timestamp").trim().parse().expect("a malformed timestamp");
        assert!(now.abs_diff(sent) <= WINDOW_SECS.unsigned_abs(), "accepted a stale timestamp");
    }
    if let (Some(_), Some(ts), true) = (&signed, timestamp, our_key) {
        let fresh =
            !ts.is_empty() && ts.trim().parse::<i64>().is_ok_and(|t| now.abs_diff(t) <= WINDOW_SECS.unsigned_abs());
        if fresh {
            assert_eq!(result, Ok(()), "refused a correctly signed, fresh request");
        }
    }
    if let Err(e) = result {
        let _ = e.reason();
    }
});
