//! Diffie-Hellman key exchange in the RFC 7919 `ffdhe2048` group, with HKDF.
//!
//! The original generated fresh 2048-bit parameters on every run, which takes
//! from one second to a minute. RFC 7919 publishes a 2048-bit safe prime
//! `p = 2q + 1` built from the digits of e, so nobody could have chosen it to
//! hide a trapdoor; with `g = 2` it generates the subgroup of prime order q.
//!
//! Private exponents stay secret in time as well as in memory: the
//! exponentiations with them use crypto-bigint's constant-time fixed-window
//! exponentiation in Montgomery form. Peer public values are validated before use (NIST SP 800-56A
//! section 5.6.2.3.1).

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U2048};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::kdf::hkdf_sha256;
use crate::secret::Secret;
use crate::{Error, Result};

/// The RFC 7919 appendix A.1 `ffdhe2048` prime, big-endian hex.
pub const FFDHE2048_P_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695",
    "A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617A",
    "D3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935",
    "984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797A",
    "BC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4",
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F61",
    "9172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005",
    "C58EF1837D1683B2C6F34A26C1B2EFFA886B423861285C97FFFFFFFFFFFFFFFF",
);

/// Size of p, a public value and a shared secret, in bytes.
pub const GROUP_BYTES: usize = 256;

/// HKDF's info string for the session key, as in the original.
pub const HKDF_INFO: &[u8] = b"key exchange";

/// The group: prime p, generator g, and the subgroup order q = (p - 1) / 2.
#[derive(Clone, Debug)]
pub struct DhParameters {
    p: U2048,
    q: U2048,
    g: U2048,
    monty: FixedMontyParams<{ U2048::LIMBS }>,
}

impl DhParameters {
    /// The RFC 7919 `ffdhe2048` group.
    pub fn ffdhe2048() -> Self {
        let p = U2048::from_be_hex(FFDHE2048_P_HEX);
        let q = p.wrapping_sub(&U2048::ONE).shr_vartime(1);
        let odd = Odd::new(p).expect("the ffdhe2048 prime is odd");
        DhParameters {
            p,
            q,
            g: U2048::from_u8(2),
            monty: FixedMontyParams::new_vartime(odd),
        }
    }

    /// A group from a prime `p` and a generator `g` (big-endian), checked:
    /// p is a safe prime (p = 2q + 1 with q prime) of 2048 bits, and g
    /// generates the subgroup of order q (2 <= g <= p - 2 and g^q = 1).
    ///
    /// ```
    /// use secure_kms::exchange::DhParameters;
    ///
    /// let ffdhe = DhParameters::ffdhe2048();
    /// let again = DhParameters::new(ffdhe.p().to_be_bytes().as_ref(), &[2])?;
    /// assert_eq!(again.p(), ffdhe.p());
    /// // p - 2 is not prime.
    /// let mut p = ffdhe.p().to_be_bytes().as_ref().to_vec();
    /// p[255] -= 2;
    /// assert!(DhParameters::new(&p, &[2]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidGroup`] saying which check failed.
    pub fn new(p: &[u8], g: &[u8]) -> Result<Self> {
        let digits = |b: &[u8]| {
            let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[start..].to_vec()
        };
        let (p_digits, g_digits) = (digits(p), digits(g));
        let bits = p_digits.first().map_or(0, |&top| {
            (p_digits.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
        });
        if bits < 2048 {
            return Err(Error::InvalidGroup(format!(
                "p has {bits} bits; at least 2048 are needed (NIST SP 800-57: 112-bit security)"
            )));
        }
        if bits > 2048 {
            return Err(Error::InvalidGroup(format!(
                "p has {bits} bits; this secure-kms computes in 2048-bit groups only"
            )));
        }
        if g_digits.len() > GROUP_BYTES {
            return Err(Error::InvalidGroup("g is larger than p".to_owned()));
        }
        let p = U2048::from_be_slice(&p_digits);
        let mut g_bytes = [0u8; GROUP_BYTES];
        g_bytes[GROUP_BYTES - g_digits.len()..].copy_from_slice(&g_digits);
        let g = U2048::from_be_slice(&g_bytes);
        if !crypto_primes::is_prime(crypto_primes::Flavor::Safe, &p) {
            return Err(Error::InvalidGroup(
                if crypto_primes::is_prime(crypto_primes::Flavor::Any, &p) {
                    "p is prime but not a safe prime: (p - 1) / 2 is not prime, so the group has small subgroups".to_owned()
                } else {
                    "p is not prime".to_owned()
                },
            ));
        }
        let q = p.wrapping_sub(&U2048::ONE).shr_vartime(1);
        let odd = Odd::new(p).expect("a prime above 2 is odd");
        let params = DhParameters {
            p,
            q,
            g,
            monty: FixedMontyParams::new_vartime(odd),
        };
        // g must itself pass the checks a public value passes.
        params.validate_public_key(&g).map_err(|_| {
            Error::InvalidGroup(
                "g does not generate the subgroup of order q (it must be 2 to p - 2 with g^q = 1 mod p)".to_owned(),
            )
        })?;
        Ok(params)
    }

    /// Makes a new group, as the original's `generate_dh_parameters` did: a
    /// random 2048-bit safe prime p with p = 23 mod 24, so that g = 2
    /// generates the subgroup of order q (as `openssl dhparam` does). It
    /// takes seconds to a minute: `on_candidate` is called after each safe
    /// prime that does not fit, for a progress indicator.
    ///
    /// # Errors
    /// As [`DhParameters::new`] (which it checks the result with).
    pub fn generate(mut on_candidate: impl FnMut()) -> Result<Self> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        loop {
            let p: U2048 = crypto_primes::random_prime(&mut rng, crypto_primes::Flavor::Safe, 2048);
            // p = 2q + 1 is 3 mod 4; 2 is a square mod p (so of order q) when
            // p = 7 mod 8; 23 mod 24 is that, with p = 2 mod 3.
            if p.rem_vartime(&crypto_bigint::NonZero::new(U2048::from_u8(24)).expect("24"))
                == U2048::from_u8(23)
            {
                return DhParameters::new(&p.to_be_bytes(), &[2]);
            }
            on_candidate();
        }
    }

