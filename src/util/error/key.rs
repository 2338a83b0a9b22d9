//! The errors of the four concepts and `crate::keys`: [`KeyError`].

/// What can go wrong in a user's keys (the four concepts and
/// `crate::keys`): unknown, locked, revoked, expired or destroyed keys, and
/// versions that do not exist.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
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

    /// `keygen` for a user who already has keys.
    #[error(
        "{0} already has keys: use `secure-kms rotate {0}` for new versions (no key is ever replaced silently)"
    )]
    UserExists(String),

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

    /// A signature or an exchange message made with a key version that is
    /// revoked now: whoever checks it is told to ask for a new one, not to
    /// issue keys they do not own.
    #[error(
        "this {what} was made with version {version} of {user}'s keys, revoked at {revoked_at} (reason: {reason}), and is not accepted: ask {user} for a new {what}, made with keys that are not revoked"
    )]
    RevokedSigner {
        /// What was signed: "signature", "offer", "answer".
        what: String,
        /// Whose keys.
        user: String,
        /// The version that signed.
        version: u32,
        /// When it was revoked, RFC 3339 UTC.
        revoked_at: String,
        /// Why, an RFC 5280 reason name.
        reason: String,
    },

    /// The keys' lifetime is over (a version's symmetric key and RSA pair
    /// share it): they are refused for new use, encrypting or signing.
    #[error(
        "the keys of {user} expired at {expired_at} and are refused for new use (encrypting, signing, a key exchange): issue new keys for {user} (in the session, answer yes to \"Replace them with new keys?\"), or run `secure-kms rotate {user}`"
    )]
    Expired {
        /// Whose key.
        user: String,
        /// When it expired, as an RFC 3339 UTC timestamp.
        expired_at: String,
    },

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

    /// A key lifetime that ends outside the times a store file can hold.
    #[error("a key lifetime of {0} seconds ends after the year 9999: choose a shorter one")]
    InvalidLifetime(u64),

    /// The user has no key of that version.
    #[error("{user} has no key version {version} (see `secure-kms status {user}`)")]
    UnknownVersion {
        /// Whose keys.
        user: String,
        /// The version asked for.
        version: u32,
    },

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
}
