//! The lifecycle operations behind the subcommands: each checks what it is
//! given, does the slow work (PBKDF2, RSA key generation) before taking the
//! store's lock, then changes the store and logs its events in one locked
//! step. Each returns what happened as data, which the binary prints as a
//! table, plain lines or JSON.

use serde::Serialize;

use crate::crypto::kdf::{KdfParams, Password, PasswordKey};
use crate::keys::KeyStore;
use crate::keys::keyring::versions_of;
use crate::keys::keyring::{self, DestroyOutcome, KeyState, VersionStatus};
use crate::keys::unlock::{UnlockedUser, check_password, unlock_user};
use crate::revocation::RevocationList;
use crate::revocation::{Revocation, RevocationReason, RevokeOutcome, revoke_key};
use crate::store::Store;
use crate::store::audit::{Event, EventKind};
use crate::store::trust::KeyUse;
use crate::store::versions::{NewVersion, add_version_unlocking, revocation_events};
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{Error, KeyError, Result};

/// `keygen`: a new user's first keys (version 1), wrapped under a key
/// stretched from `password` with `iterations` rounds of PBKDF2.
///
/// # Errors
/// [`KeyError::UserExists`] if the user has keys (rotation makes new ones);
/// as [`add_version_unlocking`].
pub fn keygen(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    expiry_time: u64,
    iterations: u32,
) -> Result<NewVersion> {
    // A user the log knows and the store lacks was deleted from the file:
    // refused, rather than made again under the same name.
    let (keys, _) = load_for_use(store, &[user_id], KeyUse::WithPassword)?;
    let existing = keys.get(user_id)?;
    if existing.is_some_and(|r| !r.symmetric.is_empty() || !r.asymmetric.is_empty()) {
        return Err(Error::Key(KeyError::UserExists(user_id.to_string())));
    }
    store.check_writable()?;
    let params = KdfParams::generate(iterations)?;
    // PBKDF2 here, the RSA key pair on another core, at once.
    add_version_unlocking(
        store,
        user_id,
        || Ok(PasswordKey::derive(password, &params)),
        expiry_time,
        existing,
        EventKind::Created,
        "keygen",
    )
    .map(|(made, _)| made)
}

/// Proves that `password` is `user_id`'s before a change; a wrong one is
/// logged as a failed authentication, and the error returned.
///
/// # Errors
/// As [`check_password`].
pub fn authenticate(
    store: &Store,
    keys: &KeyStore,
    user_id: &UserId,
    password: &Password,
    command: &str,
) -> Result<PasswordKey> {
    check_password(keys, user_id, password)
        .map_err(|e| log_if_wrong_password(store, user_id, command, e))
}

/// Passes `e` on, logging it first as a failed authentication when it is a
/// wrong password. The refusal matters more than the log line: if the log
/// cannot be written, the wrong password is still reported.
pub(crate) fn log_if_wrong_password(
    store: &Store,
    user_id: &UserId,
    command: &str,
    e: Error,
) -> Error {
    if matches!(e, Error::Key(KeyError::Unlock(_))) {
        let _ = store.log(Event::new(
            EventKind::AuthenticationFailed,
            user_id,
            command,
        ));
    }
    e
}

/// Loads the store for a command that uses, or adds to, the keys of
/// `users`: each record checked against the audit log
/// ([`crate::store::trust::load_for_use`]) and, with a CA, each pair's
/// certificate against the root ([`crate::ca::check_certificates`]). The
/// one entry point of every key use.
///
/// # Errors
/// As [`crate::store::trust::load_for_use`] and [`crate::ca::check_certificates`].
pub fn load_for_use(
    store: &Store,
    users: &[&UserId],
    key_use: KeyUse,
) -> Result<(KeyStore, RevocationList)> {
    let (keys, revoked) = crate::store::trust::load_for_use(store, users, key_use)?;
    for user in users {
        crate::ca::check_certificates(store, &keys, user)?;
    }
    Ok((keys, revoked))
}

