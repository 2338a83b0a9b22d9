//! Using the symmetric keys on files: `encrypt`, `decrypt` and `rewrap`.
//!
//! The key rules of NIST SP 800-57 (see [`crate::keys::keyring`]) apply here:
//! encryption takes the primary version, and only while it is active (not
//! expired, revoked or destroyed); decryption takes the version a file names,
//! also when it is deactivated, but never a compromised or destroyed one.
//! The file format is [`crate::formats::envelope`]'s.

use std::collections::HashMap;
use std::io::{Read, Write};

use crate::crypto::kdf::Password;
use crate::formats::envelope::{self, FileHeader};
use crate::keys::KeyStore;
use crate::keys::unlock::{check_usable_for_decryption, unlock_symmetric_version};
use crate::ops::commands::load_for_use;
use crate::ops::commands::log_if_wrong_password as logged;
use crate::revocation::RevocationList;
use crate::store::Store;
use crate::store::trust::KeyUse;
use crate::symmetric::SymmetricKey;
use crate::util::time;
use crate::util::user::UserId;
use crate::{Error, OpsError, Result, UiError, UtilError};

/// The primary symmetric key of `user_id` and its version, refused unless
/// it is active.
fn key_for_encryption(
    store: &Store,
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    password: &Password,
    command: &str,
) -> Result<(u32, SymmetricKey)> {
    let unlocked =
        crate::ops::commands::unlock_logged(store, keys, revoked, user_id, password, command)?;
    let key = unlocked
        .symmetric_key_for_use(user_id, time::now())?
        .clone();
    Ok((unlocked.version, key))
}

/// Encrypts `reader` into `writer` for `user_id`, under the primary
/// symmetric key version, which must be active. Returns the file's header.
///
/// # Errors
/// [`KeyError::Revoked`](crate::KeyError::Revoked), [`KeyError::Expired`](crate::KeyError::Expired), [`KeyError::Destroyed`](crate::KeyError::Destroyed) for a key
/// that may not encrypt; [`KeyError::Unlock`](crate::KeyError::Unlock) for a wrong password (logged);
/// as [`envelope::encrypt`].
pub fn encrypt_file(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    reader: &mut impl Read,
    writer: &mut (impl Write + Send),
) -> Result<FileHeader> {
    let (keys, revoked) = load_for_use(store, &[user_id], KeyUse::WithPassword)?;
    let (version, key) = key_for_encryption(store, &keys, &revoked, user_id, password, "encrypt")?;
    envelope::encrypt(reader, writer, user_id, version, &key)
}

/// Checks, before any password is asked, that a file with `header` can be
/// decrypted by `user_id`: the file is theirs and the version it names is
/// neither compromised nor destroyed.
///
/// # Errors
/// [`OpsError::FileOwner`]; as [`check_usable_for_decryption`].
pub fn check_decryptable(store: &Store, user_id: &UserId, header: &FileHeader) -> Result<()> {
    let (keys, revoked) = load_for_use(store, &[user_id], KeyUse::WithPassword)?;
    decryptable(&keys, &revoked, user_id, header)
}

fn decryptable(
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    header: &FileHeader,
) -> Result<()> {
    if header.user != user_id.as_str() {
        return Err(Error::Ops(OpsError::FileOwner {
            owner: header.user.clone(),
            user: user_id.to_string(),
        }));
    }
    check_usable_for_decryption(keys, revoked, user_id, header.key_version)
}

/// Decrypts the payload after `header` from `reader` into `writer`, with
/// the symmetric key version the header names (a deactivated one will do).
///
/// # Errors
/// As [`check_decryptable`]; [`KeyError::Unlock`](crate::KeyError::Unlock) for a wrong password
/// (logged); as [`envelope::decrypt`].
pub fn decrypt_file(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    header: &FileHeader,
    reader: &mut impl Read,
    writer: &mut (impl Write + Send),
) -> Result<()> {
    let (keys, revoked) = load_for_use(store, &[user_id], KeyUse::WithPassword)?;
    decryptable(&keys, &revoked, user_id, header)?;
    let key = unlock_symmetric_version(&keys, &revoked, user_id, header.key_version, password)
        .map_err(|e| logged(store, user_id, "decrypt", e))?;
    envelope::decrypt(header, reader, writer, &key)
}

