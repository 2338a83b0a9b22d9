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

use crate::fingerprint;
use crate::kdf::PasswordKey;
use crate::keys::{KeyStore, UserRecord};
use crate::revocation::{RevocationList, check_not_revoked};
use crate::time::{self, LATEST_TIME, Timestamp};
use crate::user::UserId;
use crate::wrap::WrappedKey;
use crate::{Error, Result};

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
    pub fn fingerprint(&self) -> String {
        fingerprint::sha256_hex(self.0.as_ref())
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
/// [`Error::Rng`] if the system's random source fails.
pub fn generate_symmetric_key() -> Result<SymmetricKey> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(key.as_mut())?;
    Ok(SymmetricKey(key))
}

/// Which associated-data layout a wrapped key was sealed with: 1 for keys
/// written by format 1 of the store (before key versions), 2 since. A key
/// keeps its binding for life, so migrating a store never needs a password.
pub const BINDING: u32 = 2;

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
    #[serde(deserialize_with = "fingerprint::deserialize")]
    pub fingerprint: String,
    /// The associated-data layout, [`BINDING`] for new keys.
    #[serde(deserialize_with = "known_binding")]
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

pub(crate) fn known_binding_optional<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    known_binding(d).map(Some)
}

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

impl SymmetricVersion {
    /// Wraps `key` as `version` for `user_id`, made at `created` and active
    /// for `expiry_time` seconds.
    ///
    /// # Errors
    /// [`Error::InvalidLifetime`] if the key would expire after the year
    /// 9999; [`Error::Rng`] if the system's random source fails.
    pub fn wrap(
        user_id: &UserId,
        version: u32,
        key: &SymmetricKey,
        created: Timestamp,
        expiry_time: u64,
        password_key: &PasswordKey,
    ) -> Result<Self> {
        let expiry = created + expiry_time as f64;
        if expiry > LATEST_TIME {
            return Err(Error::InvalidLifetime(expiry_time));
        }
        let mut record = SymmetricVersion {
            version,
            created,
            expiry,
            fingerprint: key.fingerprint(),
            binding: BINDING,
            wrapped: None,
            destroyed_at: None,
        };
        record.wrapped = Some(WrappedKey::wrap(
            password_key,
            PURPOSE,
            &record.associated_data(user_id),
            key.as_bytes(),
        )?);
        Ok(record)
    }

    /// Unwraps the key. `password_key` must have been derived with the
    /// wrapped key's KDF parameters.
    ///
    /// # Errors
    /// [`Error::Destroyed`] once the material is erased; [`Error::Decryption`]
    /// for a wrong password or any edited field.
    pub fn unwrap_key(&self, user_id: &UserId, password_key: &PasswordKey) -> Result<SymmetricKey> {
        let wrapped = self
            .wrapped
            .as_ref()
            .ok_or_else(|| self.destroyed(user_id))?;
        let plain = wrapped.unwrap_with(password_key, PURPOSE, &self.associated_data(user_id))?;
        if plain.len() != KEY_LEN {
            return Err(Error::Decryption);
        }
        // Copy straight into the zeroizing home: no stray copy on the stack.
        let mut key = SymmetricKey(Zeroizing::new([0u8; KEY_LEN]));
        key.0.copy_from_slice(&plain);
        // The fingerprint is in the associated data already; checking it again
        // costs nothing and guards against a record built by hand.
        let matches: bool = key
            .fingerprint()
            .as_bytes()
            .ct_eq(self.fingerprint.as_bytes())
            .into();
        if !matches {
            return Err(Error::Decryption);
        }
        Ok(key)
    }

