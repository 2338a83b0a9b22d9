//! `ca trust`, `ca trusted`, `ca untrust`: another CA's root (a class's)
//! as a trust anchor of a store, its fingerprint the one OpenSSL prints,
//! every change in the audit log, and a root planted in
//! `trusted_roots.pem` by someone who can write the folder refused.

use std::fs;
use std::path::Path;

use crate::util::{code, in_store, openssl, openssl_ok, openssl_root, stderr, stdout};

/// Runs the binary on the store `name` under `dir`, with the password in
/// `dir/admin.pw` for the commands that need one.
fn kms(dir: &Path, name: &str, args: &[&str]) -> std::process::Output {
    in_store(dir, name, "admin.pw", args)
}

fn json(dir: &Path, name: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = kms(dir, name, &all);
    assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A folder with a teacher's store, which has a CA.
fn class() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("admin.pw"), "the teacher's password\n").unwrap();
    let out = kms(dir.path(), "teacher", &["ca", "init", "--bits", "2048"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    dir
}

/// What `openssl x509 -fingerprint -sha256` prints, as secure-kms stores it.
fn openssl_fingerprint(dir: &Path, pem: &str) -> String {
    let out = openssl(
        &["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"],
        dir,
    );
    let text = stdout(&out);
    let (_, colons) = text.trim().split_once('=').unwrap();
    colons.replace(':', "").to_lowercase()
}

#[test]
fn a_student_trusts_the_teachers_root_by_the_fingerprint_openssl_prints() {
    let dir = class();
    let d = dir.path();
    let expected = openssl_fingerprint(d, "teacher/ca_root.pem");
    assert_eq!(
        json(d, "student", &["ca", "trusted"]),
        serde_json::json!([])
    );

    let out = kms(d, "student", &["ca", "trust", "teacher/ca_root.pem"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // Printed as OpenSSL prints it, to compare by eye.
    let colons = expected
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    assert!(
        text.contains(&format!("SHA-256 fingerprint: {colons}")),
        "{text}"
    );

    let listed = json(d, "student", &["ca", "trusted"]);
    assert_eq!(listed[0]["fingerprint"], expected.as_str());
    assert_eq!(listed[0]["subject"], "CN=secure-kms root CA,O=secure-kms");
    assert_eq!(listed[0]["own"], false);
    // The teacher's store trusts its own root without being told.
    let own = json(d, "teacher", &["ca", "trusted"]);
    assert_eq!(own[0]["fingerprint"], expected.as_str());
    assert_eq!(own[0]["own"], true);

    // Trusting it again, or a store its own root, changes nothing.
    let again = kms(d, "student", &["ca", "trust", "teacher/ca_root.pem"]);
    assert_eq!(code(&again), Some(1));
    assert!(
        stderr(&again).contains("it is trusted already"),
        "{}",
        stderr(&again)
    );
    let own = kms(d, "teacher", &["ca", "trust", "teacher/ca_root.pem"]);
    assert_eq!(code(&own), Some(1));
    assert!(
        stderr(&own).contains("this store's own root"),
        "{}",
        stderr(&own)
    );

    // The file is 0600 and the log has one `trusted` line with the
    // fingerprint.
    let file = d.join("student/trusted_roots.pem");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let log = fs::read_to_string(d.join("student/audit.log")).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.contains("\"event\":\"trusted\"") && log.contains(&expected),
        "{log}"
    );
}

#[test]
fn an_openssl_root_is_trusted_and_what_is_no_rsa_root_is_refused() {
    let dir = class();
    let d = dir.path();
    let make = |args: &[&str]| openssl_ok(d, args);
    openssl_root(d, "root.key", "root.pem", "/CN=Another class root");
    let out = kms(d, "student", &["ca", "trust", "root.pem"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));

    // A leaf, a certificate its root signed, an ECDSA root, two roots in
    // one file, and text that is no certificate: each refused, nothing
    // written.
    make(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.pem",
        "-subj",
        "/CN=leaf",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
    ]);
    make(&[
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "sub.key", "-out", "sub.csr",
        "-subj", "/CN=sub",
    ]);
    make(&[
        "x509", "-req", "-in", "sub.csr", "-CA", "root.pem", "-CAkey", "root.key", "-out",
        "sub.pem", "-days", "30",
    ]);
    make(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ec.key",
        "-out",
        "ec.pem",
        "-subj",
        "/CN=EC root",
        "-days",
        "30",
    ]);
    let both = format!(
        "{}{}",
        fs::read_to_string(d.join("root.pem")).unwrap(),
        fs::read_to_string(d.join("teacher/ca_root.pem")).unwrap()
    );
    fs::write(d.join("both.pem"), both).unwrap();
    fs::write(d.join("text.pem"), "hello\n").unwrap();
    let before = fs::read(d.join("student/trusted_roots.pem")).unwrap();
    for (file, why) in [
        ("leaf.pem", "it is not a CA certificate"),
        ("sub.pem", "not by itself"),
        ("ec.pem", "not signed sha256WithRSAEncryption"),
        ("both.pem", "it holds 2 certificates"),
        ("text.pem", "it is not bare PEM"),
    ] {
        let out = kms(d, "student", &["ca", "trust", file]);
        assert_eq!(code(&out), Some(1), "{file}: {}", stdout(&out));
        assert!(stderr(&out).contains(why), "{file}: {}", stderr(&out));
    }
    assert_eq!(
        fs::read(d.join("student/trusted_roots.pem")).unwrap(),
        before
    );
}

