//! The store on disk: `key_store.json` and `revoked_keys.json` in one folder.
//!
//! Both files keep the original script's shape. `key_store.json` maps each
//! user ID to `symmetric` (the newest wrapped key and its `expiry`),
//! `private` (the newest pair's `salt` and encrypted `key`) and `public`
//! (its PEM); older key versions sit under `previous`. Each record carries
//! a `format` version so that later versions can migrate it (format 3;
//! formats 1 and 2 are read, and rewritten as 3 by the next change).
//!
//! Safety on disk:
//! - a missing file is an empty store; a file that is not JSON, or holds a
//!   bad or repeated user ID, is never overwritten, and the error names the
//!   file, the line and the column. Each record is checked when it is used
//!   (see [`KeyStore`]), and a change writes the records it did not touch
//!   back byte for byte;
//! - every write goes to a temporary file in the same folder (mode 0600),
//!   is flushed to disk, then renamed over the old file, so a crash leaves
//!   the old file or the new one, never a mixture;
//! - a change to several files (the two above and `audit.log`) is committed
//!   first as one journal file, then applied, so a crash leaves the old
//!   state or the new one across all three (see RELIABILITY.md);
//! - every change happens under an exclusive lock on `.secure-kms.lock`, and
//!   re-reads the files once the lock is held (or finds them unchanged since
//!   its own read), so two runs at once never lose each other's changes; every read holds the same lock shared, so it
//!   never sees one file before a change and the other after it.

pub mod audit;
pub(crate) mod journal;
pub mod migrate;
pub mod safe_file;
pub mod trust;

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::ca::crl::CrlRead;
use crate::exchange_state::ExchangeState;
use crate::pki::{AsymmetricVersion, EncryptedPrivateKey};
use crate::revocation::RevocationList;
use crate::store::audit::Event;
use crate::store::journal::{Journal, crash_point};
use crate::store::migrate::{FlatSymmetric, RecordV1};
use crate::strict::NoUnknownFields;
use crate::symmetric::SymmetricVersion;
use crate::user::UserId;
use crate::{Error, Result};

/// The key store file name, as in the original.
pub const KEY_STORE_FILE: &str = "key_store.json";

/// The revocation list file name, as in the original.
pub const REVOKED_KEYS_FILE: &str = "revoked_keys.json";

/// How the temporary files of the store's writes begin, so that those a
/// killed run left behind can be told apart and removed.
const STORE_TEMP_PREFIX: &str = crate::store::journal::PREPARED_PREFIX;

/// The journal of a change being made (see RELIABILITY.md, "Crashes").
pub use crate::store::journal::JOURNAL_FILE;

/// The lock file that serialises changes to the two files above.
pub const LOCK_FILE: &str = ".secure-kms.lock";

/// The record format this version writes: 3, the original's shape
/// (`symmetric`, `private`, `public`) for the newest keys, older versions
/// under `previous`. Format 1 (one key of each kind per user, see
/// [`crate::store::migrate`]) and format 2 (the two rings as lists `symmetric`
/// and `asymmetric`) are still read, and written as format 3 by the next
/// change.
pub const FORMAT_VERSION: u32 = 3;

/// Format 2: the same rings as format 3, laid out as two lists.
const FORMAT_2: u32 = 2;

/// One user's keys: a ring of symmetric key versions and a ring of RSA key
/// versions, oldest first. The last version of each ring is the primary:
/// the one for new encryption and signing. Older versions stay, for
/// decrypting and verifying, until destroyed.
///
/// In the file (format 3), the primary versions take the original's
/// fields, `symmetric` (the wrapped `key` with its `expiry`), `private` and
/// `public`, with the pair's other fields in `key_pair`; the versions
/// before them are under `previous` (`symmetric` and `asymmetric` lists).
/// A primary version whose key was destroyed stays under `previous` too.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRecord {
    /// The record format, [`FORMAT_VERSION`].
    pub format: u32,
    /// The symmetric key versions, 1, 2, 3... in order.
    pub symmetric: Vec<SymmetricVersion>,
    /// The RSA key pair versions, 1, 2, 3... in order.
    pub asymmetric: Vec<AsymmetricVersion>,
    /// Key exchanges in progress between processes, and the messages taken
    /// (see [`crate::protocol`]).
    pub exchanges: ExchangeState,
}

/// A primary RSA pair's fields other than `private` and `public`, which
/// sit beside it at the top of a format 3 record.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyPair {
    version: u32,
    #[serde(deserialize_with = "crate::time::deserialize")]
    created: crate::time::Timestamp,
    #[serde(deserialize_with = "crate::time::deserialize")]
    expiry: crate::time::Timestamp,
    #[serde(deserialize_with = "crate::fingerprint::deserialize")]
    fingerprint: String,
    #[serde(deserialize_with = "crate::symmetric::known_binding")]
    binding: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
}

/// The versions before the primary ones, in a format 3 record, as read.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Previous {
    #[serde(default)]
    symmetric: Vec<SymmetricVersion>,
    #[serde(default)]
    asymmetric: Vec<AsymmetricVersion>,
}

/// [`Previous`], as written.
#[derive(Serialize)]
struct PreviousOut<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    symmetric: &'a [SymmetricVersion],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    asymmetric: &'a [AsymmetricVersion],
}

/// The newest symmetric key, in the original's shape (`key`, `expiry`),
/// as written: the sealed key first, then what a reader looks for next.
#[derive(Serialize)]
struct PrimarySymmetric<'a> {
    #[serde(serialize_with = "crate::b64::serialize")]
    key: &'a [u8],
    expiry: crate::time::Timestamp,
    version: u32,
    created: crate::time::Timestamp,
    fingerprint: &'a str,
    binding: u32,
    cipher: &'a crate::wrap::CipherName,
    #[serde(serialize_with = "crate::b64::serialize")]
    nonce: &'a [u8],
    #[serde(serialize_with = "crate::b64::serialize")]
    salt: &'a [u8],
    kdf: &'a crate::kdf::KdfName,
    iterations: u32,
}

impl Serialize for UserRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // The last version of each ring is at the top if it holds its key.
        let (primary_symmetric, older_symmetric) = match self.symmetric.split_last() {
            Some((last, older)) if last.wrapped.is_some() => (Some(last), older),
            _ => (None, self.symmetric.as_slice()),
        };
        let (primary_pair, older_pairs) = match self.asymmetric.split_last() {
            Some((last, older)) if last.private.is_some() => (Some(last), older),
            _ => (None, self.asymmetric.as_slice()),
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("format", &FORMAT_VERSION)?;
        if let Some(v) = primary_symmetric {
            let wrapped = v.wrapped.as_ref().expect("checked above");
            map.serialize_entry(
                "symmetric",
                &PrimarySymmetric {
                    key: &wrapped.sealed.ciphertext,
                    expiry: v.expiry,
                    version: v.version,
                    created: v.created,
                    fingerprint: &v.fingerprint,
                    binding: v.binding,
                    cipher: &wrapped.sealed.cipher,
                    nonce: &wrapped.sealed.nonce,
                    salt: &wrapped.kdf.salt,
                    kdf: &wrapped.kdf.kdf,
                    iterations: wrapped.kdf.iterations,
                },
            )?;
        }
        if let Some(pair) = primary_pair {
            map.serialize_entry("private", pair.private.as_ref().expect("checked above"))?;
            map.serialize_entry("public", &pair.public)?;
            map.serialize_entry(
                "key_pair",
                &KeyPair {
                    version: pair.version,
                    created: pair.created,
                    expiry: pair.expiry,
                    fingerprint: pair.fingerprint.clone(),
                    binding: pair.binding,
                    certificate: pair.certificate.clone(),
                },
            )?;
        }
        if !older_symmetric.is_empty() || !older_pairs.is_empty() {
            map.serialize_entry(
                "previous",
                &PreviousOut {
                    symmetric: older_symmetric,
                    asymmetric: older_pairs,
                },
            )?;
        }
        if !self.exchanges.is_empty() {
            map.serialize_entry("exchanges", &self.exchanges)?;
        }
        map.end()
    }
}