/// Re-wraps files' data keys under the primary key version: Vault's rewrap.
/// Unlocks the primary once, and each older version at most once.
pub struct Rewrapper<'a> {
    store: &'a Store,
    user_id: UserId,
    password: Password,
    keys: KeyStore,
    revoked: RevocationList,
    newest: (u32, SymmetricKey),
    older: HashMap<u32, SymmetricKey>,
}

impl<'a> Rewrapper<'a> {
    /// Unlocks `user_id`'s primary symmetric key, which must be active.
    ///
    /// # Errors
    /// As [`encrypt_file`].
    pub fn new(store: &'a Store, user_id: &UserId, password: Password) -> Result<Self> {
        let (keys, revoked) = load_for_use(store, &[user_id], KeyUse::WithPassword)?;
        let newest = key_for_encryption(store, &keys, &revoked, user_id, &password, "rewrap")?;
        Ok(Rewrapper {
            store,
            user_id: user_id.clone(),
            password,
            keys,
            revoked,
            newest,
            older: HashMap::new(),
        })
    }

    /// The version files are re-wrapped under.
    pub fn newest_version(&self) -> u32 {
        self.newest.0
    }

    /// The header re-wrapped under the newest version, or `None` when it is
    /// under that version already. A compromised or destroyed old version
    /// is refused: a data key that was under a compromised key may be known,
    /// and the file must be encrypted afresh instead.
    ///
    /// # Errors
    /// [`OpsError::FileOwner`]; [`KeyError::Revoked`](crate::KeyError::Revoked); [`KeyError::Destroyed`](crate::KeyError::Destroyed);
    /// [`FormatError::FileKey`](crate::FormatError::FileKey); [`KeyError::Unlock`](crate::KeyError::Unlock).
    pub fn rewrap(&mut self, header: &FileHeader) -> Result<Option<FileHeader>> {
        if header.user != self.user_id.as_str() {
            return Err(Error::Ops(OpsError::FileOwner {
                owner: header.user.clone(),
                user: self.user_id.to_string(),
            }));
        }
        let (new_version, new_key) = &self.newest;
        if header.key_version == *new_version {
            return Ok(None);
        }
        let old = match self.older.get(&header.key_version) {
            Some(key) => key.clone(),
            None => {
                let key = unlock_symmetric_version(
                    &self.keys,
                    &self.revoked,
                    &self.user_id,
                    header.key_version,
                    &self.password,
                )
                .map_err(|e| logged(self.store, &self.user_id, "rewrap", e))?;
                self.older.insert(header.key_version, key.clone());
                key
            }
        };
        let mut new_header = header.clone();
        new_header.rewrap(&old, *new_version, new_key)?;
        Ok(Some(new_header))
    }
}

/// Temporary output files not yet renamed into place: what an interrupted
/// run must remove (a decryption's holds plaintext).
static UNFINISHED: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Removes every temporary output file of this process that was not
/// finished. The Ctrl-C handler calls it before the process exits, since
/// exiting runs no destructor.
pub fn remove_unfinished_outputs() {
    let mut list = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner());
    for path in list.drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

/// Keeps a temporary file on the list that [`remove_unfinished_outputs`]
/// empties, while it lives.
pub struct Unfinished(std::path::PathBuf);

impl Unfinished {
    fn register(path: &std::path::Path) -> Self {
        UNFINISHED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_owned());
        Unfinished(path.to_owned())
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        UNFINISHED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.0);
    }
}

/// The I/O buffer size: one 64 KiB chunk, so that whole chunks pass
/// straight through (larger buffers measured slower: they push the chunk
/// being sealed out of the CPU's cache).
pub const IO_BUFFER: usize = 64 * 1024;

/// The buffer asked of a pipe on standard input or output: 1 MiB, Linux's
/// default ceiling (`/proc/sys/fs/pipe-max-size`).
pub const PIPE_BUFFER: usize = 1024 * 1024;

