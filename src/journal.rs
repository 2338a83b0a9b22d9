//! The commit record that makes one change to the store's three files
//! atomic.
//!
//! A change touches up to three files: `revoked_keys.json` and
//! `key_store.json`, each replaced whole by rename, and `audit.log`, which
//! grows. No single rename covers all three, so a process killed between two
//! of them would leave a key rotated but not logged, or logged but not
//! revoked. Instead, every change is first written in full to
//! `.secure-kms.journal` (by temporary file and rename, flushed): that
//! rename is the commit point. Then the three files are written, and the
//! journal is removed.
//!
//! Whoever next takes the store's lock and finds a journal finishes the
//! change it records before doing anything else ([`Journal::recover`]).
//! Applying a journal is idempotent: each JSON file is replaced by the
//! recorded text, and the log is cut back to its recorded length and the
//! recorded lines appended, so applying it twice gives the same bytes as
//! applying it once. A crash at any moment therefore leaves the old state
//! (no journal yet) or the new one (a journal, finished on the next run),
//! never a mixture.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audit::AUDIT_FILE;
use crate::revocation::RevocationList;
use crate::store::{KEY_STORE_FILE, KeyStore, REVOKED_KEYS_FILE, write_atomic};
use crate::{Error, Result};

/// The journal's file name, in the store folder.
pub const JOURNAL_FILE: &str = ".secure-kms.journal";

/// The journal format this version writes and reads.
const JOURNAL_FORMAT: u32 = 1;

/// One change, in full: the new text of each JSON file that changes, and
/// the lines to add to the audit log at the length it had before.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Journal {
    format: u32,
    /// The new `revoked_keys.json`, if it changes.
    revoked_keys: Option<String>,
    /// The new `key_store.json`, if it changes.
    key_store: Option<String>,
    /// The length of `audit.log` before the change.
    audit_length: u64,
    /// The lines the change adds to `audit.log`.
    audit_lines: String,
}

impl Journal {
    /// A journal for one change.
    pub(crate) fn new(
        revoked_keys: Option<String>,
        key_store: Option<String>,
        audit_length: u64,
        audit_lines: String,
    ) -> Self {
        Journal {
            format: JOURNAL_FORMAT,
            revoked_keys,
            key_store,
            audit_length,
            audit_lines,
        }
    }

