//! The KMS certificate authority: an RSA key encrypted under an
//! administrator password, and a self-signed X.509 v3 root certificate.
//!
//! `ca init` makes both. The key is RSA-3072 by default (RSA-2048 on
//! request), and it is wrapped exactly as users' private keys are: PKCS#8
//! sealed with AES-256-GCM under a key stretched from the password by
//! PBKDF2-HMAC-SHA256 (600,000 rounds, 16-byte salt). The root holds what
//! RFC 5280 asks of a CA certificate (section 4.2.1): basicConstraints
//! CA:TRUE, critical; keyUsage keyCertSign and cRLSign, critical; a
//! subjectKeyIdentifier (the SHA-1 of the public key, the first method of
//! RFC 5280 section 4.2.1.2) and the matching authorityKeyIdentifier; a
//! random 16-byte serial and ten calendar years of validity.
//!
//! Certificates and CRLs are signed sha256WithRSAEncryption (PKCS #1 v1.5,
//! SHA-256), as `openssl ca`, step-ca and the Web PKI's roots sign by
//! default: every X.509 verifier takes it, the signature needs no
//! parameters, and the attacks on PKCS #1 v1.5 are on encryption and on
//! careless verifiers, not on signing. (RSA-PSS, which the key exchange
//! uses, is also valid in X.509, but needs parameters in every signature
//! field and is refused by parts of the ecosystem, browsers' root stores
//! among them.) Signing blinds the private key with fresh randomness.
//!
//! The files sit in the store folder: `ca_key.json` (mode 0600) and
//! `ca_root.pem`, both written atomically under the store's lock. Without
//! them, everything else works as it does without a CA.

pub mod anchors;
mod attached;
pub mod crl;
pub mod import;
mod issue;
pub mod request;

pub(crate) use attached::FILES;
pub use attached::open_store;
pub use issue::{
    UserCertificate, certificate_of, check_admin_password, check_certificate, check_certificates,
    issue,
};

use std::fs;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rsa::pkcs1v15::{Signature as Pkcs1v15Signature, SigningKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::signature::RandomizedSigner;
use rsa::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::der::{Decode, DecodePem, Encode, EncodePem, pem::LineEnding};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SignatureBitStringEncoding, SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::time::Validity;

use crate::crypto::kdf::{KdfParams, Password, PasswordKey};
use crate::crypto::wrap::WrappedKey;
use crate::crypto::x509::x509_error;
use crate::store::audit::{Event, EventKind};
use crate::store::{AttachedRead, Store};
use crate::util::fingerprint::Fingerprint;
use crate::util::time::{self, Timestamp};
use crate::{CaError, CryptoError, Error, Result, StoreError};

/// The encrypted CA key's file, in the store folder.
pub const CA_KEY_FILE: &str = "ca_key.json";

/// The root certificate's file (PEM), in the store folder.
pub const ROOT_FILE: &str = "ca_root.pem";

/// The root's subject (and issuer).
pub const ROOT_SUBJECT: &str = "CN=secure-kms root CA,O=secure-kms";

/// The root's validity, in calendar years.
pub const ROOT_VALIDITY_YEARS: u16 = 10;

/// The CA key sizes `ca init` makes.
pub const CA_KEY_BITS: [usize; 2] = [2048, 3072];

/// The size `ca init` makes unless told otherwise.
pub const DEFAULT_CA_KEY_BITS: usize = 3072;

/// The `ca_key.json` format this version writes.
const CA_KEY_FORMAT: u32 = 1;

/// The purpose the CA key's wrapping key is derived for (see
/// [`PasswordKey::subkey`]): a users' key-wrapping key never opens it.
const PURPOSE: &str = "secure-kms ca private key";

/// `ca_key.json`: the encrypted CA key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaKey {
    /// The file format, 1.
    pub format: u32,
    /// When the CA was made, in seconds since the epoch.
    #[serde(deserialize_with = "time::deserialize")]
    pub created: Timestamp,
    /// SHA-256 of the public key's DER (SubjectPublicKeyInfo), hex: the
    /// key's ID, bound into the ciphertext.
    pub fingerprint: Fingerprint,
    /// The PKCS#8 private key, sealed under the administrator password.
    pub key: WrappedKey,
}

impl CaKey {
    fn associated_data(&self) -> Vec<u8> {
        associated_data(self.format, self.created, &self.fingerprint)
    }

    /// Opens the CA key with the administrator password.
    ///
    /// # Errors
    /// [`CryptoError::Decryption`] for a wrong password or a modified file: one
    /// opaque error for both.
    pub fn unlock(&self, password: &Password) -> Result<PrivateKey> {
        let password_key = PasswordKey::derive(password, &self.key.kdf);
        let der = self
            .key
            .unwrap_with(&password_key, PURPOSE, &self.associated_data())?;
        PrivateKey::from_pkcs8_der(&der).map_err(|_| Error::Crypto(CryptoError::Decryption))
    }
}

