//! A PKI of RSA-2048 key pairs whose private keys are encrypted under a
//! password.
//!
//! The private key is kept as PKCS#8 DER, encrypted with AES-256-GCM under a
//! key stretched from the password by PBKDF2-HMAC-SHA256 (600,000 rounds by
//! default, stored beside it so that it can be raised later). The public key
//! is a SubjectPublicKeyInfo PEM, the form `openssl pkey -pubin` reads.
//! Signatures are RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt
//! (RFC 8017 section 8.1).

use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::pss::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::crypto::kdf::PasswordKey;
use crate::crypto::spki::{public_key_fingerprint, public_key_from_pem, public_key_pem};
use crate::crypto::wrap::BINDING;
use crate::crypto::wrap::WrappedKey;
use crate::util::fingerprint::Fingerprint;
use crate::util::time::{self, LATEST_TIME, Timestamp};
use crate::util::user::UserId;
use crate::{CryptoError, Error, KeyError, Result};

/// RSA modulus size in bits, as in the original.
pub const RSA_BITS: usize = 2048;

/// PSS salt length in bytes: the SHA-256 output length, the usual choice
/// (RFC 8017 section 9.1, and what `openssl -sigopt rsa_pss_saltlen:32` makes).
pub const PSS_SALT_LEN: usize = 32;

/// What the wrapping key of a private key is for: HKDF's info string is
/// `secure-kms v1 private key wrap` ([`crate::crypto::kdf::subkey_info`]).
pub const PURPOSE: &str = "private key wrap";

/// Makes an RSA-2048 key pair with public exponent 65537.
///
/// ```
/// let (private_key, public_key) = secure_kms::pki::generate_asymmetric_keys()?;
/// assert_eq!(private_key.to_public_key(), public_key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::Rsa`] if key generation fails (for example, the random source).
pub fn generate_asymmetric_keys() -> Result<(PrivateKey, PublicKey)> {
    let private_key = PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)?;
    let public_key = private_key.to_public_key();
    Ok((private_key, public_key))
}

/// An encrypted private key as stored under `private` in `key_store.json`:
/// the KDF parameters (`salt`, `kdf`, `iterations`) and the AES-256-GCM
/// ciphertext of the PKCS#8 DER (`key`, `nonce`, `cipher`).
pub type EncryptedPrivateKey = WrappedKey;

/// One version of a user's RSA key pair as stored: the public key, and the
/// encrypted private key until the version is destroyed.
///
/// The owner, version and public key fingerprint are bound to the private
/// key's ciphertext, so a private key moved to another version or user
/// fails to decrypt. The public key stays after destruction: it holds no
/// secret, and still verifies what the key signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsymmetricVersion {
    /// 1 for the first pair, n+1 for the pair that rotation makes after n.
    pub version: u32,
    /// When the pair was made, in seconds since the epoch.
    #[serde(deserialize_with = "time::deserialize")]
    pub created: Timestamp,
    /// When the pair's active period (signing) ends.
    #[serde(deserialize_with = "time::deserialize")]
    pub expiry: Timestamp,
    /// SHA-256 of the public key's DER: the pair's ID.
    pub fingerprint: Fingerprint,
    /// The associated-data layout (see [`crate::crypto::wrap::BINDING`]).
    #[serde(deserialize_with = "crate::crypto::wrap::known_binding")]
    pub binding: u32,
    /// The public key, SubjectPublicKeyInfo PEM (the original's `public`).
    #[serde(deserialize_with = "crate::crypto::spki::valid_public_pem")]
    pub public: String,
    /// The encrypted private key (the original's `private`); absent once
    /// the version is destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<EncryptedPrivateKey>,
    /// When the private key was erased.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time::deserialize_optional"
    )]
    pub destroyed_at: Option<Timestamp>,
    /// The X.509 certificate the store's CA issued for this pair, PEM
    /// (`cert issue`; see [`crate::ca`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

impl AsymmetricVersion {
    /// Binding 1 (format 1 of the store) bound only the owner; binding 2
    /// binds the version, the lifetime and the public key's fingerprint too.
    pub fn associated_data(&self, user_id: &UserId) -> Vec<u8> {
        match self.binding {
            1 => format!("secure-kms/v1/{user_id}/private"),
            _ => format!(
                "secure-kms/v2/{user_id}/private/{}/{}/{}/{}",
                self.version, self.created, self.expiry, self.fingerprint
            ),
        }
        .into_bytes()
    }

