//! `cert request` and `cert sign`: a PKCS#10 request made in a student's
//! store, signed by the teacher's CA in another store, both read by
//! OpenSSL; and requests OpenSSL made, signed the same way.

use std::fs;
use std::path::Path;

use crate::util::{code, kms_command, openssl, stderr, stdout};

/// Runs the binary on the store `name` under `dir` with `password_file`.
fn kms(dir: &Path, name: &str, password_file: &str, args: &[&str]) -> std::process::Output {
    kms_command(dir)
        .args(["--store", name, "--password-file", password_file])
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) {
    assert_eq!(code(out), Some(0), "{}", stderr(out));
}

/// A teacher's store with a CA, and alice's store with her keys.
fn class() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("admin.pw"), "the teacher's password\n").unwrap();
    fs::write(d.join("alice.pw"), "alice's password\n").unwrap();
    fs::write(d.join("wrong.pw"), "not it\n").unwrap();
    ok(&kms(
        d,
        "teacher",
        "admin.pw",
        &["ca", "init", "--bits", "2048"],
    ));
    ok(&kms(d, "alice-store", "alice.pw", &["keygen", "alice"]));
    dir
}

fn make(d: &Path, args: &[&str]) {
    let out = openssl(args, d);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

#[test]
fn a_request_from_one_store_is_signed_by_another_stores_ca_and_openssl_agrees() {
    let dir = class();
    let d = dir.path();
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "request", "alice", "-o", "alice.csr"],
    ));
    // OpenSSL checks the request's self-signature: proof of possession.
    let checked = openssl(
        &["req", "-in", "alice.csr", "-verify", "-noout", "-subject"],
        d,
    );
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(
        stdout(&checked).contains("CN = alice"),
        "{}",
        stdout(&checked)
    );

    let out = kms_command(d)
        .args([
            "--store",
            "teacher",
            "--password-file",
            "admin.pw",
            "--json",
        ])
        .args([
            "cert",
            "sign",
            "alice.csr",
            "-o",
            "alice.crt",
            "--days",
            "90",
        ])
        .output()
        .unwrap();
    ok(&out);
    let signed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(signed["user"], "alice");
    // The certificate holds alice's key, as her store names it.
    let status: serde_json::Value = serde_json::from_slice(
        &kms(d, "alice-store", "alice.pw", &["--json", "status", "alice"]).stdout,
    )
    .unwrap();
    assert_eq!(
        signed["public_key_fingerprint"],
        status["versions"][0]["public_key_fingerprint"]
    );
    let verified = openssl(
        &["verify", "-CAfile", "teacher/ca_root.pem", "alice.crt"],
        d,
    );
    assert!(
        stdout(&verified).contains("alice.crt: OK"),
        "{}",
        stderr(&verified)
    );
    let text = stdout(&openssl(
        &["x509", "-in", "alice.crt", "-noout", "-text"],
        d,
    ));
    assert!(
        text.contains("Subject: CN = alice") && text.contains("CA:FALSE"),
        "{text}"
    );
    let days = stdout(&openssl(
        &[
            "x509",
            "-in",
            "alice.crt",
            "-noout",
            "-checkend",
            &(89 * 86_400).to_string(),
        ],
        d,
    ));
    assert!(days.contains("will not expire"), "{days}");

    // The teacher's log records it, with the key ID.
    let log = fs::read_to_string(d.join("teacher/audit.log")).unwrap();
    let line = log.lines().last().unwrap();
    assert!(line.contains("\"event\":\"cert_signed\""), "{line}");
    assert!(
        line.contains(signed["public_key_fingerprint"].as_str().unwrap()),
        "{line}"
    );
    assert!(
        kms(d, "teacher", "admin.pw", &["audit", "--verify"])
            .status
            .success()
    );
}

#[test]
fn a_request_openssl_made_is_signed_and_bad_ones_are_refused_before_the_password() {
    let dir = class();
    let d = dir.path();
    make(
        d,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "bob.key", "-out",
            "bob.csr", "-subj", "/CN=bob",
        ],
    );
    let out = kms(
        d,
        "teacher",
        "admin.pw",
        &["cert", "sign", "bob.csr", "-o", "bob.crt"],
    );
    ok(&out);
    let verified = openssl(&["verify", "-CAfile", "teacher/ca_root.pem", "bob.crt"], d);
    assert!(
        stdout(&verified).contains("bob.crt: OK"),
        "{}",
        stderr(&verified)
    );

    make(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "o.key",
            "-out",
            "org.csr",
            "-subj",
            "/O=Evil/CN=carl",
        ],
    );
    make(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "s.key",
            "-out",
            "space.csr",
            "-subj",
            "/CN=not a user",
        ],
    );
    make(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ec.key",
            "-out",
            "ec.csr",
            "-subj",
            "/CN=erin",
        ],
    );
    make(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "small.key",
            "-out",
            "small.csr",
            "-subj",
            "/CN=frank",
        ],
    );
    // A request whose key is not the one that signed it: bob's request
    // with its signature's last byte changed.
    let der = openssl(&["req", "-in", "bob.csr", "-outform", "DER"], d).stdout;
    let mut edited = der.clone();
    let last = edited.len() - 1;
    edited[last] ^= 0x01;
    fs::write(d.join("edited.der"), edited).unwrap();
    make(
        d,
        &[
            "req",
            "-in",
            "edited.der",
            "-inform",
            "DER",
            "-out",
            "edited.csr",
        ],
    );
    let before = fs::read(d.join("teacher/audit.log")).unwrap();
    for (file, why) in [
        ("org.csr", "its subject is CN=carl,O=Evil"),
        ("space.csr", "its subject is CN=not a user"),
        ("ec.csr", "not signed sha256WithRSAEncryption"),
        ("small.csr", "its RSA key has 1024 bits"),
        ("edited.csr", "its signature does not verify"),
    ] {
        // The wrong password file: a refusal comes before it is read.
        let out = kms(d, "teacher", "wrong.pw", &["cert", "sign", file]);
        assert_eq!(code(&out), Some(1), "{file}");
        assert!(stderr(&out).contains(why), "{file}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("password"),
            "{file}: {}",
            stderr(&out)
        );
    }
    // A good request with a wrong administrator password signs nothing.
    let out = kms(d, "teacher", "wrong.pw", &["cert", "sign", "bob.csr"]);
    assert_eq!(code(&out), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(fs::read(d.join("teacher/audit.log")).unwrap(), before);
    // Nor does a store without a CA sign.
    let out = kms(d, "alice-store", "alice.pw", &["cert", "sign", "bob.csr"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("no certificate authority"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_request_needs_the_owners_password_and_an_active_key() {
    let dir = class();
    let d = dir.path();
    let out = kms(
        d,
        "alice-store",
        "wrong.pw",
        &["cert", "request", "alice", "-o", "a.csr"],
    );
    assert_eq!(code(&out), Some(1));
    assert!(!d.join("a.csr").exists());
    let log = fs::read_to_string(d.join("alice-store/audit.log")).unwrap();
    assert!(
        log.lines()
            .last()
            .unwrap()
            .contains("authentication_failed"),
        "{log}"
    );
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["revoke", "alice", "--reason", "keyCompromise"],
    ));
    let out = kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "request", "alice", "-o", "a.csr"],
    );
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(!d.join("a.csr").exists());
}