/// [`unlock_user`], with a wrong password logged.
///
/// # Errors
/// As [`unlock_user`].
pub(crate) fn unlock_logged(
    store: &Store,
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    password: &Password,
    command: &str,
) -> Result<UnlockedUser> {
    unlock_user(keys, revoked, user_id, password)
        .map_err(|e| log_if_wrong_password(store, user_id, command, e))
}

/// A user's primary keys for signing: unlocked (a wrong password logged),
/// with an RSA pair, refused unless that pair is active (NIST SP 800-57: a
/// deactivated key may verify, never sign).
///
/// # Errors
/// As [`unlock_user`]; [`KeyError::Expired`]; [`KeyError::UnknownUser`] when
/// the primary version has no RSA pair.
pub(crate) fn signing_keys(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    command: &str,
) -> Result<UnlockedUser> {
    let (keys, revoked) = load_for_use(store, &[user_id], KeyUse::WithPassword)?;
    let unlocked = unlock_logged(store, &keys, &revoked, user_id, password, command)?;
    let pair = unlocked
        .record
        .asymmetric
        .iter()
        .find(|a| a.version == unlocked.version)
        .ok_or_else(|| Error::Key(KeyError::UnknownUser(user_id.to_string())))?;
    if pair.is_expired(time::now()) {
        return Err(Error::Key(KeyError::Expired {
            user: user_id.to_string(),
            expired_at: time::format(pair.expiry),
        }));
    }
    if unlocked.key_pair.is_none() {
        return Err(Error::Key(KeyError::UnknownUser(user_id.to_string())));
    }
    Ok(unlocked)
}

/// `rotate`: makes version n+1 of both keys, under the same password. The
/// old versions stay, deactivated. Works after a revocation too, which is
/// how a user gets fresh keys.
///
/// # Errors
/// [`KeyError::UnknownUser`]; [`KeyError::Unlock`]; as [`add_version_unlocking`].
pub fn rotate(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    expiry_time: u64,
) -> Result<NewVersion> {
    // A rotation on a record the log disagrees with would log a second
    // version of one number: refused first.
    let (keys, _) = load_for_use(store, &[user_id], KeyUse::WithPassword)?;
    store.check_writable()?;
    // The password checked (PBKDF2) here while the new RSA key pair is
    // made on another core; a wrong password throws the pair away.
    add_version_unlocking(
        store,
        user_id,
        || authenticate(store, &keys, user_id, password, "rotate"),
        expiry_time,
        keys.get(user_id)?,
        EventKind::Rotated,
        "rotate",
    )
    .map(|(made, _)| made)
}

/// `revoke`: puts `version` (or every version) of `user_id` on the
/// revocation list, after the owner's password.
///
/// # Errors
/// [`KeyError::UnknownUser`]; [`KeyError::UnknownVersion`]; [`KeyError::Unlock`].
pub fn revoke(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    reason: RevocationReason,
    version: Option<u32>,
    command: &str,
) -> Result<RevokeOutcome> {
    let (keys, _) = store.load()?;
    check_version(&keys, user_id, version)?;
    authenticate(store, &keys, user_id, password, command)?;
    put_on_list(store, user_id, reason, version, command)
}

/// `revoke --admin`: as [`revoke`], on the authority of the store's CA
/// instead of the owner's password: the administrator password must open
/// the CA key (a teacher revokes a student's keys without asking them).
/// The log records it with the command `revoke --admin`.
///
/// # Errors
/// [`crate::CaError::NoCa`] for a store without a CA, whose revocations
/// only the owner can make; [`crate::CryptoError::Decryption`] for a wrong
/// administrator password; [`KeyError::UnknownUser`];
/// [`KeyError::UnknownVersion`].
pub fn revoke_as_administrator(
    store: &Store,
    user_id: &UserId,
    administrator: &Password,
    reason: RevocationReason,
    version: Option<u32>,
) -> Result<RevokeOutcome> {
    let (keys, _) = store.load()?;
    check_version(&keys, user_id, version)?;
    if !crate::ca::check_admin_password(store, administrator)? {
        return Err(Error::Ca(crate::CaError::NoCa));
    }
    put_on_list(store, user_id, reason, version, "revoke --admin")
}

