//! Records removed or rolled back: deleting `revoked_keys.json` used to
//! un-revoke every key for every command but `audit --verify`, and
//! deleting `audit.log`, then making one logged change, made even that
//! pass. Every command that uses a key now compares the user's record with
//! the log and refuses (exit code 3), saying what to restore.

use std::fs;

use crate::util::{Class, code, stderr};

/// The commands that use alice's keys: each must refuse.
fn uses(class: &Class) -> Vec<(&'static str, std::process::Output)> {
    vec![
        (
            "encrypt",
            class.run(&["encrypt", "alice", "data", "data.enc"]),
        ),
        (
            "decrypt",
            class.run(&["decrypt", "alice", "old.enc", "old.out"]),
        ),
        (
            "sign",
            class.run(&["sign", "alice", "data", "-o", "new.sig"]),
        ),
        (
            "verify",
            class.run(&["verify", "alice", "data", "data.sig"]),
        ),
        (
            "export --public",
            class.run(&["export", "alice", "--public"]),
        ),
        (
            "exchange offer",
            class.run(&[
                "exchange",
                "offer",
                "alice",
                "--to",
                "bob",
                "-o",
                "offer.json",
            ]),
        ),
    ]
}

/// alice (with a file encrypted and one signed under version 1) and bob.
fn store() -> Class {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    class.ok(&["keygen", "bob"]);
    fs::write(class.dir.path().join("data"), "data\n").unwrap();
    class.ok(&["encrypt", "alice", "data", "old.enc"]);
    class.ok(&["sign", "alice", "data", "-o", "data.sig"]);
    class
}

fn assert_every_use_refused(class: &Class, case: &str, why: &str, remedy: &str) {
    let before = class.files();
    for (what, out) in uses(class) {
        let err = stderr(&out);
        assert_eq!(code(&out), Some(3), "{case}, {what}: {err}");
        assert!(
            err.contains(why),
            "{case}, {what}: expected {why:?} in {err}"
        );
        assert!(
            err.contains(remedy),
            "{case}, {what}: expected {remedy:?} in {err}"
        );
    }
    assert_eq!(
        class.files(),
        before,
        "{case}: a refused use changed a file"
    );
}

#[test]
fn a_deleted_revocation_list_does_not_unrevoke() {
    for case in ["the file deleted", "the entry removed"] {
        let class = store();
        class.ok(&["revoke", "alice", "--version", "1"]);
        let list = class.store().join("revoked_keys.json");
        if case == "the file deleted" {
            fs::remove_file(&list).unwrap();
        } else {
            fs::write(&list, "[]\n").unwrap();
        }
        assert_every_use_refused(
            &class,
            case,
            "revoked_keys.json no longer lists it",
            "restore revoked_keys.json from a backup",
        );
        let out = class.run(&["audit", "--verify"]);
        assert_eq!(code(&out), Some(1), "{case}: {}", stderr(&out));
    }
}

