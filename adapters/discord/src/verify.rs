//! Ed25519 verification of incoming interactions.
//!
//! Discord signs every interaction it POSTs to the endpoint: `X-Signature-Ed25519` is the hex signature of the
//! UTF-8 bytes of `X-Signature-Timestamp` followed by the raw body, made with the application's key; the public
//! half is shown in the Developer Portal as 64 hex digits (`[discord] public_key`). Discord's docs require the
//! check on every request and a `401` when it fails, and the portal refuses to save the endpoint URL unless
//! both hold
//! (<https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers>).
//!
//! The check must run on the raw bytes before anything is parsed, so [`Verifier::verify`] takes the body as
//! bytes and [`crate::inbound::parse_verified`] will not parse without it.
//!
//! The cryptography is serenity's [`serenity::interactions_endpoint::Verifier`]. This wrapper adds what its
//! API leaves to the caller: a key parser that reports bad config as an error (serenity's `Verifier::new`
//! panics on bad hex), and distinct errors for missing headers, so that the log says which one was absent.
//!
//! A freshness window is enforced on the timestamp ([`WINDOW_SECS`], as Slack does): Discord documents none, but
//! without one a request captured once could be replayed for ever. Inside the window a replay has the same
//! interaction id as the original, and the core stores ids to count each interaction once.

use std::fmt;

/// The header that carries the hex Ed25519 signature (header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header that carries the timestamp that is signed together with the body.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// How far, in seconds, a request's signed timestamp may be from our clock before it is refused as stale.
pub const WINDOW_SECS: i64 = 5 * 60;

/// Checks that an interaction request comes from Discord, with the application's public key.
#[derive(Clone)]
pub struct Verifier {
    inner: serenity::interactions_endpoint::Verifier,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// Why the configured public key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 64 hexadecimal digits.
    #[error(
        "the Discord public key must be 64 hexadecimal digits (the application's Public Key in the Developer Portal)"
    )]
    NotHex,
    /// 32 bytes, but not a point on the Ed25519 curve.
    #[error("the Discord public key is not a valid Ed25519 public key")]
    NotAKey,
}

/// Why a request was refused; every variant means "answer 401".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No (or an empty) `X-Signature-Ed25519` header.
    #[error("missing X-Signature-Ed25519 header")]
    MissingSignature,
    /// No (or an empty) `X-Signature-Timestamp` header.
    #[error("missing X-Signature-Timestamp header")]
    MissingTimestamp,
    /// The signature is malformed, or does not match the timestamp and body under our key.
    #[error("invalid request signature")]
    BadSignature,
    /// Signed, but the timestamp is not a number or is more than [`WINDOW_SECS`] from our clock (a replay).
    #[error("stale or malformed X-Signature-Timestamp")]
    Stale,
}

impl VerifyError {
    /// A short label for metrics: `signature`, `timestamp`, `headers`.
    pub fn reason(self) -> &'static str {
        match self {
            VerifyError::MissingSignature | VerifyError::MissingTimestamp => "headers",
            VerifyError::BadSignature => "signature",
            VerifyError::Stale => "timestamp",
        }
    }
}

impl Verifier {
    /// Builds a verifier from the application's public key as 64 hex digits (either case; surrounding
    /// whitespace, as pasted into a config file, is ignored).
    pub fn from_hex(public_key_hex: &str) -> Result<Self, KeyError> {
        let key = decode_hex::<32>(public_key_hex.trim()).ok_or(KeyError::NotHex)?;
        let inner = serenity::interactions_endpoint::Verifier::try_new(key).map_err(|_| KeyError::NotAKey)?;
        Ok(Self { inner })
    }

    /// [`Verifier::verify`], then the timestamp's freshness against `now` (Unix seconds): both must hold.
    pub fn verify_fresh(
        &self,
        signature_hex: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        self.verify(signature_hex, timestamp, body)?;
        let sent: i64 = timestamp.unwrap_or_default().trim().parse().map_err(|_| VerifyError::Stale)?;
        // Saturating: a signed timestamp near i64::MIN or MAX must be stale, not an overflow (a panic with overflow
        // checks, and `abs(i64::MIN)` staying negative, so fresh, without them).
        if now.saturating_sub(sent).saturating_abs() > WINDOW_SECS {
            return Err(VerifyError::Stale);
        }
        Ok(())
    }