/// What the CA key's ciphertext is bound to: its format, when it was made
/// and its public key's fingerprint.
fn associated_data(format: u32, created: Timestamp, fingerprint: &str) -> Vec<u8> {
    format!("secure-kms/ca/v{format}/{created}/{fingerprint}").into_bytes()
}

/// The certificate authority as stored: its root and its encrypted key.
#[derive(Clone, Debug)]
pub struct Ca {
    /// The self-signed root certificate.
    pub root: Certificate,
    /// The root as PEM, as the file holds it.
    pub root_pem: String,
    /// The encrypted key.
    pub key: CaKey,
}

impl Ca {
    /// The CA of the store in `dir`, if it has one.
    ///
    /// # Errors
    /// [`StoreError::CorruptFile`] or [`CaError::CaBroken`] for files that do not
    /// parse or do not belong together; [`UtilError::Io`](crate::UtilError::Io).
    pub fn load(dir: &Path) -> Result<Option<Ca>> {
        let key_path = dir.join(CA_KEY_FILE);
        let root_path = dir.join(ROOT_FILE);
        let (key, root_pem) = match (read_text(&key_path)?, read_text(&root_path)?) {
            (None, None) => return Ok(None),
            (Some(key), Some(root)) => (key, root),
            (Some(_), None) => {
                return Err(broken(format!(
                    "{} is missing (if `ca init` was interrupted, move {} aside and run it again)",
                    root_path.display(),
                    key_path.display()
                )));
            }
            (None, Some(_)) => {
                return Err(broken(format!("{} is missing", key_path.display())));
            }
        };
        let key: CaKey = serde_json::from_str(&key).map_err(|source| {
            Error::Store(StoreError::CorruptFile {
                path: key_path.clone(),
                source,
            })
        })?;
        if key.format != CA_KEY_FORMAT {
            return Err(broken(format!(
                "{} has format {}, which this version does not read",
                key_path.display(),
                key.format
            )));
        }
        crate::util::armor::check_armor(&root_pem)
            .map_err(|why| broken(format!("{} is not bare PEM: {why}", root_path.display())))?;
        let root = Certificate::from_pem(root_pem.as_bytes()).map_err(|e| {
            broken(format!(
                "{} is not a PEM certificate: {e}",
                root_path.display()
            ))
        })?;
        let spki = root
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| broken(e.to_string()))?;
        if Fingerprint::of(&spki) != key.fingerprint {
            return Err(broken(format!(
                "{} does not certify the key in {}",
                root_path.display(),
                key_path.display()
            )));
        }
        let ca = Ca {
            root,
            root_pem,
            key,
        };
        // Self-signed by that key: an edited subject or extension breaks it.
        let tbs = ca.root.tbs_certificate().to_der().map_err(x509_error)?;
        let signature = ca
            .root
            .signature()
            .as_bytes()
            .and_then(|b| Pkcs1v15Signature::try_from(b).ok())
            .ok_or_else(|| broken(format!("{} has no RSA signature", root_path.display())))?;
        use rsa::signature::Verifier;
        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(ca.public_key()?)
            .verify(&tbs, &signature)
            .map_err(|_| {
                broken(format!(
                    "{}'s self-signature does not verify: it was edited",
                    root_path.display()
                ))
            })?;
        Ok(Some(ca))
    }

    /// The root's public key.
    ///
    /// # Errors
    /// [`CaError::CaBroken`] if it is not an RSA key.
    pub fn public_key(&self) -> Result<PublicKey> {
        use rsa::pkcs8::DecodePublicKey;
        let der = self
            .root
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| broken(e.to_string()))?;
        PublicKey::from_public_key_der(&der)
            .map_err(|e| broken(format!("the root's key is not RSA: {e}")))
    }
}

