//! The store on disk: `key_store.json` and `revoked_keys.json` in one folder.
//!
//! Both files keep the original script's shape. `key_store.json` maps each
//! user ID to `symmetric` (the wrapped key and its `expiry`), `private` (the
//! `salt` and the encrypted `key`) and `public` (a PEM), and each record
//! carries a `format` version so that later versions can migrate it.
//!
//! Safety on disk:
//! - a missing file is an empty store; a file that does not parse is never
//!   overwritten, and the error names the file, the line and the column;
//! - every write goes to a temporary file in the same folder (mode 0600),
//!   is flushed to disk, then renamed over the old file, so a crash leaves
//!   the old file or the new one, never a mixture;
//! - every change happens under an exclusive lock on `.secure-kms.lock`, and
//!   re-reads the files once the lock is held, so two runs at once never lose
//!   each other's changes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

use crate::pki::EncryptedPrivateKey;
use crate::revocation::RevocationList;
use crate::symmetric::SymmetricRecord;
use crate::user::UserId;
use crate::{Error, Result};

/// The key store file name, as in the original.
pub const KEY_STORE_FILE: &str = "key_store.json";

/// The revocation list file name, as in the original.
pub const REVOKED_KEYS_FILE: &str = "revoked_keys.json";

/// The lock file that serialises changes to the two files above.
pub const LOCK_FILE: &str = ".secure-kms.lock";

/// The record format this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One user's keys. Each part is optional, as in the original, where
/// `store_symmetric_key` and `store_asymmetric_keys` fill a record in turn.
///
/// Unknown fields are refused rather than ignored: a record is rewritten
/// whole, so a field this version does not know (a typo, or a newer
/// version's) would otherwise be dropped without a word.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// The record format; only [`FORMAT_VERSION`] is understood.
    #[serde(deserialize_with = "known_format")]
    pub format: u32,
    /// The wrapped symmetric key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetric: Option<SymmetricRecord>,
    /// The encrypted RSA private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<EncryptedPrivateKey>,
    /// The RSA public key, SubjectPublicKeyInfo PEM.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::pki::valid_public_pem"
    )]
    pub public: Option<String>,
}

impl UserRecord {
    /// Whether the record holds a secret key, which only its owner's
    /// password unlocks. (A public key alone protects nothing.)
    pub fn has_keys(&self) -> bool {
        self.symmetric.is_some() || self.private.is_some()
    }
}

impl Default for UserRecord {
    fn default() -> Self {
        UserRecord {
            format: FORMAT_VERSION,
            symmetric: None,
            private: None,
            public: None,
        }
    }
}

/// A flattened catch-all that refuses any field the surrounding struct did
/// not take. Records that flatten other structs cannot use
/// `#[serde(deny_unknown_fields)]`; this does the same job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoUnknownFields;

impl Serialize for NoUnknownFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for NoUnknownFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NoUnknownFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("no further fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                match map.next_key::<String>()? {
                    None => Ok(NoUnknownFields),
                    Some(key) => Err(A::Error::custom(format!(
                        "unknown field `{key}`: this secure-kms does not know it, and will not rewrite the file and lose it"
                    ))),
                }
            }
        }
        d.deserialize_map(Visitor)
    }
}

pub(crate) fn known_format<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == FORMAT_VERSION {
        Ok(v)
    } else {
        Err(D::Error::custom(format!(
            "format {v} is not understood by this secure-kms, which reads format {FORMAT_VERSION}"
        )))
    }
}

/// The contents of `key_store.json`: user ID to record, in ID order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct KeyStore {
    users: BTreeMap<String, UserRecord>,
}

impl<'de> Deserialize<'de> for KeyStore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = KeyStore;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object mapping user IDs to their keys")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeyStore, A::Error> {
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
                    let record = map.next_value::<UserRecord>()?;
                    users.insert(id, record);
                }
                Ok(KeyStore { users })
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl KeyStore {
    /// The record of `user_id`, if any.
    pub fn get(&self, user_id: &UserId) -> Option<&UserRecord> {
        self.users.get(user_id.as_str())
    }

    /// The record of `user_id`, made empty first if there is none.
    pub fn entry(&mut self, user_id: &UserId) -> &mut UserRecord {
        self.users.entry(user_id.to_string()).or_default()
    }

    /// Puts a whole record in place of any there was.
    pub fn insert(&mut self, user_id: &UserId, record: UserRecord) {
        self.users.insert(user_id.to_string(), record);
    }

    /// The user IDs, in order.
    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Whether the store holds no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The store as the file holds it: pretty-printed JSON.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("store types always serialise");
    s.push('\n');
    s
}

