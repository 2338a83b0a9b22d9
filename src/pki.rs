//! A PKI of RSA-2048 key pairs whose private keys are encrypted under a
//! password.
//!
//! The private key is kept as PKCS#8 DER, encrypted with AES-256-GCM under a
//! key stretched from the password by PBKDF2-HMAC-SHA256 (600,000 rounds by
//! default, stored beside it so that it can be raised later). The public key
//! is a SubjectPublicKeyInfo PEM, the form `openssl pkey -pubin` reads.
//! Signatures are RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt
//! (RFC 8017 section 8.1).

use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::pss::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::kdf::PasswordKey;
use crate::spki::{public_key_fingerprint, public_key_from_pem, public_key_pem};
use crate::time::{self, LATEST_TIME, Timestamp};
use crate::user::UserId;
use crate::wrap::BINDING;
use crate::wrap::WrappedKey;
use crate::{Error, Result};

/// RSA modulus size in bits, as in the original.
pub const RSA_BITS: usize = 2048;

/// PSS salt length in bytes: the SHA-256 output length, the usual choice
/// (RFC 8017 section 9.1, and what `openssl -sigopt rsa_pss_saltlen:32` makes).
pub const PSS_SALT_LEN: usize = 32;

const PURPOSE: &str = "private key wrap";

/// Makes an RSA-2048 key pair with public exponent 65537.
///
/// ```
/// let (private_key, public_key) = secure_kms::pki::generate_asymmetric_keys()?;
/// assert_eq!(private_key.to_public_key(), public_key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Rsa`] if key generation fails (for example, the random source).
pub fn generate_asymmetric_keys() -> Result<(PrivateKey, PublicKey)> {
    let private_key = PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)?;
    let public_key = private_key.to_public_key();
    Ok((private_key, public_key))
}

/// An encrypted private key as stored under `private` in `key_store.json`:
/// the KDF parameters (`salt`, `kdf`, `iterations`) and the AES-256-GCM
/// ciphertext of the PKCS#8 DER (`key`, `nonce`, `cipher`).
pub type EncryptedPrivateKey = WrappedKey;

/// One version of a user's RSA key pair as stored: the public key, and the
/// encrypted private key until the version is destroyed.
///
/// The owner, version and public key fingerprint are bound to the private
/// key's ciphertext, so a private key moved to another version or user
/// fails to decrypt. The public key stays after destruction: it holds no
/// secret, and still verifies what the key signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsymmetricVersion {
    /// 1 for the first pair, n+1 for the pair that rotation makes after n.
    pub version: u32,
    /// When the pair was made, in seconds since the epoch.
    #[serde(deserialize_with = "time::deserialize")]
    pub created: Timestamp,
    /// When the pair's active period (signing) ends.
    #[serde(deserialize_with = "time::deserialize")]
    pub expiry: Timestamp,
    /// SHA-256 of the public key's DER: the pair's ID.
    #[serde(deserialize_with = "crate::fingerprint::deserialize")]
    pub fingerprint: String,
    /// The associated-data layout (see [`crate::wrap::BINDING`]).
    #[serde(deserialize_with = "crate::wrap::known_binding")]
    pub binding: u32,
    /// The public key, SubjectPublicKeyInfo PEM (the original's `public`).
    #[serde(deserialize_with = "crate::spki::valid_public_pem")]
    pub public: String,
    /// The encrypted private key (the original's `private`); absent once
    /// the version is destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<EncryptedPrivateKey>,
    /// When the private key was erased.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time::deserialize_optional"
    )]
    pub destroyed_at: Option<Timestamp>,
    /// The X.509 certificate the store's CA issued for this pair, PEM
    /// (`cert issue`; see [`crate::ca`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

impl AsymmetricVersion {
    /// Binding 1 (format 1 of the store) bound only the owner; binding 2
    /// binds the version, the lifetime and the public key's fingerprint too.
    fn associated_data(&self, user_id: &UserId) -> Vec<u8> {
        match self.binding {
            1 => format!("secure-kms/v1/{user_id}/private"),
            _ => format!(
                "secure-kms/v2/{user_id}/private/{}/{}/{}/{}",
                self.version, self.created, self.expiry, self.fingerprint
            ),
        }
        .into_bytes()
    }

