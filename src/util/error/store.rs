//! The errors of the store layer: [`StoreError`].

use std::path::PathBuf;

/// What can go wrong in the store folder (`crate::store`): its files, its
/// journal, its lock, and its audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A store file exists but does not parse; it is never overwritten.
    #[error(
        "{} is broken and was left unchanged (repair it, or move it away to start an empty store)",
        path.display()
    )]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// Where and how it is broken (serde_json gives line and column).
        #[source]
        source: serde_json::Error,
    },

    /// A store file is a symbolic link, which an atomic replace would turn
    /// into a plain file, silently leaving the link's target behind.
    #[error(
        "{} is a symbolic link; secure-kms replaces its files whole, which would break the link: point --store at the folder that holds the real file",
        .0.display()
    )]
    SymbolicLink(PathBuf),

    /// A name in the store folder is not what the tool may read or write
    /// there: not a regular file (a folder, FIFO or device), too large, or,
    /// for a file it writes, another user's or one with another hard link.
    #[error(
        "{} was refused and left as it is: {problem}; a store file must be a regular file of yours, with one name (check who put it there, then move it aside)",
        path.display()
    )]
    RefusedStoreFile {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        problem: String,
    },

    /// The journal of a change that a crashed run committed cannot be
    /// applied; nothing is changed until it can be.
    #[error(
        "{} holds a change that a run committed but did not finish, and it cannot be finished: {problem}; no change is made until it is (keep the file as evidence, and move it aside to go on from the files as they are)",
        path.display()
    )]
    BrokenJournal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// Another run changed this user's keys while the session was waiting for
    /// input; nothing was written.
    #[error(
        "the keys of {0} changed in the store while this run waited; nothing was written: run it again"
    )]
    Conflict(String),

    /// A command that only reads was pointed at a folder with no store.
    #[error(
        "there is no store in {}: check --store or KMS_STORE (the folder is made by the first `secure-kms keygen USER`)",
        .0.display()
    )]
    NoStore(PathBuf),

    /// The store's files no longer show what the audit log records of a
    /// user's keys (a version, its key IDs, a revocation or destruction), or
    /// the log that vouches for them is gone: the files were edited, rolled
    /// back or deleted, and no key of that user is used until they agree.
    #[error(
        "{problem}; no key of {user} is used until the store agrees with audit.log again: {remedy} (`secure-kms audit --verify` names the first disagreement)"
    )]
    Untrusted {
        /// Whose keys.
        user: String,
        /// What disagrees.
        problem: String,
        /// What to restore.
        remedy: String,
    },

    /// The audit log and the store files tell different stories.
    #[error("audit.log and the store disagree: {0}")]
    AuditDisagrees(String),

    /// The audit log's hash chain is broken.
    #[error("audit.log is broken at line {line}: {problem}")]
    AuditBroken {
        /// The first line (1-based) that fails the check.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },

    /// The store was opened without the certificate authority that its
    /// folder holds, so the CA's signed CRL would go unchecked.
    #[error(
        "{0}, but the store was opened without it, and its CRL would go unchecked (a program using the library opens the folder with `secure_kms::ca::open_store`)"
    )]
    NotAttached(String),
}
