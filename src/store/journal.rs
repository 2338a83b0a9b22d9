//! The commit record that makes one change to the store's files atomic.
//!
//! A change touches up to three files: `revoked_keys.json` and
//! `key_store.json`, each replaced whole by rename, and `audit.log`, which
//! grows (and the certificate authority's files, when it makes them or
//! signs a CRL). No single rename covers all three, so a process killed between two
//! of them would leave a key rotated but not logged, or logged but not
//! revoked. Instead, every change first writes each new JSON file whole
//! beside the one it replaces (flushed), then `.secure-kms.journal`, which
//! names those files (with their SHA-256) and holds the log's lines; the
//! journal's rename is the commit point. Then the prepared files are renamed
//! into place, the lines appended, and the journal removed. Each byte of a
//! file is written once.
//!
//! Whoever next takes the store's lock and finds a journal finishes the
//! change it records before doing anything else ([`Journal::recover`]).
//! Applying a journal is idempotent: a prepared file already renamed is
//! checked against its hash instead, and the log is cut back to its
//! recorded length before the lines are appended, so applying it twice
//! gives the same bytes as applying it once. A crash at any moment
//! therefore leaves the old state (no journal yet) or the new one (a
//! journal, finished on the next run), never a mixture.

use std::fs;
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::revocation::RevocationList;
use crate::store::Attachment;
use crate::store::audit::AUDIT_FILE;
use crate::store::{
    Contents, KEY_STORE_FILE, KeyStore, REVOKED_KEYS_FILE, sync_folder_of, write_atomic,
    write_beside_with,
};
use crate::util::fingerprint::sha256_hex;
use crate::{Error, Result, StoreError};

/// The journal's file name, in the store folder.
pub const JOURNAL_FILE: &str = ".secure-kms.journal";

/// The journal format this version writes and reads.
const JOURNAL_FORMAT: u32 = 3;

/// The older journal format this version still finishes: a run that died
/// mid-change under the previous version leaves one.
const JOURNAL_FORMAT_2: u32 = 2;

/// A file written in full beside the one it replaces, flushed, waiting to
/// be renamed over it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Replacement {
    /// The prepared file's name, in the store folder.
    prepared: String,
    /// The file it replaces: `key_store.json`, `revoked_keys.json`, or
    /// one of the certificate authority's files.
    target: String,
    /// The prepared file's inode, size and modification time: once it has
    /// been renamed, the target is this file. (Format 3; it replaced a
    /// SHA-256 of the whole file, which cost more than writing a 30 MB
    /// store. The size and time tell it from a file made later that reuses
    /// the inode number of one deleted.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stamp: Option<Stamp>,
    /// SHA-256 of the prepared file, hex, as format 2 journals record it:
    /// once it has been renamed, the target must hold exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

