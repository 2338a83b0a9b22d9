//! Centralized distribution of AES-256 keys that expire.
//!
//! The original script stored each user's AES key as plain base64 with an
//! expiry time. Here the key is wrapped with AES-256-GCM under a key derived
//! from the user's password, and the expiry, creation time and fingerprint
//! are bound to the ciphertext as associated data: editing the expiry in the
//! file makes the key fail to unwrap instead of extending its life.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::crypto::kdf::PasswordKey;
use crate::crypto::wrap::{BINDING, WrappedKey};
use crate::util::fingerprint;
use crate::util::fingerprint::Fingerprint;
use crate::util::time::{self, LATEST_TIME, Timestamp};
use crate::util::user::UserId;
use crate::{CryptoError, Error, KeyError, Result};

/// Key length in bytes: AES-256.
pub const KEY_LEN: usize = 32;

/// The original's default lifetime of a symmetric key, in seconds.
pub const DEFAULT_EXPIRY_SECS: u64 = 3600;

/// The longest lifetime the command line accepts: 10,000,000,000 seconds,
/// about 317 years, which ends well before the year 9999 that the store's
/// timestamps can hold.
pub const MAX_EXPIRY_SECS: u64 = 10_000_000_000;

/// What the wrapping key of a symmetric key is for: HKDF's info string is
/// `secure-kms v1 symmetric key wrap` ([`crate::crypto::kdf::subkey_info`]).
pub const PURPOSE: &str = "symmetric key wrap";

/// An AES-256 key. Zeroized on drop; `Debug` shows only its fingerprint.
#[derive(Clone, ZeroizeOnDrop)]
pub struct SymmetricKey(Zeroizing<[u8; KEY_LEN]>);

impl SymmetricKey {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The SHA-256 of the key, in lower-case hex: safe to show and to store,
    /// since a 256-bit random key cannot be recovered from its hash.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.0.as_ref())
    }
}

impl PartialEq for SymmetricKey {
    /// Compares in constant time.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(other.0.as_ref()).into()
    }
}

impl Eq for SymmetricKey {}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SymmetricKey(sha256:{})",
            fingerprint::short(&self.fingerprint())
        )
    }
}

/// Makes a new random AES-256 key from the operating system's generator.
///
/// ```
/// let a = secure_kms::symmetric::generate_symmetric_key()?;
/// let b = secure_kms::symmetric::generate_symmetric_key()?;
/// assert_ne!(a, b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::Rng`] if the system's random source fails.
pub fn generate_symmetric_key() -> Result<SymmetricKey> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(key.as_mut())?;
    Ok(SymmetricKey(key))
}

/// One version of a user's symmetric key as stored: the wrapped key (until it
/// is destroyed) and its lifetime.
///
/// `created`, `expiry`, `fingerprint`, `version` and the owner are bound to
/// the ciphertext as GCM associated data, so editing any of them in the file
/// makes the key fail to unwrap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymmetricVersion {
    /// 1 for the first key, n+1 for the key that rotation makes after n.
    pub version: u32,
    /// When the key was made, in seconds since the epoch.
    #[serde(deserialize_with = "time::deserialize")]
    pub created: Timestamp,
    /// When the key's active period ends (the original's `expiry`).
    #[serde(deserialize_with = "time::deserialize")]
    pub expiry: Timestamp,
    /// SHA-256 of the key, hex: the key's ID, also on the revocation list.
    pub fingerprint: Fingerprint,
    /// The associated-data layout, [`BINDING`] for new keys.
    #[serde(deserialize_with = "crate::crypto::wrap::known_binding")]
    pub binding: u32,
    /// The wrapped key; absent once the version is destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped: Option<WrappedKey>,
    /// When the key material was erased.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time::deserialize_optional"
    )]
    pub destroyed_at: Option<Timestamp>,
}

impl SymmetricVersion {
    /// The refusal for a destroyed version.
    pub(crate) fn destroyed(&self, user_id: &UserId) -> Error {
        Error::Key(KeyError::Destroyed {
            user: user_id.to_string(),
            version: self.version,
            destroyed_at: self.destroyed_at.map(time::format),
        })
    }

    /// Binds the ciphertext to its owner, role, version, lifetime and
    /// fingerprint. Binding 1 (format 1 of the store) had no version.
    pub fn associated_data(&self, user_id: &UserId) -> Vec<u8> {
        let (created, expiry, fp) = (self.created, self.expiry, &self.fingerprint);
        match self.binding {
            1 => format!("secure-kms/v1/{user_id}/symmetric/{created}/{expiry}/{fp}"),
            _ => format!(
                "secure-kms/v2/{user_id}/symmetric/{}/{created}/{expiry}/{fp}",
                self.version
            ),
        }
        .into_bytes()
    }
}

