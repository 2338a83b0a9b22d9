//! Trust anchors: the roots of other certificate authorities that a store
//! trusts, as a TLS client trusts the roots in its trust store. A class
//! trusts its teacher's root this way: each student runs `ca trust` on the
//! teacher's `ca_root.pem`, after comparing its fingerprint out of band
//! (read aloud, or on the board), as SSH asks on first contact.
//!
//! The roots are kept in `trusted_roots.pem` in the store folder, one PEM
//! certificate after another, written atomically under the store's lock.
//! The folder may be written by someone else, so the file alone is not
//! believed: each root in it must have the `trusted` line that `ca trust`
//! wrote to the hash-chained `audit.log` (holding its fingerprint), with no
//! `untrusted` line since. A root planted in the file is refused, naming
//! it. A store with its own CA trusts that root as well, implicitly.

use serde::Serialize;
use x509_cert::Certificate;
use x509_cert::der::{Encode, EncodePem, pem::LineEnding};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use crate::ca::Ca;
use crate::crypto::x509::x509_error;
use crate::store::audit::{Event, EventKind};
use crate::store::{AttachedRead, Store};
use crate::util::fingerprint::sha256_hex;
use crate::util::time::{self, Timestamp};
use crate::{CaError, Error, Result};

/// The trust anchors' file, in the store folder.
pub const ANCHORS_FILE: &str = "trusted_roots.pem";

/// The most roots a store keeps: a class needs one or two.
pub const MAX_ANCHORS: usize = 32;

/// A root the store trusts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Anchor {
    /// SHA-256 of the certificate's DER, hex: what `openssl x509
    /// -fingerprint -sha256` prints, in lower case without colons.
    pub fingerprint: String,
    /// The subject, as RFC 4514 text.
    pub subject: String,
    /// Not valid after, RFC 3339.
    pub not_after: String,
    /// Whether it is the store's own CA, trusted without `ca trust`.
    pub own: bool,
}

impl Anchor {
    fn of(certificate: &Certificate, own: bool) -> Result<Self> {
        let der = certificate.to_der().map_err(x509_error)?;
        let tbs = certificate.tbs_certificate();
        Ok(Anchor {
            fingerprint: sha256_hex(&der),
            subject: tbs.subject().to_string(),
            not_after: time::format(Timestamp::from_duration(
                tbs.validity().not_after.to_unix_duration(),
            )),
            own,
        })
    }

    /// The fingerprint as OpenSSL prints it, to compare by eye: upper-case
    /// hex bytes separated by colons.
    ///
    /// ```
    /// # use secure_kms::ca::anchors::Anchor;
    /// let a = Anchor { fingerprint: "0aff".repeat(16), subject: String::new(), not_after: String::new(), own: false };
    /// assert!(a.colon_fingerprint().starts_with("0A:FF:0A:FF"));
    /// ```
    pub fn colon_fingerprint(&self) -> String {
        self.fingerprint
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A subject comes from a file someone else made: escaped.
        let subject = crate::util::escape::printable(&self.subject);
        writeln!(
            f,
            "{subject}{}",
            if self.own {
                " (this store's own CA)"
            } else {
                ""
            }
        )?;
        writeln!(f, "  SHA-256 fingerprint: {}", self.colon_fingerprint())?;
        writeln!(f, "  valid until:         {}", self.not_after)
    }
}

