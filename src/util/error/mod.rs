//! The library's errors: one enum per layer, and [`Error`], which holds any
//! of them.
//!
//! Each layer's enum says what that layer can get wrong (`CryptoError` for
//! the cryptography, `StoreError` for the store folder, ...), and every
//! variant a user can cause says what to do next. They all live here, at
//! the bottom, so that every layer can return [`Error`] without importing
//! a layer above it; `?` turns a layer's error into an [`Error`].
//! Cryptographic failures stay opaque on purpose: a wrong password and a
//! modified ciphertext give the same [`CryptoError::Decryption`], so an
//! attacker learns nothing from which one it was.

mod ca;
mod crypto;
mod format;
mod key;
mod ops;
mod store;
mod ui;

use std::path::PathBuf;

pub use {
    ca::CaError, crypto::CryptoError, format::FormatError, key::KeyError, ops::OpsError,
    store::StoreError, ui::UiError,
};

/// A specialised `Result` for secure-kms.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in secure-kms: one variant per layer, each
/// holding that layer's own enum, and printing as it does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bottom layer: [`UtilError`].
    #[error(transparent)]
    Util(#[from] UtilError),

    /// The crypto layer: [`CryptoError`].
    #[error(transparent)]
    Crypto(#[from] CryptoError),

    /// The key layer: [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),

    /// The format layer: [`FormatError`].
    #[error(transparent)]
    Format(#[from] FormatError),

    /// The store layer: [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The ca layer: [`CaError`].
    #[error(transparent)]
    Ca(#[from] CaError),

    /// The ops layer: [`OpsError`].
    #[error(transparent)]
    Ops(#[from] OpsError),

    /// The ui layer: [`UiError`].
    #[error(transparent)]
    Ui(#[from] UiError),
}

/// A failure of RSA key generation or arithmetic.
impl From<rsa::Error> for Error {
    fn from(e: rsa::Error) -> Self {
        Error::Crypto(CryptoError::Rsa(e))
    }
}

/// A failure of the operating system's random number generator.
impl From<getrandom::Error> for Error {
    fn from(e: getrandom::Error) -> Self {
        Error::Crypto(CryptoError::Rng(e))
    }
}

/// What can go wrong in the bottom layer: a user ID that breaks the naming
/// rule, a file the operating system would not read or write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UtilError {
    /// A user ID breaks the naming rule.
    #[error(
        "invalid user ID {0:?}: use 1 to 64 characters, each an ASCII letter (a-z, A-Z), a digit or one of . _ - @"
    )]
    InvalidUserId(String),

    /// A store file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done: "read", "write", "lock", ...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An error from a writer that may carry one of ours (a record found
    /// broken while the store is being written out, passed through the
    /// writer as [`std::io::Error::other`]): ours as it is, any other
    /// through `other`.
    pub(crate) fn from_writer(
        e: std::io::Error,
        other: impl FnOnce(std::io::Error) -> Error,
    ) -> Error {
        match e.downcast::<Error>() {
            Ok(ours) => ours,
            Err(e) => other(e),
        }
    }

    /// A function that wraps an operating-system error as [`UtilError::Io`],
    /// for `map_err`: `fs::read(path).map_err(Error::io("read", path))`.
    ///
    /// ```
    /// use secure_kms::Error;
    ///
    /// let e = std::fs::read("/no/such/file").map_err(Error::io("read", "/no/such/file"));
    /// assert_eq!(e.unwrap_err().to_string(), "cannot read /no/such/file");
    /// ```
    pub fn io(
        action: &'static str,
        path: impl AsRef<std::path::Path>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().to_owned();
        move |source| {
            Error::Util(UtilError::Io {
                action,
                path,
                source,
            })
        }
    }

    /// What failed under the context that [`OpsError::ChangeMade`] adds (a
    /// CRL that could not be signed after a revocation was made): the
    /// error to act on, and to choose an exit code by.
    ///
    /// ```
    /// use secure_kms::{CryptoError, Error, OpsError};
    ///
    /// let e = Error::Ops(OpsError::ChangeMade { what: "the revocation was made", source: Box::new(Error::Crypto(CryptoError::Decryption)) });
    /// assert!(matches!(e.root(), Error::Crypto(CryptoError::Decryption)));
    /// ```
    pub fn root(&self) -> &Error {
        match self {
            Error::Ops(OpsError::ChangeMade { source, .. }) => source.root(),
            other => other,
        }
    }

    /// Whether this error means "refused: the key is revoked, expired or
    /// destroyed, or the store no longer shows what the log recorded of it",
    /// which the binary reports with its own exit code.
    ///
    /// ```
    /// use secure_kms::{CryptoError, Error, KeyError};
    ///
    /// let e = Error::Key(KeyError::Expired { user: "alice".into(), expired_at: "2026-01-01T00:00:00Z".into() });
    /// assert!(e.is_refusal());
    /// assert!(!Error::Crypto(CryptoError::Decryption).is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Key(KeyError::Revoked { .. })
                | Error::Key(KeyError::RevokedSigner { .. })
                | Error::Ca(CaError::PlantedAnchor(_))
                | Error::Ca(CaError::CertificateRefused { .. })
                | Error::Ca(CaError::CrlRefused { .. })
                | Error::Store(StoreError::Untrusted { .. })
                | Error::Key(KeyError::Expired { .. })
                | Error::Key(KeyError::Destroyed { .. })
                | Error::Key(KeyError::NothingToUnlock(_))
        )
    }
}
