//! Key versions and their states, after NIST SP 800-57 Part 1 Rev. 5,
//! section 7 ("Key states and transitions").
//!
//! Each user has a ring of symmetric key versions and a ring of RSA key
//! versions. [`crate::ops::commands::rotate`] adds version n+1 to both, and it becomes the
//! primary; older versions stay, for decrypting and verifying only, until
//! [`destroy`] erases their material. A version's state follows from its
//! timestamps and the revocation list:
//!
//! | state | when | may |
//! |---|---|---|
//! | active | from creation until its expiry, or until a newer version is made | encrypt, decrypt, sign, verify |
//! | deactivated | its cryptoperiod has ended (expired or superseded) | decrypt, verify |
//! | compromised | it is on the revocation list | nothing |
//! | destroyed | its key material was erased | verify only, with the public key that stays (its metadata stays too) |
//!
//! NIST's pre-activation state is not used: a key is active once made.

use serde::Serialize;

use crate::keys::{KeyStore, UserRecord};
use crate::pki::AsymmetricVersion;
use crate::revocation::{KeyIds, Revocation, RevocationList};
use crate::symmetric::SymmetricVersion;
use crate::util::fingerprint::Fingerprint;
use crate::util::time::Timestamp;
use crate::util::user::UserId;
use crate::{Error, KeyError, Result};

/// Version `n` of a user's keys: the symmetric key and the RSA pair that
/// carry that number (either may be missing in a store migrated from
/// format 1).
#[derive(Clone, Copy, Debug)]
pub struct KeyVersion<'a> {
    /// The version number.
    pub version: u32,
    /// The symmetric key of this version.
    pub symmetric: Option<&'a SymmetricVersion>,
    /// The RSA pair of this version.
    pub asymmetric: Option<&'a AsymmetricVersion>,
}

impl KeyVersion<'_> {
    /// The symmetric key's ID.
    pub fn symmetric_fingerprint(&self) -> Option<&Fingerprint> {
        self.symmetric.map(|s| &s.fingerprint)
    }

    /// The RSA pair's ID.
    pub fn public_key_fingerprint(&self) -> Option<&Fingerprint> {
        self.asymmetric.map(|a| &a.fingerprint)
    }

    /// When the version was made.
    pub fn created(&self) -> Timestamp {
        let times = [
            self.symmetric.map(|s| s.created),
            self.asymmetric.map(|a| a.created),
        ];
        times
            .into_iter()
            .flatten()
            .reduce(Timestamp::min)
            .unwrap_or(Timestamp::from_secs(f64::INFINITY))
    }

    /// When its active period ends by its own lifetime.
    pub fn expiry(&self) -> Timestamp {
        let times = [
            self.symmetric.map(|s| s.expiry),
            self.asymmetric.map(|a| a.expiry),
        ];
        times
            .into_iter()
            .flatten()
            .reduce(Timestamp::min)
            .unwrap_or(Timestamp::from_secs(f64::INFINITY))
    }

    /// Whether any secret of this version is still stored.
    pub fn has_material(&self) -> bool {
        self.symmetric.is_some_and(|s| s.wrapped.is_some())
            || self.asymmetric.is_some_and(|a| a.private.is_some())
    }

    /// Whether the version was made by a secure-kms that logs every change
    /// (binding 2 or later), so that the audit log must record it. Keys
    /// migrated from format 1 (binding 1) predate the log.
    pub(crate) fn is_logged(&self) -> bool {
        self.symmetric.is_some_and(|s| s.binding != 1)
            || self.asymmetric.is_some_and(|a| a.binding != 1)
    }

    /// When its material was erased, if it was.
    pub fn destroyed_at(&self) -> Option<Timestamp> {
        let times = [
            self.symmetric.and_then(|s| s.destroyed_at),
            self.asymmetric.and_then(|a| a.destroyed_at),
        ];
        times.into_iter().flatten().reduce(Timestamp::max)
    }
}

/// What the revocation list knows a version by.
impl KeyIds for KeyVersion<'_> {
    fn version(&self) -> u32 {
        self.version
    }

    fn symmetric_fingerprint(&self) -> Option<&Fingerprint> {
        KeyVersion::symmetric_fingerprint(self)
    }

    fn public_key_fingerprint(&self) -> Option<&Fingerprint> {
        KeyVersion::public_key_fingerprint(self)
    }

    fn certificate_serial(&self) -> Option<String> {
        self.asymmetric
            .and_then(AsymmetricVersion::certificate_serial)
    }
}