    /// Verifies one request from its two headers (as received, `None` when absent) and its raw body.
    pub fn verify(&self, signature_hex: Option<&str>, timestamp: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
        let signature = signature_hex.filter(|s| !s.is_empty()).ok_or(VerifyError::MissingSignature)?;
        let timestamp = timestamp.filter(|s| !s.is_empty()).ok_or(VerifyError::MissingTimestamp)?;
        // serenity's own hex parser accepts a sign (`u8::from_str_radix("+f", 16)`); only plain hex digits are
        // a signature, so anything else is refused before it gets there.
        if signature.len() != 128 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VerifyError::BadSignature);
        }
        self.inner.verify(signature, timestamp, body).map_err(|()| VerifyError::BadSignature)
    }
}

/// Decodes exactly `N` bytes from `2 * N` hex digits; `None` for anything else.
fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn test_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn public_hex(key: &SigningKey) -> String {
        key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let message = [timestamp.as_bytes(), body].concat();
        key.sign(&message).to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    const BODY: &[u8] = br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;
    const TS: &str = "1700000000";

    #[test]
    fn a_request_signed_with_the_application_key_is_accepted() {
        let key = test_key();
        let verifier = Verifier::from_hex(&public_hex(&key)).unwrap();
        let signature = sign(&key, TS, BODY);
        assert_eq!(verifier.verify(Some(&signature), Some(TS), BODY), Ok(()));
        assert_eq!(verifier.verify(Some(&signature.to_uppercase()), Some(TS), BODY), Ok(()));
    }

    #[test]
    fn a_signed_request_outside_the_window_is_stale() {
        let key = test_key();
        let verifier = Verifier::from_hex(&public_hex(&key)).unwrap();
        let signature = sign(&key, TS, BODY);
        let at = 1_700_000_000;
        assert_eq!(verifier.verify_fresh(Some(&signature), Some(TS), BODY, at + WINDOW_SECS), Ok(()));
        assert_eq!(verifier.verify_fresh(Some(&signature), Some(TS), BODY, at - WINDOW_SECS), Ok(()));
        assert_eq!(
            verifier.verify_fresh(Some(&signature), Some(TS), BODY, at + WINDOW_SECS + 1),
            Err(VerifyError::Stale)
        );
        assert_eq!(verifier.verify_fresh(Some(&signature), Some(TS), BODY, at + 86_400), Err(VerifyError::Stale));
        // The signature is checked first: a forged request is a bad signature whatever its time.
        assert_eq!(verifier.verify_fresh(Some(&"0".repeat(128)), Some(TS), BODY, at), Err(VerifyError::BadSignature));
        let odd = sign(&key, "soon", BODY);
        assert_eq!(verifier.verify_fresh(Some(&odd), Some("soon"), BODY, at), Err(VerifyError::Stale));
    }

    #[test]
    fn the_public_key_may_be_upper_case_and_padded_with_whitespace() {
        let key = test_key();
        let verifier = Verifier::from_hex(&format!("  {}\n", public_hex(&key).to_uppercase())).unwrap();
        assert_eq!(verifier.verify(Some(&sign(&key, TS, BODY)), Some(TS), BODY), Ok(()));
    }

    #[test]
    fn a_changed_body_or_timestamp_is_refused() {
        let key = test_key();
        let verifier = Verifier::from_hex(&public_hex(&key)).unwrap();
        let signature = sign(&key, TS, BODY);
        let mut tampered = BODY.to_vec();
        tampered[9] = b'2';
        assert_eq!(verifier.verify(Some(&signature), Some(TS), &tampered), Err(VerifyError::BadSignature));
        assert_eq!(verifier.verify(Some(&signature), Some("1699990000"), BODY), Err(VerifyError::BadSignature));
    }

    #[test]
    fn the_timestamp_comes_before_the_body_in_the_signed_message() {
        let key = test_key();
        let verifier = Verifier::from_hex(&public_hex(&key)).unwrap();
        let body_first = {
            let message = [BODY, TS.as_bytes()].concat();
            key.sign(&message).to_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        assert_eq!(verifier.verify(Some(&body_first), Some(TS), BODY), Err(VerifyError::BadSignature));
    }

    #[test]
    fn a_signed_timestamp_at_the_ends_of_i64_is_stale_not_an_overflow() {
        // Found while writing the `discord_verify` fuzz target (fuzz/, RELIABILITY.md "Fuzzing"): `now - sent`
        // overflowed for a signed timestamp below `now - i64::MAX`.
        let key = test_key();
        let verifier = Verifier::from_hex(&public_hex(&key)).unwrap();
        for ts in ["-9223372036854775808", "-9223372036854775807", "9223372036854775807"] {
            let signature = sign(&key, ts, BODY);
            assert_eq!(verifier.verify(Some(&signature), Some(ts), BODY), Ok(()), "{ts}");
            for now in [0, 1_700_000_000, 4_102_444_800] {
                assert_eq!(
                    verifier.verify_fresh(Some(&signature), Some(ts), BODY, now),
                    Err(VerifyError::Stale),
                    "{ts}"
                );
            }
        }
    }

    #[test]
    fn a_signature_from_another_key_is_refused() {
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let verifier = Verifier::from_hex(&public_hex(&test_key())).unwrap();
        assert_eq!(verifier.verify(Some(&sign(&other, TS, BODY)), Some(TS), BODY), Err(VerifyError::BadSignature));
    }

    #[test]
    fn missing_or_empty_headers_are_named() {
        let key = test_key();
        let verifier = Verifier::from_hex(&public_hex(&key)).unwrap();
        let signature = sign(&key, TS, BODY);
        assert_eq!(verifier.verify(None, Some(TS), BODY), Err(VerifyError::MissingSignature));
        assert_eq!(verifier.verify(Some(""), Some(TS), BODY), Err(VerifyError::MissingSignature));
        assert_eq!(verifier.verify(Some(&signature), None, BODY), Err(VerifyError::MissingTimestamp));
        assert_eq!(verifier.verify(Some(&signature), Some(""), BODY), Err(VerifyError::MissingTimestamp));
    }

    #[test]
    fn garbage_signatures_are_refused_without_panicking() {
        let verifier = Verifier::from_hex(&public_hex(&test_key())).unwrap();
        let plus_signs = "+f".repeat(64);
        let non_ascii = "é".repeat(64);
        for garbage in ["zz", "00", &"0".repeat(128), &"g".repeat(128), &plus_signs, &non_ascii, &"0".repeat(130)] {
            assert_eq!(verifier.verify(Some(garbage), Some(TS), BODY), Err(VerifyError::BadSignature), "{garbage}");
        }
    }

    #[test]
    fn a_bad_public_key_is_an_error_not_a_panic() {
        assert_eq!(Verifier::from_hex("").unwrap_err(), KeyError::NotHex);
        assert_eq!(Verifier::from_hex("abcd").unwrap_err(), KeyError::NotHex);
        assert_eq!(Verifier::from_hex(&"x".repeat(64)).unwrap_err(), KeyError::NotHex);
        assert_eq!(Verifier::from_hex(&"+f".repeat(32)).unwrap_err(), KeyError::NotHex);
        // 64 bytes of UTF-8 that are 32 two-byte characters: slicing by byte must not panic.
        assert_eq!(Verifier::from_hex(&"é".repeat(32)).unwrap_err(), KeyError::NotHex);
        assert_eq!(Verifier::from_hex(&"0".repeat(66)).unwrap_err(), KeyError::NotHex);
    }

    #[test]
    fn hex_that_is_not_a_curve_point_is_not_a_key() {
        // About half of all 32-byte strings do not decode to a point; at least one of these 256 must not.
        let results: Vec<_> =
            (0..=255u8).map(|b| Verifier::from_hex(&format!("{b:02x}").repeat(32)).map(|_| ())).collect();
        assert!(results.contains(&Err(KeyError::NotAKey)));
        assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(KeyError::NotAKey))));
    }

    #[test]
    fn rfc_8032_test_2_verifies_with_the_timestamp_as_the_whole_message() {
        // RFC 8032 section 7.1, TEST 2: the message is the single byte 0x72 ("r"); here it is the timestamp and the
        // body is empty, which is the same signed message.
        let verifier = Verifier::from_hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c").unwrap();
        let signature = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                         085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
        assert_eq!(verifier.verify(Some(signature), Some("r"), b""), Ok(()));
        assert_eq!(verifier.verify(Some(signature), Some("r"), b"x"), Err(VerifyError::BadSignature));
    }

    #[test]
    fn the_verifier_does_not_print_its_key() {
        let verifier = Verifier::from_hex(&public_hex(&test_key())).unwrap();
        assert_eq!(format!("{verifier:?}"), "Verifier { .. }");
    }
}
