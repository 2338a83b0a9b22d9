//! RSA public keys as the store and OpenSSL keep them: SubjectPublicKeyInfo
//! PEM (`BEGIN PUBLIC KEY`), its DER, the SHA-256 of that DER as the key's
//! ID, and the checks a stored public key passes when it is read.

use pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::PublicKey;
use serde::{Deserialize, Deserializer, de::Error as _};

use crate::util::fingerprint::Fingerprint;
use crate::{CryptoError, Error, Result};

/// Encodes a public key as a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
///
/// # Errors
/// [`CryptoError::MalformedKey`] if the key cannot be encoded.
pub fn public_key_pem(public_key: &PublicKey) -> Result<String> {
    public_key
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))
}

/// Reads a SubjectPublicKeyInfo PEM holding an RSA key.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when it is not one.
pub fn public_key_from_pem(pem: &str) -> Result<PublicKey> {
    PublicKey::from_public_key_pem(pem).map_err(|e| {
        Error::Crypto(CryptoError::MalformedKey(format!(
            "not an RSA public key PEM: {e}"
        )))
    })
}

/// The SHA-256 of the public key's DER encoding, in hex: the same value as
/// `openssl pkey -pubin -outform DER | sha256sum`.
///
/// # Errors
/// [`CryptoError::MalformedKey`] if the key cannot be encoded.
pub fn public_key_fingerprint(public_key: &PublicKey) -> Result<Fingerprint> {
    let der = public_key
        .to_public_key_der()
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))?;
    Ok(Fingerprint::of(der.as_bytes()))
}

/// Serde check: a `public` field must be an RSA SubjectPublicKeyInfo PEM.
pub(crate) fn valid_public_pem<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let pem = String::deserialize(d)?;
    check_public_pem(&pem).map_err(D::Error::custom)?;
    Ok(pem)
}

/// Checks that `pem` is an RSA SubjectPublicKeyInfo PEM, as
/// [`public_key_from_pem`] would take it, by its structure alone: the PEM
/// label and base64, the DER, the rsaEncryption algorithm with NULL
/// parameters, and an RSAPublicKey whose modulus and exponent are odd and
/// within the bounds the `rsa` crate takes (a modulus of 1,024 to 8,192
/// bits, an exponent of 3 to 2^33 - 1). It does not build the key, whose Montgomery
/// precomputation made loading a 10,000-user store take most of a second;
/// the key is built when it is used.
///
/// ```
/// let (_, public) = secure_kms::pki::generate_asymmetric_keys()?;
/// let pem = secure_kms::crypto::spki::public_key_pem(&public)?;
/// secure_kms::crypto::spki::check_public_pem(&pem)?;
/// assert!(secure_kms::crypto::spki::check_public_pem(&pem.replace("MII", "MIJ")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::MalformedKey`] saying what is wrong.
pub fn check_public_pem(pem: &str) -> Result<()> {
    public_der(pem).map(drop)
}

/// The fingerprint of a public key PEM, as [`public_key_fingerprint`]
/// gives it for the key (the SHA-256 of its DER), checked as
/// [`check_public_pem`] checks it but without building the key.
///
/// ```
/// use secure_kms::pki::generate_asymmetric_keys;
/// use secure_kms::crypto::spki::*;
///
/// let (_, public) = generate_asymmetric_keys()?;
/// let pem = public_key_pem(&public)?;
/// assert_eq!(public_pem_fingerprint(&pem)?, public_key_fingerprint(&public)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`check_public_pem`].
pub fn public_pem_fingerprint(pem: &str) -> Result<Fingerprint> {
    public_der(pem).map(|der| Fingerprint::of(&der))
}

/// The DER of an RSA SubjectPublicKeyInfo PEM, checked by its structure.
pub(crate) fn public_der(pem: &str) -> Result<Vec<u8>> {
    use pkcs8::der::Decode;
    let bad = |why: String| {
        Error::Crypto(CryptoError::MalformedKey(format!(
            "not an RSA public key PEM: {why}"
        )))
    };
    crate::util::armor::check_armor(pem).map_err(bad)?;
    let (label, der) =
        pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if label != "PUBLIC KEY" {
        return Err(bad(format!("its label is {label:?}, not \"PUBLIC KEY\"")));
    }
    let spki = pkcs8::SubjectPublicKeyInfoRef::from_der(&der).map_err(|e| bad(e.to_string()))?;
    if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID
        || spki.algorithm.parameters_any().ok() != Some(pkcs8::der::asn1::Null.into())
    {
        return Err(bad("its algorithm is not rsaEncryption".to_owned()));
    }
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("its key has unused bits".to_owned()))?;
    let key = rsa::pkcs1::RsaPublicKeyRef::from_der(bits).map_err(|e| bad(e.to_string()))?;
    let (n, e) = (key.modulus.as_bytes(), key.public_exponent.as_bytes());
    let odd = |x: &[u8]| x.last().is_some_and(|b| b & 1 == 1);
    let n_bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    let e_value = (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
    // The bounds the `rsa` crate checks when it builds the key, so that a
    // key taken here is one it will use.
    let sizes = PublicKey::MIN_SIZE..=PublicKey::MAX_SIZE;
    let exponents = PublicKey::MIN_PUB_EXPONENT..=PublicKey::MAX_PUB_EXPONENT;
    if !sizes.contains(&n_bits)
        || !odd(n)
        || !odd(e)
        || !e_value.is_some_and(|v| exponents.contains(&v))
    {
        return Err(bad(format!(
            "its modulus ({n_bits} bits) or exponent is not one of an RSA key"
        )));
    }
    Ok(der)
}

/// As [`valid_public_pem`], for an optional field (format 1 of the store).
pub(crate) fn valid_optional_public_pem<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Checked(#[serde(deserialize_with = "valid_public_pem")] String);
    Ok(Option::<Checked>::deserialize(d)?.map(|c| c.0))
}