#[test]
fn a_deleted_log_followed_by_a_change_vouches_for_nothing() {
    let class = store();
    fs::remove_file(class.store().join("audit.log")).unwrap();
    // Before any change: the log is simply missing.
    assert_every_use_refused(
        &class,
        "no log",
        "audit.log is missing",
        "restore audit.log",
    );
    // One logged change (a new user) starts a new log, later than alice's keys.
    class.ok(&["keygen", "carol"]);
    assert_every_use_refused(
        &class,
        "a new log",
        "audit.log starts at",
        "restore audit.log",
    );
    let out = class.run(&["audit", "--verify"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restore it from a backup"),
        "{}",
        stderr(&out)
    );
    // carol's keys, made under the new log, are vouched for.
    class.ok(&["export", "carol", "--public"]);
}

#[test]
fn a_key_store_rolled_back_is_refused() {
    // Back to before a rotation: version 2 is gone, version 1 primary again.
    let class = store();
    let keys = class.store().join("key_store.json");
    let before_rotation = fs::read(&keys).unwrap();
    class.ok(&["rotate", "alice"]);
    fs::write(&keys, &before_rotation).unwrap();
    assert_every_use_refused(
        &class,
        "rotation undone",
        "has no such version",
        "restore key_store.json",
    );

    // Back to before a destruction: version 1's key material returns.
    let class = store();
    class.ok(&["rotate", "alice"]);
    let keys = class.store().join("key_store.json");
    let before_destroy = fs::read(&keys).unwrap();
    let out = class.run(&["destroy", "alice", "--version", "1", "--yes"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    fs::write(&keys, &before_destroy).unwrap();
    assert_every_use_refused(
        &class,
        "destruction undone",
        "holds its key again",
        "restore key_store.json",
    );
}

/// A log replaced by one forged line that names nobody (its time set
/// before alice's keys) vouches for nothing: alice's version has no line
/// in it.
#[test]
fn a_forged_log_that_never_mentions_the_user_vouches_for_nothing() {
    let class = store();
    class.ok(&["revoke", "alice", "--version", "1"]);
    fs::remove_file(class.store().join("revoked_keys.json")).unwrap();
    let line = serde_json::json!({
        "seq": 1, "time": 0.0, "time_utc": "1970-01-01T00:00:00Z",
        "event": "authentication_failed", "user": "nobody", "command": "keygen",
        "prev": "0".repeat(64),
    });
    fs::write(class.store().join("audit.log"), format!("{line}\n")).unwrap();
    assert_every_use_refused(
        &class,
        "a forged log",
        "has no line in audit.log that records it made",
        "restore key_store.json and audit.log",
    );
}

/// A change on a rolled-back record is refused too: a rotation would log a
/// second version of the same number, and nothing could be restored after.
#[test]
fn a_rotation_on_a_rolled_back_record_is_refused() {
    let class = store();
    let keys = class.store().join("key_store.json");
    let before_rotation = fs::read(&keys).unwrap();
    class.ok(&["rotate", "alice"]);
    fs::write(&keys, &before_rotation).unwrap();
    let log = fs::read(class.store().join("audit.log")).unwrap();
    for args in [&["rotate", "alice"][..], &["keygen", "alice"][..]] {
        let out = class.run(args);
        assert_eq!(code(&out), Some(3), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("has no such version"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A record deleted outright: keygen does not make the user again.
    let mut all: serde_json::Value = serde_json::from_slice(&fs::read(&keys).unwrap()).unwrap();
    all.as_object_mut().unwrap().remove("alice");
    fs::write(&keys, all.to_string()).unwrap();
    let out = class.run(&["keygen", "alice"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(
        fs::read(class.store().join("audit.log")).unwrap(),
        log,
        "a refused change logged"
    );
}

/// The session reads the store again once the user ID is typed, and uses
/// only that checked read: a revocation hidden while the session waits at
/// its first question, then put back, is seen.
#[test]
fn the_session_uses_the_read_it_checked() {
    use std::io::{BufRead, BufReader, Write};
    let class = store();
    class.ok(&["revoke", "alice", "--version", "1"]);
    let list = class.store().join("revoked_keys.json");
    let revoked = fs::read(&list).unwrap();
    fs::write(&list, "[]\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_secure-kms"))
        .env_remove("KMS_STORE")
        .args(["--store", class.store().to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut asked = Vec::new();
    stdout.read_until(b':', &mut asked).unwrap();
    assert!(String::from_utf8_lossy(&asked).contains("user ID"));
    fs::write(&list, &revoked).unwrap();
    let password = crate::util::PASSWORD;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("alice\n{password}\nno\nno\n").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let mut shown = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut shown).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{shown}{err}");
    assert!(err.contains("revoked"), "{err}");
    assert!(!shown.contains("Keeping the existing keys"), "{shown}");
}
