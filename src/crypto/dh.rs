//! Finite-field Diffie-Hellman groups: RFC 7919's `ffdhe2048`, safe-prime
//! groups of 2048 to 8192 bits made fresh or read from a file and checked,
//! and the constant-time arithmetic in them. [`crate::exchange`] uses a
//! group to agree on a key.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use crypto_primes::hazmat::{MillerRabin, SetBits, SmallFactorsSieveFactory};
use zeroize::Zeroize;

use crate::{CryptoError, Error, Result};

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

/// Size of ffdhe2048's p, public values and shared secrets, in bytes.
pub const GROUP_BYTES: usize = 256;

/// The smallest p accepted, in bits: 112-bit security (NIST SP 800-57).
pub const MIN_BITS: u32 = 2048;

/// The largest p accepted, in bits, as RFC 7919's largest group
/// (`ffdhe8192`). Checking such a p takes seconds; anything larger is refused
/// before any arithmetic, so a hostile file cannot make us work for minutes.
pub const MAX_BITS: u32 = 8192;

/// The group: prime p, generator g, and the subgroup order q = (p - 1) / 2.
#[derive(Clone, Debug)]
pub struct DhParameters {
    pub(crate) p: BoxedUint,
    pub(crate) q: BoxedUint,
    pub(crate) g: BoxedUint,
    monty: BoxedMontyParams,
    /// The size of p in bytes: of every public value and shared secret.
    pub(crate) len: usize,
}

/// Refuses a size of p outside [`MIN_BITS`] to [`MAX_BITS`].
fn check_bits(bits: u32) -> Result<()> {
    if bits < MIN_BITS {
        return Err(Error::Crypto(CryptoError::InvalidGroup(format!(
            "p has {bits} bits; at least {MIN_BITS} are needed (NIST SP 800-57: 112-bit security)"
        ))));
    }
    if bits > MAX_BITS {
        return Err(Error::Crypto(CryptoError::InvalidGroup(format!(
            "p has {bits} bits; at most {MAX_BITS} are taken (RFC 7919's largest group)"
        ))));
    }
    Ok(())
}

impl DhParameters {
    /// The RFC 7919 `ffdhe2048` group.
    pub fn ffdhe2048() -> Self {
        let p = BoxedUint::from_be_hex(FFDHE2048_P_HEX, 2048).expect("the ffdhe2048 prime");
        Self::trusted(p, 2)
    }

    /// A group from a p known to be a safe prime and a small generator,
    /// without the (slow) primality tests.
    fn trusted(p: BoxedUint, g: u8) -> Self {
        let bits = p.bit_width();
        let one = BoxedUint::one_with_precision(p.bits_precision());
        let q = p
            .wrapping_sub(&one)
            .shr_vartime(1)
            .expect("a shift by one bit");
        let g = BoxedUint::from_be_slice(&[g], p.bits_precision()).expect("one byte fits");
        let odd = Odd::new(p.clone()).expect("a prime above 2 is odd");
        DhParameters {
            p,
            q,
            g,
            monty: BoxedMontyParams::new_vartime(odd),
            len: bits.div_ceil(8) as usize,
        }
    }

