//! Signing files with a user's RSA key and verifying them: RSASSA-PSS
//! with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 8017 section 8.1),
//! the signature as raw bytes, exactly what
//! `openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32`
//! makes and checks.
//!
//! Signing takes the primary version while it is active. Verifying needs
//! no password (public keys are public), tries every version, newest
//! first, says which one signed, and fails for a revoked version (for any
//! reason); a destroyed version's public key still verifies.

use std::io::Read;

use rsa::pss::{Signature, SigningKey, VerifyingKey};
use rsa::signature::SignatureEncoding;
use rsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use sha2::{Digest, Sha256};

use crate::keys::keyring::{self, VersionStatus};
use crate::pki::PSS_SALT_LEN;
use crate::store::Store;
use crate::util::time;
use crate::util::user::UserId;
use crate::{CryptoError, Error, FormatError, KeyError, Result, StoreError};

/// SHA-256 of everything `reader` gives, read in 64 KiB blocks.
///
/// # Errors
/// [`FormatError::ReadData`] if reading fails.
pub(crate) fn sha256_of(reader: &mut impl Read) -> Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Format(FormatError::ReadData(e))),
        }
    }
    Ok(hasher.finalize().into())
}

/// A signature and the key version that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSignature {
    /// The version of the signer's RSA key.
    pub version: u32,
    /// The RSA-PSS signature, raw (as long as the modulus).
    pub bytes: Vec<u8>,
    /// SHA-256 of what was signed.
    pub digest: [u8; 32],
}

/// A signature that verified: who signed it, and what.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The version that signed, with its state now.
    pub signer: VersionStatus,
    /// SHA-256 of what was signed.
    pub digest: [u8; 32],
}

/// Signs the contents of `reader` with the primary RSA key of `user_id`,
/// which must be active.
///
/// # Errors
/// [`KeyError::Revoked`], [`KeyError::Destroyed`], [`KeyError::Expired`] for a key
/// that may not sign; [`KeyError::Unlock`] for a wrong password;
/// [`CryptoError::Sign`]; [`FormatError::ReadData`].
pub fn sign_file(
    store: &Store,
    user_id: &UserId,
    password: &crate::crypto::kdf::Password,
    reader: &mut impl Read,
) -> Result<FileSignature> {
    let unlocked = crate::ops::commands::signing_keys(store, user_id, password, "sign")?;
    let (private_key, _) = unlocked.key_pair.as_ref().expect("signing_keys checks it");
    let digest = sha256_of(reader)?;
    let signer = SigningKey::<Sha256>::new_with_salt_len(private_key.clone(), PSS_SALT_LEN);
    let signature: Signature = signer
        .sign_prehash_with_rng(&mut getrandom::SysRng, &digest)
        .map_err(|e| Error::Crypto(CryptoError::Sign(e)))?;
    Ok(FileSignature {
        version: unlocked.version,
        bytes: signature.to_vec(),
        digest,
    })
}

/// Which version of `user_id`'s RSA keys signed the contents of `reader`,
/// and its state. No password is needed.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let store = secure_kms::ca::open_store(dir.path());
/// use secure_kms::{ops::signing, util::user::UserId, Error};
/// let alice = UserId::new("alice")?;
/// // With no keys, nothing verifies.
/// assert!(signing::verify_file(&store, &alice, &mut &b"data"[..], &[0u8; 256]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::BadSignature`] when no version's public key verifies it;
/// [`KeyError::RevokedSigner`] when the version that signed it is revoked;
/// [`KeyError::UnknownUser`]; [`FormatError::ReadData`].
pub fn verify_file(
    store: &Store,
    user_id: &UserId,
    reader: &mut impl Read,
    signature: &[u8],
) -> Result<Verified> {
    let (keys, revoked) = crate::ops::commands::load_for_use(
        store,
        &[user_id],
        crate::store::trust::KeyUse::PublicOnly,
    )?;
    let record = keys.require(user_id)?;
    let digest = sha256_of(reader)?;
    let signature =
        Signature::try_from(signature).map_err(|_| Error::Crypto(CryptoError::BadSignature))?;
    let states = keyring::status(record, &revoked, user_id, time::now());
    for v in keyring::versions(record).iter().rev() {
        let Some(pair) = v.asymmetric else { continue };
        let verifier = VerifyingKey::<Sha256>::new_with_salt_len(pair.public_key()?, PSS_SALT_LEN);
        if verifier.verify_prehash(&digest, &signature).is_err() {
            continue;
        }
        // A key from before the log (format 1) has no line there to vouch
        // for it, and no password is given here: its signature is not
        // taken as the user's.
        if !v.is_logged() {
            return Err(Error::Store(StoreError::Untrusted {
                user: user_id.to_string(),
                problem: format!(
                    "the signature is by version {} of {user_id}, which predates the audit log (store format 1), so nothing vouches for its public key",
                    v.version
                ),
                remedy: format!(
                    "ask {user_id} for a signature by a newer version (`secure-kms rotate {user_id}` makes one the log records)"
                ),
            }));
        }
        if let Some(r) = revoked.find(user_id, v) {
            return Err(Error::Key(KeyError::RevokedSigner {
                what: "signature".to_owned(),
                user: user_id.to_string(),
                version: v.version,
                revoked_at: r.revoked_at_text(),
                reason: r.reason.to_string(),
            }));
        }
        // `status` has a row for every version.
        let signer = states.into_iter().find(|s| s.version == v.version);
        let signer = signer.ok_or(Error::Crypto(CryptoError::BadSignature))?;
        return Ok(Verified { signer, digest });
    }
    Err(Error::Crypto(CryptoError::BadSignature))
}
