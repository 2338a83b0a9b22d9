//! The subcommands, driven through the real binary: each one's success and
//! refusals, every key state transition, the `--json` shapes, and the exit
//! codes (0 success, 1 error, 2 usage, 3 refused).

use std::fs;
use std::path::Path;

use crate::util::{Class, PASSWORD, code, kms_command, stderr, stdout};
use serde_json::Value;

#[test]
fn keygen_makes_version_1_and_refuses_a_second_time() {
    let class = Class::new();
    let made = class.json(&["keygen", "alice"]);
    assert_eq!(made["user"], "alice");
    assert_eq!(made["version"], 1);
    for field in ["symmetric_fingerprint", "public_key_fingerprint"] {
        assert_eq!(made[field].as_str().unwrap().len(), 64, "{made}");
    }
    // Times in JSON are RFC 3339 UTC.
    assert!(
        made["active_until"].as_str().unwrap().ends_with('Z'),
        "{made}"
    );
    assert_eq!(class.states("alice"), ["active"]);

    let before = class.files();
    let again = class.run(&["keygen", "alice"]);
    assert_eq!(code(&again), Some(1));
    assert!(
        stderr(&again).contains("alice already has keys: use `secure-kms rotate alice`"),
        "{}",
        stderr(&again)
    );
    assert!(class.files() == before, "a refused keygen wrote something");
    let nobody = class.run(&["status", "nobody"]);
    assert_eq!(code(&nobody), Some(1));
    assert!(
        stderr(&nobody).contains(
            "no keys for nobody in the store: create them with `secure-kms keygen nobody`"
        ),
        "{}",
        stderr(&nobody)
    );
    let bad = class.run(&["keygen", "bad id"]);
    assert_eq!(code(&bad), Some(1));
    assert!(stderr(&bad).contains("invalid user ID"));
}

