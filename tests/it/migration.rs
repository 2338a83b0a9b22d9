//! Stores written in older formats load as they are and are migrated to
//! format 3 on the next write: format 1 (one key of each kind per user,
//! before key versions; `tests/data/store/pass_*.json`) and format 2 (the
//! two rings of versions as lists; `tests/data/store/format2/`). Both were
//! written by secure-kms itself (users alice and bob, password
//! `classroom-test-password`, bob revoked; see `tests/data/README.md`).

use std::fs;

use crate::util::{kms, kms_command, snapshot, stderr, stdout};
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
    // alice's version 1 is now under `previous`; bob's is still his newest,
    // at the top, in the original's shape.
    let alice_v1 = &new["alice"]["previous"]["symmetric"][0];
    let bob_v1 = &new["bob"]["symmetric"];
    for (user, v1, key) in [
        ("alice", alice_v1, &alice_v1["wrapped"]["key"]),
        ("bob", bob_v1, &bob_v1["key"]),
    ] {
        assert_eq!(new[user]["format"], 3, "{user}");
        assert_eq!(v1["version"], 1);
        // Keys keep the associated data they were sealed with (binding 1),
        // so no password was needed to migrate bob.
        assert_eq!(v1["binding"], 1);
        assert_eq!(*key, old[user]["symmetric"]["key"]);
        assert_eq!(v1["expiry"], old[user]["symmetric"]["expiry"]);
    }
    let alice_rsa = &new["alice"]["previous"]["asymmetric"][0];
    assert_eq!(alice_rsa["public"], old["alice"]["public"]);
    assert_eq!(alice_rsa["private"]["key"], old["alice"]["private"]["key"]);
    assert_eq!(new["bob"]["public"], old["bob"]["public"]);
    assert_eq!(new["bob"]["private"]["key"], old["bob"]["private"]["key"]);
    assert_eq!(new["alice"]["symmetric"]["binding"], 2);

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
    let alice = read(dir.path(), "key_store.json")["alice"].clone();
    assert_eq!(alice["symmetric"]["version"], 3);
    assert_eq!(alice["previous"]["symmetric"].as_array().unwrap().len(), 2);
}

/// A format 2 store (the rings as lists `symmetric` and `asymmetric`) is
/// read as it is, and the next change writes every record in format 3:
/// the newest keys in the original's shape, older versions under
/// `previous`, each wrapped key byte for byte as it was.
#[test]
fn a_format_2_store_is_read_and_rewritten_in_the_original_shape() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["key_store.json", "revoked_keys.json", "audit.log"] {
        fs::copy(format!("{DATA}/format2/{file}"), dir.path().join(file)).unwrap();
    }
    fs::write(dir.path().join("pw"), PASSWORD).unwrap();
    let old = read(dir.path(), "key_store.json");
    assert_eq!(old["alice"]["format"], 2);
    let before = snapshot(dir.path());
    let alice = json(dir.path(), &["status", "alice"]);
    assert_eq!(alice["versions"][1]["state"], "active");
    assert_eq!(
        json(dir.path(), &["status", "bob"])["versions"][0]["state"],
        "compromised"
    );
    assert!(snapshot(dir.path()) == before, "reading rewrote a file");

    // A change to alice rewrites bob's record too.
    assert_eq!(
        json(dir.path(), &["rotate", "alice", "--expiry", "60"])["version"],
        3
    );
    let new = read(dir.path(), "key_store.json");
    for user in ["alice", "bob"] {
        assert_eq!(new[user]["format"], 3, "{user}");
        assert!(new[user].get("asymmetric").is_none(), "{user}");
    }
    let bob = &new["bob"];
    let bob_old = &old["bob"];
    assert_eq!(
        bob["symmetric"]["key"],
        bob_old["symmetric"][0]["wrapped"]["key"]
    );
    assert_eq!(
        bob["symmetric"]["expiry"],
        bob_old["symmetric"][0]["expiry"]
    );
    assert_eq!(bob["private"], bob_old["asymmetric"][0]["private"]);
    assert_eq!(bob["public"], bob_old["asymmetric"][0]["public"]);
    assert_eq!(
        bob["key_pair"]["fingerprint"],
        bob_old["asymmetric"][0]["fingerprint"]
    );
    assert!(bob.get("previous").is_none());
    let previous = &new["alice"]["previous"];
    for ring in ["symmetric", "asymmetric"] {
        assert_eq!(previous[ring][0], old["alice"][ring][0], "{ring}");
        assert_eq!(previous[ring][1], old["alice"][ring][1], "{ring}");
    }
    assert_eq!(new["alice"]["symmetric"]["version"], 3);

    // Every key still unlocks, the log still agrees, bob is still refused.
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(dir.path(), &["audit", "--verify"])["events"], 5);
    let bob = kms(dir.path(), &format!("bob\n{PASSWORD}\nno\n"));
    assert_eq!(bob.status.code(), Some(3), "{}", stderr(&bob));
}
