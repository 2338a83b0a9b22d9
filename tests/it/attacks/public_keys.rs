//! Public keys swapped in `key_store.json`: whoever can edit the file can
//! put their own public key and its fingerprint in a user's record (the
//! file stays consistent). Every use of a public key must refuse it, since
//! the audit log recorded the real key's fingerprint when the pair was
//! made, and the CA's certificate names it.

use std::fs;

use serde_json::Value;

use crate::util::{Class, code, openssl, stderr, stdout};

/// A store with alice (`pw`) and mallory (`mallory`), and a file that
/// mallory signed.
fn alice_and_mallory() -> Class {
    let class = Class::new();
    fs::write(class.dir.path().join("mallory"), "mallory's password\n").unwrap();
    class.ok(&["keygen", "alice"]);
    let out = class.run_with("mallory", &["keygen", "mallory"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    fs::write(class.dir.path().join("data"), "pay mallory 100 euros\n").unwrap();
    let out = class.run_with("mallory", &["sign", "mallory", "data", "-o", "data.sig"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    class
}

fn key_store(class: &Class) -> Value {
    serde_json::from_slice(&fs::read(class.store().join("key_store.json")).unwrap()).unwrap()
}

fn write_key_store(class: &Class, value: &Value) {
    fs::write(
        class.store().join("key_store.json"),
        serde_json::to_string_pretty(value).unwrap(),
    )
    .unwrap();
}

/// Puts mallory's public key (and its fingerprint, so that the file is
/// consistent) in alice's primary pair.
fn swap_primary(class: &Class) {
    let mut store = key_store(class);
    store["alice"]["public"] = store["mallory"]["public"].clone();
    store["alice"]["key_pair"]["fingerprint"] = store["mallory"]["key_pair"]["fingerprint"].clone();
    write_key_store(class, &store);
}

fn assert_refused(what: &str, out: &std::process::Output) {
    let err = stderr(out);
    assert_eq!(code(out), Some(3), "{what}: {err}");
    assert!(
        err.contains("public key of version") && err.contains("restore key_store.json"),
        "{what}: {err}"
    );
}

/// `verify` (of mallory's signature) and `export --public` of alice both
/// refuse with exit code 3, saying `why`.
fn assert_public_uses_refused(class: &Class, why: &str) {
    for args in [
        &["verify", "alice", "data", "data.sig"][..],
        &["export", "alice", "--public"][..],
    ] {
        let out = class.run(args);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(3), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

/// Before, `verify alice` accepted mallory's signature as alice's.
#[test]
fn a_swapped_primary_public_key_is_refused_by_every_use() {
    let class = alice_and_mallory();
    swap_primary(&class);
    let before = class.files();
    assert_refused(
        "verify",
        &class.run(&["verify", "alice", "data", "data.sig"]),
    );
    assert_refused(
        "export --public",
        &class.run(&["export", "alice", "--public"]),
    );
    assert_refused(
        "encrypt",
        &class.run(&["encrypt", "alice", "data", "data.enc"]),
    );
    let out = class.run(&["audit", "--verify"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("other key IDs"), "{}", stderr(&out));
    assert_eq!(class.files(), before);
}

/// The same swap on an older pair (`previous`), which still verifies
/// what it signed before the rotation.
#[test]
fn a_swapped_previous_public_key_is_refused() {
    let class = alice_and_mallory();
    class.ok(&["rotate", "alice"]);
    let mut store = key_store(&class);
    let (public, fingerprint) = (
        store["mallory"]["public"].clone(),
        store["mallory"]["key_pair"]["fingerprint"].clone(),
    );
    let old = &mut store["alice"]["previous"]["asymmetric"][0];
    assert_eq!(old["version"], 1);
    old["public"] = public;
    old["fingerprint"] = fingerprint;
    write_key_store(&class, &store);
    assert_refused(
        "verify",
        &class.run(&["verify", "alice", "data", "data.sig"]),
    );
}

/// An exchange message from alice is checked against alice's key as the
/// log recorded it, not as the file now says.
#[test]
fn an_exchange_with_a_swapped_key_is_refused() {
    let class = alice_and_mallory();
    class.ok(&[
        "exchange",
        "offer",
        "alice",
        "--to",
        "mallory",
        "-o",
        "offer.json",
    ]);
    swap_primary(&class);
    let out = class.run_with(
        "mallory",
        &[
            "exchange",
            "accept",
            "mallory",
            "offer.json",
            "-o",
            "answer.json",
        ],
    );
    assert_refused("exchange accept", &out);
}

/// `cert issue` asks proof that the key is the user's: the owner's
/// password must open the pair. A swapped key is refused before that, and
/// a wrong owner password certifies nothing.
#[test]
fn cert_issue_needs_proof_of_possession_and_refuses_a_swapped_key() {
    let class = alice_and_mallory();
    fs::write(class.dir.path().join("admin"), "administrator password\n").unwrap();
    let out = class.run_with("admin", &["ca", "init"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let issue = |owner: &str| {
        class.run_with(
            "admin",
            &["cert", "issue", "alice", "--owner-password-file", owner],
        )
    };
    // The administrator alone, without alice's password, certifies nothing.
    let out = issue("wrong");
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrong password for alice"),
        "{}",
        stderr(&out)
    );
    swap_primary(&class);
    assert_refused("cert issue", &issue("pw"));
    assert!(
        key_store(&class)["alice"]["key_pair"]
            .get("certificate")
            .is_none()
    );
}

/// With a CA, a certificate in alice's record must be one the root signed:
/// a certificate for alice's own key, named as if the root issued it but
/// signed by another key (made here with openssl), is refused by verify
/// and export. (A certificate of another key cannot get that far: the
/// store refuses a record whose certificate is not for its key.)
#[test]
fn a_certificate_the_root_did_not_sign_is_refused() {
    let class = alice_and_mallory();
    fs::write(class.dir.path().join("admin"), "administrator password\n").unwrap();
    assert_eq!(code(&class.run_with("admin", &["ca", "init"])), Some(0));
    let forged = forged_certificate(&class);
    let mut store = key_store(&class);
    store["alice"]["key_pair"]["certificate"] = forged.into();
    write_key_store(&class, &store);
    for args in [
        &["verify", "alice", "data", "data.sig"][..],
        &["export", "alice", "--public"][..],
        &["cert", "show", "alice"][..],
        &["cert", "export", "alice"][..],
        &["sign", "alice", "data", "-o", "alice.sig"][..],
    ] {
        let out = class.run(args);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("is not signed by the root CN=secure-kms root CA,O=secure-kms: it was forged or edited"),
            "{args:?}: {err}"
        );
        assert!(!stdout(&out).contains("BEGIN"), "{args:?}");
    }
}

/// A certificate for alice's own key, named as if the store's root issued
/// it but signed by another key, made with openssl.
fn forged_certificate(class: &Class) -> String {
    class.ok(&["export", "alice", "--public", "-o", "alice.pub"]);
    let dir = class.dir.path();
    let run = |args: &[&str]| {
        let out = openssl(args, dir);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    let root = class.store().join("ca_root.pem");
    let subject = String::from_utf8(
        run(&[
            "x509",
            "-in",
            root.to_str().unwrap(),
            "-noout",
            "-subject",
            "-nameopt",
            "compat",
        ])
        .stdout,
    )
    .unwrap();
    let subject = subject.trim().trim_start_matches("subject=");
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "evil.key",
    ]);
    run(&[
        "req", "-new", "-x509", "-key", "evil.key", "-subj", subject, "-days", "30", "-out",
        "evil.pem",
    ]);
    run(&[
        "x509",
        "-new",
        "-force_pubkey",
        "alice.pub",
        "-subj",
        "/CN=alice",
        "-CA",
        "evil.pem",
        "-CAkey",
        "evil.key",
        "-days",
        "30",
        "-out",
        "forged.pem",
    ]);
    fs::read_to_string(dir.join("forged.pem")).unwrap()
}

/// A version added to alice's record by hand, with mallory's public key:
/// the log never recorded it made, so nothing takes it as alice's.
#[test]
fn a_version_added_by_hand_is_refused() {
    let class = alice_and_mallory();
    let mut store = key_store(&class);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (alice, mallory) = (store["alice"].clone(), store["mallory"].clone());
    let old = serde_json::json!({
        "version": 1,
        "created": alice["key_pair"]["created"],
        "expiry": alice["key_pair"]["expiry"],
        "fingerprint": alice["key_pair"]["fingerprint"],
        "binding": alice["key_pair"]["binding"],
        "public": alice["public"],
        "private": alice["private"],
    });
    let record = &mut store["alice"];
    record["previous"] = serde_json::json!({"symmetric": [], "asymmetric": [old]});
    record["public"] = mallory["public"].clone();
    record["private"] = mallory["private"].clone();
    record["key_pair"] = serde_json::json!({
        "version": 2, "created": now, "expiry": now + 3600.0,
        "fingerprint": mallory["key_pair"]["fingerprint"], "binding": 2,
    });
    write_key_store(&class, &store);
    assert_public_uses_refused(&class, "has no line in audit.log that records it made");
}

/// With a CA, `ca show` shows the root only once the store's checks hold:
/// another store's CA files put in place of this one's are refused.
#[test]
fn a_ca_swapped_in_is_not_shown() {
    let make = || {
        let class = alice_and_mallory();
        fs::write(class.dir.path().join("admin"), "administrator password\n").unwrap();
        let out = class.run_with("admin", &["ca", "init", "--bits", "2048"]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        class
    };
    let (class, other) = (make(), make());
    for name in ["ca_key.json", "ca_root.pem"] {
        fs::copy(other.store().join(name), class.store().join(name)).unwrap();
    }
    for args in [&["ca", "show"][..], &["ca", "show", "--text"][..]] {
        let out = class.run(args);
        assert_eq!(code(&out), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("the CA was replaced"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}

/// A record made to look as if it predates the log (binding 1, as format 1
/// keys have), with mallory's public key and the log deleted: keys from
/// before the log are taken only on their owner's password, so a use
/// without one refuses them.
#[test]
fn a_record_made_to_look_older_than_the_log_is_not_trusted_without_a_password() {
    let class = alice_and_mallory();
    swap_primary(&class);
    let mut store = key_store(&class);
    store["alice"]["key_pair"]["binding"] = 1.into();
    store["alice"]["symmetric"]["binding"] = 1.into();
    write_key_store(&class, &store);
    fs::remove_file(class.store().join("audit.log")).unwrap();
    assert_public_uses_refused(&class, "predates the audit log");
}

/// A format 1 store (alice's keys from before the log): once alice
/// rotates, her logged version verifies and exports without a password
/// again, while a signature by the pre-log version is still not taken as
/// hers.
#[test]
fn a_format_1_user_is_vouched_for_again_after_a_rotation() {
    let class = Class::new();
    fs::create_dir(class.store()).unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/store");
    fs::copy(
        format!("{data}/pass_key_store.json"),
        class.store().join("key_store.json"),
    )
    .unwrap();
    fs::copy(
        format!("{data}/pass_revoked_keys.json"),
        class.store().join("revoked_keys.json"),
    )
    .unwrap();
    fs::write(
        class.dir.path().join("format1"),
        "classroom-test-password\n",
    )
    .unwrap();
    fs::write(class.dir.path().join("data"), "data\n").unwrap();
    let run = |args: &[&str]| class.run_with("format1", args);
    // With the password, the pre-log keys are taken: it opens them.
    let out = run(&["sign", "alice", "data", "-o", "old.sig"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // Without one, nothing vouches for them.
    let out = class.run(&["verify", "alice", "data", "old.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("predates the audit log"),
        "{}",
        stderr(&out)
    );
    let out = run(&["rotate", "alice"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = run(&["sign", "alice", "data", "-o", "new.sig"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    class.ok(&["verify", "alice", "data", "new.sig"]);
    class.ok(&["export", "alice", "--public"]);
    let out = class.run(&["verify", "alice", "data", "old.sig"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("by version 1"), "{}", stderr(&out));
}
