//! `cert request` and `cert sign`: a PKCS#10 request made in a student's
//! store, signed by the teacher's CA in another store, both read by
//! OpenSSL; and requests OpenSSL made, signed the same way.

use std::fs;

use crate::util::{
    code, in_store as kms, kms_command, openssl, openssl_ok as make, openssl_root, stderr, stdout,
    succeeded as ok,
};

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

/// The teacher's store, and alice's, which trusts the teacher's root.
fn class_that_trusts() -> tempfile::TempDir {
    let dir = class();
    let d = dir.path();
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["ca", "trust", "teacher/ca_root.pem"],
    ));
    dir
}

#[test]
fn a_certificate_from_a_trusted_root_is_imported_and_then_checked_on_every_use() {
    let dir = class_that_trusts();
    let d = dir.path();
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "request", "alice", "-o", "alice.csr"],
    ));
    ok(&kms(
        d,
        "teacher",
        "admin.pw",
        &["cert", "sign", "alice.csr", "-o", "alice.crt"],
    ));
    let out = kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "import", "alice", "alice.crt"],
    );
    ok(&out);
    assert!(
        stdout(&out).contains("issuer:  CN=secure-kms root CA,O=secure-kms"),
        "{}",
        stdout(&out)
    );
    // Kept with the pair: shown, exported as it came, logged.
    let shown = kms(d, "alice-store", "alice.pw", &["cert", "show", "alice"]);
    ok(&shown);
    let exported = kms(d, "alice-store", "alice.pw", &["cert", "export", "alice"]);
    assert_eq!(exported.stdout, fs::read(d.join("alice.crt")).unwrap());
    let log = fs::read_to_string(d.join("alice-store/audit.log")).unwrap();
    let line = log.lines().last().unwrap();
    assert!(
        line.contains("\"event\":\"certified\"") && line.contains("cert import"),
        "{line}"
    );
    fs::write(d.join("essay.txt"), "hand-in\n").unwrap();
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["sign", "alice", "essay.txt"],
    ));
    // Imported once: a second certificate for the pair is refused.
    let again = kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "import", "alice", "alice.crt"],
    );
    assert_eq!(code(&again), Some(1));
    assert!(
        stderr(&again).contains("has a certificate already"),
        "{}",
        stderr(&again)
    );

    // Untrusting the root makes the stored certificate one no trusted
    // root signed: the key is not used until that is put right.
    let fingerprint = serde_json::from_slice::<serde_json::Value>(
        &kms(d, "alice-store", "alice.pw", &["--json", "ca", "trusted"]).stdout,
    )
    .unwrap()[0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    openssl_root(d, "x.key", "other-root.pem", "/CN=Another root");
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["ca", "trust", "other-root.pem"],
    ));
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["ca", "untrust", &fingerprint],
    ));
    let out = kms(
        d,
        "alice-store",
        "alice.pw",
        &["sign", "alice", "essay.txt", "-o", "again.sig"],
    );
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("which is not a root this store trusts"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn certificates_openssl_signed_are_imported_and_wrong_ones_refused_with_rustls_names() {
    let dir = class();
    let d = dir.path();
    // A class root made by OpenSSL, trusted by alice's store.
    openssl_root(d, "root.key", "root.pem", "/CN=Class root");
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["ca", "trust", "root.pem"],
    ));
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "request", "alice", "-o", "alice.csr"],
    ));
    let sign = |csr: &str, out: &str, extra: &[&str]| {
        let mut args = vec![
            "x509", "-req", "-in", csr, "-CA", "root.pem", "-CAkey", "root.key", "-out", out,
        ];
        args.extend_from_slice(extra);
        make(d, &args);
    };
    // Refused, each with rustls's name for it, and nothing kept.
    // Another key under alice's name:
    make(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "m.key",
            "-out",
            "mallory.csr",
            "-subj",
            "/CN=alice",
        ],
    );
    sign("mallory.csr", "mallory.crt", &["-days", "5"]);
    // Alice's key under another name, from her own request edited by the
    // CA: bob's subject.
    sign("alice.csr", "bob.crt", &["-days", "5", "-subj", "/CN=bob"]);
    // Alice's key, but a CA's certificate:
    fs::write(d.join("ca.ext"), "basicConstraints=critical,CA:TRUE\n").unwrap();
    sign(
        "alice.csr",
        "as-ca.crt",
        &["-days", "5", "-extfile", "ca.ext"],
    );
    // Alice's key, valid for no time at all:
    sign("alice.csr", "expired.crt", &["-days", "0"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Alice's key, signed by a root alice's store does not trust:
    let teacher_signed = kms(
        d,
        "teacher",
        "admin.pw",
        &["cert", "sign", "alice.csr", "-o", "teacher.crt"],
    );
    ok(&teacher_signed);
    for (file, reason) in [
        ("mallory.crt", "(InvalidPurpose): it certifies the key"),
        (
            "bob.crt",
            "(NotValidForName): it was issued to CN=bob, not to alice",
        ),
        ("as-ca.crt", "(InvalidPurpose): it is a CA's certificate"),
        ("expired.crt", "(Expired): it expired at"),
        (
            "teacher.crt",
            "(UnknownIssuer): it was issued by CN=secure-kms root CA,O=secure-kms, which is not a root this store trusts",
        ),
    ] {
        let out = kms(
            d,
            "alice-store",
            "alice.pw",
            &["cert", "import", "alice", file],
        );
        assert_eq!(code(&out), Some(3), "{file}: {}", stdout(&out));
        assert!(stderr(&out).contains(reason), "{file}: {}", stderr(&out));
    }
    let shown = kms(d, "alice-store", "alice.pw", &["cert", "show", "alice"]);
    assert_eq!(code(&shown), Some(1), "{}", stdout(&shown));

    // The one OpenSSL signed properly is taken.
    sign("alice.csr", "alice.crt", &["-days", "5"]);
    ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "import", "alice", "alice.crt"],
    ));
    // `cert show` says what it is: OpenSSL's x509 -req makes a v1
    // certificate, with no extensions.
    let shown = ok(&kms(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "show", "alice"],
    ));
    assert!(
        shown.contains("X.509 v1, sha256WithRSAEncryption; no extensions"),
        "{shown}"
    );

    // A store with a CA of its own certifies its users itself.
    ok(&kms(d, "teacher", "admin.pw", &["keygen", "tom"]));
    let out = kms(
        d,
        "teacher",
        "admin.pw",
        &["cert", "import", "tom", "alice.crt"],
    );
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("has a CA of its own"),
        "{}",
        stderr(&out)
    );
}