    /// Whether the key's active period is over at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expiry
    }

    /// The refusal for a destroyed version.
    pub(crate) fn destroyed(&self, user_id: &UserId) -> Error {
        Error::Destroyed {
            user: user_id.to_string(),
            version: self.version,
            destroyed_at: self.destroyed_at.map(time::format),
        }
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

/// Stores `key` for `user_id` in `store` as the user's next symmetric key
/// version (the first for a new user), wrapped under `password_key` and
/// expiring `expiry_time` seconds from now (the original's default is 3600).
/// Returns the version.
///
/// This changes `store` in memory only; [`crate::store::Store::update`] saves it.
///
/// ```
/// use secure_kms::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// use secure_kms::keys::KeyStore;
/// use secure_kms::symmetric::{generate_symmetric_key, is_key_expired, store_symmetric_key};
/// use secure_kms::user::UserId;
///
/// let mut store = KeyStore::default();
/// let alice = UserId::new("alice")?;
/// let pk = PasswordKey::derive(&Password::new("pw".to_owned())?, &KdfParams::generate(MIN_ITERATIONS)?);
/// assert_eq!(store_symmetric_key(&mut store, &alice, &generate_symmetric_key()?, 3600, &pk)?, 1);
/// assert!(!is_key_expired(&store, &alice, secure_kms::time::now())?);
/// assert_eq!(store_symmetric_key(&mut store, &alice, &generate_symmetric_key()?, 3600, &pk)?, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidLifetime`] for a lifetime past the year 9999;
/// [`Error::Rng`] if the system's random source fails.
pub fn store_symmetric_key(
    store: &mut KeyStore,
    user_id: &UserId,
    key: &SymmetricKey,
    expiry_time: u64,
    password_key: &PasswordKey,
) -> Result<u32> {
    // Nothing is added to the store unless the key is wrapped.
    let version = store
        .get(user_id)?
        .map_or(1, UserRecord::next_symmetric_version);
    // Never before the previous version, even if the clock stepped back.
    let last = store
        .get(user_id)?
        .and_then(|r| r.symmetric.last())
        .map_or(0.0, |v| v.created);
    let wrapped = SymmetricVersion::wrap(
        user_id,
        version,
        key,
        time::now().max(last),
        expiry_time,
        password_key,
    )?;
    store.entry(user_id)?.symmetric.push(wrapped);
    Ok(version)
}

/// Whether the primary (newest) symmetric key of `user_id` has expired at
/// `now`. An expired key is deactivated: it is refused for new use.
///
/// # Errors
/// [`Error::UnknownUser`] when the user has no symmetric key.
pub fn is_key_expired(store: &KeyStore, user_id: &UserId, now: Timestamp) -> Result<bool> {
    Ok(primary(store, user_id)?.is_expired(now))
}

/// Unwraps the primary symmetric key of `user_id` for new use, refusing it
/// when it is revoked, destroyed or has expired.
///
/// ```
/// use secure_kms::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// use secure_kms::revocation::RevocationList;
/// use secure_kms::keys::KeyStore;
/// use secure_kms::symmetric::{generate_symmetric_key, load_symmetric_key, store_symmetric_key};
/// use secure_kms::{time, user::UserId, Error};
///
/// let alice = UserId::new("alice")?;
/// let pk = PasswordKey::derive(&Password::new("pw".to_owned())?, &KdfParams::generate(MIN_ITERATIONS)?);
/// let mut keys = KeyStore::default();
/// let key = generate_symmetric_key()?;
/// store_symmetric_key(&mut keys, &alice, &key, 3600, &pk)?;
/// let none = RevocationList::default();
/// assert_eq!(load_symmetric_key(&keys, &none, &alice, &pk, time::now())?, key);
/// let later = time::now() + 7200.0;
/// assert!(matches!(load_symmetric_key(&keys, &none, &alice, &pk, later), Err(Error::Expired { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::UnknownUser`]; [`Error::Revoked`]; [`Error::Destroyed`];
/// [`Error::Decryption`] for a wrong password; [`Error::Expired`].
pub fn load_symmetric_key(
    store: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    password_key: &PasswordKey,
    now: Timestamp,
) -> Result<SymmetricKey> {
    check_not_revoked(revoked, store, user_id)?;
    let record = primary(store, user_id)?;
    if record.wrapped.is_none() {
        return Err(record.destroyed(user_id));
    }
    let key = record.unwrap_key(user_id, password_key)?;
    if record.is_expired(now) {
        return Err(Error::Expired {
            user: user_id.to_string(),
            expired_at: time::format(record.expiry),
        });
    }
    Ok(key)
}

/// The symmetric key of the newest version, the one the revocation check
/// looks at too (a version without one has no symmetric key to use).
fn primary<'a>(store: &'a KeyStore, user_id: &UserId) -> Result<&'a SymmetricVersion> {
    store
        .get(user_id)?
        .and_then(|r| {
            crate::keys::keyring::versions(r)
                .last()
                .and_then(|v| v.symmetric)
        })
        .ok_or_else(|| Error::UnknownUser(user_id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (UserId, PasswordKey, SymmetricKey) {
        let pk = crate::kdf::test_key("pw");
        (
            UserId::new("alice").unwrap(),
            pk,
            generate_symmetric_key().unwrap(),
        )
    }

    #[test]
    fn wrap_then_unwrap_gives_the_key_back() {
        let (alice, pk, key) = setup();
        let rec = SymmetricVersion::wrap(&alice, 1, &key, 1000.0, 3600, &pk).unwrap();
        assert_eq!(rec.expiry, 4600.0);
        assert_eq!(rec.unwrap_key(&alice, &pk).unwrap(), key);
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
        let rec = SymmetricVersion::wrap(&alice, 1, &key, 1000.0, 3600, &pk).unwrap();

        let mut longer = rec.clone();
        longer.expiry += 1e6;
        assert!(matches!(
            longer.unwrap_key(&alice, &pk),
            Err(Error::Decryption)
        ));

        let mut other_fp = rec.clone();
        other_fp.fingerprint = "0".repeat(64);
        assert!(matches!(
            other_fp.unwrap_key(&alice, &pk),
            Err(Error::Decryption)
        ));

        let bob = UserId::new("bob").unwrap();
        assert!(matches!(rec.unwrap_key(&bob, &pk), Err(Error::Decryption)));

        // A version number moved to another key is caught too.
        let mut renumbered = rec.clone();
        renumbered.version = 2;
        assert!(matches!(
            renumbered.unwrap_key(&alice, &pk),
            Err(Error::Decryption)
        ));
        let mut downgraded = rec.clone();
        downgraded.binding = 1;
        assert!(matches!(
            downgraded.unwrap_key(&alice, &pk),
            Err(Error::Decryption)
        ));
    }

    #[test]
    fn a_destroyed_version_is_refused_with_its_date() {
        let (alice, pk, key) = setup();
        let mut rec = SymmetricVersion::wrap(&alice, 3, &key, 1000.0, 3600, &pk).unwrap();
        rec.wrapped = None;
        rec.destroyed_at = Some(2000.0);
        let err = rec.unwrap_key(&alice, &pk).unwrap_err();
        assert!(matches!(err, Error::Destroyed { version: 3, .. }), "{err}");
        assert!(err.to_string().contains("1970-01-01T00:33:20Z"), "{err}");
    }

    #[test]
    fn a_flipped_byte_in_the_wrapped_key_is_refused() {
        let (alice, pk, key) = setup();
        let rec = SymmetricVersion::wrap(&alice, 1, &key, 1000.0, 3600, &pk).unwrap();
        let len = rec.wrapped.as_ref().unwrap().sealed.ciphertext.len();
        for i in 0..len {
            let mut bad = rec.clone();
            bad.wrapped.as_mut().unwrap().sealed.ciphertext[i] ^= 0x40;
            assert!(
                matches!(bad.unwrap_key(&alice, &pk), Err(Error::Decryption)),
                "byte {i}"
            );
        }
    }

    #[test]
    fn expiry_is_enforced_for_new_use() {
        let (alice, pk, key) = setup();
        let mut store = KeyStore::default();
        store_symmetric_key(&mut store, &alice, &key, 60, &pk).unwrap();
        let now = time::now();
        assert!(!is_key_expired(&store, &alice, now).unwrap());
        assert!(is_key_expired(&store, &alice, now + 61.0).unwrap());
        let none = RevocationList::default();
        assert_eq!(
            load_symmetric_key(&store, &none, &alice, &pk, now).unwrap(),
            key
        );
        assert!(matches!(
            load_symmetric_key(&store, &none, &alice, &pk, now + 61.0),
            Err(Error::Expired { .. })
        ));
        let mut revoked = RevocationList::default();
        crate::revocation::revoke_key(&mut revoked, &store, &alice, Default::default(), None, now)
            .unwrap();
        assert!(matches!(
            load_symmetric_key(&store, &revoked, &alice, &pk, now),
            Err(Error::Revoked { .. })
        ));
    }

    #[test]
    fn a_lifetime_past_the_year_9999_is_refused_before_anything_is_stored() {
        let (alice, pk, key) = setup();
        let mut store = KeyStore::default();
        let err = store_symmetric_key(&mut store, &alice, &key, u64::MAX, &pk).unwrap_err();
        assert!(matches!(err, Error::InvalidLifetime(u64::MAX)), "{err}");
        assert!(store.is_empty());
        // The longest accepted lifetime still reads back from the file.
        let rec = SymmetricVersion::wrap(&alice, 1, &key, 0.0, LATEST_TIME as u64, &pk).unwrap();
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            serde_json::from_str::<SymmetricVersion>(&json).unwrap(),
            rec
        );
    }

    #[test]
    fn unknown_users_are_reported() {
        let (_, pk, _) = setup();
        let bob = UserId::new("bob").unwrap();
        let store = KeyStore::default();
        assert!(matches!(
            is_key_expired(&store, &bob, 0.0),
            Err(Error::UnknownUser(_))
        ));
        assert!(matches!(
            load_symmetric_key(&store, &RevocationList::default(), &bob, &pk, 0.0),
            Err(Error::UnknownUser(_))
        ));
    }

    #[test]
    fn fingerprint_is_sha256_and_debug_shows_only_its_start() {
        // `head -c 32 /dev/zero | sha256sum`
        let zeros = SymmetricKey(Zeroizing::new([0u8; KEY_LEN]));
        let expected = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";
        assert_eq!(zeros.fingerprint(), expected);
        assert_eq!(
            format!("{zeros:?}"),
            "SymmetricKey(sha256:66687aadf862bd77)"
        );
    }
}
