//! A user's keys explained: how a version was made and wrapped under the
//! password (`keygen`, `rotate`, the session), and what a revocation wrote.

use std::time::Duration;

use rsa::traits::PublicKeyParts;

use crate::Result;
use crate::ca::crl::CrlSummary;
use crate::crypto::kdf::{KdfParams, subkey_info};
use crate::crypto::wrap::{Sealed, TAG_LEN};
use crate::revocation::{Revocation, RevocationReason};
use crate::store::versions::NewVersion;
use crate::util::{b64, fingerprint};

use super::Steps;

/// An RSA public exponent in decimal (65537 for every key secure-kms makes).
fn exponent(e: &crypto_bigint::BoxedUint) -> String {
    if e.bit_width() > 64 {
        return format!("a {}-bit number", e.bit_width());
    }
    let value = e
        .to_be_bytes()
        .iter()
        .fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    value.to_string()
}

/// Milliseconds, to one decimal.
fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// PBKDF2 with `params`, which took `took`, then HKDF-Expand into one key
/// per purpose in `purposes` (each with what its key wraps).
///
/// ```
/// use secure_kms::crypto::kdf::{KdfParams, MIN_ITERATIONS};
/// use secure_kms::ui::explain::{keys::password_key, Steps};
/// let mut steps = Steps::default();
/// let params = KdfParams::generate(MIN_ITERATIONS)?;
/// password_key(&mut steps, &params, std::time::Duration::from_millis(88), &[("symmetric key wrap", "the AES key")]);
/// assert!(steps.text().contains("info \"secure-kms v1 symmetric key wrap\""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn password_key(
    steps: &mut Steps,
    params: &KdfParams,
    took: Duration,
    purposes: &[(&str, &str)],
) {
    steps.step(
        "PBKDF2-HMAC-SHA256",
        &format!(
            "{} iterations, salt {}, {}",
            params.iterations,
            b64::encode(&params.salt),
            ms(took)
        ),
        &format!(
            "stretches the password into a 32-byte master key (not shown). The salt \
             (16 random bytes, stored) makes each user's guesses separate work, and every \
             guess costs this time again: 10,000 guesses take about {:.0} s on one core",
            took.as_secs_f64() * 10_000.0
        ),
    );
    for (purpose, what) in purposes {
        steps.step(
            "HKDF-SHA256",
            &format!("info \"{}\"", subkey_info(purpose)),
            &format!(
                "expands the master key into the key that wraps {what} (not shown): one \
                 key per purpose, one slow PBKDF2 run"
            ),
        );
    }
}

/// An AES-256-GCM wrap: its nonce, associated data and tag, as stored.
fn sealed(steps: &mut Steps, what: &str, sealed: &Sealed, aad: &[u8]) {
    let (body, tag) = sealed
        .ciphertext
        .split_at(sealed.ciphertext.len().saturating_sub(TAG_LEN));
    steps.step(
        &format!("AES-256-GCM, {what}"),
        &format!(
            "{} bytes of ciphertext and a 16-byte tag, nonce {}",
            body.len(),
            b64::encode(&sealed.nonce)
        ),
        "96 random bits, used for this value only: GCM breaks if a nonce is reused under one key",
    );
    steps.step(
        "associated data",
        &String::from_utf8_lossy(aad),
        "authenticated, not encrypted: change the owner, version, dates or ID in the file \
         and the key no longer unwraps",
    );
    steps.step(
        "tag",
        &b64::encode(tag),
        "128 bits over the ciphertext and the associated data, the last 16 bytes of `key`",
    );
}