/// The versions of `user_id` in `keys`, oldest first: what the revocation
/// list's functions take.
///
/// # Errors
/// [`KeyError::UnknownUser`] if the user is not in the store;
/// [`StoreError::CorruptFile`](crate::StoreError::CorruptFile) if their record is broken.
pub fn versions_of<'a>(keys: &'a KeyStore, user_id: &UserId) -> Result<Vec<KeyVersion<'a>>> {
    let record = keys.require(user_id)?;
    Ok(versions(record))
}

/// The versions of the user named `user` (as a revocation entry names
/// them), none for a name that is no valid user ID or not in the store.
///
/// # Errors
/// [`StoreError::CorruptFile`](crate::StoreError::CorruptFile) if their record is broken.
pub(crate) fn versions_named<'a>(keys: &'a KeyStore, user: &str) -> Result<Vec<KeyVersion<'a>>> {
    Ok(match UserId::new(user) {
        Ok(id) => keys.get(&id)?.map(versions).unwrap_or_default(),
        Err(_) => Vec::new(),
    })
}

/// The versions of a record, oldest first.
pub fn versions(record: &UserRecord) -> Vec<KeyVersion<'_>> {
    let mut numbers: Vec<u32> = record
        .symmetric
        .iter()
        .map(|s| s.version)
        .chain(record.asymmetric.iter().map(|a| a.version))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| KeyVersion {
            version: n,
            symmetric: record.symmetric.iter().find(|s| s.version == n),
            asymmetric: record.asymmetric.iter().find(|a| a.version == n),
        })
        .collect()
}

/// Version `version` among `all`, the versions of `user_id`.
///
/// # Errors
/// [`KeyError::UnknownVersion`] when the user has no such version.
pub(crate) fn find_version<'a, 'b>(
    all: &'b [KeyVersion<'a>],
    user_id: &UserId,
    version: u32,
) -> Result<&'b KeyVersion<'a>> {
    all.iter()
        .find(|v| v.version == version)
        .ok_or(Error::Key(KeyError::UnknownVersion {
            user: user_id.to_string(),
            version,
        }))
}

/// A key state of NIST SP 800-57 Part 1 Rev. 5, section 7. Where a state
/// is printed, the original's word goes with it: see
/// [`VersionStatus::state_text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// May be used for every purpose.
    Active,
    /// Its cryptoperiod has ended (the original's "expired"), a newer
    /// version superseded it, or it was revoked for a reason that casts no
    /// doubt on it ([`crate::revocation::RevocationReason::is_compromise`]). An expired or
    /// superseded key may still decrypt or verify, never encrypt or sign; a
    /// revoked one is refused for every use.
    Deactivated,
    /// Revoked as compromised (the original's "revoked", for
    /// `keyCompromise` or no reason given): refused for every use.
    Compromised,
    /// Its key material was erased.
    Destroyed,
}

/// A state as it is printed: the NIST name, then the original's word or
/// the event that led there, as in `deactivated (expired)` or
/// `compromised (revoked: keyCompromise)`.
///
/// ```
/// use secure_kms::keys::keyring::{state_text, KeyState};
/// assert_eq!(state_text(KeyState::Deactivated, Some("expired")), "deactivated (expired)");
/// assert_eq!(state_text(KeyState::Active, None), "active");
/// ```
pub fn state_text(state: KeyState, why: Option<&str>) -> String {
    match why {
        Some(why) => format!("{state} ({why})"),
        None => state.to_string(),
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyState::Active => "active",
            KeyState::Deactivated => "deactivated",
            KeyState::Compromised => "compromised",
            KeyState::Destroyed => "destroyed",
        })
    }
}

/// One timestamped change of state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transition {
    /// The state entered.
    pub state: KeyState,
    /// When (RFC 3339 UTC in JSON output).
    #[serde(serialize_with = "crate::util::time::serialize_rfc3339")]
    pub at: Timestamp,
    /// Why, in a few words: "created", "expired", "superseded by version 3",
    /// an RFC 5280 revocation reason, "destroyed".
    pub why: String,
}