impl UserRecord {
    /// Whether any version still holds a secret key, which only its owner's
    /// password unlocks. (A public key alone protects nothing.)
    pub fn has_keys(&self) -> bool {
        self.symmetric.iter().any(|v| v.wrapped.is_some())
            || self.asymmetric.iter().any(|v| v.private.is_some())
    }

    /// The newest version number in either ring (0 for none).
    pub fn latest_version(&self) -> u32 {
        let (sym, asym) = self.last_versions();
        sym.max(asym)
    }

    fn last_versions(&self) -> (u32, u32) {
        (
            self.symmetric.last().map_or(0, |v| v.version),
            self.asymmetric.last().map_or(0, |v| v.version),
        )
    }

    /// The number for the next symmetric key: the other ring's newest if
    /// it has no symmetric partner yet (the two keys of one rotation share
    /// a number), else one past the newest.
    pub fn next_symmetric_version(&self) -> u32 {
        let (sym, asym) = self.last_versions();
        next_version(sym, asym)
    }

    /// The number for the next RSA pair, as [`Self::next_symmetric_version`].
    pub fn next_asymmetric_version(&self) -> u32 {
        let (sym, asym) = self.last_versions();
        next_version(asym, sym)
    }
}

fn next_version(this_ring: u32, other_ring: u32) -> u32 {
    if other_ring > this_ring {
        other_ring
    } else {
        this_ring + 1
    }
}

impl Default for UserRecord {
    fn default() -> Self {
        UserRecord {
            format: FORMAT_VERSION,
            symmetric: Vec::new(),
            asymmetric: Vec::new(),
            exchanges: ExchangeState::default(),
        }
    }
}

/// Any format, as read, before checks and migration. (In a module of its
/// own so that serde's messages name it `UserRecord`, as users know it.)
mod as_read {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct UserRecord {
        #[serde(deserialize_with = "known_format")]
        pub format: u32,
        #[serde(default)]
        pub symmetric: Option<RawSymmetric>,
        #[serde(default)]
        pub asymmetric: Option<Vec<AsymmetricVersion>>,
        #[serde(default)]
        pub private: Option<EncryptedPrivateKey>,
        #[serde(default, deserialize_with = "crate::pki::valid_optional_public_pem")]
        pub public: Option<String>,
        #[serde(default)]
        pub key_pair: Option<KeyPair>,
        #[serde(default)]
        pub previous: Option<Previous>,
        #[serde(default)]
        pub exchanges: Option<ExchangeState>,
    }
}

/// `symmetric` is one object in formats 1 and 3 (the original's shape) and
/// a list of versions in format 2.
enum RawSymmetric {
    Flat(FlatSymmetric),
    List(Vec<SymmetricVersion>),
}

impl<'de> Deserialize<'de> for RawSymmetric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawSymmetric;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one key (or, in format 2, a list of key versions)")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<RawSymmetric, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(RawSymmetric::List)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawSymmetric, A::Error> {
                FlatSymmetric::deserialize(MapAccessDeserializer::new(map)).map(RawSymmetric::Flat)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for UserRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = as_read::UserRecord::deserialize(d)?;
        let format = raw.format;
        let field_of_other_format = |field: &str| {
            D::Error::custom(format!(
                "a format {format} record cannot hold `{field}` in that form (formats 1 and 3 have one `symmetric` object, `private` and `public`, and format 3 adds `key_pair` and `previous`; format 2 has lists `symmetric` and `asymmetric`)"
            ))
        };
        let (symmetric, asymmetric) = match format {
            1 => {
                if raw.asymmetric.is_some() {
                    return Err(field_of_other_format("asymmetric"));
                }
                for (field, present) in [
                    ("exchanges", raw.exchanges.is_some()),
                    ("key_pair", raw.key_pair.is_some()),
                    ("previous", raw.previous.is_some()),
                ] {
                    if present {
                        return Err(field_of_other_format(field));
                    }
                }
                let symmetric = match raw.symmetric {
                    Some(RawSymmetric::Flat(s)) if s.version.is_none() && s.binding.is_none() => {
                        Some(s)
                    }
                    Some(_) => return Err(field_of_other_format("symmetric")),
                    None => None,
                };
                crate::store::migrate::migrate(RecordV1 {
                    symmetric,
                    private: raw.private,
                    public: raw.public,
                })
                .map_err(D::Error::custom)?
            }
            FORMAT_2 => {
                for (field, present) in [
                    ("private", raw.private.is_some()),
                    ("public", raw.public.is_some()),
                    ("key_pair", raw.key_pair.is_some()),
                    ("previous", raw.previous.is_some()),
                ] {
                    if present {
                        return Err(field_of_other_format(field));
                    }
                }
                let symmetric = match raw.symmetric {
                    Some(RawSymmetric::List(s)) => s,
                    Some(RawSymmetric::Flat(_)) => return Err(field_of_other_format("symmetric")),
                    None => Vec::new(),
                };
                (symmetric, raw.asymmetric.unwrap_or_default())
            }
            _ => {
                if raw.asymmetric.is_some() {
                    return Err(field_of_other_format("asymmetric"));
                }
                let previous = raw.previous.unwrap_or_default();
                let mut symmetric = previous.symmetric;
                match raw.symmetric {
                    Some(RawSymmetric::Flat(s)) => {
                        let (Some(version), Some(binding)) = (s.version, s.binding) else {
                            return Err(D::Error::custom(
                                "a format 3 `symmetric` key names its `version` and `binding`",
                            ));
                        };
                        symmetric.push(SymmetricVersion {
                            version,
                            created: s.created,
                            expiry: s.expiry,
                            fingerprint: s.fingerprint,
                            binding,
                            wrapped: Some(crate::wrap::WrappedKey {
                                kdf: s.kdf,
                                sealed: s.sealed,
                                unknown: NoUnknownFields,
                            }),
                            destroyed_at: None,
                        });
                    }
                    Some(RawSymmetric::List(_)) => {
                        return Err(field_of_other_format("symmetric"));
                    }
                    None => {}
                }
                let mut asymmetric = previous.asymmetric;
                match (raw.private, raw.public, raw.key_pair) {
                    (Some(private), Some(public), Some(pair)) => {
                        asymmetric.push(AsymmetricVersion {
                            version: pair.version,
                            created: pair.created,
                            expiry: pair.expiry,
                            fingerprint: pair.fingerprint,
                            binding: pair.binding,
                            public,
                            private: Some(private),
                            destroyed_at: None,
                            certificate: pair.certificate,
                        });
                    }
                    (None, None, None) => {}
                    _ => {
                        return Err(D::Error::custom(
                            "a format 3 record holds `private`, `public` and `key_pair` together, or none of them",
                        ));
                    }
                }
                (symmetric, asymmetric)
            }
        };
        // The key ID must be the public key's: revocations find keys by
        // it, so an edited ID could hide a revoked pair.
        if format != 1 {
            for a in &asymmetric {
                let actual =
                    crate::pki::public_pem_fingerprint(&a.public).map_err(D::Error::custom)?;
                if let Some(pem) = &a.certificate {
                    crate::x509::check_certificate_of(pem, &a.fingerprint).map_err(|e| {
                        D::Error::custom(format!("asymmetric key version {}: {e}", a.version))
                    })?;
                }
                if actual != a.fingerprint {
                    return Err(D::Error::custom(format!(
                        "asymmetric key version {} has fingerprint {}, but its public key's SHA-256 is {actual}",
                        a.version, a.fingerprint
                    )));
                }
            }
        }
        check_ring(
            "symmetric",
            symmetric
                .iter()
                .map(|v| (v.version, v.created, v.expiry, v.binding)),
        )
        .map_err(D::Error::custom)?;
        check_ring(
            "asymmetric",
            asymmetric
                .iter()
                .map(|v| (v.version, v.created, v.expiry, v.binding)),
        )
        .map_err(D::Error::custom)?;
        Ok(UserRecord {
            format: FORMAT_VERSION,
            symmetric,
            asymmetric,
            exchanges: raw.exchanges.unwrap_or_default(),
        })
    }
}

