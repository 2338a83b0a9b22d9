//! Unlocking a user's keys with their password.
//!
//! One PBKDF2 run serves both keys when they were wrapped together (the usual
//! case); a record whose two parts carry different KDF parameters costs two.

use rsa::{PrivateKey, PublicKey};

use crate::kdf::{KdfParams, Password, PasswordKey};
use crate::pki::{decrypt_private_key, public_key_from_pem};
use crate::revocation::{RevocationList, check_not_revoked};
use crate::store::{KeyStore, UserRecord};
use crate::symmetric::SymmetricKey;
use crate::time::{self, Timestamp};
use crate::user::UserId;
use crate::{Error, Result};

/// A user's keys in the clear, in memory only; each is zeroized on drop.
#[derive(Debug)]
pub struct UnlockedUser {
    /// The record the keys came from, as it was in the store.
    pub record: UserRecord,
    /// The AES-256 key, if the user has one.
    pub symmetric: Option<SymmetricKey>,
    /// The RSA key pair, if the user has one.
    pub key_pair: Option<(PrivateKey, PublicKey)>,
}

impl UnlockedUser {
    /// The symmetric key, refused once it has expired: an expired key is
    /// invalidated for new use.
    ///
    /// # Errors
    /// [`Error::Expired`]; [`Error::UnknownUser`] if there is no symmetric key.
    pub fn symmetric_key_for_use(&self, user_id: &UserId, now: Timestamp) -> Result<&SymmetricKey> {
        match (&self.symmetric, &self.record.symmetric) {
            (Some(key), Some(record)) => {
                if record.is_expired(now) {
                    Err(Error::Expired {
                        user: user_id.to_string(),
                        expired_at: time::format(record.expiry),
                    })
                } else {
                    Ok(key)
                }
            }
            _ => Err(Error::UnknownUser(user_id.to_string())),
        }
    }
}

/// Checks `password` against every key `user_id` holds and returns them
/// unwrapped, for use. Revoked keys are refused before anything is
/// decrypted. Expiry is checked where the symmetric key is used
/// ([`UnlockedUser::symmetric_key_for_use`]).
///
/// ```
/// use secure_kms::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// use secure_kms::revocation::{revoke_key, RevocationList};
/// use secure_kms::store::KeyStore;
/// use secure_kms::symmetric::{generate_symmetric_key, store_symmetric_key};
/// use secure_kms::unlock::{check_password, unlock_user};
/// use secure_kms::user::UserId;
///
/// let alice = UserId::new("alice")?;
/// let password = Password::new("mysecurepassword".to_owned())?;
/// let pk = PasswordKey::derive(&password, &KdfParams::generate(MIN_ITERATIONS)?);
/// let mut keys = KeyStore::default();
/// store_symmetric_key(&mut keys, &alice, &generate_symmetric_key()?, 3600, &pk)?;
///
/// let mut revoked = RevocationList::default();
/// assert!(unlock_user(&keys, &revoked, &alice, &password)?.symmetric.is_some());
/// revoke_key(&mut revoked, &keys, &alice, Default::default(), 0.0)?;
/// assert!(unlock_user(&keys, &revoked, &alice, &password).is_err());
/// // The owner can still prove the password, to replace the keys.
/// check_password(&keys, &alice, &password)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::UnknownUser`]; [`Error::Revoked`], with when and why;
/// [`Error::Unlock`] for a wrong password or a corrupted key, without saying
/// which.
pub fn unlock_user(
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    password: &Password,
) -> Result<UnlockedUser> {
    check_not_revoked(revoked, keys, user_id)?;
    unlock_unchecked(keys, user_id, password)
}

/// Proves that `password` is the owner's, without handing out any key: what
/// replacing revoked keys needs. Works whether or not the keys are revoked.
///
/// # Errors
/// [`Error::UnknownUser`]; [`Error::Unlock`] for a wrong password or a
/// corrupted key.
pub fn check_password(keys: &KeyStore, user_id: &UserId, password: &Password) -> Result<()> {
    unlock_unchecked(keys, user_id, password).map(drop)
}

