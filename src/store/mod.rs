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
//!   state or the new one across all three (see docs/RELIABILITY.md);
//! - every change happens under an exclusive lock on `.secure-kms.lock`, and
//!   re-reads the files once the lock is held (or finds them unchanged since
//!   its own read), so two runs at once never lose each other's changes; every read holds the same lock shared, so it
//!   never sees one file before a change and the other after it.

mod attachment;
pub mod audit;
mod folder;
pub(crate) mod journal;
pub mod safe_file;
pub mod trust;
pub mod versions;

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use crate::keys::KeyStore;
use crate::keys::key_store::{refuse_bom, to_json};
use crate::keys::keyring::versions_named;
use crate::revocation::RevocationList;
use crate::store::audit::Event;
use crate::store::journal::{Journal, crash_point};
use crate::{Error, Result, StoreError, UtilError};

pub use attachment::{AttachedRead, Attachment};

/// The key store file name, as in the original.
pub use crate::keys::key_store::KEY_STORE_FILE;

/// The revocation list file name, as in the original.
pub const REVOKED_KEYS_FILE: &str = "revoked_keys.json";

/// How the temporary files of the store's writes begin, so that those a
/// killed run left behind can be told apart and removed.
const STORE_TEMP_PREFIX: &str = crate::store::journal::PREPARED_PREFIX;

/// The journal of a change being made (see docs/RELIABILITY.md, "Crashes").
pub use crate::store::journal::JOURNAL_FILE;

/// The lock file that serialises changes to the two files above.
pub const LOCK_FILE: &str = ".secure-kms.lock";
/// The store folder and its files.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// `key_store.json` as this value last read it (see [`KeyStoreRead`]).
    last_read: Mutex<Option<KeyStoreRead>>,
    /// Whether a read found a change that a crashed run committed and did
    /// not finish (see [`Store::unfinished_change`]).
    unfinished: std::sync::atomic::AtomicBool,
    /// The files another layer keeps here (the CA's), if any.
    attachment: Option<Arc<dyn Attachment>>,
}