    /// The serial number (hex) of the pair's certificate, if it has one
    /// that parses (the store checks it on load).
    pub fn certificate_serial(&self) -> Option<String> {
        self.certificate
            .as_deref()
            .and_then(|pem| crate::x509::serial_of(pem).ok())
    }

    /// The public key.
    ///
    /// # Errors
    /// [`Error::MalformedKey`] if the stored PEM does not parse.
    pub fn public_key(&self) -> Result<PublicKey> {
        public_key_from_pem(&self.public)
    }

    /// Decrypts the private key and checks that it belongs to the stored
    /// public key.
    ///
    /// # Errors
    /// [`Error::Destroyed`]; [`Error::Decryption`] for a wrong password, an
    /// edited field, or a public key that is not the private key's.
    pub fn unlock(
        &self,
        user_id: &UserId,
        password_key: &PasswordKey,
    ) -> Result<(PrivateKey, PublicKey)> {
        let private_key = decrypt_private_key(self, password_key, user_id)?;
        let public_key = self.public_key()?;
        if private_key.to_public_key() != public_key {
            return Err(Error::Decryption);
        }
        Ok((private_key, public_key))
    }

    /// Whether the pair's active period is over at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expiry
    }

    pub(crate) fn destroyed(&self, user_id: &UserId) -> Error {
        Error::Destroyed {
            user: user_id.to_string(),
            version: self.version,
            destroyed_at: self.destroyed_at.map(crate::time::format),
        }
    }
}

/// Encrypts `private_key` (as PKCS#8) for `user_id` under `password_key`,
/// bound to the metadata of `stored`, the version it is kept as.
///
/// The original returned `(salt, encrypted_key)`; both are in the result.
///
/// ```
/// use secure_kms::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
/// use secure_kms::pki::{decrypt_private_key, generate_asymmetric_keys, store_asymmetric_keys};
/// use secure_kms::user::UserId;
///
/// let (private_key, public_key) = generate_asymmetric_keys()?;
/// let password = Password::new("mysecurepassword".to_owned())?;
/// // The product uses DEFAULT_ITERATIONS (600,000); an example need not wait.
/// let pk = PasswordKey::derive(&password, &KdfParams::generate(MIN_ITERATIONS)?);
/// let alice = UserId::new("alice")?;
/// // store_asymmetric_keys calls encrypt_private_key.
/// let stored = store_asymmetric_keys(&alice, 1, &private_key, &public_key, 0.0, 3600, &pk)?;
/// assert_eq!(decrypt_private_key(&stored, &pk, &alice)?, private_key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::MalformedKey`] if the key cannot be encoded, [`Error::Rng`] if
/// the random source fails.
pub fn encrypt_private_key(
    private_key: &PrivateKey,
    password_key: &PasswordKey,
    user_id: &UserId,
    stored: &AsymmetricVersion,
) -> Result<EncryptedPrivateKey> {
    // SecretDocument zeroizes the DER when dropped.
    let der = private_key
        .to_pkcs8_der()
        .map_err(|e| Error::MalformedKey(e.to_string()))?;
    WrappedKey::wrap(
        password_key,
        PURPOSE,
        &stored.associated_data(user_id),
        der.as_bytes(),
    )
}

/// Decrypts the private key of a stored version. `password_key` must come
/// from the password and the encrypted key's KDF parameters.
///
/// # Errors
/// [`Error::Destroyed`] once the key is erased; [`Error::Decryption`] for a
/// wrong password or a modified ciphertext: one opaque error for both.
pub fn decrypt_private_key(
    stored: &AsymmetricVersion,
    password_key: &PasswordKey,
    user_id: &UserId,
) -> Result<PrivateKey> {
    let encrypted = stored
        .private
        .as_ref()
        .ok_or_else(|| stored.destroyed(user_id))?;
    let der = encrypted.unwrap_with(password_key, PURPOSE, &stored.associated_data(user_id))?;
    // Authenticated plaintext that is not PKCS#8 can only come from a bug or
    // a forged file made with the right password; keep the error opaque.
    PrivateKey::from_pkcs8_der(&der).map_err(|_| Error::Decryption)
}