    /// The prime p.
    pub fn p(&self) -> &U2048 {
        &self.p
    }

    /// The order q = (p - 1) / 2 of the subgroup g generates.
    pub fn q(&self) -> &U2048 {
        &self.q
    }

    /// The generator g = 2.
    pub fn g(&self) -> &U2048 {
        &self.g
    }

    /// `base ^ exponent mod p`, in constant time with respect to `exponent`.
    fn pow(&self, base: &U2048, exponent: &U2048) -> U2048 {
        FixedMontyForm::new(base, &self.monty)
            .pow(exponent)
            .retrieve()
    }

    /// Checks a peer's public value (NIST SP 800-56A rev. 3 section
    /// 5.6.2.3.1, full validation): 2 <= y <= p - 2, which rules out 0, 1,
    /// p - 1 and anything not reduced mod p, and y^q = 1 mod p, which rules
    /// out the elements outside the prime-order subgroup that would leak bits
    /// of our private exponent.
    ///
    /// # Errors
    /// [`Error::InvalidPublicKey`], saying which check failed (the value is
    /// public, so this leaks nothing).
    pub fn validate_public_key(&self, y: &U2048) -> Result<()> {
        let p_minus_2 = self.p.wrapping_sub(&U2048::from_u8(2));
        if y < &U2048::from_u8(2) || y > &p_minus_2 {
            return Err(Error::InvalidPublicKey("not in the range 2 to p - 2"));
        }
        // The value and q are public: a variable-time power is fine here.
        let y_q = FixedMontyForm::new(y, &self.monty)
            .pow_vartime(&self.q)
            .retrieve();
        if y_q != U2048::ONE {
            return Err(Error::InvalidPublicKey("not in the prime-order subgroup"));
        }
        Ok(())
    }
}

/// The original's `generate_dh_parameters()`: now the fixed RFC 7919
/// `ffdhe2048` group (2048 bits, g = 2), instant instead of up to a minute.
///
/// ```
/// let params = secure_kms::exchange::generate_dh_parameters();
/// assert_eq!(params.p().bit_width(), 2048);
/// ```
pub fn generate_dh_parameters() -> DhParameters {
    DhParameters::ffdhe2048()
}

/// A Diffie-Hellman private exponent x, zeroized on drop.
#[derive(ZeroizeOnDrop)]
pub struct DhPrivateKey {
    x: U2048,
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

    /// The exponent, 256 bytes big-endian, to be stored wrapped.
    pub(crate) fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut encoded = self.x.to_be_bytes();
        let out = Zeroizing::new(encoded.as_ref().to_vec());
        encoded.zeroize();
        out
    }

    /// A key from a stored exponent, checked to be in [2, q - 1].
    ///
    /// # Errors
    /// [`Error::MalformedKey`] for bytes that are no such exponent.
    pub(crate) fn from_secret_bytes(params: &DhParameters, bytes: &[u8]) -> Result<Self> {
        if bytes.len() != GROUP_BYTES {
            return Err(Error::MalformedKey(
                "a stored exponent is 256 bytes".to_owned(),
            ));
        }
        let x = U2048::from_be_slice(bytes);
        if x < U2048::from_u8(2) || x >= params.q {
            return Err(Error::MalformedKey(
                "a stored exponent is out of range".to_owned(),
            ));
        }
        Ok(DhPrivateKey {
            x,
            params: params.clone(),
        })
    }

    /// The matching public value y = g^x mod p.
    pub fn public_key(&self) -> DhPublicKey {
        DhPublicKey(self.params.pow(&self.params.g, &self.x))
    }
}

