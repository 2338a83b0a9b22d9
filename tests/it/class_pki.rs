//! A class's PKI, played through the binary: a teacher's store with the
//! class CA and three students' stores of their own. Each student trusts
//! the class root (by its fingerprint), asks for a certificate, and keeps
//! it; the teacher revokes one student, the others import the new CRL,
//! and the revoked student's key is refused while the others' work.
//! (A key exchange between two students' stores is not yet possible: it
//! needs both users in one store.)

use std::fs;
use std::path::Path;

use crate::util::{code, kms_command, openssl, stderr, stdout};

fn run(d: &Path, store: &str, password: &str, args: &[&str]) -> std::process::Output {
    kms_command(d)
        .args(["--store", store, "--password-file", password])
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert_eq!(code(out), Some(0), "{}", stderr(out));
    stdout(out)
}

#[test]
fn a_teacher_and_three_students_each_with_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let students = ["ana", "ben", "cleo"];
    fs::write(d.join("teacher.pw"), "the teacher's password\n").unwrap();
    for s in students {
        fs::write(d.join(format!("{s}.pw")), format!("{s}'s password\n")).unwrap();
    }
    ok(&run(
        d,
        "teacher",
        "teacher.pw",
        &["ca", "init", "--bits", "2048"],
    ));
    // The fingerprint the teacher reads aloud.
    let aloud = stdout(&openssl(
        &[
            "x509",
            "-in",
            "teacher/ca_root.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        d,
    ));
    let aloud = aloud.trim().split_once('=').unwrap().1.to_owned();

    let mut serials = Vec::new();
    for s in students {
        let (store, pw) = (format!("{s}-store"), format!("{s}.pw"));
        ok(&run(d, &store, &pw, &["keygen", s]));
        let trusted = ok(&run(
            d,
            &store,
            &pw,
            &["ca", "trust", "teacher/ca_root.pem"],
        ));
        assert!(
            trusted.contains(&format!("SHA-256 fingerprint: {aloud}")),
            "{trusted}"
        );
        let csr = format!("{s}.csr");
        let crt = format!("{s}.crt");
        ok(&run(d, &store, &pw, &["cert", "request", s, "-o", &csr]));
        let signed: serde_json::Value = serde_json::from_str(&ok(&run(
            d,
            "teacher",
            "teacher.pw",
            &["--json", "cert", "sign", &csr, "-o", &crt],
        )))
        .unwrap();
        serials.push(signed["serial"].as_str().unwrap().to_owned());
        ok(&run(d, &store, &pw, &["cert", "import", s, &crt]));
        let checked = openssl(&["verify", "-CAfile", "teacher/ca_root.pem", &crt], d);
        assert!(stdout(&checked).contains(": OK"), "{}", stderr(&checked));
    }

    // The teacher revokes ben; the CRL goes round.
    let said = ok(&run(
        d,
        "teacher",
        "teacher.pw",
        &[
            "cert",
            "revoke",
            &serials[1],
            "--reason",
            "privilegeWithdrawn",
        ],
    ));
    assert!(
        said.contains("CRL number 1 signed: 1 revoked certificate(s)"),
        "{said}"
    );
    fs::write(d.join("note.txt"), "homework\n").unwrap();
    for s in students {
        let (store, pw) = (format!("{s}-store"), format!("{s}.pw"));
        let imported = ok(&run(d, &store, &pw, &["crl", "import", "teacher/crl.pem"]));
        let signed = run(
            d,
            &store,
            &pw,
            &["sign", s, "note.txt", "-o", &format!("{s}.sig")],
        );
        if s == "ben" {
            assert!(
                imported.contains("revoked here: ben version 1 (reason: privilegeWithdrawn)"),
                "{imported}"
            );
            assert_eq!(code(&signed), Some(3), "{}", stderr(&signed));
        } else {
            assert!(
                imported.contains("none of them is a certificate of this store"),
                "{imported}"
            );
            assert_eq!(code(&signed), Some(0), "{}", stderr(&signed));
        }
        ok(&run(d, &store, &pw, &["audit", "--verify"]));
    }
    // OpenSSL agrees, and the teacher's own records hold.
    let checked = openssl(
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "teacher/ca_root.pem",
            "-CRLfile",
            "teacher/crl.pem",
            "ben.crt",
        ],
        d,
    );
    assert!(
        stdout(&checked).contains("certificate revoked")
            || stderr(&checked).contains("certificate revoked")
    );
    ok(&run(d, "teacher", "teacher.pw", &["crl", "verify"]));
    ok(&run(d, "teacher", "teacher.pw", &["audit", "--verify"]));
}
