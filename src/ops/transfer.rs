//! Keys in and out of the store, in the formats OpenSSL reads and writes.
//!
//! - `export --public`: the primary version's public key as a
//!   SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
//! - `export --private`: its private key as an encrypted PKCS#8 PEM
//!   (`BEGIN ENCRYPTED PRIVATE KEY`), PBES2 with PBKDF2-HMAC-SHA256 (600,000
//!   iterations, 16-byte salt) and AES-256-CBC (RFC 8018), under a password
//!   given for the export: `openssl pkey -in FILE -passin pass:...` opens it.
//!   Refused for a compromised or destroyed key, and logged in `audit.log`.
//! - `import --private`: an encrypted PKCS#8 PEM, as `openssl genpkey` or
//!   `openssl pkcs8 -topk8 -v2 aes-256-cbc` make, holding an RSA key of 2048
//!   to 4096 bits, becomes the user's next key version.
//! - `cert request`: a PKCS#10 certificate request for the primary pair,
//!   signed with its private key, for another store's CA to sign.

use pkcs8::pkcs5::pbes2;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding, PrivateKeyInfoRef};
use rsa::PrivateKey;
use rsa::traits::PublicKeyParts;
use zeroize::Zeroizing;

use crate::crypto::kdf::{DEFAULT_ITERATIONS, KdfParams, MAX_ITERATIONS, Password, PasswordKey};
use crate::crypto::spki::public_key_fingerprint;
use crate::keys::KeyStore;
use crate::keys::keyring::versions;
use crate::ops::commands::authenticate;
use crate::revocation::RevocationList;
use crate::store::Store;
use crate::store::audit::{Event, EventKind};
use crate::store::versions::{NewVersion, add_version_with};
use crate::util::user::UserId;
use crate::{CryptoError, Error, KeyError, OpsError, Result};

/// The RSA key sizes `import` takes, in bits.
pub const IMPORT_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// The primary version of `user_id`'s RSA key pair and its public key PEM.
///
/// # Errors
/// [`KeyError::UnknownUser`] when the user has no RSA key; [`KeyError::Revoked`]
/// when the primary version is compromised.
pub fn export_public(store: &Store, user_id: &UserId) -> Result<(u32, String)> {
    let (keys, revoked) = crate::ops::commands::load_for_use(
        store,
        &[user_id],
        crate::store::trust::KeyUse::PublicOnly,
    )?;
    let record = keys.require(user_id)?;
    let all = versions(record);
    let (version, pair) = all
        .last()
        .and_then(|v| v.asymmetric.map(|a| (v, a)))
        .ok_or_else(|| Error::Key(KeyError::UnknownUser(user_id.to_string())))?;
    // A compromised key's public key would lead others to trust what it
    // signs. (A destroyed one's may still verify old signatures.)
    if let Some(r) = revoked.find(user_id, version) {
        return Err(r.to_error());
    }
    Ok((pair.version, pair.public.clone()))
}

/// The primary version's private key as an encrypted PKCS#8 PEM under
/// `export_password`. The export is logged before the PEM is returned: an
/// export that cannot be logged does not happen.
///
/// # Errors
/// [`KeyError::Revoked`] or [`KeyError::Destroyed`]: a compromised or destroyed
/// key never leaves; [`KeyError::Unlock`] for a wrong password (logged);
/// [`CryptoError::MalformedKey`] if encoding fails.
pub fn export_private(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    export_password: &Password,
) -> Result<(u32, Zeroizing<String>)> {
    let (keys, revoked) = crate::ops::commands::load_for_use(
        store,
        &[user_id],
        crate::store::trust::KeyUse::WithPassword,
    )?;
    let unlocked =
        crate::ops::commands::unlock_logged(store, &keys, &revoked, user_id, password, "export")?;
    let Some((private_key, _)) = &unlocked.key_pair else {
        return Err(Error::Key(KeyError::UnknownUser(user_id.to_string())));
    };
    let der = private_key
        .to_pkcs8_der()
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    let info = PrivateKeyInfoRef::try_from(der.as_bytes())
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt)?;
    getrandom::fill(&mut iv)?;
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(DEFAULT_ITERATIONS, &salt, iv)
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    let encrypted = info
        .encrypt_with_params(params, export_password.as_bytes())
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    let pem = encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    let version = unlocked.version;
    let pair = unlocked
        .record
        .asymmetric
        .iter()
        .find(|a| a.version == version);
    store.log(
        Event::new(EventKind::Exported, user_id, "export").for_version(
            version,
            None,
            pair.map(|p| &p.fingerprint),
        ),
    )?;
    Ok((version, pem))
}

