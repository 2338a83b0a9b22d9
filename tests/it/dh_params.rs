//! Diffie-Hellman groups from files (`dh-params --check`, and the library's
//! `params_from_pem`): a group `openssl dhparam 2048` made is taken; a p
//! that is not prime, prime but not safe, or of 1024 bits, and a g outside
//! the subgroup of order q, are each refused, saying which. The fixtures
//! are described in tests/data/README.md.

use std::fs;

use crate::util::{code, kms_command, stderr, stdout};
use secure_kms::CryptoError;
use secure_kms::formats::dhkeys::{params_from_pem, params_to_pem};
use secure_kms::{Error, crypto::dh::DhParameters};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dh");

fn fixture(name: &str) -> String {
    fs::read_to_string(format!("{DATA}/{name}")).unwrap()
}

#[test]
fn a_group_made_by_openssl_dhparam_is_taken() {
    let params = params_from_pem(&fixture("pass_openssl_dhparam_2048.pem")).unwrap();
    assert_eq!(params.p().bit_width(), 2048);
    assert_ne!(params.p(), DhParameters::ffdhe2048().p());
    // Written back, it is the same file openssl wrote.
    assert_eq!(
        params_to_pem(&params).unwrap(),
        fixture("pass_openssl_dhparam_2048.pem")
    );
}

#[test]
fn unsafe_groups_are_refused_saying_why() {
    for (file, why) in [
        ("fail_p_not_prime.pem", "p is not prime"),
        (
            "fail_p_prime_but_not_safe.pem",
            "p is prime but not a safe prime",
        ),
        ("fail_p_of_1024_bits.pem", "p has 1024 bits; at least 2048"),
        (
            "fail_g_outside_the_subgroup.pem",
            "g does not generate the subgroup of order q",
        ),
    ] {
        let err = params_from_pem(&fixture(file)).unwrap_err();
        assert!(
            matches!(err, Error::Crypto(CryptoError::InvalidGroup(_))),
            "{file}: {err}"
        );
        assert!(err.to_string().contains(why), "{file}: {err}");
        // The command says the same, naming the file, with exit code 1.
        let dir = tempfile::tempdir().unwrap();
        let out = kms_command(dir.path())
            .args(["dh-params", "--check", &format!("{DATA}/{file}")])
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(1), "{file}");
        assert!(
            stderr(&out).contains(file) && stderr(&out).contains(why),
            "{}",
            stderr(&out)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let ok = kms_command(dir.path())
        .args([
            "dh-params",
            "--check",
            &format!("{DATA}/pass_openssl_dhparam_2048.pem"),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&ok), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("usable"));
}

#[test]
fn a_larger_group_is_taken_and_sizes_outside_2048_to_8192_bits_are_not() {
    let params = params_from_pem(&fixture("pass_rfc7919_ffdhe3072.pem")).unwrap();
    assert_eq!(params.bits(), 3072);
    assert_eq!(params.p_bytes().len(), 384);
    assert_eq!(
        params_to_pem(&params).unwrap(),
        fixture("pass_rfc7919_ffdhe3072.pem")
    );
    let dir = tempfile::tempdir().unwrap();
    let ok = kms_command(dir.path())
        .args([
            "dh-params",
            "--check",
            &format!("{DATA}/pass_rfc7919_ffdhe3072.pem"),
        ])
        .output()
        .unwrap();
    assert!(
        stdout(&ok).contains("a safe prime p of 3072 bits"),
        "{}",
        stderr(&ok)
    );
    // Generation refuses a size outside the range before any work.
    for (bits, why) in [("1024", "at least 2048"), ("9000", "at most 8192")] {
        let out = kms_command(dir.path())
            .args(["dh-params", "--generate", "--bits", bits])
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(1), "{bits}");
        assert!(stderr(&out).contains(why), "{bits}: {}", stderr(&out));
        assert!(!dir.path().join("key_store.json").exists());
    }
}
