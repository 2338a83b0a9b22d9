//! Certificates for users' RSA pairs: issued with proof that the owner
//! holds the private key, shown, and checked against the store's root
//! wherever a key is used.

use std::str::FromStr;

use rsa::pkcs1v15::Signature as Pkcs1v15Signature;
use serde::Serialize;
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::builder::CertificateBuilder;
use x509_cert::der::{Decode, DecodePem, Encode, EncodePem, pem::LineEnding};
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfo;
use x509_cert::time::Validity;

use crate::ca::{Ca, Profile, random_serial, sign, x509_time};
use crate::crypto::kdf::Password;
use crate::crypto::x509::{serial_of, x509_error};
use crate::keys::KeyStore;
use crate::keys::keyring::versions_of;
use crate::store::Store;
use crate::store::audit::{Event, EventKind};
use crate::util::fingerprint::sha256_hex;
use crate::util::time::{self};
use crate::util::user::UserId;
use crate::{CaError, Error, KeyError, Result, StoreError};

/// A certificate issued for a user's key pair.
#[derive(Clone, Debug, Serialize)]
pub struct UserCertificate {
    /// The user ID: the subject's CN.
    pub user: UserId,
    /// The key version it certifies.
    pub version: u32,
    /// The serial number, hex.
    pub serial: String,
    /// The subject, as RFC 4514 text.
    pub subject: String,
    /// The issuer (the root's subject).
    pub issuer: String,
    /// Not valid before, RFC 3339.
    pub not_before: String,
    /// Not valid after, RFC 3339.
    pub not_after: String,
    /// Its version, signature and the extensions that say what it is for,
    /// as read from it: "X.509 v3, sha256WithRSAEncryption; CA:FALSE;
    /// digitalSignature, keyEncipherment" for the ones this CA issues.
    pub profile: String,
    /// The certificate, PEM.
    pub pem: String,
}

impl std::fmt::Display for UserCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "certificate of {}, key version {}",
            self.user, self.version
        )?;
        // Names read from a certificate in the store: escaped.
        let shown = crate::util::escape::printable;
        writeln!(f, "  subject: {}", shown(&self.subject))?;
        writeln!(f, "  issuer:  {}", shown(&self.issuer))?;
        writeln!(f, "  serial:  {}", self.serial)?;
        writeln!(f, "  valid:   {} to {}", self.not_before, self.not_after)?;
        writeln!(f, "  {}", self.profile)
    }
}

