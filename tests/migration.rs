//! A store written by format 1 (one key of each kind per user, before key
//! versions) loads as it is and is migrated to format 2 on the next write.
//! The fixture `tests/data/store/pass_*.json` was written by secure-kms
//! 0.1.0's format 1 (users alice and bob, password
//! `classroom-test-password`, bob revoked; see `tests/data/README.md`).

mod common;

use std::fs;

use common::{kms, kms_command, snapshot, stderr, stdout};
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/store");
const PASSWORD: &str = "classroom-test-password";

fn old_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("pass_key_store.json", "key_store.json"),
        ("pass_revoked_keys.json", "revoked_keys.json"),
    ] {
        fs::copy(format!("{DATA}/{from}"), dir.path().join(to)).unwrap();
    }
    fs::write(dir.path().join("pw"), PASSWORD).unwrap();
    dir
}

fn json(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = kms_command(dir)
        .args(["--store", ".", "--password-file", "pw", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn read(dir: &std::path::Path, file: &str) -> Value {
    serde_json::from_slice(&fs::read(dir.join(file)).unwrap()).unwrap()
}

#[test]
fn the_fixture_is_format_1() {
    let dir = old_store();
    let keys = read(dir.path(), "key_store.json");
    assert_eq!(keys["alice"]["format"], 1);
    assert!(keys["alice"]["symmetric"].is_object());
    assert!(keys["alice"]["public"].is_string());
    assert_eq!(read(dir.path(), "revoked_keys.json")[0]["format"], 1);
}

#[test]
fn a_format_1_store_is_read_as_version_1_without_being_rewritten() {
    let dir = old_store();
    let before = snapshot(dir.path());
    let alice = json(dir.path(), &["status", "alice"]);
    assert_eq!(alice["versions"][0]["version"], 1);
    assert_eq!(alice["versions"][0]["state"], "active");
    assert_eq!(
        alice["versions"][0]["symmetric_fingerprint"],
        read(dir.path(), "key_store.json")["alice"]["symmetric"]["fingerprint"]
    );
    // bob's format 1 revocation names his keys by fingerprint: version 1.
    let bob = json(dir.path(), &["status", "bob"]);
    assert_eq!(bob["versions"][0]["state"], "compromised");
    assert_eq!(json(dir.path(), &["revoked"])[0]["version"], 1);
    // The session keeps alice's format 1 keys: they still unlock.
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Keeping the existing keys for alice"));
    // Reading is not a write: both files are as they were.
    assert!(snapshot(dir.path()) == before, "reading rewrote a file");
}

#[test]
fn the_next_write_migrates_every_record_and_old_keys_still_unlock() {
    let dir = old_store();
    let old = read(dir.path(), "key_store.json");
    assert_eq!(json(dir.path(), &["rotate", "alice"])["version"], 2);

    let new = read(dir.path(), "key_store.json");
    for user in ["alice", "bob"] {
        assert_eq!(new[user]["format"], 2, "{user}");
        let v1 = &new[user]["symmetric"][0];
        assert_eq!(v1["version"], 1);
        // Keys keep the associated data they were sealed with (binding 1),
        // so no password was needed to migrate bob.
        assert_eq!(v1["binding"], 1);
        assert_eq!(v1["wrapped"]["key"], old[user]["symmetric"]["key"]);
        assert_eq!(v1["expiry"], old[user]["symmetric"]["expiry"]);
        let rsa = &new[user]["asymmetric"][0];
        assert_eq!(rsa["public"], old[user]["public"]);
        assert_eq!(rsa["private"]["key"], old[user]["private"]["key"]);
    }
    assert_eq!(new["alice"]["symmetric"][1]["binding"], 2);

    // Version 1, migrated, still unlocks: with version 2 destroyed, the
    // revocation proves the password against version 1.
    let destroyed = json(dir.path(), &["destroy", "alice", "--version", "2", "--yes"]);
    assert_eq!(destroyed["destroyed"], true);
    let revoked = json(dir.path(), &["revoke", "alice", "--version", "1"]);
    assert_eq!(revoked["revoked"][0]["version"], 1);
    // The revocation list was rewritten: bob's entry now has its version.
    let list = read(dir.path(), "revoked_keys.json");
    assert_eq!(list[0]["user_id"], "bob");
    assert_eq!(list[0]["format"], 2);
    assert_eq!(list[0]["version"], 1);

    // The migrated store works in the session: bob is still refused, and
    // alice, whose primary is destroyed, gets version 3 by rotation.
    let bob = kms(dir.path(), &format!("bob\n{PASSWORD}\nno\n"));
    assert_eq!(bob.status.code(), Some(3), "{}", stderr(&bob));
    let keep = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\n"));
    assert_eq!(keep.status.code(), Some(3), "{}", stderr(&keep));
    assert!(stderr(&keep).contains("version 2 of the keys of alice was destroyed at"));
    let alice = kms(dir.path(), &format!("alice\n{PASSWORD}\nyes\nno\n"));
    assert!(alice.status.success(), "{}", stderr(&alice));
    let versions = read(dir.path(), "key_store.json")["alice"]["symmetric"].clone();
    assert_eq!(versions.as_array().unwrap().len(), 3);
}