/// Versions are numbered from 1 upwards in the order they were made: a
/// ring reordered by hand would change which key is primary. (A number
/// can be missing from one ring, in a store migrated from format 1.) No key
/// expires before it was made. Binding 1 (a key from format 1, with less
/// associated data) only ever holds version 1, so an old key cannot be
/// moved into a newer slot.
fn check_ring(
    name: &str,
    versions: impl Iterator<Item = (u32, f64, f64, u32)>,
) -> Result<(), String> {
    let (mut last_version, mut last_created) = (0, 0.0);
    for (version, created, expiry, binding) in versions {
        if binding == 1 && version != 1 {
            return Err(format!(
                "{name} key version {version} has binding 1, which only a version 1 migrated from format 1 can have"
            ));
        }
        if expiry < created {
            return Err(format!(
                "{name} key version {version} expires before it was made"
            ));
        }
        if version <= last_version {
            return Err(format!(
                "the {name} key versions must be numbered from 1 upwards, in order; version {version} follows version {last_version}"
            ));
        }
        last_version = version;
        if created < last_created {
            return Err(format!(
                "{name} key version {version} was made before the version above it"
            ));
        }
        last_created = created;
    }
    Ok(())
}

/// Serde check: formats 1 (before key versions), 2 and [`FORMAT_VERSION`]
/// are read; anything else is a newer secure-kms's file, left alone.
fn known_format<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if (1..=FORMAT_VERSION).contains(&v) {
        Ok(v)
    } else {
        Err(D::Error::custom(format!(
            "format {v} is not understood by this secure-kms, which reads formats 1 to {FORMAT_VERSION}"
        )))
    }
}

/// The contents of `key_store.json`: user ID to record, in ID order.
///
/// Loading checks the file's JSON and its user IDs, and keeps each record
/// as the text it is in the file; a record is parsed, with every check, the
/// first time it is asked for. A single-user command on a store of 10,000
/// users so parses one record, not 10,000 (BENCHMARKS.md, "Store scale").
/// Writing copies the records nobody changed back as they were, byte for
/// byte, and serialises only the others.
///
/// ```
/// use secure_kms::store::{KeyStore, UserRecord};
/// use secure_kms::user::UserId;
///
/// let alice = UserId::new("alice")?;
/// let mut keys = KeyStore::default();
/// keys.insert(&alice, UserRecord::default());
/// let text = keys.to_json()?;
/// let again = KeyStore::from_json("key_store.json", text.clone().into_bytes())?;
/// assert_eq!(again.get(&alice)?, Some(&UserRecord::default()));
/// assert_eq!(again.to_json()?, text);
/// # Ok::<(), secure_kms::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyStore {
    /// The file the records came from, to name in errors.
    path: PathBuf,
    /// The file's text, which the records not yet parsed point into.
    text: Arc<String>,
    users: BTreeMap<String, Slot>,
}

/// One user's record: where it lies in the file, and its parsed form once
/// asked for.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// The record's JSON in [`KeyStore::text`]; `None` for a new user.
    raw: Option<Range<usize>>,
    parsed: OnceCell<UserRecord>,
    /// Whether the record was handed out to be changed.
    touched: bool,
}

/// How a record that this version wrote begins in the file (records sit one
/// level deep, so two spaces in): one that begins so can be written back
/// as it is, any other (format 1, or edited by hand) is written anew.
const CANONICAL_RECORD_START: &str = "{\n    \"format\": 3,\n";

/// Two stores are equal when they hold the same users with equal records;
/// a record that does not parse equals only the same text.
impl PartialEq for KeyStore {
    fn eq(&self, other: &Self) -> bool {
        self.users.len() == other.users.len()
            && self
                .users
                .iter()
                .zip(&other.users)
                .all(|((a, sa), (b, sb))| {
                    a == b
                        && match (self.parsed(sa), other.parsed(sb)) {
                            (Ok(ra), Ok(rb)) => ra == rb,
                            _ => self.raw_text(sa) == other.raw_text(sb),
                        }
                })
    }
}

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore {
            path: PathBuf::from(KEY_STORE_FILE),
            text: Arc::default(),
            users: BTreeMap::new(),
        }
    }
}

