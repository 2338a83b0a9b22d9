//! Passwords and the keys derived from them.
//!
//! A password is stretched once with PBKDF2-HMAC-SHA256 (RFC 8018) into a
//! 32-byte master key; HKDF-SHA256 (RFC 5869) then expands that into one
//! independent key per purpose, so that the symmetric key and the private key
//! are never wrapped under the same AES key, yet the slow step runs only once.

use hkdf::Hkdf;
use hmac::Hmac;
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use sha2::Sha256;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, Error, Result};

/// PBKDF2 iterations for new keys: OWASP's 2023 figure for PBKDF2-HMAC-SHA256
/// (the original script used 100,000).
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// The fewest iterations accepted from a store file or a caller: NIST
/// SP 800-132 section 5.2's minimum of 1,000. Tests may go this low to stay
/// fast; the product always uses [`DEFAULT_ITERATIONS`].
pub const MIN_ITERATIONS: u32 = 1_000;

/// The most iterations accepted from a store file or an imported key: ten
/// times [`DEFAULT_ITERATIONS`], so that an edited file cannot make an
/// unlock run for more than about a second (release build) before the
/// password is even checked. A file that asks for more is refused, saying
/// so, rather than silently run with fewer (which would not open it).
pub const MAX_ITERATIONS: u32 = 6_000_000;

/// The longest password accepted, in bytes, from a terminal or a pipe alike.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Salt length in bytes: 128 bits, NIST SP 800-132 section 5.1's minimum.
pub const SALT_LEN: usize = 16;

/// A password typed by a person. It is zeroized when dropped and never printed.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password (a `String` or a `Zeroizing<String>`), refusing an
    /// empty one.
    ///
    /// ```
    /// use secure_kms::crypto::kdf::Password;
    ///
    /// assert!(Password::new("mysecurepassword".to_owned()).is_ok());
    /// assert!(Password::new(String::new()).is_err());
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::EmptyPassword`] for an empty string;
    /// [`CryptoError::PasswordTooLong`] over [`MAX_PASSWORD_BYTES`];
    /// [`CryptoError::PasswordControlCharacter`] for a tab, an escape or any other
    /// control character, which the terminal's password reader drops, so a
    /// password piped with one could never be typed.
    pub fn new(password: impl Into<Zeroizing<String>>) -> Result<Self> {
        let password = password.into();
        if password.is_empty() {
            return Err(Error::Crypto(CryptoError::EmptyPassword));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::Crypto(CryptoError::PasswordTooLong(
                MAX_PASSWORD_BYTES,
            )));
        }
        if password.chars().any(char::is_control) {
            return Err(Error::Crypto(CryptoError::PasswordControlCharacter));
        }
        Ok(Password(password))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Compares two passwords in constant time.
    pub fn ct_eq(&self, other: &Password) -> bool {
        use subtle::ConstantTimeEq;
        self.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The name of the password-based KDF, stored beside each wrapped key so that
/// the algorithm can change later without guessing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KdfName {
    /// PBKDF2 with HMAC-SHA256 (RFC 8018 section 5.2).
    #[serde(rename = "pbkdf2-hmac-sha256")]
    Pbkdf2HmacSha256,
}

/// How a password was stretched: the KDF, its salt and its iteration count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// A random salt, unique to the user and the moment the keys were made.
    #[serde(with = "crate::util::b64::fixed")]
    pub salt: [u8; SALT_LEN],
    /// The KDF.
    pub kdf: KdfName,
    /// PBKDF2's iteration count.
    #[serde(deserialize_with = "iterations_in_range")]
    pub iterations: u32,
}

fn iterations_in_range<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    check_iterations(n).map_err(D::Error::custom)?;
    Ok(n)
}

fn check_iterations(n: u32) -> Result<(), String> {
    if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "{n} PBKDF2 iterations is outside the accepted range {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        ))
    }
}

impl KdfParams {
    /// Fresh parameters: a new random salt and `iterations` rounds.
    ///
    /// ```
    /// use secure_kms::crypto::kdf::{KdfParams, DEFAULT_ITERATIONS};
    ///
    /// let a = KdfParams::generate(DEFAULT_ITERATIONS)?;
    /// let b = KdfParams::generate(DEFAULT_ITERATIONS)?;
    /// assert_ne!(a.salt, b.salt);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::InvalidIterations`] for a count outside
    /// [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`], the range a store file may
    /// hold; [`CryptoError::Rng`] if the system's random source fails.
    pub fn generate(iterations: u32) -> Result<Self> {
        check_iterations(iterations)
            .map_err(|_| Error::Crypto(CryptoError::InvalidIterations(iterations)))?;
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt)?;
        Ok(KdfParams {
            salt,
            kdf: KdfName::Pbkdf2HmacSha256,
            iterations,
        })
    }
}