/// Checks that `certificate` can anchor trust: a CA's root, as RFC 5280
/// describes one. It is self-issued and self-signed
/// (sha256WithRSAEncryption, as `openssl req -x509` and `ca init` sign),
/// says CA:TRUE in its basicConstraints, may sign certificates if it has a
/// keyUsage, and is valid at `now`.
///
/// # Errors
/// What is wrong, as the end of a sentence.
fn check_root(certificate: &Certificate, now: Timestamp) -> std::result::Result<(), String> {
    let tbs = certificate.tbs_certificate();
    if tbs.issuer() != tbs.subject() {
        return Err(format!(
            "it was issued by {}, not by itself: trust the root at the top of its chain",
            tbs.issuer()
        ));
    }
    match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, constraints))) if constraints.ca => {}
        _ => return Err("it is not a CA certificate (no basicConstraints CA:TRUE)".to_owned()),
    }
    if let Ok(Some((_, usage))) = tbs.get_extension::<KeyUsage>()
        && !usage.0.contains(KeyUsages::KeyCertSign)
    {
        return Err("its keyUsage does not allow it to sign certificates".to_owned());
    }
    let algorithm = x509_cert::der::oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
    if certificate.signature_algorithm().oid != algorithm {
        return Err(
            "it is not signed sha256WithRSAEncryption, the one root signature secure-kms checks"
                .to_owned(),
        );
    }
    let signed = tbs.to_der().map_err(|e| e.to_string())?;
    if !crate::ca::issue::signed_with(certificate, &signed, certificate.signature().as_bytes()) {
        return Err("its self-signature does not verify: it was edited".to_owned());
    }
    let validity = tbs.validity();
    let (from, until) = (
        Timestamp::from_duration(validity.not_before.to_unix_duration()),
        Timestamp::from_duration(validity.not_after.to_unix_duration()),
    );
    if now < from {
        return Err(format!("it is not valid before {}", time::format(from)));
    }
    if now > until {
        return Err(format!("it expired at {}", time::format(until)));
    }
    Ok(())
}

/// The roots in `trusted_roots.pem` as stored, unchecked; none without it.
fn stored(store: &Store) -> Result<Vec<Certificate>> {
    let path = store.dir().join(ANCHORS_FILE);
    let Some(text) = super::read_text(&path)? else {
        return Ok(Vec::new());
    };
    parse(&text).map_err(|why| super::broken(format!("{}: {why}", path.display())))
}

/// The certificates of a `trusted_roots.pem`.
///
/// # Errors
/// What is wrong, as a phrase.
pub(crate) fn parse(text: &str) -> std::result::Result<Vec<Certificate>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    crate::util::armor::check_armor(text)?;
    let roots = Certificate::load_pem_chain(text.as_bytes()).map_err(|e| e.to_string())?;
    if roots.len() > MAX_ANCHORS {
        return Err(format!("it holds more than {MAX_ANCHORS} roots"));
    }
    Ok(roots)
}

fn to_pem(roots: &[Certificate]) -> Result<String> {
    roots
        .iter()
        .map(|root| root.to_pem(LineEnding::LF).map_err(x509_error))
        .collect()
}

/// The fingerprints the audit log says the store trusts now: each
/// `trusted` line's, unless an `untrusted` line came after it.
fn logged(store: &Store) -> Result<Vec<String>> {
    let history = crate::store::audit::ca_history(store.dir())?;
    let mut trusted: Vec<String> = Vec::new();
    for entry in &history.anchors {
        let Some(fingerprint) = &entry.event.file_sha256 else {
            continue;
        };
        trusted.retain(|f| f != fingerprint);
        if entry.event.event == EventKind::Trusted {
            trusted.push(fingerprint.clone());
        }
    }
    Ok(trusted)
}

/// The roots this store trusts, checked: its own CA's first (if it has
/// one), then each root `ca trust` added, each of which the audit log must
/// record as trusted.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// assert!(secure_kms::ca::anchors::trusted(&store)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CaError::PlantedAnchor`] for a root the log never trusted (or has
/// untrusted since); [`CaError::CaBroken`] for a file that does not parse;
/// as [`Store::load`].
pub fn trusted(store: &Store) -> Result<Vec<Anchor>> {
    // The store's own checks first: its CA is the one the log recorded.
    store.load()?;
    Ok(checked(store)?
        .into_iter()
        .map(|(anchor, _)| anchor)
        .collect())
}