impl KeyStore {
    /// Reads the text of `key_store.json` (named `path` in errors): checks
    /// that it is a JSON object of valid, distinct user IDs, and keeps each
    /// record to parse when it is asked for.
    ///
    /// # Errors
    /// [`Error::CorruptFile`], naming `path` with the line and the column.
    pub fn from_json(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<KeyStore> {
        let path = path.into();
        let corrupt = |source| Error::CorruptFile {
            path: path.clone(),
            source,
        };
        refuse_bom(&path, &bytes)?;
        let spans = serde_json::from_slice::<Spans>(&bytes).map_err(corrupt)?;
        let base = bytes.as_ptr() as usize;
        let users = spans
            .0
            .into_iter()
            .map(|(id, raw)| {
                let start = raw.get().as_ptr() as usize - base;
                let slot = Slot {
                    raw: Some(start..start + raw.get().len()),
                    ..Slot::default()
                };
                (id, slot)
            })
            .collect();
        // serde_json checked every string; what lies between is ASCII.
        let text = String::from_utf8(bytes)
            .map_err(|e| corrupt(serde::de::Error::custom(format!("it is not UTF-8: {e}"))))?;
        Ok(KeyStore {
            path,
            text: Arc::new(text),
            users,
        })
    }

    /// The record of `user_id`, if any, parsed (and checked) on first use.
    ///
    /// # Errors
    /// [`Error::CorruptFile`] if that record is broken.
    pub fn get(&self, user_id: &UserId) -> Result<Option<&UserRecord>> {
        match self.users.get(user_id.as_str()) {
            Some(slot) => self.parsed(slot).map(Some),
            None => Ok(None),
        }
    }

    /// The record of `user_id` to change, made empty first if there is none.
    ///
    /// # Errors
    /// [`Error::CorruptFile`] if that record is broken.
    pub fn entry(&mut self, user_id: &UserId) -> Result<&mut UserRecord> {
        let slot = self.users.entry(user_id.to_string()).or_default();
        if let Some(raw) = &slot.raw
            && slot.parsed.get().is_none()
        {
            let record = parse_record(&self.path, &self.text, raw.clone())?;
            let _ = slot.parsed.set(record);
        }
        if slot.parsed.get().is_none() {
            let _ = slot.parsed.set(UserRecord::default());
        }
        slot.touched = true;
        Ok(slot.parsed.get_mut().expect("set above"))
    }

    /// Puts a whole record in place of any there was.
    pub fn insert(&mut self, user_id: &UserId, record: UserRecord) {
        let slot = self.users.entry(user_id.to_string()).or_default();
        slot.parsed = OnceCell::from(record);
        slot.touched = true;
    }

    /// The user IDs, in order.
    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Whether the store holds no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Parses every record not parsed yet: the full check of the file that
    /// loading alone does not make (`list` and `audit --verify` make it by
    /// reading every record).
    ///
    /// # Errors
    /// [`Error::CorruptFile`] for the first broken record.
    pub fn check_all(&self) -> Result<()> {
        self.users
            .values()
            .try_for_each(|slot| self.parsed(slot).map(drop))
    }

    /// Whether a record was changed since the file was read.
    ///
    /// # Errors
    /// [`Error::CorruptFile`] if a record handed out cannot be compared
    /// (which [`KeyStore::entry`] would have refused already).
    pub fn changed(&self) -> Result<bool> {
        for slot in self.users.values().filter(|slot| slot.touched) {
            let Some(raw) = &slot.raw else {
                return Ok(true);
            };
            if slot.parsed.get() != Some(&parse_record(&self.path, &self.text, raw.clone())?) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The store as the file holds it: pretty-printed JSON, with each record
    /// nobody changed copied from the file as it was.
    ///
    /// # Errors
    /// [`Error::CorruptFile`] for a broken record that has to be written
    /// anew (one in format 1, or not as this version writes it).
    pub fn to_json(&self) -> Result<String> {
        let mut out = Vec::with_capacity(self.text.len() + 4096);
        self.write_json(&mut out)
            .map_err(|e| Error::from_writer(e, Error::Output))?;
        Ok(String::from_utf8(out).expect("the store writes UTF-8"))
    }

    /// Writes [`KeyStore::to_json`] to `out` piece by piece, each untouched
    /// record straight from the text it was read from: a change to one
    /// user of a large store, or showing it, makes no copy of the file in
    /// memory. The text ends with a new line.
    ///
    /// # Errors
    /// The writer's error; a broken record that has to be written anew
    /// comes as an [`std::io::Error::other`] holding
    /// [`Error::CorruptFile`].
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        // Every record to be written anew is parsed before the first byte,
        // so that a broken one stops the write before it starts.
        for slot in self.users.values() {
            if self.kept_as_read(slot).is_none() {
                self.parsed(slot).map_err(std::io::Error::other)?;
            }
        }
        if self.users.is_empty() {
            return out.write_all(b"{}\n");
        }
        out.write_all(b"{")?;
        for (i, (id, slot)) in self.users.iter().enumerate() {
            out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
            serde_json::to_writer(&mut *out, id)?;
            out.write_all(b": ")?;
            match self.kept_as_read(slot) {
                Some(raw) => out.write_all(self.text[raw].as_bytes())?,
                None => {
                    let record = self.parsed(slot).map_err(std::io::Error::other)?;
                    let record =
                        serde_json::to_string_pretty(record).expect("store types always serialise");
                    out.write_all(record.replace('\n', "\n  ").as_bytes())?;
                }
            }
        }
        out.write_all(b"\n}\n")
    }

    /// Where in the text the record of `slot` is, if it is written back as
    /// it was read: untouched, and laid out as this version writes it.
    fn kept_as_read(&self, slot: &Slot) -> Option<Range<usize>> {
        slot.raw.clone().filter(|raw| {
            !slot.touched && self.text[raw.clone()].starts_with(CANONICAL_RECORD_START)
        })
    }

    /// This store as the file it was just written to holds it: the records
    /// copied as they were keep their place in the text, the ones written
    /// anew are kept parsed, and nothing is changed any more.
    fn into_written(mut self) -> KeyStore {
        let kept: Vec<bool> = self
            .users
            .values()
            .map(|slot| self.kept_as_read(slot).is_some())
            .collect();
        for (slot, kept) in self.users.values_mut().zip(kept) {
            if !kept {
                slot.raw = None;
            }
            slot.touched = false;
        }
        self
    }

    fn raw_text(&self, slot: &Slot) -> Option<&str> {
        slot.raw.clone().map(|raw| &self.text[raw])
    }

    fn parsed<'a>(&'a self, slot: &'a Slot) -> Result<&'a UserRecord> {
        if let Some(record) = slot.parsed.get() {
            return Ok(record);
        }
        let raw = slot.raw.clone().expect("a new record is always parsed");
        let record = parse_record(&self.path, &self.text, raw)?;
        Ok(slot.parsed.get_or_init(|| record))
    }
}

/// Parses the record at `raw` in `text`. On failure it parses again with
/// everything before the record blanked out (new lines kept), so that
/// serde_json's line and column are the file's. (The record is parsed
/// there as a list's one element, as it was a map's value in the file:
/// serde_json gives a position to an error inside a value, and the checks
/// made after a record's fields are read raise theirs there.)
fn parse_record(path: &Path, text: &str, raw: Range<usize>) -> Result<UserRecord> {
    serde_json::from_str(&text[raw.clone()]).map_err(|first| {
        // A record always follows its `"id":` and white space: the colon
        // becomes `[`, and every byte before it a space (serde_json counts
        // columns in bytes), new lines kept.
        let colon = text[..raw.start].rfind(':').unwrap_or(0);
        let mut blanked: Vec<u8> = text.as_bytes()[..raw.end]
            .iter()
            .enumerate()
            .map(|(i, &b)| match b {
                _ if i >= raw.start => b,
                b'\n' => b'\n',
                _ if i == colon => b'[',
                _ if i > colon => b,
                _ => b' ',
            })
            .collect();
        blanked.push(b']');
        let source = serde_json::from_slice::<(UserRecord,)>(&blanked)
            .err()
            .unwrap_or(first);
        Error::CorruptFile {
            path: path.to_owned(),
            source,
        }
    })
}

/// The top level of `key_store.json`, checked, with each record left as
/// its text.
struct Spans<'a>(BTreeMap<String, &'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Spans<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Spans<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object mapping user IDs to their keys")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Spans<'a>, A::Error> {
                let mut users = BTreeMap::new();
                while let Some(id) = map.next_key::<String>()? {
                    let checked = UserId::new(&id).map_err(A::Error::custom)?;
                    if checked.as_str() != id {
                        return Err(A::Error::custom(format!(
                            "user ID {id:?} has surrounding white space"
                        )));
                    }
                    // A second record under one ID would silently replace
                    // the first, and the rewrite would lose it.
                    if users.contains_key(&id) {
                        return Err(A::Error::custom(format!(
                            "user ID {id:?} appears twice (keep one of the two records)"
                        )));
                    }
                    let record: &'a RawValue = map.next_value()?;
                    users.insert(id, record);
                }
                Ok(Spans(users))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("store types always serialise");
    s.push('\n');
    s
}

/// The store folder and its files.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// `key_store.json` as this value last read it (see [`KeyStoreRead`]).
    last_read: Mutex<Option<KeyStoreRead>>,
    /// Whether a read found a change that a crashed run committed and did
    /// not finish (see [`Store::unfinished_change`]).
    unfinished: std::sync::atomic::AtomicBool,
}

/// A clone starts with nothing read.
impl Clone for Store {
    fn clone(&self) -> Self {
        Store::new(self.dir.clone())
    }
}

/// `key_store.json` as read, with the file kept open. A command that reads
/// the store, then changes it under the lock (keygen, rotate, revoke, the
/// session), reads the file twice; if the path still names the same file,
/// unchanged, the second read is this one. secure-kms never changes a
/// store file in place: it renames a new file over it, which has a new
/// inode number, and the file held open here keeps its own number from
/// being reused. So the same inode with the same size and times is the
/// same text. (An edit made in place by hand changes the times.)
#[derive(Debug)]
struct KeyStoreRead {
    _open: File,
    identity: crate::store::safe_file::FileIdentity,
    keys: KeyStore,
}

impl Store {
    /// A store in `dir` (created with mode 0700 on the first write if
    /// missing); an empty path means the current folder.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Store {
            dir,
            last_read: Mutex::new(None),
            unfinished: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a read of this store found a change that a run committed and
    /// did not finish (it was killed, or the machine stopped). A command
    /// that only reads leaves it for the next change to finish, and reads
    /// the files as they are, with the revocations the change adds; the
    /// binary says so.
    pub fn unfinished_change(&self) -> bool {
        self.unfinished.load(std::sync::atomic::Ordering::Relaxed)
            && crate::store::journal::pending(&self.dir)
    }

    /// Path of `key_store.json`.
    pub fn key_store_path(&self) -> PathBuf {
        self.dir.join(KEY_STORE_FILE)
    }

    /// Path of `revoked_keys.json`.
    pub fn revoked_keys_path(&self) -> PathBuf {
        self.dir.join(REVOKED_KEYS_FILE)
    }

    /// Reads both files, under the store's lock held shared, so that a
    /// change being made is seen whole or not at all.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let (keys, revoked) = secure_kms::store::Store::new(dir.path()).load()?;
    /// assert!(keys.is_empty() && revoked.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CorruptFile`] for a file that does not parse, [`Error::Io`]
    /// for one that cannot be read.
    pub fn load(&self) -> Result<(KeyStore, RevocationList)> {
        let _lock = self.read_lock()?;
        self.load_unlocked()
    }