/// The key a password stretches to, from which each purpose's wrapping key is
/// expanded. Zeroized on drop; its `Debug` shows only the parameters.
#[derive(ZeroizeOnDrop)]
pub struct PasswordKey {
    master: Zeroizing<[u8; 32]>,
    #[zeroize(skip)]
    params: KdfParams,
    /// How long PBKDF2 took: what each password guess costs (`--explain`).
    #[zeroize(skip)]
    took: std::time::Duration,
}

impl PasswordKey {
    /// Stretches a password with PBKDF2-HMAC-SHA256. This is the slow step
    /// (about 80 ms at 600,000 iterations), on purpose.
    ///
    /// ```
    /// use secure_kms::crypto::kdf::{KdfParams, Password, PasswordKey, MIN_ITERATIONS};
    ///
    /// let params = KdfParams::generate(MIN_ITERATIONS)?;
    /// let key = PasswordKey::derive(&Password::new("pw".to_owned())?, &params);
    /// assert_eq!(key.params(), &params);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn derive(password: &Password, params: &KdfParams) -> Self {
        let started = std::time::Instant::now();
        let mut master = Zeroizing::new([0u8; 32]);
        match params.kdf {
            KdfName::Pbkdf2HmacSha256 => pbkdf2_hmac_sha256(
                password.as_bytes(),
                &params.salt,
                params.iterations,
                master.as_mut(),
            ),
        }
        PasswordKey {
            master,
            params: params.clone(),
            took: started.elapsed(),
        }
    }

    /// How long the PBKDF2 run that made this key took: about what each
    /// guess at the password costs an attacker with the stored salt.
    pub fn derive_time(&self) -> std::time::Duration {
        self.took
    }

    /// The parameters this key was derived with.
    pub fn params(&self) -> &KdfParams {
        &self.params
    }

    /// The wrapping key for one purpose: HKDF-Expand of the master key with
    /// info `secure-kms v1 <purpose>`, so that keys for different purposes
    /// are independent.
    pub fn subkey(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let info = subkey_info(purpose);
        // The master key is a full SHA-256-length pseudorandom key, so it can
        // serve directly as HKDF's PRK (RFC 5869 section 3.3): no extract step.
        hkdf_sha256_expand(self.master.as_ref(), info.as_bytes(), out.as_mut())
            .expect("32 bytes from a 32-byte PRK is always valid for HKDF-SHA256");
        out
    }
}

/// HKDF's info string for the wrapping key of `purpose`, as
/// [`PasswordKey::subkey`] uses it.
///
/// ```
/// use secure_kms::crypto::kdf::subkey_info;
/// assert_eq!(subkey_info("symmetric key wrap"), "secure-kms v1 symmetric key wrap");
/// ```
pub fn subkey_info(purpose: &str) -> String {
    format!("secure-kms v1 {purpose}")
}