/// Stores `key` for `user_id`, as the original's `store_symmetric_key`
/// did: ready for `key_store.json`, as `version` of the user's key, made at
/// `created` and expiring `expiry_time` seconds later (the original's
/// default is [`DEFAULT_EXPIRY_SECS`]). The key itself is wrapped under
/// `password_key` with AES-256-GCM, and `created`, `expiry`, `fingerprint`,
/// `version` and the owner are its associated data.
///
/// The caller puts the version in the user's record
/// ([`crate::keys::UserRecord`]); [`crate::store::Store::update`] saves it.
///
/// ```
/// use secure_kms::symmetric::{generate_symmetric_key, is_key_expired, load_symmetric_key, store_symmetric_key};
/// use secure_kms::util::{time::Timestamp, user::UserId};
///
/// let alice = UserId::new("alice")?;
/// # let pk = secure_kms::crypto::kdf::PasswordKey::derive(&secure_kms::crypto::kdf::Password::new("pw".to_owned())?, &secure_kms::crypto::kdf::KdfParams::generate(secure_kms::crypto::kdf::MIN_ITERATIONS)?);
/// let key = generate_symmetric_key()?;
/// let made = Timestamp::from_secs(1000.0);
/// let stored = store_symmetric_key(&alice, 1, &key, made, 3600, &pk)?;
/// assert_eq!(stored.expiry, made + 3600.0);
/// assert!(!is_key_expired(&stored, made + 3599.0));
/// assert!(is_key_expired(&stored, made + 3600.0));
/// assert_eq!(load_symmetric_key(&stored, &alice, &pk)?, key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`KeyError::InvalidLifetime`] if the key would expire after the year
/// 9999; [`CryptoError::Rng`] if the system's random source fails.
pub fn store_symmetric_key(
    user_id: &UserId,
    version: u32,
    key: &SymmetricKey,
    created: Timestamp,
    expiry_time: u64,
    password_key: &PasswordKey,
) -> Result<SymmetricVersion> {
    let expiry = created + expiry_time as f64;
    if expiry > LATEST_TIME {
        return Err(Error::Key(KeyError::InvalidLifetime(expiry_time)));
    }
    let mut stored = SymmetricVersion {
        version,
        created,
        expiry,
        fingerprint: key.fingerprint(),
        binding: BINDING,
        wrapped: None,
        destroyed_at: None,
    };
    stored.wrapped = Some(WrappedKey::wrap(
        password_key,
        PURPOSE,
        &stored.associated_data(user_id),
        key.as_bytes(),
    )?);
    Ok(stored)
}

/// Whether the key's active period is over at `now`, as the original's
/// `is_key_expired` asked. An expired key is deactivated: it is refused for
/// new encryption, and still decrypts what it encrypted (NIST SP 800-57
/// part 1, section 5.3.4; see [`crate::keys::keyring`]).
pub fn is_key_expired(stored: &SymmetricVersion, now: Timestamp) -> bool {
    now >= stored.expiry
}

/// Loads a stored key, as the original's `load_symmetric_key` did: unwraps
/// it with `password_key`, which must come from the user's password and the
/// wrapped key's KDF parameters. Whether the key may still be used (its
/// state, the revocation list) is the caller's check:
/// [`crate::keys::unlock`] makes it.
///
/// # Errors
/// [`KeyError::Destroyed`] once the material is erased; [`CryptoError::Decryption`]
/// for a wrong password or any edited field.
pub fn load_symmetric_key(
    stored: &SymmetricVersion,
    user_id: &UserId,
    password_key: &PasswordKey,
) -> Result<SymmetricKey> {
    let wrapped = stored
        .wrapped
        .as_ref()
        .ok_or_else(|| stored.destroyed(user_id))?;
    let plain = wrapped.unwrap_with(password_key, PURPOSE, &stored.associated_data(user_id))?;
    if plain.len() != KEY_LEN {
        return Err(Error::Crypto(CryptoError::Decryption));
    }
    // Copy straight into the zeroizing home: no stray copy on the stack.
    let mut key = SymmetricKey(Zeroizing::new([0u8; KEY_LEN]));
    key.0.copy_from_slice(&plain);
    // The fingerprint is in the associated data already; checking it again
    // costs nothing and guards against a record built by hand.
    let matches: bool = key
        .fingerprint()
        .as_bytes()
        .ct_eq(stored.fingerprint.as_bytes())
        .into();
    if !matches {
        return Err(Error::Crypto(CryptoError::Decryption));
    }
    Ok(key)
}

#[cfg(test)]
mod tests;