    /// A group from a prime `p` and a generator `g` (big-endian), checked:
    /// p is a safe prime (p = 2q + 1 with q prime) of 2048 to 8192 bits, and
    /// g generates the subgroup of order q (2 <= g <= p - 2 and g^q = 1).
    ///
    /// ```
    /// use secure_kms::crypto::dh::DhParameters;
    ///
    /// let ffdhe = DhParameters::ffdhe2048();
    /// let again = DhParameters::new(&ffdhe.p_bytes(), &[2])?;
    /// assert_eq!(again.p(), ffdhe.p());
    /// // p - 2 is not prime.
    /// let mut p = ffdhe.p_bytes();
    /// p[255] -= 2;
    /// assert!(DhParameters::new(&p, &[2]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::InvalidGroup`] saying which check failed.
    pub fn new(p: &[u8], g: &[u8]) -> Result<Self> {
        let digits = |b: &[u8]| {
            let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[start..].to_vec()
        };
        let (p_digits, g_digits) = (digits(p), digits(g));
        let bits = p_digits.first().map_or(0, |&top| {
            (p_digits.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
        });
        check_bits(u32::try_from(bits).unwrap_or(u32::MAX))?;
        if g_digits.len() > p_digits.len() {
            return Err(Error::Crypto(CryptoError::InvalidGroup(
                "g is larger than p".to_owned(),
            )));
        }
        let precision = (bits as u32).next_multiple_of(64);
        let p = BoxedUint::from_be_slice(&p_digits, precision).expect("p fits its own size");
        let g = BoxedUint::from_be_slice(&g_digits, precision).expect("g is no longer than p");
        if !crypto_primes::is_prime(crypto_primes::Flavor::Safe, &p) {
            return Err(Error::Crypto(CryptoError::InvalidGroup(
                if crypto_primes::is_prime(crypto_primes::Flavor::Any, &p) {
                    "p is prime but not a safe prime: (p - 1) / 2 is not prime, so the group has small subgroups".to_owned()
                } else {
                    "p is not prime".to_owned()
                },
            )));
        }
        let mut params = Self::trusted(p, 2);
        params.g = g;
        // g must itself pass the checks a public value passes.
        params.validate_public_key(&params.g).map_err(|_| {
            Error::Crypto(CryptoError::InvalidGroup(
                "g does not generate the subgroup of order q (it must be 2 to p - 2 with g^q = 1 mod p)".to_owned(),
            ))
        })?;
        Ok(params)
    }

    /// Makes a new group of `bits` bits, as the original's
    /// `generate_dh_parameters` did: a random safe prime p with
    /// p = 23 mod 24, so that g = 2 generates the subgroup of order q (as
    /// `openssl dhparam` does). It takes seconds to minutes, on every core:
    /// `progress` is called with the number of candidates tested so far.
    ///
    /// Each candidate comes from crypto-primes' sieve, which already rules
    /// out a small factor of p or of q. It must then be 7 mod 8 (a
    /// comparison), and pass one Miller-Rabin round to base 2 for p, then
    /// for q: almost every candidate fails the first, at the cost of one
    /// modular exponentiation. Only the survivor gets the full test
    /// (Miller-Rabin and strong Lucas, for p and q) in [`DhParameters::new`].
    ///
    /// # Errors
    /// [`CryptoError::InvalidGroup`] for a size outside 2048 to 8192 bits.
    pub fn generate(bits: u32, progress: impl Fn(u64) + Sync) -> Result<Self> {
        check_bits(bits)?;
        let p = search_safe_prime(bits, progress)?;
        DhParameters::new(&p.to_be_bytes_trimmed_vartime(), &[2])
    }

    /// The prime p.
    pub fn p(&self) -> &BoxedUint {
        &self.p
    }

    /// p, big-endian, in [`DhParameters::len`] bytes.
    pub fn p_bytes(&self) -> Vec<u8> {
        self.encode(&self.p)
    }

    /// The order q = (p - 1) / 2 of the subgroup g generates.
    pub fn q(&self) -> &BoxedUint {
        &self.q
    }

    /// The generator g.
    pub fn g(&self) -> &BoxedUint {
        &self.g
    }

    /// g, big-endian, in [`DhParameters::len`] bytes.
    pub(crate) fn g_bytes(&self) -> Vec<u8> {
        self.encode(&self.g)
    }

    /// The size of p in bits.
    pub fn bits(&self) -> u32 {
        self.p.bit_width()
    }

    /// The size of p in bytes: that of every public value and shared
    /// secret in this group.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `x` as exactly [`DhParameters::len`] big-endian bytes (`x < p`).
    pub(crate) fn encode(&self, x: &BoxedUint) -> Vec<u8> {
        let mut all = x.to_be_bytes();
        let out = all[all.len() - self.len..].to_vec();
        all.zeroize();
        out
    }

    /// Bytes as an integer of p's precision, if they are no longer than p.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Option<BoxedUint> {
        if bytes.len() != self.len {
            return None;
        }
        BoxedUint::from_be_slice(bytes, self.p.bits_precision()).ok()
    }

