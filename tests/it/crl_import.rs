//! `crl import`: the CRL of a root a store trusts, taken when it is
//! genuine, current and newer, and applied to the store's certificates;
//! tried against a CA run by `openssl ca`, as a class's could be.

use std::fs;
use std::path::Path;

use crate::util::{
    code, in_store, kms_command, openssl, openssl_ok as make, openssl_root, stderr, stdout,
    succeeded as ok,
};

/// Runs the binary on the student's store `s`, password in `pw`.
fn kms(dir: &Path, args: &[&str]) -> std::process::Output {
    in_store(dir, "s", "pw", args)
}

/// An `openssl ca` in `d/ca-NAME`, with its root `ca-NAME/root.pem`.
fn openssl_ca(d: &Path, name: &str) {
    let dir = d.join(format!("ca-{name}"));
    fs::create_dir(&dir).unwrap();
    fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = this\n[this]\ndir = .\ndatabase = index.txt\nserial = serial\n\
         crlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\npolicy = any\n\
         certificate = root.pem\nprivate_key = root.key\nnew_certs_dir = .\ndefault_days = 5\n\
         unique_subject = no\n[any]\ncommonName = supplied\n",
    )
    .unwrap();
    fs::write(dir.join("index.txt"), "").unwrap();
    fs::write(dir.join("serial"), "01\n").unwrap();
    fs::write(dir.join("crlnumber"), "1000\n").unwrap();
    openssl_root(&dir, "root.key", "root.pem", &format!("/CN={name} root"));
}

fn ca(d: &Path, name: &str, args: &[&str]) {
    let mut all = vec!["ca", "-config", "ca.cnf", "-batch"];
    all.extend_from_slice(args);
    make(&d.join(format!("ca-{name}")), &all);
}

/// alice's store, trusting the class CA, with a certificate from it.
fn class() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("pw"), "alice's password\n").unwrap();
    openssl_ca(d, "class");
    ok(&kms(d, &["keygen", "alice"]));
    ok(&kms(
        d,
        &["cert", "request", "alice", "-o", "ca-class/alice.csr"],
    ));
    ca(d, "class", &["-in", "alice.csr", "-out", "alice.crt"]);
    ok(&kms(d, &["ca", "trust", "ca-class/root.pem"]));
    ok(&kms(d, &["cert", "import", "alice", "ca-class/alice.crt"]));
    dir
}

