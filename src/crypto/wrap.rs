//! Key wrapping: AES-256-GCM (NIST SP 800-38D) over key material at rest.
//!
//! Every wrapped value carries its own random 96-bit nonce, and is bound by
//! GCM's associated data to the user and the role it was stored for, so a
//! ciphertext moved to another user or field fails to open.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::kdf::{KdfParams, PasswordKey};
use crate::util::strict::NoUnknownFields;
use crate::{CryptoError, Error, Result};

/// GCM nonce length in bytes (96 bits, SP 800-38D section 8.2's recommendation).
pub const NONCE_LEN: usize = 12;

/// GCM authentication tag length in bytes.
pub const TAG_LEN: usize = 16;

/// Encrypts and authenticates `plaintext` and `aad` under `key` with `nonce`,
/// returning the ciphertext followed by the 16-byte tag.
///
/// A nonce must never be used twice with one key; [`Sealed::seal`] picks a
/// random one, and is what the rest of the crate uses.
///
/// ```
/// use secure_kms::crypto::wrap::{open, seal, TAG_LEN};
///
/// let key = [7u8; 32];
/// let nonce = [1u8; 12];
/// let ct = seal(&key, &nonce, b"context", b"secret");
/// assert_eq!(ct.len(), b"secret".len() + TAG_LEN);
/// assert_eq!(&open(&key, &nonce, b"context", &ct)?[..], b"secret");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seal(key: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(key.into())
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // GCM only refuses messages over 64 GiB; keys are a few kilobytes.
        .expect("AES-GCM encrypts any message shorter than 64 GiB")
}

/// Checks and decrypts what [`seal`] produced.
///
/// # Errors
/// [`CryptoError::Decryption`] when the key, nonce, associated data or any byte of
/// the ciphertext is wrong. The error does not say which.
pub fn open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    Aes256Gcm::new(key.into())
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::Crypto(CryptoError::Decryption))
}

/// The cipher a [`Sealed`] value was made with, stored beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CipherName {
    /// AES-256 in Galois/Counter Mode.
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

/// A wrapped secret as stored in `key_store.json`: the cipher, the nonce, and
/// the ciphertext with its tag (under the original's field name, `key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The ciphertext followed by the GCM tag.
    #[serde(
        rename = "key",
        serialize_with = "crate::util::b64::serialize",
        deserialize_with = "sealed_bytes"
    )]
    pub ciphertext: Vec<u8>,
    /// The random nonce used for this value only.
    #[serde(with = "crate::util::b64::fixed")]
    pub nonce: [u8; NONCE_LEN],
    /// The cipher.
    pub cipher: CipherName,
}

/// Serde check: sealed bytes hold at least the tag and one byte, so a cut
/// key is reported where it is, not later as a failed decryption (which
/// would look like a wrong password).
fn sealed_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    use serde::de::Error as _;
    let bytes = crate::util::b64::deserialize(d)?;
    if bytes.len() <= TAG_LEN {
        return Err(D::Error::custom(format!(
            "a sealed key is at least {} bytes of base64 (the {TAG_LEN}-byte tag and the key), found {}",
            TAG_LEN + 1,
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl Sealed {
    /// Wraps `plaintext` under `key` with a fresh random nonce.
    ///
    /// ```
    /// use secure_kms::crypto::wrap::Sealed;
    ///
    /// let sealed = Sealed::seal(&[9u8; 32], b"alice/symmetric", b"key bytes")?;
    /// assert_eq!(&sealed.open(&[9u8; 32], b"alice/symmetric")?[..], b"key bytes");
    /// assert!(sealed.open(&[9u8; 32], b"bob/symmetric").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the system's random source fails.
    pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Self> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        Ok(Sealed {
            ciphertext: seal(key, &nonce, aad, plaintext),
            nonce,
            cipher: CipherName::Aes256Gcm,
        })
    }

    /// Unwraps the value.
    ///
    /// # Errors
    /// [`CryptoError::Decryption`] for a wrong key, other associated data, or any
    /// modified byte.
    pub fn open(&self, key: &[u8; 32], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match self.cipher {
            CipherName::Aes256Gcm => open(key, &self.nonce, aad, &self.ciphertext),
        }
    }
}

/// A secret wrapped under a password: how the wrapping key was derived
/// (`salt`, `kdf`, `iterations`) and the sealed bytes (`key`, `nonce`,
/// `cipher`). Each key version in `key_store.json` holds one until it is
/// destroyed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// How the wrapping key was derived from the password.
    #[serde(flatten)]
    pub kdf: KdfParams,
    /// The sealed secret.
    #[serde(flatten)]
    pub sealed: Sealed,
    /// Refuses fields this version does not know, so none is dropped.
    #[serde(flatten)]
    pub unknown: NoUnknownFields,
}

impl WrappedKey {
    /// Seals `secret` under the `purpose` subkey of `password_key`.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the system's random source fails.
    pub fn wrap(
        password_key: &PasswordKey,
        purpose: &str,
        aad: &[u8],
        secret: &[u8],
    ) -> Result<Self> {
        Ok(WrappedKey {
            kdf: password_key.params().clone(),
            sealed: Sealed::seal(&password_key.subkey(purpose), aad, secret)?,
            unknown: NoUnknownFields,
        })
    }

    /// Opens the secret. `password_key` must come from [`WrappedKey::kdf`].
    ///
    /// # Errors
    /// [`CryptoError::Decryption`] for a wrong password or any modified byte.
    pub(crate) fn unwrap_with(
        &self,
        password_key: &PasswordKey,
        purpose: &str,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.sealed.open(&password_key.subkey(purpose), aad)
    }
}

/// Which associated-data layout a wrapped key was sealed with: 1 for keys
/// written by format 1 of the store (before key versions), 2 since. A key
/// keeps its binding for life, so migrating a store never needs a password.
pub const BINDING: u32 = 2;

/// Serde check of a stored `binding`, where the field may be absent.
pub(crate) fn known_binding_optional<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    known_binding(d).map(Some)
}

/// Serde check of a stored `binding`: one this version knows.
pub(crate) fn known_binding<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error as _;
    let b = u32::deserialize(d)?;
    if b == 1 || b == BINDING {
        Ok(b)
    } else {
        Err(D::Error::custom(format!(
            "binding {b} is not understood by this secure-kms (it knows 1 and {BINDING})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flipped_bit_is_refused() {
        let key = [3u8; 32];
        let sealed = Sealed::seal(&key, b"aad", b"0123456789abcdef").unwrap();
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 0x01;
            assert!(
                matches!(
                    bad.open(&key, b"aad"),
                    Err(Error::Crypto(CryptoError::Decryption))
                ),
                "byte {i}"
            );
        }
        let mut bad = sealed.clone();
        bad.nonce[0] ^= 0x80;
        assert!(bad.open(&key, b"aad").is_err());
        let mut truncated = sealed.clone();
        truncated.ciphertext.pop();
        assert!(truncated.open(&key, b"aad").is_err());
    }

    #[test]
    fn wrong_key_or_context_is_refused() {
        let sealed = Sealed::seal(&[1u8; 32], b"alice/private", b"k").unwrap();
        assert!(sealed.open(&[2u8; 32], b"alice/private").is_err());
        assert!(sealed.open(&[1u8; 32], b"bob/private").is_err());
        assert_eq!(
            &sealed.open(&[1u8; 32], b"alice/private").unwrap()[..],
            b"k"
        );
    }

    #[test]
    fn nonces_are_fresh() {
        let a = Sealed::seal(&[1u8; 32], b"", b"same").unwrap();
        let b = Sealed::seal(&[1u8; 32], b"", b"same").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }
}