    /// `base ^ exponent mod p`, in constant time with respect to `exponent`.
    pub(crate) fn pow(&self, base: &BoxedUint, exponent: &BoxedUint) -> BoxedUint {
        BoxedMontyForm::new(base.clone(), &self.monty)
            .pow(exponent)
            .retrieve()
    }

    /// The size of the private exponents made in this group: RFC 7919
    /// section 5.2's table (225 bits for a 2048-bit p, up to 400 for 8192),
    /// twice the group's security strength and more, as NIST SP 800-56A
    /// rev. 3 section 5.6.1.1.4 allows for safe-prime groups. OpenSSL uses
    /// the same sizes for the named groups.
    pub fn exponent_bits(&self) -> u32 {
        match self.bits() {
            0..=2048 => 225,
            2049..=3072 => 275,
            3073..=4096 => 325,
            4097..=6144 => 375,
            _ => 400,
        }
    }

    /// `base ^ x mod p` for a private exponent x: in constant time over
    /// [`DhParameters::exponent_bits`] bits for a short exponent (all those
    /// we make), over all of q's bits for a longer one (an imported key).
    pub(crate) fn pow_secret(&self, base: &BoxedUint, x: &BoxedUint) -> BoxedUint {
        let short = self.exponent_bits();
        if x.bit_width() <= short {
            BoxedMontyForm::new(base.clone(), &self.monty)
                .pow_bounded_exp(x, short)
                .retrieve()
        } else {
            self.pow(base, x)
        }
    }

    /// Checks a peer's public value (NIST SP 800-56A rev. 3 section
    /// 5.6.2.3.1, full validation): 2 <= y <= p - 2, which rules out 0, 1,
    /// p - 1 and anything not reduced mod p, and y^q = 1 mod p, which rules
    /// out the elements outside the prime-order subgroup that would leak bits
    /// of our private exponent. Since p = 2q + 1, y^q = 1 exactly when y is
    /// a square mod p (Euler's criterion), so the check computes the
    /// Legendre symbol (y | p) with a binary Jacobi algorithm instead of a
    /// 2048-bit exponentiation: the same answer, about a hundred times
    /// faster (a test checks the two agree).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`], saying which check failed (the value is
    /// public, so this leaks nothing).
    pub fn validate_public_key(&self, y: &BoxedUint) -> Result<()> {
        let precision = self.p.bits_precision();
        let two = BoxedUint::from_be_slice(&[2], precision).expect("one byte fits");
        let p_minus_2 = self.p.wrapping_sub(&two);
        if y.bit_width() > self.p.bit_width() || y < &two || y > &p_minus_2 {
            return Err(Error::Crypto(CryptoError::InvalidPublicKey(
                "not in the range 2 to p - 2",
            )));
        }
        if legendre(y, &self.p) != 1 {
            return Err(Error::Crypto(CryptoError::InvalidPublicKey(
                "not in the prime-order subgroup",
            )));
        }
        Ok(())
    }
}