/// `keygen`, `rotate` and the session: how `made` was made and wrapped.
///
/// # Errors
/// [`crate::CryptoError::MalformedKey`] if the stored public key does not
/// parse (it was just written, so it does).
pub fn new_version(steps: &mut Steps, made: &NewVersion) -> Result<()> {
    let record = &made.record;
    let (Some(sym), Some(pair)) = (record.symmetric.last(), record.asymmetric.last()) else {
        return Ok(());
    };
    steps.title(&format!(
        "How version {} of {}'s keys was made and stored:",
        made.version, made.user
    ));
    steps.step(
        "symmetric key",
        &format!(
            "AES-256, 32 random bytes (not shown), ID {}",
            fingerprint::short(&sym.fingerprint)
        ),
        "from the operating system's random source; its ID is its SHA-256, which reveals nothing of it",
    );
    let public = pair.public_key()?;
    steps.step(
        "RSA key pair",
        &format!(
            "{}-bit modulus n, e = {}{}, ID {}",
            public.n().as_ref().bit_width(),
            exponent(public.e()),
            made.rsa_time
                .map_or_else(String::new, |t| format!(", made in {}", ms(t))),
            fingerprint::short(&pair.fingerprint)
        ),
        "two random primes p, q with n = pq; the ID is SHA-256 of the public key's DER and \
         names the pair in status, the revocation list and certificates",
    );
    let Some(wrapped) = &sym.wrapped else {
        return Ok(());
    };
    password_key(
        steps,
        &wrapped.kdf,
        made.kdf_time,
        &[
            (crate::symmetric::PURPOSE, "the symmetric key"),
            (crate::pki::PURPOSE, "the RSA private key"),
        ],
    );
    sealed(
        steps,
        "symmetric key",
        &wrapped.sealed,
        &sym.associated_data(&made.user),
    );
    if let Some(private) = &pair.private {
        sealed(
            steps,
            "private key (PKCS#8 DER)",
            &private.sealed,
            &pair.associated_data(&made.user),
        );
    }
    Ok(())
}

/// `revoke` and the session: the entries a revocation wrote, and the CRL
/// signed after it, if any.
pub fn revocation(steps: &mut Steps, revoked: &[Revocation], crl: Option<&CrlSummary>) {
    if revoked.is_empty() {
        return;
    }
    steps.title("What the revocation wrote to revoked_keys.json, one entry per version:");
    for r in revoked {
        let version = r.version.map_or("-".to_owned(), |v| v.to_string());
        steps.step(
            "entry",
            &format!(
                "{} version {version}, at {}",
                r.user_id,
                r.revoked_at_text()
            ),
            "every use of a key looks here first",
        );
        let ids = [
            ("symmetric key ID", &r.symmetric_fingerprint),
            ("RSA key ID", &r.public_key_fingerprint),
        ];
        for (name, id) in ids {
            if let Some(id) = id {
                steps.step(
                    name,
                    fingerprint::short(id),
                    "the keys are named by ID, so keys issued later are not caught",
                );
            }
        }
        let why = match r.reason {
            RevocationReason::KeyCompromise => {
                "NIST SP 800-57 calls a key compromised when it may be known to others"
            }
            RevocationReason::Unspecified => {
                "NIST SP 800-57 calls a key compromised when it may be known to others, and \
                 with no reason given that cannot be ruled out"
            }
            _ => "NIST SP 800-57 calls it deactivated: its use ended with no doubt cast on it",
        };
        steps.step(
            "reason",
            &format!("{} (RFC 5280 section 5.3.1)", r.reason),
            &format!(
                "the state is now {}: {why}. Revoked, it is refused for every use",
                crate::keys::keyring::revoked_state_text(r)
            ),
        );
        if let Some(serial) = &r.serial {
            steps.step(
                "certificate",
                &format!("serial {serial}"),
                "the pair's X.509 certificate, which the CRL will list",
            );
        }
    }
    if let Some(crl) = crl {
        steps.step(
            "CRL",
            &format!(
                "number {}, {} revoked certificate(s), next update {}",
                crl.number,
                crl.serials.len(),
                crl.next_update
            ),
            "signed by the store's CA: anyone with ca_root.pem can check which certificates \
             are withdrawn (openssl crl -CAfile ca_root.pem -in crl.pem)",
        );
    }
}