    /// [`Store::load`], then `check` on what was read, under the same shared
    /// lock: whatever else `check` reads (the audit log) describes the same
    /// moment as the files, so a change made meanwhile by another run
    /// cannot look like a disagreement.
    ///
    /// # Errors
    /// As [`Store::load`], and whatever `check` returns.
    pub fn load_checked(
        &self,
        check: impl FnOnce(&KeyStore, &RevocationList) -> Result<()>,
    ) -> Result<(KeyStore, RevocationList)> {
        let _lock = self.read_lock()?;
        let (keys, revoked) = self.load_unlocked()?;
        check(&keys, &revoked)?;
        Ok((keys, revoked))
    }

    /// Both files and the audit log's entries, read under one shared lock,
    /// so that they describe the same moment.
    ///
    /// # Errors
    /// As [`Store::load`] and [`crate::store::audit::verify`].
    pub fn load_with_log(
        &self,
    ) -> Result<(KeyStore, RevocationList, Vec<crate::store::audit::Entry>)> {
        let _lock = self.read_lock()?;
        let (keys, revoked) = self.load_unlocked()?;
        Ok((keys, revoked, crate::store::audit::verify(&self.dir)?))
    }

    fn load_unlocked(&self) -> Result<(KeyStore, RevocationList)> {
        let (keys, mut revoked) = self.load_as_stored_unlocked()?;
        // A revocation committed by a run that died before putting it in
        // place counts already: a reader does not finish the change, but
        // does not use a key it revokes either.
        if self.unfinished_change()
            && let Some(mut pending) = Journal::pending_revocations(&self.dir)?
        {
            pending.migrate(&keys)?;
            for entry in pending.entries() {
                if !revoked.entries().contains(entry) {
                    revoked.push(entry.clone());
                }
            }
        }
        // With a CA, its signed CRL counts too: a certificate it revokes
        // stays revoked even if its entry was removed from the list.
        crate::ca::crl::add_signed_revocations(self, &keys, &mut revoked, CrlRead::Required)?;
        Ok((keys, revoked))
    }

    /// Both files as they are, without the revocations the CA's CRL adds
    /// (what `crl verify` compares the CRL with).
    ///
    /// # Errors
    /// As [`Store::load`].
    pub fn load_as_stored(&self) -> Result<(KeyStore, RevocationList)> {
        let _lock = self.read_lock()?;
        self.load_as_stored_unlocked()
    }

    fn load_as_stored_unlocked(&self) -> Result<(KeyStore, RevocationList)> {
        let keys = self.read_key_store()?;
        let revoked_path = self.revoked_keys_path();
        let mut revoked: RevocationList = match read_file(&revoked_path)? {
            Some(bytes) => parse_json(&revoked_path, &bytes)?,
            None => RevocationList::default(),
        };
        revoked.migrate(&keys)?;
        Ok((keys, revoked))
    }

    /// Keeps `keys`, which this process has just written to
    /// `key_store.json` under the exclusive lock, as the last read.
    fn remember(&self, keys: KeyStore) {
        let path = self.key_store_path();
        let Ok(Some(file)) = crate::store::safe_file::open_read(&path) else {
            return;
        };
        let Ok(metadata) = file.metadata() else {
            return;
        };
        *self.last_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(KeyStoreRead {
            _open: file,
            identity: crate::store::safe_file::FileIdentity::of(&metadata),
            keys,
        });
    }

    /// Reads `key_store.json`, or takes the last read if the file has not
    /// changed since (see [`KeyStoreRead`]).
    fn read_key_store(&self) -> Result<KeyStore> {
        let path = self.key_store_path();
        let mut last_read = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
        let now = match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(Error::SymbolicLink(path)),
            Ok(m) => crate::store::safe_file::FileIdentity::of(&m),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                *last_read = None;
                return Ok(KeyStore::default());
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        if let Some(read) = last_read.as_ref()
            && read.identity == now
        {
            return Ok(read.keys.clone());
        }
        *last_read = None;
        let Some(file) = crate::store::safe_file::open_read(&path)? else {
            return Ok(KeyStore::default());
        };
        let identity = crate::store::safe_file::FileIdentity::of(
            &file.metadata().map_err(Error::io("read", &path))?,
        );
        let bytes = crate::store::safe_file::read_open(
            &file,
            &path,
            crate::store::safe_file::MAX_STORE_FILE,
        )?;
        let keys = KeyStore::from_json(path, bytes)?;
        *last_read = Some(KeyStoreRead {
            _open: file,
            identity,
            keys: keys.clone(),
        });
        Ok(keys)
    }

