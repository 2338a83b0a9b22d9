//! Files that a higher layer keeps in the store folder, and what they add
//! to a read.
//!
//! The store keeps `key_store.json`, `revoked_keys.json` and `audit.log`
//! safe, and knows nothing of what else lives beside them. The certificate
//! authority (`crate::ca`) keeps its root, its key and its signed CRL in
//! the same folder: it writes them in the store's journaled step, a
//! journal left by a crash must check them before putting them in place,
//! and its CRL still revokes what someone deleted from `revoked_keys.json`.
//! So the CA passes those three things in, as an [`Attachment`], and the
//! store calls them without knowing whose they are (as age's format knows
//! recipients only through a trait).
//!
//! A store opened without the attachment whose lines its log records
//! refuses to read: skipping the CRL would fail open (see
//! [`Store::load`](super::Store::load)).

use std::fmt::Debug;

use crate::Result;
use crate::keys::KeyStore;
use crate::revocation::RevocationList;
use crate::store::Store;

/// What a change does to the attachment's files, and so what a read of
/// them may expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachedRead {
    /// Every file the audit log records must be there: a deleted one stops
    /// the command.
    Required,
    /// The change writes the successor of a file the log records (a new
    /// CRL), so that file may be missing.
    Replacing,
    /// The change makes the attachment's files anew (`ca init`): what the
    /// log says of earlier ones, moved aside, does not apply.
    New,
}

/// Files that another layer keeps in the store folder, their checks, and
/// the revocations only they record.
pub trait Attachment: Debug + Send + Sync {
    /// The names of its files in the store folder: a change may write them
    /// beside the key files, and a journal may name them.
    fn files(&self) -> &'static [&'static str];

    /// Checks that `text` is what file `name` holds, before a journal left
    /// by a crash puts it in place. (Only its shape: whether the files
    /// belong together is checked by every read.)
    ///
    /// # Errors
    /// An error naming the file, for text that is not what it holds.
    fn check_file(&self, name: &str, text: &[u8]) -> Result<()>;

    /// Adds to `revoked` what the attachment alone still records as
    /// revoked, for `keys`; called under the store's lock by every read
    /// and every change.
    ///
    /// # Errors
    /// Whatever stops the store from being used until someone looks at it
    /// (a broken or missing signed file).
    fn add_revocations(
        &self,
        store: &Store,
        keys: &KeyStore,
        revoked: &mut RevocationList,
        read: AttachedRead,
    ) -> Result<()>;
}