/// The Jacobi symbol (y | p) of public values, for odd p > y: 1, -1, or 0
/// when they share a factor. For a prime p it is the Legendre symbol. The
/// binary algorithm (Cohen, "A Course in Computational Algebraic Number
/// Theory", algorithm 1.4.10, with subtraction in place of division):
/// shifts and subtractions on the limbs, in variable time, which is fine
/// for public values and about forty times faster than y^q mod p. Both
/// numbers shrink as it goes, so each step works on their live limbs only,
/// which halved its time (docs/BENCHMARKS.md).
fn legendre(y: &BoxedUint, p: &BoxedUint) -> i8 {
    use crypto_bigint::Word;
    let mut a: Vec<Word> = y.as_words().to_vec();
    let mut n: Vec<Word> = p.as_words().to_vec();
    let mut len = a.len().max(n.len());
    a.resize(len, 0);
    n.resize(len, 0);
    let mut t = 1i8;
    loop {
        // Below `len`, both are zero: drop those limbs.
        while len > 1 && a[len - 1] == 0 && n[len - 1] == 0 {
            len -= 1;
        }
        let (a, n) = (&mut a[..len], &mut n[..len]);
        let Some(low) = a.iter().position(|&w| w != 0) else {
            break;
        };
        let zeros = low as u32 * Word::BITS + a[low].trailing_zeros();
        shift_right(a, zeros);
        // (2 | n) = -1 exactly when n = 3 or 5 mod 8.
        if zeros % 2 == 1 && matches!(n[0] & 7, 3 | 5) {
            t = -t;
        }
        if a.iter().rev().cmp(n.iter().rev()) == std::cmp::Ordering::Less {
            // Reciprocity: (a | n) = (n | a), unless both are 3 mod 4.
            a.swap_with_slice(n);
            if a[0] & 3 == 3 && n[0] & 3 == 3 {
                t = -t;
            }
        }
        // a >= n, both odd: (a | n) = (a - n | n), and a - n is even.
        let mut borrow = false;
        for (x, &m) in a.iter_mut().zip(n.iter()) {
            let (d, b1) = x.overflowing_sub(m);
            let (d, b2) = d.overflowing_sub(Word::from(borrow));
            *x = d;
            borrow = b1 || b2;
        }
    }
    let one = n[0] == 1 && n[1..].iter().all(|&w| w == 0);
    if one { t } else { 0 }
}

/// Shifts a little-endian limb vector right by `bits`.
fn shift_right(x: &mut [crypto_bigint::Word], bits: u32) {
    let bits_per = crypto_bigint::Word::BITS;
    let (limbs, rest) = ((bits / bits_per) as usize, bits % bits_per);
    let n = x.len();
    for i in 0..n {
        let lo = x.get(i + limbs).copied().unwrap_or(0);
        let hi = x.get(i + limbs + 1).copied().unwrap_or(0);
        x[i] = if rest == 0 {
            lo
        } else {
            (lo >> rest) | (hi << (bits_per - rest))
        };
    }
}

/// A safe prime p of `bits` bits with p = 7 mod 8, searched for on every
/// core (see [`DhParameters::generate`]).
fn search_safe_prime(bits: u32, progress: impl Fn(u64) + Sync) -> Result<BoxedUint> {
    let factory = SmallFactorsSieveFactory::new(crypto_primes::Flavor::Safe, bits, SetBits::Msb)
        .map_err(|e| Error::Crypto(CryptoError::InvalidGroup(e.to_string())))?;
    let found = OnceLock::new();
    let tested = AtomicU64::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let factory = factory.clone();
            let (found, tested, progress) = (&found, &tested, &progress);
            scope.spawn(move || {
                let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
                let hit = crypto_primes::sieve_and_find(&mut rng, factory, |_, p: &BoxedUint| {
                    // Another thread's find ends this one's search too.
                    if found.get().is_some() {
                        return true;
                    }
                    progress(tested.fetch_add(1, Ordering::Relaxed) + 1);
                    fits_generator_two(p)
                });
                if let Ok(Some(p)) = hit
                    && fits_generator_two(&p)
                {
                    let _ = found.set(p);
                }
            });
        }
    });
    Ok(found
        .into_inner()
        .expect("each thread searches until a find"))
}

