//! Hostile and broken store files, one per case under `tests/data/store/`,
//! each named for what is wrong with it (`fail_...`). Every one must stop
//! the session before any question with exit code 1, an error that names the
//! file, and the files left byte for byte as they were. The `pass_...` files
//! are a good store (password `classroom-test-password`) that each case
//! starts from.

use std::fs;
use std::path::Path;

use crate::util::{kms, snapshot, stderr, stdout};

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

/// What each case must be refused for: a part of the message, so that a case
/// refused for some other reason fails the test.
const EXPECTED: &[(&str, &str)] = &[
    ("fail_duplicate_user", "user ID \"alice\" appears twice"),
    ("fail_empty_file", "EOF while parsing a value"),
    (
        "fail_expiry_1e308",
        "timestamp 1e308 is not a time between 1970 and 9999",
    ),
    (
        "fail_expiry_is_a_string",
        "invalid type: string \"tomorrow\", expected f64",
    ),
    ("fail_expiry_missing", "missing field `expiry`"),
    (
        "fail_expiry_negative",
        "timestamp -1 is not a time between 1970 and 9999",
    ),
    (
        "fail_fingerprint_not_hex",
        "a fingerprint must be 64 lower-case hex digits",
    ),
    ("fail_invalid_base64_key", "invalid base64"),
    (
        "fail_iterations_1",
        "1 PBKDF2 iterations is outside the accepted range",
    ),
    (
        "fail_iterations_10000000_over_the_cap",
        "10000000 PBKDF2 iterations is outside the accepted range 1000 to 6000000",
    ),
    ("fail_iterations_negative", "integer `-5`, expected u32"),
    ("fail_missing_format", "missing field `format`"),
    ("fail_misspelled_field", "unknown field `symetric`"),
    ("fail_nan_expiry", "expected value at line 8"),
    (
        "fail_nested_10000_deep",
        "invalid type: sequence, expected an object",
    ),
    (
        "fail_nonce_of_16_bytes",
        "expected 12 bytes of base64, found 16",
    ),
    ("fail_not_json", "expected ident at line 1"),
    ("fail_not_utf8", "invalid unicode code point"),
    ("fail_public_not_a_pem", "not an RSA public key PEM"),
    ("fail_public_pem_garbage", "not an RSA public key PEM"),
    (
        "fail_record_not_an_object",
        "invalid type: integer `5`, expected struct UserRecord",
    ),
    ("fail_revoked_bad_user_id", "invalid user ID \"../etc\""),
    ("fail_revoked_format_9", "format 9 is not understood"),
    ("fail_revoked_negative_time", "timestamp -3 is not a time"),
    (
        "fail_revoked_not_a_list",
        "invalid type: map, expected a sequence",
    ),
    ("fail_revoked_truncated", "EOF while parsing"),
    ("fail_revoked_unknown_field", "unknown field `note`"),
    (
        "fail_revoked_unknown_reason",
        "unknown variant `fellOffATruck`",
    ),
    (
        "fail_salt_of_8_bytes",
        "expected 16 bytes of base64, found 8",
    ),
    (
        "fail_top_level_array",
        "invalid type: sequence, expected an object",
    ),
    ("fail_truncated", "EOF while parsing an object"),
    ("fail_unknown_cipher", "unknown variant `des-ecb`"),
    (
        "fail_unknown_field_in_symmetric",
        "unknown field `rotation`",
    ),
    ("fail_unknown_format_version", "format 9 is not understood"),
    (
        "fail_format_2_record_in_format_1_shape",
        "a format 2 record cannot hold `private` in that form",
    ),
    ("fail_unknown_kdf", "unknown variant `md5`"),
    (
        "fail_symmetric_key_of_8_bytes",
        "a sealed key is at least 17 bytes of base64 (the 16-byte tag and the key), found 8",
    ),
    ("fail_user_id_with_a_space", "invalid user ID \"bob smith\""),
    ("fail_utf8_bom", "UTF-8 byte order mark"),
];

