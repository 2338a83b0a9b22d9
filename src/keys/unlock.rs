//! Unlocking a user's keys with their password.
//!
//! One PBKDF2 run serves both keys when they were wrapped together (the usual
//! case); a record whose two parts carry different KDF parameters costs two.

use rsa::{PrivateKey, PublicKey};

use crate::crypto::kdf::{KdfParams, Password, PasswordKey};
use crate::keys::keyring::{KeyVersion, find_version, versions};
use crate::keys::{KeyStore, UserRecord};
use crate::revocation::{RevocationList, check_not_revoked};
use crate::symmetric::{SymmetricKey, is_key_expired, load_symmetric_key};
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{CryptoError, Error, KeyError, Result};

/// The primary version of a user's keys in the clear, in memory only; each
/// key is zeroized on drop.
#[derive(Debug)]
pub struct UnlockedUser {
    /// The record the keys came from, as it was in the store.
    pub record: UserRecord,
    /// The version unlocked: the primary.
    pub version: u32,
    /// The AES-256 key, if the version has one.
    pub symmetric: Option<SymmetricKey>,
    /// The RSA key pair, if the version has one.
    pub key_pair: Option<(PrivateKey, PublicKey)>,
    /// The password-derived key that opened them, to wrap new versions
    /// under the same password without another PBKDF2 run.
    pub password_key: PasswordKey,
}

impl UnlockedUser {
    /// The symmetric key, refused once it has expired: an expired key is
    /// deactivated, not for new use.
    ///
    /// # Errors
    /// [`KeyError::Expired`]; [`KeyError::UnknownUser`] if there is no symmetric key.
    pub fn symmetric_key_for_use(&self, user_id: &UserId, now: Timestamp) -> Result<&SymmetricKey> {
        let record = self
            .record
            .symmetric
            .iter()
            .find(|s| s.version == self.version);
        match (&self.symmetric, record) {
            (Some(key), Some(record)) => {
                if is_key_expired(record, now) {
                    Err(Error::Key(KeyError::Expired {
                        user: user_id.to_string(),
                        expired_at: time::format(record.expiry),
                    }))
                } else {
                    Ok(key)
                }
            }
            _ => Err(Error::Key(KeyError::UnknownUser(user_id.to_string()))),
        }
    }
}

/// Checks `password` against the primary key version of `user_id` and
/// returns its keys unwrapped, for use. Revoked or destroyed keys are
/// refused before anything is decrypted. Expiry is checked where the
/// symmetric key is used ([`UnlockedUser::symmetric_key_for_use`]).
///
/// ```
/// use secure_kms::crypto::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// use secure_kms::revocation::{revoke_key, RevocationList};
/// use secure_kms::keys::{KeyStore, keyring::versions_of};
/// use secure_kms::symmetric::generate_symmetric_key;
/// use secure_kms::keys::unlock::{check_password, unlock_user};
/// use secure_kms::util::user::UserId;
///
/// let alice = UserId::new("alice")?;
/// let password = Password::new("mysecurepassword".to_owned())?;
/// let pk = PasswordKey::derive(&password, &KdfParams::generate(MIN_ITERATIONS)?);
/// let mut keys = KeyStore::default();
/// keys.add_symmetric(&alice, &generate_symmetric_key()?, 3600, &pk)?;
///
/// let mut revoked = RevocationList::default();
/// assert!(unlock_user(&keys, &revoked, &alice, &password)?.symmetric.is_some());
/// revoke_key(&mut revoked, &alice, &versions_of(&keys, &alice)?, Default::default(), None, secure_kms::util::time::now())?;
/// assert!(unlock_user(&keys, &revoked, &alice, &password).is_err());
/// // The owner can still prove the password, to replace the keys.
/// check_password(&keys, &alice, &password)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`KeyError::UnknownUser`]; [`KeyError::Revoked`], with when and why;
/// [`KeyError::Destroyed`]; [`KeyError::Unlock`] for a wrong password or a
/// corrupted key, without saying which.
pub fn unlock_user(
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    password: &Password,
) -> Result<UnlockedUser> {
    let record = keys.require(user_id)?;
    let all = versions(record);
    check_not_revoked(revoked, user_id, &all)?;
    let primary = all
        .last()
        .ok_or_else(|| Error::Key(KeyError::UnknownUser(user_id.to_string())))?;
    if !primary.has_material() {
        return Err(Error::Key(KeyError::Destroyed {
            user: user_id.to_string(),
            version: primary.version,
            destroyed_at: primary.destroyed_at().map(time::format),
        }));
    }
    unlock_version(record, primary, user_id, password)
}

/// Proves that `password` is the owner's, without handing out any key: what
/// revoking, rotating and destroying need. It opens the newest version that
/// still holds key material, whether or not it is revoked or expired.
///
/// # Errors
/// [`KeyError::UnknownUser`]; [`KeyError::NothingToUnlock`] when every version is
/// destroyed; [`KeyError::Unlock`] for a wrong password or a corrupted key.
pub fn check_password(
    keys: &KeyStore,
    user_id: &UserId,
    password: &Password,
) -> Result<PasswordKey> {
    let record = keys.require(user_id)?;
    let all = versions(record);
    if all.is_empty() {
        return Err(Error::Key(KeyError::UnknownUser(user_id.to_string())));
    }
    let newest = all
        .iter()
        .rev()
        .find(|v| v.has_material())
        .ok_or_else(|| Error::Key(KeyError::NothingToUnlock(user_id.to_string())))?;
    Ok(unlock_version(record, newest, user_id, password)?.password_key)
}

