//! The audit log checked against the store it recorded
//! (`store::audit::cross_check`): a store changed through the product's
//! own commands agrees with its log, and each way of making them disagree
//! by hand (lines cut, a revocation removed, a rollback, a log started
//! anew) is named.

use std::fs;

use secure_kms::Result;
use secure_kms::crypto::kdf::{KdfParams, MIN_ITERATIONS, Password, PasswordKey};
use secure_kms::revocation::RevocationReason;
use secure_kms::store::Store;
use secure_kms::store::audit::{AUDIT_FILE, CrossCheck, Event, EventKind, cross_check, verify};
use secure_kms::util::user::UserId;

fn alice() -> UserId {
    UserId::new("alice").unwrap()
}

/// A store changed through the product's own commands, with its log.
fn logged_store() -> (tempfile::TempDir, Store) {
    use secure_kms::ops::commands::{revoke, rotate};
    let dir = tempfile::tempdir().unwrap();
    let store = secure_kms::ca::open_store(dir.path());
    let alice = alice();
    let pw = Password::new("pw".to_owned()).unwrap();
    let pk = PasswordKey::derive(&pw, &KdfParams::generate(MIN_ITERATIONS).unwrap());
    secure_kms::store::versions::add_version(
        &store,
        &alice,
        &pk,
        60,
        None,
        EventKind::Created,
        "test",
    )
    .unwrap();
    rotate(&store, &alice, &pw, 60).unwrap();
    revoke(
        &store,
        &alice,
        &pw,
        RevocationReason::Superseded,
        Some(1),
        "test",
    )
    .unwrap();
    (dir, store)
}

fn check(store: &Store) -> Result<CrossCheck> {
    let (keys, revoked) = store.load()?;
    cross_check(&verify(store.dir())?, &keys, &revoked)
}

#[test]
fn the_log_agrees_with_the_store_it_recorded() {
    let (_dir, store) = logged_store();
    check(&store).unwrap();
}

#[test]
fn lines_cut_off_the_end_are_caught_by_the_store() {
    let (_dir, store) = logged_store();
    let path = store.dir().join(AUDIT_FILE);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Without its last line (the revocation), the chain itself is intact.
    fs::write(&path, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let err = check(&store).unwrap_err().to_string();
    assert!(
        err.contains("the revocation of version 1 of alice"),
        "{err}"
    );
    fs::write(&path, format!("{}\n", lines[0])).unwrap();
    let err = check(&store).unwrap_err().to_string();
    assert!(err.contains("version 2 of alice"), "{err}");
}

#[test]
fn an_unrevoked_key_is_caught_by_the_log() {
    let (_dir, store) = logged_store();
    // Someone empties the revocation list by hand.
    fs::write(store.revoked_keys_path(), "[]").unwrap();
    let err = check(&store).unwrap_err().to_string();
    assert!(
        err.contains("line 3 records that version 1 of alice was revoked"),
        "{err}"
    );
}

#[test]
fn keys_from_before_the_log_are_not_expected_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/store");
    fs::copy(
        format!("{data}/pass_key_store.json"),
        dir.path().join("key_store.json"),
    )
    .unwrap();
    fs::copy(
        format!("{data}/pass_revoked_keys.json"),
        dir.path().join("revoked_keys.json"),
    )
    .unwrap();
    let store = secure_kms::ca::open_store(dir.path());
    check(&store).unwrap();
}

#[test]
fn a_store_rolled_back_before_a_rotation_is_caught() {
    let (_dir, store) = logged_store();
    let alice = alice();
    let (mut keys, _) = store.load().unwrap();
    let record = keys.entry(&alice).unwrap();
    record.symmetric.pop();
    record.asymmetric.pop();
    std::fs::write(store.key_store_path(), keys.to_json().unwrap().as_bytes()).unwrap();
    let err = check(&store).unwrap_err().to_string();
    assert!(
        err.contains("line 2 records that version 2 of alice was rotated"),
        "{err}"
    );
}

#[test]
fn a_log_that_starts_after_logged_versions_vouches_for_nothing() {
    let (_dir, store) = logged_store();
    assert_eq!(check(&store).unwrap().unchecked_versions, 0);
    // The log moved aside (or deleted): the next change starts a new
    // one, which cannot say what happened to the versions before it.
    fs::rename(
        store.dir().join(AUDIT_FILE),
        store.dir().join("audit.log.old"),
    )
    .unwrap();
    store
        .log(Event::new(
            EventKind::AuthenticationFailed,
            &alice(),
            "test",
        ))
        .unwrap();
    let err = check(&store).unwrap_err().to_string();
    assert!(err.contains("after version 1 of alice was made"), "{err}");
    assert!(err.contains("restore it from a backup"), "{err}");
}
