//! Test vectors from "The Galois/Counter Mode of Operation (GCM)", McGrew and
//! Viega, revised 2005, appendix B, test cases 13 to 16 (the AES-256 cases
//! with 96-bit IVs), run through secure-kms's own wrapping functions; and the
//! tamper test every authenticated operation gets.

use hex_literal::hex;
use secure_kms::crypto::wrap::{open, seal};
use secure_kms::{CryptoError, Error};

struct TestVector {
    case: u8,
    key: [u8; 32],
    iv: [u8; 12],
    plaintext: &'static [u8],
    aad: &'static [u8],
    ciphertext: &'static [u8],
    tag: [u8; 16],
}

const K15: [u8; 32] = hex!("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
const IV15: [u8; 12] = hex!("cafebabefacedbaddecaf888");
const P15: [u8; 64] = hex!(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
);
const C15: [u8; 64] = hex!(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
);

const VECTORS: &[TestVector] = &[
    TestVector {
        case: 13,
        key: [0; 32],
        iv: [0; 12],
        plaintext: b"",
        aad: b"",
        ciphertext: b"",
        tag: hex!("530f8afbc74536b9a963b4f1c4cb738b"),
    },
    TestVector {
        case: 14,
        key: [0; 32],
        iv: [0; 12],
        plaintext: &[0; 16],
        aad: b"",
        ciphertext: &hex!("cea7403d4d606b6e074ec5d3baf39d18"),
        tag: hex!("d0d1c8a799996bf0265b98b5d48ab919"),
    },
    TestVector {
        case: 15,
        key: K15,
        iv: IV15,
        plaintext: &P15,
        aad: b"",
        ciphertext: &C15,
        tag: hex!("b094dac5d93471bdec1a502270e3cc6c"),
    },
    TestVector {
        case: 16,
        key: K15,
        iv: IV15,
        // Test case 16 is test case 15 cut to 60 bytes, with 20 bytes of AAD.
        plaintext: P15.split_at(60).0,
        aad: &hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
        ciphertext: C15.split_at(60).0,
        tag: hex!("76fc6ece0f4e1768cddf8853bb2d551b"),
    },
];

fn expected_output(v: &TestVector) -> Vec<u8> {
    [v.ciphertext, &v.tag].concat()
}

#[test]
fn seal_matches_gcm_spec_test_cases_13_to_16() {
    for v in VECTORS {
        assert_eq!(
            seal(&v.key, &v.iv, v.aad, v.plaintext),
            expected_output(v),
            "test case {}",
            v.case
        );
    }
}

#[test]
fn open_matches_gcm_spec_test_cases_13_to_16() {
    for v in VECTORS {
        let plain = open(&v.key, &v.iv, v.aad, &expected_output(v)).unwrap();
        assert_eq!(&plain[..], v.plaintext, "test case {}", v.case);
    }
}

#[test]
fn modified_ciphertext_tag_or_aad_is_refused() {
    // aes-gcm's decrypt_modified, applied to every byte of test case 16.
    let v = &VECTORS[3];
    let good = expected_output(v);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        assert!(
            matches!(
                open(&v.key, &v.iv, v.aad, &bad),
                Err(Error::Crypto(CryptoError::Decryption))
            ),
            "flipped byte {i} was accepted"
        );
    }
    let mut aad = v.aad.to_vec();
    aad[0] ^= 0x01;
    assert!(open(&v.key, &v.iv, &aad, &good).is_err());
    assert!(open(&v.key, &v.iv, v.aad, &good[..good.len() - 1]).is_err());
}