/// The state of one key version and how it got there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VersionStatus {
    /// The version number.
    pub version: u32,
    /// Whether it is the newest version: the one for new use.
    pub primary: bool,
    /// Its state now.
    pub state: KeyState,
    /// What put it there, in the original's words where it had them:
    /// "expired", "superseded by version 3", "revoked: keyCompromise",
    /// "key material erased"; none (and absent from JSON) while it is
    /// active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// When it was made (RFC 3339 UTC in JSON output).
    #[serde(serialize_with = "crate::util::time::serialize_rfc3339")]
    pub created: Timestamp,
    /// When its active period ends (or ended): its expiry, the creation of
    /// the version that superseded it, or its revocation, whichever came
    /// first.
    #[serde(serialize_with = "crate::util::time::serialize_rfc3339")]
    pub active_until: Timestamp,
    /// The symmetric key's ID.
    pub symmetric_fingerprint: Option<String>,
    /// The RSA pair's ID.
    pub public_key_fingerprint: Option<String>,
    /// Every state it has entered, in order, each with its time.
    pub transitions: Vec<Transition>,
}

/// The state a revocation puts a key in: compromised for a reason that
/// says or allows that it may be known to others, deactivated for any other
/// ([`RevocationReason::is_compromise`](crate::revocation::RevocationReason::is_compromise)).
/// Either way the key is refused for every use.
pub fn revoked_state(revocation: &Revocation) -> KeyState {
    if revocation.reason.is_compromise() {
        KeyState::Compromised
    } else {
        KeyState::Deactivated
    }
}

/// A revocation's state as printed: `compromised (revoked: keyCompromise)`.
pub fn revoked_state_text(revocation: &Revocation) -> String {
    let why = format!("revoked: {}", revocation.reason);
    state_text(revoked_state(revocation), Some(&why))
}

impl VersionStatus {
    /// Its state as printed: `deactivated (expired)`,
    /// `compromised (revoked: keyCompromise)`, `active`.
    pub fn state_text(&self) -> String {
        state_text(self.state, self.why.as_deref())
    }
}

/// The state of every version of `record` (the keys of `user_id`) at `now`.
///
/// ```
/// use secure_kms::keys::keyring::{status, KeyState};
/// use secure_kms::revocation::RevocationList;
/// use secure_kms::keys::KeyStore;
/// use secure_kms::symmetric::generate_symmetric_key;
/// use secure_kms::util::user::UserId;
/// # use secure_kms::crypto::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// # let pk = PasswordKey::derive(&Password::new("pw".to_owned())?, &KdfParams::generate(MIN_ITERATIONS)?);
///
/// let alice = UserId::new("alice")?;
/// let mut keys = KeyStore::default();
/// keys.add_symmetric(&alice, &generate_symmetric_key()?, 60, &pk)?;
/// keys.add_symmetric(&alice, &generate_symmetric_key()?, 60, &pk)?;
/// let none = RevocationList::default();
/// let now = secure_kms::util::time::now();
/// let states: Vec<_> = status(keys.get(&alice)?.unwrap(), &none, &alice, now).iter().map(|v| v.state).collect();
/// assert_eq!(states, [KeyState::Deactivated, KeyState::Active]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn status(
    record: &UserRecord,
    revoked: &RevocationList,
    user_id: &UserId,
    now: Timestamp,
) -> Vec<VersionStatus> {
    let all = versions(record);
    let mut out = Vec::with_capacity(all.len());
    for (i, v) in all.iter().enumerate() {
        let next = all.get(i + 1);
        let created = v.created();
        let expiry = v.expiry();
        let superseded = next.map(|n| (n.version, n.created()));
        let (mut active_until, end_why) = match superseded {
            Some((n, at)) if at < expiry => (at, format!("superseded by version {n}")),
            _ => (expiry, "expired".to_owned()),
        };
        let mut transitions = vec![Transition {
            state: KeyState::Active,
            at: created,
            why: "created".to_owned(),
        }];
        let revocation: Option<&Revocation> = revoked.find(user_id, v);
        // A key revoked while active has its active period end there: it
        // is not deactivated again by its expiry later (NIST allows no way
        // back from compromised but to destroyed, and a revocation for
        // another reason already deactivated it).
        let revoked_first = revocation.is_some_and(|r| r.revoked_at <= active_until);
        // Nor does a destroyed key: destruction is the last state.
        let destroyed_first = v.destroyed_at().is_some_and(|d| d <= active_until);
        let ended = active_until <= now;
        if ended && !revoked_first && !destroyed_first {
            transitions.push(Transition {
                state: KeyState::Deactivated,
                at: active_until,
                why: end_why.clone(),
            });
        }
        if let Some(r) = revocation {
            active_until = active_until.min(r.revoked_at);
        }
        if let Some(d) = v.destroyed_at() {
            active_until = active_until.min(d);
        }
        if let Some(r) = revocation {
            transitions.push(Transition {
                state: revoked_state(r),
                at: r.revoked_at,
                why: format!("revoked: {}", r.reason),
            });
        }
        let destroyed = !v.has_material();
        if destroyed {
            transitions.push(Transition {
                state: KeyState::Destroyed,
                at: v.destroyed_at().unwrap_or(created),
                why: "key material erased".to_owned(),
            });
        }
        // Events at one moment keep the order above; otherwise time order.
        transitions.sort_by(|a, b| a.at.total_cmp(&b.at));
        let (state, why) = if destroyed {
            (KeyState::Destroyed, Some("key material erased".to_owned()))
        } else if let Some(r) = revocation {
            (revoked_state(r), Some(format!("revoked: {}", r.reason)))
        } else if ended {
            (KeyState::Deactivated, Some(end_why))
        } else {
            (KeyState::Active, None)
        };
        out.push(VersionStatus {
            version: v.version,
            primary: next.is_none(),
            state,
            why,
            created,
            active_until,
            symmetric_fingerprint: v.symmetric_fingerprint().map(|f| f.to_string()),
            public_key_fingerprint: v.public_key_fingerprint().map(|f| f.to_string()),
            transitions,
        });
    }
    out
}

