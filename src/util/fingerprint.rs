//! Fingerprints: the SHA-256 of a key, in lower-case hex. Safe to show and
//! to store (a 256-bit random key cannot be recovered from its hash), they
//! name keys on the revocation list and in the session's output.

use serde::{Deserialize, Deserializer, de::Error as _};
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` in lower-case hex: the same as `sha256sum`.
///
/// ```
/// assert_eq!(
///     secure_kms::util::fingerprint::sha256_hex(b"abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // FIPS 180-2 B.1
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Bytes in lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// The first 16 hex digits (64 bits) of a fingerprint, as the session shows it.
///
/// ```
/// assert_eq!(secure_kms::util::fingerprint::short("0123456789abcdef0123"), "0123456789abcdef");
/// ```
pub fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// Serde check: a stored fingerprint is 64 lower-case hex digits.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    check(String::deserialize(d)?).map_err(D::Error::custom)
}

/// Serde check for an optional fingerprint.
pub(crate) fn deserialize_optional<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(check)
        .transpose()
        .map_err(D::Error::custom)
}

fn check(s: String) -> Result<String, &'static str> {
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s)
    } else {
        Err("a fingerprint must be 64 lower-case hex digits (SHA-256)")
    }
}
