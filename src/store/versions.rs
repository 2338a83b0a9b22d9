//! The store's two basic changes to a user's keys, each written with the
//! audit line that vouches for it: a new key version (keygen, a rotation,
//! the session, an import), and a revocation's lines. `store::trust`
//! checks every key use against exactly these lines.

use crate::crypto::kdf::PasswordKey;
use crate::keys::UserRecord;
use crate::pki::{generate_asymmetric_keys, store_asymmetric_keys};
use crate::revocation::RevokeOutcome;
use crate::store::Store;
use crate::store::audit::{Event, EventKind};
use crate::symmetric::{generate_symmetric_key, store_symmetric_key};
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{Error, Result, StoreError};

/// A key version just made (its `--json` shape is
/// [`crate::ui::reports::Made`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NewVersion {
    /// Whose keys.
    pub user: UserId,
    /// The version number.
    pub version: u32,
    /// The symmetric key's ID.
    pub symmetric_fingerprint: String,
    /// The RSA pair's ID.
    pub public_key_fingerprint: String,
    /// When it was made.
    pub created: Timestamp,
    /// When its active period ends: its expiry.
    pub expiry: Timestamp,
    /// The user's whole record as stored with it.
    pub record: UserRecord,
    /// How long the PBKDF2 run behind its wrapping key took.
    pub kdf_time: std::time::Duration,
    /// How long the RSA key generation took; none for an imported key.
    pub rsa_time: Option<std::time::Duration>,
}

/// Makes a symmetric key and an RSA pair and adds them to `user_id`'s rings
/// as the next version, the new primary, logging `kind` (created or rotated).
/// `expected` is the record the caller saw: if another run changed it in
/// the meantime, nothing is written.
///
/// # Errors
/// [`StoreError::Conflict`]; [`KeyError::InvalidLifetime`](crate::KeyError::InvalidLifetime); as [`Store::update`].
pub fn add_version(
    store: &Store,
    user_id: &UserId,
    password_key: &PasswordKey,
    expiry_time: u64,
    expected: Option<&UserRecord>,
    kind: EventKind,
    command: &str,
) -> Result<NewVersion> {
    let started = std::time::Instant::now();
    let (private_key, _) = generate_asymmetric_keys()?;
    let rsa_time = started.elapsed();
    let mut made = add_version_with(
        store,
        user_id,
        password_key,
        expiry_time,
        expected,
        kind,
        command,
        &private_key,
    )?;
    made.rsa_time = Some(rsa_time);
    Ok(made)
}

/// As [`add_version`], for a caller that still has to stretch the
/// password: `unlock` (PBKDF2, about 90 ms) runs on this thread while the
/// RSA key pair (about 100 ms, random) is generated on another. Neither
/// needs the other, so on two cores the pair costs the slower of the two,
/// not their sum. Returns the new version and the password key.
///
/// ```
/// use secure_kms::crypto::kdf::{KdfParams, MIN_ITERATIONS, Password, PasswordKey};
/// use secure_kms::store::audit::EventKind;
/// use secure_kms::store::versions::add_version_unlocking;
/// use secure_kms::util::user::UserId;
///
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// let alice = UserId::new("alice")?;
/// let password = Password::new("pw".to_owned())?;
/// // The product uses 600,000 PBKDF2 rounds; an example need not wait.
/// let params = KdfParams::generate(MIN_ITERATIONS)?;
/// let (made, key) = add_version_unlocking(
///     &store,
///     &alice,
///     || Ok(PasswordKey::derive(&password, &params)),
///     3600,
///     None,
///     EventKind::Created,
///     "example",
/// )?;
/// assert_eq!(made.version, 1);
/// assert_eq!(key.params(), &params);
/// assert!(made.rsa_time.is_some()); // made on the other thread
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// What `unlock` returns (a wrong password, for a rotation), checked
/// first; then as [`add_version`].
pub fn add_version_unlocking(
    store: &Store,
    user_id: &UserId,
    unlock: impl FnOnce() -> Result<PasswordKey>,
    expiry_time: u64,
    expected: Option<&UserRecord>,
    kind: EventKind,
    command: &str,
) -> Result<(NewVersion, PasswordKey)> {
    let keygen = || {
        let started = std::time::Instant::now();
        generate_asymmetric_keys().map(|(private_key, _)| (private_key, started.elapsed()))
    };
    let (pair, password_key) = std::thread::scope(|scope| {
        match std::thread::Builder::new().spawn_scoped(scope, keygen) {
            Ok(other_core) => {
                let password_key = unlock();
                let pair = other_core
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (pair, password_key)
            }
            // A system that refuses a thread (a process limit): one after
            // the other.
            Err(_) => {
                let password_key = unlock();
                (keygen(), password_key)
            }
        }
    });
    let password_key = password_key?;
    let (private_key, rsa_time) = pair?;
    let mut made = add_version_with(
        store,
        user_id,
        &password_key,
        expiry_time,
        expected,
        kind,
        command,
        &private_key,
    )?;
    made.rsa_time = Some(rsa_time);
    Ok((made, password_key))
}

