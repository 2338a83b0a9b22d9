//! The store folder itself: its permissions, its creation, the lock that
//! serialises changes, and the temporary files a killed run left.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::store::{LOCK_FILE, STORE_TEMP_PREFIX, Store};
use crate::{Error, Result, StoreError, UtilError};

impl Store {
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
    /// [`StoreError::NoStore`].
    pub(crate) fn require_existing(&self) -> Result<()> {
        if self.dir.is_dir() {
            Ok(())
        } else {
            Err(Error::Store(StoreError::NoStore(self.dir.clone())))
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
    /// [`UtilError::Io`] when that folder is not a folder or cannot be written.
    pub fn check_writable(&self) -> Result<()> {
        let mut probe: &Path = &self.dir;
        while !probe.as_os_str().is_empty() && fs::symlink_metadata(probe).is_err() {
            probe = probe.parent().unwrap_or(Path::new(""));
        }
        if probe.as_os_str().is_empty() {
            probe = Path::new(".");
        }
        // An unnamed temporary file, removed when dropped.
        tempfile::tempfile_in(probe).map(drop).map_err(|source| {
            Error::Util(UtilError::Io {
                action: "write in",
                path: probe.to_owned(),
                source,
            })
        })
    }

    pub(super) fn create_dir(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| {
                Error::Util(UtilError::Io {
                    action: "create the store folder",
                    path: self.dir.clone(),
                    source,
                })
            })
    }

    /// Blocks until no change is being made, and holds the store's lock
    /// shared until the returned file is dropped. A change that a crashed
    /// run committed but did not finish is finished first, under the
    /// exclusive lock. A folder with no store files yet is read without a
    /// lock (and none is made); so is a store with no lock file that this
    /// user cannot create one in: nobody can be changing it.
    pub(super) fn read_lock(&self) -> Result<Option<File>> {
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
                Err(
                    e @ (Error::Store(StoreError::SymbolicLink(_))
                    | Error::Store(StoreError::RefusedStoreFile { .. })),
                ) => {
                    return Err(e);
                }
                Err(_) => return Ok(None),
            },
        };
        file.lock_shared().map_err(|source| {
            Error::Util(UtilError::Io {
                action: "lock",
                path: path.clone(),
                source,
            })
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
    pub(super) fn remove_stale_temporary_files(&self) {
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
    pub(super) fn lock_file(&self) -> Result<File> {
        crate::store::safe_file::open_write(&self.dir.join(LOCK_FILE))
    }

    /// Blocks until this process holds the store's exclusive lock; the lock
    /// is released when the returned file is dropped, or when the process
    /// dies, so a crashed run never leaves a stale lock.
    pub(super) fn lock(&self) -> Result<File> {
        let path = self.dir.join(LOCK_FILE);
        let io = |source| {
            Error::Util(UtilError::Io {
                action: "lock",
                path: path.clone(),
                source,
            })
        };
        let file = self.lock_file()?;
        file.lock().map_err(io)?;
        Ok(file)
    }
}
