//! Before a key from the store folder is used: is it still the key the
//! store made, in the state the log recorded?
//!
//! `key_store.json` and `revoked_keys.json` can be edited by whoever can
//! write the folder. The wrapped keys are safe (editing one breaks its
//! AES-GCM tag), but what no password authenticates is not: a public key
//! and its fingerprint can be swapped for the attacker's, a revocation
//! deleted, a destroyed key's backup put back. The audit log recorded each
//! of those facts when it happened, as a hash chain, so every command that
//! uses a user's keys first checks the user's record against the log's
//! lines about them ([`check_user`]):
//!
//! 1. every version made by a secure-kms that logs has its `created` or
//!    `rotated` line in the log, with the same key IDs: a version added to
//!    the file by hand (with the attacker's public key) has none, and a log
//!    deleted, or replaced by another, vouches for nothing;
//! 2. each version the log saw made is in the store, with the key IDs the
//!    log recorded (symmetric fingerprint and public key fingerprint);
//! 3. each revocation and destruction the log records still holds.
//!
//! With a certificate authority, a version's certificate must also be one
//! the store's root signed, for this user and this public key
//! ([`crate::ca::check_certificate`]).
//!
//! What this cannot catch is said in docs/RELIABILITY.md ("Threat model"): the
//! chain has no key, so whoever rewrites the log and the files together,
//! consistently, is not caught here.

use crate::keys::KeyStore;
use crate::keys::keyring::versions;
use crate::revocation::RevocationList;
use crate::store::Store;
use crate::store::audit::{EventKind, user_history};
use crate::util::fingerprint::Fingerprint;
use crate::util::time;
use crate::util::user::UserId;
use crate::{Error, Result, StoreError};

/// How a command uses a user's keys, which says what must vouch for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// With the owner's password, which opens the private keys: a key
    /// wrapped under it cannot have been swapped by someone without it,
    /// so keys from before the log (format 1) are taken on that proof.
    WithPassword,
    /// Without a password (verify, export --public, checking a peer in an
    /// exchange, showing a certificate): only the log vouches for a public
    /// key, so the primary version must have its line there (a signature
    /// by an older version from before the log is refused where it is
    /// checked: [`crate::ops::signing::verify_file`]).
    PublicOnly,
}

/// Loads the store for a command that uses the keys of `users`, and checks
/// each one's record against the log ([`check_user`]) under the same
/// shared lock, so that both are read at one moment.
///
/// ```
/// use secure_kms::store::trust::{KeyUse, load_for_use};
///
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::store::Store::new(dir.path());
/// let alice = secure_kms::util::user::UserId::new("alice")?;
/// let (keys, _) = load_for_use(&store, &[&alice], KeyUse::PublicOnly)?;
/// assert!(keys.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`Store::load`] and [`check_user`]; while a change that a killed run
/// committed is unfinished, a disagreement says to run `recover` first
/// (the change's lines are in its journal, not yet in the log).
pub fn load_for_use(
    store: &Store,
    users: &[&UserId],
    key_use: KeyUse,
) -> Result<(KeyStore, RevocationList)> {
    store
        .load_checked(|keys, revoked| {
            users
                .iter()
                .try_for_each(|user| check_user(store, keys, revoked, user, key_use))
        })
        .map_err(|e| match e {
            Error::Store(StoreError::Untrusted { user, problem, .. }) if store.unfinished_change() => {
                Error::Store(StoreError::Untrusted {
                    user,
                    problem,
                    remedy: "a change that a killed run committed is not finished yet: run `secure-kms recover`, then try again".to_owned(),
                })
            }
            other => other,
        })
}