/// As [`add_version`], with a given RSA key (an imported one) instead of a
/// new one; the symmetric key of the version is always new.
///
/// # Errors
/// As [`add_version`].
#[allow(clippy::too_many_arguments)]
pub fn add_version_with(
    store: &Store,
    user_id: &UserId,
    password_key: &PasswordKey,
    expiry_time: u64,
    expected: Option<&UserRecord>,
    kind: EventKind,
    command: &str,
    private_key: &rsa::PrivateKey,
) -> Result<NewVersion> {
    let symmetric = generate_symmetric_key()?;
    store.update(|keys, _, events| {
        if keys.get(user_id)? != expected {
            return Err(Error::Store(StoreError::Conflict(user_id.to_string())));
        }
        // Both keys take one number, one past the newest in either ring, so
        // that a rotation is one version even where the rings are uneven
        // (a format 1 record with only one kind of key).
        let (version, last_created) = keys.get(user_id)?.map_or((1, Timestamp::EPOCH), |r| {
            let last = crate::keys::keyring::versions(r)
                .last()
                .map_or(Timestamp::EPOCH, |v| v.created());
            (r.latest_version() + 1, last)
        });
        // Never before the previous version, even if the clock stepped back:
        // versions are ordered by creation.
        let created = time::now().max(last_created);
        let sym = store_symmetric_key(
            user_id,
            version,
            &symmetric,
            created,
            expiry_time,
            password_key,
        )?;
        let asym = store_asymmetric_keys(
            user_id,
            version,
            private_key,
            &private_key.to_public_key(),
            created,
            expiry_time,
            password_key,
        )?;
        let record = keys.entry(user_id)?;
        record.symmetric.push(sym);
        record.asymmetric.push(asym);
        let record = keys.get(user_id)?.expect("just stored");
        let (sym, asym) = (
            record.symmetric.last().expect("just stored"),
            record.asymmetric.last().expect("just stored"),
        );
        events.push(Event::new(kind, user_id, command).for_version(
            sym.version,
            Some(&sym.fingerprint),
            Some(&asym.fingerprint),
        ));
        Ok(NewVersion {
            user: user_id.clone(),
            version: sym.version,
            symmetric_fingerprint: sym.fingerprint.to_string(),
            public_key_fingerprint: asym.fingerprint.to_string(),
            created: sym.created,
            expiry: sym.expiry,
            record: record.clone(),
            kdf_time: password_key.derive_time(),
            rsa_time: None,
        })
    })
}

/// The audit events of a revocation: one per version newly revoked.
pub(crate) fn revocation_events(
    outcome: &RevokeOutcome,
    user_id: &UserId,
    command: &str,
) -> Vec<Event> {
    outcome
        .revoked
        .iter()
        .map(|entry| {
            let mut event = Event::new(EventKind::Revoked, user_id, command);
            if let Some(v) = entry.version {
                event = event.for_version(
                    v,
                    entry.symmetric_fingerprint.as_ref(),
                    entry.public_key_fingerprint.as_ref(),
                );
            }
            event.reason = Some(entry.reason);
            event
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `user`'s record as the store holds it now.
    fn stored(store: &Store, user: &UserId) -> UserRecord {
        store.load().unwrap().0.get(user).unwrap().cloned().unwrap()
    }

    #[test]
    fn a_rotation_is_one_version_even_when_the_rings_are_uneven() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let alice = UserId::new("alice").unwrap();
        let pk = crate::crypto::kdf::test_key("pw");
        // Only an RSA pair, as a format 1 record could have.
        store
            .update(|keys, _, _| {
                let (private_key, public_key) = generate_asymmetric_keys()?;
                keys.add_asymmetric(&alice, &private_key, &public_key, 60, &pk)
                    .map(drop)
            })
            .unwrap();
        let before = store.load().unwrap().0.get(&alice).unwrap().cloned();
        let made = add_version(
            &store,
            &alice,
            &pk,
            60,
            before.as_ref(),
            EventKind::Rotated,
            "test",
        )
        .unwrap();
        assert_eq!(made.version, 2);
        let record = stored(&store, &alice);
        assert_eq!(
            record
                .symmetric
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [2]
        );
        assert_eq!(
            record
                .asymmetric
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        // The event names the version's own two keys.
        let log = crate::store::audit::verify(store.dir()).unwrap();
        let event = &log.last().unwrap().event;
        assert_eq!(event.version, Some(2));
        assert_eq!(
            event.public_key_fingerprint.as_deref(),
            Some(record.asymmetric[1].fingerprint.as_str())
        );
    }

    #[test]
    fn a_failed_unlock_writes_nothing_and_a_good_one_wraps_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let alice = UserId::new("alice").unwrap();
        // The unlock fails (a wrong password, for a rotation): its error,
        // and no file, although the key pair was made meanwhile.
        let err = add_version_unlocking(
            &store,
            &alice,
            || Err(Error::Key(crate::KeyError::Unlock("wrong".into()))),
            60,
            None,
            EventKind::Created,
            "test",
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Key(crate::KeyError::Unlock(_))),
            "{err}"
        );
        assert!(!dir.path().join("key_store.json").exists());
        // It succeeds: the version is wrapped under the key it returned,
        // with both steps' times.
        let (made, key) = add_version_unlocking(
            &store,
            &alice,
            || Ok(crate::crypto::kdf::test_key("pw")),
            60,
            None,
            EventKind::Created,
            "test",
        )
        .unwrap();
        assert_eq!(made.version, 1);
        assert!(made.rsa_time.is_some());
        assert_eq!(made.kdf_time, key.derive_time());
        let record = stored(&store, &alice);
        crate::symmetric::load_symmetric_key(&record.symmetric[0], &alice, &key).unwrap();
        record.asymmetric[0].unlock(&alice, &key).unwrap();
    }
}