/// Makes the store's certificate authority: an RSA key of `bits` bits,
/// encrypted under `password`, and its self-signed root. Refuses if the
/// store has one.
///
/// ```
/// use secure_kms::ca::{Ca, init};
/// use secure_kms::crypto::kdf::{Password, MIN_ITERATIONS};
///
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// let password = Password::new("admin password".to_owned())?;
/// // The product uses 600,000 PBKDF2 rounds; an example need not wait.
/// let ca = init(&store, &password, 2048, MIN_ITERATIONS)?;
/// let again = Ca::load(dir.path())?.expect("made");
/// assert_eq!(again.root_pem, ca.root_pem);
/// assert!(again.key.unlock(&password).is_ok());
/// assert!(init(&store, &password, 2048, MIN_ITERATIONS).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CaError::CaExists`] if the store has a CA; [`CaError::InvalidKeySize`]
/// for a size other than 2048 or 3072; [`CryptoError::Rsa`] or [`CryptoError::Rng`]
/// if key generation fails; [`UtilError::Io`](crate::UtilError::Io) if a file cannot be written.
pub fn init(store: &Store, password: &Password, bits: usize, iterations: u32) -> Result<Ca> {
    if !CA_KEY_BITS.contains(&bits) {
        return Err(Error::Ca(CaError::InvalidKeySize(bits)));
    }
    refuse_existing(store.dir())?;
    store.check_writable()?;
    let private_key = PrivateKey::new(&mut getrandom::SysRng, bits)?;
    let public_key = private_key.to_public_key();
    let spki_der = public_key
        .to_public_key_der()
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    let password_key = PasswordKey::derive(password, &KdfParams::generate(iterations)?);
    let (created, fingerprint) = (time::now(), Fingerprint::of(spki_der.as_bytes()));
    // SecretDocument zeroizes the DER when dropped.
    let pkcs8 = private_key
        .to_pkcs8_der()
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    let key = CaKey {
        format: CA_KEY_FORMAT,
        created,
        key: WrappedKey::wrap(
            &password_key,
            PURPOSE,
            &associated_data(CA_KEY_FORMAT, created, &fingerprint),
            pkcs8.as_bytes(),
        )?,
        fingerprint,
    };

    let subject = Name::from_str(ROOT_SUBJECT).map_err(x509_error)?;
    let profile = Profile::Root(subject);
    let spki = SubjectPublicKeyInfo::from_der(spki_der.as_bytes()).map_err(x509_error)?;
    let validity = root_validity(time::now())?;
    let builder =
        CertificateBuilder::new(profile, random_serial()?, validity, spki).map_err(x509_error)?;
    let root = sign(builder, &private_key)?;
    let root_pem = root.to_pem(LineEnding::LF).map_err(x509_error)?;

    let key_json = serde_json::to_string_pretty(&key).expect("a CA key always serialises") + "\n";
    // The files and a `ca_created` line, in one journaled step.
    store.update_with_files(AttachedRead::New, |_, _, events, files| {
        refuse_existing(store.dir())?;
        let mut event = Event::for_ca(EventKind::CaCreated, root_pem.as_bytes(), "ca init");
        event.public_key_fingerprint = Some(key.fingerprint.clone());
        events.push(event);
        files.push((CA_KEY_FILE, key_json));
        files.push((ROOT_FILE, root_pem.clone()));
        Ok(())
    })?;
    Ok(Ca {
        root,
        root_pem,
        key,
    })
}

/// What a certificate is for: the root, or a user's key pair.
pub(crate) enum Profile {
    /// The self-signed root, with this subject.
    Root(Name),
    /// A user's certificate: its subject, and the root's subject as issuer.
    User {
        /// CN=the user ID.
        subject: Name,
        /// The root's subject.
        issuer: Name,
    },
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, subject: &Name) -> Name {
        match self {
            Profile::Root(_) => subject.clone(),
            Profile::User { issuer, .. } => issuer.clone(),
        }
    }

    fn get_subject(&self) -> Name {
        match self {
            Profile::Root(subject) | Profile::User { subject, .. } => subject.clone(),
        }
    }

    /// The root: basicConstraints CA:TRUE and keyUsage keyCertSign,
    /// cRLSign. A user: basicConstraints CA:FALSE and keyUsage
    /// digitalSignature, keyEncipherment. Both critical; both with a
    /// subjectKeyIdentifier, and an authorityKeyIdentifier naming the
    /// root's (RFC 5280 section 4.2.1.1-4.2.1.3, 4.2.1.9).
    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let (ca, usage) = match self {
            Profile::Root(_) => (true, KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            Profile::User { .. } => (
                false,
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
            ),
        };
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(SubjectKeyIdentifier::try_from(issuer_spk)?.0),
            ..Default::default()
        };
        let mut extensions = Vec::new();
        let subject = tbs.subject();
        extensions.push(
            BasicConstraints {
                ca,
                path_len_constraint: None,
            }
            .to_extension(subject, &extensions)?,
        );
        extensions.push(KeyUsage(usage).to_extension(subject, &extensions)?);
        extensions.push(ski.to_extension(subject, &extensions)?);
        extensions.push(aki.to_extension(subject, &extensions)?);
        Ok(extensions)
    }
}

/// What `ca show --text` says of the root.
#[derive(Clone, Debug, Serialize)]
pub struct RootDescription {
    /// The subject (and issuer).
    pub subject: String,
    /// The serial number, hex.
    pub serial: String,
    /// Not valid before, RFC 3339.
    pub not_before: String,
    /// Not valid after, RFC 3339.
    pub not_after: String,
    /// The key's size in bits.
    pub bits: usize,
    /// SHA-256 of the key's SubjectPublicKeyInfo DER.
    pub key_fingerprint: String,
}

