//! `cert import`: a certificate that another store's CA signed (from a
//! `cert request`), kept beside the user's pair once it is checked against
//! the roots this store trusts, as a TLS client checks a server's chain.

use std::str::FromStr;

use serde::Serialize;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode, EncodePem};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;

use crate::ca::Ca;
use crate::ca::issue::signed_by_a_root;
use crate::crypto::x509::x509_error;
use crate::keys::keyring::versions_of;
use crate::store::Store;
use crate::store::audit::{Event, EventKind};
use crate::util::fingerprint::{hex, sha256_hex};
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{CaError, Error, KeyError, Result, StoreError};

/// Why a certificate is refused, in rustls's words
/// (`rustls::CertificateError`), so that a class can look them up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No root the store trusts issued it, or its signature is not that
    /// root's.
    UnknownIssuer,
    /// Its validity ended.
    Expired,
    /// Its validity has not begun.
    NotValidYet,
    /// It names someone else.
    NotValidForName,
    /// It is not for this use: a CA's certificate, a key usage without
    /// digitalSignature, another key than the one it should hold.
    InvalidPurpose,
    /// Its root revoked it: the CRL imported here lists it, or the root
    /// is this store's own CA, which revoked it.
    Revoked,
    /// A signature made with its key does not verify.
    BadSignature,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

pub(crate) fn refused(why: Refusal, detail: impl Into<String>) -> Error {
    Error::Ca(CaError::CertificateRefused {
        reason: why.to_string(),
        detail: detail.into(),
    })
}

/// Checks `certificate` for `user_id` at `now` against `roots`: signed by
/// one of them, valid now, for CN=`user_id`, not a CA's, and allowed to
/// sign if it has a keyUsage. Its key is the caller's to compare.
///
/// # Errors
/// [`CaError::CertificateRefused`] naming the [`Refusal`].
pub fn check_chain<'r>(
    roots: &'r [Certificate],
    certificate: &Certificate,
    user_id: &UserId,
    now: Timestamp,
) -> Result<&'r Certificate> {
    let root = signed_by_a_root(roots, certificate)
        .map_err(|why| refused(Refusal::UnknownIssuer, format!("it {why}")))?;
    let tbs = certificate.tbs_certificate();
    let validity = tbs.validity();
    let from = Timestamp::from_duration(validity.not_before.to_unix_duration());
    let until = Timestamp::from_duration(validity.not_after.to_unix_duration());
    if now < from {
        return Err(refused(
            Refusal::NotValidYet,
            format!("it is valid from {}", time::format(from)),
        ));
    }
    if now > until {
        return Err(refused(
            Refusal::Expired,
            format!("it expired at {}", time::format(until)),
        ));
    }
    let name = Name::from_str(&format!("CN={user_id}")).map_err(x509_error)?;
    if *tbs.subject() != name {
        return Err(refused(
            Refusal::NotValidForName,
            format!(
                "it was issued to {}, not to {user_id}",
                crate::util::escape::printable(&tbs.subject().to_string())
            ),
        ));
    }
    if let Ok(Some((_, constraints))) = tbs.get_extension::<BasicConstraints>()
        && constraints.ca
    {
        return Err(refused(
            Refusal::InvalidPurpose,
            "it is a CA's certificate, not a user's",
        ));
    }
    if let Ok(Some((_, usage))) = tbs.get_extension::<KeyUsage>()
        && !usage.0.contains(KeyUsages::DigitalSignature)
    {
        return Err(refused(
            Refusal::InvalidPurpose,
            "its keyUsage does not allow signing (digitalSignature)",
        ));
    }
    Ok(root)
}

/// When and why the root that signed `certificate` revoked it: the
/// imported CRL of that root lists it (`crls`, as
/// [`crate::ca::crl::imported::stored`] read them), or the root is this
/// store's own CA, whose `cert revoke` the log records. The one revocation
/// check of a certificate from another store, wherever one is used.
///
/// # Errors
/// As [`Ca::load`] and the log's reading.
pub(crate) fn revocation(
    store: &Store,
    crls: &[x509_cert::crl::CertificateList],
    root: &Certificate,
    certificate: &Certificate,
) -> Result<Option<(Timestamp, crate::revocation::RevocationReason)>> {
    if let Some(ca) = Ca::load(store.dir())?
        && ca.root == *root
    {
        return crate::ca::request::revoked_here(store, certificate);
    }
    Ok(crate::ca::crl::imported::listed(crls, root, certificate))
}

/// A certificate `cert import` kept.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    /// Whose pair.
    pub user: UserId,
    /// The pair's version.
    pub version: u32,
    /// The serial number, hex.
    pub serial: String,
    /// The root that issued it, as RFC 4514 text.
    pub issuer: String,
    /// Not valid after, RFC 3339.
    pub not_after: String,
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "certificate imported for {}, key version {}",
            self.user, self.version
        )?;
        let issuer = crate::util::escape::printable(&self.issuer);
        writeln!(f, "  issuer:  {issuer} (a root this store trusts)")?;
        writeln!(f, "  serial:  {}", self.serial)?;
        writeln!(f, "  valid until {}", self.not_after)
    }
}

