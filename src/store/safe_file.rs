//! Opening the store folder's files as hostile input.
//!
//! Whoever could write the store folder (a classmate's zip, a downloaded
//! folder, a shared drive) chose what each name in it is: a file, a
//! symbolic link to `~/.bashrc`, a hard link to it, a FIFO that never
//! answers, a device. So every file in the folder is opened here, and only
//! here, the same careful way:
//!
//! - **without following a symbolic link** (`O_NOFOLLOW`): a link is
//!   refused, never read or written through. Checking the path first and
//!   opening it after would leave a window in which the name can be
//!   swapped; the flag makes the open itself refuse;
//! - **without blocking** (`O_NONBLOCK`), so that a FIFO put in a file's
//!   place cannot hang the run before it is refused;
//! - then **checked on the open descriptor** (`fstat`, never by path):
//!   a regular file; and for a file the tool writes, one owned by the user
//!   running it with no other hard link, so that a write lands in the store
//!   file and nowhere else.
//!
//! New files are made with `O_CREAT | O_NOFOLLOW` and mode 0600. The
//! prepared files of a change are made by `tempfile`, whose `O_EXCL` never
//! follows a link either, and files are replaced by `rename`, which
//! replaces a link itself, not what it points at.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::OFlags;

use crate::{Error, Result, StoreError};

/// The largest store file read (`key_store.json`, `revoked_keys.json`,
/// `audit.log`, a prepared file): 1 GiB, some 300,000 users. A larger one
/// (a sparse file of 64 GB, say) is refused before it is read.
pub const MAX_STORE_FILE: u64 = 1 << 30;

/// The flags every open of a store file adds: no link followed, no wait on
/// a FIFO, not inherited by a child process.
fn flags() -> i32 {
    // The flags are small positive bit masks on every Unix.
    (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC).bits() as i32
}

/// Maps an open's error: `ELOOP` from `O_NOFOLLOW` means the name is a
/// symbolic link.
fn open_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |e| {
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            Error::Store(StoreError::SymbolicLink(path))
        } else {
            Error::io(action, &path)(e)
        }
    }
}

/// What tells one state of a file from another without reading it: a
/// file that secure-kms replaces gets a new inode, and one changed in
/// place gets new times, so the same identity is the same text (while the
/// file is held open, its inode number cannot be given to another file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    /// The identity of the file `m` describes.
    pub(crate) fn of(m: &std::fs::Metadata) -> Self {
        FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Opens a store file to read it; `None` if there is none.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("real"), "{}")?;
/// std::os::unix::fs::symlink("real", dir.path().join("link"))?;
/// # use secure_kms::store::safe_file::open_read;
/// assert!(open_read(&dir.path().join("real"))?.is_some());
/// assert!(open_read(&dir.path().join("missing"))?.is_none());
/// assert!(open_read(&dir.path().join("link")).unwrap_err().to_string().contains("symbolic link"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreError::SymbolicLink`] for a link; [`StoreError::RefusedStoreFile`] for a
/// folder, FIFO, socket or device; [`UtilError::Io`](crate::UtilError::Io) if it cannot be opened.
pub fn open_read(path: &Path) -> Result<Option<File>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(flags())
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(open_error("read", path)(e)),
    };
    let metadata = file.metadata().map_err(Error::io("read", path))?;
    if !metadata.is_file() {
        return Err(Error::Store(StoreError::RefusedStoreFile {
            path: path.to_owned(),
            problem: "it is not a regular file".into(),
        }));
    }
    Ok(Some(file))
}

/// Reads a whole store file of at most `limit` bytes; `None` if there is
/// none. The size is the open file's, so a file swapped after a check
/// cannot slip through, and a file that grows while it is read is cut at
/// the limit and refused.
///
/// # Errors
/// As [`open_read`], and [`StoreError::RefusedStoreFile`] for a file larger than
/// `limit`.
pub fn read(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    let Some(file) = open_read(path)? else {
        return Ok(None);
    };
    read_open(&file, path, limit).map(Some)
}