/// Checks `user_id`'s record in `keys` and `revoked` against what the log
/// in the store folder records of the user (see the module's text).
///
/// # Errors
/// [`StoreError::Untrusted`] (exit code 3), saying what disagrees and what to
/// restore; [`StoreError::AuditBroken`] for a broken chain.
pub fn check_user(
    store: &Store,
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    key_use: KeyUse,
) -> Result<()> {
    let history = user_history(store.dir(), user_id)?;
    let record = keys.get(user_id)?;
    let all = record.map(versions).unwrap_or_default();
    let untrusted = |problem: String, remedy: &str| {
        Error::Store(StoreError::Untrusted {
            user: user_id.to_string(),
            problem,
            remedy: remedy.to_owned(),
        })
    };
    const RESTORE_LOG: &str = "restore audit.log from a backup";
    const RESTORE_KEYS: &str = "restore key_store.json from a backup";
    const RESTORE_LIST: &str = "restore revoked_keys.json from a backup";
    let primary = all.last().map(|v| v.version);
    for v in &all {
        if !v.is_logged() {
            // From before the log (format 1): the password vouches for it,
            // and nothing else can.
            let vouched = history.entries.iter().any(|e| {
                matches!(e.event.event, EventKind::Created | EventKind::Rotated)
                    && e.event.version == Some(v.version)
            });
            if key_use == KeyUse::PublicOnly && !vouched && Some(v.version) == primary {
                return Err(untrusted(
                    format!(
                        "version {} of {user_id} predates the audit log (store format 1), so nothing vouches for its public key",
                        v.version
                    ),
                    &format!(
                        "rotate {user_id} (its owner's password proves the keys) to make a version the log records"
                    ),
                ));
            }
            continue;
        }
        let made = time::format(v.created());
        match history.started {
            None => {
                return Err(untrusted(
                    format!(
                        "audit.log is missing or empty, but version {} of {user_id} was made at {made} by a secure-kms that logs every change: the log was deleted",
                        v.version
                    ),
                    RESTORE_LOG,
                ));
            }
            Some(started) if v.created() < started => {
                return Err(untrusted(
                    format!(
                        "audit.log starts at {}, after version {} of {user_id} was made at {made}: its earlier lines were deleted, or the log replaced",
                        time::format(started),
                        v.version
                    ),
                    RESTORE_LOG,
                ));
            }
            Some(_) => {}
        }
        // The line that records the version made. Its key IDs are compared
        // below with every other line about the version.
        let made_here = history.entries.iter().any(|e| {
            matches!(e.event.event, EventKind::Created | EventKind::Rotated)
                && e.event.version == Some(v.version)
        });
        if !made_here {
            return Err(untrusted(
                format!(
                    "version {} of {user_id} in key_store.json (made at {made}) has no line in audit.log that records it made: it was added to the file by hand, or the log was replaced",
                    v.version
                ),
                "restore key_store.json and audit.log from a backup",
            ));
        }
    }
    for e in &history.entries {
        let Some(number) = e.event.version else {
            continue;
        };
        let at = format!("line {} of audit.log ({})", e.seq, e.time_utc);
        let Some(v) = all.iter().find(|v| v.version == number) else {
            if matches!(e.event.event, EventKind::Created | EventKind::Rotated) {
                return Err(untrusted(
                    format!(
                        "{at} records version {number} of {user_id} made, and key_store.json has no such version: it was rolled back or edited"
                    ),
                    RESTORE_KEYS,
                ));
            }
            continue;
        };
        // A key that is there and is not the logged one was swapped. (A
        // half missing is an incomplete record, which unlocking reports.)
        let differs = |logged: &Option<Fingerprint>, stored: Option<&Fingerprint>| matches!((logged, stored), (Some(logged), Some(stored)) if logged != stored);
        if differs(&e.event.public_key_fingerprint, v.public_key_fingerprint()) {
            return Err(untrusted(
                format!(
                    "the public key of version {number} of {user_id} in key_store.json is not the one {at} records (public key fingerprint {}): the key was replaced",
                    e.event
                        .public_key_fingerprint
                        .as_deref()
                        .unwrap_or_default()
                ),
                RESTORE_KEYS,
            ));
        }
        if differs(&e.event.symmetric_fingerprint, v.symmetric_fingerprint()) {
            return Err(untrusted(
                format!(
                    "the symmetric key of version {number} of {user_id} in key_store.json is not the one {at} records: the key was replaced"
                ),
                RESTORE_KEYS,
            ));
        }
        match e.event.event {
            EventKind::Revoked if revoked.find(user_id, v).is_none() => {
                return Err(untrusted(
                    format!(
                        "{at} records version {number} of {user_id} revoked, and revoked_keys.json no longer lists it: the entry or the file was removed"
                    ),
                    RESTORE_LIST,
                ));
            }
            EventKind::Destroyed if v.has_material() => {
                return Err(untrusted(
                    format!(
                        "{at} records version {number} of {user_id} destroyed, and key_store.json holds its key again: the file was rolled back"
                    ),
                    RESTORE_KEYS,
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
