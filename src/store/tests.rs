//! The store's unit tests: the files' formats and checks as read and
//! written, the transaction, the lock and the journal.

use super::*;
use crate::CryptoError;
use crate::keys::UserRecord;
use crate::util::user::UserId;

fn chain(e: Error) -> String {
    format!("{:#}", anyhow::Error::new(e))
}

/// The store `value` as a file, with every record checked.
fn checked(value: serde_json::Value) -> std::result::Result<KeyStore, String> {
    let keys =
        KeyStore::from_json(KEY_STORE_FILE, serde_json::to_vec(&value).unwrap()).map_err(chain)?;
    keys.check_all().map_err(chain)?;
    Ok(keys)
}

#[test]
fn timestamps_read_back_bit_for_bit() {
    // Expiry and creation times are part of the symmetric key's
    // associated data: a timestamp that changed in its last bit on the
    // way through the file would make the key fail to unwrap.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = 1.7e9 + (x % 1_000_000_000) as f64 / 1e6 + (x % 997) as f64 * 1e-7;
        let back: f64 = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.to_bits(), t.to_bits(), "{t}");
    }
}

#[test]
fn missing_files_are_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, revoked) = Store::new(dir.path().join("nope")).load().unwrap();
    assert!(keys.is_empty() && revoked.is_empty());
}

#[test]
fn a_broken_file_is_named_with_its_position_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let broken = b"{\n  \"alice\": {\n    \"format\": 1,\n  oops\n}\n";
    fs::write(store.key_store_path(), broken).unwrap();
    let err = store.update(|_, _, _| Ok(())).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Store(StoreError::CorruptFile { .. })));
    assert!(msg.contains("key_store.json"), "{msg}");
    let chain = chain(err);
    assert!(chain.contains("line 4 column 3"), "{chain}");
    assert_eq!(fs::read(store.key_store_path()).unwrap(), broken);
}

#[test]
fn unknown_format_and_bad_user_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let alice = UserId::new("alice").unwrap();
    fs::write(store.key_store_path(), r#"{"alice": {"format": 9}}"#).unwrap();
    let (keys, _) = store.load().unwrap();
    let err = chain(keys.get(&alice).unwrap_err());
    assert!(err.contains("format 9 is not understood"), "{err}");
    // The position is the file's, not the record's: after a record on
    // its own line, and after multi-byte characters on its line (for
    // serde_json, columns count bytes).
    assert!(err.contains("line 1 column 23"), "{err}");
    fs::write(store.key_store_path(), "{\"alice\":\n{\"format\": 9}}").unwrap();
    let err = chain(store.load().unwrap().0.get(&alice).unwrap_err());
    assert!(err.contains("line 2 column 13"), "{err}");
    fs::write(
        store.key_store_path(),
        r#"{"bob": {"x": "ééé"}, "alice": {"format": 9}}"#,
    )
    .unwrap();
    let err = chain(store.load().unwrap().0.get(&alice).unwrap_err());
    assert!(err.contains("line 1 column 47"), "{err}");
    fs::write(store.key_store_path(), r#"{"bad id": {"format": 1}}"#).unwrap();
    assert!(chain(store.load().unwrap_err()).contains("invalid user ID"));
}

#[test]
fn unknown_fields_are_refused_so_that_a_rewrite_cannot_drop_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let alice = UserId::new("alice").unwrap();
    let pk = crate::crypto::kdf::test_key("pw");
    let mut keys = KeyStore::default();
    for _ in 0..2 {
        let key = crate::symmetric::generate_symmetric_key().unwrap();
        keys.add_symmetric(&alice, &key, 60, &pk).unwrap();
    }
    let good: serde_json::Value = serde_json::from_str(&keys.to_json().unwrap()).unwrap();
    // The good file loads.
    fs::write(store.key_store_path(), keys.to_json().unwrap().as_bytes()).unwrap();
    assert_eq!(store.load().unwrap().0, keys);

    let mut misspelled = good.clone();
    let sym = misspelled["alice"]
        .as_object_mut()
        .unwrap()
        .remove("symmetric")
        .unwrap();
    misspelled["alice"]["symetric"] = sym;
    let mut extra_in_flattened = good.clone();
    extra_in_flattened["alice"]["previous"]["symmetric"][0]["wrapped"]["rotation"] = 5.into();
    let mut extra_in_version = good.clone();
    extra_in_version["alice"]["previous"]["symmetric"][0]["state"] = "active".into();
    let mut extra_in_primary = good.clone();
    extra_in_primary["alice"]["symmetric"]["rotated"] = true.into();
    for (what, bad) in [
        ("symetric", misspelled),
        ("rotation", extra_in_flattened),
        ("state", extra_in_version),
        ("rotated", extra_in_primary),
    ] {
        let text = serde_json::to_string_pretty(&bad).unwrap();
        fs::write(store.key_store_path(), &text).unwrap();
        // A change to alice parses her record, and is refused.
        let err = chain(
            store
                .update(|keys, _, _| keys.entry(&alice).map(drop))
                .unwrap_err(),
        );
        assert!(err.contains(&format!("unknown field `{what}`")), "{err}");
        assert_eq!(fs::read_to_string(store.key_store_path()).unwrap(), text);
        // So is a change to another user when alice's record, laid out
        // otherwise than this version writes (here on one line), would
        // be written anew.
        let text = serde_json::to_string(&bad).unwrap();
        fs::write(store.key_store_path(), &text).unwrap();
        let err = chain(
            store
                .update(|keys, _, _| {
                    keys.insert(&UserId::new("bob")?, UserRecord::default());
                    Ok(())
                })
                .unwrap_err(),
        );
        assert!(err.contains(&format!("unknown field `{what}`")), "{err}");
        assert_eq!(fs::read_to_string(store.key_store_path()).unwrap(), text);
        // The new file, refused part-way through, is gone.
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(STORE_TEMP_PREFIX))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    // Laid out as this version writes it, an unknown field in alice's
    // record is kept byte for byte when bob is added.
    let written = keys.to_json().unwrap();
    let edited = written.replacen("\"symmetric\"", "\"symetric\"", 1);
    fs::write(store.key_store_path(), &edited).unwrap();
    store
        .update(|keys, _, _| {
            keys.insert(&UserId::new("bob")?, UserRecord::default());
            Ok(())
        })
        .unwrap();
    let after = fs::read_to_string(store.key_store_path()).unwrap();
    let alice_text = &edited[edited.find("\"alice\"").unwrap()..edited.rfind('}').unwrap()];
    assert!(after.contains(alice_text.trim_end()), "{after}");
    assert!(after.contains("\"bob\""));
    fs::write(store.key_store_path(), keys.to_json().unwrap().as_bytes()).unwrap();
    fs::write(
        store.revoked_keys_path(),
        r#"[{"format": 1, "user_id": "a", "revoked_at": 1.0, "reason": "unspecified", "note": "x"}]"#,
    )
    .unwrap();
    assert!(chain(store.load().unwrap_err()).contains("unknown field `note`"));
}

