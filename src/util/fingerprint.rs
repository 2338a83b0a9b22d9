//! Fingerprints: the SHA-256 of a key, in lower-case hex. Safe to show and
//! to store (a 256-bit random key cannot be recovered from its hash), they
//! name keys on the revocation list and in the session's output.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use sha2::{Digest, Sha256};

/// A key's ID: the SHA-256 of the key (a symmetric key's bytes, a public
/// key's DER), 64 lower-case hex digits. A type of its own, so that a key
/// ID cannot be confused with a user ID, a file's hash or any other text;
/// stored as the bare hex string.
///
/// ```
/// use secure_kms::util::fingerprint::Fingerprint;
///
/// let id = Fingerprint::of(b"abc");
/// assert_eq!(id.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(id.short(), "ba7816bf8f01cfea");
/// // Read from a file, it must be 64 lower-case hex digits.
/// assert!(serde_json::from_str::<Fingerprint>("\"BA78\"").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The ID of a key whose bytes (or public key's DER) are `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Fingerprint(sha256_hex(bytes))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 16 hex digits (64 bits), as the session shows them.
    pub fn short(&self) -> &str {
        short(&self.0)
    }
}

/// The 64 hex digits: what associated data binds and files store.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read as text anywhere a `&str` is taken (never the other way round: a
/// string is not a key ID until it is checked).
impl std::ops::Deref for Fingerprint {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Fingerprint {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// Read from a file: 64 lower-case hex digits, or refused.
impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        check(String::deserialize(d)?)
            .map(Fingerprint)
            .map_err(D::Error::custom)
    }
}

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

/// The first and last 8 hex digits of a long value, and its size: how
/// public values and salts are shown when they are explained.
///
/// ```
/// use secure_kms::util::fingerprint::short_hex;
/// assert_eq!(short_hex(&[0xab; 4]), "abababab");
/// assert_eq!(short_hex(&[0; 256]), "00000000...00000000 (2048 bits)");
/// ```
pub fn short_hex(bytes: &[u8]) -> String {
    let hex = hex(bytes);
    if hex.len() <= 24 {
        hex
    } else {
        format!(
            "{}...{} ({} bits)",
            &hex[..8],
            &hex[hex.len() - 8..],
            bytes.len() * 8
        )
    }
}

fn check(s: String) -> Result<String, &'static str> {
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s)
    } else {
        Err("a fingerprint must be 64 lower-case hex digits (SHA-256)")
    }
}
