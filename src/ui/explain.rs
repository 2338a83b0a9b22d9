//! What `--explain` prints: each step of a command in order, with its real
//! values and why each is safe, in lines of at most 80 columns.
//!
//! Only values that are not secret are ever given to [`Steps`]: salts,
//! iteration counts, nonces, associated data, tags, public values, key IDs
//! and sizes. A password, a key, a private value or a shared secret is
//! shown at most as its size or as the first digits of its SHA-256, which
//! reveal nothing of it.

use crate::Result;
use crate::crypto::dh::DhParameters;
use crate::exchange::toy::ToyExchange;
use crate::exchange::{
    HKDF_INFO, compute_shared_secret, derive_key_from_secret, generate_dh_parameters,
    generate_dh_private_key,
};
use crate::ops::handshake::Explain;
use crate::util::fingerprint;

/// The widest line `--explain` prints.
pub const WIDTH: usize = 80;

/// Steps explained, collected as text.
///
/// ```
/// use secure_kms::ui::explain::Steps;
/// let mut steps = Steps::default();
/// steps.step("iterations", "600000", "PBKDF2-HMAC-SHA256 rounds");
/// assert_eq!(steps.text(), "  iterations: 600000\n      PBKDF2-HMAC-SHA256 rounds\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Steps {
    text: String,
}

impl Steps {
    /// A heading, wrapped to [`WIDTH`].
    pub fn title(&mut self, text: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        wrap_into(&mut self.text, text, "", "");
    }

    /// One step: its name and value, then why, indented and wrapped.
    pub fn step(&mut self, name: &str, value: &str, why: &str) {
        wrap_into(&mut self.text, &format!("{name}: {value}"), "  ", "      ");
        if !why.is_empty() {
            wrap_into(&mut self.text, why, "      ", "      ");
        }
    }

    /// Everything so far, one line per line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether nothing was explained.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl Explain for Steps {
    fn step(&mut self, name: &str, value: &str, why: &str) {
        Steps::step(self, name, value, why);
    }
}

/// Appends `text`, its first line starting with `first` and the others
/// with `rest`, broken at spaces so that none is wider than [`WIDTH`] (a
/// single word wider than that stays whole).
fn wrap_into(out: &mut String, text: &str, first: &str, rest: &str) {
    let mut line = String::from(first);
    let mut indent = first.len();
    for word in text.split(' ') {
        let fits = line.chars().count() + 1 + word.chars().count() <= WIDTH;
        if line.len() > indent && !fits {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            indent = rest.len();
        } else if line.len() > indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// The first 16 hex digits of SHA-256 of a secret: enough to see that two
/// sides hold the same value, nothing about the value.
pub fn hashed(secret: &[u8]) -> String {
    format!(
        "SHA-256 {}",
        fingerprint::short(&fingerprint::sha256_hex(secret))
    )
}

/// `exchange --toy`: a textbook exchange with every number shown, then the
/// same steps in ffdhe2048, run with the original's functions, so that a
/// class sees that only the size changed.
///
/// ```
/// use secure_kms::exchange::toy::{exchange_with, TEXTBOOK};
/// let text = secure_kms::ui::explain::toy_exchange(&exchange_with(TEXTBOOK, 4, 3))?;
/// assert!(text.contains("A: g^a mod p = 5^4 mod 23 = 4"));
/// assert!(text.lines().all(|l| l.chars().count() <= 80));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`crate::CryptoError::Rng`] if the system's random source fails.
pub fn toy_exchange(run: &ToyExchange) -> Result<String> {
    let (p, g) = (run.group.p, run.group.g);
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
        "The same steps in RFC 7919 ffdhe2048, as `cargo run` and `secure-kms \
         exchange` run them with the original's functions. The private values and Z \
         are secrets now: only their sizes and hashes are shown.",
    );
    ffdhe_steps(&mut steps, &params)?;
    Ok(steps.text().to_owned())
}

/// The exchange in `params`, step by step: `generate_dh_private_key`,
/// `compute_shared_secret` and `derive_key_from_secret` as the session calls
/// them.
fn ffdhe_steps(steps: &mut Steps, params: &DhParameters) -> Result<()> {
    steps.step(
        "group",
        &format!("p = {}, g = 2", fingerprint::short_hex(&params.p_bytes())),
        "a safe prime built from the digits of e: p = 2q + 1 with q prime",
    );
    let (a, b) = (
        generate_dh_private_key(params)?,
        generate_dh_private_key(params)?,
    );
    steps.step(
        "a, b",
        &format!("{} random bits each (not shown)", params.exponent_bits()),
        "NIST SP 800-56A: at least twice the group's 112-bit security",
    );
    let (public_a, public_b) = (a.public_key(), b.public_key());
    steps.step(
        "A",
        &format!(
            "g^a mod p = {}",
            fingerprint::short_hex(&public_a.to_bytes())
        ),
        "sent in the open, signed with A's RSA key so nobody can swap it",
    );
    steps.step(
        "B",
        &format!(
            "g^b mod p = {}",
            fingerprint::short_hex(&public_b.to_bytes())
        ),
        "likewise",
    );
    let z_a = compute_shared_secret(&a, &public_b)?;
    let z_b = compute_shared_secret(&b, &public_a)?;
    steps.step(
        "Z at A",
        &format!(
            "B^a mod p, {} bytes, {}",
            z_a.as_bytes().len(),
            hashed(z_a.as_bytes())
        ),
        "after checking that B is in the prime-order subgroup",
    );
    steps.step(
        "Z at B",
        &format!(
            "A^b mod p, {} bytes, {}",
            z_b.as_bytes().len(),
            hashed(z_b.as_bytes())
        ),
        "the same number; finding a from A now takes about 2^112 operations",
    );
    let (key_a, key_b) = (
        derive_key_from_secret(z_a.as_bytes()),
        derive_key_from_secret(z_b.as_bytes()),
    );
    let info = String::from_utf8_lossy(HKDF_INFO);
    steps.step(
        "key at A",
        &format!(
            "HKDF-SHA256(Z, info \"{info}\"), {}",
            hashed(key_a.as_bytes())
        ),
        "the original's last step: Z has structure, HKDF turns it into 32 uniform bytes",
    );
    steps.step(
        "key at B",
        &format!("the same, {}", hashed(key_b.as_bytes())),
        "both sides hold one AES-256 key that never crossed the wire",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_at_80_columns_with_the_indent_kept() {
        let mut steps = Steps::default();
        let why = "word ".repeat(40);
        steps.step("name", "value", why.trim_end());
        let text = steps.text();
        assert!(text.lines().count() > 3, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(
            text.lines().skip(1).all(|l| l.starts_with("      ")),
            "{text}"
        );
    }

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