/// A clone starts with nothing read, and keeps the attachment.
impl Clone for Store {
    fn clone(&self) -> Self {
        Store {
            attachment: self.attachment.clone(),
            ..Store::new(self.dir.clone())
        }
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
            attachment: None,
        }
    }

    /// This store, with `attachment`'s files kept and checked beside its
    /// own (the CA attaches itself: `crate::ca::open_store`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use secure_kms::store::{AttachedRead, Attachment, Store};
    /// use secure_kms::{keys::KeyStore, revocation::RevocationList, Result};
    ///
    /// /// One file of notes beside the key store, of any text.
    /// #[derive(Debug)]
    /// struct Notes;
    ///
    /// impl Attachment for Notes {
    ///     fn files(&self) -> &'static [&'static str] {
    ///         &["notes.txt"]
    ///     }
    ///     fn check_file(&self, _: &str, _: &[u8]) -> Result<()> {
    ///         Ok(())
    ///     }
    ///     fn add_revocations(
    ///         &self, _: &Store, _: &KeyStore, _: &mut RevocationList, _: AttachedRead,
    ///     ) -> Result<()> {
    ///         Ok(()) // notes revoke nothing
    ///     }
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::new(dir.path()).with_attachment(Arc::new(Notes));
    /// assert!(store.load()?.0.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_attachment(mut self, attachment: Arc<dyn Attachment>) -> Self {
        self.attachment = Some(attachment);
        self
    }

    fn attachment(&self) -> Option<&dyn Attachment> {
        self.attachment.as_deref()
    }

    /// Adds what the attachment alone records as revoked. A store opened
    /// without the attachment whose lines its log records refuses to go
    /// on: reading it as if it had none would skip the signed CRL.
    fn add_attached_revocations(
        &self,
        keys: &KeyStore,
        revoked: &mut RevocationList,
        read: AttachedRead,
    ) -> Result<()> {
        if let Some(attachment) = self.attachment() {
            return attachment.add_revocations(self, keys, revoked, read);
        }
        if read == AttachedRead::New {
            return Ok(());
        }
        match crate::store::audit::ca_history(&self.dir)?.first_line {
            Some(line) => Err(Error::Store(StoreError::NotAttached(format!(
                "audit.log line {line} records a certificate authority"
            )))),
            None => Ok(()),
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
    /// [`StoreError::CorruptFile`] for a file that does not parse, [`UtilError::Io`]
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
    pub(crate) fn load_with_log(
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
            && let Some(mut pending) = Journal::pending_revocations(&self.dir, self.attachment())?
        {
            crate::keys::migrate::revocations(&mut pending, |user| versions_named(&keys, user))?;
            for entry in pending.entries() {
                if !revoked.entries().contains(entry) {
                    revoked.push(entry.clone());
                }
            }
        }
        // With a CA, its signed CRL counts too: a certificate it revokes
        // stays revoked even if its entry was removed from the list.
        self.add_attached_revocations(&keys, &mut revoked, AttachedRead::Required)?;
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
        crate::keys::migrate::revocations(&mut revoked, |user| versions_named(&keys, user))?;
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
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Store(StoreError::SymbolicLink(path)));
            }
            Ok(m) => crate::store::safe_file::FileIdentity::of(&m),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                *last_read = None;
                return Ok(KeyStore::default());
            }
            Err(source) => {
                return Err(Error::Util(UtilError::Io {
                    action: "read",
                    path,
                    source,
                }));
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
    /// use secure_kms::keys::UserRecord;
    /// use secure_kms::store::Store;
    /// use secure_kms::util::user::UserId;
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
    /// Whatever `change` returns; [`StoreError::CorruptFile`] if a file does not
    /// parse; [`UtilError::Io`] if the folder, the lock or a file fails.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut KeyStore, &mut RevocationList, &mut Vec<Event>) -> Result<T>,
    ) -> Result<T> {
        self.update_with_files(AttachedRead::Required, |keys, revoked, events, _| {
            change(keys, revoked, events)
        })
    }

    /// [`Store::update`] for a change that also writes files of the
    /// attachment (the CA's `ca init`, a new CRL): `change` lists them, and
    /// they are written in the same journaled step as the key files and the
    /// log's lines. `read` says whether a file the log records must be
    /// there ([`AttachedRead::Required`]), or may be missing because this
    /// change writes its successor.
    ///
    /// # Errors
    /// As [`Store::update`].
    pub(crate) fn update_with_files<T>(
        &self,
        read: AttachedRead,
        change: impl FnOnce(
            &mut KeyStore,
            &mut RevocationList,
            &mut Vec<Event>,
            &mut Vec<(&'static str, String)>,
        ) -> Result<T>,
    ) -> Result<T> {
        self.create_dir()?;
        let _lock = self.lock()?;
        Journal::recover(&self.dir, self.attachment())?;
        self.remove_stale_temporary_files();
        let (mut keys, stored_revoked) = self.load_as_stored_unlocked()?;
        let mut revoked = stored_revoked.clone();
        self.add_attached_revocations(&keys, &mut revoked, read)?;
        // What the list lacks and the CA's CRL revokes (an entry removed by
        // hand) is written back by this change, whatever else it does.
        let old_revoked = stored_revoked;
        // A change that cannot be logged is not made: the log's chain is
        // checked first.
        let log = crate::store::audit::Appender::open(&self.dir)?;
        let mut events = Vec::new();
        let mut attached_files = Vec::new();
        let out = change(&mut keys, &mut revoked, &mut events, &mut attached_files)?;
        let changed = keys.changed()?;
        let mut journal = Journal::new(
            (revoked != old_revoked).then(|| to_json(&revoked)),
            changed.then_some(Contents::Keys(keys)),
            attached_files,
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
}

/// Reads a store file; `None` if it is missing (an empty store).
fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    crate::store::safe_file::read(path, crate::store::safe_file::MAX_STORE_FILE)
}

/// Parses a store file's bytes; `path` names it in the error.
fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T> {
    refuse_bom(path, bytes)?;
    serde_json::from_slice(bytes).map_err(|source| {
        Error::Store(StoreError::CorruptFile {
            path: path.to_owned(),
            source,
        })
    })
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
/// [`StoreError::CorruptFile`] naming the file that does not parse.
pub fn parse(key_store: &[u8], revoked_keys: &[u8]) -> Result<(KeyStore, RevocationList)> {
    let keys = KeyStore::from_json(KEY_STORE_FILE, key_store.to_vec())?;
    keys.check_all()?;
    let mut revoked: RevocationList = parse_json(Path::new(REVOKED_KEYS_FILE), revoked_keys)?;
    crate::keys::migrate::revocations(&mut revoked, |user| versions_named(&keys, user))?;
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
mod tests;