#[test]
fn a_newer_crl_of_the_trusted_root_revokes_the_certificates_it_lists() {
    let dir = class();
    let d = dir.path();
    ca(d, "class", &["-gencrl", "-out", "crl1.pem"]);
    let first = ok(&kms(d, &["crl", "import", "ca-class/crl1.pem"]));
    assert!(
        first.contains("CRL number 4096 of CN=class root imported: 0 certificate(s)"),
        "{first}"
    );
    assert!(
        first.contains("none of them is a certificate of this store"),
        "{first}"
    );
    fs::write(d.join("essay.txt"), "hand-in\n").unwrap();
    ok(&kms(d, &["sign", "alice", "essay.txt"]));

    ca(
        d,
        "class",
        &["-revoke", "alice.crt", "-crl_reason", "keyCompromise"],
    );
    ca(d, "class", &["-gencrl", "-out", "crl2.pem"]);
    let second = ok(&kms(d, &["crl", "import", "ca-class/crl2.pem"]));
    assert!(
        second.contains(
            "revoked here: alice version 1 (reason: keyCompromise), refused for every use"
        ),
        "{second}"
    );
    // Revoked for every use, as a revocation made here is, and logged.
    let status: serde_json::Value =
        serde_json::from_slice(&kms(d, &["--json", "status", "alice"]).stdout).unwrap();
    assert_eq!(status["versions"][0]["state"], "compromised");
    let out = kms(d, &["sign", "alice", "essay.txt", "-o", "again.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let out = kms(d, &["verify", "alice", "essay.txt", "essay.txt.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let events: Vec<String> =
        serde_json::from_slice::<serde_json::Value>(&kms(d, &["--json", "audit"]).stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["event"].as_str().unwrap(),
                    e["command"].as_str().unwrap()
                )
            })
            .collect();
    assert_eq!(
        events[events.len() - 2..],
        ["crl_imported crl import", "revoked crl import"]
    );
    ok(&kms(d, &["audit", "--verify"]));

    // The older CRL is not taken back, nor put back in the file by hand.
    let out = kms(d, &["crl", "import", "ca-class/crl1.pem"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("an older CRL is not taken back"),
        "{}",
        stderr(&out)
    );
    fs::copy(d.join("ca-class/crl1.pem"), d.join("s/trusted_crls.pem")).unwrap();
    ca(d, "class", &["-gencrl", "-out", "crl3.pem"]);
    let out = kms(d, &["crl", "import", "ca-class/crl3.pem"]);
    assert_ne!(code(&out), Some(0));
    assert!(
        stderr(&out).contains("which audit.log does not record as imported"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_crl_that_is_not_genuine_current_or_from_a_trusted_root_is_refused() {
    let dir = class();
    let d = dir.path();
    // Another CA's CRL: its root is not trusted here.
    openssl_ca(d, "other");
    ca(d, "other", &["-gencrl", "-out", "crl.pem"]);
    // The class CRL with its signature's last byte changed.
    ca(d, "class", &["-gencrl", "-out", "crl.pem"]);
    let der = openssl(&["crl", "-in", "ca-class/crl.pem", "-outform", "DER"], d).stdout;
    let mut edited = der.clone();
    let last = edited.len() - 1;
    edited[last] ^= 0x01;
    fs::write(d.join("edited.der"), edited).unwrap();
    make(
        d,
        &[
            "crl",
            "-in",
            "edited.der",
            "-inform",
            "DER",
            "-out",
            "edited.pem",
        ],
    );
    // A class CRL due for replacement a second after it was made.
    ca(
        d,
        "class",
        &["-gencrl", "-crlsec", "1", "-out", "stale.pem"],
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let before = fs::read(d.join("s/audit.log")).unwrap();
    for (file, reason) in [
        (
            "ca-other/crl.pem",
            "(UnknownIssuer): it was issued by CN=other root",
        ),
        (
            "edited.pem",
            "(BadSignature): its signature does not verify with the key of CN=class root",
        ),
        (
            "ca-class/stale.pem",
            "(Expired): it was due to be replaced at",
        ),
    ] {
        let out = kms(d, &["crl", "import", file]);
        assert_eq!(code(&out), Some(3), "{file}: {}", stdout(&out));
        assert!(stderr(&out).contains(reason), "{file}: {}", stderr(&out));
    }
    assert_eq!(fs::read(d.join("s/audit.log")).unwrap(), before);
    assert!(!d.join("s/trusted_crls.pem").exists());
    // The genuine one is taken.
    ok(&kms(d, &["crl", "import", "ca-class/crl.pem"]));
}

/// The whole loop with secure-kms on both sides: the teacher's CA signs a
/// student's request, revokes the certificate later, and the student's
/// store learns it from the teacher's CRL; OpenSSL agrees at each step.
#[test]
fn the_teacher_revokes_a_students_certificate_and_the_students_store_learns_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("pw"), "alice's password\n").unwrap();
    fs::write(d.join("admin.pw"), "the teacher's password\n").unwrap();
    let teacher = |args: &[&str]| {
        kms_command(d)
            .args(["--store", "teacher", "--password-file", "admin.pw"])
            .args(args)
            .output()
            .unwrap()
    };
    ok(&teacher(&["ca", "init", "--bits", "2048"]));
    ok(&kms(d, &["keygen", "alice"]));
    ok(&kms(d, &["ca", "trust", "teacher/ca_root.pem"]));
    ok(&kms(d, &["cert", "request", "alice", "-o", "alice.csr"]));
    let signed: serde_json::Value = serde_json::from_str(&ok(&teacher(&[
        "--json",
        "cert",
        "sign",
        "alice.csr",
        "-o",
        "alice.crt",
    ])))
    .unwrap();
    let serial = signed["serial"].as_str().unwrap().to_owned();
    ok(&kms(d, &["cert", "import", "alice", "alice.crt"]));

    let said = ok(&teacher(&[
        "cert",
        "revoke",
        &serial,
        "--reason",
        "keyCompromise",
    ]));
    assert!(
        said.contains(&format!(
            "Certificate {serial} revoked; CRL number 1 signed"
        )),
        "{said}"
    );
    let checked = openssl(
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "teacher/ca_root.pem",
            "-CRLfile",
            "teacher/crl.pem",
            "alice.crt",
        ],
        d,
    );
    assert!(
        stdout(&checked).contains("certificate revoked")
            || stderr(&checked).contains("certificate revoked")
    );
    ok(&teacher(&["crl", "verify"]));
    ok(&teacher(&["audit", "--verify"]));
    // Revoked once; a serial this CA did not sign from a request is not
    // its to revoke; the next CRL keeps the entry.
    let again = teacher(&["cert", "revoke", &serial]);
    assert_eq!(code(&again), Some(1));
    assert!(
        stderr(&again).contains("was revoked already"),
        "{}",
        stderr(&again)
    );
    let unknown = teacher(&["cert", "revoke", "0abc"]);
    assert_eq!(code(&unknown), Some(1));
    assert!(
        stderr(&unknown).contains("signed no certificate with serial 0abc"),
        "{}",
        stderr(&unknown)
    );
    ok(&teacher(&["crl", "refresh"]));
    ok(&teacher(&["crl", "verify"]));

    let learned = ok(&kms(d, &["crl", "import", "teacher/crl.pem"]));
    assert!(
        learned.contains("revoked here: alice version 1 (reason: keyCompromise)"),
        "{learned}"
    );
    let out = kms(d, &["sign", "alice", "pw"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
}

/// `revoke --admin`: the teacher revokes a user of the CA's own store on
/// the CA's authority, without that user's password; the CRL is signed at
/// once and the log says it was the administrator.
#[test]
fn the_administrator_revokes_without_the_users_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("admin.pw"), "the teacher's password\n").unwrap();
    fs::write(d.join("tom.pw"), "tom's password\n").unwrap();
    fs::write(d.join("wrong.pw"), "a guess\n").unwrap();
    fs::write(d.join("pw"), "alice's password\n").unwrap();
    let run = |args: &[&str]| {
        kms_command(d)
            .args(["--store", "teacher"])
            .args(args)
            .output()
            .unwrap()
    };
    ok(&run(&[
        "--password-file",
        "admin.pw",
        "ca",
        "init",
        "--bits",
        "2048",
    ]));
    ok(&run(&[
        "--password-file",
        "tom.pw",
        "keygen",
        "tom",
        "--admin-password-file",
        "admin.pw",
    ]));
    ok(&run(&["cert", "export", "tom", "-o", "tom.crt"]));
    // A wrong administrator password revokes nothing.
    let out = run(&[
        "revoke",
        "tom",
        "--admin",
        "--admin-password-file",
        "wrong.pw",
    ]);
    assert_eq!(code(&out), Some(1));
    assert!(ok(&run(&["revoked"])).is_empty());
    // No user password is given at all: only the administrator's. With
    // --explain, as `revoke` without --admin: the entry and the CRL.
    let said = ok(&run(&[
        "--explain",
        "revoke",
        "tom",
        "--admin",
        "--admin-password-file",
        "admin.pw",
        "--reason",
        "privilegeWithdrawn",
    ]));
    assert!(
        said.contains("What the revocation wrote to revoked_keys.json"),
        "{said}"
    );
    assert!(
        said.contains(
            "Key revoked for tom: version 1 is now deactivated (revoked: privilegeWithdrawn)"
        ),
        "{said}"
    );
    assert!(
        said.contains("CRL number 1 signed: 1 revoked certificate(s)"),
        "{said}"
    );
    let checked = openssl(
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "teacher/ca_root.pem",
            "-CRLfile",
            "teacher/crl.pem",
            "tom.crt",
        ],
        d,
    );
    assert!(
        stdout(&checked).contains("certificate revoked")
            || stderr(&checked).contains("certificate revoked")
    );
    let audit: serde_json::Value = serde_json::from_str(&ok(&run(&["--json", "audit"]))).unwrap();
    let revoked = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "revoked")
        .unwrap();
    assert_eq!(revoked["command"], "revoke --admin");
    assert_eq!(revoked["user"], "tom");
    ok(&run(&["audit", "--verify"]));
    ok(&run(&["crl", "verify"]));

    // Without a CA, only the owner revokes.
    ok(&kms(d, &["keygen", "alice"]));
    let out = kms(
        d,
        &[
            "revoke",
            "alice",
            "--admin",
            "--admin-password-file",
            "admin.pw",
        ],
    );
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("no certificate authority"),
        "{}",
        stderr(&out)
    );
}

