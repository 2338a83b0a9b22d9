//! Hostile and broken store files, one per case under `tests/data/store/`,
//! each named for what is wrong with it (`fail_...`). Every one must stop
//! the session before any question with exit code 1, an error that names the
//! file, and the files left byte for byte as they were. The `pass_...` files
//! are a good store (password `classroom-test-password`) that each case
//! starts from.

mod common;

use std::fs;
use std::path::Path;

use common::{kms, stderr, stdout};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/store");
const PASSWORD: &str = "classroom-test-password";

/// A store folder holding the good files, with `replace` (if any) put in
/// place of the file it is a case for.
fn store_with(replace: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        format!("{DATA}/pass_key_store.json"),
        dir.path().join("key_store.json"),
    )
    .unwrap();
    fs::copy(
        format!("{DATA}/pass_revoked_keys.json"),
        dir.path().join("revoked_keys.json"),
    )
    .unwrap();
    if let Some(case) = replace {
        fs::copy(case, dir.path().join(target_of(case))).unwrap();
    }
    dir
}

fn target_of(case: &Path) -> &'static str {
    let name = case.file_name().unwrap().to_str().unwrap();
    if name.starts_with("fail_revoked_") {
        "revoked_keys.json"
    } else {
        "key_store.json"
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["key_store.json", "revoked_keys.json"]
        .iter()
        .map(|f| (f.to_string(), fs::read(dir.join(f)).unwrap()))
        .collect()
}

#[test]
fn every_hostile_file_is_refused_by_name_and_left_unchanged() {
    let mut cases: Vec<_> = fs::read_dir(DATA)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("fail_")
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    for case in &cases {
        let dir = store_with(Some(case));
        let before = files(dir.path());
        let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nyes\nyes\n"));
        let err = stderr(&out);
        let name = case.file_name().unwrap().to_string_lossy();
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&format!(
                "{} is broken and was left unchanged",
                target_of(case)
            )),
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        // Where it is broken: serde_json's position, except for a BOM, which
        // is before the first character.
        if name != "fail_utf8_bom.json" {
            assert!(err.contains(" at line "), "{name}: no position in {err}");
        }
        assert_eq!(
            stdout(&out),
            "",
            "{name}: asked a question before checking the store"
        );
        assert_eq!(files(dir.path()), before, "{name}: a file was changed");
    }
}

#[test]
fn the_good_store_the_cases_start_from_works() {
    // A store written by this format version keeps loading and unlocking.
    let dir = store_with(None);
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Keeping the existing keys for alice"));
    // bob's keys are on the revocation list.
    let out = kms(dir.path(), &format!("bob\n{PASSWORD}\nno\n"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
