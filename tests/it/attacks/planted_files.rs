//! Planted links and journals: nothing is read or written through a
//! symbolic link, and a journal is finished only if it is the user's own
//! and chains onto the log.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::util::{Class, code, stderr};

/// The commands tried on each planted folder: two that only read, two
/// that change the store, and the interactive session.
fn attempts(class: &Class) -> Vec<(&'static str, std::process::Output)> {
    let store = class.store();
    let session = crate::util::kms_command(class.dir.path())
        .args(["--store", store.to_str().unwrap()])
        .write_stdin(format!("carol\n{}\nno\n", crate::util::PASSWORD))
        .output()
        .unwrap();
    vec![
        ("list", class.run(&["list"])),
        ("audit --verify", class.run(&["audit", "--verify"])),
        ("keygen", class.run(&["keygen", "bob"])),
        ("recover", class.run(&["recover"])),
        ("revoke", class.run(&["revoke", "alice"])),
        ("session", session),
    ]
}

/// A file of the user's outside the store, which a link points at.
fn victim(class: &Class) -> std::path::PathBuf {
    let path = class.dir.path().join("bashrc");
    fs::write(&path, "the user's own file\n").unwrap();
    path
}

/// A store with alice in it, then `plant` run on its folder.
fn planted(plant: impl FnOnce(&Path, &Path)) -> (Class, std::path::PathBuf) {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let victim = victim(&class);
    plant(&class.store(), &victim);
    (class, victim)
}

fn write_0600(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// The issue's case: `audit.log` a link to the user's file, and a journal
/// whose only step is to write TEXT into the log. Before, a plain `list`
/// cut the link's target and wrote TEXT into it.
#[test]
fn a_planted_journal_never_writes_through_a_linked_log() {
    for relative in [true, false] {
        let (class, victim) = planted(|store, victim| {
            fs::remove_file(store.join("audit.log")).unwrap();
            if relative {
                symlink("../bashrc", store.join("audit.log")).unwrap();
            } else {
                symlink(victim, store.join("audit.log")).unwrap();
            }
            write_0600(
                &store.join(".secure-kms.journal"),
                r#"{"format":3,"replace":[],"audit_length":0,"audit_lines":"TEXT\n"}"#,
            );
        });
        let before = class.files();
        for (what, out) in attempts(&class) {
            let err = stderr(&out);
            assert_eq!(code(&out), Some(1), "{what} (relative {relative}): {err}");
            assert!(
                err.contains("audit.log is a symbolic link"),
                "{what} (relative {relative}): {err}"
            );
            assert_eq!(
                fs::read_to_string(&victim).unwrap(),
                "the user's own file\n",
                "{what} (relative {relative}) wrote through the link"
            );
        }
        assert_eq!(class.files(), before, "relative {relative}");
    }
}

/// `.secure-kms.lock` as a link: before, the lock was created through it,
/// making an empty file wherever it pointed (or opening the user's file
/// for writing). Now every command refuses it and the target stays as it
/// was, or absent.
#[test]
fn a_linked_lock_file_is_refused_and_nothing_is_made_where_it_points() {
    for (name, target) in [
        ("an existing file", "../bashrc"),
        ("a missing file, relative", "../made-by-the-lock"),
        ("a missing file, absolute", "ABSOLUTE"),
    ] {
        let (class, victim) = planted(|store, _| {
            fs::remove_file(store.join(".secure-kms.lock")).unwrap();
        });
        let absolute = class.dir.path().join("made-absolutely");
        let target = if target == "ABSOLUTE" {
            absolute.to_str().unwrap().to_owned()
        } else {
            target.to_owned()
        };
        symlink(&target, class.store().join(".secure-kms.lock")).unwrap();
        let before = class.files();
        for (what, out) in attempts(&class) {
            let err = stderr(&out);
            assert_eq!(code(&out), Some(1), "{name}, {what}: {err}");
            assert!(
                err.contains(".secure-kms.lock is a symbolic link"),
                "{name}, {what}: {err}"
            );
        }
        assert_eq!(
            fs::read_to_string(&victim).unwrap(),
            "the user's own file\n"
        );
        assert!(
            !class.dir.path().join("made-by-the-lock").exists(),
            "{name}"
        );
        assert!(!absolute.exists(), "{name}");
        assert_eq!(class.files(), before, "{name}");
    }
}

/// A hard link in the store folder to a file of the user's: a write to
/// the log would change that file too, so the change is refused.
#[test]
fn a_log_hard_linked_to_another_file_is_not_written() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let other = class.dir.path().join("other-name");
    fs::hard_link(class.store().join("audit.log"), &other).unwrap();
    let before = fs::read(&other).unwrap();
    let out = class.run(&["keygen", "bob"]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(1), "{err}");
    assert!(err.contains("2 names (hard links)"), "{err}");
    assert_eq!(fs::read(&other).unwrap(), before);
}

