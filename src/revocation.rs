//! The revocation list: keys reported compromised, kept in `revoked_keys.json`.
//!
//! Each entry names the user, which keys (by fingerprint), when, and why, so
//! a user who is issued fresh keys after a revocation can use them while the
//! old ones stay refused.

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

use crate::util::fingerprint::Fingerprint;
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{Error, KeyError, Result};

/// Why a key was revoked: the reason codes of RFC 5280 section 5.3.1 that
/// apply to a key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// No reason given.
    #[default]
    Unspecified,
    /// The key is known or suspected to be compromised.
    KeyCompromise,
    /// The user's affiliation changed.
    AffiliationChanged,
    /// The key was replaced.
    Superseded,
    /// The key is no longer needed.
    CessationOfOperation,
    /// The user's privilege to use the key was withdrawn.
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Whether a key revoked for this reason is *compromised* in the words
    /// of NIST SP 800-57 Part 1 Rev. 5, section 7: a key enters the
    /// compromised state only when its integrity or confidentiality is
    /// suspect. `keyCompromise` says so. `unspecified`, no reason given, is
    /// what the original's "list of compromised keys" recorded, and without
    /// a reason a compromise cannot be ruled out, so it counts as one too.
    /// The other reasons (affiliation changed, superseded, no longer
    /// needed, privilege withdrawn) end the key's use with no suspicion on
    /// it: SP 800-57 calls such a key *deactivated*.
    ///
    /// Either way a revoked key is refused for every use here, as the
    /// original refused it: the state names what happened, not what the
    /// key may still do.
    ///
    /// ```
    /// use secure_kms::revocation::RevocationReason;
    /// assert!(RevocationReason::KeyCompromise.is_compromise());
    /// assert!(!RevocationReason::AffiliationChanged.is_compromise());
    /// ```
    pub fn is_compromise(self) -> bool {
        matches!(
            self,
            RevocationReason::KeyCompromise | RevocationReason::Unspecified
        )
    }
}

impl std::fmt::Display for RevocationReason {
    /// The RFC 5280 name, as stored.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        })
    }
}

/// What the list knows a key version by: its number and its key IDs. The
/// list needs nothing else of a user's keys, so it takes any type that
/// can say these ([`crate::keys::keyring::KeyVersion`] is the one the
/// program passes).
pub trait KeyIds {
    /// The version number, 1 for a user's first keys.
    fn version(&self) -> u32;
    /// The symmetric key's ID (SHA-256 of the key), if the version has one.
    fn symmetric_fingerprint(&self) -> Option<&Fingerprint>;
    /// The RSA pair's ID (SHA-256 of its public key's DER), if it has one.
    fn public_key_fingerprint(&self) -> Option<&Fingerprint>;
    /// The serial number (hex) of the pair's certificate, if the store's CA
    /// issued one: the CRL names the revoked pair by it.
    fn certificate_serial(&self) -> Option<String>;
}

/// One entry of the revocation list: one key version of one user. Unknown
/// fields are refused, so that rewriting the list never drops one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The entry format: 1 (before key versions) or [`ENTRY_FORMAT`].
    #[serde(deserialize_with = "known_entry_format")]
    pub format: u32,
    /// Whose keys.
    pub user_id: UserId,
    /// Which key version (format 1 entries had none; it is filled in on
    /// reading where the fingerprints name a version in the store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// SHA-256 of the revoked symmetric key: its key ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetric_fingerprint: Option<Fingerprint>,
    /// SHA-256 of the revoked RSA public key's DER: its key ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_fingerprint: Option<Fingerprint>,
    /// When, in seconds since the epoch.
    #[serde(deserialize_with = "time::deserialize")]
    pub revoked_at: Timestamp,
    /// Why.
    pub reason: RevocationReason,
    /// The serial number (hex) of the certificate the store's CA issued
    /// for the revoked RSA pair, if it had one: the CRL's entry for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl Revocation {
    /// When, as RFC 3339 UTC.
    pub fn revoked_at_text(&self) -> String {
        time::format(self.revoked_at)
    }

    /// The refusal to give when revoked keys are used.
    pub fn to_error(&self) -> Error {
        Error::Key(KeyError::Revoked {
            user: self.user_id.to_string(),
            revoked_at: self.revoked_at_text(),
            reason: self.reason.to_string(),
        })
    }

    /// Whether this entry revokes `version` of `user_id`: the same user and
    /// one of the same key IDs.
    pub fn revokes(&self, user_id: &UserId, version: &impl KeyIds) -> bool {
        let same = |a: &Option<Fingerprint>, b: Option<&Fingerprint>| matches!((a, b), (Some(a), Some(b)) if a == b);
        self.user_id == *user_id
            && (same(&self.symmetric_fingerprint, version.symmetric_fingerprint())
                || same(
                    &self.public_key_fingerprint,
                    version.public_key_fingerprint(),
                ))
    }
}

