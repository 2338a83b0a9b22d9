//! The revocation list: keys reported compromised, kept in `revoked_keys.json`.
//!
//! Each entry names the user, which keys (by fingerprint), when, and why, so
//! a user who is issued fresh keys after a revocation can use them while the
//! old ones stay refused.

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

use crate::pki::{public_key_fingerprint, public_key_from_pem};
use crate::store::{FORMAT_VERSION, KeyStore};
use crate::time::{self, Timestamp};
use crate::user::UserId;
use crate::{Error, Result};

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

/// One entry of the revocation list. Unknown fields are refused, so that
/// rewriting the list never drops one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The entry format; only [`FORMAT_VERSION`] is understood.
    #[serde(deserialize_with = "crate::store::known_format")]
    pub format: u32,
    /// Whose keys.
    #[serde(deserialize_with = "valid_user_id")]
    pub user_id: String,
    /// SHA-256 of the revoked symmetric key, if the user had one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fingerprint::deserialize_optional"
    )]
    pub symmetric_fingerprint: Option<String>,
    /// SHA-256 of the revoked RSA public key's DER, if the user had one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fingerprint::deserialize_optional"
    )]
    pub public_key_fingerprint: Option<String>,
    /// When, in seconds since the epoch.
    #[serde(deserialize_with = "time::deserialize")]
    pub revoked_at: Timestamp,
    /// Why.
    pub reason: RevocationReason,
}

impl Revocation {
    /// When, as RFC 3339 UTC.
    pub fn revoked_at_text(&self) -> String {
        time::format(self.revoked_at)
    }

    /// The refusal to give when revoked keys are used.
    pub fn to_error(&self) -> Error {
        Error::Revoked {
            user: self.user_id.clone(),
            revoked_at: self.revoked_at_text(),
            reason: self.reason.to_string(),
        }
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
}

fn valid_user_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    UserId::new(&id).map_err(D::Error::custom)?;
    Ok(id)
}

/// The fingerprints that identify the current keys of a user.
struct CurrentKeys {
    symmetric: Option<String>,
    public: Option<String>,
}

fn current_keys(store: &KeyStore, user_id: &UserId) -> Result<CurrentKeys> {
    let record = store
        .get(user_id)
        .ok_or_else(|| Error::UnknownUser(user_id.to_string()))?;
    let public = match &record.public {
        Some(pem) => Some(public_key_fingerprint(&public_key_from_pem(pem)?)?),
        None => None,
    };
    Ok(CurrentKeys {
        symmetric: record.symmetric.as_ref().map(|s| s.fingerprint.clone()),
        public,
    })
}

fn revokes(entry: &Revocation, user_id: &UserId, keys: &CurrentKeys) -> bool {
    let same =
        |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a == b);
    entry.user_id == user_id.as_str()
        && (same(&entry.symmetric_fingerprint, &keys.symmetric)
            || same(&entry.public_key_fingerprint, &keys.public))
}

/// What [`revoke_key`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum RevokeOutcome {
    /// The keys were added to the list.
    Revoked(Revocation),
    /// The keys were on the list already; nothing changed.
    AlreadyRevoked(Revocation),
}

/// Puts the current keys of `user_id` on the revocation list, at `now`, for
/// `reason`. Revoking twice changes nothing and says so.
///
/// ```
/// use secure_kms::revocation::{is_key_revoked, revoke_key, RevocationList, RevocationReason, RevokeOutcome};
/// use secure_kms::store::{KeyStore, UserRecord};
/// use secure_kms::user::UserId;
///
/// # let mut store = KeyStore::default();
/// # let alice = UserId::new("alice")?;
/// # store.insert(&alice, UserRecord::default());
/// let mut list = RevocationList::default();
/// assert!(matches!(revoke_key(&mut list, &store, &alice, RevocationReason::KeyCompromise, 0.0)?, RevokeOutcome::Revoked(_)));
/// assert!(matches!(revoke_key(&mut list, &store, &alice, RevocationReason::KeyCompromise, 1.0)?, RevokeOutcome::AlreadyRevoked(_)));
/// assert!(is_key_revoked(&list, &store, &alice)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::UnknownUser`] if the user has no keys.
pub fn revoke_key(
    list: &mut RevocationList,
    store: &KeyStore,
    user_id: &UserId,
    reason: RevocationReason,
    now: Timestamp,
) -> Result<RevokeOutcome> {
    let keys = current_keys(store, user_id)?;
    if let Some(existing) = find_in(list, user_id, &keys) {
        return Ok(RevokeOutcome::AlreadyRevoked(existing.clone()));
    }
    let entry = Revocation {
        format: FORMAT_VERSION,
        user_id: user_id.to_string(),
        symmetric_fingerprint: keys.symmetric,
        public_key_fingerprint: keys.public,
        revoked_at: now,
        reason,
    };
    list.entries.push(entry.clone());
    Ok(RevokeOutcome::Revoked(entry))
}

/// The entry that revokes the current keys of `user_id`, if any. A user with
/// an empty record (no key at all) is revoked by any entry under its name.
///
/// # Errors
/// [`Error::UnknownUser`] if the user is not in the store;
/// [`Error::MalformedKey`] if its public key does not parse.
pub fn find_revocation<'a>(
    list: &'a RevocationList,
    store: &KeyStore,
    user_id: &UserId,
) -> Result<Option<&'a Revocation>> {
    let keys = current_keys(store, user_id)?;
    Ok(find_in(list, user_id, &keys))
}

