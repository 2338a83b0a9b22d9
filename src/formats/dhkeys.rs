//! Exchange keys in the formats OpenSSL 3 uses, so that our key agreement
//! can be checked against `openssl pkeyutl -derive`.
//!
//! - **X25519** (RFC 8410): a private key is PKCS#8 with the OID 1.3.101.110
//!   and the 32 bytes in an OCTET STRING; a public key is a
//!   SubjectPublicKeyInfo with the 32 bytes as its BIT STRING.
//! - **ffdhe2048** (PKCS #3, as `openssl genpkey -algorithm DH -pkeyopt
//!   group:ffdhe2048` writes it): the OID dhKeyAgreement
//!   (1.2.840.113549.1.3.1) with the parameters `SEQUENCE { p, g }`; the
//!   private key is `INTEGER x` in the OCTET STRING, the public key
//!   `INTEGER y` in the BIT STRING.
//!
//! The DER here is built and read by a few lines of code of its own: the
//! structures are fixed, and reading checks each tag and length strictly.

use pkcs8::LineEnding;
use zeroize::Zeroizing;

use crate::crypto::dh::{DhParameters, GROUP_BYTES, MAX_BITS};
use crate::formats::agreement::{EphemeralKey, Group};
use crate::{CryptoError, Error, Result};

const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_DH: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x03, 0x01];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// An unsigned big-endian number as a DER INTEGER.
fn integer(be: &[u8]) -> Vec<u8> {
    let start = be
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(be.len().saturating_sub(1));
    let mut content = Vec::with_capacity(be.len() + 1);
    if be[start] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&be[start..]);
    tlv(INTEGER, &content)
}

fn algorithm(group: Group) -> Vec<u8> {
    match group {
        Group::X25519 => tlv(SEQUENCE, &tlv(OID, OID_X25519)),
        Group::Ffdhe2048 => {
            let params = DhParameters::ffdhe2048();
            let mut p_g = integer(&params.p_bytes());
            p_g.extend(integer(&params.g_bytes()));
            let mut content = tlv(OID, OID_DH);
            content.extend(tlv(SEQUENCE, &p_g));
            tlv(SEQUENCE, &content)
        }
    }
}

fn malformed(why: &str) -> Error {
    Error::Crypto(CryptoError::MalformedKey(format!(
        "not an exchange key OpenSSL writes: {why}"
    )))
}