#[test]
fn reordered_versions_and_mixed_formats_are_refused() {
    let alice = UserId::new("alice").unwrap();
    let pk = crate::crypto::kdf::test_key("pw");
    let mut keys = KeyStore::default();
    for _ in 0..2 {
        let key = crate::symmetric::generate_symmetric_key().unwrap();
        keys.add_symmetric(&alice, &key, 60, &pk).unwrap();
    }
    let good: serde_json::Value = serde_json::from_str(&keys.to_json().unwrap()).unwrap();
    assert_eq!(checked(good.clone()).unwrap(), keys);

    let mut swapped = good.clone();
    swapped["alice"]["previous"]["symmetric"][0]["version"] = 2.into();
    swapped["alice"]["symmetric"]["version"] = 1.into();
    let err = checked(swapped).unwrap_err().to_string();
    assert!(err.contains("version 1 follows version 2"), "{err}");

    let mut backwards = good.clone();
    backwards["alice"]["symmetric"]["expiry"] = 1.0.into();
    let err = checked(backwards).unwrap_err().to_string();
    assert!(
        err.contains("symmetric key version 2 expires before it was made"),
        "{err}"
    );

    let mut old_binding = good.clone();
    old_binding["alice"]["symmetric"]["binding"] = 1.into();
    let err = checked(old_binding).unwrap_err().to_string();
    assert!(err.contains("version 2 has binding 1"), "{err}");

    let mut unnamed = good.clone();
    unnamed["alice"]["symmetric"]
        .as_object_mut()
        .unwrap()
        .remove("version");
    let err = checked(unnamed).unwrap_err().to_string();
    assert!(err.contains("names its `version` and `binding`"), "{err}");

    let mut mixed = good.clone();
    mixed["alice"]["asymmetric"] = serde_json::json!([]);
    let err = checked(mixed).unwrap_err().to_string();
    assert!(
        err.contains("format 3 record cannot hold `asymmetric`"),
        "{err}"
    );

    let mut half_a_pair = good.clone();
    half_a_pair["alice"]["private"] = good["alice"]["previous"]["symmetric"][0]["wrapped"].clone();
    let err = checked(half_a_pair).unwrap_err().to_string();
    assert!(
        err.contains("`private`, `public` and `key_pair` together"),
        "{err}"
    );

    let mut format_2 = good.clone();
    format_2["alice"]["format"] = 2.into();
    let err = checked(format_2).unwrap_err().to_string();
    assert!(
        err.contains("format 2 record cannot hold `previous`"),
        "{err}"
    );

    let mut old_shape = good.clone();
    old_shape["alice"]["format"] = 1.into();
    old_shape["alice"]
        .as_object_mut()
        .unwrap()
        .remove("previous");
    let err = checked(old_shape).unwrap_err().to_string();
    assert!(
        err.contains("format 1 record cannot hold `symmetric`"),
        "{err}"
    );
}