    /// Changes the store as one step: takes the lock, reads both files
    /// afresh (or finds `key_store.json` unchanged since this value read
    /// it), lets `change` edit them and list the events to log, writes
    /// back each file that changed, and appends the events to `audit.log`.
    /// If `change` fails, nothing is written.
    ///
    /// ```
    /// use secure_kms::store::audit::{Event, EventKind};
    /// use secure_kms::store::{Store, UserRecord};
    /// use secure_kms::user::UserId;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::new(dir.path());
    /// let alice = UserId::new("alice")?;
    /// store.update(|keys, _revoked, events| {
    ///     keys.insert(&alice, UserRecord::default());
    ///     events.push(Event::new(EventKind::Created, &alice, "example"));
    ///     Ok(())
    /// })?;
    /// assert!(store.load()?.0.get(&alice)?.is_some());
    /// assert_eq!(secure_kms::store::audit::verify(store.dir())?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Whatever `change` returns; [`Error::CorruptFile`] if a file does not
    /// parse; [`Error::Io`] if the folder, the lock or a file fails.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut KeyStore, &mut RevocationList, &mut Vec<Event>) -> Result<T>,
    ) -> Result<T> {
        self.update_with_ca_files(CrlRead::Required, |keys, revoked, events, _| {
            change(keys, revoked, events)
        })
    }

    /// [`Store::update`] for a change that also writes files of the
    /// certificate authority (`ca init`, a new CRL): `change` lists them,
    /// and they are written in the same journaled step as the key files
    /// and the log's lines. `crl` says whether a CRL the log records must
    /// be there ([`CrlRead::Required`]), or may be missing because this
    /// change signs its successor.
    ///
    /// # Errors
    /// As [`Store::update`].
    pub(crate) fn update_with_ca_files<T>(
        &self,
        crl: CrlRead,
        change: impl FnOnce(
            &mut KeyStore,
            &mut RevocationList,
            &mut Vec<Event>,
            &mut Vec<(&'static str, String)>,
        ) -> Result<T>,
    ) -> Result<T> {
        self.create_dir()?;
        let _lock = self.lock()?;
        Journal::recover(&self.dir)?;
        self.remove_stale_temporary_files();
        let (mut keys, stored_revoked) = self.load_as_stored_unlocked()?;
        let mut revoked = stored_revoked.clone();
        crate::ca::crl::add_signed_revocations(self, &keys, &mut revoked, crl)?;
        // What the list lacks and the CA's CRL revokes (an entry removed by
        // hand) is written back by this change, whatever else it does.
        let old_revoked = stored_revoked;
        // A change that cannot be logged is not made: the log's chain is
        // checked first.
        let log = crate::store::audit::Appender::open(&self.dir)?;
        let mut events = Vec::new();
        let mut ca_files = Vec::new();
        let out = change(&mut keys, &mut revoked, &mut events, &mut ca_files)?;
        let changed = keys.changed()?;
        let mut journal = Journal::new(
            (revoked != old_revoked).then(|| to_json(&revoked)),
            changed.then_some(Contents::Keys(keys)),
            ca_files,
            log.length(),
            log.render(&events),
        );
        if journal.is_empty() {
            return Ok(out);
        }
        // The commit point: from here the change is made, by this run or,
        // if it dies, by the next one.
        journal.commit(&self.dir)?;
        crash_point("journal");
        journal.apply(&self.dir)?;
        // The file now holds what was just written: a read that follows
        // (the session shows the store at its end) takes it from here.
        if let Some(keys) = journal.into_key_store() {
            self.remember(keys.into_written());
        }
        Ok(out)
    }

    /// Logs one event that changes nothing else (such as a failed password),
    /// under the store's lock.
    ///
    /// # Errors
    /// As [`Store::update`].
    pub fn log(&self, event: Event) -> Result<()> {
        self.update(|_, _, events| {
            events.push(event);
            Ok(())
        })
    }

    /// A warning if the store folder can be written by its group or by
    /// others: they could then replace or remove the files (though not read
    /// the keys, which are wrapped; and every use of a key checks the
    /// files against the log, whose chain has no key, so a consistent
    /// rewrite of both is not caught).
    /// The folder secure-kms creates is 0700; this catches one moved into
    /// a shared place, or created by hand.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = secure_kms::store::Store::new(dir.path());
    /// std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    /// assert!(store.loose_permissions().is_none());
    /// std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
    /// assert!(store.loose_permissions().unwrap().contains("chmod 700"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loose_permissions(&self) -> Option<String> {
        let mode = fs::metadata(&self.dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o022 != 0).then(|| {
            format!(
                "the store folder {} can be written by {} (mode {mode:o}): they could replace or delete the key files; run: chmod 700 {}",
                self.dir.display(),
                match mode & 0o022 {
                    0o020 => "its group",
                    0o002 => "any user",
                    _ => "its group and any user",
                },
                self.dir.display()
            )
        })
    }

    /// Refuses a folder that does not exist, for commands that only read: a
    /// mistyped `--store` should not look like an empty store.
    ///
    /// # Errors
    /// [`Error::NoStore`].
    pub fn require_existing(&self) -> Result<()> {
        if self.dir.is_dir() {
            Ok(())
        } else {
            Err(Error::NoStore(self.dir.clone()))
        }
    }

    /// Checks, leaving nothing behind, that the store could be written: the
    /// folder, or the nearest folder above it that exists, takes a
    /// temporary file. So an unwritable store is reported before any work
    /// is done, and a run that then stops has written nothing at all.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// secure_kms::store::Store::new(dir.path().join("new/kms")).check_writable()?;
    /// assert!(!dir.path().join("new").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when that folder is not a folder or cannot be written.
    pub fn check_writable(&self) -> Result<()> {
        let mut probe: &Path = &self.dir;
        while !probe.as_os_str().is_empty() && fs::symlink_metadata(probe).is_err() {
            probe = probe.parent().unwrap_or(Path::new(""));
        }
        if probe.as_os_str().is_empty() {
            probe = Path::new(".");
        }
        // An unnamed temporary file, removed when dropped.
        tempfile::tempfile_in(probe)
            .map(drop)
            .map_err(|source| Error::Io {
                action: "write in",
                path: probe.to_owned(),
                source,
            })
    }

    fn create_dir(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| Error::Io {
                action: "create the store folder",
                path: self.dir.clone(),
                source,
            })
    }

    /// Blocks until no change is being made, and holds the store's lock
    /// shared until the returned file is dropped. A change that a crashed
    /// run committed but did not finish is finished first, under the
    /// exclusive lock. A folder with no store files yet is read without a
    /// lock (and none is made); so is a store with no lock file that this
    /// user cannot create one in: nobody can be changing it.
    fn read_lock(&self) -> Result<Option<File>> {
        if !self.dir.is_dir() {
            return Ok(None);
        }
        let path = self.dir.join(LOCK_FILE);
        let file = match crate::store::safe_file::open_read(&path)? {
            Some(file) => file,
            // No store yet: nothing to read, and no lock file made for it.
            None if fs::symlink_metadata(self.key_store_path()).is_err()
                && fs::symlink_metadata(self.revoked_keys_path()).is_err() =>
            {
                return Ok(None);
            }
            None => match self.lock_file() {
                Ok(file) => file,
                Err(e @ (Error::SymbolicLink(_) | Error::RefusedStoreFile { .. })) => {
                    return Err(e);
                }
                Err(_) => return Ok(None),
            },
        };
        file.lock_shared().map_err(|source| Error::Io {
            action: "lock",
            path: path.clone(),
            source,
        })?;
        // A reader never finishes a change: that writes, and a command
        // that only reads writes nothing, whatever the folder holds. It
        // notes the journal (the binary reports it), and reads the files
        // as they are, with the revocations the change would add.
        if crate::store::journal::pending(&self.dir) {
            self.unfinished
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Some(file))
    }

    /// Removes the temporary files of writes that a killed run left (a
    /// write that finishes renames its file away). The caller holds the
    /// exclusive lock, so no write is under way. Best effort: a file that
    /// cannot be removed only takes space.
    fn remove_stale_temporary_files(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(STORE_TEMP_PREFIX) && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Opens (creating it if needed) the lock file: never through a
    /// symbolic link, and only a regular file of this user.
    fn lock_file(&self) -> Result<File> {
        crate::store::safe_file::open_write(&self.dir.join(LOCK_FILE))
    }

    /// Blocks until this process holds the store's exclusive lock; the lock
    /// is released when the returned file is dropped, or when the process
    /// dies, so a crashed run never leaves a stale lock.
    fn lock(&self) -> Result<File> {
        let path = self.dir.join(LOCK_FILE);
        let io = |source| Error::Io {
            action: "lock",
            path: path.clone(),
            source,
        };
        let file = self.lock_file()?;
        file.lock().map_err(io)?;
        Ok(file)
    }
}

/// Reads a store file; `None` if it is missing (an empty store).
fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    crate::store::safe_file::read(path, crate::store::safe_file::MAX_STORE_FILE)
}

/// Parses a store file's bytes; `path` names it in the error.
fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T> {
    refuse_bom(path, bytes)?;
    serde_json::from_slice(bytes).map_err(|source| Error::CorruptFile {
        path: path.to_owned(),
        source,
    })
}

/// Refuses a file that starts with a byte order mark, with a message that
/// says so (serde_json's would point at an odd character).
fn refuse_bom(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.starts_with(b"\xef\xbb\xbf") {
        return Err(Error::CorruptFile {
            path: path.to_owned(),
            source: serde::de::Error::custom(
                "it starts with a UTF-8 byte order mark (BOM), which JSON does not allow; save it without one",
            ),
        });
    }
    Ok(())
}

/// Parses the bytes of `key_store.json` and `revoked_keys.json` with every
/// check [`Store::load`] makes, and every record's (which `load` leaves to
/// first use), and migrates the list as it does: the entry point for
/// fuzzing the store's parsers.
///
/// ```
/// let (keys, revoked) = secure_kms::store::parse(b"{}", b"[]")?;
/// assert!(keys.is_empty() && revoked.is_empty());
/// assert!(secure_kms::store::parse(b"{\"alice\": 1}", b"[]").is_err());
/// # Ok::<(), secure_kms::Error>(())
/// ```
///
/// # Errors
/// [`Error::CorruptFile`] naming the file that does not parse.
pub fn parse(key_store: &[u8], revoked_keys: &[u8]) -> Result<(KeyStore, RevocationList)> {
    let keys = KeyStore::from_json(KEY_STORE_FILE, key_store.to_vec())?;
    keys.check_all()?;
    let mut revoked: RevocationList = parse_json(Path::new(REVOKED_KEYS_FILE), revoked_keys)?;
    revoked.migrate(&keys)?;
    Ok((keys, revoked))
}

/// Replaces `path` with `bytes` atomically: a 0600 temporary file in the same
/// folder, written and flushed to disk, renamed over `path`, then the folder
/// itself flushed so that the rename survives a power cut.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_beside(path, bytes)?;
    fs::rename(&tmp, path).map_err(Error::io("replace", path))?;
    sync_folder_of(path)
}

/// Flushes the folder holding `path` to disk, so that a rename or removal
/// of `path` survives a power cut.
pub(crate) fn sync_folder_of(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("flush the folder of", path))
}

/// What a change writes to one store file.
#[derive(Debug)]
pub(crate) enum Contents {
    /// The whole text.
    Text(String),
    /// The key store, written record by record ([`KeyStore::write_json`]).
    Keys(KeyStore),
}

impl Contents {
    /// Writes the contents to `out`; `path` names the file in errors.
    pub(crate) fn write_to(&self, out: &mut dyn Write, path: &Path) -> Result<()> {
        match self {
            Contents::Text(text) => out
                .write_all(text.as_bytes())
                .map_err(Error::io("write", path)),
            Contents::Keys(keys) => keys
                .write_json(out)
                .map_err(|e| Error::from_writer(e, Error::io("write", path))),
        }
    }
}