/// Puts the versions on the list and logs each, in one change.
fn put_on_list(
    store: &Store,
    user_id: &UserId,
    reason: RevocationReason,
    version: Option<u32>,
    command: &str,
) -> Result<RevokeOutcome> {
    store.update(|keys, revoked, events| {
        let outcome = revoke_key(
            revoked,
            user_id,
            &versions_of(keys, user_id)?,
            reason,
            version,
            time::now(),
        )?;
        events.extend(revocation_events(&outcome, user_id, command));
        Ok(outcome)
    })
}

/// `destroy`: erases the material of `version` of `user_id`, after the
/// owner's password (see [`keyring::destroy`] for `force`).
///
/// # Errors
/// As [`keyring::destroy`]; [`KeyError::Unlock`].
pub fn destroy(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    version: u32,
    force: bool,
) -> Result<DestroyOutcome> {
    let (keys, revoked) = store.load()?;
    // Refuse before the slow password check when the answer is known.
    refuse_destroy(&keys, &revoked, user_id, version, force)?;
    authenticate(store, &keys, user_id, password, "destroy")?;
    store.update(|keys, revoked, events| {
        let outcome = keyring::destroy(keys, revoked, user_id, version, force, time::now())?;
        if outcome == DestroyOutcome::Destroyed {
            let record = keys.get(user_id)?.expect("destroy found the user");
            let v = keyring::versions(record)
                .into_iter()
                .find(|v| v.version == version)
                .expect("destroy found the version");
            events.push(
                Event::new(EventKind::Destroyed, user_id, "destroy").for_version(
                    version,
                    v.symmetric_fingerprint(),
                    v.public_key_fingerprint(),
                ),
            );
        }
        Ok(outcome)
    })
}

fn check_version(keys: &KeyStore, user_id: &UserId, version: Option<u32>) -> Result<()> {
    let record = keys.require(user_id)?;
    if let Some(n) = version {
        keyring::find_version(&keyring::versions(record), user_id, n)?;
    }
    Ok(())
}

/// What `status` shows for one user.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserStatus {
    /// The user.
    pub user: UserId,
    /// Every version, oldest first.
    pub versions: Vec<VersionStatus>,
}

/// `status`: the state of each of `user_id`'s key versions at `now`.
///
/// # Errors
/// [`KeyError::UnknownUser`]; as [`Store::load`].
pub fn status(store: &Store, user_id: &UserId, now: Timestamp) -> Result<UserStatus> {
    store.require_existing()?;
    let (keys, revoked) = store.load()?;
    let record = keys.require(user_id)?;
    Ok(UserStatus {
        user: user_id.clone(),
        versions: keyring::status(record, &revoked, user_id, now),
    })
}

/// One line of `list`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserSummary {
    /// The user.
    pub user: UserId,
    /// How many versions the user has.
    pub version_count: usize,
    /// The primary (newest) version, if any.
    pub primary: Option<u32>,
    /// The primary's state.
    pub state: Option<KeyState>,
    /// What put the primary there ([`keyring::VersionStatus::why`]);
    /// absent while it is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// When the primary's active period ends (RFC 3339 UTC in JSON output).
    #[serde(serialize_with = "crate::util::time::serialize_rfc3339_optional")]
    pub active_until: Option<Timestamp>,
}

/// `recover`: finishes a change that a killed run committed and did not
/// finish, as any change does before its own (the journal is checked
/// first: see docs/RELIABILITY.md, "Crashes"). Whether there was one.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// assert!(!secure_kms::ops::commands::recover(&store)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreError::BrokenJournal`](crate::StoreError::BrokenJournal) for a journal that cannot be finished; as
/// [`Store::update`].
pub fn recover(store: &Store) -> Result<bool> {
    store.require_existing()?;
    let pending = crate::store::journal::pending(store.dir());
    store.update(|_, _, _| Ok(()))?;
    Ok(pending)
}