/// Reads one TLV with the expected tag: its content and what follows.
fn read(bytes: &[u8], tag: u8) -> Result<(&[u8], &[u8])> {
    let (&t, rest) = bytes
        .split_first()
        .ok_or_else(|| malformed("it ends early"))?;
    if t != tag {
        return Err(malformed("an unexpected DER tag"));
    }
    let (&first, rest) = rest
        .split_first()
        .ok_or_else(|| malformed("it ends early"))?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(malformed("a bad DER length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(malformed("it ends early"));
    }
    Ok(rest.split_at(len))
}

/// The content of a DER INTEGER as an unsigned number, left-padded to
/// `width` bytes.
fn read_uint(bytes: &[u8], width: usize) -> Result<(Zeroizing<Vec<u8>>, &[u8])> {
    let (content, rest) = read(bytes, INTEGER)?;
    let digits = match content {
        [0, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    if digits.is_empty() || digits.len() > width || digits[0] & 0x80 != 0 && content[0] != 0 {
        return Err(malformed("an integer out of range"));
    }
    let mut out = Zeroizing::new(vec![0u8; width]);
    out[width - digits.len()..].copy_from_slice(digits);
    Ok((out, rest))
}

/// Which group an AlgorithmIdentifier names, checking ffdhe2048's p and g.
fn read_algorithm(bytes: &[u8]) -> Result<(Group, &[u8])> {
    let (alg, rest) = read(bytes, SEQUENCE)?;
    let (oid, params) = read(alg, OID)?;
    if oid == OID_X25519 {
        if !params.is_empty() {
            return Err(malformed("X25519 takes no parameters"));
        }
        return Ok((Group::X25519, rest));
    }
    if oid != OID_DH {
        return Err(malformed("neither X25519 nor dhKeyAgreement"));
    }
    let (p_g, tail) = read(params, SEQUENCE)?;
    if !tail.is_empty() {
        return Err(malformed("trailing bytes after the parameters"));
    }
    let (p, after_p) = read_uint(p_g, GROUP_BYTES)?;
    let (g, after_g) = read_uint(after_p, GROUP_BYTES)?;
    let ffdhe = DhParameters::ffdhe2048();
    // Further fields (privateValueLength) are allowed; p and g must be
    // ffdhe2048's: other groups come through `--params`, checked there.
    let _ = after_g;
    if p.as_slice() != ffdhe.p_bytes() || g.as_slice() != ffdhe.g_bytes() {
        return Err(malformed("its p and g are not ffdhe2048's"));
    }
    Ok((Group::Ffdhe2048, rest))
}

fn pem(label: &str, der: &[u8]) -> Result<Zeroizing<String>> {
    pkcs8::der::pem::encode_string(label, LineEnding::LF, der)
        .map(Zeroizing::new)
        .map_err(|e| Error::Crypto(CryptoError::MalformedKey(e.to_string())))
}

fn unpem<'a>(text: &str, want: &str, buf: &'a mut Vec<u8>) -> Result<&'a [u8]> {
    let (label, der) = pkcs8::der::pem::decode_vec(text.as_bytes())
        .map_err(|e| malformed(&format!("not PEM: {e}")))?;
    if label != want {
        return Err(malformed(&format!("a {label}, not a {want}")));
    }
    *buf = der;
    Ok(buf)
}

impl EphemeralKey {
    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), as OpenSSL 3
    /// writes it. Unencrypted: for tests and demonstrations only.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] if PEM encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let secret = self.to_secret_bytes();
        let key = match self.group() {
            Group::X25519 => tlv(OCTET_STRING, &secret),
            Group::Ffdhe2048 => integer(&secret),
        };
        let mut content = tlv(INTEGER, &[0]);
        content.extend(algorithm(self.group()));
        content.extend(tlv(OCTET_STRING, &key));
        let der = Zeroizing::new(tlv(SEQUENCE, &content));
        pem("PRIVATE KEY", &der)
    }

    /// Reads a PKCS#8 PEM private key that OpenSSL 3 wrote for X25519 or
    /// ffdhe2048 (`openssl genpkey -algorithm X25519`, or `-algorithm DH
    /// -pkeyopt group:ffdhe2048`).
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] for anything else.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self> {
        let mut buf = Vec::new();
        let der = Zeroizing::new(unpem(text, "PRIVATE KEY", &mut buf)?.to_vec());
        buf.iter_mut().for_each(|b| *b = 0);
        let (info, tail) = read(&der, SEQUENCE)?;
        if !tail.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        let (version, rest) = read(info, INTEGER)?;
        if version != [0] {
            return Err(malformed("a PKCS#8 version other than 0"));
        }
        let (group, rest) = read_algorithm(rest)?;
        let (key, _attributes) = read(rest, OCTET_STRING)?;
        match group {
            Group::X25519 => {
                let (secret, tail) = read(key, OCTET_STRING)?;
                if !tail.is_empty() || secret.len() != 32 {
                    return Err(malformed("an X25519 private key is 32 bytes"));
                }
                EphemeralKey::from_secret_bytes(group, secret)
            }
            Group::Ffdhe2048 => {
                let (x, tail) = read_uint(key, GROUP_BYTES)?;
                if !tail.is_empty() {
                    return Err(malformed("trailing bytes after the exponent"));
                }
                EphemeralKey::from_secret_bytes(group, &x)
            }
        }
    }
}

/// A public value as a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
///
/// # Errors
/// [`CryptoError::MalformedKey`] for a value of the wrong length.
pub fn public_to_spki_pem(group: Group, public: &[u8]) -> Result<String> {
    let key = match group {
        Group::X25519 if public.len() == 32 => public.to_vec(),
        Group::Ffdhe2048 if public.len() == GROUP_BYTES => integer(public),
        _ => return Err(malformed("a public value of the wrong length")),
    };
    let mut bits = vec![0u8];
    bits.extend(key);
    let mut content = algorithm(group);
    content.extend(tlv(BIT_STRING, &bits));
    Ok(pem("PUBLIC KEY", &tlv(SEQUENCE, &content))?.to_string())
}