/// A journal that is not a regular 0600 file of the user, or whose lines
/// do not chain onto the log where it says, is refused before anything is
/// cut or written, by a change; a read does not touch it at all.
#[test]
fn a_journal_that_is_not_the_users_own_change_is_refused_before_any_write() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    class.ok(&["rotate", "alice"]);
    let log = fs::read_to_string(class.store().join("audit.log")).unwrap();
    let first_line = &log[..=log.find('\n').unwrap()];
    let journal = |length: usize, lines: &str| {
        serde_json::json!({"format": 3, "replace": [], "audit_length": length, "audit_lines": lines})
            .to_string()
    };
    // A line that chains onto the log's last line, but is not where it says.
    let cases: Vec<(&str, String, u32, &str)> = vec![
        (
            "lines that are not the log's",
            journal(log.len(), "TEXT\n"),
            0o600,
            "do not chain onto audit.log",
        ),
        (
            "a length that cuts the log back",
            journal(0, first_line),
            0o600,
            "not the lines this change adds",
        ),
        (
            "a length inside a line",
            journal(log.len() - 3, "TEXT\n"),
            0o600,
            "not the end of a line",
        ),
        (
            "a length past the log",
            journal(log.len() + 10, ""),
            0o600,
            "the log was cut",
        ),
        (
            "a journal others can read",
            journal(log.len(), ""),
            0o644,
            "its mode is 644",
        ),
    ];
    for (name, text, mode, why) in cases {
        let path = class.store().join(".secure-kms.journal");
        fs::write(&path, &text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let before = class.files();
        let out = class.run(&["keygen", "bob"]);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(1), "{name}: {err}");
        assert!(err.contains(why), "{name}: expected {why:?} in {err}");
        assert_eq!(class.files(), before, "{name}: a file changed");
        // A command that only reads never applies it: it refuses it too
        // (it would count its revocations), and writes nothing.
        let out = class.run(&["status", "alice"]);
        assert_eq!(class.files(), before, "{name}: status changed a file");
        assert_eq!(code(&out), Some(1), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{name}: {}", stderr(&out));
        fs::remove_file(&path).unwrap();
    }
    assert_eq!(
        fs::read_to_string(class.store().join("audit.log")).unwrap(),
        log
    );
}

