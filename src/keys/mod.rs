//! Users' keys in memory: the record of each user's key versions
//! ([`record`]), all users' records ([`key_store`]), their NIST SP 800-57
//! states ([`keyring`]), and the keys opened with a user's password
//! ([`unlock`]). Nothing here reads or writes a file: [`crate::store`]
//! does, and hands these over.

pub mod key_store;
pub mod keyring;
pub mod migrate;
pub mod record;
pub mod unlock;

pub use key_store::KeyStore;
pub use record::{FORMAT_VERSION, UserRecord};