/// `list`: every user, with the state of the primary version at `now`.
///
/// # Errors
/// As [`Store::load`].
pub fn list(store: &Store, now: Timestamp) -> Result<Vec<UserSummary>> {
    store.require_existing()?;
    let (keys, revoked) = store.load()?;
    let mut out = Vec::new();
    for id in keys.user_ids() {
        let user_id = UserId::new(id)?;
        let record = keys.get(&user_id)?.expect("listed");
        let versions = keyring::status(record, &revoked, &user_id, now);
        let primary = versions.last();
        out.push(UserSummary {
            user: user_id.clone(),
            version_count: versions.len(),
            primary: primary.map(|v| v.version),
            state: primary.map(|v| v.state),
            why: primary.and_then(|v| v.why.clone()),
            active_until: primary.map(|v| v.active_until),
        });
    }
    Ok(out)
}

/// `audit --verify`: the log's entries once its hash chain and its
/// agreement with the store are checked.
///
/// # Errors
/// [`StoreError::AuditBroken`](crate::StoreError::AuditBroken); [`StoreError::AuditDisagrees`](crate::StoreError::AuditDisagrees); as [`Store::load`].
pub fn verify_audit(store: &Store) -> Result<(usize, crate::store::audit::CrossCheck)> {
    store.require_existing()?;
    let (keys, revoked, entries) = store.load_with_log()?;
    let report = crate::store::audit::cross_check(&entries, &keys, &revoked)?;
    Ok((entries.len(), report))
}

/// `revoked`: the revocation list, oldest first.
///
/// # Errors
/// As [`Store::load`].
pub fn revoked(store: &Store) -> Result<Vec<Revocation>> {
    store.require_existing()?;
    Ok(store.load()?.1.entries().to_vec())
}

/// `audit`: the log's entries, its chain checked.
///
/// # Errors
/// [`StoreError::NoStore`](crate::StoreError::NoStore); [`StoreError::AuditBroken`](crate::StoreError::AuditBroken).
pub fn audit_log(store: &Store) -> Result<Vec<crate::store::audit::Entry>> {
    store.require_existing()?;
    Ok(store.load_with_log()?.2)
}

/// Checks, without the password or any change, that `destroy` would be
/// allowed, so that a refusal comes before the confirmation question.
///
/// # Errors
/// As [`keyring::destroy`].
pub fn check_destroy(store: &Store, user_id: &UserId, version: u32, force: bool) -> Result<()> {
    let (keys, revoked) = store.load()?;
    refuse_destroy(&keys, &revoked, user_id, version, force)
}

/// [`keyring::destroy`] tried on a copy of `keys`: its refusal, if any,
/// with nothing changed.
fn refuse_destroy(
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    version: u32,
    force: bool,
) -> Result<()> {
    check_version(keys, user_id, Some(version))?;
    keyring::destroy(
        &mut keys.clone(),
        revoked,
        user_id,
        version,
        force,
        Timestamp::EPOCH,
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::versions::add_version;

    #[test]
    fn a_wrong_password_is_logged_and_a_right_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::ca::open_store(dir.path());
        let alice = UserId::new("alice").unwrap();
        let pw = |s: &str| Password::new(s.to_owned()).unwrap();
        add_version(
            &store,
            &alice,
            &crate::crypto::kdf::test_key("pw"),
            60,
            None,
            EventKind::Created,
            "test",
        )
        .unwrap();
        let (keys, _) = store.load().unwrap();
        authenticate(&store, &keys, &alice, &pw("pw"), "test").unwrap();
        assert!(matches!(
            authenticate(&store, &keys, &alice, &pw("nope"), "test"),
            Err(Error::Key(KeyError::Unlock(_)))
        ));
        let kinds: Vec<_> = crate::store::audit::verify(store.dir())
            .unwrap()
            .iter()
            .map(|e| e.event.event)
            .collect();
        assert_eq!(kinds, [EventKind::Created, EventKind::AuthenticationFailed]);
    }
}