/// Writes `bytes` to a new file in `path`'s folder (mode 0600, named
/// [`STORE_TEMP_PREFIX`]...`.tmp`, flushed to disk) and keeps it: the first
/// half of [`write_atomic`], and how a change prepares its files.
pub(crate) fn write_beside(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    write_beside_with(path, |out| {
        out.write_all(bytes).map_err(Error::io("write", path))
    })
}

/// [`write_beside`], with the bytes written by `write` (through a buffer);
/// if it fails, the new file is removed.
pub(crate) fn write_beside_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |action| Error::io(action, path);
    let mut tmp = tempfile::Builder::new()
        .prefix(STORE_TEMP_PREFIX)
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io("create a temporary file beside"))?;
    let mut buffered = std::io::BufWriter::with_capacity(256 << 10, &mut tmp);
    write(&mut buffered)?;
    buffered.flush().map_err(io("write"))?;
    drop(buffered);
    tmp.as_file().sync_all().map_err(io("flush"))?;
    let (_, kept) = tmp
        .keep()
        .map_err(|e| io("keep a temporary file beside")(e.error))?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: Error) -> String {
        format!("{:#}", anyhow::Error::new(e))
    }

    /// The store `value` as a file, with every record checked.
    fn checked(value: serde_json::Value) -> std::result::Result<KeyStore, String> {
        let keys = KeyStore::from_json(KEY_STORE_FILE, serde_json::to_vec(&value).unwrap())
            .map_err(chain)?;
        keys.check_all().map_err(chain)?;
        Ok(keys)
    }

    #[test]
    fn timestamps_read_back_bit_for_bit() {
        // Expiry and creation times are part of the symmetric key's
        // associated data: a timestamp that changed in its last bit on the
        // way through the file would make the key fail to unwrap.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = 1.7e9 + (x % 1_000_000_000) as f64 / 1e6 + (x % 997) as f64 * 1e-7;
            let back: f64 = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
            assert_eq!(back.to_bits(), t.to_bits(), "{t}");
        }
    }

    #[test]
    fn missing_files_are_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, revoked) = Store::new(dir.path().join("nope")).load().unwrap();
        assert!(keys.is_empty() && revoked.is_empty());
    }

    #[test]
    fn a_broken_file_is_named_with_its_position_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let broken = b"{\n  \"alice\": {\n    \"format\": 1,\n  oops\n}\n";
        fs::write(store.key_store_path(), broken).unwrap();
        let err = store.update(|_, _, _| Ok(())).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::CorruptFile { .. }));
        assert!(msg.contains("key_store.json"), "{msg}");
        let chain = chain(err);
        assert!(chain.contains("line 4 column 3"), "{chain}");
        assert_eq!(fs::read(store.key_store_path()).unwrap(), broken);
    }

    #[test]
    fn unknown_format_and_bad_user_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let alice = UserId::new("alice").unwrap();
        fs::write(store.key_store_path(), r#"{"alice": {"format": 9}}"#).unwrap();
        let (keys, _) = store.load().unwrap();
        let err = chain(keys.get(&alice).unwrap_err());
        assert!(err.contains("format 9 is not understood"), "{err}");
        // The position is the file's, not the record's: after a record on
        // its own line, and after multi-byte characters on its line (for
        // serde_json, columns count bytes).
        assert!(err.contains("line 1 column 23"), "{err}");
        fs::write(store.key_store_path(), "{\"alice\":\n{\"format\": 9}}").unwrap();
        let err = chain(store.load().unwrap().0.get(&alice).unwrap_err());
        assert!(err.contains("line 2 column 13"), "{err}");
        fs::write(
            store.key_store_path(),
            r#"{"bob": {"x": "ééé"}, "alice": {"format": 9}}"#,
        )
        .unwrap();
        let err = chain(store.load().unwrap().0.get(&alice).unwrap_err());
        assert!(err.contains("line 1 column 47"), "{err}");
        fs::write(store.key_store_path(), r#"{"bad id": {"format": 1}}"#).unwrap();
        assert!(chain(store.load().unwrap_err()).contains("invalid user ID"));
    }

    #[test]
    fn unknown_fields_are_refused_so_that_a_rewrite_cannot_drop_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let alice = UserId::new("alice").unwrap();
        let pk = crate::kdf::test_key("pw");
        let mut keys = KeyStore::default();
        for _ in 0..2 {
            let key = crate::symmetric::generate_symmetric_key().unwrap();
            crate::symmetric::store_symmetric_key(&mut keys, &alice, &key, 60, &pk).unwrap();
        }
        let good: serde_json::Value = serde_json::from_str(&keys.to_json().unwrap()).unwrap();
        // The good file loads.
        fs::write(store.key_store_path(), keys.to_json().unwrap().as_bytes()).unwrap();
        assert_eq!(store.load().unwrap().0, keys);

        let mut misspelled = good.clone();
        let sym = misspelled["alice"]
            .as_object_mut()
            .unwrap()
            .remove("symmetric")
            .unwrap();
        misspelled["alice"]["symetric"] = sym;
        let mut extra_in_flattened = good.clone();
        extra_in_flattened["alice"]["previous"]["symmetric"][0]["wrapped"]["rotation"] = 5.into();
        let mut extra_in_version = good.clone();
        extra_in_version["alice"]["previous"]["symmetric"][0]["state"] = "active".into();
        let mut extra_in_primary = good.clone();
        extra_in_primary["alice"]["symmetric"]["rotated"] = true.into();
        for (what, bad) in [
            ("symetric", misspelled),
            ("rotation", extra_in_flattened),
            ("state", extra_in_version),
            ("rotated", extra_in_primary),
        ] {
            let text = serde_json::to_string_pretty(&bad).unwrap();
            fs::write(store.key_store_path(), &text).unwrap();
            // A change to alice parses her record, and is refused.
            let err = chain(
                store
                    .update(|keys, _, _| keys.entry(&alice).map(drop))
                    .unwrap_err(),
            );
            assert!(err.contains(&format!("unknown field `{what}`")), "{err}");
            assert_eq!(fs::read_to_string(store.key_store_path()).unwrap(), text);
            // So is a change to another user when alice's record, laid out
            // otherwise than this version writes (here on one line), would
            // be written anew.
            let text = serde_json::to_string(&bad).unwrap();
            fs::write(store.key_store_path(), &text).unwrap();
            let err = chain(
                store
                    .update(|keys, _, _| {
                        keys.insert(&UserId::new("bob")?, UserRecord::default());
                        Ok(())
                    })
                    .unwrap_err(),
            );
            assert!(err.contains(&format!("unknown field `{what}`")), "{err}");
            assert_eq!(fs::read_to_string(store.key_store_path()).unwrap(), text);
            // The new file, refused part-way through, is gone.
            let left: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(STORE_TEMP_PREFIX))
                .collect();
            assert!(left.is_empty(), "{left:?}");
        }
        // Laid out as this version writes it, an unknown field in alice's
        // record is kept byte for byte when bob is added.
        let written = keys.to_json().unwrap();
        let edited = written.replacen("\"symmetric\"", "\"symetric\"", 1);
        fs::write(store.key_store_path(), &edited).unwrap();
        store
            .update(|keys, _, _| {
                keys.insert(&UserId::new("bob")?, UserRecord::default());
                Ok(())
            })
            .unwrap();
        let after = fs::read_to_string(store.key_store_path()).unwrap();
        let alice_text = &edited[edited.find("\"alice\"").unwrap()..edited.rfind('}').unwrap()];
        assert!(after.contains(alice_text.trim_end()), "{after}");
        assert!(after.contains("\"bob\""));
        fs::write(store.key_store_path(), keys.to_json().unwrap().as_bytes()).unwrap();
        fs::write(
            store.revoked_keys_path(),
            r#"[{"format": 1, "user_id": "a", "revoked_at": 1.0, "reason": "unspecified", "note": "x"}]"#,
        )
        .unwrap();
        assert!(chain(store.load().unwrap_err()).contains("unknown field `note`"));
    }

    #[test]
    fn reordered_versions_and_mixed_formats_are_refused() {
        let alice = UserId::new("alice").unwrap();
        let pk = crate::kdf::test_key("pw");
        let mut keys = KeyStore::default();
        for _ in 0..2 {
            let key = crate::symmetric::generate_symmetric_key().unwrap();
            crate::symmetric::store_symmetric_key(&mut keys, &alice, &key, 60, &pk).unwrap();
        }
        let good: serde_json::Value = serde_json::from_str(&keys.to_json().unwrap()).unwrap();
        assert_eq!(checked(good.clone()).unwrap(), keys);

        let mut swapped = good.clone();
        swapped["alice"]["previous"]["symmetric"][0]["version"] = 2.into();
        swapped["alice"]["symmetric"]["version"] = 1.into();
        let err = checked(swapped).unwrap_err().to_string();
        assert!(err.contains("version 1 follows version 2"), "{err}");

        let mut backwards = good.clone();
        backwards["alice"]["symmetric"]["expiry"] = 1.0.into();
        let err = checked(backwards).unwrap_err().to_string();
        assert!(
            err.contains("symmetric key version 2 expires before it was made"),
            "{err}"
        );

        let mut old_binding = good.clone();
        old_binding["alice"]["symmetric"]["binding"] = 1.into();
        let err = checked(old_binding).unwrap_err().to_string();
        assert!(err.contains("version 2 has binding 1"), "{err}");

        let mut unnamed = good.clone();
        unnamed["alice"]["symmetric"]
            .as_object_mut()
            .unwrap()
            .remove("version");
        let err = checked(unnamed).unwrap_err().to_string();
        assert!(err.contains("names its `version` and `binding`"), "{err}");

        let mut mixed = good.clone();
        mixed["alice"]["asymmetric"] = serde_json::json!([]);
        let err = checked(mixed).unwrap_err().to_string();
        assert!(
            err.contains("format 3 record cannot hold `asymmetric`"),
            "{err}"
        );

        let mut half_a_pair = good.clone();
        half_a_pair["alice"]["private"] =
            good["alice"]["previous"]["symmetric"][0]["wrapped"].clone();
        let err = checked(half_a_pair).unwrap_err().to_string();
        assert!(
            err.contains("`private`, `public` and `key_pair` together"),
            "{err}"
        );

        let mut format_2 = good.clone();
        format_2["alice"]["format"] = 2.into();
        let err = checked(format_2).unwrap_err().to_string();
        assert!(
            err.contains("format 2 record cannot hold `previous`"),
            "{err}"
        );

        let mut old_shape = good.clone();
        old_shape["alice"]["format"] = 1.into();
        old_shape["alice"]
            .as_object_mut()
            .unwrap()
            .remove("previous");
        let err = checked(old_shape).unwrap_err().to_string();
        assert!(
            err.contains("format 1 record cannot hold `symmetric`"),
            "{err}"
        );
    }

    #[test]
    fn an_rsa_key_id_that_is_not_its_public_keys_is_refused() {
        let alice = UserId::new("alice").unwrap();
        let pk = crate::kdf::test_key("pw");
        let mut keys = KeyStore::default();
        let (private_key, public_key) = crate::pki::generate_asymmetric_keys().unwrap();
        crate::pki::store_asymmetric_keys(&mut keys, &alice, &private_key, &public_key, 60, &pk)
            .unwrap();
        let mut edited: serde_json::Value = serde_json::from_str(&keys.to_json().unwrap()).unwrap();
        edited["alice"]["key_pair"]["fingerprint"] = "ab".repeat(32).into();
        let err = checked(edited).unwrap_err().to_string();
        assert!(err.contains("but its public key's SHA-256 is"), "{err}");
    }

    /// The library's `store_symmetric_key` then `store_asymmetric_keys` (the
    /// original's two calls) give one version number to the pair they make.
    /// (`commands::add_version`, used by rotation, numbers both itself.)
    #[test]
    fn the_next_version_pairs_the_two_rings() {
        assert_eq!(next_version(0, 0), 1);
        // The symmetric key of a rotation is stored first...
        assert_eq!(next_version(3, 3), 4);
        // ...and the RSA pair takes the same number.
        assert_eq!(next_version(3, 4), 4);
        // A ring that lost step (a format 1 record without an RSA pair).
        assert_eq!(next_version(0, 1), 1);
        assert_eq!(next_version(1, 0), 2);
    }

    #[test]
    fn writes_are_0600_and_only_changed_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("kms"));
        store
            .update(|keys, _, _| {
                keys.insert(&UserId::new("alice")?, UserRecord::default());
                Ok(())
            })
            .unwrap();
        let meta = fs::metadata(store.key_store_path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(!store.revoked_keys_path().exists());
        let leftovers: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn symbolic_links_are_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        fs::write(&real, "{}").unwrap();
        let store = Store::new(dir.path().join("kms"));
        fs::create_dir(store.dir()).unwrap();
        std::os::unix::fs::symlink(&real, store.key_store_path()).unwrap();
        let err = store.update(|_, _, _| Ok(())).unwrap_err();
        assert!(matches!(err, Error::SymbolicLink(_)), "{err}");
        assert!(
            fs::symlink_metadata(store.key_store_path())
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn an_empty_store_path_is_the_current_folder() {
        assert_eq!(
            Store::new("").key_store_path(),
            Path::new("./key_store.json")
        );
    }

    #[test]
    fn checking_writability_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        Store::new(dir.path().join("a/b/c"))
            .check_writable()
            .unwrap();
        Store::new(dir.path()).check_writable().unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        fs::write(dir.path().join("file"), "").unwrap();
        let err = Store::new(dir.path().join("file/kms"))
            .check_writable()
            .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    #[test]
    fn a_failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let r: Result<()> = store.update(|keys, _, _| {
            keys.insert(&UserId::new("alice")?, UserRecord::default());
            Err(Error::EmptyPassword)
        });
        assert!(r.is_err());
        assert!(!store.key_store_path().exists());
    }

    #[test]
    fn a_second_read_of_an_unchanged_file_is_the_first_and_any_change_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Store::new(dir.path()), Store::new(dir.path()));
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        let add = |store: &Store, id: &UserId| {
            store
                .update(|keys, _, _| {
                    keys.insert(id, UserRecord::default());
                    Ok(())
                })
                .unwrap()
        };
        add(&a, &alice);
        // What a wrote, it reads back as the file holds it.
        let text = fs::read_to_string(a.key_store_path()).unwrap();
        let (keys, _) = a.load().unwrap();
        assert_eq!(keys.to_json().unwrap(), text);
        assert_eq!(keys.get(&alice).unwrap(), Some(&UserRecord::default()));
        // Another writer's change (a new file, renamed over) is seen.
        add(&b, &bob);
        assert!(a.load().unwrap().0.get(&bob).unwrap().is_some());
        assert!(b.load().unwrap().0.get(&bob).unwrap().is_some());
        // So is an edit made in place, of the same size (after a pause, so
        // that the file's change time moves on coarse clocks too).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let edited = fs::read_to_string(a.key_store_path())
            .unwrap()
            .replacen("\"bob\"", "\"bod\"", 1);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .open(a.key_store_path())
            .unwrap();
        file.write_all(edited.as_bytes()).unwrap();
        drop(file);
        let (keys, _) = a.load().unwrap();
        assert!(keys.get(&bob).unwrap().is_none());
        assert!(keys.get(&UserId::new("bod").unwrap()).unwrap().is_some());
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::thread::scope(|s| {
            for i in 0..8 {
                let store = store.clone();
                s.spawn(move || {
                    store
                        .update(|keys, _, _| {
                            keys.insert(&UserId::new(&format!("user{i}"))?, UserRecord::default());
                            Ok(())
                        })
                        .unwrap();
                });
            }
        });
        assert_eq!(store.load().unwrap().0.user_ids().count(), 8);
    }
}