/// Issues a certificate for the primary RSA pair of `user_id`, signed by
/// the store's CA (opened with the administrator `password`), and stores
/// it beside the pair. Its subject is CN=`user_id`, its serial random, and
/// its validity the pair's active period.
///
/// A CA certifies that a key belongs to someone, so it first gets proof
/// of possession, as a certificate request's self-signature gives it
/// (PKCS#10, RFC 2986; RFC 4211 section 4): `owner_password`, the user's,
/// must unlock the pair's private key, and that key must be the stored
/// public key's. A public key swapped into `key_store.json` is refused
/// before that ([`crate::store::trust::check_user`]).
///
/// # Errors
/// [`CaError::NoCa`] without a CA; [`CryptoError::Decryption`](crate::CryptoError::Decryption) for a wrong
/// administrator or owner password; [`StoreError::Untrusted`] for a pair the
/// log disagrees with; [`KeyError::UnknownUser`]; [`KeyError::Revoked`],
/// [`KeyError::Destroyed`] or [`CaError::Refused`] (its active period
/// over, or certified already) for a pair that cannot be certified; [`StoreError::Conflict`] if the pair changed meanwhile.
pub fn issue(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    owner_password: &Password,
) -> Result<UserCertificate> {
    let ca = Ca::load(store.dir())?.ok_or(Error::Ca(CaError::NoCa))?;
    let (keys, revoked) = crate::store::trust::load_for_use(
        store,
        &[user_id],
        crate::store::trust::KeyUse::WithPassword,
    )?;
    let pair = primary_pair(&keys, user_id)?.clone();
    if pair.private.is_none() {
        return Err(pair.destroyed(user_id));
    }
    if let Some(pem) = &pair.certificate {
        // A second certificate for one pair would stay valid, unrevoked,
        // beside the first: revocation names one serial per pair.
        return Err(Error::Ca(CaError::Refused(format!(
            "the primary RSA pair of {user_id} (version {}) is certified already (serial {}): rotate to certify a new pair",
            pair.version,
            serial_of(pem)?
        ))));
    }
    crate::revocation::check_not_revoked(&revoked, user_id, &versions_of(&keys, user_id)?)?;
    let now = time::now();
    if pair.is_expired(now) {
        return Err(Error::Ca(CaError::Refused(format!(
            "the RSA pair of {user_id} (version {}) ended its active period at {}: rotate, then issue a certificate for the new pair",
            pair.version,
            time::format(pair.expiry)
        ))));
    }
    // Proof of possession: the owner's password opens the private key,
    // and `unlock` checks that it is the stored public key's.
    let owner_key = crate::keys::unlock::check_password(&keys, user_id, owner_password)?;
    pair.unlock(user_id, &owner_key)?;
    let ca_key = ca.key.unlock(password)?;

    let subject = Name::from_str(&format!("CN={user_id}")).map_err(x509_error)?;
    let profile = Profile::User {
        subject,
        issuer: ca.root.tbs_certificate().subject().clone(),
    };
    // Never past the root's own end: a verifier would refuse the rest.
    let root_end = ca.root.tbs_certificate().validity().not_after;
    let end = x509_time(pair.expiry)?;
    let end = if end.to_unix_duration() > root_end.to_unix_duration() {
        root_end
    } else {
        end
    };
    let validity = Validity::new(x509_time(pair.created)?, end);
    let spki = SubjectPublicKeyInfo::from_der(&crate::crypto::spki::public_der(&pair.public)?)
        .map_err(x509_error)?;
    let builder =
        CertificateBuilder::new(profile, random_serial()?, validity, spki).map_err(x509_error)?;
    let certificate = sign(builder, &ca_key)?;
    let pem = certificate.to_pem(LineEnding::LF).map_err(x509_error)?;

    store.update(|keys, revoked, events| {
        // Revoked in the meantime: its serial could reach no CRL.
        crate::revocation::check_not_revoked(revoked, user_id, &versions_of(keys, user_id)?)?;
        let record = keys.entry(user_id)?;
        match record.asymmetric.last_mut() {
            Some(stored) if *stored == pair => stored.certificate = Some(pem.clone()),
            _ => return Err(Error::Store(StoreError::Conflict(user_id.to_string()))),
        }
        events.push(
            Event::new(EventKind::Certified, user_id, "cert issue").for_version(
                pair.version,
                None,
                Some(&pair.fingerprint),
            ),
        );
        Ok(())
    })?;
    Ok(describe(user_id, pair.version, &certificate, pem))
}

/// The primary (newest) RSA pair of `user_id`.
fn primary_pair<'a>(
    keys: &'a crate::keys::KeyStore,
    user_id: &UserId,
) -> Result<&'a crate::pki::AsymmetricVersion> {
    keys.get(user_id)?
        .and_then(|record| record.asymmetric.last())
        .ok_or_else(|| Error::Key(KeyError::UnknownUser(user_id.to_string())))
}

/// The certificate stored for the primary RSA pair of `user_id`.
///
/// # Errors
/// [`KeyError::UnknownUser`]; [`CaError::NoCertificate`] if the pair has none.
pub fn certificate_of(store: &Store, user_id: &UserId) -> Result<UserCertificate> {
    let (keys, _) = crate::store::trust::load_for_use(
        store,
        &[user_id],
        crate::store::trust::KeyUse::PublicOnly,
    )?;
    let pair = primary_pair(&keys, user_id)?;
    // Shown or handed out only if the store's root signed it for this
    // user and key.
    check_certificate(store, user_id, pair)?;
    let pem = pair
        .certificate
        .clone()
        .ok_or_else(|| Error::Ca(CaError::NoCertificate(user_id.to_string())))?;
    let certificate = Certificate::from_pem(pem.as_bytes()).map_err(x509_error)?;
    Ok(describe(user_id, pair.version, &certificate, pem))
}

fn describe(
    user_id: &UserId,
    version: u32,
    certificate: &Certificate,
    pem: String,
) -> UserCertificate {
    let tbs = certificate.tbs_certificate();
    let when = |t: x509_cert::time::Time| {
        time::format(crate::util::time::Timestamp::from_duration(
            t.to_unix_duration(),
        ))
    };
    UserCertificate {
        user: user_id.clone(),
        version,
        serial: crate::util::fingerprint::hex(tbs.serial_number().as_bytes()),
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        not_before: when(tbs.validity().not_before),
        not_after: when(tbs.validity().not_after),
        profile: profile(certificate),
        pem,
    }
}

