//! The store's certificate authority and the certificates it issues, read
//! back by the OpenSSL CLI (`openssl x509`, `openssl verify`) and checked
//! extension by extension.

use std::fs;

use crate::util::{Class, code, openssl, stderr, stdout};

/// A store with a CA (administrator password in `admin`) and alice.
fn class_with_ca() -> Class {
    let class = Class::new();
    fs::write(class.dir.path().join("admin"), "administrator password\n").unwrap();
    let out = class.run_with("admin", &["ca", "init"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    class.ok(&["keygen", "alice"]);
    class
}

fn text_of(class: &Class, cert: &str) -> String {
    let out = openssl(&["x509", "-in", cert, "-noout", "-text"], class.dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The lines after `heading` in `openssl x509 -text`'s output, up to the
/// next extension's heading.
fn extension(text: &str, heading: &str) -> String {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading} in {text}"));
    text[start..].lines().take(2).collect::<Vec<_>>().join("\n")
}

#[test]
fn openssl_reads_the_root_as_a_ten_year_v3_ca() {
    let class = class_with_ca();
    let root = class.store().join("ca_root.pem");
    let text = text_of(&class, root.to_str().unwrap());
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    assert!(text.contains("Public-Key: (3072 bit)"), "{text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"));
    assert!(text.contains("Issuer: O = secure-kms, CN = secure-kms root CA"));
    assert!(text.contains("Subject: O = secure-kms, CN = secure-kms root CA"));
    assert_eq!(
        extension(&text, "X509v3 Basic Constraints"),
        "X509v3 Basic Constraints: critical\n                CA:TRUE"
    );
    assert_eq!(
        extension(&text, "X509v3 Key Usage"),
        "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"
    );
    let ski = extension(&text, "X509v3 Subject Key Identifier");
    let aki = extension(&text, "X509v3 Authority Key Identifier");
    assert_eq!(ski.lines().nth(1), aki.lines().nth(1), "{text}");
    // Self-signed and valid: openssl verifies it against itself.
    let out = openssl(
        &[
            "verify",
            "-CAfile",
            root.to_str().unwrap(),
            root.to_str().unwrap(),
        ],
        class.dir.path(),
    );
    assert!(stdout(&out).ends_with(": OK\n"), "{}", stderr(&out));
    // Ten calendar years.
    let dates = stdout(&openssl(
        &[
            "x509",
            "-in",
            root.to_str().unwrap(),
            "-noout",
            "-startdate",
            "-enddate",
        ],
        class.dir.path(),
    ));
    let year = |line: &str| -> u32 { line.split_whitespace().nth(3).unwrap().parse().unwrap() };
    let lines: Vec<&str> = dates.lines().collect();
    assert_eq!(year(lines[1]), year(lines[0]) + 10, "{dates}");
    assert_eq!(lines[0][10..25], lines[1][9..24], "{dates}");
}

#[test]
fn a_user_certificate_verifies_against_the_root_with_its_extensions() {
    let class = class_with_ca();
    let out = class.run_with(
        "admin",
        &[
            "--json",
            "cert",
            "issue",
            "alice",
            "--owner-password-file",
            "pw",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let issued: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(issued["subject"], "CN=alice");
    assert_eq!(issued["serial"].as_str().unwrap().len(), 32, "16 bytes");
    class.ok(&["cert", "export", "alice", "-o", "alice.pem"]);
    let alice = class.dir.path().join("alice.pem");
    let root = class.store().join("ca_root.pem");

    let out = openssl(
        &[
            "verify",
            "-CAfile",
            root.to_str().unwrap(),
            alice.to_str().unwrap(),
        ],
        class.dir.path(),
    );
    assert_eq!(
        stdout(&out),
        format!("{}: OK\n", alice.display()),
        "{}",
        stderr(&out)
    );

    let text = text_of(&class, alice.to_str().unwrap());
    assert!(text.contains("Subject: CN = alice"), "{text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"));
    assert_eq!(
        extension(&text, "X509v3 Basic Constraints"),
        "X509v3 Basic Constraints: critical\n                CA:FALSE"
    );
    assert_eq!(
        extension(&text, "X509v3 Key Usage"),
        "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment"
    );
    // The authority key ID is the root's subject key ID.
    let root_text = text_of(&class, root.to_str().unwrap());
    assert_eq!(
        extension(&text, "X509v3 Authority Key Identifier")
            .lines()
            .nth(1),
        extension(&root_text, "X509v3 Subject Key Identifier")
            .lines()
            .nth(1)
    );
    assert!(text.contains("X509v3 Subject Key Identifier"));
    // The certified key is alice's: the public key she exports.
    class.ok(&["export", "alice", "--public", "-o", "alice-key.pem"]);
    let certified = openssl(
        &["x509", "-in", "alice.pem", "-noout", "-pubkey"],
        class.dir.path(),
    );
    assert_eq!(
        stdout(&certified),
        fs::read_to_string(class.dir.path().join("alice-key.pem")).unwrap()
    );
    // The validity is the pair's active period.
    let status = class.json(&["status", "alice"]);
    let version = &status["versions"][0];
    assert_eq!(issued["not_before"], version["created"]);
    assert_eq!(issued["not_after"], version["active_until"]);
    // `cert show` says the same, and the log records the issue.
    let shown = class.json(&["cert", "show", "alice"]);
    assert_eq!(shown["serial"], issued["serial"]);
    assert!(class.audit_events().contains(&"certified".to_owned()));
}

#[test]
fn a_wrong_administrator_password_or_no_ca_issues_nothing() {
    let class = class_with_ca();
    let before = class.files();
    let out = class.run_with(
        "wrong",
        &["cert", "issue", "alice", "--owner-password-file", "pw"],
    );
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    assert!(class.files() == before, "a file changed");
    let out = class.run(&["cert", "show", "alice"]);
    assert!(
        stderr(&out).contains("has no certificate: issue one with `secure-kms cert issue alice`")
    );

    // A second CA would orphan the first's certificates.
    let out = class.run_with("admin", &["ca", "init"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("has a certificate authority already"),
        "{}",
        stderr(&out)
    );

    // One certificate per pair: a second would stay valid beside the first.
    let out = class.run_with(
        "admin",
        &["cert", "issue", "alice", "--owner-password-file", "pw"],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = class.run_with(
        "admin",
        &["cert", "issue", "alice", "--owner-password-file", "pw"],
    );
    assert!(
        stderr(&out).contains("is certified already"),
        "{}",
        stderr(&out)
    );
    // A wrong administrator password stops keygen before any key is made.
    let wrong = class.dir.path().join("wrong");
    let out = class.run(&[
        "keygen",
        "zoe",
        "--admin-password-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(class.run(&["status", "zoe"]).status.code() != Some(0));

    let bare = Class::new();
    bare.ok(&["keygen", "bob"]);
    let out = bare.run(&["cert", "issue", "bob", "--owner-password-file", "pw"]);
    assert!(stderr(&out).contains("no certificate authority: make one with `secure-kms ca init`"));
    // Without a CA, an administrator password would do nothing: keygen,
    // rotate and revoke refuse it before changing anything.
    fs::write(bare.dir.path().join("admin"), "administrator password\n").unwrap();
    let admin = bare.dir.path().join("admin");
    let before = bare.files();
    for args in [
        &["keygen", "carol"][..],
        &["rotate", "bob"],
        &["revoke", "bob"],
    ] {
        let out = bare.run(&[args, &["--admin-password-file", admin.to_str().unwrap()]].concat());
        assert_eq!(code(&out), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("no certificate authority"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(bare.files() == before, "{args:?}: a file changed");
    }
    let out = bare.run(&["ca", "init", "--bits", "1024"]);
    assert!(
        stderr(&out).contains("1024-bit keys are not made here"),
        "{}",
        stderr(&out)
    );
}

/// `openssl verify -crl_check` of `cert` against the store's root and CRL.
fn crl_check(class: &Class, root: &str, crl: &str, cert: &str) -> std::process::Output {
    openssl(
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            root,
            "-CRLfile",
            crl,
            cert,
        ],
        class.dir.path(),
    )
}

/// alice's certificate, exported as `alice.pem`, and the store's root.
fn certified(class: &Class) -> (String, String) {
    let out = class.run_with(
        "admin",
        &["cert", "issue", "alice", "--owner-password-file", "pw"],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    class.ok(&["cert", "export", "alice", "-o", "alice.pem"]);
    (
        class
            .dir
            .path()
            .join("alice.pem")
            .to_string_lossy()
            .into_owned(),
        class
            .store()
            .join("ca_root.pem")
            .to_string_lossy()
            .into_owned(),
    )
}

#[test]
fn openssl_verifies_the_crl_and_refuses_a_revoked_certificate_with_its_reason() {
    let class = class_with_ca();
    let (alice, root) = certified(&class);
    let crl = class.store().join("crl.pem").to_string_lossy().into_owned();
    let out = class.run_with("admin", &["--json", "crl", "refresh"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let first: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(first["number"], 1);
    let out = openssl(
        &["crl", "-in", &crl, "-CAfile", &root, "-verify", "-noout"],
        class.dir.path(),
    );
    assert!(stderr(&out).contains("verify OK"), "{}", stderr(&out));
    let out = crl_check(&class, &root, &crl, &alice);
    assert!(out.status.success(), "{}", stderr(&out));

    // alice signs a file while her certificate is good.
    fs::write(class.dir.path().join("doc.txt"), "a document").unwrap();
    class.ok(&["sign", "alice", "doc.txt"]);
    class.ok(&["verify", "alice", "doc.txt", "doc.txt.sig"]);

    // Revoking with the administrator password signs CRL number 2.
    let admin = class.dir.path().join("admin");
    let out = class.run(&[
        "revoke",
        "alice",
        "--reason",
        "keyCompromise",
        "--admin-password-file",
        admin.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("CRL number 2 signed: 1 revoked certificate(s)"));
    let listed = class.json(&["revoked"]);
    let serial = class.json(&["cert", "show", "alice"])["serial"].clone();
    assert_eq!(listed[0]["serial"], serial, "{listed}");

    let out = crl_check(&class, &root, &crl, &alice);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("certificate revoked")
            || stderr(&out).contains("certificate revoked"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&openssl(
        &["crl", "-in", &crl, "-noout", "-text"],
        class.dir.path(),
    ));
    assert!(text.contains("Version 2 (0x1)"), "{text}");
    assert!(
        text.contains("X509v3 CRL Number: \n                2"),
        "{text}"
    );
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(
        text.contains(&format!(
            "Serial Number: {}",
            serial.as_str().unwrap().to_uppercase()
        )),
        "{text}"
    );
    assert!(
        text.contains("X509v3 CRL Reason Code: \n                Key Compromise"),
        "{text}"
    );
    let dates = stdout(&openssl(
        &["crl", "-in", &crl, "-noout", "-lastupdate", "-nextupdate"],
        class.dir.path(),
    ));
    assert!(
        dates.contains("lastUpdate=") && dates.contains("nextUpdate="),
        "{dates}"
    );
    let verified = class.json(&["crl", "verify"]);
    assert_eq!(verified["number"], 2);
    // A signature by the revoked pair is refused, even with alice's entry
    // removed from revoked_keys.json: the signed CRL still revokes it.
    let out = class.run(&["verify", "alice", "doc.txt", "doc.txt.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    fs::write(class.store().join("revoked_keys.json"), "[]\n").unwrap();
    let out = class.run(&["verify", "alice", "doc.txt", "doc.txt.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this signature was made with version 1 of alice's keys, revoked at"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_tampered_crl_or_an_edited_list_is_caught() {
    let class = class_with_ca();
    certified(&class);
    let admin = class.dir.path().join("admin");
    class.ok(&[
        "revoke",
        "alice",
        "--admin-password-file",
        admin.to_str().unwrap(),
    ]);
    class.ok(&["crl", "verify"]);
    let crl_path = class.store().join("crl.pem");
    let good = fs::read(&crl_path).unwrap();

    // One byte of the CRL's DER changed (in its signature): it no longer
    // verifies, and every command stops rather than trust the list alone.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = String::from_utf8(good.clone()).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = b64.decode(body).unwrap();
    let at = der.len() - 10;
    der[at] ^= 0x01;
    let encoded = b64.encode(&der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let tampered = format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        lines.join("\n")
    );
    fs::write(&crl_path, &tampered).unwrap();
    for args in [&["crl", "verify"][..], &["status", "alice"]] {
        let out = class.run(args);
        assert_eq!(code(&out), Some(1), "{args:?}");
        assert!(
            stderr(&out)
                .contains("its signature does not verify with the root's key: it was edited"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    fs::write(&crl_path, &good).unwrap();

    // The entry kept, but its key IDs removed by hand: it revokes nothing
    // by itself, and the CRL still revokes the pair.
    let list_path = class.store().join("revoked_keys.json");
    let original = fs::read_to_string(&list_path).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&original).unwrap();
    let entry = edited[0].as_object_mut().unwrap();
    entry.remove("symmetric_fingerprint");
    entry.remove("public_key_fingerprint");
    fs::write(&list_path, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    assert_eq!(class.states("alice"), ["compromised"]);
    fs::write(&list_path, &original).unwrap();

    // The certificate removed from key_store.json and the entry from the
    // list: the CRL names a certificate no pair carries, and nothing runs.
    let keys_path = class.store().join("key_store.json");
    let keys_before = fs::read_to_string(&keys_path).unwrap();
    let mut keys: serde_json::Value = serde_json::from_str(&keys_before).unwrap();
    keys["alice"]["key_pair"]
        .as_object_mut()
        .unwrap()
        .remove("certificate");
    fs::write(&keys_path, serde_json::to_string_pretty(&keys).unwrap()).unwrap();
    fs::write(&list_path, "[]\n").unwrap();
    let out = class.run(&["status", "alice"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("which no key pair in key_store.json carries"),
        "{}",
        stderr(&out)
    );
    fs::write(&keys_path, &keys_before).unwrap();
    fs::write(&list_path, &original).unwrap();

    // alice's entry removed from revoked_keys.json by hand: the signed CRL
    // still revokes her certificate.
    let list = fs::read(&list_path).unwrap();
    fs::write(&list_path, "[]\n").unwrap();
    let out = class.run(&["crl", "verify"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("which revoked_keys.json no longer lists"),
        "{}",
        stderr(&out)
    );
    // And the key stays revoked: every check consults the signed CRL.
    assert_eq!(class.states("alice"), ["compromised"]);
    fs::write(class.dir.path().join("note.txt"), "a note").unwrap();
    let out = class.run(&["encrypt", "alice", "note.txt", "note.enc"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("were revoked at"), "{}", stderr(&out));
    fs::write(&list_path, &list).unwrap();
    class.ok(&["crl", "verify"]);

    // A revocation the CRL has not caught up with is named.
    class.ok(&["rotate", "alice"]);
    let out = class.run_with(
        "admin",
        &["cert", "issue", "alice", "--owner-password-file", "pw"],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = class.run(&["revoke", "alice", "--version", "2"]);
    assert!(stdout(&out).contains("an administrator must run `secure-kms crl refresh`"));
    let out = class.run(&["crl", "verify"]);
    assert!(
        stderr(&out).contains("but the CRL does not"),
        "{}",
        stderr(&out)
    );
    let out = class.run_with("admin", &["crl", "refresh"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        class.json(&["crl", "verify"])["serials"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn keygen_rotate_and_the_session_certify_new_pairs_when_a_ca_exists() {
    let class = class_with_ca();
    let admin = class.dir.path().join("admin");
    let admin = admin.to_str().unwrap();
    // Without the administrator password, keygen says how to certify.
    let out = class.ok(&["keygen", "carol"]);
    assert!(
        out.contains("no certificate issued: run `secure-kms cert issue carol`"),
        "{out}"
    );
    // With it, keygen and rotate certify the new pair.
    let out = class.ok(&["keygen", "dave", "--admin-password-file", admin]);
    assert!(
        out.contains("certificate issued by the KMS CA: serial"),
        "{out}"
    );
    assert_eq!(class.json(&["cert", "show", "dave"])["version"], 1);
    class.ok(&["cert", "export", "dave", "-o", "dave1.pem"]);
    let plain = class.dir.path().join("plain.txt");
    fs::write(&plain, "sealed under dave's version 1\n").unwrap();
    let p = |name: &str| class.dir.path().join(name).to_str().unwrap().to_owned();
    class.ok(&["encrypt", "dave", &p("plain.txt"), &p("plain.enc")]);
    // The rotation certifies the new pair and signs a CRL that withdraws
    // the old pair's certificate (superseded): openssl refuses it, but the
    // old key is only deactivated, and still decrypts.
    let out = class.ok(&["rotate", "dave", "--admin-password-file", admin]);
    assert!(
        out.contains("CRL number 1 signed: the superseded pair's certificate is withdrawn"),
        "{out}"
    );
    let shown = class.json(&["cert", "show", "dave"]);
    assert_eq!(shown["version"], 2);
    let root = class.store().join("ca_root.pem");
    let crl = class.store().join("crl.pem");
    let out = crl_check(
        &class,
        root.to_str().unwrap(),
        crl.to_str().unwrap(),
        "dave1.pem",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("certificate revoked"),
        "{}",
        stderr(&out)
    );
    let crl_text = stdout(&openssl(
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
        class.dir.path(),
    ));
    assert!(crl_text.contains("Superseded"), "{crl_text}");
    assert_eq!(class.states("dave"), ["deactivated", "active"]);
    class.ok(&["decrypt", "dave", &p("plain.enc"), &p("back.txt")]);
    assert_eq!(fs::read(&plain).unwrap(), fs::read(p("back.txt")).unwrap());
    class.ok(&["crl", "verify"]);
    class.ok(&["cert", "export", "dave", "-o", "dave.pem"]);
    let out = openssl(
        &["verify", "-CAfile", root.to_str().unwrap(), "dave.pem"],
        class.dir.path(),
    );
    assert_eq!(stdout(&out), "dave.pem: OK\n", "{}", stderr(&out));

    // The session takes the administrator password from
    // --admin-password-file (on a terminal it asks; piped input keeps the
    // original's three lines and is never taken for it).
    let session = |input: &str| {
        crate::util::kms_command(class.dir.path())
            .args(["--store", "kms", "--admin-password-file", admin])
            .write_stdin(input)
            .output()
            .unwrap()
    };
    let out = session(&format!("erin\n{}\nno\n", crate::util::PASSWORD));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Asymmetric keys stored securely for erin\nCertificate issued for erin by the KMS CA (serial "), "{text}");
    assert!(text.contains("Public keys authenticated!"), "{text}");
    assert_eq!(class.json(&["cert", "show", "erin"])["user"], "erin");
    // erin, certified, revokes in the session: it asks the administrator
    // password again, for the CRL, which then revokes her certificate.
    let serial = class.json(&["cert", "show", "erin"])["serial"].clone();
    let out = session(&format!("erin\n{}\nno\nyes\n", crate::util::PASSWORD));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "Key revoked for erin\nCRL number 2 signed by the KMS CA: 2 revoked certificate(s)"
        ),
        "{text}"
    );
    let serials = class.json(&["crl", "verify"])["serials"].clone();
    assert!(serials.as_array().unwrap().contains(&serial), "{serials}");
    // Piped, without the file: the original's three lines, CA or not; the
    // third is the answer to the revocation, never a password.
    let out = crate::util::kms_command(class.dir.path())
        .args(["--store", "kms"])
        .write_stdin(format!("frank\n{}\nyes\n", crate::util::PASSWORD))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(
        "No certificate issued for frank: run `secure-kms cert issue frank` to issue it later (or pass --admin-password-file)"
    ), "{text}");
    assert!(
        text.contains("Do you want to revoke keys? (yes/no): yes\nKey revoked for frank\n"),
        "{text}"
    );
    assert!(!text.contains("Enter the administrator password"), "{text}");
    // gina, certified, revokes in a piped session without the file: her
    // revocation is made, and the CRL waits for an administrator.
    let out = session(&format!("gina\n{}\nno\n", crate::util::PASSWORD));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = crate::util::kms_command(class.dir.path())
        .args(["--store", "kms"])
        .write_stdin(format!("gina\n{}\nno\nyes\n", crate::util::PASSWORD))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(
        "Key revoked for gina\nThe CRL was not signed: run `secure-kms crl refresh` to sign it later (or pass --admin-password-file)"
    ), "{text}");
    assert!(!text.contains("Enter the administrator password"), "{text}");
    let out = class.run(&["cert", "show", "frank"]);
    assert_eq!(code(&out), Some(1));

    // dave replaces his keys in the session: the new pair is certified
    // and, with the same password, the CRL withdraws the replaced one.
    let old_serial = class.json(&["cert", "show", "dave"])["serial"].clone();
    let out = session(&format!("dave\n{}\nyes\nno\n", crate::util::PASSWORD));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("CRL number 3 signed by the KMS CA: the replaced pair's certificate is withdrawn (superseded)"),
        "{text}"
    );
    let serials = class.json(&["crl", "verify"])["serials"].clone();
    assert!(
        serials.as_array().unwrap().contains(&old_serial),
        "{serials}"
    );
    assert_eq!(
        class.states("dave"),
        ["deactivated", "deactivated", "active"]
    );
}