/// If `fd` is a pipe, asks Linux for a [`PIPE_BUFFER`] of 1 MiB instead of
/// the default 64 KiB, so that each side wakes the other 16 times less
/// often. Measured here, 1 GiB through a pipe took 0.37 s instead of
/// 1.2 s. Anything else, or a refusal (a user over their pipe quota),
/// leaves it as it is: only the speed depends on it.
pub fn widen_pipe(fd: impl std::os::fd::AsFd) {
    // Asking a file or a terminal for its pipe size fails: nothing to do.
    #[cfg(target_os = "linux")]
    if rustix::pipe::fcntl_getpipe_size(&fd).is_ok_and(|size| size < PIPE_BUFFER) {
        let _ = rustix::pipe::fcntl_setpipe_size(&fd, PIPE_BUFFER);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Where a command writes its result: a file that appears whole or not at
/// all (a temporary file in the same folder, mode 0600, renamed into place
/// only on success), or standard output (`-`).
pub enum Output {
    /// Standard output: written as it comes.
    Stdout(std::io::BufWriter<std::fs::File>),
    /// A file, complete only once [`Output::finish`] renames it into place.
    File {
        /// The temporary file, removed if dropped unfinished.
        temp: std::io::BufWriter<tempfile::NamedTempFile>,
        /// Where it goes.
        path: std::path::PathBuf,
        /// Whether an existing file there may be replaced.
        force: bool,
        /// Its place on the list of files to remove if interrupted.
        unfinished: Unfinished,
    },
}

impl Output {
    /// Opens `path` for output (`-` for standard output). An existing file
    /// is refused unless `force`, before any work is done.
    ///
    /// # Errors
    /// [`OpsError::OutputExists`]; [`UtilError::Io`] if the folder takes no file.
    pub fn create(path: &std::path::Path, force: bool) -> Result<Self> {
        if path.as_os_str() == "-" {
            // The standard output's file descriptor itself, duplicated:
            // `std::io::stdout()` is line-buffered, and would search every
            // 64 KiB of ciphertext for newlines and split the writes there.
            use std::os::fd::AsFd;
            let fd = std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::Ui(UiError::Output(e)))?;
            widen_pipe(&fd);
            return Ok(Output::Stdout(std::io::BufWriter::with_capacity(
                IO_BUFFER,
                std::fs::File::from(fd),
            )));
        }
        if !force && std::fs::symlink_metadata(path).is_ok() {
            return Err(Error::Ops(OpsError::OutputExists(path.to_owned())));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::Builder::new()
            .prefix(".secure-kms-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(|source| {
                Error::Util(UtilError::Io {
                    action: "create a temporary file beside",
                    path: path.to_owned(),
                    source,
                })
            })?;
        let unfinished = Unfinished::register(temp.path());
        Ok(Output::File {
            temp: std::io::BufWriter::with_capacity(IO_BUFFER, temp),
            path: path.to_owned(),
            force,
            unfinished,
        })
    }

    /// Flushes, and for a file, syncs it and renames it into place.
    ///
    /// # Errors
    /// [`UiError::Output`], [`UtilError::Io`], or [`OpsError::OutputExists`] if a
    /// file appeared there in the meantime.
    pub fn finish(self) -> Result<()> {
        match self {
            Output::Stdout(mut out) => out.flush().map_err(|e| Error::Ui(UiError::Output(e))),
            Output::File {
                temp,
                path,
                force,
                unfinished,
            } => {
                let temp = temp
                    .into_inner()
                    .map_err(|e| Error::Ui(UiError::Output(e.into_error())))?;
                let io = |action| Error::io(action, &path);
                temp.as_file().sync_all().map_err(io("flush"))?;
                if force {
                    temp.persist(&path).map_err(|e| io("replace")(e.error))?;
                } else {
                    temp.persist_noclobber(&path).map_err(|e| {
                        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                            Error::Ops(OpsError::OutputExists(path.clone()))
                        } else {
                            io("write")(e.error)
                        }
                    })?;
                }
                drop(unfinished);
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(buf),
            Output::File { temp, .. } => temp.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File { temp, .. } => temp.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_is_widened() {
        let (read_end, write_end) = rustix::pipe::pipe().unwrap();
        let before = rustix::pipe::fcntl_getpipe_size(&write_end).unwrap();
        assert!(before < PIPE_BUFFER, "{before}");
        widen_pipe(&write_end);
        // Both ends name one pipe.
        assert_eq!(
            rustix::pipe::fcntl_getpipe_size(&read_end).unwrap(),
            PIPE_BUFFER
        );
    }
}
