//! Diffie-Hellman key exchange in the RFC 7919 `ffdhe2048` group, with HKDF.
//!
//! The original generated fresh 2048-bit parameters on every run, which takes
//! from one second to a minute. RFC 7919 publishes a 2048-bit safe prime
//! `p = 2q + 1` built from the digits of e, so nobody could have chosen it to
//! hide a trapdoor; with `g = 2` it generates the subgroup of prime order q.
//! Other safe-prime groups of 2048 to 8192 bits can be made
//! ([`DhParameters::generate`]) or loaded ([`DhParameters::new`]), checked;
//! the groups and their arithmetic are in [`crate::crypto::dh`].
//!
//! The exchange, as the original ran it: both sides take the group
//! ([`generate_dh_parameters`]), each makes a private exponent x and sends
//! y = g^x mod p ([`generate_dh_private_key`]), each computes
//! Z = y_peer^x mod p ([`compute_shared_secret`]), and HKDF turns Z into a
//! 32-byte key ([`derive_key_from_secret`]).
//!
//! Private exponents stay secret in time as well as in memory: the
//! exponentiations with them use crypto-bigint's constant-time fixed-window
//! exponentiation in Montgomery form. Peer public values are validated
//! before use (NIST SP 800-56A section 5.6.2.3.1).

use crypto_bigint::{BoxedUint, Resize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::dh::DhParameters;
use crate::crypto::kdf::hkdf_sha256;
use crate::util::secret::{Secret, SecretBytes};
use crate::{CryptoError, Error, Result};

/// HKDF's info string for the session key, as in the original.
pub const HKDF_INFO: &[u8] = b"key exchange";

/// The original's `generate_dh_parameters()`: now the fixed RFC 7919
/// `ffdhe2048` group (2048 bits, g = 2), instant instead of up to a minute.
///
/// ```
/// let params = secure_kms::exchange::generate_dh_parameters();
/// assert_eq!(params.bits(), 2048);
/// ```
pub fn generate_dh_parameters() -> DhParameters {
    DhParameters::ffdhe2048()
}

/// A Diffie-Hellman private exponent x, zeroized on drop.
#[derive(ZeroizeOnDrop)]
pub struct DhPrivateKey {
    x: BoxedUint,
    #[zeroize(skip)]
    params: DhParameters,
}

impl std::fmt::Debug for DhPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DhPrivateKey(..)")
    }
}

impl DhPrivateKey {
    /// The group this key belongs to.
    pub(crate) fn params(&self) -> &DhParameters {
        &self.params
    }

    /// The exponent, big-endian in p's length, to be stored wrapped.
    pub(crate) fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.params.encode(&self.x))
    }

    /// A key from a stored exponent, checked to be in [2, q - 1].
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] for bytes that are no such exponent.
    pub(crate) fn from_secret_bytes(params: &DhParameters, bytes: &[u8]) -> Result<Self> {
        let Some(x) = params.decode(bytes) else {
            return Err(Error::Crypto(CryptoError::MalformedKey(format!(
                "a stored exponent is {} bytes",
                params.len
            ))));
        };
        let key = DhPrivateKey {
            x,
            params: params.clone(),
        };
        if key.x.bit_width() < 2 || key.x >= params.q {
            return Err(Error::Crypto(CryptoError::MalformedKey(
                "a stored exponent is out of range".to_owned(),
            )));
        }
        Ok(key)
    }

    /// The matching public value y = g^x mod p.
    pub fn public_key(&self) -> DhPublicKey {
        DhPublicKey {
            y: self.params.pow_secret(&self.params.g, &self.x),
            len: self.params.len,
        }
    }
}