#[test]
fn an_rsa_key_id_that_is_not_its_public_keys_is_refused() {
    let alice = UserId::new("alice").unwrap();
    let pk = crate::crypto::kdf::test_key("pw");
    let mut keys = KeyStore::default();
    let (private_key, public_key) = crate::pki::generate_asymmetric_keys().unwrap();
    keys.add_asymmetric(&alice, &private_key, &public_key, 60, &pk)
        .unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&keys.to_json().unwrap()).unwrap();
    edited["alice"]["key_pair"]["fingerprint"] = "ab".repeat(32).into();
    let err = checked(edited).unwrap_err().to_string();
    assert!(err.contains("but its public key's SHA-256 is"), "{err}");
}

#[test]
fn writes_are_0600_and_only_changed_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("kms"));
    store
        .update(|keys, _, _| {
            keys.insert(&UserId::new("alice")?, UserRecord::default());
            Ok(())
        })
        .unwrap();
    let meta = fs::metadata(store.key_store_path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(!store.revoked_keys_path().exists());
    let leftovers: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn symbolic_links_are_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    fs::write(&real, "{}").unwrap();
    let store = Store::new(dir.path().join("kms"));
    fs::create_dir(store.dir()).unwrap();
    std::os::unix::fs::symlink(&real, store.key_store_path()).unwrap();
    let err = store.update(|_, _, _| Ok(())).unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::SymbolicLink(_))),
        "{err}"
    );
    assert!(
        fs::symlink_metadata(store.key_store_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn an_empty_store_path_is_the_current_folder() {
    assert_eq!(
        Store::new("").key_store_path(),
        Path::new("./key_store.json")
    );
}

#[test]
fn checking_writability_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    Store::new(dir.path().join("a/b/c"))
        .check_writable()
        .unwrap();
    Store::new(dir.path()).check_writable().unwrap();
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    fs::write(dir.path().join("file"), "").unwrap();
    let err = Store::new(dir.path().join("file/kms"))
        .check_writable()
        .unwrap_err();
    assert!(matches!(err, Error::Util(UtilError::Io { .. })), "{err}");
}

#[test]
fn a_failed_change_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let r: Result<()> = store.update(|keys, _, _| {
        keys.insert(&UserId::new("alice")?, UserRecord::default());
        Err(Error::Crypto(CryptoError::EmptyPassword))
    });
    assert!(r.is_err());
    assert!(!store.key_store_path().exists());
}

#[test]
fn a_second_read_of_an_unchanged_file_is_the_first_and_any_change_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Store::new(dir.path()), Store::new(dir.path()));
    let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
    let add = |store: &Store, id: &UserId| {
        store
            .update(|keys, _, _| {
                keys.insert(id, UserRecord::default());
                Ok(())
            })
            .unwrap()
    };
    add(&a, &alice);
    // What a wrote, it reads back as the file holds it.
    let text = fs::read_to_string(a.key_store_path()).unwrap();
    let (keys, _) = a.load().unwrap();
    assert_eq!(keys.to_json().unwrap(), text);
    assert_eq!(keys.get(&alice).unwrap(), Some(&UserRecord::default()));
    // Another writer's change (a new file, renamed over) is seen.
    add(&b, &bob);
    assert!(a.load().unwrap().0.get(&bob).unwrap().is_some());
    assert!(b.load().unwrap().0.get(&bob).unwrap().is_some());
    // So is an edit made in place, of the same size (after a pause, so
    // that the file's change time moves on coarse clocks too).
    std::thread::sleep(std::time::Duration::from_millis(50));
    let edited = fs::read_to_string(a.key_store_path())
        .unwrap()
        .replacen("\"bob\"", "\"bod\"", 1);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(a.key_store_path())
        .unwrap();
    file.write_all(edited.as_bytes()).unwrap();
    drop(file);
    let (keys, _) = a.load().unwrap();
    assert!(keys.get(&bob).unwrap().is_none());
    assert!(keys.get(&UserId::new("bod").unwrap()).unwrap().is_some());
}

#[test]
fn concurrent_updates_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    std::thread::scope(|s| {
        for i in 0..8 {
            let store = store.clone();
            s.spawn(move || {
                store
                    .update(|keys, _, _| {
                        keys.insert(&UserId::new(&format!("user{i}"))?, UserRecord::default());
                        Ok(())
                    })
                    .unwrap();
            });
        }
    });
    assert_eq!(store.load().unwrap().0.user_ids().count(), 8);
}
