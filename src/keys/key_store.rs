//! `key_store.json` in memory: every user's record, each parsed the first
//! time it is asked for, and written back byte for byte when unchanged.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use rsa::{PrivateKey, PublicKey};

use crate::crypto::kdf::PasswordKey;
use crate::keys::record::UserRecord;
use crate::pki::store_asymmetric_keys;
use crate::symmetric::{SymmetricKey, store_symmetric_key};
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{Error, Result, StoreError, UiError};

/// The key store file name, as in the original.
pub const KEY_STORE_FILE: &str = "key_store.json";

/// The contents of `key_store.json`: user ID to record, in ID order.
///
/// Loading checks the file's JSON and its user IDs, and keeps each record
/// as the text it is in the file; a record is parsed, with every check, the
/// first time it is asked for. A single-user command on a store of 10,000
/// users so parses one record, not 10,000 (docs/BENCHMARKS.md, "Store scale").
/// Writing copies the records nobody changed back as they were, byte for
/// byte, and serialises only the others.
///
/// ```
/// use secure_kms::keys::{KeyStore, UserRecord};
/// use secure_kms::util::user::UserId;
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
    /// Adds `key` as the next symmetric key version of `user_id` (the first
    /// for a new user), made now (never before the version before it) and
    /// expiring `expiry_time` seconds later: [`store_symmetric_key`], then
    /// the record. Returns the version. (The subcommands number both rings
    /// together, in [`crate::store::versions::add_version`].)
    ///
    /// ```
    /// use secure_kms::keys::KeyStore;
    /// use secure_kms::symmetric::generate_symmetric_key;
    /// use secure_kms::util::user::UserId;
    ///
    /// # let pk = secure_kms::crypto::kdf::PasswordKey::derive(&secure_kms::crypto::kdf::Password::new("pw".to_owned())?, &secure_kms::crypto::kdf::KdfParams::generate(secure_kms::crypto::kdf::MIN_ITERATIONS)?);
    /// let mut keys = KeyStore::default();
    /// let alice = UserId::new("alice")?;
    /// assert_eq!(keys.add_symmetric(&alice, &generate_symmetric_key()?, 3600, &pk)?, 1);
    /// assert_eq!(keys.add_symmetric(&alice, &generate_symmetric_key()?, 3600, &pk)?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`store_symmetric_key`]; [`StoreError::CorruptFile`] for a broken
    /// record of `user_id`.
    pub fn add_symmetric(
        &mut self,
        user_id: &UserId,
        key: &SymmetricKey,
        expiry_time: u64,
        password_key: &PasswordKey,
    ) -> Result<u32> {
        let record = self.get(user_id)?;
        let version = record.map_or(1, UserRecord::next_symmetric_version);
        let last = record
            .and_then(|r| r.symmetric.last())
            .map_or(Timestamp::EPOCH, |v| v.created);
        let stored = store_symmetric_key(
            user_id,
            version,
            key,
            time::now().max(last),
            expiry_time,
            password_key,
        )?;
        self.entry(user_id)?.symmetric.push(stored);
        Ok(version)
    }

    /// Adds a key pair as the next RSA key version of `user_id`, as
    /// [`KeyStore::add_symmetric`] adds a symmetric key:
    /// [`store_asymmetric_keys`], then the record. Returns the version.
    ///
    /// # Errors
    /// As [`store_asymmetric_keys`]; [`StoreError::CorruptFile`] for a broken
    /// record of `user_id`.
    pub fn add_asymmetric(
        &mut self,
        user_id: &UserId,
        private_key: &PrivateKey,
        public_key: &PublicKey,
        expiry_time: u64,
        password_key: &PasswordKey,
    ) -> Result<u32> {
        let record = self.get(user_id)?;
        let version = record.map_or(1, UserRecord::next_asymmetric_version);
        let last = record
            .and_then(|r| r.asymmetric.last())
            .map_or(Timestamp::EPOCH, |v| v.created);
        let stored = store_asymmetric_keys(
            user_id,
            version,
            private_key,
            public_key,
            time::now().max(last),
            expiry_time,
            password_key,
        )?;
        self.entry(user_id)?.asymmetric.push(stored);
        Ok(version)
    }

    /// Reads the text of `key_store.json` (named `path` in errors): checks
    /// that it is a JSON object of valid, distinct user IDs, and keeps each
    /// record to parse when it is asked for.
    ///
    /// # Errors
    /// [`StoreError::CorruptFile`], naming `path` with the line and the column.
    pub fn from_json(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<KeyStore> {
        let path = path.into();
        let corrupt = |source| {
            Error::Store(StoreError::CorruptFile {
                path: path.clone(),
                source,
            })
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
    /// [`StoreError::CorruptFile`] if that record is broken.
    pub fn get(&self, user_id: &UserId) -> Result<Option<&UserRecord>> {
        match self.users.get(user_id.as_str()) {
            Some(slot) => self.parsed(slot).map(Some),
            None => Ok(None),
        }
    }

    /// The record of `user_id`, who must be in the store.
    ///
    /// # Errors
    /// [`KeyError::UnknownUser`](crate::KeyError::UnknownUser) for a user
    /// the store does not hold; as [`KeyStore::get`].
    pub fn require(&self, user_id: &UserId) -> Result<&UserRecord> {
        self.get(user_id)?
            .ok_or_else(|| Error::Key(crate::KeyError::UnknownUser(user_id.to_string())))
    }

    /// The record of `user_id` to change, made empty first if there is none.
    ///
    /// # Errors
    /// [`StoreError::CorruptFile`] if that record is broken.
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
    /// [`StoreError::CorruptFile`] for the first broken record.
    pub(crate) fn check_all(&self) -> Result<()> {
        self.users
            .values()
            .try_for_each(|slot| self.parsed(slot).map(drop))
    }

    /// Whether a record was changed since the file was read.
    ///
    /// # Errors
    /// [`StoreError::CorruptFile`] if a record handed out cannot be compared
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
    /// [`StoreError::CorruptFile`] for a broken record that has to be written
    /// anew (one in format 1, or not as this version writes it).
    pub fn to_json(&self) -> Result<String> {
        let mut out = Vec::with_capacity(self.text.len() + 4096);
        self.write_json(&mut out)
            .map_err(|e| Error::from_writer(e, |e| Error::Ui(UiError::Output(e))))?;
        Ok(String::from_utf8(out).expect("the store writes UTF-8"))
    }

    /// Writes [`KeyStore::to_json`] to `out` piece by piece, each untouched
    /// record straight from the text it was read from: a change to one
    /// user of a large store, or showing it, makes no copy of the file in
    /// memory. The text ends with a new line.
    ///
    /// # Errors
    /// The writer's error; a broken record that has to be written anew
    /// comes as an [`std::io::Error::other`] holding an [`Error`], namely
    /// `Error::Store(StoreError::CorruptFile)`.
    ///
    /// One record of it is [`KeyStore::record_text`].
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
            let text = self.slot_text(slot).map_err(std::io::Error::other)?;
            out.write_all(text.as_bytes())?;
        }
        out.write_all(b"\n}\n")
    }

    /// The record of `user_id` as [`KeyStore::write_json`] writes it in the
    /// file (after `"user": `, each line after the first indented by two
    /// spaces); `None` for a user the store does not hold. Only this record
    /// is parsed, if it must be written anew.
    ///
    /// # Errors
    /// [`StoreError::CorruptFile`] if the record is broken.
    pub fn record_text(&self, user_id: &UserId) -> Result<Option<String>> {
        match self.users.get(user_id.as_str()) {
            Some(slot) => Ok(Some(self.slot_text(slot)?.into_owned())),
            None => Ok(None),
        }
    }

    /// The text of one record in the file: as it was read, where it is
    /// written back so, else the parsed record laid out anew.
    fn slot_text<'a>(&'a self, slot: &'a Slot) -> Result<std::borrow::Cow<'a, str>> {
        Ok(match self.kept_as_read(slot) {
            Some(raw) => std::borrow::Cow::Borrowed(&self.text[raw]),
            None => std::borrow::Cow::Owned(
                serde_json::to_string_pretty(self.parsed(slot)?)
                    .expect("store types always serialise")
                    .replace('\n', "\n  "),
            ),
        })
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
    pub(crate) fn into_written(mut self) -> KeyStore {
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
        Error::Store(StoreError::CorruptFile {
            path: path.to_owned(),
            source,
        })
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

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("store types always serialise");
    s.push('\n');
    s
}

/// Refuses a file that starts with a byte order mark, with a message that
/// says so (serde_json's would point at an odd character).
pub(crate) fn refuse_bom(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.starts_with(b"\xef\xbb\xbf") {
        return Err(Error::Store(StoreError::CorruptFile {
            path: path.to_owned(),
            source: serde::de::Error::custom(
                "it starts with a UTF-8 byte order mark (BOM), which JSON does not allow; save it without one",
            ),
        }));
    }
    Ok(())
}