/// [`trusted`], for a caller that holds the store's lock already: each
/// root with its certificate, the CA's files, `trusted_roots.pem` and the
/// log each read once.
fn checked(store: &Store) -> Result<Vec<(Anchor, Certificate)>> {
    let mut out = Vec::new();
    if let Some(ca) = Ca::load(store.dir())? {
        out.push((Anchor::of(&ca.root, true)?, ca.root));
    }
    let logged = logged(store)?;
    for root in stored(store)? {
        let anchor = Anchor::of(&root, false)?;
        if !logged.contains(&anchor.fingerprint) {
            return Err(Error::Ca(CaError::PlantedAnchor(format!(
                "{} (SHA-256 {})",
                crate::util::escape::printable(&anchor.subject),
                anchor.fingerprint
            ))));
        }
        out.push((anchor, root));
    }
    // A root the log trusts must still be there: deleting the file (or a
    // root from it) would otherwise turn the checks of the certificates it
    // signed off.
    if let Some(missing) = logged
        .iter()
        .find(|f| !out.iter().any(|(a, _)| &a.fingerprint == *f))
    {
        return Err(Error::Ca(CaError::Trust(format!(
            "audit.log records the root {missing} as trusted, but trusted_roots.pem does not hold it: it was removed by hand; put the file back, or run `secure-kms ca untrust {missing}` to stop trusting it"
        ))));
    }
    Ok(out)
}

/// `ca trust`: makes `pem`, another CA's root certificate, a trust anchor
/// of the store, and logs it. Its fingerprint is in the result, for the
/// user to compare with the one its owner gives them.
///
/// # Errors
/// [`CaError::NotARoot`] for a certificate that cannot anchor trust (not
/// self-signed, not a CA, expired, not RSA with SHA-256);
/// [`CaError::Trust`] for the store's own root, a root trusted already, or
/// too many; as [`trusted`].
pub fn trust(store: &Store, pem: &str) -> Result<Anchor> {
    crate::util::armor::check_armor(pem)
        .map_err(|why| Error::Ca(CaError::NotARoot(format!("it is not bare PEM: {why}"))))?;
    let roots = Certificate::load_pem_chain(pem.as_bytes()).map_err(|e| {
        Error::Ca(CaError::NotARoot(format!(
            "it is not a PEM certificate ({e})"
        )))
    })?;
    let [root] = roots.as_slice() else {
        return Err(Error::Ca(CaError::NotARoot(format!(
            "it holds {} certificates: give the one root to trust",
            roots.len()
        ))));
    };
    check_root(root, time::now()).map_err(|why| Error::Ca(CaError::NotARoot(why)))?;
    let anchor = Anchor::of(root, false)?;
    let der = root.to_der().map_err(x509_error)?;
    store.update_with_files(AttachedRead::Required, |_, _, events, files| {
        // Read again under the lock, checked: a planted root is not
        // carried into the new file.
        let current = checked(store)?;
        if let Some((found, _)) = current
            .iter()
            .find(|(a, _)| a.fingerprint == anchor.fingerprint)
        {
            return Err(Error::Ca(CaError::Trust(if found.own {
                "it is this store's own root, which the store trusts already".to_owned()
            } else {
                format!("it is trusted already (SHA-256 {})", anchor.fingerprint)
            })));
        }
        let mut roots = stored(store)?;
        if roots.len() >= MAX_ANCHORS {
            return Err(Error::Ca(CaError::Trust(format!(
                "the store trusts {MAX_ANCHORS} roots already: untrust one first"
            ))));
        }
        roots.push(root.clone());
        events.push(Event::for_ca(EventKind::Trusted, &der, "ca trust"));
        files.push((ANCHORS_FILE, to_pem(&roots)?));
        Ok(())
    })?;
    Ok(anchor)
}

