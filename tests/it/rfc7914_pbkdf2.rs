//! Test vectors from RFC 7914 section 11 (PBKDF2-HMAC-SHA256), run through
//! secure-kms's own PBKDF2 wrapper, and the password-key derivation built on
//! it.

use hex_literal::hex;
use secure_kms::crypto::kdf::{KdfName, KdfParams, Password, PasswordKey, pbkdf2_hmac_sha256};

struct TestVector {
    password: &'static [u8],
    salt: &'static [u8],
    iterations: u32,
    dk: [u8; 64],
}

const VECTORS: &[TestVector] = &[
    TestVector {
        password: b"passwd",
        salt: b"salt",
        iterations: 1,
        dk: hex!(
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        ),
    },
    TestVector {
        password: b"Password",
        salt: b"NaCl",
        iterations: 80_000,
        dk: hex!(
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
            "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        ),
    },
];

#[test]
fn rfc7914_section_11_vectors() {
    for v in VECTORS {
        let mut dk = [0u8; 64];
        pbkdf2_hmac_sha256(v.password, v.salt, v.iterations, &mut dk);
        assert_eq!(dk, v.dk, "c = {}", v.iterations);
    }
}

#[test]
fn password_key_is_pbkdf2_then_per_purpose_hkdf_expand() {
    // Made with OpenSSL 3.0, in two steps:
    //   openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:Password
    //     -kdfopt salt:0123456789abcdef -kdfopt iter:1000 PBKDF2
    //   openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:<the above>
    //     -kdfopt mode:EXPAND_ONLY -kdfopt info:"secure-kms v1 purpose" HKDF
    let params = KdfParams {
        salt: *b"0123456789abcdef",
        kdf: KdfName::Pbkdf2HmacSha256,
        iterations: 1_000,
    };
    let key = PasswordKey::derive(&Password::new("Password".to_owned()).unwrap(), &params);
    assert_eq!(
        *key.subkey("purpose"),
        hex!("382d6d15405fb44c16318c516a8c5b3ff9f94eb6241738b1b874b02c1fb5b344")
    );
    assert_ne!(*key.subkey("purpose"), *key.subkey("other"));
}