/// The contents of `revoked_keys.json`: a list of [`Revocation`]s, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RevocationList {
    entries: Vec<Revocation>,
}

impl RevocationList {
    /// All entries, oldest first.
    pub fn entries(&self) -> &[Revocation] {
        &self.entries
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry (one the CA's CRL holds and the list lacks).
    pub(crate) fn push(&mut self, entry: Revocation) {
        self.entries.push(entry);
    }

    /// The entry that revokes `version` of `user_id`, if any.
    pub fn find(&self, user_id: &UserId, version: &impl KeyIds) -> Option<&Revocation> {
        self.entries.iter().find(|e| e.revokes(user_id, version))
    }

    /// The entries, to bring format 1 ones to the current format
    /// (`keys::migrate::revocations`).
    pub(crate) fn entries_mut(&mut self) -> &mut [Revocation] {
        &mut self.entries
    }
}

/// The entry format this version writes: 2, entries that name their key
/// version. Format 1 entries (before key versions) are read and given
/// their version.
pub const ENTRY_FORMAT: u32 = 2;

fn known_entry_format<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == 1 || v == ENTRY_FORMAT {
        Ok(v)
    } else {
        Err(D::Error::custom(format!(
            "format {v} is not understood by this secure-kms, which reads formats 1 and {ENTRY_FORMAT}"
        )))
    }
}

/// What [`revoke_key`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RevokeOutcome {
    /// The entries added to the list, one per version.
    pub revoked: Vec<Revocation>,
    /// The versions that were on the list already, with their first entry.
    pub already: Vec<Revocation>,
}

impl RevokeOutcome {
    /// Whether nothing new was revoked: revoking again changes nothing.
    pub fn was_already_revoked(&self) -> bool {
        self.revoked.is_empty()
    }
}

/// Puts key versions of `user_id` on the revocation list, at `now`, for
/// `reason`: `version`, or with `None` every version the user has. A
/// version revoked before keeps its first entry, and the outcome says so.
///
/// ```
/// use secure_kms::revocation::{is_key_revoked, revoke_key, RevocationList, RevocationReason};
/// use secure_kms::keys::{KeyStore, UserRecord, keyring::versions_of};
/// use secure_kms::util::user::UserId;
///
/// # let mut store = KeyStore::default();
/// # let alice = UserId::new("alice")?;
/// # store.insert(&alice, UserRecord::default());
/// let mut list = RevocationList::default();
/// let reason = RevocationReason::KeyCompromise;
/// let versions = versions_of(&store, &alice)?;
/// let now = secure_kms::util::time::now();
/// assert!(!revoke_key(&mut list, &alice, &versions, reason, None, now)?.was_already_revoked());
/// assert!(revoke_key(&mut list, &alice, &versions, reason, None, now)?.was_already_revoked());
/// assert!(is_key_revoked(&list, &alice, &versions));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`KeyError::UnknownVersion`] for a version the user does not have.
pub fn revoke_key<V: KeyIds>(
    list: &mut RevocationList,
    user_id: &UserId,
    versions: &[V],
    reason: RevocationReason,
    version: Option<u32>,
    now: Timestamp,
) -> Result<RevokeOutcome> {
    let targets: Vec<_> = match version {
        None => versions.iter().collect(),
        Some(n) => {
            vec![
                versions
                    .iter()
                    .find(|v| v.version() == n)
                    .ok_or(Error::Key(KeyError::UnknownVersion {
                        user: user_id.to_string(),
                        version: n,
                    }))?,
            ]
        }
    };
    let mut outcome = RevokeOutcome::default();
    if versions.is_empty() {
        // A record with no key at all (possible through the library): an
        // entry under the user's name alone.
        match list.entries.iter().find(|e| e.user_id == *user_id) {
            Some(existing) => outcome.already.push(existing.clone()),
            None => {
                let entry = new_entry(user_id, None::<&V>, reason, now);
                list.entries.push(entry.clone());
                outcome.revoked.push(entry);
            }
        }
        return Ok(outcome);
    }
    for target in targets {
        match list.find(user_id, target) {
            Some(existing) => outcome.already.push(existing.clone()),
            None => {
                let entry = new_entry(user_id, Some(target), reason, now);
                list.entries.push(entry.clone());
                outcome.revoked.push(entry);
            }
        }
    }
    Ok(outcome)
}

