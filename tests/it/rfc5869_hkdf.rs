//! Test vectors from RFC 5869 appendix A (HKDF-SHA256, test cases 1 to 3),
//! run through secure-kms's own HKDF wrapper, and the session's key
//! derivation checked against the same construction.

use hex_literal::hex;
use secure_kms::crypto::kdf::{hkdf_sha256, hkdf_sha256_expand};
use secure_kms::exchange::derive_key_from_secret;

struct TestVector {
    case: &'static str,
    ikm: &'static [u8],
    salt: Option<&'static [u8]>,
    info: &'static [u8],
    okm: &'static [u8],
}

const A1_A3_IKM: [u8; 22] = [0x0b; 22];

const A2_IKM: [u8; 80] = hex!(
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f"
);
const A2_SALT: [u8; 80] = hex!(
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
);
const A2_INFO: [u8; 80] = hex!(
    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
    "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
);

const VECTORS: &[TestVector] = &[
    TestVector {
        case: "A.1 basic",
        ikm: &A1_A3_IKM,
        salt: Some(&hex!("000102030405060708090a0b0c")),
        info: &hex!("f0f1f2f3f4f5f6f7f8f9"),
        okm: &hex!(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865"
        ),
    },
    TestVector {
        case: "A.2 longer inputs and outputs",
        ikm: &A2_IKM,
        salt: Some(&A2_SALT),
        info: &A2_INFO,
        okm: &hex!(
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87"
        ),
    },
    TestVector {
        case: "A.3 zero-length salt and info",
        ikm: &A1_A3_IKM,
        salt: None,
        info: b"",
        okm: &hex!(
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8"
        ),
    },
];

#[test]
fn rfc5869_appendix_a_vectors() {
    for v in VECTORS {
        let mut okm = vec![0u8; v.okm.len()];
        hkdf_sha256(v.salt, v.ikm, v.info, &mut okm).unwrap();
        assert_eq!(okm, v.okm, "RFC 5869 {}", v.case);
    }
}

#[test]
fn an_empty_salt_equals_no_salt() {
    // RFC 5869 section 2.2: a missing salt is HashLen zero bytes.
    let (mut a, mut b) = ([0u8; 42], [0u8; 42]);
    hkdf_sha256(None, &A1_A3_IKM, b"", &mut a).unwrap();
    hkdf_sha256(Some(&[0u8; 32]), &A1_A3_IKM, b"", &mut b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn rfc5869_a1_expand_only_from_the_published_prk() {
    // RFC 5869 A.1 gives PRK as well as OKM: HKDF-Expand alone must map one
    // to the other.
    let prk = hex!("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    let mut okm = [0u8; 42];
    hkdf_sha256_expand(&prk, &hex!("f0f1f2f3f4f5f6f7f8f9"), &mut okm).unwrap();
    assert_eq!(okm, VECTORS[0].okm);
    assert!(
        hkdf_sha256_expand(&prk[..31], b"", &mut okm).is_err(),
        "a short PRK was accepted"
    );
}

#[test]
fn session_key_matches_openssl_hkdf_with_no_salt_and_info_key_exchange() {
    // Made with OpenSSL 3.0: openssl kdf -keylen 32 -kdfopt digest:SHA256
    //   -kdfopt hexkey:5a5a...5a (256 bytes) -kdfopt info:"key exchange" HKDF
    let expected = hex!("84544f08b14c5888ed7195d5da53f716a3c142fb0296a2f128a70d81e62454cb");
    assert_eq!(derive_key_from_secret(&[0x5a; 256]).as_bytes(), &expected);
}

#[test]
fn overlong_output_is_an_error_not_a_panic() {
    let mut out = vec![0u8; 255 * 32 + 1];
    assert!(hkdf_sha256(None, b"ikm", b"", &mut out).is_err());
}