/// Makes a private exponent x uniformly at random in [2, 2^N - 1], with N
/// = [`DhParameters::exponent_bits`] (225 for ffdhe2048): NIST SP 800-56A
/// rev. 3 section 5.6.1.1.4 for safe-prime groups, where N >= 2s keeps the
/// best attack on x (Pollard's lambda, 2^(N/2)) above the group's own
/// security s. It is what RFC 7919 section 5.2 and OpenSSL use, and makes
/// each exponentiation about eight times cheaper than with x up to q.
///
/// ```
/// use secure_kms::exchange::{generate_dh_parameters, generate_dh_private_key};
///
/// let params = generate_dh_parameters();
/// let key = generate_dh_private_key(&params)?;
/// params.validate_public_key(key.public_key().as_uint())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::Rng`] if the system's random source fails.
pub fn generate_dh_private_key(params: &DhParameters) -> Result<DhPrivateKey> {
    let mut bytes = Zeroizing::new(vec![0u8; params.len]);
    // Draw N bits (the bytes below them stay zero) and reject 0 and 1.
    let n = params.exponent_bits() as usize;
    let first = params.len - n.div_ceil(8);
    loop {
        getrandom::fill(&mut bytes[first..])?;
        bytes[first] &= 0xffu8 >> (n.div_ceil(8) * 8 - n);
        let key = DhPrivateKey {
            x: params.decode(&bytes).expect("p's length"),
            params: params.clone(),
        };
        if key.x.bit_width() >= 2 && key.x < params.q {
            return Ok(key);
        }
    }
}

/// A Diffie-Hellman public value y.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhPublicKey {
    y: BoxedUint,
    len: usize,
}

impl DhPublicKey {
    /// Reads a big-endian public value of p's length and validates it.
    ///
    /// ```
    /// use secure_kms::exchange::{generate_dh_parameters, DhPublicKey};
    ///
    /// let params = generate_dh_parameters();
    /// let mut one = [0u8; 256];
    /// one[255] = 1;
    /// assert!(DhPublicKey::from_bytes(&params, &one).is_err());
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] for a wrong length or a value that fails
    /// [`DhParameters::validate_public_key`].
    pub fn from_bytes(params: &DhParameters, bytes: &[u8]) -> Result<Self> {
        let Some(y) = params.decode(bytes) else {
            return Err(Error::Crypto(CryptoError::InvalidPublicKey(
                "not as long as p",
            )));
        };
        params.validate_public_key(&y)?;
        Ok(DhPublicKey { y, len: params.len })
    }

    /// The value as big-endian bytes of p's length, the form that is signed
    /// and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let all = self.y.to_be_bytes();
        all[all.len() - self.len..].to_vec()
    }

    /// The value as an integer.
    pub fn as_uint(&self) -> &BoxedUint {
        &self.y
    }
}

/// A shared secret Z = y^x mod p, big-endian in p's length (left-padded, as
/// RFC 7919 section 5.1 and SP 800-56A require), zeroized on drop.
pub type SharedSecret = SecretBytes;

/// The 32-byte key HKDF derives from a shared secret.
pub type SessionKey = Secret<32>;

/// Computes the shared secret with a peer's public value, after validating it.
///
/// ```
/// use secure_kms::exchange::*;
///
/// let params = generate_dh_parameters();
/// let (a, b) = (generate_dh_private_key(&params)?, generate_dh_private_key(&params)?);
/// let za = compute_shared_secret(&a, &b.public_key())?;
/// let zb = compute_shared_secret(&b, &a.public_key())?;
/// assert_eq!(za, zb);
/// assert_eq!(derive_key_from_secret(za.as_bytes()), derive_key_from_secret(zb.as_bytes()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::InvalidPublicKey`] for a peer value that fails validation, or a
/// shared secret of 1 (SP 800-56A section 5.7.1.1 refuses it).
pub fn compute_shared_secret(
    private_key: &DhPrivateKey,
    peer_public_key: &DhPublicKey,
) -> Result<SharedSecret> {
    let params = &private_key.params;
    params.validate_public_key(&peer_public_key.y)?;
    let y = (&peer_public_key.y).resize(params.p.bits_precision());
    let mut z = params.pow_secret(&y, &private_key.x);
    let degenerate = z == BoxedUint::one_with_precision(z.bits_precision());
    let out = SharedSecret::new(params.encode(&z));
    z.zeroize();
    if degenerate {
        return Err(Error::Crypto(CryptoError::InvalidPublicKey(
            "the shared secret is 1",
        )));
    }
    Ok(out)
}

