//! The certificate authority as the store sees it: the files it keeps in
//! the store folder, their checks for a journal left by a crash, and the
//! revocations only its signed CRL records ([`crate::store::Attachment`]).

use x509_cert::Certificate;
use x509_cert::der::DecodePem;

use super::{CA_KEY_FILE, CaKey, ROOT_FILE, anchors, broken, crl};
use crate::Result;
use crate::store::{AttachedRead, Attachment, Store};

/// The certificate authority's files, which a store change may write
/// beside the key files (through its journal).
pub(crate) const FILES: [&str; 5] = [
    CA_KEY_FILE,
    ROOT_FILE,
    crate::ca::crl::CRL_FILE,
    anchors::ANCHORS_FILE,
    crl::imported::IMPORTED_CRLS_FILE,
];

/// Opens the store folder `dir` with its certificate authority attached:
/// how the program opens every store. The store then writes the CA's
/// files in its journaled steps, checks them in a journal left by a crash,
/// and counts what the CA's signed CRL revokes on every read, whether or
/// not the folder has a CA yet. (A store opened with
/// [`Store::new`] alone refuses a folder whose log records a CA.)
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// let (keys, revoked) = store.load()?;
/// assert!(keys.is_empty() && revoked.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_store(dir: impl Into<std::path::PathBuf>) -> Store {
    Store::new(dir).with_attachment(std::sync::Arc::new(CaFiles))
}

/// The CA as the store sees it: its files, their checks, and the
/// revocations only its CRL records.
#[derive(Debug)]
struct CaFiles;

impl Attachment for CaFiles {
    fn files(&self) -> &'static [&'static str] {
        &FILES
    }

    /// Checks that `text` parses as the CA file `name` holds. (Only that
    /// it parses: whether the files belong together is checked by every
    /// read, as for files written by hand.)
    fn check_file(&self, name: &str, text: &[u8]) -> Result<()> {
        let parsed = match name {
            CA_KEY_FILE => serde_json::from_slice::<CaKey>(text).map(drop).is_ok(),
            ROOT_FILE => Certificate::from_pem(text).is_ok(),
            crate::ca::crl::CRL_FILE => <x509_cert::crl::CertificateList>::from_pem(text).is_ok(),
            anchors::ANCHORS_FILE => std::str::from_utf8(text)
                .ok()
                .is_some_and(|text| anchors::parse(text).is_ok()),
            crl::imported::IMPORTED_CRLS_FILE => std::str::from_utf8(text)
                .ok()
                .is_some_and(|text| crl::imported::parse(text).is_ok()),
            _ => false,
        };
        if parsed {
            Ok(())
        } else {
            Err(broken(format!("{name} is not what that file holds")))
        }
    }

    fn add_revocations(
        &self,
        store: &Store,
        keys: &crate::keys::KeyStore,
        revoked: &mut crate::revocation::RevocationList,
        read: AttachedRead,
    ) -> Result<()> {
        crl::add_signed_revocations(store, keys, revoked, read)
    }
}