/// What `certificate` says of itself: its version, its signature, and
/// its basicConstraints and keyUsage where it has them.
fn profile(certificate: &Certificate) -> String {
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
    let tbs = certificate.tbs_certificate();
    let version = match tbs.version() {
        x509_cert::certificate::Version::V1 => "X.509 v1",
        x509_cert::certificate::Version::V2 => "X.509 v2",
        x509_cert::certificate::Version::V3 => "X.509 v3",
    };
    let algorithm = if certificate.signature_algorithm().oid
        == x509_cert::der::oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION
    {
        "sha256WithRSAEncryption".to_owned()
    } else {
        certificate.signature_algorithm().oid.to_string()
    };
    let mut parts = vec![format!("{version}, {algorithm}")];
    if let Ok(Some((_, constraints))) = tbs.get_extension::<BasicConstraints>() {
        parts.push(format!(
            "CA:{}",
            if constraints.ca { "TRUE" } else { "FALSE" }
        ));
    }
    if let Ok(Some((_, usage))) = tbs.get_extension::<KeyUsage>() {
        let named = [
            (KeyUsages::DigitalSignature, "digitalSignature"),
            (KeyUsages::KeyEncipherment, "keyEncipherment"),
            (KeyUsages::KeyCertSign, "keyCertSign"),
            (KeyUsages::CRLSign, "cRLSign"),
        ];
        let names: Vec<&str> = named
            .iter()
            .filter(|(flag, _)| usage.0.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        parts.push(names.join(", "));
    }
    if parts.len() == 1 {
        parts.push("no extensions".to_owned());
    }
    parts.join("; ")
}

/// Checks that one of `roots` signed `certificate`: the root whose subject
/// is its issuer, with its key (sha256WithRSAEncryption, as `ca init`,
/// `openssl ca` and `openssl x509 -req` sign).
///
/// # Errors
/// What is wrong, as the end of a sentence ("is not ...").
pub(crate) fn signed_by_a_root<'r>(
    roots: &'r [Certificate],
    certificate: &Certificate,
) -> std::result::Result<&'r Certificate, String> {
    let tbs = certificate.tbs_certificate();
    let named: Vec<&Certificate> = roots
        .iter()
        .filter(|root| root.tbs_certificate().subject() == tbs.issuer())
        .collect();
    if named.is_empty() {
        return Err(format!(
            "was issued by {}, which is not a root this store trusts",
            crate::util::escape::printable(&tbs.issuer().to_string())
        ));
    }
    let algorithm = x509_cert::der::oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
    if certificate.signature_algorithm().oid != algorithm || tbs.signature().oid != algorithm {
        return Err("is not signed sha256WithRSAEncryption, as the roots sign".to_owned());
    }
    let signed = tbs.to_der().map_err(|e| e.to_string())?;
    // Two roots may share a name (every `ca init` root has the same one):
    // the one whose key verifies the signature is the issuer.
    named
        .into_iter()
        .find(|root| signed_with(root, &signed, certificate.signature().as_bytes()))
        .ok_or_else(|| {
            format!(
                "is not signed by the root {}: it was forged or edited",
                crate::util::escape::printable(&tbs.issuer().to_string())
            )
        })
}

/// Whether `signature` over `signed` verifies with `root`'s RSA key
/// (sha256WithRSAEncryption).
pub(crate) fn signed_with(root: &Certificate, signed: &[u8], signature: Option<&[u8]>) -> bool {
    use rsa::pkcs1v15::VerifyingKey;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let Some(signature) = signature.and_then(|bytes| Pkcs1v15Signature::try_from(bytes).ok())
    else {
        return false;
    };
    let Ok(spki) = root.tbs_certificate().subject_public_key_info().to_der() else {
        return false;
    };
    rsa::PublicKey::from_public_key_der(&spki).is_ok_and(|key| {
        VerifyingKey::<Sha256>::new(key)
            .verify(signed, &signature)
            .is_ok()
    })
}

/// Checks `password` against the CA key before a command changes anything
/// (keygen, rotate or revoke with `--admin-password-file`), so that a wrong
/// one stops it first. `Ok(false)` without a CA.
///
/// # Errors
/// [`CryptoError::Decryption`](crate::CryptoError::Decryption) for a wrong password; as [`Ca::load`].
pub fn check_admin_password(store: &Store, password: &Password) -> Result<bool> {
    match Ca::load(store.dir())? {
        Some(ca) => ca.key.unlock(password).map(|_| true),
        None => Ok(false),
    }
}

