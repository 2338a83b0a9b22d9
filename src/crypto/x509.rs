//! X.509 certificates as stored beside a user's RSA pair: the two checks
//! that need no certificate authority, only the certificate itself (its
//! serial, and whether it is for the pair's key). The CA that issues and
//! trusts them is [`crate::ca`].

use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use crate::util::fingerprint::sha256_hex;
use crate::{CryptoError, Error, Result};

/// The serial number (hex) of a PEM certificate.
///
/// # Errors
/// [`CryptoError::Certificate`] if it is not one.
pub(crate) fn serial_of(pem: &str) -> Result<String> {
    let certificate = Certificate::from_pem(pem.as_bytes()).map_err(x509_error)?;
    Ok(crate::util::fingerprint::hex(
        certificate.tbs_certificate().serial_number().as_bytes(),
    ))
}

/// Checks a stored certificate: a PEM X.509 certificate whose key is the
/// one with `fingerprint` (SHA-256 of its SubjectPublicKeyInfo DER).
///
/// # Errors
/// [`CryptoError::Certificate`], saying what is wrong.
pub(crate) fn check_certificate_of(pem: &str, fingerprint: &str) -> Result<()> {
    crate::util::armor::check_armor(pem).map_err(|why| {
        Error::Crypto(CryptoError::Certificate(format!(
            "its certificate is not bare PEM: {why}"
        )))
    })?;
    let certificate = Certificate::from_pem(pem.as_bytes()).map_err(|e| {
        Error::Crypto(CryptoError::Certificate(format!(
            "its certificate is not a PEM certificate: {e}"
        )))
    })?;
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(x509_error)?;
    if sha256_hex(&spki) != fingerprint {
        return Err(Error::Crypto(CryptoError::Certificate(
            "its certificate is for another public key".to_owned(),
        )));
    }
    Ok(())
}

pub(crate) fn x509_error(e: impl std::fmt::Display) -> Error {
    Error::Crypto(CryptoError::Certificate(e.to_string()))
}