fn unlock_unchecked(
    keys: &KeyStore,
    user_id: &UserId,
    password: &Password,
) -> Result<UnlockedUser> {
    let record = keys
        .get(user_id)
        .ok_or_else(|| Error::UnknownUser(user_id.to_string()))?;
    let wrong = |e: Error| match e {
        Error::Decryption => Error::Unlock(user_id.to_string()),
        other => other,
    };
    let mut cached: Option<PasswordKey> = None;

    let key_pair = match (&record.private, &record.public) {
        (Some(private), Some(public_pem)) => {
            let pk = key_for(&mut cached, password, &private.kdf);
            let private_key = decrypt_private_key(private, pk, user_id).map_err(wrong)?;
            let public_key = public_key_from_pem(public_pem)?;
            if private_key.to_public_key() != public_key {
                // The public key in the file is not the private key's.
                return Err(Error::Unlock(user_id.to_string()));
            }
            Some((private_key, public_key))
        }
        (Some(private), None) => {
            // Half a pair: the private key still proves the password, and the
            // caller sees an incomplete record that can only be replaced.
            let pk = key_for(&mut cached, password, &private.kdf);
            decrypt_private_key(private, pk, user_id).map_err(wrong)?;
            None
        }
        // A public key alone holds no secret and proves nothing.
        (None, _) => None,
    };
    let symmetric = match &record.symmetric {
        Some(sym) => {
            let pk = key_for(&mut cached, password, &sym.kdf);
            Some(sym.unwrap_key(user_id, pk).map_err(wrong)?)
        }
        None => None,
    };
    if !record.has_keys() {
        return Err(Error::UnknownUser(user_id.to_string()));
    }
    Ok(UnlockedUser {
        record: record.clone(),
        symmetric,
        key_pair,
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
    use crate::kdf::{KdfParams, MIN_ITERATIONS};
    use crate::pki::{generate_asymmetric_keys, store_asymmetric_keys};
    use crate::symmetric::{generate_symmetric_key, store_symmetric_key};

    fn store_for(users: &[&str]) -> KeyStore {
        let mut keys = KeyStore::default();
        for user in users {
            let id = UserId::new(user).unwrap();
            let pk = crate::kdf::test_key(&format!("{user}-pw"));
            let (private_key, public_key) = generate_asymmetric_keys().unwrap();
            store_symmetric_key(&mut keys, &id, &generate_symmetric_key().unwrap(), 60, &pk)
                .unwrap();
            store_asymmetric_keys(&mut keys, &id, &private_key, &public_key, &pk).unwrap();
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
            keys.get(&alice)
                .unwrap()
                .symmetric
                .as_ref()
                .unwrap()
                .fingerprint
        );
        assert!(unlocked.key_pair.is_some());
    }

    #[test]
    fn a_wrong_password_or_unknown_user_is_refused() {
        let keys = store_for(&["alice"]);
        let alice = UserId::new("alice").unwrap();
        assert!(matches!(
            unlock_user(&keys, &none(), &alice, &pw("nope")),
            Err(Error::Unlock(_))
        ));
        let bob = UserId::new("bob").unwrap();
        assert!(matches!(
            unlock_user(&keys, &none(), &bob, &pw("alice-pw")),
            Err(Error::UnknownUser(_))
        ));
    }

    #[test]
    fn a_public_key_swapped_in_from_another_user_is_refused() {
        let mut keys = store_for(&["alice", "bob"]);
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        let bob_public = keys.get(&bob).unwrap().public.clone();
        keys.entry(&alice).public = bob_public;
        assert!(matches!(
            unlock_user(&keys, &none(), &alice, &pw("alice-pw")),
            Err(Error::Unlock(_))
        ));
    }

    #[test]
    fn a_wrapped_key_moved_from_another_user_is_refused() {
        let mut keys = store_for(&["alice", "bob"]);
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        // Even with alice's own password-derived key, bob's record under
        // alice's name does not open: the user ID is in the associated data.
        let bob_record = keys.get(&bob).unwrap().clone();
        keys.insert(&alice, bob_record);
        assert!(matches!(
            unlock_user(&keys, &none(), &alice, &pw("bob-pw")),
            Err(Error::Unlock(_))
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
            &keys,
            &alice,
            RevocationReason::KeyCompromise,
            0.0,
        )
        .unwrap();
        let err = unlock_user(&keys, &revoked, &alice, &pw("alice-pw")).unwrap_err();
        assert!(
            matches!(err, Error::Revoked { ref reason, .. } if reason == "keyCompromise"),
            "{err}"
        );
        check_password(&keys, &alice, &pw("alice-pw")).unwrap();
        assert!(matches!(
            check_password(&keys, &alice, &pw("nope")),
            Err(Error::Unlock(_))
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
            Err(Error::Expired { .. })
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
        store_symmetric_key(
            &mut keys,
            &id,
            &generate_symmetric_key().unwrap(),
            60,
            &sym_key,
        )
        .unwrap();
        store_asymmetric_keys(&mut keys, &id, &private_key, &public_key, &rsa_key).unwrap();
        let unlocked = unlock_user(&keys, &none(), &id, &password).unwrap();
        assert!(unlocked.symmetric.is_some() && unlocked.key_pair.is_some());
        assert!(matches!(
            unlock_user(&keys, &none(), &id, &pw("nope")),
            Err(Error::Unlock(_))
        ));
    }
}