/// Reads an encrypted PKCS#8 PEM holding an RSA key of 2048 to 4096 bits.
///
/// # Errors
/// [`OpsError::ImportRefused`] saying what is wrong: not encrypted, not PEM,
/// a wrong password or a damaged file, not RSA, a size out of range.
pub fn read_encrypted_private_key(pem: &str, password: &Password) -> Result<PrivateKey> {
    let refuse = |why: String| Error::Ops(OpsError::ImportRefused(why));
    let label = pem.lines().map(str::trim).find_map(|l| {
        l.strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
    });
    match label {
        Some("ENCRYPTED PRIVATE KEY") => {}
        Some("PRIVATE KEY") | Some("RSA PRIVATE KEY") => {
            return Err(refuse(
                "it holds an unencrypted private key; encrypt it first: openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out KEY.enc".to_owned(),
            ));
        }
        Some(other) => {
            return Err(refuse(format!(
                "it holds a {other}, not an ENCRYPTED PRIVATE KEY"
            )));
        }
        None => return Err(refuse("it is not a PEM file".to_owned())),
    }
    check_encrypted_private_key(pem)?;
    let key = PrivateKey::from_pkcs8_encrypted_pem(pem, password.as_bytes()).map_err(|_| {
        refuse(
            "the password does not open it, or it is damaged or not an RSA key (PBES2 with PBKDF2 or scrypt and AES-CBC are read)".to_owned(),
        )
    })?;
    let bits = key.n().bit_width() as usize;
    if !IMPORT_BITS.contains(&bits) {
        return Err(refuse(format!(
            "its RSA key has {bits} bits; 2048 to 4096 are accepted"
        )));
    }
    Ok(key)
}

/// The most memory an imported file's scrypt parameters may ask for
/// (128 * r * N bytes): 256 MiB, eight times OpenSSL's default limit.
pub const MAX_SCRYPT_MEMORY: u64 = 256 << 20;