/// The store folder and its files.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
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
        Store { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `key_store.json`.
    pub fn key_store_path(&self) -> PathBuf {
        self.dir.join(KEY_STORE_FILE)
    }

    /// Path of `revoked_keys.json`.
    pub fn revoked_keys_path(&self) -> PathBuf {
        self.dir.join(REVOKED_KEYS_FILE)
    }

    /// Reads both files without locking: each is replaced whole by rename,
    /// so a reader always sees a complete file.
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
        Ok((
            read_json(&self.key_store_path())?,
            read_json(&self.revoked_keys_path())?,
        ))
    }

    /// Changes the store as one step: takes the lock, reads both files
    /// afresh, lets `change` edit them, and writes back each file that
    /// changed. If `change` fails, nothing is written.
    ///
    /// ```
    /// use secure_kms::store::{Store, UserRecord};
    /// use secure_kms::user::UserId;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::new(dir.path());
    /// store.update(|keys, _revoked| {
    ///     keys.insert(&UserId::new("alice")?, UserRecord::default());
    ///     Ok(())
    /// })?;
    /// assert!(store.load()?.0.get(&UserId::new("alice")?).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Whatever `change` returns; [`Error::CorruptFile`] if a file does not
    /// parse; [`Error::Io`] if the folder, the lock or a file fails.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut KeyStore, &mut RevocationList) -> Result<T>,
    ) -> Result<T> {
        self.create_dir()?;
        let _lock = self.lock()?;
        let (old_keys, old_revoked) = self.load()?;
        let (mut keys, mut revoked) = (old_keys.clone(), old_revoked.clone());
        let out = change(&mut keys, &mut revoked)?;
        // The revocation list first: if the run dies between the two writes,
        // a key is revoked early rather than left usable.
        if revoked != old_revoked {
            write_atomic(&self.revoked_keys_path(), to_json(&revoked).as_bytes())?;
        }
        if keys != old_keys {
            write_atomic(&self.key_store_path(), to_json(&keys).as_bytes())?;
        }
        Ok(out)
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
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }
}

/// Reads a JSON file; a missing file gives the empty value.
fn read_json<T: DeserializeOwned + Default>(path: &Path) -> Result<T> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::SymbolicLink(path.to_owned()));
    }
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(T::default()),
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path: path.to_owned(),
                source,
            });
        }
    };
    let corrupt = |source| Error::CorruptFile {
        path: path.to_owned(),
        source,
    };
    if bytes.starts_with(b"\xef\xbb\xbf") {
        return Err(corrupt(serde::de::Error::custom(
            "it starts with a UTF-8 byte order mark (BOM), which JSON does not allow; save it without one",
        )));
    }
    serde_json::from_slice(&bytes).map_err(corrupt)
}

/// Replaces `path` with `bytes` atomically: a 0600 temporary file in the same
/// folder, written and flushed to disk, renamed over `path`, then the folder
/// itself flushed so that the rename survives a power cut.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |action| {
        move |source| Error::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".secure-kms-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io("create a temporary file beside"))?;
    tmp.write_all(bytes).map_err(io("write"))?;
    tmp.as_file().sync_all().map_err(io("flush"))?;
    tmp.persist(path).map_err(|e| io("replace")(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("flush the folder of"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: Error) -> String {
        format!("{:#}", anyhow::Error::new(e))
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
        let err = store.update(|_, _| Ok(())).unwrap_err();
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
        fs::write(store.key_store_path(), r#"{"alice": {"format": 2}}"#).unwrap();
        assert!(chain(store.load().unwrap_err()).contains("format 2"));
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
        let key = crate::symmetric::generate_symmetric_key().unwrap();
        crate::symmetric::store_symmetric_key(&mut keys, &alice, &key, 60, &pk).unwrap();
        let good: serde_json::Value = serde_json::from_str(&keys.to_json()).unwrap();
        // The good file loads.
        fs::write(store.key_store_path(), keys.to_json()).unwrap();
        assert_eq!(store.load().unwrap().0, keys);

        let mut misspelled = good.clone();
        let sym = misspelled["alice"]
            .as_object_mut()
            .unwrap()
            .remove("symmetric")
            .unwrap();
        misspelled["alice"]["symetric"] = sym;
        let mut extra_in_flattened = good.clone();
        extra_in_flattened["alice"]["symmetric"]["rotation"] = 5.into();
        for (what, bad) in [("symetric", misspelled), ("rotation", extra_in_flattened)] {
            let text = serde_json::to_string_pretty(&bad).unwrap();
            fs::write(store.key_store_path(), &text).unwrap();
            let err = chain(store.update(|_, _| Ok(())).unwrap_err());
            assert!(err.contains(&format!("unknown field `{what}`")), "{err}");
            assert_eq!(fs::read_to_string(store.key_store_path()).unwrap(), text);
        }
        fs::write(store.key_store_path(), keys.to_json()).unwrap();
        fs::write(
            store.revoked_keys_path(),
            r#"[{"format": 1, "user_id": "a", "revoked_at": 1.0, "reason": "unspecified", "note": "x"}]"#,
        )
        .unwrap();
        assert!(chain(store.load().unwrap_err()).contains("unknown field `note`"));
    }

    #[test]
    fn writes_are_0600_and_only_changed_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("kms"));
        store
            .update(|keys, _| {
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
        let err = store.update(|_, _| Ok(())).unwrap_err();
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
        let r: Result<()> = store.update(|keys, _| {
            keys.insert(&UserId::new("alice")?, UserRecord::default());
            Err(Error::EmptyPassword)
        });
        assert!(r.is_err());
        assert!(!store.key_store_path().exists());
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
                        .update(|keys, _| {
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
