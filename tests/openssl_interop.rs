//! RSA-PSS interop with the openssl CLI: a signature OpenSSL made (kept in
//! tests/data, see its README) verifies with our code, and signatures cross
//! between the two in both directions.

mod common;

use std::fs;

use common::openssl;
use secure_kms::pki::{
    generate_asymmetric_keys, public_key_from_pem, public_key_pem, sign_public_key,
    verify_signature,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn fixture(name: &str) -> Vec<u8> {
    fs::read(format!("{DATA}/{name}")).unwrap()
}

#[test]
fn a_signature_made_by_openssl_verifies() {
    let public_key =
        public_key_from_pem(&String::from_utf8(fixture("openssl_pss_public.pem")).unwrap())
            .unwrap();
    let message = fixture("openssl_pss_message.txt");
    let signature = fixture("openssl_pss_signature.bin");
    verify_signature(&public_key, &message, &signature).unwrap();

    let mut tampered = signature.clone();
    tampered[17] ^= 0x04;
    assert!(verify_signature(&public_key, &message, &tampered).is_err());
    let mut other_message = message.clone();
    other_message[0] ^= 0x20;
    assert!(verify_signature(&public_key, &other_message, &signature).is_err());
}

#[test]
fn signatures_cross_between_openssl_and_secure_kms() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("message"), b"ffdhe2048 public value").unwrap();
    let pss = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
    ];

    // OpenSSL signs, we verify.
    let gen_key = [
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "key.pem",
    ];
    assert!(openssl(&gen_key, d).status.success());
    assert!(
        openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"], d)
            .status
            .success()
    );
    let sign = [
        &["dgst", "-sha256"][..],
        &pss,
        &["-sign", "key.pem", "-out", "sig", "message"],
    ]
    .concat();
    assert!(openssl(&sign, d).status.success());
    let their_public =
        public_key_from_pem(&fs::read_to_string(d.join("pub.pem")).unwrap()).unwrap();
    verify_signature(
        &their_public,
        b"ffdhe2048 public value",
        &fs::read(d.join("sig")).unwrap(),
    )
    .unwrap();

    // We sign, OpenSSL verifies.
    let (private_key, public_key) = generate_asymmetric_keys().unwrap();
    fs::write(d.join("ours.pem"), public_key_pem(&public_key).unwrap()).unwrap();
    fs::write(
        d.join("our.sig"),
        sign_public_key(&private_key, b"ffdhe2048 public value").unwrap(),
    )
    .unwrap();
    let verify = [
        &["dgst", "-sha256"][..],
        &pss,
        &["-verify", "ours.pem", "-signature", "our.sig", "message"],
    ]
    .concat();
    let out = openssl(&verify, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");

    // And OpenSSL refuses our signature over other data.
    fs::write(d.join("message"), b"another value").unwrap();
    assert!(!openssl(&verify, d).status.success());
}
