//! An authenticated key exchange between two users of the store, run in
//! one process to show every step (`secure-kms exchange ALICE BOB`).
//!
//! Each side makes an ephemeral key pair in the chosen group. The
//! transcript (both identities with their RSA key versions, both public
//! values, the group) is signed by each side with its active RSA key
//! (RSA-PSS, SHA-256) and checked by the other against the stored public
//! key, so a value swapped by someone in the middle, or a signature from
//! anyone else, is caught. Both then compute the shared secret and derive
//! the session key bound to the transcript ([`crate::formats::agreement`]). Keys
//! that may not sign (revoked, expired, destroyed) stop the exchange, with
//! the reason.

use sha2::Digest;

use crate::crypto::dh::DhParameters;
use crate::crypto::kdf::Password;
use crate::formats::agreement::{EphemeralKey, Group, Party, SessionKey, Transcript};
use crate::keys::unlock::UnlockedUser;
use crate::pki::{sign_public_key, verify_signature};
use crate::store::Store;
use crate::util::fingerprint::{self, sha256_hex};
use crate::util::user::UserId;
use crate::{CryptoError, Error, Result};

/// What an exchange agreed on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExchangeOutcome {
    /// The group.
    pub group: Group,
    /// For a group loaded from a file: SHA-256 of its p and g.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params_sha256: Option<String>,
    /// Who spoke first, with the RSA key version that signed.
    pub initiator: Party,
    /// Who answered.
    pub responder: Party,
    /// SHA-256 of the session key as the initiator derived it.
    pub initiator_key_fingerprint: String,
    /// SHA-256 of the session key as the responder derived it.
    pub responder_key_fingerprint: String,
}

/// Where an exchange explains itself: one line per value, with what it is.
pub trait Explain {
    /// One value: its name, the value (shortened), and why it is safe.
    fn step(&mut self, name: &str, value: &str, why: &str);
}

/// A side of the exchange: its unlocked keys, refused unless its RSA key
/// may sign (active).
fn side(store: &Store, user_id: &UserId, password: &Password) -> Result<(UnlockedUser, Party)> {
    let unlocked = crate::ops::commands::signing_keys(store, user_id, password, "exchange")?;
    let party = Party {
        user: user_id.to_string(),
        key_version: unlocked.version,
    };
    Ok((unlocked, party))
}