fn find_in<'a>(
    list: &'a RevocationList,
    user_id: &UserId,
    keys: &CurrentKeys,
) -> Option<&'a Revocation> {
    let keyless = keys.symmetric.is_none() && keys.public.is_none();
    list.entries
        .iter()
        .find(|e| revokes(e, user_id, keys) || (keyless && e.user_id == user_id.as_str()))
}

/// Whether the current keys of `user_id` are revoked. The system refuses
/// revoked keys: see [`check_not_revoked`].
///
/// # Errors
/// As [`find_revocation`].
pub fn is_key_revoked(list: &RevocationList, store: &KeyStore, user_id: &UserId) -> Result<bool> {
    Ok(find_revocation(list, store, user_id)?.is_some())
}

/// Refuses revoked keys with [`Error::Revoked`], which gives when and why.
///
/// ```
/// use secure_kms::revocation::{check_not_revoked, revoke_key, RevocationList, RevocationReason};
/// use secure_kms::store::{KeyStore, UserRecord};
/// use secure_kms::user::UserId;
///
/// let mut store = KeyStore::default();
/// let alice = UserId::new("alice")?;
/// store.insert(&alice, UserRecord::default());
/// let mut list = RevocationList::default();
/// check_not_revoked(&list, &store, &alice)?;
/// revoke_key(&mut list, &store, &alice, RevocationReason::KeyCompromise, 0.0)?;
/// let refusal = check_not_revoked(&list, &store, &alice).unwrap_err().to_string();
/// assert!(refusal.contains("revoked at 1970-01-01T00:00:00Z (reason: keyCompromise)"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Revoked`], or as [`find_revocation`].
pub fn check_not_revoked(list: &RevocationList, store: &KeyStore, user_id: &UserId) -> Result<()> {
    match find_revocation(list, store, user_id)? {
        Some(entry) => Err(entry.to_error()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symmetric::{generate_symmetric_key, store_symmetric_key};

    fn store_with(user: &UserId) -> KeyStore {
        let pk = crate::kdf::test_key("pw");
        let mut store = KeyStore::default();
        store_symmetric_key(
            &mut store,
            user,
            &generate_symmetric_key().unwrap(),
            3600,
            &pk,
        )
        .unwrap();
        store
    }

    #[test]
    fn revoking_records_who_which_when_and_why() {
        let alice = UserId::new("alice").unwrap();
        let store = store_with(&alice);
        let mut list = RevocationList::default();
        let RevokeOutcome::Revoked(e) = revoke_key(
            &mut list,
            &store,
            &alice,
            RevocationReason::KeyCompromise,
            42.0,
        )
        .unwrap() else {
            panic!("expected a new revocation");
        };
        assert_eq!(e.user_id, "alice");
        assert_eq!(e.revoked_at, 42.0);
        assert_eq!(e.reason, RevocationReason::KeyCompromise);
        assert_eq!(
            e.symmetric_fingerprint.as_deref(),
            Some(
                store
                    .get(&alice)
                    .unwrap()
                    .symmetric
                    .as_ref()
                    .unwrap()
                    .fingerprint
                    .as_str()
            )
        );
        let err = check_not_revoked(&list, &store, &alice)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1970-01-01T00:00:42Z") && err.contains("keyCompromise"),
            "{err}"
        );
    }

    #[test]
    fn fresh_keys_after_a_revocation_are_not_revoked() {
        let alice = UserId::new("alice").unwrap();
        let old = store_with(&alice);
        let mut list = RevocationList::default();
        revoke_key(&mut list, &old, &alice, RevocationReason::Superseded, 1.0).unwrap();
        let new = store_with(&alice);
        assert!(is_key_revoked(&list, &old, &alice).unwrap());
        assert!(!is_key_revoked(&list, &new, &alice).unwrap());
        check_not_revoked(&list, &new, &alice).unwrap();
    }

    #[test]
    fn other_users_are_untouched_and_unknown_users_refused() {
        let alice = UserId::new("alice").unwrap();
        let bob = UserId::new("bob").unwrap();
        let mut store = store_with(&alice);
        let bob_store = store_with(&bob);
        store.insert(&bob, bob_store.get(&bob).unwrap().clone());
        let mut list = RevocationList::default();
        revoke_key(
            &mut list,
            &store,
            &alice,
            RevocationReason::Unspecified,
            1.0,
        )
        .unwrap();
        assert!(!is_key_revoked(&list, &store, &bob).unwrap());
        let carol = UserId::new("carol").unwrap();
        assert!(matches!(
            revoke_key(
                &mut list,
                &store,
                &carol,
                RevocationReason::Unspecified,
                1.0
            ),
            Err(Error::UnknownUser(_))
        ));
    }

    #[test]
    fn reasons_display_as_stored_with_rfc5280_names() {
        use RevocationReason::*;
        for reason in [
            Unspecified,
            KeyCompromise,
            AffiliationChanged,
            Superseded,
            CessationOfOperation,
            PrivilegeWithdrawn,
        ] {
            let stored = serde_json::to_value(reason).unwrap();
            assert_eq!(stored.as_str(), Some(reason.to_string().as_str()));
        }
        assert_eq!(KeyCompromise.to_string(), "keyCompromise");
        assert_eq!(RevocationReason::default(), Unspecified);
    }
}