/// `ca untrust`: removes the root whose SHA-256 fingerprint is
/// `fingerprint` (hex, upper or lower case, colons allowed, as `openssl
/// x509 -fingerprint -sha256` prints it), and logs it.
///
/// # Errors
/// [`CaError::Trust`] for the store's own root or a fingerprint the store
/// does not trust; as [`trusted`].
pub fn untrust(store: &Store, fingerprint: &str) -> Result<Anchor> {
    let wanted: String = fingerprint
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    store.update_with_files(AttachedRead::Required, |_, _, events, files| {
        // From the log, so that a root whose certificate went missing from
        // the file can still be untrusted.
        if let Some(ca) = Ca::load(store.dir())?
            && Anchor::of(&ca.root, true)?.fingerprint == wanted
        {
            return Err(Error::Ca(CaError::Trust(
                "it is this store's own root, which it always trusts".to_owned(),
            )));
        }
        if !logged(store)?.contains(&wanted) {
            return Err(Error::Ca(CaError::Trust(format!(
                "no trusted root has the fingerprint {}: `secure-kms ca trusted` lists them",
                crate::util::escape::printable(fingerprint)
            ))));
        }
        let mut roots = stored(store)?;
        let found = match roots
            .iter()
            .find(|root| root.to_der().is_ok_and(|der| sha256_hex(&der) == wanted))
        {
            Some(root) => Anchor::of(root, false)?,
            None => Anchor {
                fingerprint: wanted.clone(),
                subject: "(no longer in trusted_roots.pem)".to_owned(),
                not_after: "-".to_owned(),
                own: false,
            },
        };
        roots.retain(|root| root.to_der().is_ok_and(|der| sha256_hex(&der) != wanted));
        let mut event = Event::for_ca(EventKind::Untrusted, &[], "ca untrust");
        event.file_sha256 = Some(wanted.clone());
        events.push(event);
        files.push((ANCHORS_FILE, to_pem(&roots)?));
        Ok(found)
    })
}

/// The certificates of the roots this store trusts, checked as
/// [`trusted`] checks them (without the store's own read, for a caller
/// that has made it): its own CA's root first, then the others.
///
/// # Errors
/// As [`trusted`].
pub(crate) fn roots(store: &Store) -> Result<Vec<Certificate>> {
    Ok(checked(store)?.into_iter().map(|(_, root)| root).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kdf::{MIN_ITERATIONS, Password};

    fn a_root() -> Certificate {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::ca::open_store(dir.path());
        let password = Password::new("admin".to_owned()).unwrap();
        crate::ca::init(&store, &password, 2048, MIN_ITERATIONS)
            .unwrap()
            .root
    }

    #[test]
    fn a_root_is_checked_against_its_dates() {
        let root = a_root();
        let now = time::now();
        assert_eq!(check_root(&root, now), Ok(()));
        let later = now + 11.0 * 366.0 * 86_400.0;
        assert!(
            check_root(&root, later)
                .unwrap_err()
                .starts_with("it expired at ")
        );
        let before = now - 86_400.0;
        assert!(
            check_root(&root, before)
                .unwrap_err()
                .starts_with("it is not valid before ")
        );
    }

    #[test]
    fn an_edited_root_fails_its_self_signature() {
        let root = a_root();
        let mut der = root.to_der().unwrap();
        // The serial number's last byte, inside the signed part.
        let serial = root.tbs_certificate().serial_number().as_bytes().to_vec();
        let at = der.windows(serial.len()).position(|w| w == serial).unwrap();
        der[at + serial.len() - 1] ^= 0x01;
        let edited = <Certificate as x509_cert::der::Decode>::from_der(&der).unwrap();
        assert_eq!(
            check_root(&edited, time::now()),
            Err("its self-signature does not verify: it was edited".to_owned())
        );
    }

    #[test]
    fn an_empty_file_holds_no_root_and_a_crowded_one_is_refused() {
        assert!(parse("").unwrap().is_empty());
        let pem = a_root().to_pem(LineEnding::LF).unwrap();
        assert_eq!(parse(&pem).unwrap().len(), 1);
        let crowded = pem.repeat(MAX_ANCHORS + 1);
        assert!(parse(&crowded).unwrap_err().contains("more than 32 roots"));
        assert!(parse(&format!("\u{1b}]0;x\u{7}{pem}")).is_err());
    }
}