impl std::fmt::Display for RootDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "root certificate of the store's CA")?;
        writeln!(
            f,
            "  subject: {} (self-signed)",
            crate::util::escape::printable(&self.subject)
        )?;
        writeln!(f, "  serial:  {}", self.serial)?;
        writeln!(f, "  valid:   {} to {}", self.not_before, self.not_after)?;
        writeln!(
            f,
            "  key:     RSA-{}, ID {}",
            self.bits, self.key_fingerprint
        )?;
        writeln!(
            f,
            "  X.509 v3, sha256WithRSAEncryption; CA:TRUE (critical); keyCertSign, cRLSign (critical)"
        )
    }
}

/// Describes the root of `ca`.
///
/// # Errors
/// [`CaError::CaBroken`] if its key is not RSA.
pub fn describe_root(ca: &Ca) -> Result<RootDescription> {
    use rsa::traits::PublicKeyParts;
    let tbs = ca.root.tbs_certificate();
    let when = |t: x509_cert::time::Time| {
        time::format(crate::util::time::Timestamp::from_duration(
            t.to_unix_duration(),
        ))
    };
    Ok(RootDescription {
        subject: tbs.subject().to_string(),
        serial: crate::util::fingerprint::hex(tbs.serial_number().as_bytes()),
        not_before: when(tbs.validity().not_before),
        not_after: when(tbs.validity().not_after),
        bits: ca.public_key()?.n().bit_width() as usize,
        key_fingerprint: ca.key.fingerprint.to_string(),
    })
}

/// From `now` (to the second) to the same date and time
/// [`ROOT_VALIDITY_YEARS`] later (28 February for a 29 February).
fn root_validity(now: Timestamp) -> Result<Validity> {
    use x509_cert::der::DateTime;
    let start =
        DateTime::from_unix_duration(Duration::from_secs(now.whole_secs())).map_err(x509_error)?;
    let day = if start.month() == 2 && start.day() == 29 {
        28
    } else {
        start.day()
    };
    let end = DateTime::new(
        start.year() + ROOT_VALIDITY_YEARS,
        start.month(),
        day,
        start.hour(),
        start.minutes(),
        start.seconds(),
    )
    .map_err(x509_error)?;
    Ok(Validity::new(start.into(), end.into()))
}

/// A time of ours as X.509 validity time (UTCTime to 2049, then
/// GeneralizedTime, as RFC 5280 section 4.1.2.5 says), to the second.
pub(crate) fn x509_time(t: Timestamp) -> Result<x509_cert::time::Time> {
    let secs = Duration::from_secs(t.whole_secs());
    x509_cert::time::Time::try_from(std::time::UNIX_EPOCH + secs).map_err(x509_error)
}

/// The CA's files are not what they should be: `why`.
pub(crate) fn broken(why: impl Into<String>) -> Error {
    Error::Ca(CaError::CaBroken(why.into()))
}

fn refuse_existing(dir: &Path) -> Result<()> {
    // An old CA's CRL would not verify against a new root.
    for name in FILES {
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_ok() {
            return Err(Error::Ca(CaError::CaExists(path)));
        }
    }
    Ok(())
}

/// Signs what `builder` holds with the CA key: sha256WithRSAEncryption,
/// blinded with fresh randomness.
pub(crate) fn sign<B: Builder>(mut builder: B, ca_key: &PrivateKey) -> Result<B::Output> {
    let signer = SigningKey::<Sha256>::new(ca_key.clone());
    let tbs = builder.finalize(&signer).map_err(x509_error)?;
    let signature: Pkcs1v15Signature = signer
        .try_sign_with_rng(&mut getrandom::SysRng, &tbs)
        .map_err(|e| Error::Crypto(CryptoError::Sign(e)))?;
    let signature = signature.to_bitstring().map_err(x509_error)?;
    builder.assemble(signature, &signer).map_err(x509_error)
}

/// A random positive serial number of 16 bytes (RFC 5280 allows up to 20;
/// the CA/Browser Forum asks for at least 64 random bits).
pub(crate) fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    // Positive, and 16 bytes long: DER drops a leading zero byte.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::new(&bytes).map_err(x509_error)
}

/// The largest CA file read: a PEM root or a wrapped 4096-bit key is a few
/// kilobytes.
const MAX_CA_FILE_BYTES: u64 = 1 << 20;

fn read_text(path: &Path) -> Result<Option<String>> {
    let Some(bytes) = crate::store::safe_file::read(path, MAX_CA_FILE_BYTES)? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| broken(format!("{} is not UTF-8 text", path.display())))
}

#[cfg(test)]
mod tests;