/// Makes a private exponent x uniformly at random in [2, q - 1], as NIST
/// SP 800-56A section 5.6.1.1.1 asks (it allows 1 too; 1 is pointless).
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
/// [`Error::Rng`] if the system's random source fails.
pub fn generate_dh_private_key(params: &DhParameters) -> Result<DhPrivateKey> {
    let mut bytes = Zeroizing::new([0u8; GROUP_BYTES]);
    loop {
        getrandom::fill(bytes.as_mut())?;
        // q has 2047 bits; draw 2047 bits and reject the rare value out of
        // range, which keeps x uniform.
        bytes[0] &= 0x7f;
        let mut x = U2048::from_be_slice(bytes.as_ref());
        if x >= U2048::from_u8(2) && x < params.q {
            return Ok(DhPrivateKey {
                x,
                params: params.clone(),
            });
        }
        x.zeroize();
    }
}

/// A Diffie-Hellman public value y.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhPublicKey(U2048);

impl DhPublicKey {
    /// Reads a 256-byte big-endian public value and validates it.
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
    /// [`Error::InvalidPublicKey`] for a wrong length or a value that fails
    /// [`DhParameters::validate_public_key`].
    pub fn from_bytes(params: &DhParameters, bytes: &[u8]) -> Result<Self> {
        if bytes.len() != GROUP_BYTES {
            return Err(Error::InvalidPublicKey("not 256 bytes long"));
        }
        let y = U2048::from_be_slice(bytes);
        params.validate_public_key(&y)?;
        Ok(DhPublicKey(y))
    }

    /// The value as 256 big-endian bytes, the form that is signed and sent.
    pub fn to_bytes(&self) -> [u8; GROUP_BYTES] {
        let mut out = [0u8; GROUP_BYTES];
        out.copy_from_slice(self.0.to_be_bytes().as_ref());
        out
    }

    /// The value as an integer.
    pub fn as_uint(&self) -> &U2048 {
        &self.0
    }
}

/// A shared secret Z = y^x mod p, 256 bytes big-endian (left-padded, as
/// RFC 7919 section 5.1 and SP 800-56A require), zeroized on drop.
pub type SharedSecret = Secret<GROUP_BYTES>;

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
/// [`Error::InvalidPublicKey`] for a peer value that fails validation, or a
/// shared secret of 1 (SP 800-56A section 5.7.1.1 refuses it).
pub fn compute_shared_secret(
    private_key: &DhPrivateKey,
    peer_public_key: &DhPublicKey,
) -> Result<SharedSecret> {
    let params = &private_key.params;
    params.validate_public_key(&peer_public_key.0)?;
    let mut z = params.pow(&peer_public_key.0, &private_key.x);
    let degenerate = z == U2048::ONE;
    let mut out = SharedSecret::zeroed();
    let mut encoded = z.to_be_bytes();
    out.as_mut_bytes().copy_from_slice(encoded.as_ref());
    encoded.zeroize();
    z.zeroize();
    if degenerate {
        return Err(Error::InvalidPublicKey("the shared secret is 1"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(format!("{ab:?}"), "Secret<256>(..)");
    }

    #[test]
    fn compute_shared_secret_validates_the_peer_value_itself() {
        // A DhPublicKey built without from_bytes (only possible in this
        // module) is still checked: y = 1 would make the secret 1, and
        // y = p - 1 would leak the exponent's parity.
        let params = generate_dh_parameters();
        let ours = generate_dh_private_key(&params).unwrap();
        for y in [
            U2048::ONE,
            params.p().wrapping_sub(&U2048::ONE),
            U2048::ZERO,
        ] {
            let err = compute_shared_secret(&ours, &DhPublicKey(y)).unwrap_err();
            assert!(matches!(err, Error::InvalidPublicKey(_)), "{err}");
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
        assert!(a.x >= U2048::from_u8(2) && a.x < *params.q());
        assert_ne!(a.x, b.x);
        assert_eq!(format!("{a:?}"), "DhPrivateKey(..)");
    }
}
