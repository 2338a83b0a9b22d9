//! The one error type of the library.
//!
//! Every variant a user can cause says what to do next. Cryptographic
//! failures stay opaque on purpose: a wrong password and a modified ciphertext
//! give the same [`Error::Decryption`], so an attacker learns nothing from
//! which one it was.

use std::path::PathBuf;

/// A specialised `Result` for secure-kms.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in secure-kms.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A user ID breaks the naming rule.
    #[error(
        "invalid user ID {0:?}: use 1 to 64 characters, each an ASCII letter (a-z, A-Z), a digit or one of . _ - @"
    )]
    InvalidUserId(String),

    /// An empty password was given.
    #[error("the password is empty: type at least one character")]
    EmptyPassword,

    /// The password is wrong, or the wrapped key was modified: the two are
    /// deliberately indistinguishable.
    #[error("wrong password or corrupted key")]
    Decryption,

    /// The password does not unlock the user's keys: it is wrong, or the
    /// stored keys were modified. Deliberately one error for both.
    #[error(
        "wrong password for {0}, or its stored keys are corrupted or were edited; the store was not changed (check the password and try again: a lost password cannot be recovered, so if it is lost, choose another user ID)"
    )]
    Unlock(String),

    /// The user has no keys in the store.
    #[error(
        "no keys for {0} in the store: create them with `secure-kms keygen {0}` or the interactive session"
    )]
    UnknownUser(String),

    /// The user's keys are on the revocation list.
    #[error(
        "the keys of {user} were revoked at {revoked_at} (reason: {reason}) and cannot be used: issue new keys for {user} (in the session, answer yes to \"Replace them with new keys?\"), or run `secure-kms rotate {user}`"
    )]
    Revoked {
        /// Whose keys.
        user: String,
        /// When, as an RFC 3339 UTC timestamp.
        revoked_at: String,
        /// Why, an RFC 5280 reason name.
        reason: String,
    },

    /// The symmetric key's lifetime is over: it is refused for new use.
    #[error(
        "the symmetric key of {user} expired at {expired_at} and is refused for new use: issue new keys for {user} (in the session, answer yes to \"Replace them with new keys?\"), or run `secure-kms rotate {user}`"
    )]
    Expired {
        /// Whose key.
        user: String,
        /// When it expired, as an RFC 3339 UTC timestamp.
        expired_at: String,
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

    /// Another run changed this user's keys while the session was waiting for
    /// input; nothing was written.
    #[error(
        "the keys of {0} changed in the store while this run waited; nothing was written: run it again"
    )]
    Conflict(String),

    /// A Diffie-Hellman public value failed validation.
    #[error("invalid Diffie-Hellman public key: {0}")]
    InvalidPublicKey(&'static str),

    /// The two sides of the demonstration exchange derived different keys,
    /// which only a bug can cause.
    #[error(
        "the two parties derived different keys: this is a bug in secure-kms, please report it"
    )]
    KeyAgreement,

    /// A signature did not verify.
    #[error("signature verification failed: the data was not signed by this key, or was modified")]
    BadSignature,

    /// A stored key could not be decoded after a successful decryption, or a
    /// public key PEM is malformed.
    #[error("malformed key: {0}")]
    MalformedKey(String),

    /// The RSA implementation failed (key generation, signing).
    #[error("RSA operation failed")]
    Rsa(#[from] rsa::Error),

    /// An RSA-PSS signature could not be made.
    #[error("RSA-PSS signing failed")]
    Sign(#[source] rsa::signature::Error),

    /// HKDF was asked for a length it cannot give: a PRK under 32 bytes, or
    /// more than 8160 bytes of output.
    #[error("HKDF-SHA256 cannot work with {0} bytes here (PRK at least 32, output at most 8160)")]
    KdfLength(usize),

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng(#[from] getrandom::Error),

    /// Input ended while a question was waiting for an answer.
    #[error("input ended at the question {question:?}; {state}")]
    EndOfInput {
        /// The question.
        question: String,
        /// What had been written by then.
        state: &'static str,
    },

    /// A change was made, and what should follow it (the CA's part) failed:
    /// `what` says what was made and what was not.
    #[error("{what}")]
    ChangeMade {
        /// What was made, and what failed after it.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },

    /// The session stopped at a question asked after the keys were stored
    /// or kept: they stay as they are, and nothing was revoked.
    #[error("the keys above are kept and nothing was revoked")]
    KeysKept(#[source] Box<Error>),

    /// An answer could not be read from standard input.
    #[error("cannot read the answer from standard input (answers are lines of UTF-8 text)")]
    Input(#[source] std::io::Error),

    /// `ca init` on a store that has a certificate authority.
    #[error(
        "{} exists: this store has a certificate authority already (a second would orphan every certificate the first issued; move the CA files aside to start over)",
        .0.display()
    )]
    CaExists(PathBuf),

    /// The certificate authority's files are missing one another, or do
    /// not belong together.
    #[error("the certificate authority's files are broken: {0}")]
    CaBroken(String),

    /// A certificate or CRL could not be built or parsed.
    #[error("X.509: {0}")]
    Certificate(String),

    /// A command needs the store's certificate authority, and it has none.
    #[error("this store has no certificate authority: make one with `secure-kms ca init`")]
    NoCa,

    /// The user's primary RSA pair has no certificate.
    #[error(
        "the primary RSA pair of {0} has no certificate: issue one with `secure-kms cert issue {0}`"
    )]
    NoCertificate(String),

    /// The store's CA has not signed a CRL yet.
    #[error(
        "the store's CA has no CRL yet: an administrator can sign one with `secure-kms crl refresh`"
    )]
    NoCrl,

    /// `crl.pem` does not parse, or is not the store's CA's.
    #[error(
        "crl.pem is refused: {0} (keep it as evidence and move it aside; an administrator can then sign a new one with `secure-kms crl refresh`)"
    )]
    CrlBroken(String),

    /// The CRL's nextUpdate has passed.
    #[error(
        "the CRL expired at {0} (its nextUpdate): an administrator must sign a new one with `secure-kms crl refresh`"
    )]
    CrlExpired(String),

    /// `crl.pem` is gone, but the audit log records the CA signing one.
    #[error(
        "crl.pem is missing, but audit.log line {line} records that the CA signed CRL number {number} at {at}: it was deleted, and no revocation can be checked against it; an administrator must sign a new one with `secure-kms crl refresh`"
    )]
    CrlDeleted {
        /// The newest cRLNumber the log records.
        number: u64,
        /// The log line that records it.
        line: u64,
        /// When it was signed, RFC 3339.
        at: String,
    },

    /// The CRL and `revoked_keys.json` name different certificates.
    #[error("the CRL and revoked_keys.json disagree: {0}")]
    CrlDisagrees(String),

    /// A key size that this command does not make.
    #[error("{0}-bit keys are not made here: use 2048 or 3072")]
    InvalidKeySize(usize),

    /// Standard output could not be written.
    #[error("cannot write to standard output")]
    Output(#[source] std::io::Error),

    /// An answer is longer than any valid one.
    #[error("the answer to {question:?} is longer than {limit} bytes: check what is being sent")]
    AnswerTooLong {
        /// The question.
        question: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// A password is longer than the limit.
    #[error("the password is longer than {0} bytes: choose a shorter one")]
    PasswordTooLong(usize),

    /// A password holds a control character (a tab, an escape, ...).
    #[error(
        "the password holds a control character (such as a tab), which a terminal cannot type reliably: choose another"
    )]
    PasswordControlCharacter,

    /// Ctrl-C was pressed while a question was waiting for an answer.
    #[error("interrupted at the question {question:?}; nothing more was written")]
    Interrupted {
        /// The question.
        question: String,
    },

    /// The password and its confirmation differ.
    #[error(
        "the two passwords differ; nothing was written: run again and type the same password twice"
    )]
    PasswordMismatch,

    /// A PBKDF2 iteration count outside the accepted range.
    #[error(
        "{0} PBKDF2 iterations is outside the accepted range 1000 to 10000000: use a count in it (600000 is the default)"
    )]
    InvalidIterations(u32),

    /// A key lifetime that ends outside the times a store file can hold.
    #[error("a key lifetime of {0} seconds ends after the year 9999: choose a shorter one")]
    InvalidLifetime(u64),

    /// The key version's material was erased.
    #[error(
        "version {version} of the keys of {user} was destroyed{} and cannot be used: use a newer version, or make one with `secure-kms rotate {user}`",
        destroyed_at.as_ref().map(|t| format!(" at {t}")).unwrap_or_default()
    )]
    Destroyed {
        /// Whose key.
        user: String,
        /// Which version.
        version: u32,
        /// When, as an RFC 3339 UTC timestamp, if known.
        destroyed_at: Option<String>,
    },

    /// The user has no key of that version.
    #[error("{user} has no key version {version} (see `secure-kms status {user}`)")]
    UnknownVersion {
        /// Whose keys.
        user: String,
        /// The version asked for.
        version: u32,
    },

    /// `keygen` for a user who already has keys.
    #[error(
        "{0} already has keys: use `secure-kms rotate {0}` for new versions (no key is ever replaced silently)"
    )]
    UserExists(String),

    /// Destroying this version would leave no key that can decrypt.
    #[error(
        "version {version} is the only key of {user} that can still decrypt data; destroying it loses that data for good: rotate first, or add --force if the data may be lost"
    )]
    LastDecryptingVersion {
        /// Whose keys.
        user: String,
        /// The version.
        version: u32,
    },

    /// No version of the user's keys holds material to check a password against.
    #[error(
        "every key version of {0} is destroyed, so no password can be checked: the user can no longer change anything"
    )]
    NothingToUnlock(String),

    /// A file given to `decrypt` or `rewrap` is not a secure-kms encrypted file.
    #[error("not a secure-kms encrypted file: {0}")]
    FileFormat(String),

    /// The key named in an encrypted file's header does not open its data key.
    #[error(
        "version {version} of the key of {user} does not open this file's data key: the file's header was edited, or it was encrypted with other keys of the same name"
    )]
    FileKey {
        /// The user named in the header.
        user: String,
        /// The key version named in the header.
        version: u32,
    },

    /// A chunk of an encrypted file fails authentication.
    #[error(
        "the encrypted file fails authentication at chunk {chunk}: it was modified, cut short, extended or reordered"
    )]
    FileTampered {
        /// The first chunk (from 0) that fails.
        chunk: u64,
    },

    /// The file is encrypted for another user.
    #[error("this file is encrypted for {owner}, not for {user}: decrypt it as {owner}")]
    FileOwner {
        /// The user named in the file.
        owner: String,
        /// The user asked for.
        user: String,
    },

    /// The data to encrypt, decrypt, sign or verify cannot be read.
    #[error("cannot read the data")]
    ReadData(#[source] std::io::Error),

    /// The result cannot be written.
    #[error("cannot write the result")]
    WriteData(#[source] std::io::Error),

    /// Diffie-Hellman parameters fail a check.
    #[error("unsafe Diffie-Hellman group: {0}")]
    InvalidGroup(String),

    /// An exchange message fails a check.
    #[error("exchange message refused: {0}")]
    ExchangeRefused(String),

    /// A key file given to `import` cannot be taken.
    #[error("cannot import the key: {0}")]
    ImportRefused(String),

    /// An imported key is one the user has had, or one that was revoked.
    #[error(
        "this key is already version {version} of {user}'s keys (now {state}): a key cannot come back as a new version, least of all a destroyed or compromised one"
    )]
    KeyAlreadyKnown {
        /// Whose key it was.
        user: String,
        /// The version it was.
        version: u32,
        /// Its state.
        state: String,
    },

    /// An output file exists and `--force` was not given.
    #[error("{} exists and was left as it is: choose another name, or add --force to replace it", .0.display())]
    OutputExists(std::path::PathBuf),

    /// A command that only reads was pointed at a folder with no store.
    #[error(
        "there is no store in {}: check --store or KMS_STORE (the folder is made by the first `secure-kms keygen USER`)",
        .0.display()
    )]
    NoStore(std::path::PathBuf),

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

    /// A function that wraps an operating-system error as [`Error::Io`],
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
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// What failed under the context that [`Error::ChangeMade`] adds (a
    /// CRL that could not be signed after a revocation was made): the
    /// error to act on, and to choose an exit code by.
    ///
    /// ```
    /// use secure_kms::Error;
    ///
    /// let e = Error::ChangeMade { what: "the revocation was made", source: Box::new(Error::Decryption) };
    /// assert!(matches!(e.root(), Error::Decryption));
    /// ```
    pub fn root(&self) -> &Error {
        match self {
            Error::ChangeMade { source, .. } => source.root(),
            other => other,
        }
    }

    /// Whether this error means "refused: the key is revoked, expired or
    /// destroyed, or the store no longer shows what the log recorded of it",
    /// which the binary reports with its own exit code.
    ///
    /// ```
    /// use secure_kms::Error;
    ///
    /// let e = Error::Expired { user: "alice".into(), expired_at: "2026-01-01T00:00:00Z".into() };
    /// assert!(e.is_refusal());
    /// assert!(!Error::Decryption.is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Revoked { .. }
                | Error::Untrusted { .. }
                | Error::Expired { .. }
                | Error::Destroyed { .. }
                | Error::NothingToUnlock(_)
        )
    }
}
