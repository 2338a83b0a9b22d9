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

const PURPOSE: &str = "symmetric key wrap";

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
    fn associated_data(&self, user_id: &UserId) -> Vec<u8> {
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
mod tests {
    use super::*;

    fn setup() -> (UserId, PasswordKey, SymmetricKey) {
        let pk = crate::crypto::kdf::test_key("pw");
        (
            UserId::new("alice").unwrap(),
            pk,
            generate_symmetric_key().unwrap(),
        )
    }

    #[test]
    fn wrap_then_unwrap_gives_the_key_back() {
        let (alice, pk, key) = setup();
        let rec =
            store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();
        assert_eq!(rec.expiry, Timestamp::from_secs(4600.0));
        assert_eq!(load_symmetric_key(&rec, &alice, &pk).unwrap(), key);
        assert!(
            !rec.wrapped
                .as_ref()
                .unwrap()
                .sealed
                .ciphertext
                .windows(32)
                .any(|w| w == key.as_bytes())
        );
    }

    #[test]
    fn edited_expiry_fingerprint_or_owner_is_refused() {
        let (alice, pk, key) = setup();
        let rec =
            store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();

        let mut longer = rec.clone();
        longer.expiry += 1e6;
        assert!(matches!(
            load_symmetric_key(&longer, &alice, &pk),
            Err(Error::Crypto(CryptoError::Decryption))
        ));

        let mut other_fp = rec.clone();
        other_fp.fingerprint = Fingerprint::of(b"another key");
        assert!(matches!(
            load_symmetric_key(&other_fp, &alice, &pk),
            Err(Error::Crypto(CryptoError::Decryption))
        ));

        let bob = UserId::new("bob").unwrap();
        assert!(matches!(
            load_symmetric_key(&rec, &bob, &pk),
            Err(Error::Crypto(CryptoError::Decryption))
        ));

        // A version number moved to another key is caught too.
        let mut renumbered = rec.clone();
        renumbered.version = 2;
        assert!(matches!(
            load_symmetric_key(&renumbered, &alice, &pk),
            Err(Error::Crypto(CryptoError::Decryption))
        ));
        let mut downgraded = rec.clone();
        downgraded.binding = 1;
        assert!(matches!(
            load_symmetric_key(&downgraded, &alice, &pk),
            Err(Error::Crypto(CryptoError::Decryption))
        ));
    }

    #[test]
    fn a_destroyed_version_is_refused_with_its_date() {
        let (alice, pk, key) = setup();
        let mut rec =
            store_symmetric_key(&alice, 3, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();
        rec.wrapped = None;
        rec.destroyed_at = Some(Timestamp::from_secs(2000.0));
        let err = load_symmetric_key(&rec, &alice, &pk).unwrap_err();
        assert!(
            matches!(err, Error::Key(KeyError::Destroyed { version: 3, .. })),
            "{err}"
        );
        assert!(err.to_string().contains("1970-01-01T00:33:20Z"), "{err}");
    }

    #[test]
    fn a_flipped_byte_in_the_wrapped_key_is_refused() {
        let (alice, pk, key) = setup();
        let rec =
            store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();
        let len = rec.wrapped.as_ref().unwrap().sealed.ciphertext.len();
        for i in 0..len {
            let mut bad = rec.clone();
            bad.wrapped.as_mut().unwrap().sealed.ciphertext[i] ^= 0x40;
            assert!(
                matches!(
                    load_symmetric_key(&bad, &alice, &pk),
                    Err(Error::Crypto(CryptoError::Decryption))
                ),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_key_expires_at_its_expiry_and_still_loads_after() {
        let (alice, pk, key) = setup();
        let stored =
            store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 60, &pk).unwrap();
        assert!(!is_key_expired(&stored, Timestamp::from_secs(1059.9)));
        assert!(is_key_expired(&stored, Timestamp::from_secs(1060.0)));
        assert!(is_key_expired(&stored, Timestamp::from_secs(1061.0)));
        // Expired is deactivated: refused for new use by keys::unlock (its
        // test an_expired_symmetric_key_is_refused_for_use, and revoked
        // keys in revoked_keys_are_refused_...), still there to decrypt
        // what it encrypted.
        assert_eq!(load_symmetric_key(&stored, &alice, &pk).unwrap(), key);
    }

    #[test]
    fn a_lifetime_past_the_year_9999_is_refused_before_anything_is_stored() {
        let (alice, pk, key) = setup();
        let mut store = crate::keys::KeyStore::default();
        let err = store
            .add_symmetric(&alice, &key, u64::MAX, &pk)
            .unwrap_err();
        assert!(
            matches!(err, Error::Key(KeyError::InvalidLifetime(u64::MAX))),
            "{err}"
        );
        assert!(store.is_empty());
        // The longest accepted lifetime still reads back from the file.
        let rec = store_symmetric_key(
            &alice,
            1,
            &key,
            Timestamp::from_secs(0.0),
            LATEST_TIME.whole_secs(),
            &pk,
        )
        .unwrap();
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            serde_json::from_str::<SymmetricVersion>(&json).unwrap(),
            rec
        );
    }

    #[test]
    fn fingerprint_is_sha256_and_debug_shows_only_its_start() {
        // `head -c 32 /dev/zero | sha256sum`
        let zeros = SymmetricKey(Zeroizing::new([0u8; KEY_LEN]));
        let expected = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";
        assert_eq!(zeros.fingerprint().as_str(), expected);
        assert_eq!(
            format!("{zeros:?}"),
            "SymmetricKey(sha256:66687aadf862bd77)"
        );
    }
}