/// What [`destroy`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroyOutcome {
    /// The material of the version was erased.
    Destroyed,
    /// It had been erased before; nothing changed.
    AlreadyDestroyed,
}

/// Erases the key material of `version` of `user_id` at `now`, keeping its
/// metadata (version, times, fingerprints, the public key).
///
/// Destroying the only version that can still decrypt (a symmetric key
/// that is neither destroyed nor compromised) loses every file encrypted
/// under it, so it is refused unless `force` is set.
///
/// ```
/// use secure_kms::keys::keyring::{destroy, DestroyOutcome};
/// use secure_kms::revocation::RevocationList;
/// use secure_kms::keys::KeyStore;
/// use secure_kms::symmetric::generate_symmetric_key;
/// use secure_kms::{util::user::UserId, util::time::Timestamp, Error, KeyError};
/// # use secure_kms::crypto::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// # let pk = PasswordKey::derive(&Password::new("pw".to_owned())?, &KdfParams::generate(MIN_ITERATIONS)?);
///
/// let alice = UserId::new("alice")?;
/// let mut keys = KeyStore::default();
/// keys.add_symmetric(&alice, &generate_symmetric_key()?, 60, &pk)?;
/// let none = RevocationList::default();
/// assert!(matches!(destroy(&mut keys, &none, &alice, 1, false, Timestamp::EPOCH), Err(Error::Key(KeyError::LastDecryptingVersion { .. }))));
/// keys.add_symmetric(&alice, &generate_symmetric_key()?, 60, &pk)?;
/// assert_eq!(destroy(&mut keys, &none, &alice, 1, false, Timestamp::EPOCH)?, DestroyOutcome::Destroyed);
/// assert_eq!(destroy(&mut keys, &none, &alice, 1, false, Timestamp::EPOCH)?, DestroyOutcome::AlreadyDestroyed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`KeyError::UnknownUser`]; [`KeyError::UnknownVersion`];
/// [`KeyError::LastDecryptingVersion`] without `force`.
pub fn destroy(
    keys: &mut KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    version: u32,
    force: bool,
    now: Timestamp,
) -> Result<DestroyOutcome> {
    let record = keys.require(user_id)?;
    let all = versions(record);
    let target = find_version(&all, user_id, version)?;
    if !target.has_material() {
        return Ok(DestroyOutcome::AlreadyDestroyed);
    }
    let can_decrypt = |v: &KeyVersion<'_>| {
        v.symmetric.is_some_and(|s| s.wrapped.is_some()) && revoked.find(user_id, v).is_none()
    };
    let others_decrypt = all.iter().any(|v| v.version != version && can_decrypt(v));
    if can_decrypt(target) && !others_decrypt && !force {
        return Err(Error::Key(KeyError::LastDecryptingVersion {
            user: user_id.to_string(),
            version,
        }));
    }
    let record = keys.entry(user_id)?;
    for s in record.symmetric.iter_mut().filter(|s| s.version == version) {
        if s.wrapped.take().is_some() {
            s.destroyed_at = Some(now);
        }
    }
    for a in record
        .asymmetric
        .iter_mut()
        .filter(|a| a.version == version)
    {
        if a.private.take().is_some() {
            a.destroyed_at = Some(now);
        }
    }
    Ok(DestroyOutcome::Destroyed)
}

#[cfg(test)]
mod tests;