/// Checks that version `version` of `user_id`'s keys may still decrypt or
/// verify: it exists, is not compromised (refused with its date and
/// reason) and is not destroyed. A deactivated version may.
///
/// # Errors
/// [`KeyError::UnknownUser`]; [`KeyError::UnknownVersion`]; [`KeyError::Revoked`];
/// [`KeyError::Destroyed`].
pub fn check_usable_for_decryption(
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    version: u32,
) -> Result<()> {
    let record = keys.require(user_id)?;
    let all = versions(record);
    let v = find_version(&all, user_id, version)?;
    if let Some(r) = revoked.find(user_id, v) {
        return Err(Error::Key(KeyError::Revoked {
            user: user_id.to_string(),
            revoked_at: r.revoked_at_text(),
            reason: format!("{}; version {version}", r.reason),
        }));
    }
    if v.symmetric.is_none_or(|s| s.wrapped.is_none()) {
        return Err(Error::Key(KeyError::Destroyed {
            user: user_id.to_string(),
            version,
            destroyed_at: v.destroyed_at().map(time::format),
        }));
    }
    Ok(())
}

/// The symmetric key of version `version` of `user_id`, for decrypting
/// (see [`check_usable_for_decryption`]), unwrapped with `password`.
///
/// # Errors
/// As [`check_usable_for_decryption`]; [`KeyError::Unlock`] for a wrong
/// password.
pub fn unlock_symmetric_version(
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    version: u32,
    password: &Password,
) -> Result<SymmetricKey> {
    check_usable_for_decryption(keys, revoked, user_id, version)?;
    let record = keys.require(user_id)?;
    let sym = record
        .symmetric
        .iter()
        .find(|s| s.version == version)
        .expect("checked above");
    let wrapped = sym.wrapped.as_ref().expect("checked above");
    let pk = PasswordKey::derive(password, &wrapped.kdf);
    load_symmetric_key(sym, user_id, &pk).map_err(|e| match e {
        Error::Crypto(CryptoError::Decryption) => Error::Key(KeyError::Unlock(user_id.to_string())),
        other => other,
    })
}

fn unlock_version(
    record: &UserRecord,
    version: &KeyVersion<'_>,
    user_id: &UserId,
    password: &Password,
) -> Result<UnlockedUser> {
    let wrong = |e: Error| match e {
        Error::Crypto(CryptoError::Decryption) => Error::Key(KeyError::Unlock(user_id.to_string())),
        other => other,
    };
    let mut cached: Option<PasswordKey> = None;
    let key_pair = match version.asymmetric {
        Some(pair) if pair.private.is_some() => {
            let kdf = &pair.private.as_ref().expect("checked").kdf;
            let pk = key_for(&mut cached, password, kdf);
            Some(pair.unlock(user_id, pk).map_err(wrong)?)
        }
        _ => None,
    };
    let symmetric = match version.symmetric {
        Some(sym) if sym.wrapped.is_some() => {
            let kdf = &sym.wrapped.as_ref().expect("checked").kdf;
            let pk = key_for(&mut cached, password, kdf);
            Some(load_symmetric_key(sym, user_id, pk).map_err(wrong)?)
        }
        _ => None,
    };
    let password_key =
        cached.ok_or_else(|| Error::Key(KeyError::UnknownUser(user_id.to_string())))?;
    Ok(UnlockedUser {
        record: record.clone(),
        version: version.version,
        symmetric,
        key_pair,
        password_key,
    })
}