    /// Whether the change writes nothing at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.revoked_keys.is_none() && self.key_store.is_none() && self.audit_lines.is_empty()
    }

    /// Commits the change: writes the journal, flushed, by rename. From
    /// here on, the change happens even if this process dies.
    ///
    /// # Errors
    /// [`Error::Io`] if the journal cannot be written (then nothing changed).
    pub(crate) fn commit(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string(self).expect("a journal always serialises");
        write_atomic(&dir.join(JOURNAL_FILE), text.as_bytes())
    }

    /// Writes the three files as the journal says, then removes it.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be written; [`Error::AuditBroken`] if
    /// the log is shorter than it was when the change was committed.
    pub(crate) fn apply(&self, dir: &Path) -> Result<()> {
        if let Some(text) = &self.revoked_keys {
            write_atomic(&dir.join(REVOKED_KEYS_FILE), text.as_bytes())?;
            crash_point("revoked_keys.json");
        }
        if let Some(text) = &self.key_store {
            write_atomic(&dir.join(KEY_STORE_FILE), text.as_bytes())?;
            crash_point("key_store.json");
        }
        if !self.audit_lines.is_empty() {
            self.append_to_log(&dir.join(AUDIT_FILE))?;
            crash_point("audit.log");
        }
        let path = dir.join(JOURNAL_FILE);
        fs::remove_file(&path).map_err(|source| Error::Io {
            action: "remove",
            path: path.clone(),
            source,
        })?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::Io {
                action: "flush the folder of",
                path,
                source,
            })
    }

    /// Cuts the log back to its length before the change (dropping any
    /// lines of this change a crash left, whole or in part) and appends
    /// the change's lines in one write.
    fn append_to_log(&self, path: &Path) -> Result<()> {
        let io = |action| {
            move |source| Error::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(io("open"))?;
        let length = file.metadata().map_err(io("read"))?.len();
        if length < self.audit_length {
            return Err(Error::AuditBroken {
                line: 0,
                problem: format!(
                    "the log is {length} bytes, shorter than the {} bytes it had when the unfinished change in {JOURNAL_FILE} was made; it was cut",
                    self.audit_length
                ),
            });
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
    /// [`Error::BrokenJournal`] for a journal that does not parse, or that
    /// holds a file that does not; otherwise as [`Journal::apply`].
    pub(crate) fn recover(dir: &Path) -> Result<bool> {
        let path = dir.join(JOURNAL_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let broken = |problem: String| Error::BrokenJournal {
            path: path.clone(),
            problem,
        };
        let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| broken(e.to_string()))?;
        if journal.format != JOURNAL_FORMAT {
            return Err(broken(format!(
                "journal format {} is not one this version reads ({JOURNAL_FORMAT})",
                journal.format
            )));
        }
        // What it holds must parse as what it replaces, so a forged journal
        // cannot write a file that the next run would refuse.
        if let Some(text) = &journal.revoked_keys {
            serde_json::from_str::<RevocationList>(text)
                .map_err(|e| broken(format!("its {REVOKED_KEYS_FILE}: {e}")))?;
        }
        if let Some(text) = &journal.key_store {
            serde_json::from_str::<KeyStore>(text)
                .map_err(|e| broken(format!("its {KEY_STORE_FILE}: {e}")))?;
        }
        journal.apply(dir)?;
        Ok(true)
    }
}

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
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn files(dir: &Path) -> Vec<Option<Vec<u8>>> {
        [REVOKED_KEYS_FILE, KEY_STORE_FILE, AUDIT_FILE, JOURNAL_FILE]
            .iter()
            .map(|name| fs::read(dir.join(name)).ok())
            .collect()
    }

    fn journal() -> Journal {
        Journal::new(
            Some("[]".to_owned()),
            Some("{}".to_owned()),
            5,
            "line 2\nline 3\n".to_owned(),
        )
    }

    /// A crash can stop `apply` after any write, the log's in the middle of
    /// a line; recovery from each of those states gives the bytes one
    /// uninterrupted apply gives.
    #[test]
    fn recovery_after_any_partial_apply_gives_the_same_files() {
        let whole = tempfile::tempdir().unwrap();
        fs::write(whole.path().join(AUDIT_FILE), "old.\n").unwrap();
        journal().commit(whole.path()).unwrap();
        journal().apply(whole.path()).unwrap();
        let expected = files(whole.path());
        assert_eq!(expected[3], None, "the journal is removed");
        let partial_logs = [
            "old.\n",
            "old.\nline",
            "old.\nline 2\n",
            "old.\nline 2\nline 3\n",
        ];
        for (i, log) in partial_logs.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(AUDIT_FILE), log).unwrap();
            if i >= 1 {
                fs::write(dir.path().join(REVOKED_KEYS_FILE), "[]").unwrap();
            }
            journal().commit(dir.path()).unwrap();
            assert!(pending(dir.path()));
            assert!(Journal::recover(dir.path()).unwrap(), "case {i}");
            assert_eq!(files(dir.path()), expected, "case {i}");
            // Nothing left to do.
            assert!(!Journal::recover(dir.path()).unwrap());
        }
        let mode = fs::metadata(whole.path().join(JOURNAL_FILE.replace(".journal", ".lock")))
            .map(|m| m.permissions().mode());
        assert!(mode.is_err(), "no lock file is made here");
        for name in [REVOKED_KEYS_FILE, KEY_STORE_FILE] {
            let mode = fs::metadata(whole.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn a_log_cut_below_the_recorded_length_is_reported_not_papered_over() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(AUDIT_FILE), "old.\n").unwrap();
        journal().commit(dir.path()).unwrap();
        fs::write(dir.path().join(AUDIT_FILE), "ol").unwrap();
        let err = Journal::recover(dir.path()).unwrap_err();
        assert!(matches!(err, Error::AuditBroken { .. }), "{err}");
        assert!(pending(dir.path()), "the journal is kept as evidence");
    }

    #[test]
    fn a_journal_holding_a_file_that_does_not_parse_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "not json".to_owned(),
            serde_json::to_string(&Journal::new(Some("{}".to_owned()), None, 0, String::new()))
                .unwrap(),
            serde_json::to_string(&Journal::new(
                None,
                Some("{\"alice\": 7}".to_owned()),
                0,
                String::new(),
            ))
            .unwrap(),
        ] {
            fs::write(dir.path().join(JOURNAL_FILE), &bad).unwrap();
            let err = Journal::recover(dir.path()).unwrap_err();
            assert!(matches!(err, Error::BrokenJournal { .. }), "{bad}: {err}");
            assert!(!dir.path().join(KEY_STORE_FILE).exists());
            assert!(!dir.path().join(REVOKED_KEYS_FILE).exists());
        }
    }
}
