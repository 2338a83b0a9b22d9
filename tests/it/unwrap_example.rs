//! `examples/unwrap_key.py`: a student's own Python, with `cryptography`
//! and nothing of secure-kms, unwraps a symmetric key from a store that the
//! binary made. It holds only if the wrapping is documented exactly (PBKDF2
//! parameters, the HKDF info string, the associated data, the nonce).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::util::{Class, PASSWORD, stderr, stdout};

/// Runs the example for `user` on the class's store, `password` on stdin.
fn unwrap(class: &Class, user: &str, password: &str) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/unwrap_key.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(user)
        .arg(class.store())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with `cryptography` is needed (.ci/run installs python3-cryptography)");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn python_unwraps_the_key_the_binary_stored_and_finds_its_fingerprint() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    // The newest version is the one in `symmetric`: rotate so that it is
    // version 2, whose associated data differs from version 1's.
    class.ok(&["rotate", "alice"]);
    let status = class.json(&["status", "alice"]);
    let newest = &status["versions"][1];
    assert_eq!(newest["version"], 2);
    let fingerprint = newest["symmetric_fingerprint"].as_str().unwrap();

    let out = unwrap(&class, "alice", PASSWORD);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("SHA-256 of the key: {fingerprint}\n")),
        "{text}"
    );
    assert!(
        text.contains("unwrapped 32-byte key version 2 of alice"),
        "{text}"
    );
    assert!(text.contains("matches the store's fingerprint"), "{text}");

    // A wrong password fails on the tag, saying no more than secure-kms.
    let wrong = unwrap(&class, "alice", "not the password");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("wrong password for alice, or the record was edited"),
        "{}",
        stderr(&wrong)
    );
    assert!(!stdout(&wrong).contains("SHA-256"), "{}", stdout(&wrong));
}

#[test]
fn python_refuses_a_record_whose_associated_data_was_edited() {
    let class = Class::new();
    class.ok(&["keygen", "bob"]);
    // Move the expiry one second: the key is the same, its binding is not.
    let path = class.store().join("key_store.json");
    let mut store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let expiry = store["bob"]["symmetric"]["expiry"].as_f64().unwrap();
    store["bob"]["symmetric"]["expiry"] = serde_json::json!(expiry + 1.0);
    std::fs::write(&path, serde_json::to_string_pretty(&store).unwrap()).unwrap();
    let out = unwrap(&class, "bob", PASSWORD);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("or the record was edited"),
        "{}",
        stderr(&out)
    );
}
