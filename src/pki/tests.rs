//! Unit tests of `pki.rs`.

use super::*;
use crate::crypto::kdf::{KdfParams, MIN_ITERATIONS, Password};
use crate::crypto::spki::*;
use std::sync::OnceLock;

/// A public key PEM with modulus `n` and exponent `e` (big-endian),
/// built by hand, so that keys the `rsa` crate would not make can be.
fn pem_of(n: &[u8], e: &[u8]) -> String {
    use pkcs8::der::asn1::{BitStringRef, Null, UintRef};
    use pkcs8::der::{Encode, EncodePem};
    let rsa_key = rsa::pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).unwrap(),
        public_exponent: UintRef::new(e).unwrap(),
    }
    .to_der()
    .unwrap();
    let spki = pkcs8::SubjectPublicKeyInfo {
        algorithm: pkcs8::spki::AlgorithmIdentifier {
            oid: rsa::pkcs1::ALGORITHM_OID,
            parameters: Some(pkcs8::der::Any::from(Null)),
        },
        subject_public_key: BitStringRef::from_bytes(&rsa_key).unwrap(),
    };
    spki.to_pem(pkcs8::LineEnding::LF).unwrap()
}

/// The structural check takes exactly the keys the `rsa` crate builds:
/// moduli of 1,024 to 8,192 bits and exponents of 3 to 2^33 - 1, odd.
#[test]
fn the_structural_check_takes_what_the_rsa_crate_takes() {
    let odd_n = |bits: usize| {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc0;
        n
    };
    let cases: [(&str, Vec<u8>, Vec<u8>, bool); 7] = [
        (
            "a 2048-bit key, e = 65537",
            odd_n(2048),
            vec![1, 0, 1],
            true,
        ),
        ("a 1024-bit key", odd_n(1024), vec![3], true),
        ("an 8192-bit key", odd_n(8192), vec![1, 0, 1], true),
        ("a 1016-bit key", odd_n(1016), vec![1, 0, 1], false),
        ("an 8200-bit key", odd_n(8200), vec![1, 0, 1], false),
        ("e = 2^33 + 1", odd_n(2048), vec![2, 0, 0, 0, 1], false),
        ("e = 1", odd_n(2048), vec![1], false),
    ];
    for (name, n, e, taken) in cases {
        let pem = pem_of(&n, &e);
        assert_eq!(check_public_pem(&pem).is_ok(), taken, "{name}");
        assert_eq!(
            public_key_from_pem(&pem).is_ok(),
            taken,
            "{name}: the rsa crate"
        );
    }
    // And the fingerprint is the key's.
    let pem = public_key_pem(&keys().1).unwrap();
    assert_eq!(
        public_pem_fingerprint(&pem).unwrap(),
        public_key_fingerprint(&keys().1).unwrap()
    );
}

/// Key generation takes tens of milliseconds; share one pair.
fn keys() -> &'static (PrivateKey, PublicKey) {
    static KEYS: OnceLock<(PrivateKey, PublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| generate_asymmetric_keys().unwrap())
}

fn password_key(pw: &str, params: &KdfParams) -> PasswordKey {
    PasswordKey::derive(&Password::new(pw.to_owned()).unwrap(), params)
}

#[test]
fn generates_rsa_2048_with_e_65537() {
    use rsa::traits::PublicKeyParts;
    let (private_key, public_key) = keys();
    assert_eq!(public_key.n().bit_width(), 2048);
    assert_eq!(public_key.e(), &rsa::BoxedUint::from(65537u32));
    assert_eq!(&private_key.to_public_key(), public_key);
}

#[test]
fn private_key_round_trips_and_refuses_wrong_password_or_user() {
    let (private_key, _) = keys();
    let params = KdfParams::generate(MIN_ITERATIONS).unwrap();
    let alice = UserId::new("alice").unwrap();
    let enc = store_asymmetric_keys(
        &alice,
        1,
        private_key,
        &private_key.to_public_key(),
        Timestamp::from_secs(0.0),
        60,
        &password_key("right", &params),
    )
    .unwrap();
    assert_eq!(
        &decrypt_private_key(&enc, &password_key("right", &params), &alice).unwrap(),
        private_key
    );
    assert!(matches!(
        decrypt_private_key(&enc, &password_key("wrong", &params), &alice),
        Err(Error::Crypto(CryptoError::Decryption))
    ));
    let bob = UserId::new("bob").unwrap();
    assert!(matches!(
        decrypt_private_key(&enc, &password_key("right", &params), &bob),
        Err(Error::Crypto(CryptoError::Decryption))
    ));
}

#[test]
fn tampered_private_key_is_refused_with_the_same_error() {
    let (private_key, _) = keys();
    let params = KdfParams::generate(MIN_ITERATIONS).unwrap();
    let pk = password_key("pw", &params);
    let alice = UserId::new("alice").unwrap();
    let enc = store_asymmetric_keys(
        &alice,
        1,
        private_key,
        &private_key.to_public_key(),
        Timestamp::from_secs(0.0),
        60,
        &pk,
    )
    .unwrap();
    let len = enc.private.as_ref().unwrap().sealed.ciphertext.len();
    for i in [0, 1, len / 2, len - 1] {
        let mut bad = enc.clone();
        bad.private.as_mut().unwrap().sealed.ciphertext[i] ^= 0x01;
        let err = decrypt_private_key(&bad, &pk, &alice).unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::Crypto(CryptoError::Decryption).to_string(),
            "byte {i}"
        );
    }
    // The version and the public key are bound to the private key.
    let mut renumbered = enc.clone();
    renumbered.version = 2;
    let mut longer = enc.clone();
    longer.expiry += 1e6;
    let mut downgraded = enc.clone();
    downgraded.binding = 1;
    for edited in [renumbered, longer, downgraded] {
        assert!(matches!(
            decrypt_private_key(&edited, &pk, &alice),
            Err(Error::Crypto(CryptoError::Decryption))
        ));
    }
    let (other, _) = generate_asymmetric_keys().unwrap();
    let mut swapped = enc.clone();
    swapped.public = public_key_pem(&other.to_public_key()).unwrap();
    assert!(matches!(
        swapped.unlock(&alice, &pk),
        Err(Error::Crypto(CryptoError::Decryption))
    ));
    let mut destroyed = enc.clone();
    destroyed.private = None;
    assert!(matches!(
        destroyed.unlock(&alice, &pk),
        Err(Error::Key(KeyError::Destroyed { version: 1, .. }))
    ));
}

#[test]
fn signature_tamper_is_refused() {
    let (private_key, public_key) = keys();
    let sig = sign_public_key(private_key, b"value").unwrap();
    assert_eq!(sig.len(), 256);
    verify_signature(public_key, b"value", &sig).unwrap();
    for i in [0, 100, 255] {
        let mut bad = sig.clone();
        bad[i] ^= 0x01;
        assert!(matches!(
            verify_signature(public_key, b"value", &bad),
            Err(Error::Crypto(CryptoError::BadSignature))
        ));
    }
    assert!(verify_signature(public_key, b"valuf", &sig).is_err());
    assert!(verify_signature(public_key, b"value", &sig[..255]).is_err());
}

#[test]
fn public_pem_round_trips() {
    let (_, public_key) = keys();
    let pem = public_key_pem(public_key).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(&public_key_from_pem(&pem).unwrap(), public_key);
    assert!(
        public_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
}
