//! Certificates between stores: a user asks with a PKCS#10 certificate
//! request (RFC 2986) made in their own store, and the CA of another store
//! (a teacher's) signs it, as `openssl req` and `openssl x509 -req` do.
//!
//! The request carries the user's public key and ID, signed with their
//! private key: the signature is the proof that the requester holds the
//! key (RFC 4211 section 4), which `cert issue` gets from the owner's
//! password when the key is in the CA's own store.

use std::str::FromStr;

use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use sha2::Sha256;
use x509_cert::builder::CertificateBuilder;
use x509_cert::der::{DecodePem, Encode, EncodePem, pem::LineEnding};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, RequestBuilder};
use x509_cert::time::Validity;

use crate::ca::{Ca, Profile, random_serial, sign, x509_time};
use crate::crypto::kdf::Password;
use crate::crypto::x509::x509_error;
use crate::store::Store;
use crate::store::audit::{Event, EventKind};
use crate::util::fingerprint::{Fingerprint, hex, sha256_hex};
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{CaError, Error, Result};

/// The longest a certificate signed from a request may be valid, in days:
/// a school year. The default is `openssl x509 -req`'s 30.
pub const MAX_DAYS: u32 = 366;

/// The smallest RSA key a request may carry, in bits.
const MIN_KEY_BITS: u32 = 2048;

/// A certificate request for `user_id`'s `private_key`, PEM: subject
/// CN=`user_id`, signed sha256WithRSAEncryption.
///
/// ```
/// let (private_key, _) = secure_kms::pki::generate_asymmetric_keys()?;
/// let alice = secure_kms::util::user::UserId::new("alice")?;
/// let pem = secure_kms::ca::request::request_for(&alice, &private_key)?;
/// assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`crate::CryptoError::Certificate`] or [`crate::CryptoError::Sign`] if
/// it cannot be built (it can).
pub fn request_for(user_id: &UserId, private_key: &rsa::PrivateKey) -> Result<String> {
    let subject = Name::from_str(&format!("CN={user_id}")).map_err(x509_error)?;
    let builder = RequestBuilder::new(subject).map_err(x509_error)?;
    let request = sign(builder, private_key)?;
    request.to_pem(LineEnding::LF).map_err(x509_error)
}

/// What a request asks for, once its signature is checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckedRequest {
    /// The user ID its subject names.
    pub user: UserId,
    /// SHA-256 of its public key's DER: the key ID a store gives the pair.
    pub public_key_fingerprint: String,
    /// The RSA key's size, in bits.
    pub key_bits: u32,
}

/// Reads and checks a certificate request: PEM, signed
/// sha256WithRSAEncryption by the RSA key it carries (2048 bits or more),
/// for a subject that is exactly CN=a valid user ID.
///
/// # Errors
/// [`CaError::BadRequest`] saying what is wrong.
pub fn check_request(pem: &str) -> Result<(CertReq, CheckedRequest)> {
    let bad = |why: String| Error::Ca(CaError::BadRequest(why));
    crate::util::armor::check_armor(pem)
        .map_err(|why| bad(format!("it is not bare PEM: {why}")))?;
    let request = CertReq::from_pem(pem.as_bytes())
        .map_err(|e| bad(format!("it is not a PEM certificate request ({e})")))?;
    let algorithm = x509_cert::der::oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
    if request.algorithm.oid != algorithm {
        return Err(bad(
            "it is not signed sha256WithRSAEncryption (make it with an RSA key, as `openssl req -new -newkey rsa:2048` does)".to_owned(),
        ));
    }
    let spki = request.info.public_key.to_der().map_err(x509_error)?;
    let key = rsa::PublicKey::from_public_key_der(&spki)
        .map_err(|_| bad("its key is not an RSA key".to_owned()))?;
    let key_bits = key.n().as_ref().bit_width();
    if key_bits < MIN_KEY_BITS {
        return Err(bad(format!(
            "its RSA key has {key_bits} bits; at least {MIN_KEY_BITS} are needed"
        )));
    }
    let signature = request
        .signature
        .as_bytes()
        .and_then(|bytes| Signature::try_from(bytes).ok())
        .ok_or_else(|| bad("it carries no RSA signature".to_owned()))?;
    let signed = request.info.to_der().map_err(x509_error)?;
    VerifyingKey::<Sha256>::new(key)
        .verify(&signed, &signature)
        .map_err(|_| {
            bad(
                "its signature does not verify: it was edited, or not signed by the key it carries"
                    .to_owned(),
            )
        })?;
    // The subject must be CN=<user ID> and nothing else: a name the store
    // would not take for a user, or other attributes, are refused rather
    // than certified.
    let subject = request.info.subject.to_string();
    let user = subject
        .strip_prefix("CN=")
        .and_then(|id| UserId::new(id).ok())
        .filter(|id| Name::from_str(&format!("CN={id}")).is_ok_and(|n| n == request.info.subject))
        .ok_or_else(|| {
            bad(format!(
                "its subject is {}, not CN= and a user ID (1 to 64 of A-Z a-z 0-9 . _ - @)",
                crate::util::escape::printable(&subject)
            ))
        })?;
    let checked = CheckedRequest {
        user,
        public_key_fingerprint: sha256_hex(&spki),
        key_bits,
    };
    Ok((request, checked))
}