    /// The serial number (hex) of the pair's certificate, if it has one
    /// that parses (the store checks it on load).
    pub fn certificate_serial(&self) -> Option<String> {
        self.certificate
            .as_deref()
            .and_then(|pem| crate::crypto::x509::serial_of(pem).ok())
    }

    /// The public key.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] if the stored PEM does not parse.
    pub fn public_key(&self) -> Result<PublicKey> {
        public_key_from_pem(&self.public)
    }

    /// Decrypts the private key and checks that it belongs to the stored
    /// public key.
    ///
    /// # Errors
    /// [`KeyError::Destroyed`]; [`CryptoError::Decryption`] for a wrong password, an
    /// edited field, or a public key that is not the private key's.
    pub fn unlock(
        &self,
        user_id: &UserId,
        password_key: &PasswordKey,
    ) -> Result<(PrivateKey, PublicKey)> {
        let private_key = decrypt_private_key(self, password_key, user_id)?;
        let public_key = self.public_key()?;
        if private_key.to_public_key() != public_key {
            return Err(Error::Crypto(CryptoError::Decryption));
        }
        Ok((private_key, public_key))
    }

    /// Whether the pair's active period is over at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expiry
    }

    pub(crate) fn destroyed(&self, user_id: &UserId) -> Error {
        Error::Key(KeyError::Destroyed {
            user: user_id.to_string(),
            version: self.version,
            destroyed_at: self.destroyed_at.map(crate::util::time::format),
        })
    }
}

/// Encrypts `private_key` (as PKCS#8) for `user_id` under `password_key`,
/// bound to the metadata of `stored`, the version it is kept as.
///
/// The original returned `(salt, encrypted_key)`; both are in the result.
///
/// ```
/// use secure_kms::crypto::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// use secure_kms::pki::{decrypt_private_key, generate_asymmetric_keys, store_asymmetric_keys};
/// use secure_kms::util::user::UserId;
///
/// let (private_key, public_key) = generate_asymmetric_keys()?;
/// let password = Password::new("mysecurepassword".to_owned())?;
/// // The product uses DEFAULT_ITERATIONS (600,000); an example need not wait.
/// let pk = PasswordKey::derive(&password, &KdfParams::generate(MIN_ITERATIONS)?);
/// let alice = UserId::new("alice")?;
/// // store_asymmetric_keys calls encrypt_private_key.
/// let stored = store_asymmetric_keys(&alice, 1, &private_key, &public_key, secure_kms::util::time::now(), 3600, &pk)?;
/// assert_eq!(decrypt_private_key(&stored, &pk, &alice)?, private_key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::MalformedKey`] if the key cannot be encoded, [`CryptoError::Rng`] if
/// the random source fails.
pub fn encrypt_private_key(
    private_key: &PrivateKey,
    password_key: &PasswordKey,
    user_id: &UserId,
    stored: &AsymmetricVersion,
) -> Result<EncryptedPrivateKey> {
    // SecretDocument zeroizes the DER when dropped.
    let der = private_key
        .to_pkcs8_der()
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    WrappedKey::wrap(
        password_key,
        PURPOSE,
        &stored.associated_data(user_id),
        der.as_bytes(),
    )
}

/// Decrypts the private key of a stored version. `password_key` must come
/// from the password and the encrypted key's KDF parameters.
///
/// # Errors
/// [`KeyError::Destroyed`] once the key is erased; [`CryptoError::Decryption`] for a
/// wrong password or a modified ciphertext: one opaque error for both.
pub fn decrypt_private_key(
    stored: &AsymmetricVersion,
    password_key: &PasswordKey,
    user_id: &UserId,
) -> Result<PrivateKey> {
    let encrypted = stored
        .private
        .as_ref()
        .ok_or_else(|| stored.destroyed(user_id))?;
    let der = encrypted.unwrap_with(password_key, PURPOSE, &stored.associated_data(user_id))?;
    // Authenticated plaintext that is not PKCS#8 can only come from a bug or
    // a forged file made with the right password; keep the error opaque.
    PrivateKey::from_pkcs8_der(&der).map_err(|_| Error::Crypto(CryptoError::Decryption))
}