/// A genuine unfinished change (a run killed after its commit point) is
/// left alone by a command that only reads, whose output says so, while
/// the revocation it commits already counts; the next change finishes it.
#[test]
fn a_read_leaves_an_unfinished_change_and_honours_its_revocation() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    fs::write(class.dir.path().join("data"), "secret data").unwrap();
    // The debug build's crash hook stops the revocation after its commit.
    let store = class.store();
    let pw = class.dir.path().join("pw");
    let out = crate::util::kms_command(class.dir.path())
        .env("SECURE_KMS_CRASH_AFTER", "journal")
        .args([
            "--store",
            store.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .args(["revoke", "alice", "--version", "1"])
        .output()
        .unwrap();
    assert_eq!(code(&out), None, "the crash hook stops the run");
    assert!(store.join(".secure-kms.journal").exists());
    let before = class.files();
    let out = class.run(&["status", "alice"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("did not finish"), "{}", stderr(&out));
    assert_eq!(class.files(), before, "a read finished the change");
    // Using the key is refused: the pending revocation counts.
    let out = class.run(&["encrypt", "alice", "data", "data.enc"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(class.files(), before);
    // `recover` finishes it, as any change would.
    assert!(class.ok(&["recover"]).contains("finished"));
    assert!(!store.join(".secure-kms.journal").exists());
    assert_eq!(class.states("alice"), ["compromised"]);
    class.ok(&["audit", "--verify"]);
}

/// A journal of the previous format, whose prepared file is "gone", makes
/// recovery read the target to compare its hash: a FIFO there used to hang
/// every change (holding the lock), and a link was read through. Both are
/// refused at once.
#[test]
fn a_format_2_journal_never_reads_its_target_through_a_fifo_or_a_link() {
    for kind in ["fifo", "link"] {
        let (class, _) = planted(|store, victim| {
            let target = store.join("key_store.json");
            fs::remove_file(&target).unwrap();
            if kind == "fifo" {
                let made = std::process::Command::new("mkfifo")
                    .arg(&target)
                    .status()
                    .unwrap();
                assert!(made.success());
            } else {
                symlink(victim, &target).unwrap();
            }
            let length = fs::metadata(store.join("audit.log")).unwrap().len();
            let journal = serde_json::json!({
                "format": 2,
                "replace": [{"prepared": ".secure-kms-store-gone.tmp", "target": "key_store.json", "sha256": "0".repeat(64)}],
                "audit_length": length, "audit_lines": "",
            });
            write_0600(&store.join(".secure-kms.journal"), &journal.to_string());
        });
        let out = crate::util::kms_command(class.dir.path())
            .args(["--store", class.store().to_str().unwrap(), "recover"])
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), Some(1), "{kind}: {err}");
        let why = if kind == "fifo" {
            "not a regular file"
        } else {
            "is a symbolic link"
        };
        assert!(err.contains(why), "{kind}: {err}");
    }
}

/// A sparse 64 GB `audit.log` is refused by its size, not read (it used to
/// abort the run, asking for 64 GB of memory at once).
#[test]
fn a_huge_sparse_log_is_refused_not_read() {
    let (class, _) = planted(|store, _| {
        let log = fs::OpenOptions::new()
            .write(true)
            .open(store.join("audit.log"))
            .unwrap();
        log.set_len(64 << 30).unwrap();
    });
    for args in [
        &["status", "alice"][..],
        &["export", "alice", "--public"][..],
    ] {
        let out = class.run(args);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(1), "{args:?}: {err}");
        assert!(err.contains("larger than"), "{args:?}: {err}");
    }
}

/// Copies a folder's files (not its subfolders).
fn copy_folder(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Every file of a store with a CA, and the journal, replaced by a link
/// (relative and absolute) to a file of the user's: a read and a change
/// each refuse it by name, and the file it points at is left byte for
/// byte.
#[test]
fn every_store_file_as_a_link_is_refused_and_its_target_untouched() {
    let template = Class::new();
    fs::write(
        template.dir.path().join("admin"),
        "administrator password\n",
    )
    .unwrap();
    let out = template.run_with("admin", &["ca", "init", "--bits", "2048"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    template.ok(&["keygen", "alice"]);
    let out = template.run_with("admin", &["crl", "refresh"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let names = [
        "key_store.json",
        "revoked_keys.json",
        "audit.log",
        ".secure-kms.journal",
        "ca_key.json",
        "ca_root.pem",
        "crl.pem",
    ];
    for name in names {
        for relative in [true, false] {
            let class = Class::new();
            copy_folder(&template.store(), &class.store());
            let victim = victim(&class);
            let path = class.store().join(name);
            let _ = fs::remove_file(&path);
            if relative {
                symlink("../bashrc", &path).unwrap();
            } else {
                symlink(&victim, &path).unwrap();
            }
            let case = format!("{name} (relative {relative})");
            for (what, out) in [
                ("status", class.run(&["status", "alice"])),
                ("keygen", class.run(&["keygen", "bob"])),
            ] {
                let err = stderr(&out);
                assert_eq!(code(&out), Some(1), "{case}, {what}: {err}");
                assert!(
                    err.contains(&format!("{name} is a symbolic link")),
                    "{case}, {what}: {err}"
                );
            }
            assert_eq!(
                fs::read_to_string(&victim).unwrap(),
                "the user's own file\n",
                "{case}"
            );
        }
    }
}

/// A rotation killed after renaming the new key store but before its log
/// line: a key use says to run `recover`, not to restore from a backup
/// (which would lose the rotation).
#[test]
fn a_key_use_after_a_crash_says_to_recover() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let store = class.store();
    let pw = class.dir.path().join("pw");
    let out = crate::util::kms_command(class.dir.path())
        .env("SECURE_KMS_CRASH_AFTER", "key_store.json")
        .args([
            "--store",
            store.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .args(["rotate", "alice"])
        .output()
        .unwrap();
    assert_eq!(code(&out), None, "the crash hook stops the run");
    let out = class.run(&["export", "alice", "--public"]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(3), "{err}");
    assert!(err.contains("run `secure-kms recover`"), "{err}");
    assert!(!err.contains("from a backup"), "{err}");
    class.ok(&["recover"]);
    class.ok(&["export", "alice", "--public"]);
    assert_eq!(class.states("alice"), ["deactivated", "active"]);
}