#[test]
fn the_password_can_come_from_standard_input() {
    let class = Class::new();
    let out = kms_command(class.dir.path())
        .args(["--store", "kms", "keygen", "carol"])
        .write_stdin(format!("{PASSWORD}\n"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // Nothing but the result on standard output: no prompt, no password.
    assert!(
        stdout(&out).starts_with("carol: version 1 made"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(PASSWORD) && !stderr(&out).contains(PASSWORD));
    // The same password from a file unlocks it.
    class.ok(&["rotate", "carol"]);
    let empty = kms_command(class.dir.path())
        .args(["--store", "kms", "rotate", "carol"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(code(&empty), Some(1));
    assert!(stderr(&empty).contains("input ended"), "{}", stderr(&empty));
}

#[test]
fn rotation_makes_a_new_primary_and_deactivates_the_old_version() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let rotated = class.json(&["rotate", "alice"]);
    assert_eq!(rotated["version"], 2);
    let status = class.json(&["status", "alice"]);
    let versions = status["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["state"], "deactivated");
    assert_eq!(versions[0]["primary"], false);
    assert_eq!(versions[1]["state"], "active");
    assert_eq!(versions[1]["primary"], true);
    let old = versions[0]["transitions"].as_array().unwrap();
    assert_eq!(old[0]["state"], "active");
    assert_eq!(old[0]["why"], "created");
    assert_eq!(old[1]["state"], "deactivated");
    assert_eq!(old[1]["why"], "superseded by version 2");
    assert_eq!(old[1]["at"], versions[1]["created"]);
    // Both versions' keys are in the store, the old one still wrapped.
    let store: Value =
        serde_json::from_slice(&fs::read(class.store().join("key_store.json")).unwrap()).unwrap();
    assert_eq!(store["alice"]["format"], 3);
    // Version 2 at the top, in the original's shape; version 1 kept.
    assert_eq!(store["alice"]["symmetric"]["version"], 2);
    assert_eq!(store["alice"]["key_pair"]["version"], 2);
    let previous = &store["alice"]["previous"];
    assert_eq!(previous["symmetric"].as_array().unwrap().len(), 1);
    assert!(previous["symmetric"][0]["wrapped"]["key"].is_string());
    assert_eq!(previous["asymmetric"][0]["version"], 1);
    assert_eq!(class.audit_events(), ["created", "rotated"]);

    let wrong = class.run_with("wrong", &["rotate", "alice"]);
    assert_eq!(code(&wrong), Some(1));
    assert!(stderr(&wrong).contains("wrong password for alice"));
    assert_eq!(class.states("alice").len(), 2);
    assert_eq!(
        class.audit_events(),
        ["created", "rotated", "authentication_failed"]
    );
    let unknown = class.run(&["rotate", "bob"]);
    assert_eq!(code(&unknown), Some(1));
    assert!(stderr(&unknown).contains("no keys for bob"));
}

/// Waits until a key made with `--expiry 1` has expired. Not a timing
/// target: only what makes the key expire.
fn let_it_expire() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

#[test]
fn an_expired_key_is_deactivated_at_its_expiry() {
    let class = Class::new();
    class.ok(&["keygen", "alice", "--expiry", "1"]);
    assert_eq!(class.states("alice"), ["active"]);
    let_it_expire();
    let status = class.json(&["status", "alice"]);
    let v1 = &status["versions"][0];
    assert_eq!(v1["state"], "deactivated");
    assert_eq!(v1["transitions"][1]["why"], "expired");
    assert_eq!(v1["transitions"][1]["at"], v1["active_until"]);
    // Expired keys are refused for new use: the session will not keep them.
    let out = kms_command(class.dir.path())
        .args(["--store", "kms"])
        .write_stdin(format!("alice\n{PASSWORD}\nno\n"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("expired at"), "{}", stderr(&out));
    // A rotation issues an active version.
    class.ok(&["rotate", "alice"]);
    assert_eq!(class.states("alice"), ["deactivated", "active"]);
}

#[test]
fn revocation_takes_a_reason_and_a_version_and_is_idempotent() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    class.ok(&["rotate", "alice"]);

    // Proof of ownership first: a wrong password changes nothing but the log.
    let before = fs::read(class.store().join("key_store.json")).unwrap();
    let wrong = class.run_with("wrong", &["revoke", "alice"]);
    assert_eq!(code(&wrong), Some(1));
    assert!(!class.store().join("revoked_keys.json").exists());
    assert_eq!(
        fs::read(class.store().join("key_store.json")).unwrap(),
        before
    );
    assert_eq!(
        class.audit_events().last().map(String::as_str),
        Some("authentication_failed")
    );

    let revoked = class.json(&[
        "revoke",
        "alice",
        "--reason",
        "keyCompromise",
        "--version",
        "1",
    ]);
    assert_eq!(revoked["revoked"][0]["version"], 1);
    assert_eq!(revoked["revoked"][0]["reason"], "keyCompromise");
    assert_eq!(revoked["already_revoked"], Value::Array(vec![]));
    assert_eq!(class.states("alice"), ["compromised", "active"]);

    let again = class.run(&[
        "revoke",
        "alice",
        "--version",
        "1",
        "--reason",
        "superseded",
    ]);
    assert_eq!(code(&again), Some(0));
    assert!(
        stdout(&again).contains("Already revoked, nothing changed: alice version 1"),
        "{}",
        stdout(&again)
    );
    assert!(stdout(&again).contains("(reason: keyCompromise)"));

    // The list names user, key IDs, version, time and reason.
    let list = class.json(&["revoked"]);
    let entry = &list.as_array().unwrap()[0];
    assert_eq!(list.as_array().unwrap().len(), 1);
    for field in [
        "user",
        "version",
        "symmetric_fingerprint",
        "public_key_fingerprint",
        "revoked_at",
        "reason",
    ] {
        assert!(!entry[field].is_null(), "{field} missing: {entry}");
    }
    let file: Value =
        serde_json::from_slice(&fs::read(class.store().join("revoked_keys.json")).unwrap())
            .unwrap();
    assert_eq!(file[0]["user_id"], "alice");
    assert_eq!(file[0]["version"], 1);

    for (args, message) in [
        (
            vec!["revoke", "alice", "--version", "7"],
            "alice has no key version 7",
        ),
        (vec!["revoke", "zed"], "no keys for zed"),
    ] {
        let out = class.run(&args);
        assert_eq!(code(&out), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    let bad_reason = class.run(&["revoke", "alice", "--reason", "lost"]);
    assert_eq!(code(&bad_reason), Some(2));
    assert!(
        stderr(&bad_reason).contains("keyCompromise"),
        "{}",
        stderr(&bad_reason)
    );

    // Without --version: every version not yet revoked.
    let all = class.json(&["revoke", "alice"]);
    assert_eq!(all["revoked"][0]["version"], 2);
    assert_eq!(all["already_revoked"][0]["version"], 1);
    assert_eq!(class.states("alice"), ["compromised", "compromised"]);
    assert_eq!(
        class.audit_events(),
        [
            "created",
            "rotated",
            "authentication_failed",
            "revoked",
            "revoked"
        ]
    );
}

#[test]
fn a_revoked_primary_is_refused_with_date_and_reason_until_rotated() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let said = class.ok(&["revoke", "alice", "--reason", "privilegeWithdrawn"]);
    assert!(
        said.starts_with("Key revoked for alice: version 1 is now deactivated (revoked: privilegeWithdrawn) as of 20")
            && said.trim_end().ends_with(", refused for every use"),
        "{said}"
    );
    let session = |answers: &str| {
        kms_command(class.dir.path())
            .args(["--store", "kms"])
            .write_stdin(answers.to_owned())
            .output()
            .unwrap()
    };
    let keep = session(&format!("alice\n{PASSWORD}\nno\n"));
    assert_eq!(code(&keep), Some(3));
    let err = stderr(&keep);
    assert!(
        err.contains("were revoked at 20") && err.contains("(reason: privilegeWithdrawn)"),
        "{err}"
    );
    // Fresh keys after a revocation; the revoked records stay.
    class.ok(&["rotate", "alice"]);
    // Withdrawn privilege casts no doubt on the key: NIST SP 800-57 calls
    // it deactivated, not compromised, and it is refused all the same.
    assert_eq!(class.states("alice"), ["deactivated", "active"]);
    assert!(
        class
            .ok(&["status", "alice"])
            .starts_with("version\t1\tdeactivated (revoked: privilegeWithdrawn)\t"),
        "{}",
        class.ok(&["status", "alice"])
    );
    assert_eq!(class.json(&["revoked"]).as_array().unwrap().len(), 1);
    let keep = session(&format!("alice\n{PASSWORD}\nno\nno\n"));
    assert_eq!(code(&keep), Some(0), "{}", stderr(&keep));
    assert!(stdout(&keep).contains("Keeping the existing keys for alice"));
}

#[test]
fn destroy_needs_confirmation_and_keeps_the_last_decrypting_version() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let before = class.files();
    // Refused before any question: saying no needs no confirmation.
    let only = class.run(&["destroy", "alice", "--version", "1"]);
    assert_eq!(code(&only), Some(1));
    assert!(
        stderr(&only).contains("only key of alice that can still decrypt data"),
        "{}",
        stderr(&only)
    );
    assert!(class.files() == before, "a refused destroy wrote something");

    class.ok(&["rotate", "alice"]);
    let before = class.files();
    let unconfirmed = class.run(&["destroy", "alice", "--version", "1"]);
    assert_eq!(code(&unconfirmed), Some(1));
    assert!(
        stderr(&unconfirmed).contains("pass --yes"),
        "{}",
        stderr(&unconfirmed)
    );
    assert!(
        class.files() == before,
        "an unconfirmed destroy wrote something"
    );
    let wrong = class.run_with("wrong", &["destroy", "alice", "--version", "1", "--yes"]);
    assert_eq!(code(&wrong), Some(1));
    let destroyed = class.json(&["destroy", "alice", "--version", "1", "--yes"]);
    assert_eq!(destroyed["destroyed"], true);
    assert_eq!(class.states("alice"), ["destroyed", "active"]);
    let status = class.json(&["status", "alice"]);
    let v1 = &status["versions"][0];
    assert_eq!(
        v1["transitions"].as_array().unwrap().last().unwrap()["state"],
        "destroyed"
    );
    // The metadata stays, the material is gone.
    assert_eq!(v1["symmetric_fingerprint"].as_str().unwrap().len(), 64);
    let store: Value =
        serde_json::from_slice(&fs::read(class.store().join("key_store.json")).unwrap()).unwrap();
    let sym = &store["alice"]["previous"]["symmetric"][0];
    assert!(
        sym.get("wrapped").is_none() && sym["destroyed_at"].is_number(),
        "{sym}"
    );
    let rsa = &store["alice"]["previous"]["asymmetric"][0];
    assert!(
        rsa.get("private").is_none() && rsa["public"].is_string(),
        "{rsa}"
    );

    let again = class.json(&["destroy", "alice", "--version", "1", "--yes"]);
    assert_eq!(again["already_destroyed"], true);
    let unknown = class.run(&["destroy", "alice", "--version", "3", "--yes"]);
    assert_eq!(code(&unknown), Some(1));
    assert!(stderr(&unknown).contains("alice has no key version 3"));

    // --force destroys the last one; the user then has nothing to unlock.
    class.ok(&["destroy", "alice", "--version", "2", "--yes", "--force"]);
    assert_eq!(class.states("alice"), ["destroyed", "destroyed"]);
    let events = class.audit_events();
    assert_eq!(
        events.iter().filter(|e| *e == "destroyed").count(),
        2,
        "{events:?}"
    );
    // No key is left to check a password against: nobody, whatever the
    // password, takes the user over, in the session or on the command line.
    for password in [PASSWORD, "anything at all"] {
        let session = kms_command(class.dir.path())
            .args(["--store", "kms"])
            .write_stdin(format!("alice\n{password}\nyes\nno\n"))
            .output()
            .unwrap();
        assert_eq!(code(&session), Some(3), "{}", stderr(&session));
        assert!(
            stderr(&session).contains("every key version of alice is destroyed"),
            "{}",
            stderr(&session)
        );
    }
    let rotate = class.run(&["rotate", "alice"]);
    assert_eq!(code(&rotate), Some(3));
    assert_eq!(class.states("alice"), ["destroyed", "destroyed"]);
}

#[test]
fn list_and_revoked_print_plain_lines_when_piped() {
    let class = Class::new();
    fs::create_dir(class.store()).unwrap();
    assert_eq!(class.ok(&["list"]), "");
    assert_eq!(class.ok(&["revoked"]), "");
    class.ok(&["keygen", "bob"]);
    class.ok(&["keygen", "alice", "--expiry", "1"]);
    let_it_expire();
    let lines = class.ok(&["list"]);
    let rows: Vec<Vec<&str>> = lines.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{lines}");
    assert_eq!(rows[0][..4], ["alice", "1", "1", "deactivated (expired)"]);
    assert_eq!(rows[1][..4], ["bob", "1", "1", "active"]);
    assert!(!lines.contains('\u{1b}'), "colour in piped output");

    let status = class.ok(&["status", "bob"]);
    assert!(status.starts_with("version\t1\tactive\t"), "{status}");
    assert!(status.contains("\ntransition\t1\tactive\t"), "{status}");

    class.ok(&["revoke", "bob", "--reason", "cessationOfOperation"]);
    let revoked = class.ok(&["revoked"]);
    let fields: Vec<&str> = revoked.trim_end().split('\t').collect();
    assert_eq!(fields[0], "bob");
    assert_eq!(fields[1], "1");
    assert_eq!(fields[3], "cessationOfOperation");
    let json = class.json(&["list"]);
    assert_eq!(json[1]["user"], "bob");
    // No longer needed is no compromise (NIST SP 800-57 Part 1, section 7).
    assert_eq!(json[1]["state"], "deactivated");
    assert_eq!(json[1]["why"], "revoked: cessationOfOperation");
    assert_eq!(json[1]["primary"], 1);
    assert_eq!(json[1]["version_count"], 1);
}

#[test]
fn the_audit_log_verifies_and_names_an_edited_line() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    class.ok(&["rotate", "alice"]);
    class.ok(&["revoke", "alice", "--version", "1"]);
    let ok = class.json(&["audit", "--verify"]);
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["events"], 3);
    assert_eq!(
        class.ok(&["audit", "--verify"]),
        "audit.log: 3 events, hash chain intact and in agreement with the store\n"
    );

    let log = class.store().join("audit.log");
    let text = fs::read_to_string(&log).unwrap();
    // No secret in the log: only IDs, versions, fingerprints, reasons, times.
    assert!(!text.contains(PASSWORD));
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        assert!(e.get("key").is_none() && e.get("salt").is_none(), "{line}");
    }
    let edited = text.replacen("\"rotated\"", "\"created\"", 1);
    fs::write(&log, &edited).unwrap();
    let out = class.run(&["audit", "--verify"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("audit.log is broken at line 2"),
        "{}",
        stderr(&out)
    );
    let json = class.run(&["--json", "audit", "--verify"]);
    assert_eq!(code(&json), Some(1));
    let shape: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(shape["ok"], false);
    assert_eq!(shape["line"], 2);

    // The last line cut off: the chain alone cannot tell, the store can.
    let lines: Vec<&str> = text.lines().collect();
    fs::write(&log, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let out = class.run(&["audit", "--verify"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("the revocation of version 1 of alice at")
            && stderr(&out).contains("has no event in audit.log"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2_and_every_subcommand_shows_an_example() {
    let class = Class::new();
    for sub in [
        "keygen", "status", "list", "rotate", "revoke", "revoked", "destroy", "audit", "encrypt",
        "decrypt", "rewrap", "sign", "verify", "export", "import", "exchange",
    ] {
        let out = kms_command(class.dir.path())
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0));
        let help = stdout(&out);
        let example = help.split("Example").nth(1).unwrap_or_default();
        // A line that runs secure-kms with this subcommand.
        assert!(
            example.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.first() == Some(&"secure-kms") && words.contains(&sub)
            }),
            "{sub}: no example of it in\n{help}"
        );
    }
    let help = kms_command(class.dir.path())
        .arg("--help")
        .output()
        .unwrap();
    let text = stdout(&help);
    for code_line in [
        "0    success",
        "1    error",
        "2    usage error",
        "3    refused",
        "130  interrupted",
    ] {
        assert!(text.contains(code_line), "{code_line}: {text}");
    }
    // The session's options, each with an example of its own.
    for option in [
        "--expiry",
        "--explain",
        "--show-store",
        "--admin-password-file",
    ] {
        let examples = text.split("Examples:").nth(1).unwrap_or_default();
        assert!(
            examples
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("secure-kms {option}"))),
            "{option}: no example in\n{text}"
        );
    }
    for args in [
        vec!["frobnicate"],
        vec!["destroy", "alice"],
        vec!["--json"],
        vec!["keygen", "alice", "--expiry", "0"],
        vec!["rotate", "alice", "--expiry", "10000000001"],
    ] {
        let out = kms_command(class.dir.path()).args(&args).output().unwrap();
        assert_eq!(code(&out), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(!Path::new(&class.store()).exists());
}

#[test]
fn reading_commands_refuse_a_missing_store_folder() {
    let class = Class::new();
    for args in [
        vec!["status", "alice"],
        vec!["list"],
        vec!["revoked"],
        vec!["audit"],
        vec!["audit", "--verify"],
    ] {
        let out = class.run(&args);
        assert_eq!(code(&out), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("there is no store in") && stderr(&out).contains("--store"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(!class.store().exists());
}

#[test]
fn with_json_an_error_is_a_json_object_too() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let out = class.run(&["--json", "rotate", "bob"]);
    assert_eq!(code(&out), Some(1));
    let shape: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shape["ok"], false);
    assert_eq!(shape["exit_code"], 1);
    assert!(shape["error"].as_str().unwrap().contains("no keys for bob"));
}

#[test]
fn a_broken_audit_log_stops_every_change_until_it_is_moved_aside() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    class.ok(&["rotate", "alice"]);
    let log = class.store().join("audit.log");
    let text = fs::read_to_string(&log).unwrap();
    fs::write(&log, text.replacen("keygen", "keygem", 1)).unwrap();
    let before = class.files();
    let out = class.run(&["rotate", "alice"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("no change is made while the log cannot record it"),
        "{}",
        stderr(&out)
    );
    assert!(
        class.files() == before,
        "a change was made without its event"
    );
    // Moved aside (kept as evidence), a new log starts with the next change,
    // but it vouches for nothing before it: the check and every use of
    // alice's keys refuse, and say to restore the log.
    fs::rename(&log, class.store().join("audit.log.broken")).unwrap();
    class.ok(&["keygen", "bob"]);
    let out = class.run(&["rotate", "alice"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let out = class.run(&["audit", "--verify"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("restore it from a backup"),
        "{}",
        stderr(&out)
    );
    fs::write(class.dir.path().join("data"), "data").unwrap();
    let out = class.run(&["encrypt", "alice", "data", "data.enc"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restore audit.log from a backup"),
        "{}",
        stderr(&out)
    );
}

/// User IDs as arguments with a newline, an ANSI escape, a bell or 100,000
/// characters: refused with the rule, shown escaped (so nothing reaches
/// the terminal as a control sequence), and no store is made.
#[test]
fn hostile_user_id_arguments_are_refused_escaped_and_change_nothing() {
    let class = Class::new();
    let long = "x".repeat(100_000);
    for id in ["ali\nce", "a\u{1b}[31mb", "a\u{7}b", long.as_str()] {
        for command in ["keygen", "status", "rotate", "revoke"] {
            let out = class.run(&[command, id]);
            assert_eq!(code(&out), Some(1), "{command} {id:.20?}");
            let err = stderr(&out);
            assert!(err.contains("invalid user ID"), "{command}: {err:.200}");
            // One line, no escape or bell: the newline and the rest are
            // shown escaped.
            assert_eq!(err.trim_end().lines().count(), 1, "{command}: {err:.200?}");
            assert!(!err.contains(['\u{1b}', '\u{7}']), "{command}: {err:.200?}");
            assert!(err.len() < 2000, "{command}: the error echoes the whole ID");
        }
    }
    assert!(!class.store().exists());
}