impl std::fmt::Debug for PasswordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordKey")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2): fills `out` from `password`,
/// `salt` and `iterations`.
///
/// Each iteration after the first is exactly two calls of SHA-256's
/// compression function (sha2's `compress256`), from HMAC's inner and
/// outer states computed once, as OpenSSL's loop does. RustCrypto's
/// generic `pbkdf2` crate, used before, took 8% longer in release, and
/// 17% longer in the dev profile that `cargo run` builds, whose build
/// skips link-time optimisation: its HMAC and buffer code only runs fast
/// once inlined across codegen units (docs/BENCHMARKS.md). The result is
/// the same: `tests/it/rfc7914_pbkdf2.rs` and Wycheproof's 60 vectors check
/// it, and a property test compares it with the `pbkdf2` crate's.
///
/// ```
/// let mut out = [0u8; 32];
/// secure_kms::crypto::kdf::pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
/// assert_eq!(out[0], 0x55); // RFC 7914 section 11
/// ```
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    use hmac::{KeyInit, Mac};
    // HMAC (RFC 2104) hashes the key block XOR a pad, then the message. The
    // key block is the same for every iteration, so the hash state after it
    // is computed once per pad (RFC 2104 section 4 suggests it).
    let mut key = Zeroizing::new([0u8; 64]);
    if password.len() > 64 {
        let digest: Zeroizing<[u8; 32]> =
            Zeroizing::new(<Sha256 as sha2::Digest>::digest(password).into());
        key[..32].copy_from_slice(&digest[..]);
    } else {
        key[..password.len()].copy_from_slice(password);
    }
    let keyed = |pad: u8| {
        let mut block = Zeroizing::new([0u8; 64]);
        for (b, k) in block.iter_mut().zip(key.iter()) {
            *b = k ^ pad;
        }
        let mut state = Zeroizing::new(SHA256_IV);
        sha2::block_api::compress256(&mut state, std::slice::from_ref(&*block));
        state
    };
    let (inner, outer) = (keyed(0x36), keyed(0x5c));
    // U_1 = HMAC(P, S || INT(i)) has a message of any length: the hmac crate.
    let first = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes any key length");
    // U_j = HMAC(P, U_j-1): a 32-byte message after the key block, so each
    // hash is one more block, whose padding never changes: 0x80, zeros, and
    // the length, 96 bytes in bits.
    let mut block = Zeroizing::new([0u8; 64]);
    block[32] = 0x80;
    block[62..].copy_from_slice(&(96u16 * 8).to_be_bytes());
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut mac = first.clone();
        mac.update(salt);
        mac.update(&(i as u32 + 1).to_be_bytes());
        let u_1: Zeroizing<[u8; 32]> = Zeroizing::new(mac.finalize().into_bytes().into());
        block[..32].copy_from_slice(&u_1[..]);
        // T_i = U_1 xor U_2 xor ... xor U_c
        let mut t = Zeroizing::new([0u8; 32]);
        t.copy_from_slice(&block[..32]);
        let mut state = Zeroizing::new([0u32; 8]);
        for _ in 1..iterations {
            // Passed by reference: a secret block copied to the stack on
            // each call would be left there.
            *state = *inner;
            sha2::block_api::compress256(&mut state, std::slice::from_ref(&*block));
            store_words(&state, &mut block[..32]);
            *state = *outer;
            sha2::block_api::compress256(&mut state, std::slice::from_ref(&*block));
            store_words(&state, &mut block[..32]);
            for (t, u) in t.iter_mut().zip(&block[..32]) {
                *t ^= u;
            }
        }
        chunk.copy_from_slice(&t[..chunk.len()]);
    }
}

/// SHA-256's initial hash value, H(0) (FIPS 180-4 section 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A SHA-256 state as its 32-byte digest: the words, big-endian.
fn store_words(state: &[u32; 8], out: &mut [u8]) {
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` (none means a zero salt) and
/// expand with `info` into `out`.
///
/// ```
/// let mut okm = [0u8; 32];
/// secure_kms::crypto::kdf::hkdf_sha256(None, b"input key material", b"key exchange", &mut okm)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::KdfLength`] if `out` is longer than 8160 bytes (255 blocks),
/// the most HKDF-SHA256 can produce.
pub fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .map_err(|_| Error::Crypto(CryptoError::KdfLength(out.len())))
}