#[test]
fn untrust_removes_a_root_and_the_log_records_both() {
    let dir = class();
    let d = dir.path();
    let fingerprint = openssl_fingerprint(d, "teacher/ca_root.pem");
    kms(d, "student", &["ca", "trust", "teacher/ca_root.pem"]);
    // As OpenSSL prints it: upper case, with colons.
    let colons = fingerprint
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    let out = kms(d, "student", &["ca", "untrust", &colons]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(d, "student", &["ca", "trusted"]),
        serde_json::json!([])
    );
    let events: Vec<String> = json(d, "student", &["audit"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["trusted", "untrusted"]);
    // Neither a root it does not trust, nor its own.
    let out = kms(d, "student", &["ca", "untrust", &fingerprint]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("no trusted root has the fingerprint"),
        "{}",
        stderr(&out)
    );
    let out = kms(d, "teacher", &["ca", "untrust", &fingerprint]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("this store's own root"),
        "{}",
        stderr(&out)
    );
    assert!(kms(d, "student", &["audit", "--verify"]).status.success());
}

#[test]
fn a_root_put_in_trusted_roots_pem_by_hand_is_refused() {
    let dir = class();
    let d = dir.path();
    let root = fs::read_to_string(d.join("teacher/ca_root.pem")).unwrap();
    // Planted in a store that never trusted it.
    fs::create_dir(d.join("student")).unwrap();
    fs::write(d.join("student/trusted_roots.pem"), &root).unwrap();
    let out = kms(d, "student", &["ca", "trusted"]);
    assert_eq!(code(&out), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("trusted_roots.pem holds a root that audit.log does not record as trusted"),
        "{}",
        stderr(&out)
    );
    // Nor does `ca trust` carry it into the file it writes.
    let out = kms(d, "student", &["ca", "trust", "teacher/ca_root.pem"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));

    // Trusted, then untrusted, then put back by hand: refused too.
    fs::remove_file(d.join("student/trusted_roots.pem")).unwrap();
    assert!(
        kms(d, "student", &["ca", "trust", "teacher/ca_root.pem"])
            .status
            .success()
    );
    let fingerprint = openssl_fingerprint(d, "teacher/ca_root.pem");
    assert!(
        kms(d, "student", &["ca", "untrust", &fingerprint])
            .status
            .success()
    );
    fs::write(d.join("student/trusted_roots.pem"), &root).unwrap();
    let out = kms(d, "student", &["ca", "trusted"]);
    assert_eq!(code(&out), Some(3), "{}", stdout(&out));

    // A link in its place is not followed.
    fs::remove_file(d.join("student/trusted_roots.pem")).unwrap();
    std::os::unix::fs::symlink(
        d.join("teacher/ca_root.pem"),
        d.join("student/trusted_roots.pem"),
    )
    .unwrap();
    let out = kms(d, "student", &["ca", "trusted"]);
    assert_ne!(code(&out), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("trusted_roots.pem"),
        "{}",
        stderr(&out)
    );
}