/// A certificate the CA signed from a request.
#[derive(Clone, Debug, Serialize)]
pub struct SignedRequest {
    /// The user ID it certifies: the subject's CN.
    pub user: UserId,
    /// The serial number, hex.
    pub serial: String,
    /// SHA-256 of the certified public key's DER.
    pub public_key_fingerprint: String,
    /// Not valid before, RFC 3339.
    pub not_before: String,
    /// Not valid after, RFC 3339.
    pub not_after: String,
    /// The certificate, PEM.
    pub pem: String,
}

impl std::fmt::Display for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "certificate signed for {}", self.user)?;
        writeln!(f, "  serial:  {}", self.serial)?;
        writeln!(f, "  key ID:  {}", self.public_key_fingerprint)?;
        writeln!(f, "  valid:   {} to {}", self.not_before, self.not_after)
    }
}

/// `cert sign`: checks `pem`, a certificate request from another store
/// ([`check_request`]), and signs a certificate for it with the store's CA
/// (opened with the administrator `password`), valid from now for `days`
/// (at most [`MAX_DAYS`], and never past the root's own end). The
/// certificate is logged (`cert_signed`, with its key ID and its SHA-256),
/// not kept: it goes back to the requester.
///
/// # Errors
/// [`CaError::BadRequest`]; [`CaError::NoCa`] without a CA;
/// [`CryptoError::Decryption`](crate::CryptoError::Decryption) for a wrong
/// administrator password; [`CaError::Refused`] for `days` out of range.
pub fn sign_request(
    store: &Store,
    pem: &str,
    password: &Password,
    days: u32,
) -> Result<SignedRequest> {
    let (request, checked) = check_request(pem)?;
    if days == 0 || days > MAX_DAYS {
        return Err(Error::Ca(CaError::Refused(format!(
            "a certificate from a request is valid 1 to {MAX_DAYS} days, not {days}"
        ))));
    }
    let (keys, _) = store.load()?;
    let ca = Ca::load(store.dir())?.ok_or(Error::Ca(CaError::NoCa))?;
    // One name, one key: a certificate is how another store knows who
    // speaks, by name alone. A name of this store's users is theirs
    // (`cert issue` certifies them), and a name this CA certified for
    // another key is taken until that certificate is revoked.
    if keys.get(&checked.user)?.is_some() {
        return Err(Error::Ca(CaError::BadRequest(format!(
            "{} is a user of this store: their certificate comes from `secure-kms cert issue {}`, and no one else may have one in their name",
            checked.user, checked.user
        ))));
    }
    let history = crate::store::audit::ca_history(store.dir())?;
    let revoked: Vec<&str> = history
        .signed_requests
        .iter()
        .filter(|e| e.event.event == EventKind::CertRevoked)
        .filter_map(|e| e.event.serial.as_deref())
        .collect();
    if let Some(other) = history.signed_requests.iter().find(|e| {
        e.event.event == EventKind::CertSigned
            && e.event.subject.as_deref() == Some(checked.user.as_str())
            && e.event.public_key_fingerprint.as_deref()
                != Some(checked.public_key_fingerprint.as_str())
            && e.event
                .serial
                .as_deref()
                .is_some_and(|s| !revoked.contains(&s))
    }) {
        return Err(Error::Ca(CaError::BadRequest(format!(
            "this CA certified {} for another key already (serial {}, audit.log line {}): revoke that certificate first (`secure-kms cert revoke`), if it is theirs no more",
            checked.user,
            other.event.serial.as_deref().unwrap_or("?"),
            other.seq
        ))));
    }
    let ca_key = ca.key.unlock(password)?;
    let now = time::now();
    let end = now + f64::from(days) * 86_400.0;
    let root_end = ca.root.tbs_certificate().validity().not_after;
    let end = if x509_time(end)?.to_unix_duration() > root_end.to_unix_duration() {
        root_end
    } else {
        x509_time(end)?
    };
    let validity = Validity::new(x509_time(now)?, end);
    let profile = Profile::User {
        subject: request.info.subject.clone(),
        issuer: ca.root.tbs_certificate().subject().clone(),
    };
    let builder = CertificateBuilder::new(
        profile,
        random_serial()?,
        validity,
        request.info.public_key.clone(),
    )
    .map_err(x509_error)?;
    let certificate = sign(builder, &ca_key)?;
    let der = certificate.to_der().map_err(x509_error)?;
    let pem = certificate.to_pem(LineEnding::LF).map_err(x509_error)?;
    let spki = request.info.public_key.to_der().map_err(x509_error)?;
    store.update(|_, _, events| {
        let mut event = Event::for_ca(EventKind::CertSigned, &der, "cert sign");
        event.public_key_fingerprint = Some(Fingerprint::of(&spki));
        event.serial = Some(hex(certificate
            .tbs_certificate()
            .serial_number()
            .as_bytes()));
        event.subject = Some(checked.user.to_string());
        events.push(event);
        Ok(())
    })?;
    let tbs = certificate.tbs_certificate();
    let when =
        |t: x509_cert::time::Time| time::format(Timestamp::from_duration(t.to_unix_duration()));
    Ok(SignedRequest {
        user: checked.user,
        serial: hex(tbs.serial_number().as_bytes()),
        public_key_fingerprint: checked.public_key_fingerprint,
        not_before: when(tbs.validity().not_before),
        not_after: when(tbs.validity().not_after),
        pem,
    })
}