/// HKDF-Expand alone (RFC 5869 section 2.3), for a key that is already
/// pseudorandom: fills `out` from `prk` and `info`.
///
/// ```
/// let mut okm = [0u8; 32];
/// secure_kms::crypto::kdf::hkdf_sha256_expand(&[1u8; 32], b"purpose", &mut okm)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CryptoError::KdfLength`] if `prk` is shorter than 32 bytes or `out` longer
/// than 8160.
pub fn hkdf_sha256_expand(prk: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::from_prk(prk)
        .map_err(|_| Error::Crypto(CryptoError::KdfLength(prk.len())))?
        .expand(info, out)
        .map_err(|_| Error::Crypto(CryptoError::KdfLength(out.len())))
}

/// A password key at the fewest iterations with a fresh salt, so that unit
/// tests stay fast. Never used by the product.
#[cfg(test)]
pub(crate) fn test_key(password: &str) -> PasswordKey {
    PasswordKey::derive(
        &Password::new(password.to_owned()).unwrap(),
        &KdfParams::generate(MIN_ITERATIONS).unwrap(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(s: &str) -> Password {
        Password::new(s.to_owned()).unwrap()
    }

    #[test]
    fn same_password_and_params_give_the_same_key() {
        let params = KdfParams::generate(MIN_ITERATIONS).unwrap();
        let a = PasswordKey::derive(&password("pw"), &params);
        let b = PasswordKey::derive(&password("pw"), &params);
        assert_eq!(*a.subkey("x"), *b.subkey("x"));
    }

    #[test]
    fn password_salt_and_purpose_each_change_the_key() {
        let params = KdfParams::generate(MIN_ITERATIONS).unwrap();
        let other_salt = KdfParams::generate(MIN_ITERATIONS).unwrap();
        let k = PasswordKey::derive(&password("pw"), &params);
        assert_ne!(
            *k.subkey("x"),
            *PasswordKey::derive(&password("pW"), &params).subkey("x")
        );
        assert_ne!(
            *k.subkey("x"),
            *PasswordKey::derive(&password("pw"), &other_salt).subkey("x")
        );
        assert_ne!(*k.subkey("x"), *k.subkey("y"));
    }

    #[test]
    fn iteration_counts_outside_the_range_are_refused() {
        assert!(matches!(
            KdfParams::generate(1),
            Err(Error::Crypto(CryptoError::InvalidIterations(1)))
        ));
        assert!(matches!(
            KdfParams::generate(MAX_ITERATIONS + 1),
            Err(Error::Crypto(CryptoError::InvalidIterations(_)))
        ));
        assert_eq!(
            KdfParams::generate(MIN_ITERATIONS).unwrap().iterations,
            MIN_ITERATIONS
        );
        assert!(check_iterations(MIN_ITERATIONS - 1).is_err());
        assert!(check_iterations(MAX_ITERATIONS + 1).is_err());
        assert!(check_iterations(DEFAULT_ITERATIONS).is_ok());
    }

    #[test]
    fn passwords_that_a_terminal_cannot_type_are_refused() {
        assert!(matches!(
            Password::new(String::new()),
            Err(Error::Crypto(CryptoError::EmptyPassword))
        ));
        assert!(matches!(
            Password::new("a\tb".to_owned()),
            Err(Error::Crypto(CryptoError::PasswordControlCharacter))
        ));
        assert!(matches!(
            Password::new("a\u{1b}b".to_owned()),
            Err(Error::Crypto(CryptoError::PasswordControlCharacter))
        ));
        assert!(Password::new("p".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(matches!(
            Password::new("p".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(Error::Crypto(CryptoError::PasswordTooLong(
                MAX_PASSWORD_BYTES
            )))
        ));
        assert!(Password::new("correct horse battery staple, déjà vu".to_owned()).is_ok());
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let p = password("hunter2");
        assert_eq!(format!("{p:?}"), "Password(..)");
        let params = KdfParams::generate(MIN_ITERATIONS).unwrap();
        let k = PasswordKey::derive(&p, &params);
        assert_eq!(
            format!("{k:?}"),
            format!("PasswordKey {{ params: {params:?}, .. }}")
        );
    }
}