/// The cases whose damage is inside alice's record. Loading checks a file's
/// JSON and its user IDs; a record is parsed when it is used, so these are
/// refused once the session knows the user, before it asks the password.
const INSIDE_A_RECORD: &[&str] = &[
    "fail_expiry_1e308",
    "fail_expiry_is_a_string",
    "fail_expiry_missing",
    "fail_expiry_negative",
    "fail_fingerprint_not_hex",
    "fail_format_2_record_in_format_1_shape",
    "fail_invalid_base64_key",
    "fail_iterations_1",
    "fail_iterations_10000000_over_the_cap",
    "fail_iterations_negative",
    "fail_missing_format",
    "fail_misspelled_field",
    "fail_nonce_of_16_bytes",
    "fail_public_not_a_pem",
    "fail_public_pem_garbage",
    "fail_record_not_an_object",
    "fail_salt_of_8_bytes",
    "fail_symmetric_key_of_8_bytes",
    "fail_unknown_cipher",
    "fail_unknown_field_in_symmetric",
    "fail_unknown_format_version",
    "fail_unknown_kdf",
];

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
    assert_eq!(
        cases.len(),
        EXPECTED.len(),
        "every case file needs an expectation"
    );
    for case in &cases {
        let dir = store_with(Some(case));
        let before = snapshot(dir.path());
        let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nyes\nyes\n"));
        let err = stderr(&out);
        let name = case.file_name().unwrap().to_string_lossy();
        let stem = name.trim_end_matches(".json");
        let (_, why) = EXPECTED
            .iter()
            .find(|(case, _)| *case == stem)
            .unwrap_or_else(|| panic!("no expectation for {name}"));
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(why), "{name}: expected {why:?} in {err}");
        assert!(
            err.contains(&format!(
                "{} is broken and was left unchanged",
                target_of(case)
            )),
            "{name}: {err}"
        );
        // Where it is broken: serde_json's position, except for a BOM, which
        // is before the first character.
        if name != "fail_utf8_bom.json" {
            assert!(err.contains(" at line "), "{name}: no position in {err}");
        }
        let asked = if INSIDE_A_RECORD.contains(&stem) {
            "Enter the user ID: alice\n"
        } else {
            ""
        };
        assert_eq!(
            stdout(&out),
            asked,
            "{name}: asked a question before checking the store"
        );
        assert_eq!(snapshot(dir.path()), before, "{name}: a file was changed");
    }
}