/// Reads an `ENCRYPTED PRIVATE KEY` PEM's structure and its key-derivation
/// parameters, without deriving anything: refuses a file whose PBKDF2
/// iterations (above [`MAX_ITERATIONS`]) or scrypt cost (above
/// [`MAX_SCRYPT_MEMORY`], or p above 16) would make the password check run
/// for minutes or exhaust memory, before any of that work is done.
///
/// ```
/// use secure_kms::ops::transfer::check_encrypted_private_key;
///
/// assert!(check_encrypted_private_key("not a PEM").is_err());
/// ```
///
/// # Errors
/// [`OpsError::ImportRefused`] saying what is wrong.
pub fn check_encrypted_private_key(pem: &str) -> Result<()> {
    let refuse = |why: String| Error::Ops(OpsError::ImportRefused(why));
    let malformed = |e: &dyn std::fmt::Display| {
        refuse(format!(
            "it is not a well-formed encrypted PKCS#8 file ({e})"
        ))
    };
    let (_label, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|e| malformed(&e))?;
    let info =
        pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| malformed(&e))?;
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err(refuse(
            "it uses PBES1 (a legacy scheme); re-encrypt it: openssl pkcs8 -topk8 -v2 aes-256-cbc"
                .to_owned(),
        ));
    };
    match &params.kdf {
        pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_ITERATIONS => Err(refuse(format!(
            "it asks for {} PBKDF2 iterations; at most {MAX_ITERATIONS} are run",
            p.iteration_count
        ))),
        pbes2::Kdf::Scrypt(p) => {
            let memory = 128u64
                .saturating_mul(u64::from(p.block_size))
                .saturating_mul(p.cost_parameter);
            if memory > MAX_SCRYPT_MEMORY || p.parallelization > 16 {
                Err(refuse(format!(
                    "its scrypt parameters (N = {}, r = {}, p = {}) ask for more than 256 MiB or 16 lanes",
                    p.cost_parameter, p.block_size, p.parallelization
                )))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Refuses a key that any user of the store has had, or that was revoked:
/// importing it again would bring a destroyed or compromised key back as an
/// active one.
fn refuse_known_key(
    keys: &KeyStore,
    revoked: &RevocationList,
    private_key: &PrivateKey,
) -> Result<()> {
    let fingerprint = public_key_fingerprint(&private_key.to_public_key())?;
    let now = crate::util::time::now();
    for id in keys.user_ids() {
        let user_id = UserId::new(id)?;
        let record = keys.get(&user_id)?.expect("listed");
        let states = crate::keys::keyring::status(record, revoked, &user_id, now);
        if let Some(v) = states
            .iter()
            .find(|v| v.public_key_fingerprint.as_deref() == Some(fingerprint.as_str()))
        {
            return Err(Error::Ops(OpsError::KeyAlreadyKnown {
                user: id.to_owned(),
                version: v.version,
                state: v.state_text(),
            }));
        }
    }
    if let Some(r) = revoked
        .entries()
        .iter()
        .find(|r| r.public_key_fingerprint.as_deref() == Some(fingerprint.as_str()))
    {
        return Err(Error::Ops(OpsError::KeyAlreadyKnown {
            user: r.user_id.to_string(),
            version: r.version.unwrap_or(0),
            state: crate::keys::keyring::revoked_state_text(r),
        }));
    }
    Ok(())
}

/// Makes `private_key` the RSA key of `user_id`'s next version (with a new
/// symmetric key beside it), wrapped under `password`. For a user with no
/// keys it is version 1, and `password` becomes theirs; otherwise
/// `password` must be theirs.
///
/// # Errors
/// [`OpsError::KeyAlreadyKnown`] for a key the store has had (a destroyed or
/// revoked one among them); [`KeyError::Unlock`] for a wrong password; as
/// [`add_version_with`].
pub fn import_private(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    private_key: &PrivateKey,
    expiry_time: u64,
    iterations: u32,
) -> Result<NewVersion> {
    let (keys, revoked) = crate::ops::commands::load_for_use(
        store,
        &[user_id],
        crate::store::trust::KeyUse::WithPassword,
    )?;
    store.check_writable()?;
    refuse_known_key(&keys, &revoked, private_key)?;
    let existing = keys.get(user_id)?;
    let (password_key, kind) = match existing {
        Some(record) if record.latest_version() > 0 => (
            authenticate(store, &keys, user_id, password, "import")?,
            EventKind::Rotated,
        ),
        _ => (
            PasswordKey::derive(password, &KdfParams::generate(iterations)?),
            EventKind::Created,
        ),
    };
    add_version_with(
        store,
        user_id,
        &password_key,
        expiry_time,
        existing,
        kind,
        "import",
        private_key,
    )
}

/// `cert request`: a PKCS#10 certificate request for the primary RSA pair
/// of `user_id`, signed with its private key, which `password` unlocks (a
/// wrong one is logged). The pair must be active: a request is for a key
/// that will sign.
///
/// ```
/// use secure_kms::crypto::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// use secure_kms::store::{audit::EventKind, versions::add_version};
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// let alice = secure_kms::util::user::UserId::new("alice")?;
/// let password = Password::new("pw".to_owned())?;
/// let key = PasswordKey::derive(&password, &KdfParams::generate(MIN_ITERATIONS)?);
/// add_version(&store, &alice, &key, 3600, None, EventKind::Created, "keygen")?;
/// let pem = secure_kms::ops::transfer::certificate_request(&store, &alice, &password)?;
/// assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// A wrong password ([`crate::KeyError::Unlock`]), or keys that
/// are revoked, expired or destroyed.
pub fn certificate_request(store: &Store, user_id: &UserId, password: &Password) -> Result<String> {
    let unlocked = crate::ops::commands::signing_keys(store, user_id, password, "cert request")?;
    let (private_key, _) = unlocked.key_pair.as_ref().expect("signing_keys checks it");
    crate::ca::request::request_for(user_id, private_key)
}

#[cfg(test)]
mod tests {
    use pkcs8::der::EncodePem;
    use pkcs8::der::asn1::OctetString;
    use pkcs8::pkcs5::EncryptionScheme;

    use super::*;

    /// A structurally valid encrypted PKCS#8 PEM with the given key
    /// derivation, holding no real key: the checks must refuse it before
    /// deriving anything, so no derivation is ever run here.
    fn pem_with(kdf: pbes2::Kdf) -> String {
        let info = pkcs8::EncryptedPrivateKeyInfoOwned {
            encryption_algorithm: EncryptionScheme::Pbes2(pbes2::Parameters {
                kdf,
                encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [0; 16] },
            }),
            encrypted_data: OctetString::new(vec![0u8; 64]).unwrap(),
        };
        info.to_pem(LineEnding::LF).unwrap()
    }

    #[test]
    fn key_derivation_costs_beyond_the_caps_are_refused_before_any_work() {
        let pbkdf2 = |n| {
            let mut params = pbes2::Pbkdf2Params::hmac_sha256(1000, &[7; 16]).unwrap();
            params.iteration_count = n;
            pbes2::Kdf::Pbkdf2(params)
        };
        let scrypt = |n, r, p| {
            pbes2::Kdf::Scrypt(pbes2::ScryptParams {
                salt: pbes2::Salt::new([7u8; 16]).unwrap(),
                cost_parameter: n,
                block_size: r,
                parallelization: p,
                key_length: None,
            })
        };
        for (kdf, why) in [
            (pbkdf2(100_000_000), "100000000 PBKDF2 iterations"),
            (pbkdf2(MAX_ITERATIONS + 1), "PBKDF2 iterations; at most"),
            (scrypt(1 << 30, 8, 1), "scrypt parameters"),
            (scrypt(1 << 14, 8, 1000), "scrypt parameters"),
        ] {
            let started = std::time::Instant::now();
            let err = check_encrypted_private_key(&pem_with(kdf)).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            let password = Password::new("pw".to_owned()).unwrap();
            let err =
                read_encrypted_private_key(&pem_with(pbkdf2(u32::MAX)), &password).unwrap_err();
            assert!(
                matches!(err, Error::Ops(OpsError::ImportRefused(_))),
                "{err}"
            );
            // Refused, not derived: these would take minutes to hours.
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
        // Within the caps, the structure passes (the password check is
        // what refuses this one).
        check_encrypted_private_key(&pem_with(pbkdf2(600_000))).unwrap();
        check_encrypted_private_key(&pem_with(scrypt(1 << 15, 8, 1))).unwrap();
    }
}
