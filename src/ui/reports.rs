//! What each subcommand reports with `--json`: one named type per result,
//! so that the shape a script reads is written down once, here, and a
//! change to it shows in review. (Results whose library type is already
//! that shape, such as [`crate::ops::commands::UserStatus`], are printed as
//! they are.)
//!
//! Every report is an object; a field's name says what it holds, and times
//! are RFC 3339 UTC.
//!
//! ```
//! use secure_kms::ui::reports::Recovered;
//!
//! let json = serde_json::to_string(&Recovered { finished: false })?;
//! assert_eq!(json, r#"{"finished":false}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::Serialize;

use crate::keys::keyring::KeyState;
use crate::store::audit::CrossCheck;
use crate::store::versions::NewVersion;
use crate::ui::output::RevocationView;
use crate::util::time::Timestamp;
use crate::util::user::UserId;

/// `keygen`, `rotate` and `import`: the key version made.
#[derive(Clone, Debug, Serialize)]
pub struct Made {
    /// Whose keys.
    pub user: UserId,
    /// The version number.
    pub version: u32,
    /// The symmetric key's ID.
    pub symmetric_fingerprint: String,
    /// The RSA pair's ID.
    pub public_key_fingerprint: String,
    /// When it was made, RFC 3339 UTC.
    #[serde(serialize_with = "crate::util::time::serialize_rfc3339")]
    pub created: Timestamp,
    /// When its active period ends (its expiry), named as in `status`.
    #[serde(serialize_with = "crate::util::time::serialize_rfc3339")]
    pub active_until: Timestamp,
}

impl From<&NewVersion> for Made {
    fn from(made: &NewVersion) -> Self {
        Made {
            user: made.user.clone(),
            version: made.version,
            symmetric_fingerprint: made.symmetric_fingerprint.clone(),
            public_key_fingerprint: made.public_key_fingerprint.clone(),
            created: made.created,
            active_until: made.expiry,
        }
    }
}

/// `revoke`: the entries it added, and the versions that were revoked
/// already (each with its first entry).
#[derive(Clone, Debug, Serialize)]
pub struct Revoked {
    /// Whose keys.
    pub user: UserId,
    /// The entries added, one per version.
    pub revoked: Vec<RevocationView>,
    /// The versions on the list already.
    pub already_revoked: Vec<RevocationView>,
}

/// `destroy`: whether this run erased the version's material.
#[derive(Clone, Debug, Serialize)]
pub struct Destroyed {
    /// Whose keys.
    pub user: UserId,
    /// The version.
    pub version: u32,
    /// Whether this run erased it.
    pub destroyed: bool,
    /// Whether it was erased before.
    pub already_destroyed: bool,
}

/// `recover`: whether there was an unfinished change to finish.
#[derive(Clone, Debug, Serialize)]
pub struct Recovered {
    /// Whether a journal was checked and finished.
    pub finished: bool,
}

/// `encrypt` and `decrypt`: the file written.
#[derive(Clone, Debug, Serialize)]
pub struct FileWritten {
    /// Whose key.
    pub user: UserId,
    /// The key version used.
    pub key_version: u32,
    /// The file written.
    pub output: String,
}

/// `rewrap`: one file.
#[derive(Clone, Debug, Serialize)]
pub struct Rewrapped {
    /// The file.
    pub file: String,
    /// The key version its data key was under.
    pub from_version: u32,
    /// The key version it is under now.
    pub to_version: u32,
    /// Whether this run changed it.
    pub rewrapped: bool,
}

/// `sign`: the signature file written.
#[derive(Clone, Debug, Serialize)]
pub struct Signed {
    /// The signer.
    pub user: UserId,
    /// The key version that signed.
    pub version: u32,
    /// The signature file.
    pub signature: String,
}

/// `verify`: a signature that verified (a failure is an error).
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    /// The signer.
    pub user: UserId,
    /// The key version that signed.
    pub version: u32,
    /// That version's state now.
    pub state: KeyState,
    /// What put it there, as `status` says it; absent while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Always true: a signature that does not verify is an error.
    pub verified: bool,
}

/// `export`: the key file written.
#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    /// Whose key.
    pub user: UserId,
    /// The version exported.
    pub version: u32,
    /// `public` or `private`.
    pub key: String,
    /// The file written.
    pub output: String,
}

/// `exchange offer`: the offer written and its nonce.
#[derive(Clone, Debug, Serialize)]
pub struct OfferWritten {
    /// The offer file.
    pub offer: String,
    /// The offer's nonce, which the answer must echo.
    pub nonce: String,
}

/// `ca init`: the CA's files and its key.
#[derive(Clone, Debug, Serialize)]
pub struct CaMade {
    /// The root certificate's file.
    pub root: String,
    /// The encrypted CA key's file.
    pub key: String,
    /// The CA key's size in bits.
    pub bits: usize,
    /// The CA key's ID: SHA-256 of its public key's DER, hex.
    pub key_fingerprint: String,
}

/// `audit --verify`: the chain holds and agrees with the store.
#[derive(Clone, Debug, Serialize)]
pub struct AuditVerified {
    /// Always true: a log that fails is an error.
    pub ok: bool,
    /// How many events the log holds.
    pub events: usize,
    /// What the cross-check with the store found.
    #[serde(flatten)]
    pub report: CrossCheck,
}
