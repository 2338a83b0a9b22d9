//! The ffdhe2048 group against RFC 7919 appendix A.1, and the validation of
//! peer public values (NIST SP 800-56A rev. 3 section 5.6.2.3.1).

use crate::util::openssl;
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{BoxedUint, Odd, U2048};
use secure_kms::crypto::dh::FFDHE2048_P_HEX;
use secure_kms::exchange::{DhPublicKey, generate_dh_parameters, generate_dh_private_key};
use secure_kms::{CryptoError, Error};

/// RFC 7919 appendix A.1, "ffdhe2048", p as printed in the RFC.
const RFC7919_A1_P: &str = "
    FFFFFFFF FFFFFFFF ADF85458 A2BB4A9A AFDC5620 273D3CF1
    D8B9C583 CE2D3695 A9E13641 146433FB CC939DCE 249B3EF9
    7D2FE363 630C75D8 F681B202 AEC4617A D3DF1ED5 D5FD6561
    2433F51F 5F066ED0 85636555 3DED1AF3 B557135E 7F57C935
    984F0C70 E0E68B77 E2A689DA F3EFE872 1DF158A1 36ADE735
    30ACCA4F 483A797A BC0AB182 B324FB61 D108A94B B2C8E3FB
    B96ADAB7 60D7F468 1D4F42A3 DE394DF4 AE56EDE7 6372BB19
    0B07A7C8 EE0A6D70 9E02FCE1 CDF7E2EC C03404CD 28342F61
    9172FE9C E98583FF 8E4F1232 EEF28183 C3FE3B1B 4C6FAD73
    3BB5FCBC 2EC22005 C58EF183 7D1683B2 C6F34A26 C1B2EFFA
    886B4238 61285C97 FFFFFFFF FFFFFFFF";

fn rfc_p() -> String {
    RFC7919_A1_P.split_whitespace().collect()
}

fn pow_mod(base: &U2048, exp: &U2048, modulus: &U2048) -> U2048 {
    let params = FixedMontyParams::new_vartime(Odd::new(*modulus).unwrap());
    FixedMontyForm::new(base, &params)
        .pow_vartime(exp)
        .retrieve()
}

/// A Fermat test to several bases: a mistyped digit in a 2048-bit prime
/// makes a composite that fails it with overwhelming probability.
fn probably_prime(n: &U2048) -> bool {
    let n_minus_1 = n.wrapping_sub(&U2048::ONE);
    [2u8, 3, 5, 7, 11, 13]
        .iter()
        .all(|&b| pow_mod(&U2048::from_u8(b), &n_minus_1, n) == U2048::ONE)
}

#[test]
fn p_is_the_rfc7919_prime() {
    assert_eq!(FFDHE2048_P_HEX, rfc_p());
    assert_eq!(
        uint(generate_dh_parameters().p()),
        U2048::from_be_hex(&rfc_p())
    );
}

#[test]
fn p_is_a_safe_prime_and_2_generates_the_order_q_subgroup() {
    let params = generate_dh_parameters();
    let (p, q) = (&uint(params.p()), &uint(params.q()));
    // RFC 7919: the top and bottom 64 bits of p are all ones.
    let bytes = p.to_be_bytes();
    assert!(bytes[..8].iter().chain(&bytes[248..]).all(|&b| b == 0xff));
    assert_eq!(p.bit_width(), 2048);
    assert_eq!(&q.shl_vartime(1).wrapping_add(&U2048::ONE), p);
    assert!(probably_prime(p), "p is composite");
    assert!(probably_prime(q), "q is composite");
    let g = uint(params.g());
    assert_eq!(g, U2048::from_u8(2));
    assert_eq!(pow_mod(&g, q, p), U2048::ONE);
}

#[test]
fn p_matches_openssl_builtin_ffdhe2048() {
    // The DH PARAMETERS PEM holds p and g explicitly (PKCS #3).
    let dir = tempfile::tempdir().unwrap();
    let genparam = [
        "genpkey",
        "-genparam",
        "-algorithm",
        "DH",
        "-pkeyopt",
        "group:ffdhe2048",
        "-out",
        "params.pem",
    ];
    let out = openssl(&genparam, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = openssl(&["asn1parse", "-in", "params.pem"], dir.path());
    let text = String::from_utf8(parsed.stdout).unwrap();
    let integers: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("INTEGER           :").nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(integers.first().copied(), Some(FFDHE2048_P_HEX), "{text}");
    assert_eq!(integers.get(1).copied(), Some("02"), "{text}");
}

/// The library's run-time-sized integer as this file's fixed 2048-bit one,
/// so the checks here do not share the library's arithmetic.
fn uint(x: &BoxedUint) -> U2048 {
    let bytes = x.to_be_bytes();
    assert_eq!(bytes.len(), 256);
    U2048::from_be_slice(&bytes)
}

fn be_bytes(x: &U2048) -> Vec<u8> {
    x.to_be_bytes().as_ref().to_vec()
}

#[test]
fn invalid_public_values_are_refused() {
    let params = generate_dh_parameters();
    let p = uint(params.p());
    let one = U2048::ONE;
    // p - 2 = -2 is a quadratic non-residue (p = 7 mod 8 makes 2 a residue
    // and -1 a non-residue), so it lies outside the order-q subgroup.
    let cases = [
        ("0", U2048::ZERO, "range"),
        ("1", one, "range"),
        ("p - 1", p.wrapping_sub(&one), "range"),
        ("p", p, "range"),
        ("p + 1", p.wrapping_add(&one), "range"),
        (
            "p - 2, outside the subgroup",
            p.wrapping_sub(&U2048::from_u8(2)),
            "subgroup",
        ),
    ];
    for (name, y, why) in cases {
        let err = DhPublicKey::from_bytes(&params, &be_bytes(&y)).unwrap_err();
        assert!(
            matches!(err, Error::Crypto(CryptoError::InvalidPublicKey(_))),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(why), "{name}: {err}");
    }
}

#[test]
fn an_element_of_order_2q_is_refused() {
    // A valid y times -1 has order 2q: in range, but not in the subgroup.
    let params = generate_dh_parameters();
    let p = uint(params.p());
    let y = uint(
        generate_dh_private_key(&params)
            .unwrap()
            .public_key()
            .as_uint(),
    );
    let minus_y = p.wrapping_sub(&y);
    let err = DhPublicKey::from_bytes(&params, &be_bytes(&minus_y)).unwrap_err();
    assert!(err.to_string().contains("subgroup"), "{err}");
}