/// `cert revoke`: records that the certificate with `serial` (hex, colons
/// allowed), which this CA signed for another store (`cert sign`), is
/// revoked for `reason`, once the administrator `password` has opened the
/// CA key. The next CRL lists it, as it lists this store's revoked pairs;
/// the caller signs one at once.
///
/// # Errors
/// [`CaError::NoCa`]; [`CryptoError::Decryption`](crate::CryptoError::Decryption)
/// for a wrong password; [`CaError::Refused`] for a serial this CA did not
/// sign from a request, or one revoked already.
pub fn revoke_signed(
    store: &Store,
    serial: &str,
    reason: crate::revocation::RevocationReason,
    password: &Password,
) -> Result<()> {
    let wanted: String = serial
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    store.load()?;
    let ca = Ca::load(store.dir())?.ok_or(Error::Ca(CaError::NoCa))?;
    ca.key.unlock(password)?;
    store.update(|_, _, events| {
        let history = crate::store::audit::ca_history(store.dir())?;
        let line = |kind: EventKind| {
            history
                .signed_requests
                .iter()
                .find(|e| e.event.event == kind && e.event.serial.as_deref() == Some(wanted.as_str()))
        };
        let Some(signed) = line(EventKind::CertSigned) else {
            return Err(Error::Ca(CaError::Refused(format!(
                "this CA signed no certificate with serial {} from a request (`cert sign`); a certificate of this store's own users is revoked with `secure-kms revoke USER`",
                crate::util::escape::printable(serial)
            ))));
        };
        if let Some(done) = line(EventKind::CertRevoked) {
            return Err(Error::Ca(CaError::Refused(format!(
                "certificate {wanted} was revoked already, at {} (audit.log line {})",
                done.time_utc, done.seq
            ))));
        }
        let mut event = Event::for_ca(EventKind::CertRevoked, &[], "cert revoke");
        event.file_sha256 = signed.event.file_sha256.clone();
        event.public_key_fingerprint = signed.event.public_key_fingerprint.clone();
        event.serial = Some(wanted.clone());
        event.reason = Some(reason);
        events.push(event);
        Ok(())
    })
}

/// When and why this store's CA revoked `certificate`, if it signed it for
/// another store (`cert sign`) and revoked it since (`cert revoke`), as the
/// log's `cert_revoked` lines record: the store's own CRL lists those, and
/// a store with the CA checks them as another store checks the CRL it
/// imported.
///
/// # Errors
/// As [`crate::store::audit`]'s reading of the log.
pub fn revoked_here(
    store: &Store,
    certificate: &x509_cert::Certificate,
) -> Result<Option<(Timestamp, crate::revocation::RevocationReason)>> {
    let serial = hex(certificate.tbs_certificate().serial_number().as_bytes());
    let history = crate::store::audit::ca_history(store.dir())?;
    Ok(history
        .signed_requests
        .iter()
        .find(|e| {
            e.event.event == EventKind::CertRevoked
                && e.event.serial.as_deref() == Some(serial.as_str())
        })
        .map(|e| (e.time, e.event.reason.unwrap_or_default())))
}