/// Reads a SubjectPublicKeyInfo PEM for X25519 or ffdhe2048: the group and
/// the public value as [`EphemeralKey::agree`] takes it (32 bytes, or 256
/// bytes big-endian). The value itself is checked by `agree`.
///
/// # Errors
/// [`CryptoError::MalformedKey`] for anything else.
pub fn public_from_spki_pem(text: &str) -> Result<(Group, Vec<u8>)> {
    let mut buf = Vec::new();
    let der = unpem(text, "PUBLIC KEY", &mut buf)?;
    let (spki, tail) = read(der, SEQUENCE)?;
    if !tail.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    let (group, rest) = read_algorithm(spki)?;
    let (bits, tail) = read(rest, BIT_STRING)?;
    let (unused, key) = bits
        .split_first()
        .ok_or_else(|| malformed("an empty BIT STRING"))?;
    if *unused != 0 || !tail.is_empty() {
        return Err(malformed("a BIT STRING with unused bits"));
    }
    match group {
        Group::X25519 if key.len() == 32 => Ok((group, key.to_vec())),
        Group::X25519 => Err(malformed("an X25519 public key is 32 bytes")),
        Group::Ffdhe2048 => {
            let (y, tail) = read_uint(key, GROUP_BYTES)?;
            if !tail.is_empty() {
                return Err(malformed("trailing bytes after the public value"));
            }
            Ok((group, y.to_vec()))
        }
    }
}

/// A group as `openssl dhparam` writes it: PEM `DH PARAMETERS`, the
/// PKCS #3 `SEQUENCE { p, g }`.
///
/// # Errors
/// [`CryptoError::MalformedKey`] if PEM encoding fails.
pub fn params_to_pem(params: &DhParameters) -> Result<String> {
    let mut p_g = integer(&params.p_bytes());
    p_g.extend(integer(&params.g_bytes()));
    Ok(pem("DH PARAMETERS", &tlv(SEQUENCE, &p_g))?.to_string())
}

/// Reads `DH PARAMETERS` PEM (as `openssl dhparam` writes it) and checks
/// the group ([`DhParameters::new`]): a safe prime of 2048 to 8192 bits and a
/// generator of the subgroup of order q.
///
/// # Errors
/// [`CryptoError::MalformedKey`] for a file that is not such PEM;
/// [`CryptoError::InvalidGroup`] for a group that fails a check.
pub fn params_from_pem(text: &str) -> Result<DhParameters> {
    let mut buf = Vec::new();
    let der = unpem(text, "DH PARAMETERS", &mut buf)?;
    let (p_g, tail) = read(der, SEQUENCE)?;
    if !tail.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    // Wide enough to see a p that is too large, and say so.
    let (p, rest) = read_uint(p_g, 2 * MAX_BITS as usize / 8)?;
    let (g, _private_value_length) = read_uint(rest, 2 * MAX_BITS as usize / 8)?;
    DhParameters::new(&p, &g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_in_both_groups() {
        for group in [Group::X25519, Group::Ffdhe2048] {
            let key = EphemeralKey::generate(group).unwrap();
            let back = EphemeralKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
            assert_eq!(back.public_bytes(), key.public_bytes(), "{group}");
            let pem = public_to_spki_pem(group, &key.public_bytes()).unwrap();
            assert_eq!(
                public_from_spki_pem(&pem).unwrap(),
                (group, key.public_bytes())
            );
        }
    }

    #[test]
    fn ffdhe2048_round_trips_as_dh_parameters() {
        let pem = params_to_pem(&DhParameters::ffdhe2048()).unwrap();
        assert!(pem.starts_with("-----BEGIN DH PARAMETERS-----\n"));
        let back = params_from_pem(&pem).unwrap();
        assert_eq!(back.p(), DhParameters::ffdhe2048().p());
    }

    #[test]
    fn broken_or_foreign_keys_are_refused() {
        let key = EphemeralKey::generate(Group::X25519).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let der = pkcs8::der::pem::decode_vec(pem.as_bytes()).unwrap().1;
        // Every truncation of the DER is refused, never a panic.
        for n in 0..der.len() {
            let cut =
                pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &der[..n]).unwrap();
            assert!(EphemeralKey::from_pkcs8_pem(&cut).is_err(), "cut at {n}");
        }
        let public = public_to_spki_pem(Group::X25519, &key.public_bytes()).unwrap();
        assert!(EphemeralKey::from_pkcs8_pem(&public).is_err());
        assert!(public_from_spki_pem(&pem).is_err());
        assert!(public_from_spki_pem("not pem").is_err());
        assert!(public_to_spki_pem(Group::Ffdhe2048, &[1u8; 32]).is_err());
    }
}