fn new_entry(
    user_id: &UserId,
    version: Option<&impl KeyIds>,
    reason: RevocationReason,
    now: Timestamp,
) -> Revocation {
    Revocation {
        format: ENTRY_FORMAT,
        user_id: user_id.clone(),
        version: version.map(KeyIds::version),
        symmetric_fingerprint: version.and_then(|v| v.symmetric_fingerprint()).cloned(),
        public_key_fingerprint: version.and_then(|v| v.public_key_fingerprint()).cloned(),
        revoked_at: now,
        reason,
        serial: version.and_then(KeyIds::certificate_serial),
    }
}

/// The entry that revokes the primary (newest) key version of `user_id`,
/// if any, among the user's `versions` (oldest first). A user with no key
/// at all is revoked by any entry under its name.
pub fn find_revocation<'a>(
    list: &'a RevocationList,
    user_id: &UserId,
    versions: &[impl KeyIds],
) -> Option<&'a Revocation> {
    match versions.last() {
        Some(primary) => list.find(user_id, primary),
        None => list.entries.iter().find(|e| e.user_id == *user_id),
    }
}

/// Whether the primary key version of `user_id` is revoked. The system
/// refuses revoked keys: see [`check_not_revoked`].
pub fn is_key_revoked(list: &RevocationList, user_id: &UserId, versions: &[impl KeyIds]) -> bool {
    find_revocation(list, user_id, versions).is_some()
}

/// Refuses a revoked primary key version with [`KeyError::Revoked`], which
/// gives when and why.
///
/// ```
/// use secure_kms::revocation::{check_not_revoked, revoke_key, RevocationList, RevocationReason};
/// use secure_kms::keys::{KeyStore, UserRecord, keyring::versions_of};
/// use secure_kms::util::user::UserId;
///
/// let mut store = KeyStore::default();
/// let alice = UserId::new("alice")?;
/// store.insert(&alice, UserRecord::default());
/// let mut list = RevocationList::default();
/// let versions = versions_of(&store, &alice)?;
/// check_not_revoked(&list, &alice, &versions)?;
/// let epoch = secure_kms::util::time::Timestamp::EPOCH;
/// revoke_key(&mut list, &alice, &versions, RevocationReason::KeyCompromise, None, epoch)?;
/// let refusal = check_not_revoked(&list, &alice, &versions).unwrap_err().to_string();
/// assert!(refusal.contains("revoked at 1970-01-01T00:00:00Z (reason: keyCompromise)"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`KeyError::Revoked`].
pub fn check_not_revoked(
    list: &RevocationList,
    user_id: &UserId,
    versions: &[impl KeyIds],
) -> Result<()> {
    match find_revocation(list, user_id, versions) {
        Some(entry) => Err(entry.to_error()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