/// [`read`], on a file already opened with [`open_read`].
///
/// # Errors
/// As [`read`].
pub(crate) fn read_open(mut file: &File, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let too_big = || {
        Error::Store(StoreError::RefusedStoreFile {
            path: path.to_owned(),
            problem: format!("it is larger than {limit} bytes"),
        })
    };
    let len = file.metadata().map_err(Error::io("read", path))?.len();
    if len > limit {
        return Err(too_big());
    }
    // Not more than the limit, and not all at once: a file's size is not
    // a promise of its contents.
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(1 << 26)).unwrap_or(0));
    Read::take(&mut file, limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Error::io("read", path))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Opens a store file to write in it (the audit log, the lock file),
/// creating it with mode 0600 if it is missing. It must be a regular file
/// of the user running the tool, with no other name (hard link) through
/// which the write would change another file.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let elsewhere = dir.path().join("elsewhere");
/// std::fs::write(&elsewhere, "precious")?;
/// std::os::unix::fs::symlink(&elsewhere, dir.path().join("audit.log"))?;
/// # use secure_kms::store::safe_file::open_write;
/// assert!(open_write(&dir.path().join("audit.log")).is_err());
/// std::fs::hard_link(&elsewhere, dir.path().join("hard"))?;
/// assert!(open_write(&dir.path().join("hard")).is_err());
/// assert_eq!(std::fs::read_to_string(&elsewhere)?, "precious");
/// assert!(open_write(&dir.path().join("new")).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`open_read`], and [`StoreError::RefusedStoreFile`] for a file of another
/// user or with another hard link.
pub fn open_write(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(flags())
        .open(path)
        .map_err(open_error("open", path))?;
    check_ours(&file, path)?;
    Ok(file)
}

/// Checks an open store file: a regular file, of the user running the
/// tool, with one name.
///
/// # Errors
/// [`StoreError::RefusedStoreFile`], saying which of the three fails.
pub(crate) fn check_ours(file: &File, path: &Path) -> Result<()> {
    let metadata = file.metadata().map_err(Error::io("read", path))?;
    let problem = if !metadata.is_file() {
        "it is not a regular file".to_owned()
    } else if metadata.uid() != rustix::process::geteuid().as_raw() {
        format!(
            "it belongs to user {}, not to the user running secure-kms ({})",
            metadata.uid(),
            rustix::process::geteuid().as_raw()
        )
    } else if metadata.nlink() != 1 {
        format!(
            "it has {} names (hard links), so a write would change another file too",
            metadata.nlink()
        )
    } else {
        return Ok(());
    };
    Err(Error::Store(StoreError::RefusedStoreFile {
        path: path.to_owned(),
        problem,
    }))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn links_fifos_and_folders_are_refused_and_their_targets_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "precious").unwrap();
        let relative = dir.path().join("relative");
        let absolute = dir.path().join("absolute");
        std::os::unix::fs::symlink("target", &relative).unwrap();
        std::os::unix::fs::symlink(&target, &absolute).unwrap();
        for link in [&relative, &absolute] {
            assert!(matches!(
                open_read(link),
                Err(Error::Store(StoreError::SymbolicLink(_)))
            ));
            assert!(matches!(
                open_write(link),
                Err(Error::Store(StoreError::SymbolicLink(_)))
            ));
        }
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Opened without blocking, then refused.
        assert!(matches!(
            read(&fifo, 100),
            Err(Error::Store(StoreError::RefusedStoreFile { .. }))
        ));
        // With no reader, opening a FIFO to write fails at once (ENXIO).
        assert!(open_write(&fifo).is_err());
        assert!(matches!(
            read(dir.path(), 100),
            Err(Error::Store(StoreError::RefusedStoreFile { .. }))
        ));
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        fs::write(&path, [b'x'; 11]).unwrap();
        assert_eq!(read(&path, 11).unwrap().unwrap().len(), 11);
        let err = read(&path, 10).unwrap_err();
        assert!(err.to_string().contains("larger than 10 bytes"), "{err}");
    }
}
