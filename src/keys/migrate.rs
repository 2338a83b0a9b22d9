//! Format 1 of `key_store.json` (one key of each kind per user, before key
//! versions) and its migration to rings of versions (formats 2 and 3).
//!
//! Migration needs no password: a format 1 key becomes version 1 with
//! binding 1, which keeps the associated data it was sealed with. The store
//! is migrated in memory when read, and written in the current format on the next
//! change; until then the file stays as it was.

use serde::{Deserialize, Serialize};

use crate::crypto::kdf::KdfParams;
use crate::crypto::spki::{public_key_fingerprint, public_key_from_pem};
use crate::crypto::wrap::{Sealed, WrappedKey};
use crate::pki::{AsymmetricVersion, EncryptedPrivateKey};
use crate::revocation::{ENTRY_FORMAT, KeyIds, RevocationList};
use crate::symmetric::SymmetricVersion;
use crate::util::fingerprint::Fingerprint;
use crate::util::strict::NoUnknownFields;
use crate::util::time::{self, LATEST_TIME, Timestamp};
use crate::{CryptoError, Error, Result};

/// A symmetric key in the original's shape: the wrapped key with its
/// lifetime, all in one object (`key`, `nonce`, `cipher`, `expiry`,
/// `created`, `fingerprint`, `salt`, `kdf`, `iterations`). Format 1 held a
/// user's one key so; format 3 holds a user's newest key so, with its
/// `version` and `binding`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlatSymmetric {
    /// The wrapped key (`key`), its nonce and cipher.
    #[serde(flatten)]
    pub sealed: Sealed,
    /// When the key expires, in seconds since the epoch.
    #[serde(deserialize_with = "time::deserialize")]
    pub expiry: Timestamp,
    /// When the key was made.
    #[serde(deserialize_with = "time::deserialize")]
    pub created: Timestamp,
    /// SHA-256 of the key, hex.
    pub fingerprint: Fingerprint,
    /// How the wrapping key was derived from the password.
    #[serde(flatten)]
    pub kdf: KdfParams,
    /// The key's version (format 3; format 1 had one key, and none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The associated-data layout (format 3).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::crypto::wrap::known_binding_optional"
    )]
    pub binding: Option<u32>,
    /// Refuses fields this version does not know, so none is dropped.
    #[serde(flatten)]
    pub unknown: NoUnknownFields,
}

/// The keys of a format 1 record, as read.
pub(crate) struct RecordV1 {
    pub symmetric: Option<FlatSymmetric>,
    pub private: Option<EncryptedPrivateKey>,
    pub public: Option<String>,
}

/// Turns a format 1 record into rings of one version each.
///
/// The RSA pair of format 1 had no times of its own: it was made with the
/// symmetric key, so it takes that key's creation time and lifetime (or,
/// with no symmetric key, 1970 and no end).
///
/// # Errors
/// [`CryptoError::MalformedKey`] for a private key without its public key, which
/// cannot be given a key ID without the password.
pub(crate) fn migrate(v1: RecordV1) -> Result<(Vec<SymmetricVersion>, Vec<AsymmetricVersion>)> {
    let (created, expiry) = v1
        .symmetric
        .as_ref()
        .map_or((Timestamp::EPOCH, LATEST_TIME), |s| (s.created, s.expiry));
    let symmetric = v1
        .symmetric
        .map(|s| SymmetricVersion {
            version: 1,
            created: s.created,
            expiry: s.expiry,
            fingerprint: s.fingerprint,
            binding: 1,
            wrapped: Some(WrappedKey {
                kdf: s.kdf,
                sealed: s.sealed,
                unknown: NoUnknownFields,
            }),
            destroyed_at: None,
        })
        .into_iter()
        .collect();
    let asymmetric = match (v1.private, v1.public) {
        (private, Some(public)) => vec![AsymmetricVersion {
            version: 1,
            created,
            expiry,
            fingerprint: public_key_fingerprint(&public_key_from_pem(&public)?)?,
            binding: 1,
            public,
            private,
            destroyed_at: None,
            certificate: None,
        }],
        (Some(_), None) => {
            return Err(Error::Crypto(CryptoError::MalformedKey(
                "a format 1 private key without its public key cannot be migrated".to_owned(),
            )));
        }
        (None, None) => Vec::new(),
    };
    Ok((symmetric, asymmetric))
}

/// Brings format 1 entries of the revocation list (before key versions) to
/// the current format: each gets the version its fingerprints name among
/// `versions_of` its user, where there is one.
///
/// # Errors
/// What `versions_of` gives (the record of a user it names is broken).
pub(crate) fn revocations<V: KeyIds>(
    list: &mut RevocationList,
    mut versions_of: impl FnMut(&str) -> Result<Vec<V>>,
) -> Result<()> {
    for entry in list.entries_mut().iter_mut().filter(|e| e.format == 1) {
        let found = versions_of(entry.user_id.as_str())?
            .iter()
            .find(|v| entry.revokes(&entry.user_id, *v))
            .map(KeyIds::version);
        entry.version = entry.version.or(found);
        entry.format = ENTRY_FORMAT;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyStore;
    use crate::keys::keyring::{versions_named, versions_of};
    use crate::revocation::is_key_revoked;
    use crate::util::user::UserId;

    #[test]
    fn format_1_revocations_get_their_version_on_reading() {
        let alice = UserId::new("alice").unwrap();
        let mut keys = KeyStore::default();
        let key = crate::symmetric::generate_symmetric_key().unwrap();
        keys.add_symmetric(&alice, &key, 3600, &crate::crypto::kdf::test_key("pw"))
            .unwrap();
        let fp = &keys.get(&alice).unwrap().unwrap().symmetric[0].fingerprint;
        let text = format!(
            r#"[{{"format": 1, "user_id": "alice", "symmetric_fingerprint": "{fp}", "revoked_at": 3.0, "reason": "superseded"}}]"#
        );
        let mut list: RevocationList = serde_json::from_str(&text).unwrap();
        assert_eq!(list.entries()[0].version, None);
        revocations(&mut list, |user| versions_named(&keys, user)).unwrap();
        assert_eq!(list.entries()[0].version, Some(1));
        assert_eq!(list.entries()[0].format, ENTRY_FORMAT);
        assert!(is_key_revoked(
            &list,
            &alice,
            &versions_of(&keys, &alice).unwrap()
        ));
    }
}