/// The original's key derivation: HKDF-SHA256 with no salt and info
/// `"key exchange"`, 32 bytes.
///
/// ```
/// let key = secure_kms::exchange::derive_key_from_secret(&[0x5a; 256]);
/// assert_eq!(key.as_bytes().len(), 32);
/// ```
pub fn derive_key_from_secret(secret: &[u8]) -> SessionKey {
    let mut key = SessionKey::zeroed();
    hkdf_sha256(None, secret, HKDF_INFO, key.as_mut_bytes())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

pub mod toy;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_exponents_are_short_as_rfc_7919_sizes_them() {
        let params = generate_dh_parameters();
        assert_eq!(params.exponent_bits(), 225);
        let widths: Vec<u32> = (0..20)
            .map(|_| generate_dh_private_key(&params).unwrap().x.bit_width())
            .collect();
        assert!(widths.iter().all(|&w| (2..=225).contains(&w)), "{widths:?}");
        assert!(widths.iter().any(|&w| w >= 220), "{widths:?}");
        // A long exponent (as an imported key may hold) still agrees.
        let long = DhPrivateKey::from_secret_bytes(
            &params,
            &params.encode(&params.q.wrapping_sub(BoxedUint::one_with_precision(2048))),
        )
        .unwrap();
        let short = generate_dh_private_key(&params).unwrap();
        assert_eq!(
            compute_shared_secret(&long, &short.public_key()).unwrap(),
            compute_shared_secret(&short, &long.public_key()).unwrap()
        );
    }

    #[test]
    fn public_values_of_fresh_keys_validate() {
        let params = generate_dh_parameters();
        let key = generate_dh_private_key(&params).unwrap();
        let y = key.public_key();
        assert_eq!(DhPublicKey::from_bytes(&params, &y.to_bytes()).unwrap(), y);
    }

    #[test]
    fn the_two_sides_agree_and_strangers_do_not() {
        let params = generate_dh_parameters();
        let a = generate_dh_private_key(&params).unwrap();
        let b = generate_dh_private_key(&params).unwrap();
        let c = generate_dh_private_key(&params).unwrap();
        let ab = compute_shared_secret(&a, &b.public_key()).unwrap();
        assert_eq!(ab, compute_shared_secret(&b, &a.public_key()).unwrap());
        assert_ne!(ab, compute_shared_secret(&c, &a.public_key()).unwrap());
        assert_eq!(format!("{ab:?}"), "SecretBytes(256 bytes, ..)");
    }

    #[test]
    fn compute_shared_secret_validates_the_peer_value_itself() {
        // A DhPublicKey built without from_bytes (only possible in this
        // module) is still checked: y = 1 would make the secret 1, and
        // y = p - 1 would leak the exponent's parity.
        let params = generate_dh_parameters();
        let ours = generate_dh_private_key(&params).unwrap();
        let one = BoxedUint::one_with_precision(2048);
        for y in [
            one.clone(),
            params.p().wrapping_sub(&one),
            BoxedUint::zero_with_precision(2048),
        ] {
            let err = compute_shared_secret(&ours, &DhPublicKey { y, len: 256 }).unwrap_err();
            assert!(
                matches!(err, Error::Crypto(CryptoError::InvalidPublicKey(_))),
                "{err}"
            );
        }
    }

    #[test]
    fn wrong_length_public_values_are_refused() {
        let params = generate_dh_parameters();
        assert!(DhPublicKey::from_bytes(&params, &[1u8; 255]).is_err());
        assert!(DhPublicKey::from_bytes(&params, &[1u8; 257]).is_err());
    }

    #[test]
    fn private_exponents_are_in_range_and_distinct() {
        let params = generate_dh_parameters();
        let a = generate_dh_private_key(&params).unwrap();
        let b = generate_dh_private_key(&params).unwrap();
        assert!(a.x.bit_width() >= 2 && a.x < *params.q());
        assert_ne!(a.x, b.x);
        assert_eq!(format!("{a:?}"), "DhPrivateKey(..)");
    }
}
