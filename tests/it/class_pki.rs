//! A class's PKI, played through the binary: a teacher's store with the
//! class CA and three students' stores of their own. Each student trusts
//! the class root (by its fingerprint), asks for a certificate, and keeps
//! it; two students run a key exchange between their stores; the teacher
//! revokes a third, everyone imports the new CRL, and the revoked
//! student's key is refused, in their own store and in an exchange, while
//! the others' work.

use std::fs;

use crate::util::{code, in_store as run, openssl, stderr, stdout, succeeded as ok};

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

    // ana and cleo exchange a key between their stores, through files.
    let exchange = |from: &str, to: &str, name: &str| -> (String, String) {
        let offer = format!("{name}-offer.json");
        let answer = format!("{name}-answer.json");
        ok(&run(
            d,
            &format!("{from}-store"),
            &format!("{from}.pw"),
            &["exchange", "offer", from, "--to", to, "-o", &offer],
        ));
        let accepted: serde_json::Value = serde_json::from_str(&ok(&run(
            d,
            &format!("{to}-store"),
            &format!("{to}.pw"),
            &["--json", "exchange", "accept", to, &offer, "-o", &answer],
        )))
        .unwrap();
        let finished: serde_json::Value = serde_json::from_str(&ok(&run(
            d,
            &format!("{from}-store"),
            &format!("{from}.pw"),
            &["--json", "exchange", "finish", from, &answer],
        )))
        .unwrap();
        (
            accepted["session_key_fingerprint"]
                .as_str()
                .unwrap()
                .to_owned(),
            finished["session_key_fingerprint"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let (cleo_key, ana_key) = exchange("ana", "cleo", "first");
    assert_eq!(cleo_key, ana_key);
    // ben makes an offer to ana before he is revoked.
    ok(&run(
        d,
        "ben-store",
        "ben.pw",
        &[
            "exchange",
            "offer",
            "ben",
            "--to",
            "ana",
            "-o",
            "ben-offer.json",
        ],
    ));

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
    // ben's offer, made before, is refused now by ana's store; ana and
    // cleo still exchange.
    let refused = run(
        d,
        "ana-store",
        "ana.pw",
        &[
            "exchange",
            "accept",
            "ana",
            "ben-offer.json",
            "-o",
            "x.json",
        ],
    );
    assert_eq!(code(&refused), Some(3), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("(Revoked)"),
        "{}",
        stderr(&refused)
    );
    let (cleo_key, ana_key) = exchange("cleo", "ana", "second");
    assert_eq!(cleo_key, ana_key);

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
