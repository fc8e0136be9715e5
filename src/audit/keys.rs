//! The Ed25519 keys that sign audit checkpoints (DESIGN 7.3).
//!
//! A private key is given as PKCS#8 PEM (`openssl genpkey -algorithm ed25519`) or as base64 of the 32-byte seed; a
//! public key as SPKI PEM (`openssl pkey -pubout`) or base64 of its 32 bytes. A key's id is the first 16 hex
//! digits of SHA-256 over the public key's bytes: short enough for every checkpoint row, long enough to tell keys
//! apart when they are rotated. No error message here repeats any part of a key.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Reads a private key: PKCS#8 PEM, or base64 (standard or URL-safe, padded or not) of the 32-byte seed.
pub fn signing_key(text: &str) -> Result<SigningKey, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(text)
            .map_err(|_| "not an Ed25519 private key in PKCS#8 PEM (`openssl genpkey -algorithm ed25519`)".to_owned());
    }
    let bytes = base64_bytes(text).ok_or_else(|| {
        "must be an Ed25519 private key: PKCS#8 PEM, or base64 of the 32-byte seed (`signoff audit keygen`)".to_owned()
    })?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("a base64 Ed25519 private key is 32 bytes, this one is {}", b.len()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key: SPKI PEM, or base64 of its 32 bytes.
pub fn verifying_key(text: &str) -> Result<VerifyingKey, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|_| "not an Ed25519 public key in PEM (`openssl pkey -pubout`)".to_owned());
    }
    let bytes =
        base64_bytes(text).ok_or_else(|| "must be an Ed25519 public key: PEM, or base64 of its 32 bytes".to_owned())?;
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("a base64 Ed25519 public key is 32 bytes, this one is {}", b.len()))?;
    VerifyingKey::from_bytes(&raw).map_err(|_| "these 32 bytes are not an Ed25519 public key".to_owned())
}

/// A key's short id: the first 16 hex digits of SHA-256 over the public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Base64 of a public key's 32 bytes, as `--public-key` takes it.
pub fn public_base64(key: &VerifyingKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

/// Base64 of a private key's seed, as `[audit] signing_key` takes it.
pub fn private_base64(key: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
}

fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 test 1: the seed and its public key.
    const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC_HEX: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn base64_seed_gives_the_rfc_8032_public_key() {
        let seed = hex::decode(SEED_HEX).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&seed);
        let key = signing_key(&b64).unwrap();
        assert_eq!(hex::encode(key.verifying_key().as_bytes()), PUBLIC_HEX);
        let public = verifying_key(&public_base64(&key.verifying_key())).unwrap();
        assert_eq!(public, key.verifying_key());
        assert_eq!(key_id(&public).len(), 16);
    }

    #[test]
    fn pem_keys_are_read() {
        // `openssl genpkey -algorithm ed25519` for the RFC 8032 seed, and `openssl pkey -pubout`.
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";
        let key = signing_key(private).unwrap();
        assert_eq!(hex::encode(key.verifying_key().as_bytes()), PUBLIC_HEX);
        assert_eq!(verifying_key(public).unwrap(), key.verifying_key());
    }

    #[test]
    fn bad_keys_are_refused_without_repeating_them() {
        for bad in ["hunter2hunter2", "AAAA", "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----"] {
            let e = signing_key(bad).unwrap_err();
            assert!(!e.contains(bad.trim()), "{e}");
        }
        assert!(verifying_key("AAAA").unwrap_err().contains("32 bytes"));
    }
}