/// Stores a key pair for `user_id`, as the original's
/// `store_asymmetric_keys` did: ready for `key_store.json`, as `version` of
/// the user's pair, made at `created` and active (for signing) for
/// `expiry_time` seconds. The public key is kept as PEM, the private key
/// encrypted under `password_key` ([`encrypt_private_key`]).
///
/// The caller puts the version in the user's record
/// ([`crate::keys::UserRecord`]); [`crate::store::Store::update`] saves it.
///
/// ```
/// use secure_kms::pki::{decrypt_private_key, generate_asymmetric_keys, store_asymmetric_keys};
/// use secure_kms::user::UserId;
///
/// let alice = UserId::new("alice")?;
/// # let pk = secure_kms::kdf::PasswordKey::derive(&secure_kms::kdf::Password::new("pw".to_owned())?, &secure_kms::kdf::KdfParams::generate(secure_kms::kdf::MIN_ITERATIONS)?);
/// let (private_key, public_key) = generate_asymmetric_keys()?;
/// let stored = store_asymmetric_keys(&alice, 1, &private_key, &public_key, 0.0, 3600, &pk)?;
/// assert!(stored.public.starts_with("-----BEGIN PUBLIC KEY-----"));
/// assert_eq!(decrypt_private_key(&stored, &pk, &alice)?, private_key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::MalformedKey`] if the public key is not the private key's or a
/// key cannot be encoded; [`Error::InvalidLifetime`] past the year 9999;
/// [`Error::Rng`] if the random source fails.
pub fn store_asymmetric_keys(
    user_id: &UserId,
    version: u32,
    private_key: &PrivateKey,
    public_key: &PublicKey,
    created: Timestamp,
    expiry_time: u64,
    password_key: &PasswordKey,
) -> Result<AsymmetricVersion> {
    if &private_key.to_public_key() != public_key {
        return Err(Error::MalformedKey(
            "the public key is not the private key's".to_owned(),
        ));
    }
    let expiry = created + expiry_time as f64;
    if expiry > LATEST_TIME {
        return Err(Error::InvalidLifetime(expiry_time));
    }
    let mut stored = AsymmetricVersion {
        version,
        created,
        expiry,
        fingerprint: public_key_fingerprint(public_key)?,
        binding: BINDING,
        public: public_key_pem(public_key)?,
        private: None,
        destroyed_at: None,
        certificate: None,
    };
    stored.private = Some(encrypt_private_key(
        private_key,
        password_key,
        user_id,
        &stored,
    )?);
    Ok(stored)
}

/// Signs `message` (in the session, a Diffie-Hellman public value) with
/// RSA-PSS-SHA256, so that a peer can tell it came from this key and was not
/// swapped by a man in the middle.
///
/// ```
/// use secure_kms::pki::{generate_asymmetric_keys, sign_public_key, verify_signature};
///
/// let (private_key, public_key) = generate_asymmetric_keys()?;
/// let signature = sign_public_key(&private_key, b"my DH public value")?;
/// verify_signature(&public_key, b"my DH public value", &signature)?;
/// assert!(verify_signature(&public_key, b"another value", &signature).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Sign`] if signing fails (for example, the random source).
pub fn sign_public_key(private_key: &PrivateKey, message: &[u8]) -> Result<Vec<u8>> {
    let signer = SigningKey::<Sha256>::new_with_salt_len(private_key.clone(), PSS_SALT_LEN);
    let signature: Signature = signer
        .try_sign_with_rng(&mut getrandom::SysRng, message)
        .map_err(Error::Sign)?;
    Ok(signature.to_vec())
}