/// What tells a file from any other in its folder, without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stamp {
    inode: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(path: &Path) -> Result<Self> {
        let m = fs::symlink_metadata(path).map_err(Error::io("read", path))?;
        Ok(Stamp {
            inode: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }
}

/// One change: the new JSON files (prepared beside the old ones, whole)
/// and the lines to add to the audit log at the length it had before.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Journal {
    format: u32,
    /// The files to rename into place, revocation list first.
    replace: Vec<Replacement>,
    /// The length of `audit.log` before the change.
    audit_length: u64,
    /// The lines the change adds to `audit.log`.
    audit_lines: String,
    /// The new files' text, which [`Journal::commit`] writes.
    #[serde(skip)]
    pending: Vec<(&'static str, Contents)>,
}

impl Journal {
    /// A journal for one change.
    pub(crate) fn new(
        revoked_keys: Option<String>,
        key_store: Option<Contents>,
        ca_files: Vec<(&'static str, String)>,
        audit_length: u64,
        audit_lines: String,
    ) -> Self {
        let mut pending = Vec::new();
        // The revocation list first: should anything stop between the two
        // renames, a key is revoked early rather than left usable.
        if let Some(text) = revoked_keys {
            pending.push((REVOKED_KEYS_FILE, Contents::Text(text)));
        }
        if let Some(contents) = key_store {
            pending.push((KEY_STORE_FILE, contents));
        }
        pending.extend(
            ca_files
                .into_iter()
                .map(|(name, text)| (name, Contents::Text(text))),
        );
        Journal {
            format: JOURNAL_FORMAT,
            replace: Vec::new(),
            audit_length,
            audit_lines,
            pending,
        }
    }

    /// Whether the change writes nothing at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.replace.is_empty() && self.audit_lines.is_empty()
    }

    /// Commits the change: writes each new file whole beside the one it
    /// replaces (mode 0600, flushed), then the journal naming them (by
    /// rename, flushed). From here on, the change happens even if this
    /// process dies. Each file's bytes are written once: applying the
    /// journal only renames them.
    ///
    /// # Errors
    /// [`UtilError::Io`](crate::UtilError::Io) if a file cannot be written (then nothing changed; a
    /// prepared file left behind is removed by the next change).
    pub(crate) fn commit(&mut self, dir: &Path) -> Result<()> {
        for (target, contents) in &self.pending {
            let path = dir.join(target);
            let prepared = write_beside_with(&path, |out| contents.write_to(out, &path))?;
            let stamp = Stamp::of(&prepared)?;
            self.replace.push(Replacement {
                prepared: prepared
                    .file_name()
                    .expect("a temporary file has a name")
                    .to_string_lossy()
                    .into_owned(),
                target: (*target).to_owned(),
                stamp: Some(stamp),
                sha256: None,
            });
        }
        let text = serde_json::to_string(self).expect("a journal always serialises");
        write_atomic(&dir.join(JOURNAL_FILE), text.as_bytes())
    }

    /// The key store this change writes, if it writes one.
    pub(crate) fn into_key_store(self) -> Option<KeyStore> {
        self.pending
            .into_iter()
            .find_map(|(_, contents)| match contents {
                Contents::Keys(keys) => Some(keys),
                Contents::Text(_) => None,
            })
    }

    /// Renames the prepared files into place, appends the log's lines, then
    /// removes the journal. A file already renamed (by a run that died
    /// after it) is checked against its recorded hash instead.
    ///
    /// # Errors
    /// [`UtilError::Io`](crate::UtilError::Io) if a file cannot be renamed or written;
    /// [`StoreError::BrokenJournal`] if a prepared file is gone and its target
    /// does not hold it; [`StoreError::AuditBroken`] if the log is shorter than
    /// it was when the change was committed.
    pub(crate) fn apply(&self, dir: &Path) -> Result<()> {
        for r in &self.replace {
            let (prepared, target) = (dir.join(&r.prepared), dir.join(&r.target));
            match fs::rename(&prepared, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    let renamed = match (r.stamp, &r.sha256) {
                        (Some(stamp), _) => Stamp::of(&target)? == stamp,
                        (None, Some(sha256)) => {
                            // As every store file: no link, no FIFO.
                            let now = crate::store::safe_file::read(
                                &target,
                                crate::store::safe_file::MAX_STORE_FILE,
                            )?
                            .unwrap_or_default();
                            sha256_hex(&now) == *sha256
                        }
                        (None, None) => false,
                    };
                    if !renamed {
                        return Err(Error::Store(StoreError::BrokenJournal {
                            path: dir.join(JOURNAL_FILE),
                            problem: format!(
                                "the prepared {} ({}) is gone, and {} is not it",
                                r.target, r.prepared, r.target
                            ),
                        }));
                    }
                }
                Err(source) => return Err(Error::io("replace", &target)(source)),
            }
            sync_folder_of(&target)?;
            crash_point(&r.target);
        }
        if !self.audit_lines.is_empty() {
            self.append_to_log(&dir.join(AUDIT_FILE))?;
            crash_point("audit.log");
        }
        let path = dir.join(JOURNAL_FILE);
        fs::remove_file(&path).map_err(Error::io("remove", &path))?;
        sync_folder_of(&path)
    }

    /// Cuts the log back to its length before the change (dropping any
    /// lines of this change a crash left, whole or in part) and appends
    /// the change's lines in one write.
    fn append_to_log(&self, path: &Path) -> Result<()> {
        let io = |action| Error::io(action, path);
        // Never through a link, and only into a regular file of this user:
        // a planted `audit.log -> ~/.bashrc` is refused, not cut.
        let mut file = crate::store::safe_file::open_write(path)?;
        let length = file.metadata().map_err(io("read"))?.len();
        if length < self.audit_length {
            return Err(Error::Store(StoreError::AuditBroken {
                line: 0,
                problem: format!(
                    "the log is {length} bytes, shorter than the {} bytes it had when the unfinished change in {JOURNAL_FILE} was made; it was cut",
                    self.audit_length
                ),
            }));
        }
        file.set_len(self.audit_length).map_err(io("write"))?;
        file.seek(SeekFrom::Start(self.audit_length))
            .map_err(io("write"))?;
        file.write_all(self.audit_lines.as_bytes())
            .map_err(io("write"))?;
        file.sync_all().map_err(io("flush"))
    }

    /// Finishes the change a crashed run committed, if there is one. The
    /// caller holds the store's exclusive lock.
    ///
    /// # Errors
    /// [`StoreError::BrokenJournal`] for a journal that does not parse, names a
    /// file it may not, or prepared a file that does not parse; otherwise
    /// as [`Journal::apply`].
    pub(crate) fn recover(dir: &Path, attachment: Option<&dyn Attachment>) -> Result<bool> {
        let Some(journal) = Journal::read_checked(dir, attachment)? else {
            return Ok(false);
        };
        journal.apply(dir)?;
        Ok(true)
    }

    /// The revocation list the unfinished change in `dir` would write, if
    /// there is such a change and it writes one: what a command that only
    /// reads adds to the list it reads, so that a revocation committed but
    /// not yet in place already counts. Nothing is written.
    ///
    /// # Errors
    /// As [`Journal::recover`], for a journal that could not be finished.
    pub(crate) fn pending_revocations(
        dir: &Path,
        attachment: Option<&dyn Attachment>,
    ) -> Result<Option<RevocationList>> {
        let Some(journal) = Journal::read_checked(dir, attachment)? else {
            return Ok(None);
        };
        let Some(r) = journal
            .replace
            .iter()
            .find(|r| r.target == REVOKED_KEYS_FILE)
        else {
            return Ok(None);
        };
        let prepared = dir.join(&r.prepared);
        let Some(bytes) =
            crate::store::safe_file::read(&prepared, crate::store::safe_file::MAX_STORE_FILE)?
        else {
            return Ok(None); // renamed already: the list holds it
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|source| {
            Error::Store(StoreError::CorruptFile {
                path: prepared,
                source,
            })
        })
    }

    /// Reads the journal in `dir`, if there is one, and checks everything
    /// about it that can be checked before a byte is written: the file
    /// itself (a regular 0600 file of this user, not a link), its format,
    /// the files it names (ours, each a regular file of this user that
    /// parses as what it replaces), and its log lines, which must chain
    /// onto the log as it was at the recorded length. Files other than
    /// the store's own must be `attachment`'s, and pass its check.
    fn read_checked(dir: &Path, attachment: Option<&dyn Attachment>) -> Result<Option<Journal>> {
        let path = dir.join(JOURNAL_FILE);
        let broken = |problem: String| {
            Error::Store(StoreError::BrokenJournal {
                path: path.clone(),
                problem,
            })
        };
        let Some(file) = crate::store::safe_file::open_read(&path)? else {
            return Ok(None);
        };
        crate::store::safe_file::check_ours(&file, &path).map_err(|e| broken(e.to_string()))?;
        let mode = file.metadata().map_err(Error::io("read", &path))?.mode() & 0o7777;
        if mode != 0o600 {
            return Err(broken(format!(
                "its mode is {mode:o}, and secure-kms writes its journal 0600"
            )));
        }
        let bytes = crate::store::safe_file::read_open(&file, &path, MAX_JOURNAL_BYTES)?;
        let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| broken(e.to_string()))?;
        if journal.format != JOURNAL_FORMAT && journal.format != JOURNAL_FORMAT_2 {
            return Err(broken(format!(
                "journal format {} is not one this version reads ({JOURNAL_FORMAT_2} and {JOURNAL_FORMAT})",
                journal.format
            )));
        }
        // What it renames must be one of ours, and parse as what it
        // replaces, so a forged journal can neither write outside the
        // store's files nor leave one that does not parse. (One that
        // parses but does not fit, such as a CRL with a bad signature, is
        // refused by every read, as if written by hand.)
        for r in &journal.replace {
            // A file of an attachment the store was opened without: not a
            // broken journal (moving it aside would lose a committed
            // change), but a store opened the wrong way.
            let known = [KEY_STORE_FILE, REVOKED_KEYS_FILE].contains(&r.target.as_str());
            if attachment.is_none() && !known && !r.target.contains('/') {
                return Err(Error::Store(StoreError::NotAttached(format!(
                    "the unfinished change in {JOURNAL_FILE} writes {:?}, which is not the key store's",
                    r.target
                ))));
            }
            let ours = r.prepared.starts_with(PREPARED_PREFIX)
                && !r.prepared.contains('/')
                && ([KEY_STORE_FILE, REVOKED_KEYS_FILE].contains(&r.target.as_str())
                    || attachment.is_some_and(|a| a.files().contains(&r.target.as_str())));
            if !ours {
                return Err(broken(format!(
                    "it names {:?} and {:?}",
                    r.prepared, r.target
                )));
            }
            let prepared = dir.join(&r.prepared);
            let Some(file) = crate::store::safe_file::open_read(&prepared)? else {
                continue; // renamed already: apply checks the stamp
            };
            crate::store::safe_file::check_ours(&file, &prepared)
                .map_err(|e| broken(e.to_string()))?;
            let text = crate::store::safe_file::read_open(
                &file,
                &prepared,
                crate::store::safe_file::MAX_STORE_FILE,
            )?;
            let parsed = if r.target == KEY_STORE_FILE {
                // As a load checks it: the JSON and the user IDs. (A change
                // copies a broken record it did not touch as it was.)
                KeyStore::from_json(KEY_STORE_FILE, text).map(drop)
            } else if r.target != REVOKED_KEYS_FILE
                && let Some(attachment) = attachment
            {
                attachment.check_file(&r.target, &text)
            } else {
                serde_json::from_slice::<RevocationList>(&text)
                    .map(drop)
                    .map_err(|source| {
                        Error::Store(StoreError::CorruptFile {
                            path: REVOKED_KEYS_FILE.into(),
                            source,
                        })
                    })
            };
            parsed.map_err(|e| {
                let why = match e {
                    Error::Store(StoreError::CorruptFile { source, .. }) => source.to_string(),
                    other => other.to_string(),
                };
                broken(format!("its prepared {}: {why}", r.target))
            })?;
        }
        journal.check_lines_chain_on(dir).map_err(broken)?;
        Ok(Some(journal))
    }

    /// Checks, before anything is cut, that the journal's lines are the
    /// ones a change made on this log: the log holds at least the recorded
    /// length, that length ends a line, and the log's first lines up to it
    /// followed by the journal's lines form one unbroken chain. So a
    /// planted journal cannot cut the log back, or append lines of its
    /// own.
    fn check_lines_chain_on(&self, dir: &Path) -> std::result::Result<(), String> {
        let log_path = dir.join(AUDIT_FILE);
        let log = crate::store::safe_file::read(&log_path, crate::store::safe_file::MAX_STORE_FILE)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let Ok(kept) = usize::try_from(self.audit_length) else {
            return Err("its recorded log length is not a length".into());
        };
        if kept > log.len() {
            return Err(format!(
                "it records a log of {kept} bytes, and {AUDIT_FILE} has {}: the log was cut",
                log.len()
            ));
        }
        if kept > 0 && log[kept - 1] != b'\n' {
            return Err(format!(
                "its recorded log length ({kept} bytes) is not the end of a line of {AUDIT_FILE}"
            ));
        }
        // What follows the recorded length can only be the start of this
        // change's own lines, which a crash cut short: anything else would
        // be cut off the log by the apply.
        if !self.audit_lines.as_bytes().starts_with(&log[kept..]) {
            return Err(format!(
                "{AUDIT_FILE} goes on past its recorded length ({kept} bytes) with lines that are not the lines this change adds: applying it would cut them off"
            ));
        }
        if self.audit_lines.is_empty() {
            return Ok(());
        }
        if !self.audit_lines.ends_with('\n') {
            return Err("its log lines do not end with a newline".into());
        }
        let mut joined = log[..kept].to_vec();
        joined.extend_from_slice(self.audit_lines.as_bytes());
        crate::store::audit::check_chain(&joined)
            .map(drop)
            .map_err(|e| format!("its log lines do not chain onto {AUDIT_FILE}: {e}"))
    }
}

/// The largest journal read: its log lines are a few events, each well
/// under a kilobyte.
const MAX_JOURNAL_BYTES: u64 = 16 << 20;

/// How prepared files' names begin. They are the store's temporary files:
/// one a killed run left before its journal was written is removed by the
/// next change.
pub(crate) const PREPARED_PREFIX: &str = ".secure-kms-store-";

/// Whether a journal waits to be finished in `dir`.
pub(crate) fn pending(dir: &Path) -> bool {
    fs::symlink_metadata(dir.join(JOURNAL_FILE)).is_ok()
}

/// A test hook: in debug builds, `SECURE_KMS_CRASH_AFTER=<point>` aborts
/// the process right after that step of a change, as a power cut would, so
/// the tests can check recovery after every step. The points are
/// `journal`, `revoked_keys.json`, `key_store.json` and `audit.log`.
pub(crate) fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("SECURE_KMS_CRASH_AFTER").is_some_and(|p| p == point) {
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

#[cfg(test)]
mod tests;