/// Runs an exchange between `a` and `b` in `group`, each with its password,
/// telling `explain` each value. With `params` (a finite-field group loaded
/// and checked by [`crate::formats::dhkeys::params_from_pem`], as the original made
/// fresh groups), the exchange runs in that group instead of ffdhe2048, and
/// the session key is bound to its p and g too.
///
/// # Errors
/// [`KeyError::Revoked`](crate::KeyError::Revoked), [`KeyError::Expired`](crate::KeyError::Expired), [`KeyError::Destroyed`](crate::KeyError::Destroyed) for a side
/// whose key may not sign; [`KeyError::Unlock`](crate::KeyError::Unlock) for a wrong password;
/// [`CryptoError::BadSignature`] or [`CryptoError::KeyAgreement`] if the protocol
/// fails (it does not, unless something is wrong).
pub fn exchange(
    store: &Store,
    a: (&UserId, &Password),
    b: (&UserId, &Password),
    group: Group,
    params: Option<&DhParameters>,
    explain: &mut dyn Explain,
) -> Result<ExchangeOutcome> {
    if params.is_some() && group != Group::Ffdhe2048 {
        return Err(Error::Crypto(CryptoError::InvalidGroup(
            "a finite-field group from a file replaces ffdhe2048, not x25519".to_owned(),
        )));
    }
    let (unlocked_a, party_a) = side(store, a.0, a.1)?;
    let (unlocked_b, party_b) = side(store, b.0, b.1)?;
    let (rsa_a, rsa_b) = (
        unlocked_a.key_pair.as_ref().expect("checked in side"),
        unlocked_b.key_pair.as_ref().expect("checked in side"),
    );
    match (group, params) {
        (Group::Ffdhe2048, Some(custom)) => {
            explain.step(
                "p",
                &fingerprint::short_hex(&custom.p_bytes()),
                &format!(
                    "a prime loaded from a file and checked: a {}-bit safe prime, p = 2q + 1 with q prime",
                    custom.bits()
                ),
            );
            explain.step(
                "g",
                &fingerprint::short_hex(&custom.g_bytes()),
                "checked to generate the subgroup of prime order q",
            );
        }
        (Group::Ffdhe2048, None) => {
            let params = DhParameters::ffdhe2048();
            explain.step(
                "p",
                &fingerprint::short_hex(&params.p_bytes()),
                "the RFC 7919 ffdhe2048 prime: a safe prime, p = 2q + 1 with q prime, so the subgroup has no small factors",
            );
            explain.step("g", "2", "generates the subgroup of prime order q");
        }
        (Group::X25519, _) => explain.step(
            "curve",
            "Curve25519, base point u = 9",
            "RFC 7748: 128-bit security, no parameters to choose or check",
        ),
    }
    let fresh = || match params {
        Some(custom) => EphemeralKey::generate_dh(custom),
        None => EphemeralKey::generate(group),
    };
    let (eph_a, eph_b) = (fresh()?, fresh()?);
    let params_hash = params.map(|custom| {
        let mut both = custom.p_bytes();
        both.extend_from_slice(&custom.g_bytes());
        let hash: [u8; 32] = sha2::Sha256::digest(&both).into();
        hash
    });
    explain.step(
        "private values",
        &format!(
            "{} bits each, fresh for this exchange",
            eph_a.private_bits()
        ),
        "random from the operating system, used once and zeroized on drop",
    );
    let transcript = Transcript {
        group,
        initiator: party_a.clone(),
        responder: party_b.clone(),
        initiator_public: eph_a.public_bytes(),
        responder_public: eph_b.public_bytes(),
        params_hash,
    };
    explain.step(
        &format!("{}'s public value", party_a.user),
        &fingerprint::short_hex(&transcript.initiator_public),
        match group {
            Group::Ffdhe2048 => {
                "safe to send: recovering the private value from it is the discrete logarithm problem in a 2048-bit group"
            }
            Group::X25519 => {
                "safe to send: recovering the private value from it is the elliptic-curve discrete logarithm problem"
            }
        },
    );
    explain.step(
        &format!("{}'s public value", party_b.user),
        &fingerprint::short_hex(&transcript.responder_public),
        "likewise",
    );
    // Each side signs the whole transcript; the other checks it against the
    // public key the store holds for the version the transcript names.
    let bytes = transcript.to_bytes();
    let sig_a = sign_public_key(&rsa_a.0, &bytes)?;
    let sig_b = sign_public_key(&rsa_b.0, &bytes)?;
    verify_signature(&rsa_a.1, &bytes, &sig_a)?;
    verify_signature(&rsa_b.1, &bytes, &sig_b)?;
    explain.step(
        "signatures",
        &format!(
            "{} (version {}) and {} (version {}): both verified",
            party_a.user, party_a.key_version, party_b.user, party_b.key_version
        ),
        "RSA-PSS-SHA256 over the whole transcript: a value swapped in the middle, or signed by anyone else, fails here",
    );
    // Each checks the other's value as it computes the secret.
    let z_a = eph_a.agree(&transcript.responder_public)?;
    let z_b = eph_b.agree(&transcript.initiator_public)?;
    explain.step(
        "validation",
        match group {
            Group::Ffdhe2048 => "2 <= y <= p - 2 and y^q = 1 (mod p), for both values; Z != 1",
            Group::X25519 => "the shared secret is not all zeros (no low-order point)",
        },
        "a value outside the prime-order subgroup would leak bits of the private value",
    );
    explain.step(
        "shared secret",
        &format!("SHA-256 {}", fingerprint::short(&sha256_hex(&z_a))),
        "the same on both sides; never stored or shown itself",
    );
    explain.step(
        "HKDF salt",
        &fingerprint::short_hex(&transcript.salt()),
        "SHA-256 of the transcript: both identities, both public values, the group",
    );
    explain.step(
        "HKDF info",
        &transcript.info(),
        "names the protocol and the group, so the key serves this purpose only",
    );
    let key_a: SessionKey = transcript.session_key(&z_a);
    let key_b: SessionKey = transcript.session_key(&z_b);
    let fp_a = sha256_hex(key_a.as_bytes());
    let fp_b = sha256_hex(key_b.as_bytes());
    explain.step(
        "session key",
        &format!("SHA-256 {}", fingerprint::short(&fp_a)),
        "32 bytes from HKDF-SHA256, bound to this exchange: no other exchange can give it",
    );
    if key_a != key_b {
        return Err(Error::Crypto(CryptoError::KeyAgreement));
    }
    Ok(ExchangeOutcome {
        group,
        params_sha256: params_hash.map(|h| fingerprint::hex(&h)),
        initiator: party_a,
        responder: party_b,
        initiator_key_fingerprint: fp_a,
        responder_key_fingerprint: fp_b,
    })
}