/// A broken record of one user does not stop another's work, is written
/// back byte for byte by every change, and is refused, by file and line,
/// by whatever reads it: `status` of that user, `list` and `audit --verify`,
/// which read every record.
#[test]
fn a_broken_record_is_kept_as_it_is_and_refused_where_it_is_read() {
    let dir = store_with(None);
    fs::write(dir.path().join("pw"), PASSWORD).unwrap();
    let run = |args: &[&str]| {
        crate::util::kms_command(dir.path())
            .args(["--store", ".", "--password-file", "pw"])
            .args(args)
            .output()
            .unwrap()
    };
    // carol's record, as this version writes it, is the one broken.
    assert!(run(&["keygen", "carol"]).status.success());
    let path = dir.path().join("key_store.json");
    let text = fs::read_to_string(&path).unwrap();
    let carol_at = text.find("\"carol\": {").unwrap();
    let edited = format!(
        "{}{}",
        &text[..carol_at],
        text[carol_at..].replacen(
            "\"format\": 3,",
            "\"format\": 3,\n    \"note\": \"edited\",",
            1
        )
    );
    fs::write(&path, &edited).unwrap();
    let carol_record = &edited[carol_at..edited.rfind('}').unwrap()];
    let line = edited[..edited.find("\"note\"").unwrap()]
        .matches('\n')
        .count()
        + 1;

    for args in [&["status", "carol"][..], &["list"], &["audit", "--verify"]] {
        let out = run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("key_store.json is broken"), "{args:?}: {err}");
        assert!(err.contains("unknown field `note`"), "{args:?}: {err}");
        assert!(err.contains(&format!("at line {line} ")), "{args:?}: {err}");
    }
    // alice's keys, her session and her changes work, and keep carol's text.
    assert!(run(&["status", "alice"]).status.success());
    let session = |args: &[&str]| {
        crate::util::kms_command(dir.path())
            .args(args)
            .write_stdin(format!("alice\n{PASSWORD}\nno\nno\n"))
            .output()
            .unwrap()
    };
    let out = session(&["--show-store"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(carol_record.trim_end()));
    // By default the session shows alice's record alone, and counts carol.
    let out = session(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("carol\": {"), "{}", stdout(&out));
    assert!(stdout(&out).contains("other user"), "{}", stdout(&out));
    let out = run(&["rotate", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = fs::read_to_string(&path).unwrap();
    assert_ne!(after, edited, "the rotation was not written");
    assert!(after.contains(carol_record.trim_end()), "{after}");
    // A change that dies after its commit is finished by the next run,
    // though the file it prepared holds carol's broken record.
    let died = crate::util::kms_command(dir.path())
        .args(["--store", ".", "--password-file", "pw", "rotate", "alice"])
        .env("SECURE_KMS_CRASH_AFTER", "journal")
        .output()
        .unwrap();
    assert!(!died.status.success());
    assert!(dir.path().join(".secure-kms.journal").exists());
    // A command that only reads leaves it; the next change finishes it.
    let out = run(&["status", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join(".secure-kms.journal").exists());
    let out = run(&["recover"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.path().join(".secure-kms.journal").exists());
    let finished = fs::read_to_string(&path).unwrap();
    assert!(finished.contains("\"version\": 3"), "the rotation was lost");
    assert!(finished.contains(carol_record.trim_end()));

    // Laid out otherwise than this version writes it (on one line), the
    // broken record would be written anew: a change is refused, and the
    // session, which shows the whole store at its end, fails before it
    // shows any of it. Nothing is written.
    let one_line = finished.replacen(
        carol_record.trim_end(),
        r#""carol": {"format": 2, "symmetric": [], "asymmetric": [], "note": "edited"}"#,
        1,
    );
    fs::write(&path, &one_line).unwrap();
    let before = snapshot(dir.path());
    let out = run(&["rotate", "alice"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown field `note`"),
        "{}",
        stderr(&out)
    );
    let out = session(&["--show-store"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(shown.ends_with("Final Key Store State:\n"), "{shown}");
    // Showing alice's record alone, the session need not parse carol's.
    let out = session(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(snapshot(dir.path()) == before, "a file was changed");
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

/// Runs the session on `dir` as a user who is not root (`nobody`, through
/// util-linux's `setpriv`) when the tests run as root, since root reads
/// and writes whatever the permissions say.
fn session_without_root(dir: &Path, stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let root = fs::metadata(dir).unwrap().uid() == 0;
    // A copy nobody can run: the build folder may sit under a home folder
    // that nobody cannot enter.
    let bin_dir = tempfile::tempdir().unwrap();
    let mut command = if root {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(bin_dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let copy = bin_dir.path().join("secure-kms");
        fs::copy(env!("CARGO_BIN_EXE_secure-kms"), &copy).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(copy);
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_secure-kms"))
    };
    let mut child = command
        .env_remove("KMS_STORE")
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("setpriv (util-linux) runs the test as nobody");
    // A store refused before any question may exit before it reads its
    // input: a closed pipe here is that refusal, not a failure.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// The cases that are not file contents: the store file as a symbolic
/// link, as a folder, unreadable, 50 MB long, and the store in a folder
/// that cannot be written. Each is refused before any question, naming
/// the file or folder (the session's store is the current folder, `.`),
/// and nothing changes.
#[test]
fn hostile_store_paths_are_refused_by_name_and_left_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    type Setup = fn(&Path);
    let cases: [(&str, Setup, &str); 5] = [
        (
            "key_store.json is a symbolic link",
            |dir| {
                fs::rename(dir.join("key_store.json"), dir.join("real.json")).unwrap();
                std::os::unix::fs::symlink("real.json", dir.join("key_store.json")).unwrap();
            },
            "./key_store.json is a symbolic link",
        ),
        (
            "key_store.json is a folder",
            |dir| {
                fs::remove_file(dir.join("key_store.json")).unwrap();
                fs::create_dir(dir.join("key_store.json")).unwrap();
            },
            "./key_store.json was refused and left as it is: it is not a regular file",
        ),
        (
            "key_store.json is 50 MB",
            |dir| {
                let mut big = b"{\"".to_vec();
                big.resize(50 << 20, b'A');
                big.extend_from_slice(b"\": {\"format\": 2}}\n");
                fs::write(dir.join("key_store.json"), big).unwrap();
            },
            "./key_store.json is broken and was left unchanged",
        ),
        (
            "key_store.json cannot be read",
            |dir| {
                let file = dir.join("key_store.json");
                fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
            },
            "cannot read ./key_store.json",
        ),
        (
            "the store folder cannot be written",
            |dir| fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap(),
            "cannot write in .",
        ),
    ];
    for (name, setup, why) in cases {
        let dir = store_with(None);
        // Readable by the user the session runs as, but for the case.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["key_store.json", "revoked_keys.json"] {
            let file = dir.path().join(name);
            fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        }
        setup(dir.path());
        let before = snapshot(dir.path());
        let out = session_without_root(dir.path(), &format!("alice\n{PASSWORD}\nyes\nyes\n"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(why), "{name}: expected {why:?} in {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert_eq!(stdout(&out), "", "{name}: asked a question first");
        assert_eq!(snapshot(dir.path()), before, "{name}: a file was changed");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    }
}