/// Verifies an RSA-PSS-SHA256 signature with a 32-byte salt.
///
/// # Errors
/// [`Error::BadSignature`] when the signature does not match the message and
/// key, whatever the reason.
pub fn verify_signature(public_key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<()> {
    let verifier = VerifyingKey::<Sha256>::new_with_salt_len(public_key.clone(), PSS_SALT_LEN);
    let signature = Signature::try_from(signature).map_err(|_| Error::BadSignature)?;
    verifier
        .verify(message, &signature)
        .map_err(|_| Error::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::{KdfParams, MIN_ITERATIONS, Password};
    use crate::spki::*;
    use std::sync::OnceLock;

    /// A public key PEM with modulus `n` and exponent `e` (big-endian),
    /// built by hand, so that keys the `rsa` crate would not make can be.
    fn pem_of(n: &[u8], e: &[u8]) -> String {
        use pkcs8::der::asn1::{BitStringRef, Null, UintRef};
        use pkcs8::der::{Encode, EncodePem};
        let rsa_key = rsa::pkcs1::RsaPublicKey {
            modulus: UintRef::new(n).unwrap(),
            public_exponent: UintRef::new(e).unwrap(),
        }
        .to_der()
        .unwrap();
        let spki = pkcs8::SubjectPublicKeyInfo {
            algorithm: pkcs8::spki::AlgorithmIdentifier {
                oid: rsa::pkcs1::ALGORITHM_OID,
                parameters: Some(pkcs8::der::Any::from(Null)),
            },
            subject_public_key: BitStringRef::from_bytes(&rsa_key).unwrap(),
        };
        spki.to_pem(pkcs8::LineEnding::LF).unwrap()
    }

    /// The structural check takes exactly the keys the `rsa` crate builds:
    /// moduli of 1,024 to 8,192 bits and exponents of 3 to 2^33 - 1, odd.
    #[test]
    fn the_structural_check_takes_what_the_rsa_crate_takes() {
        let odd_n = |bits: usize| {
            let mut n = vec![0xffu8; bits / 8];
            n[0] = 0xc0;
            n
        };
        let cases: [(&str, Vec<u8>, Vec<u8>, bool); 7] = [
            (
                "a 2048-bit key, e = 65537",
                odd_n(2048),
                vec![1, 0, 1],
                true,
            ),
            ("a 1024-bit key", odd_n(1024), vec![3], true),
            ("an 8192-bit key", odd_n(8192), vec![1, 0, 1], true),
            ("a 1016-bit key", odd_n(1016), vec![1, 0, 1], false),
            ("an 8200-bit key", odd_n(8200), vec![1, 0, 1], false),
            ("e = 2^33 + 1", odd_n(2048), vec![2, 0, 0, 0, 1], false),
            ("e = 1", odd_n(2048), vec![1], false),
        ];
        for (name, n, e, taken) in cases {
            let pem = pem_of(&n, &e);
            assert_eq!(check_public_pem(&pem).is_ok(), taken, "{name}");
            assert_eq!(
                public_key_from_pem(&pem).is_ok(),
                taken,
                "{name}: the rsa crate"
            );
        }
        // And the fingerprint is the key's.
        let pem = public_key_pem(&keys().1).unwrap();
        assert_eq!(
            public_pem_fingerprint(&pem).unwrap(),
            public_key_fingerprint(&keys().1).unwrap()
        );
    }

    /// Key generation takes tens of milliseconds; share one pair.
    fn keys() -> &'static (PrivateKey, PublicKey) {
        static KEYS: OnceLock<(PrivateKey, PublicKey)> = OnceLock::new();
        KEYS.get_or_init(|| generate_asymmetric_keys().unwrap())
    }

    fn password_key(pw: &str, params: &KdfParams) -> PasswordKey {
        PasswordKey::derive(&Password::new(pw.to_owned()).unwrap(), params)
    }

    #[test]
    fn generates_rsa_2048_with_e_65537() {
        use rsa::traits::PublicKeyParts;
        let (private_key, public_key) = keys();
        assert_eq!(public_key.n().bit_width(), 2048);
        assert_eq!(public_key.e(), &rsa::BoxedUint::from(65537u32));
        assert_eq!(&private_key.to_public_key(), public_key);
    }

    #[test]
    fn private_key_round_trips_and_refuses_wrong_password_or_user() {
        let (private_key, _) = keys();
        let params = KdfParams::generate(MIN_ITERATIONS).unwrap();
        let alice = UserId::new("alice").unwrap();
        let enc = store_asymmetric_keys(
            &alice,
            1,
            private_key,
            &private_key.to_public_key(),
            0.0,
            60,
            &password_key("right", &params),
        )
        .unwrap();
        assert_eq!(
            &decrypt_private_key(&enc, &password_key("right", &params), &alice).unwrap(),
            private_key
        );
        assert!(matches!(
            decrypt_private_key(&enc, &password_key("wrong", &params), &alice),
            Err(Error::Decryption)
        ));
        let bob = UserId::new("bob").unwrap();
        assert!(matches!(
            decrypt_private_key(&enc, &password_key("right", &params), &bob),
            Err(Error::Decryption)
        ));
    }

    #[test]
    fn tampered_private_key_is_refused_with_the_same_error() {
        let (private_key, _) = keys();
        let params = KdfParams::generate(MIN_ITERATIONS).unwrap();
        let pk = password_key("pw", &params);
        let alice = UserId::new("alice").unwrap();
        let enc = store_asymmetric_keys(
            &alice,
            1,
            private_key,
            &private_key.to_public_key(),
            0.0,
            60,
            &pk,
        )
        .unwrap();
        let len = enc.private.as_ref().unwrap().sealed.ciphertext.len();
        for i in [0, 1, len / 2, len - 1] {
            let mut bad = enc.clone();
            bad.private.as_mut().unwrap().sealed.ciphertext[i] ^= 0x01;
            let err = decrypt_private_key(&bad, &pk, &alice).unwrap_err();
            assert_eq!(err.to_string(), Error::Decryption.to_string(), "byte {i}");
        }
        // The version and the public key are bound to the private key.
        let mut renumbered = enc.clone();
        renumbered.version = 2;
        let mut longer = enc.clone();
        longer.expiry += 1e6;
        let mut downgraded = enc.clone();
        downgraded.binding = 1;
        for edited in [renumbered, longer, downgraded] {
            assert!(matches!(
                decrypt_private_key(&edited, &pk, &alice),
                Err(Error::Decryption)
            ));
        }
        let (other, _) = generate_asymmetric_keys().unwrap();
        let mut swapped = enc.clone();
        swapped.public = public_key_pem(&other.to_public_key()).unwrap();
        assert!(matches!(
            swapped.unlock(&alice, &pk),
            Err(Error::Decryption)
        ));
        let mut destroyed = enc.clone();
        destroyed.private = None;
        assert!(matches!(
            destroyed.unlock(&alice, &pk),
            Err(Error::Destroyed { version: 1, .. })
        ));
    }

    #[test]
    fn signature_tamper_is_refused() {
        let (private_key, public_key) = keys();
        let sig = sign_public_key(private_key, b"value").unwrap();
        assert_eq!(sig.len(), 256);
        verify_signature(public_key, b"value", &sig).unwrap();
        for i in [0, 100, 255] {
            let mut bad = sig.clone();
            bad[i] ^= 0x01;
            assert!(matches!(
                verify_signature(public_key, b"value", &bad),
                Err(Error::BadSignature)
            ));
        }
        assert!(verify_signature(public_key, b"valuf", &sig).is_err());
        assert!(verify_signature(public_key, b"value", &sig[..255]).is_err());
    }

    #[test]
    fn a_man_in_the_middle_swapping_the_dh_value_is_caught() {
        use crate::exchange::{generate_dh_parameters, generate_dh_private_key};
        let (alice_private, alice_public) = keys();
        let params = generate_dh_parameters();
        let alice_dh = generate_dh_private_key(&params)
            .unwrap()
            .public_key()
            .to_bytes();
        let mallory_dh = generate_dh_private_key(&params)
            .unwrap()
            .public_key()
            .to_bytes();
        let alice_sig = sign_public_key(alice_private, &alice_dh).unwrap();
        verify_signature(alice_public, &alice_dh, &alice_sig).unwrap();
        // Mallory forwards her own value with alice's signature...
        assert!(verify_signature(alice_public, &mallory_dh, &alice_sig).is_err());
        // ...or signs it with her own RSA key: neither verifies as alice's.
        let (mallory_rsa, _) = generate_asymmetric_keys().unwrap();
        let mallory_sig = sign_public_key(&mallory_rsa, &mallory_dh).unwrap();
        assert!(verify_signature(alice_public, &mallory_dh, &mallory_sig).is_err());
    }

    #[test]
    fn public_pem_round_trips() {
        let (_, public_key) = keys();
        let pem = public_key_pem(public_key).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(&public_key_from_pem(&pem).unwrap(), public_key);
        assert!(
            public_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }
}
