//! A toy Diffie-Hellman: the exchange of [`super`] in a textbook group small
//! enough to check with pencil and paper. **Insecure**: with p = 23 anyone
//! finds a private value by trying the 20 candidates. It exists to teach
//! (`secure-kms exchange --toy`) and nothing else in secure-kms uses it.
//!
//! The steps are the same as in ffdhe2048; only the size changes:
//!
//! | step | here | in ffdhe2048 |
//! |---|---|---|
//! | the public group | p = 23, g = 5 | a 2048-bit safe prime, g = 2 |
//! | private values | a, b in [2, p - 2] | 225 random bits each |
//! | public values | A = g^a mod p, B = g^b mod p | the same, 2048-bit numbers |
//! | shared secret | Z = B^a mod p = A^b mod p | the same, then HKDF |

use serde::Serialize;

use crate::Result;

/// A toy group: a prime p and a generator g, both small. The only one is
/// [`TEXTBOOK`]; its fields are private so that no other (a p too small to
/// leave a private value to pick) can be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ToyGroup {
    p: u64,
    g: u64,
}

impl ToyGroup {
    /// The prime modulus.
    pub fn p(&self) -> u64 {
        self.p
    }

    /// The generator.
    pub fn g(&self) -> u64 {
        self.g
    }
}

/// The textbook group: p = 23, g = 5 (5 generates all 22 non-zero values
/// mod 23), as in the example of Wikipedia's "Diffie-Hellman key exchange"
/// article and most lecture notes.
pub const TEXTBOOK: ToyGroup = ToyGroup { p: 23, g: 5 };

/// One toy exchange, every number in it. Nothing here is secret: the
/// group is too small for any of it to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ToyExchange {
    /// The group used.
    pub group: ToyGroup,
    /// Party A's private value.
    pub a: u64,
    /// Party B's private value.
    pub b: u64,
    /// A's public value, g^a mod p.
    pub public_a: u64,
    /// B's public value, g^b mod p.
    pub public_b: u64,
    /// The secret as A computes it, B^a mod p.
    pub secret_a: u64,
    /// The secret as B computes it, A^b mod p.
    pub secret_b: u64,
}

/// `base^exp mod m` by square-and-multiply, the method the real groups use
/// (there in constant time and on 2048-bit numbers).
///
/// ```
/// use secure_kms::exchange::toy::pow_mod;
/// assert_eq!(pow_mod(5, 6, 23), 8);
/// ```
pub fn pow_mod(base: u64, exp: u64, m: u64) -> u64 {
    let m = u128::from(m);
    let (mut result, mut square, mut exp) = (1u128, u128::from(base) % m, exp);
    while exp > 0 {
        if exp & 1 == 1 {
            result = result * square % m;
        }
        square = square * square % m;
        exp >>= 1;
    }
    u64::try_from(result).expect("less than m, a u64")
}

/// The exchange with the private values `a` and `b` given.
///
/// ```
/// use secure_kms::exchange::toy::{exchange_with, TEXTBOOK};
/// let run = exchange_with(TEXTBOOK, 4, 3);
/// assert_eq!((run.public_a, run.public_b, run.secret_a), (4, 10, 18));
/// assert_eq!(run.secret_a, run.secret_b);
/// ```
pub fn exchange_with(group: ToyGroup, a: u64, b: u64) -> ToyExchange {
    let ToyGroup { p, g } = group;
    let (public_a, public_b) = (pow_mod(g, a, p), pow_mod(g, b, p));
    ToyExchange {
        group,
        a,
        b,
        public_a,
        public_b,
        secret_a: pow_mod(public_b, a, p),
        secret_b: pow_mod(public_a, b, p),
    }
}

/// The exchange with fresh private values, each uniform in [2, p - 2].
///
/// ```
/// use secure_kms::exchange::toy::{exchange, TEXTBOOK};
/// let run = exchange(TEXTBOOK)?;
/// assert_eq!(run.secret_a, run.secret_b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`crate::CryptoError::Rng`] if the system's random source fails.
pub fn exchange(group: ToyGroup) -> Result<ToyExchange> {
    let a = private_value(group.p)?;
    let b = private_value(group.p)?;
    Ok(exchange_with(group, a, b))
}

/// Uniform in [2, p - 2], by rejection so that no value is likelier.
fn private_value(p: u64) -> Result<u64> {
    let span = p - 3;
    let limit = u64::MAX - u64::MAX % span;
    loop {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)?;
        let x = u64::from_le_bytes(bytes);
        if x < limit {
            return Ok(2 + x % span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Wikipedia's "Diffie-Hellman key exchange"
    /// (section "Cryptographic explanation"): p = 23, g = 5, a = 4, b = 3
    /// give A = 4, B = 10 and s = 18.
    #[test]
    fn the_textbook_example() {
        let run = exchange_with(TEXTBOOK, 4, 3);
        assert_eq!((run.public_a, run.public_b), (4, 10));
        assert_eq!((run.secret_a, run.secret_b), (18, 18));
    }

    #[test]
    fn both_sides_agree_for_every_pair_of_private_values() {
        for a in 2..=21 {
            for b in 2..=21 {
                let run = exchange_with(TEXTBOOK, a, b);
                assert_eq!(run.secret_a, run.secret_b, "a = {a}, b = {b}");
            }
        }
    }

    #[test]
    fn five_generates_every_non_zero_value_mod_23() {
        let mut seen: Vec<u64> = (1..=22).map(|x| pow_mod(5, x, 23)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=22).collect::<Vec<_>>());
    }

    #[test]
    fn pow_mod_agrees_with_repeated_multiplication_near_u64_max() {
        let m = (1u64 << 61) - 1; // a Mersenne prime: products need 122 bits
        let base = m - 2;
        let mut slow = 1u128;
        for _ in 0..5 {
            slow = slow * u128::from(base) % u128::from(m);
        }
        assert_eq!(u128::from(pow_mod(base, 5, m)), slow);
    }

    #[test]
    fn private_values_stay_in_range_and_vary() {
        let values: Vec<u64> = (0..200).map(|_| private_value(23).unwrap()).collect();
        assert!(values.iter().all(|x| (2..=21).contains(x)));
        assert!(values.iter().any(|&x| x != values[0]));
    }
}