/// Whether a sieved safe-prime candidate p is worth the full test for a
/// group with g = 2: p = 7 mod 8 (so 2 is a square mod p, of order q), and
/// p and q = (p - 1) / 2 each pass a Miller-Rabin round to base 2.
fn fits_generator_two(p: &BoxedUint) -> bool {
    if p.as_words()[0] & 7 != 7 {
        return false;
    }
    let probably_prime = |n: BoxedUint| {
        Odd::new(n)
            .into_option()
            .is_some_and(|odd| MillerRabin::new(odd).test_base_two().is_probably_prime())
    };
    probably_prime(p.clone()) && probably_prime(p.shr_vartime(1).expect("a shift by one bit"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{generate_dh_parameters, generate_dh_private_key};
    use crypto_bigint::Resize;

    /// The search itself, at a size small enough for a test (the public
    /// function refuses anything under 2048 bits): p is a safe prime,
    /// 7 mod 8, so 2 generates the subgroup of order q.
    #[test]
    fn the_search_finds_safe_primes_where_2_generates_the_subgroup() {
        let counted = AtomicU64::new(0);
        for bits in [256, 512] {
            let p = search_safe_prime(bits, |n| counted.store(n, Ordering::Relaxed)).unwrap();
            assert_eq!(p.bit_width(), bits);
            assert!(crypto_primes::is_prime(crypto_primes::Flavor::Safe, &p));
            let p_mod_24 = p
                .to_be_bytes()
                .iter()
                .fold(0u32, |r, &b| (r * 256 + u32::from(b)) % 24);
            assert_eq!(p_mod_24, 23);
            let params = DhParameters::trusted(p, 2);
            params.validate_public_key(params.g()).unwrap();
        }
        assert!(counted.load(Ordering::Relaxed) > 0);
    }

    /// The Legendre symbol and Euler's criterion (y^q = 1) agree on
    /// members of the subgroup, their negations (order 2q), and random
    /// values, in ffdhe2048 and in a 512-bit group.
    #[test]
    fn the_legendre_check_is_the_subgroup_check() {
        let small = DhParameters::trusted(search_safe_prime(512, |_| {}).unwrap(), 2);
        for params in [generate_dh_parameters(), small] {
            let one = BoxedUint::one_with_precision(params.p.bits_precision());
            let (mut members, mut others) = (0, 0);
            for i in 0..40 {
                let y = match i % 3 {
                    0 => generate_dh_private_key(&params)
                        .unwrap()
                        .public_key()
                        .as_uint()
                        .clone(),
                    1 => {
                        let y = generate_dh_private_key(&params)
                            .unwrap()
                            .public_key()
                            .as_uint()
                            .clone();
                        params.p.wrapping_sub(&y)
                    }
                    _ => {
                        let mut bytes = vec![0u8; params.len];
                        getrandom::fill(&mut bytes[1..]).unwrap();
                        params.decode(&bytes).unwrap()
                    }
                };
                let euler = params.pow(&y, &params.q) == one;
                let by_legendre = legendre(&y, &params.p) == 1;
                assert_eq!(euler, by_legendre, "case {i}");
                if euler { members += 1 } else { others += 1 }
            }
            assert!(members >= 13 && others >= 13, "{members} {others}");
        }
    }

    /// Small known values: the squares mod 23 are 1, 2, 3, 4, 6, 8, 9,
    /// 12, 13, 16 and 18; and a shared factor gives 0.
    #[test]
    fn jacobi_symbols_of_small_numbers() {
        let big = |x: u64| BoxedUint::from(x).resize(128);
        let squares = [1, 2, 3, 4, 6, 8, 9, 12, 13, 16, 18];
        for y in 1..23u64 {
            let expected = if squares.contains(&y) { 1 } else { -1 };
            assert_eq!(legendre(&big(y), &big(23)), expected, "({y} | 23)");
        }
        assert_eq!(legendre(&big(0), &big(23)), 0);
        assert_eq!(legendre(&big(6), &big(15)), 0);
        // (2 | 15) = 1 though 2 is no square mod 15: a Jacobi symbol.
        assert_eq!(legendre(&big(2), &big(15)), 1);
    }

    #[test]
    fn sizes_outside_2048_to_8192_bits_are_refused() {
        for bits in [1024, 2047, 8193] {
            let err = DhParameters::generate(bits, |_| {}).unwrap_err();
            assert!(
                matches!(err, Error::Crypto(CryptoError::InvalidGroup(_))),
                "{bits}: {err}"
            );
        }
    }
}
