//! The errors of the ops layer: [`OpsError`].

use std::path::PathBuf;

/// What can go wrong in what a command does (`crate::ops`): files it
/// writes, exchanges and imports it refuses, and a change whose follow-up
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// A change was made, and what should follow it (the CA's part) failed:
    /// `what` says what was made and what was not.
    #[error("{what}")]
    ChangeMade {
        /// What was made, and what failed after it.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: Box<super::Error>,
    },

    /// The file is encrypted for another user.
    #[error("this file is encrypted for {owner}, not for {user}: decrypt it as {owner}")]
    FileOwner {
        /// The user named in the file.
        owner: String,
        /// The user asked for.
        user: String,
    },

    /// An output file exists and `--force` was not given.
    #[error("{} exists and was left as it is: choose another name, or add --force to replace it", .0.display())]
    OutputExists(PathBuf),

    /// An exchange message fails a check.
    #[error("exchange message refused: {0}")]
    ExchangeRefused(String),

    /// A key file given to `import` cannot be taken.
    #[error("cannot import the key: {0}")]
    ImportRefused(String),

    /// An imported key is one the user has had, or one that was revoked.
    #[error(
        "this key is already version {version} of {user}'s keys, now {state}: a key cannot come back as a new version, least of all a destroyed or compromised one"
    )]
    KeyAlreadyKnown {
        /// Whose key it was.
        user: String,
        /// The version it was.
        version: u32,
        /// Its state.
        state: String,
    },
}
