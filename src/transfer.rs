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

use pkcs8::pkcs5::pbes2;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding, PrivateKeyInfoRef};
use rsa::PrivateKey;
use rsa::traits::PublicKeyParts;
use zeroize::Zeroizing;

use crate::audit::{Event, EventKind};
use crate::commands::{NewVersion, add_version_with, authenticate};
use crate::kdf::{DEFAULT_ITERATIONS, KdfParams, Password, PasswordKey};
use crate::keyring::versions;
use crate::pki::public_key_fingerprint;
use crate::revocation::RevocationList;
use crate::store::{KeyStore, Store};
use crate::user::UserId;
use crate::{Error, Result};

/// The RSA key sizes `import` takes, in bits.
pub const IMPORT_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// The primary version of `user_id`'s RSA key pair and its public key PEM.
///
/// # Errors
/// [`Error::UnknownUser`] when the user has no RSA key; [`Error::Revoked`]
/// when the primary version is compromised.
pub fn export_public(store: &Store, user_id: &UserId) -> Result<(u32, String)> {
    let (keys, revoked) = store.load()?;
    let record = keys
        .get(user_id)
        .ok_or_else(|| Error::UnknownUser(user_id.to_string()))?;
    let all = versions(record);
    let (version, pair) = all
        .last()
        .and_then(|v| v.asymmetric.map(|a| (v, a)))
        .ok_or_else(|| Error::UnknownUser(user_id.to_string()))?;
    // A compromised key's public key would lead others to trust what it
    // signs. (A destroyed one's may still verify old signatures.)
    if let Some(r) = revoked.find(user_id.as_str(), version) {
        return Err(r.to_error());
    }
    Ok((pair.version, pair.public.clone()))
}

/// The primary version's private key as an encrypted PKCS#8 PEM under
/// `export_password`. The export is logged before the PEM is returned: an
/// export that cannot be logged does not happen.
///
/// # Errors
/// [`Error::Revoked`] or [`Error::Destroyed`]: a compromised or destroyed
/// key never leaves; [`Error::Unlock`] for a wrong password (logged);
/// [`Error::MalformedKey`] if encoding fails.
pub fn export_private(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    export_password: &Password,
) -> Result<(u32, Zeroizing<String>)> {
    let (keys, revoked) = store.load()?;
    let unlocked =
        crate::commands::unlock_logged(store, &keys, &revoked, user_id, password, "export")?;
    let Some((private_key, _)) = &unlocked.key_pair else {
        return Err(Error::UnknownUser(user_id.to_string()));
    };
    let der = private_key
        .to_pkcs8_der()
        .map_err(|e| Error::MalformedKey(e.to_string()))?;
    let info = PrivateKeyInfoRef::try_from(der.as_bytes())
        .map_err(|e| Error::MalformedKey(e.to_string()))?;
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt)?;
    getrandom::fill(&mut iv)?;
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(DEFAULT_ITERATIONS, &salt, iv)
        .map_err(|e| Error::MalformedKey(e.to_string()))?;
    let encrypted = info
        .encrypt_with_params(params, export_password.as_bytes())
        .map_err(|e| Error::MalformedKey(e.to_string()))?;
    let pem = encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map_err(|e| Error::MalformedKey(e.to_string()))?;
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
            pair.map(|p| p.fingerprint.as_str()),
        ),
    )?;
    Ok((version, pem))
}

/// Reads an encrypted PKCS#8 PEM holding an RSA key of 2048 to 4096 bits.
///
/// # Errors
/// [`Error::ImportRefused`] saying what is wrong: not encrypted, not PEM,
/// a wrong password or a damaged file, not RSA, a size out of range.
pub fn read_encrypted_private_key(pem: &str, password: &Password) -> Result<PrivateKey> {
    let refuse = |why: String| Error::ImportRefused(why);
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

/// Refuses a key that any user of the store has had, or that was revoked:
/// importing it again would bring a destroyed or compromised key back as an
/// active one.
fn refuse_known_key(
    keys: &KeyStore,
    revoked: &RevocationList,
    private_key: &PrivateKey,
) -> Result<()> {
    let fingerprint = public_key_fingerprint(&private_key.to_public_key())?;
    let now = crate::time::now();
    for id in keys.user_ids() {
        let user_id = UserId::new(id)?;
        let record = keys.get(&user_id).expect("listed");
        let states = crate::keyring::status(record, revoked, &user_id, now);
        if let Some(v) = states
            .iter()
            .find(|v| v.public_key_fingerprint.as_deref() == Some(fingerprint.as_str()))
        {
            return Err(Error::KeyAlreadyKnown {
                user: id.to_owned(),
                version: v.version,
                state: v.state.to_string(),
            });
        }
    }
    if let Some(r) = revoked
        .entries()
        .iter()
        .find(|r| r.public_key_fingerprint.as_deref() == Some(fingerprint.as_str()))
    {
        return Err(Error::KeyAlreadyKnown {
            user: r.user_id.clone(),
            version: r.version.unwrap_or(0),
            state: "compromised".to_owned(),
        });
    }
    Ok(())
}

/// Makes `private_key` the RSA key of `user_id`'s next version (with a new
/// symmetric key beside it), wrapped under `password`. For a user with no
/// keys it is version 1, and `password` becomes theirs; otherwise
/// `password` must be theirs.
///
/// # Errors
/// [`Error::KeyAlreadyKnown`] for a key the store has had (a destroyed or
/// revoked one among them); [`Error::Unlock`] for a wrong password; as
/// [`add_version_with`].
pub fn import_private(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    private_key: &PrivateKey,
    expiry_time: u64,
    iterations: u32,
) -> Result<NewVersion> {
    let (keys, revoked) = store.load()?;
    store.check_writable()?;
    refuse_known_key(&keys, &revoked, private_key)?;
    let existing = keys.get(user_id);
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