/// Stores a key pair for `user_id`, as the original's
/// `store_asymmetric_keys` did: ready for `key_store.json`, as `version` of
/// the user's pair, made at `created` and active (for signing) for
/// `expiry_time` seconds. The public key is kept as PEM, the private key
/// encrypted under `password_key` ([`encrypt_private_key`]).
///
/// The caller puts the version in the user's record
/// ([`crate::keys::UserRecord`]); [`crate::store::Store::update`] saves it.
///
/// ```
/// use secure_kms::pki::{decrypt_private_key, generate_asymmetric_keys, store_asymmetric_keys};
/// use secure_kms::util::user::UserId;
///
/// let alice = UserId::new("alice")?;
/// # let pk = secure_kms::crypto::kdf::PasswordKey::derive(&secure_kms::crypto::kdf::Password::new("pw".to_owned())?, &secure_kms::crypto::kdf::KdfParams::generate(secure_kms::crypto::kdf::MIN_ITERATIONS)?);
/// let (private_key, public_key) = generate_asymmetric_keys()?;
/// let stored = store_asymmetric_keys(&alice, 1, &private_key, &public_key, secure_kms::util::time::now(), 3600, &pk)?;
/// assert!(stored.public.starts_with("-----BEGIN PUBLIC KEY-----"));
/// assert_eq!(decrypt_private_key(&stored, &pk, &alice)?, private_key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::MalformedKey`] if the public key is not the private key's or a
/// key cannot be encoded; [`KeyError::InvalidLifetime`] past the year 9999;
/// [`CryptoError::Rng`] if the random source fails.
pub fn store_asymmetric_keys(
    user_id: &UserId,
    version: u32,
    private_key: &PrivateKey,
    public_key: &PublicKey,
    created: Timestamp,
    expiry_time: u64,
    password_key: &PasswordKey,
) -> Result<AsymmetricVersion> {
    if &private_key.to_public_key() != public_key {
        return Err(Error::Crypto(CryptoError::MalformedKey(
            "the public key is not the private key's".to_owned(),
        )));
    }
    let expiry = created + expiry_time as f64;
    if expiry > LATEST_TIME {
        return Err(Error::Key(KeyError::InvalidLifetime(expiry_time)));
    }
    let mut stored = AsymmetricVersion {
        version,
        created,
        expiry,
        fingerprint: public_key_fingerprint(public_key)?,
        binding: BINDING,
        public: public_key_pem(public_key)?,
        private: None,
        destroyed_at: None,
        certificate: None,
    };
    stored.private = Some(encrypt_private_key(
        private_key,
        password_key,
        user_id,
        &stored,
    )?);
    Ok(stored)
}

/// Signs `message` (in the session, a Diffie-Hellman public value) with
/// RSA-PSS-SHA256, so that a peer can tell it came from this key and was not
/// swapped by a man in the middle.
///
/// ```
/// use secure_kms::pki::{generate_asymmetric_keys, sign_public_key, verify_signature};
///
/// let (private_key, public_key) = generate_asymmetric_keys()?;
/// let signature = sign_public_key(&private_key, b"my DH public value")?;
/// verify_signature(&public_key, b"my DH public value", &signature)?;
/// assert!(verify_signature(&public_key, b"another value", &signature).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::Sign`] if signing fails (for example, the random source).
pub fn sign_public_key(private_key: &PrivateKey, message: &[u8]) -> Result<Vec<u8>> {
    let signer = SigningKey::<Sha256>::new_with_salt_len(private_key.clone(), PSS_SALT_LEN);
    let signature: Signature = signer
        .try_sign_with_rng(&mut getrandom::SysRng, message)
        .map_err(|e| Error::Crypto(CryptoError::Sign(e)))?;
    Ok(signature.to_vec())
}

/// Verifies an RSA-PSS-SHA256 signature with a 32-byte salt.
///
/// # Errors
/// [`CryptoError::BadSignature`] when the signature does not match the message and
/// key, whatever the reason.
pub fn verify_signature(public_key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<()> {
    let verifier = VerifyingKey::<Sha256>::new_with_salt_len(public_key.clone(), PSS_SALT_LEN);
    let signature =
        Signature::try_from(signature).map_err(|_| Error::Crypto(CryptoError::BadSignature))?;
    verifier
        .verify(message, &signature)
        .map_err(|_| Error::Crypto(CryptoError::BadSignature))
}

#[cfg(test)]
mod tests;