/// `cert import`: checks `pem`, a certificate for `user_id` that a root
/// this store trusts signed ([`check_chain`]) for the key of the user's
/// primary RSA pair, and keeps it with the pair (logged as `certified`).
/// No password is needed: a certificate is public, and what makes it
/// count is the root's signature.
///
/// # Errors
/// [`CaError::CertificateRefused`]; [`CaError::Refused`] for text that is
/// no certificate, a store with a
/// CA of its own (it certifies its users with `cert issue`), or with a
/// certificate there already; [`KeyError::UnknownUser`], a revoked or
/// destroyed pair; [`StoreError::Conflict`] if the pair changed meanwhile.
pub fn import(store: &Store, user_id: &UserId, pem: &str) -> Result<Imported> {
    let not_one = |why: String| Error::Ca(CaError::Refused(why));
    // Only the certificate's own block is read, and kept re-encoded: text
    // around it (as `openssl ca` writes) never reaches the store.
    let block = crate::util::armor::pem_block(pem, "CERTIFICATE")
        .ok_or_else(|| not_one("it holds no PEM certificate".to_owned()))?;
    crate::util::armor::check_armor(block)
        .map_err(|why| not_one(format!("it is not PEM: {why}")))?;
    let certificate = Certificate::from_pem(block.as_bytes())
        .map_err(|e| not_one(format!("it is not a PEM certificate ({e})")))?;
    let pem = &certificate
        .to_pem(x509_cert::der::pem::LineEnding::LF)
        .map_err(x509_error)?;
    let (keys, revoked) = crate::store::trust::load_for_use(
        store,
        &[user_id],
        crate::store::trust::KeyUse::PublicOnly,
    )?;
    if Ca::load(store.dir())?.is_some() {
        return Err(Error::Ca(CaError::Refused(
            "this store has a CA of its own, which certifies its users with `secure-kms cert issue`"
                .to_owned(),
        )));
    }
    let roots = crate::ca::anchors::roots(store)?;
    if roots.is_empty() {
        return Err(refused(
            Refusal::UnknownIssuer,
            "this store trusts no root yet: `secure-kms ca trust ROOT.pem` first, with the root of the CA that signed it",
        ));
    }
    let root = check_chain(&roots, &certificate, user_id, time::now())?;
    let crls = crate::ca::crl::imported::stored(store)?;
    if let Some((at, reason)) = revocation(store, &crls, root, &certificate)? {
        return Err(refused(
            Refusal::Revoked,
            format!(
                "the CRL of its root imported here revoked it at {} (reason: {reason})",
                time::format(at)
            ),
        ));
    }
    let pair = keys
        .get(user_id)?
        .and_then(|record| record.asymmetric.last())
        .cloned()
        .ok_or_else(|| Error::Key(KeyError::UnknownUser(user_id.to_string())))?;
    if pair.private.is_none() {
        return Err(pair.destroyed(user_id));
    }
    crate::revocation::check_not_revoked(&revoked, user_id, &versions_of(&keys, user_id)?)?;
    let tbs = certificate.tbs_certificate();
    let spki = tbs.subject_public_key_info().to_der().map_err(x509_error)?;
    if sha256_hex(&spki) != *pair.fingerprint {
        return Err(refused(
            Refusal::InvalidPurpose,
            format!(
                "it certifies the key {}, not the primary RSA pair of {user_id} (version {}, key ID {}): request a certificate for the current pair with `secure-kms cert request {user_id}`",
                sha256_hex(&spki),
                pair.version,
                pair.fingerprint
            ),
        ));
    }
    if let Some(existing) = &pair.certificate {
        return Err(Error::Ca(CaError::Refused(format!(
            "version {} of {user_id} has a certificate already (serial {}): rotate to certify a new pair",
            pair.version,
            crate::crypto::x509::serial_of(existing)?
        ))));
    }
    store.update(|keys, revoked, events| {
        crate::revocation::check_not_revoked(revoked, user_id, &versions_of(keys, user_id)?)?;
        let record = keys.entry(user_id)?;
        match record.asymmetric.last_mut() {
            Some(stored) if *stored == pair => stored.certificate = Some(pem.to_owned()),
            _ => return Err(Error::Store(StoreError::Conflict(user_id.to_string()))),
        }
        events.push(
            Event::new(EventKind::Certified, user_id, "cert import").for_version(
                pair.version,
                None,
                Some(&pair.fingerprint),
            ),
        );
        Ok(())
    })?;
    Ok(Imported {
        user: user_id.clone(),
        version: pair.version,
        serial: hex(tbs.serial_number().as_bytes()),
        issuer: tbs.issuer().to_string(),
        not_after: time::format(Timestamp::from_duration(
            tbs.validity().not_after.to_unix_duration(),
        )),
    })
}