/// With a certificate authority in the store, checks the certificate that
/// `pair` carries, if any: one the store's root signed, for `user_id`, of
/// this public key, or one a root the store trusts signed (`cert
/// import`) and that root's imported CRL does not list. Without a
/// certificate, nothing to check; a certificate with no root to check it
/// against (none trusted, or its root untrusted since) is refused.
///
/// # Errors
/// [`StoreError::Untrusted`] for a certificate no trusted root signed, or
/// of another user or key; [`KeyError::Revoked`] for one an imported CRL
/// lists; as [`Ca::load`] and
/// [`anchors::trusted`](crate::ca::anchors::trusted).
pub fn check_certificate(
    store: &Store,
    user_id: &UserId,
    pair: &crate::pki::AsymmetricVersion,
) -> Result<()> {
    if pair.certificate.is_none() {
        return Ok(());
    }
    let roots = crate::ca::anchors::roots(store)?;
    let crls = crate::ca::crl::imported::stored(store)?;
    certificate_issued(&roots, &crls, user_id, pair)
}

/// [`check_issued`] for `pair`'s certificate, if it has one, and the
/// imported CRL of the root that signed it, as the refusal a key use
/// gives.
fn certificate_issued(
    roots: &[Certificate],
    crls: &[x509_cert::crl::CertificateList],
    user_id: &UserId,
    pair: &crate::pki::AsymmetricVersion,
) -> Result<()> {
    let Some(pem) = &pair.certificate else {
        return Ok(());
    };
    let untrusted = |why: String| {
        Error::Store(StoreError::Untrusted {
            user: user_id.to_string(),
            problem: format!(
                "the certificate of version {} of {user_id} in key_store.json {why}",
                pair.version
            ),
            remedy: "restore key_store.json from a backup, or trust the root that issued it again with `secure-kms ca trust`".to_owned(),
        })
    };
    let root = check_issued(roots, pem, user_id, &pair.fingerprint).map_err(untrusted)?;
    let certificate = Certificate::from_pem(pem.as_bytes()).map_err(x509_error)?;
    if let Some((at, reason)) = crate::ca::crl::imported::listed(crls, root, &certificate) {
        return Err(Error::Key(KeyError::Revoked {
            user: user_id.to_string(),
            revoked_at: time::format(at),
            reason: format!(
                "{reason}; its certificate is on the CRL of {} imported here",
                crate::util::escape::printable(&root.tbs_certificate().subject().to_string())
            ),
        }));
    }
    Ok(())
}

/// [`check_certificate`] for every RSA pair of `user_id` that has a
/// certificate: what a command that uses the user's private key (sign,
/// encrypt, decrypt, the exchange) checks, so that no forged certificate
/// stays in a record that is in use.
///
/// # Errors
/// As [`check_certificate`].
pub fn check_certificates(store: &Store, keys: &KeyStore, user_id: &UserId) -> Result<()> {
    let Some(record) = keys.get(user_id)? else {
        return Ok(());
    };
    if record.asymmetric.iter().all(|a| a.certificate.is_none()) {
        return Ok(());
    }
    // The roots and CRLs are read once for all the pairs.
    let roots = crate::ca::anchors::roots(store)?;
    let crls = crate::ca::crl::imported::stored(store)?;
    record
        .asymmetric
        .iter()
        .try_for_each(|pair| certificate_issued(&roots, &crls, user_id, pair))
}

/// Checks that `pem` is a certificate this CA issued to `user_id` for the
/// public key with `fingerprint`: issued by the root, signed with its key
/// (sha256WithRSAEncryption, as [`issue`] signs), subject `CN=user_id`,
/// and the key's SubjectPublicKeyInfo that fingerprint. Whoever edits
/// `key_store.json` can put any certificate there, but cannot sign one
/// without the administrator password.
///
/// # Errors
/// What is wrong, as the end of a sentence ("is not ...").
pub(crate) fn check_issued<'r>(
    roots: &'r [Certificate],
    pem: &str,
    user_id: &UserId,
    fingerprint: &str,
) -> std::result::Result<&'r Certificate, String> {
    let certificate = Certificate::from_pem(pem.as_bytes())
        .map_err(|e| format!("is not a PEM certificate ({e})"))?;
    let root = signed_by_a_root(roots, &certificate)?;
    let tbs = certificate.tbs_certificate();
    let subject = Name::from_str(&format!("CN={user_id}")).map_err(|e| e.to_string())?;
    if *tbs.subject() != subject {
        return Err(format!("was issued to {}, not to {user_id}", tbs.subject()));
    }
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    if sha256_hex(&spki) != fingerprint {
        return Err("is for another public key than the version's".to_owned());
    }
    Ok(root)
}
