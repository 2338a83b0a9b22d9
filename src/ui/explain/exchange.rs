//! The key exchange explained: the toy group of `exchange --toy`, and the
//! same steps in a real group, as the session runs them.

use crate::Result;
use crate::crypto::dh::DhParameters;
use crate::exchange::toy::ToyExchange;
use crate::exchange::{
    HKDF_INFO, SharedSecret, compute_shared_secret, derive_key_from_secret, generate_dh_parameters,
    generate_dh_private_key,
};
use crate::util::fingerprint;

use super::{Steps, hashed};

/// `exchange --toy`: a textbook exchange with every number shown, then the
/// same steps in ffdhe2048, run with the original's functions, so that a
/// class sees that only the size changed.
///
/// ```
/// use secure_kms::exchange::toy::{exchange_with, TEXTBOOK};
/// let text = secure_kms::ui::explain::exchange::toy_exchange(&exchange_with(TEXTBOOK, 4, 3))?;
/// assert!(text.contains("A: g^a mod p = 5^4 mod 23 = 4"));
/// assert!(text.lines().all(|l| l.chars().count() <= 80));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`crate::CryptoError::Rng`] if the system's random source fails.
pub fn toy_exchange(run: &ToyExchange) -> Result<String> {
    let (p, g) = (run.group.p(), run.group.g());
    let mut steps = Steps::default();
    steps.title(&format!(
        "A toy Diffie-Hellman exchange. INSECURE: numbers small enough to check by \
         hand, and to break by trying all {} private values. secure-kms uses them \
         nowhere else.",
        p - 3
    ));
    steps.step(
        "group",
        &format!("p = {p}, g = {g}"),
        "public, known to everyone: p is prime and g generates every non-zero number mod p",
    );
    steps.step(
        "a",
        &run.a.to_string(),
        "party A's private value, picked at random in [2, p - 2] and never sent",
    );
    steps.step("b", &run.b.to_string(), "party B's private value, likewise");
    steps.step(
        "A",
        &format!("g^a mod p = {g}^{} mod {p} = {}", run.a, run.public_a),
        "A's public value, sent in the open",
    );
    steps.step(
        "B",
        &format!("g^b mod p = {g}^{} mod {p} = {}", run.b, run.public_b),
        "B's public value, sent in the open",
    );
    steps.step(
        "Z at A",
        &format!(
            "B^a mod p = {}^{} mod {p} = {}",
            run.public_b, run.a, run.secret_a
        ),
        "A raises B's public value to its own private value",
    );
    steps.step(
        "Z at B",
        &format!(
            "A^b mod p = {}^{} mod {p} = {}",
            run.public_a, run.b, run.secret_b
        ),
        "the same number, since (g^b)^a = (g^a)^b = g^(ab). An eavesdropper saw p, g, \
         A and B; to get Z it must find a or b from them (the discrete logarithm), \
         which here takes a few tries",
    );

    let params = generate_dh_parameters();
    steps.title(
        "The same steps in RFC 7919 ffdhe2048, as the session (`cargo run`) runs \
         them with the original's functions. The private values and Z \
         are secrets now: only their sizes and hashes are shown.",
    );
    ffdhe_steps(&mut steps, &params)?;
    Ok(steps.text().to_owned())
}

/// The exchange in `params`, step by step: `generate_dh_private_key`,
/// `compute_shared_secret` and `derive_key_from_secret` as the session calls
/// them.
fn ffdhe_steps(steps: &mut Steps, params: &DhParameters) -> Result<()> {
    let (a, b) = (
        generate_dh_private_key(params)?,
        generate_dh_private_key(params)?,
    );
    let (public_a, public_b) = (a.public_key(), b.public_key());
    let z_a = compute_shared_secret(&a, &public_b)?;
    let z_b = compute_shared_secret(&b, &public_a)?;
    let (key_a, key_b) = (
        derive_key_from_secret(z_a.as_bytes()),
        derive_key_from_secret(z_b.as_bytes()),
    );
    dh_steps(
        steps,
        params,
        (&public_a.to_bytes(), &public_b.to_bytes()),
        (&z_a, &z_b),
        (key_a.as_bytes(), key_b.as_bytes()),
    );
    Ok(())
}

/// The steps of a Diffie-Hellman exchange in `params` that has been run:
/// the group, the sizes of the private values, both public values
/// (shortened), and the shared secret and derived key of each side as
/// hashes only.
pub fn dh_steps(
    steps: &mut Steps,
    params: &DhParameters,
    public: (&[u8], &[u8]),
    secret: (&SharedSecret, &SharedSecret),
    key: (&[u8], &[u8]),
) {
    steps.step(
        "group",
        &format!("p = {}, g = 2", fingerprint::short_hex(&params.p_bytes())),
        "RFC 7919 ffdhe2048, a safe prime built from the digits of e: p = 2q + 1 with q prime",
    );
    steps.step(
        "a, b",
        &format!("{} random bits each (not shown)", params.exponent_bits()),
        "the private values; NIST SP 800-56A: at least twice the group's 112-bit security",
    );
    steps.step(
        "A",
        &format!("g^a mod p = {}", fingerprint::short_hex(public.0)),
        "sent in the open, signed with A's RSA key so nobody can swap it",
    );
    steps.step(
        "B",
        &format!("g^b mod p = {}", fingerprint::short_hex(public.1)),
        "likewise",
    );
    let z = |s: &SharedSecret| format!("{} bytes, {}", s.as_bytes().len(), hashed(s.as_bytes()));
    steps.step(
        "Z at A",
        &format!("B^a mod p, {}", z(secret.0)),
        "after checking that B is in the prime-order subgroup",
    );
    steps.step(
        "Z at B",
        &format!("A^b mod p, {}", z(secret.1)),
        "the same number; finding a from A takes about 2^112 operations",
    );
    let info = String::from_utf8_lossy(HKDF_INFO);
    steps.step(
        "key at A",
        &format!("HKDF-SHA256(Z, info \"{info}\"), {}", hashed(key.0)),
        "the original's last step: Z has structure, HKDF turns it into 32 uniform bytes",
    );
    steps.step(
        "key at B",
        &format!("the same, {}", hashed(key.1)),
        "both sides hold one AES-256 key that never crossed the wire",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ffdhe2048_half_never_shows_a_private_value_or_z() {
        let params = generate_dh_parameters();
        let mut steps = Steps::default();
        ffdhe_steps(&mut steps, &params).unwrap();
        let text = steps.text();
        // Every hex run shown is at most 16 digits (a short hash or the ends
        // of a public value), never a whole 2048-bit number or a key.
        let longest = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap();
        assert!(longest <= 16, "{text}");
        assert!(text.contains("225 random bits each (not shown)"), "{text}");
    }
}