/// The password key for `params`, derived only if the cached one was derived
/// with other parameters.
fn key_for<'a>(
    cached: &'a mut Option<PasswordKey>,
    password: &Password,
    params: &KdfParams,
) -> &'a PasswordKey {
    if cached.as_ref().is_none_or(|k| k.params() != params) {
        *cached = Some(PasswordKey::derive(password, params));
    }
    cached.as_ref().expect("set just above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kdf::{KdfParams, MIN_ITERATIONS};
    use crate::keys::keyring::versions_of;
    use crate::pki::generate_asymmetric_keys;
    use crate::symmetric::generate_symmetric_key;

    fn store_for(users: &[&str]) -> KeyStore {
        let mut keys = KeyStore::default();
        for user in users {
            let id = UserId::new(user).unwrap();
            let pk = crate::crypto::kdf::test_key(&format!("{user}-pw"));
            let (private_key, public_key) = generate_asymmetric_keys().unwrap();
            keys.add_symmetric(&id, &generate_symmetric_key().unwrap(), 60, &pk)
                .unwrap();
            keys.add_asymmetric(&id, &private_key, &public_key, 60, &pk)
                .unwrap();
        }
        keys
    }

    fn none() -> RevocationList {
        RevocationList::default()
    }

    fn pw(s: &str) -> Password {
        Password::new(s.to_owned()).unwrap()
    }

    #[test]
    fn the_right_password_unlocks_both_keys() {
        let keys = store_for(&["alice"]);
        let alice = UserId::new("alice").unwrap();
        let unlocked = unlock_user(&keys, &none(), &alice, &pw("alice-pw")).unwrap();
        let sym = unlocked.symmetric.unwrap();
        assert_eq!(
            sym.fingerprint(),
            keys.get(&alice).unwrap().unwrap().symmetric[0].fingerprint
        );
        assert!(unlocked.key_pair.is_some());
    }

    #[test]
    fn a_wrong_password_or_unknown_user_is_refused() {
        let keys = store_for(&["alice"]);
        let alice = UserId::new("alice").unwrap();
        assert!(matches!(
            unlock_user(&keys, &none(), &alice, &pw("nope")),
            Err(Error::Key(KeyError::Unlock(_)))
        ));
        let bob = UserId::new("bob").unwrap();
        assert!(matches!(
            unlock_user(&keys, &none(), &bob, &pw("alice-pw")),
            Err(Error::Key(KeyError::UnknownUser(_)))
        ));
    }

    #[test]
    fn a_public_key_swapped_in_from_another_user_is_refused() {
        let mut keys = store_for(&["alice", "bob"]);
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        let bob_public = keys.get(&bob).unwrap().unwrap().asymmetric[0]
            .public
            .clone();
        keys.entry(&alice).unwrap().asymmetric[0].public = bob_public;
        assert!(matches!(
            unlock_user(&keys, &none(), &alice, &pw("alice-pw")),
            Err(Error::Key(KeyError::Unlock(_)))
        ));
    }

    #[test]
    fn a_wrapped_key_moved_from_another_user_is_refused() {
        let mut keys = store_for(&["alice", "bob"]);
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        // Even with alice's own password-derived key, bob's record under
        // alice's name does not open: the user ID is in the associated data.
        let bob_record = keys.get(&bob).unwrap().unwrap().clone();
        keys.insert(&alice, bob_record);
        assert!(matches!(
            unlock_user(&keys, &none(), &alice, &pw("bob-pw")),
            Err(Error::Key(KeyError::Unlock(_)))
        ));
    }

    #[test]
    fn revoked_keys_are_refused_but_the_password_can_still_be_checked() {
        use crate::revocation::{RevocationReason, revoke_key};
        let keys = store_for(&["alice"]);
        let alice = UserId::new("alice").unwrap();
        let mut revoked = none();
        revoke_key(
            &mut revoked,
            &alice,
            &versions_of(&keys, &alice).unwrap(),
            RevocationReason::KeyCompromise,
            None,
            Timestamp::from_secs(0.0),
        )
        .unwrap();
        let err = unlock_user(&keys, &revoked, &alice, &pw("alice-pw")).unwrap_err();
        assert!(
            matches!(err, Error::Key(KeyError::Revoked { ref reason, .. }) if reason == "keyCompromise"),
            "{err}"
        );
        check_password(&keys, &alice, &pw("alice-pw")).unwrap();
        assert!(matches!(
            check_password(&keys, &alice, &pw("nope")),
            Err(Error::Key(KeyError::Unlock(_)))
        ));
    }

    #[test]
    fn an_expired_symmetric_key_is_refused_for_use() {
        let keys = store_for(&["alice"]);
        let alice = UserId::new("alice").unwrap();
        let unlocked = unlock_user(&keys, &none(), &alice, &pw("alice-pw")).unwrap();
        let now = time::now();
        assert!(unlocked.symmetric_key_for_use(&alice, now).is_ok());
        assert!(matches!(
            unlocked.symmetric_key_for_use(&alice, now + 61.0),
            Err(Error::Key(KeyError::Expired { .. }))
        ));
    }

    #[test]
    fn keys_wrapped_with_different_salts_both_unlock() {
        // Each wrapped key carries its own KDF parameters; when they differ,
        // unlocking derives twice and still succeeds.
        let id = UserId::new("alice").unwrap();
        let password = pw("alice-pw");
        let pk = |_| PasswordKey::derive(&password, &KdfParams::generate(MIN_ITERATIONS).unwrap());
        let (sym_key, rsa_key) = (pk(1), pk(2));
        assert_ne!(sym_key.params(), rsa_key.params());
        let mut keys = KeyStore::default();
        let (private_key, public_key) = generate_asymmetric_keys().unwrap();
        keys.add_symmetric(&id, &generate_symmetric_key().unwrap(), 60, &sym_key)
            .unwrap();
        keys.add_asymmetric(&id, &private_key, &public_key, 60, &rsa_key)
            .unwrap();
        let unlocked = unlock_user(&keys, &none(), &id, &password).unwrap();
        assert!(unlocked.symmetric.is_some() && unlocked.key_pair.is_some());
        assert!(matches!(
            unlock_user(&keys, &none(), &id, &pw("nope")),
            Err(Error::Key(KeyError::Unlock(_)))
        ));
    }
}