/// The CRL is checked at every use, not only when it is imported: a
/// certificate taken out of key_store.json while the CRL was imported,
/// then put back, is refused; and one the CRL lists cannot be imported
/// after it.
#[test]
fn a_revoked_certificate_cannot_come_back_by_hiding_it_during_the_import() {
    let dir = class();
    let d = dir.path();
    ca(
        d,
        "class",
        &["-revoke", "alice.crt", "-crl_reason", "keyCompromise"],
    );
    ca(d, "class", &["-gencrl", "-out", "crl.pem"]);
    let path = d.join("s/key_store.json");
    let with = fs::read_to_string(&path).unwrap();
    let mut without: serde_json::Value = serde_json::from_str(&with).unwrap();
    without["alice"]["key_pair"]
        .as_object_mut()
        .unwrap()
        .remove("certificate");
    fs::write(&path, serde_json::to_string_pretty(&without).unwrap()).unwrap();
    let said = ok(&kms(d, &["crl", "import", "ca-class/crl.pem"]));
    assert!(
        said.contains("none of them is a certificate of this store"),
        "{said}"
    );
    fs::write(&path, &with).unwrap();
    fs::write(d.join("essay.txt"), "hand-in\n").unwrap();
    let out = kms(d, &["sign", "alice", "essay.txt"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("its certificate is on the CRL of CN=class root imported here"),
        "{}",
        stderr(&out)
    );

    // bob's certificate, revoked before he imports it.
    ok(&kms(d, &["keygen", "bob"]));
    ok(&kms(
        d,
        &["cert", "request", "bob", "-o", "ca-class/bob.csr"],
    ));
    ca(d, "class", &["-in", "bob.csr", "-out", "bob.crt"]);
    ca(
        d,
        "class",
        &["-revoke", "bob.crt", "-crl_reason", "affiliationChanged"],
    );
    ca(d, "class", &["-gencrl", "-out", "crl2.pem"]);
    ok(&kms(d, &["crl", "import", "ca-class/crl2.pem"]));
    let out = kms(d, &["cert", "import", "bob", "ca-class/bob.crt"]);
    assert_eq!(code(&out), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("(Revoked): the CRL of its root imported here revoked it"),
        "{}",
        stderr(&out)
    );
}

/// A trusted root removed from trusted_roots.pem by hand, or untrusted,
/// leaves the certificates it signed with nothing to check them against:
/// they are refused, not waved through.
#[test]
fn certificates_whose_root_is_gone_are_refused() {
    let dir = class();
    let d = dir.path();
    fs::write(d.join("essay.txt"), "hand-in\n").unwrap();
    ok(&kms(d, &["sign", "alice", "essay.txt"]));
    let roots = d.join("s/trusted_roots.pem");
    let saved = fs::read(&roots).unwrap();
    fs::remove_file(&roots).unwrap();
    let out = kms(d, &["sign", "alice", "essay.txt", "-o", "two.sig"]);
    assert_ne!(code(&out), Some(0));
    assert!(
        stderr(&out).contains("it was removed by hand"),
        "{}",
        stderr(&out)
    );
    fs::write(&roots, &saved).unwrap();
    let fingerprint =
        serde_json::from_slice::<serde_json::Value>(&kms(d, &["--json", "ca", "trusted"]).stdout)
            .unwrap()[0]["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned();
    ok(&kms(d, &["ca", "untrust", &fingerprint]));
    let out = kms(d, &["sign", "alice", "essay.txt", "-o", "three.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("which is not a root this store trusts"),
        "{}",
        stderr(&out)
    );
}

/// Every `ca init` root has the same subject: two teachers' roots trusted
/// in one store are told apart by their keys.
#[test]
fn two_roots_with_one_name_are_told_apart_by_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("pw"), "alice's password\n").unwrap();
    fs::write(d.join("admin.pw"), "the teachers' password\n").unwrap();
    let teacher = |name: &str, args: &[&str]| {
        kms_command(d)
            .args(["--store", name, "--password-file", "admin.pw"])
            .args(args)
            .output()
            .unwrap()
    };
    for name in ["first", "second"] {
        ok(&teacher(name, &["ca", "init", "--bits", "2048"]));
        ok(&kms(d, &["ca", "trust", &format!("{name}/ca_root.pem")]));
    }
    ok(&kms(d, &["keygen", "alice"]));
    ok(&kms(d, &["cert", "request", "alice", "-o", "alice.csr"]));
    // The second root (the one found second by name) signs it.
    ok(&teacher(
        "second",
        &["cert", "sign", "alice.csr", "-o", "alice.crt"],
    ));
    ok(&kms(d, &["cert", "import", "alice", "alice.crt"]));
    fs::write(d.join("essay.txt"), "hand-in\n").unwrap();
    ok(&kms(d, &["sign", "alice", "essay.txt"]));
    // Both CRLs are taken, each checked with its own root's key, and the
    // second one's revokes the certificate the second root signed.
    ok(&teacher("first", &["crl", "refresh"]));
    ok(&kms(d, &["crl", "import", "first/crl.pem"]));
    let serial = stdout(&openssl(
        &["x509", "-in", "alice.crt", "-noout", "-serial"],
        d,
    ))
    .trim()
    .trim_start_matches("serial=")
    .to_lowercase();
    ok(&teacher(
        "second",
        &["cert", "revoke", &serial, "--reason", "keyCompromise"],
    ));
    let said = ok(&kms(d, &["crl", "import", "second/crl.pem"]));
    assert!(
        said.contains("revoked here: alice version 1 (reason: keyCompromise)"),
        "{said}"
    );
    let out = kms(d, &["sign", "alice", "essay.txt", "-o", "again.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
}
