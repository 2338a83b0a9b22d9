//! Concurrency and crash safety (docs/RELIABILITY.md describes the model):
//! - eight processes at once, each making a user, with rotations and
//!   revocations interleaved: every change is there afterwards;
//! - a crash after each step of a change (the journal, each of the three
//!   files), by the debug build's `SECURE_KMS_CRASH_AFTER` hook: the next
//!   run finds the change whole;
//! - SIGKILL at random moments of `rotate`, 24 times: each time the store,
//!   the revocation list and the log hold the old state or the new one,
//!   and agree.
//!
//! `bench/stress.sh` runs the same with 32 processes and 500 kills.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::{Class, code, stderr};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_secure-kms")
}

/// The event kinds the log holds for `user`, in order.
fn events_of(class: &Class, user: &str) -> Vec<String> {
    class
        .json(&["audit"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user"] == user)
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks what must hold after any crash: the chain verifies and agrees
/// with the store (`audit --verify` cross-checks them), both JSON files
/// parse, and neither a journal nor a temporary file is left once a
/// command has run.
fn assert_consistent(class: &Class) {
    let out = class.run(&["audit", "--verify"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    class.json(&["list"]);
    class.json(&["revoked"]);
    let leftovers: Vec<String> = std::fs::read_dir(class.store())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".journal"))
        .collect();
    // `recover` or a change finishes a journal; temporary files go at
    // the next change.
    assert!(
        leftovers.iter().all(|n| n.ends_with(".tmp")),
        "{leftovers:?}"
    );
}

#[test]
fn eight_processes_at_once_lose_no_change() {
    let class = Class::new();
    // The same steps, alone, for reference.
    let steps: [&[&str]; 4] = [
        &["keygen", "USER"],
        &["rotate", "USER"],
        &["revoke", "USER", "--version", "1", "--reason", "superseded"],
        &["rotate", "USER"],
    ];
    let run_steps = |user: &str| {
        for step in steps {
            let args: Vec<&str> = step
                .iter()
                .map(|a| if *a == "USER" { user } else { a })
                .collect();
            class.ok(&args);
        }
    };
    run_steps("reference");
    let expected = events_of(&class, "reference");
    assert_eq!(expected, ["created", "rotated", "revoked", "rotated"]);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let run_steps = &run_steps;
            scope.spawn(move || run_steps(&format!("user{i}")));
        }
    });
    for i in 0..8 {
        let user = format!("user{i}");
        assert_eq!(events_of(&class, &user), expected, "{user}");
        assert_eq!(
            class.states(&user),
            ["deactivated", "deactivated", "active"],
            "{user}"
        );
    }
    let revoked = class.json(&["revoked"]);
    assert_eq!(revoked.as_array().unwrap().len(), 9, "{revoked}");
    assert_consistent(&class);
}

/// The number of versions `user` has, or 0 for no such user.
fn versions(class: &Class, user: &str) -> usize {
    let out = class.run(&["--json", "status", user]);
    if code(&out) != Some(0) {
        return 0;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["versions"].as_array().unwrap().len()
}

#[test]
fn a_crash_after_any_step_of_a_change_leaves_it_whole() {
    // A revocation writes the revocation list and the log; a rotation
    // writes the key store and the log.
    let revoke: &[&str] = &["revoke", "alice", "--version", "1"];
    let rotate: &[&str] = &["rotate", "alice"];
    let cases = [
        ("journal", revoke),
        ("revoked_keys.json", revoke),
        ("audit.log", revoke),
        ("journal", rotate),
        ("key_store.json", rotate),
        ("audit.log", rotate),
    ];
    for (point, change) in cases {
        let class = Class::new();
        class.ok(&["keygen", "alice"]);
        let out = Command::new(binary())
            .env("SECURE_KMS_CRASH_AFTER", point)
            .args(["--store", class.store().to_str().unwrap()])
            .args([
                "--password-file",
                class.dir.path().join("pw").to_str().unwrap(),
            ])
            .args(change)
            .output()
            .unwrap();
        let case = format!("{} after {point}", change[0]);
        assert_eq!(out.status.code(), None, "{case}: it must have crashed");
        // Committed, so the next change finishes it (a command that only
        // reads leaves it, and says so).
        let out = class.run(&["list"]);
        assert!(
            stderr(&out).contains("did not finish"),
            "{case}: {}",
            stderr(&out)
        );
        assert!(class.ok(&["recover"]).contains("finished"), "{case}");
        let (states, events) = (class.states("alice"), events_of(&class, "alice"));
        if change == revoke {
            assert_eq!(states, ["compromised"], "{case}");
            assert_eq!(events, ["created", "revoked"], "{case}");
        } else {
            assert_eq!(states, ["deactivated", "active"], "{case}");
            assert_eq!(events, ["created", "rotated"], "{case}");
        }
        assert_consistent(&class);
    }
}

#[test]
fn sigkill_at_random_moments_leaves_the_old_state_or_the_new_one() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let rotate = || {
        Command::new(binary())
            .args(["--store", class.store().to_str().unwrap()])
            .args([
                "--password-file",
                class.dir.path().join("pw").to_str().unwrap(),
            ])
            .args(["rotate", "alice"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a rotation takes here, so that the kills spread over all
    // of it, the writes at the end included.
    let started = Instant::now();
    for _ in 0..3 {
        assert!(rotate().wait().unwrap().success());
    }
    let typical = started.elapsed() / 3;
    let (mut old, mut new) = (0, 0);
    for _ in 0..24 {
        let before = versions(&class, "alice");
        let mut random = [0u8; 2];
        getrandom::fill(&mut random).unwrap();
        let fraction = f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX);
        let mut child = rotate();
        std::thread::sleep(typical.mul_f64(0.2 + fraction));
        let _ = child.kill();
        let _ = child.wait();
        // A kill after the commit point leaves the change to finish.
        class.ok(&["recover"]);
        let after = versions(&class, "alice");
        assert!(
            after == before || after == before + 1,
            "{before} -> {after}"
        );
        if after == before {
            old += 1;
        } else {
            new += 1;
        }
        let rotations = events_of(&class, "alice")
            .iter()
            .filter(|e| *e == "rotated")
            .count();
        assert_eq!(rotations + 1, after, "the log and the store disagree");
        assert_consistent(&class);
    }
    eprintln!("24 kills: {old} left the old state, {new} the new one (after {typical:?})");
}

/// SIGINT while the session makes the keys (PBKDF2 and RSA key generation
/// take most of its run): it stops with exit code 130 and the store stays
/// as it was, here empty, or, if the signal came just after the keys were
/// stored, holds the whole new state. Sent at several moments; a run that
/// finished before its signal must have written whole files.
#[test]
fn sigint_during_key_generation_writes_nothing() {
    use std::io::Write;
    let mut interrupted = 0;
    for delay_ms in [5u64, 20, 40, 60, 80, 120] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary())
            .env_remove("KMS_STORE")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("alice\n{}\nno\n", crate::util::PASSWORD).as_bytes())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let out = child.wait_with_output().unwrap();
        let files = crate::util::snapshot(dir.path());
        match out.status.code() {
            // 130 from our handler; no code if the signal came before the
            // handler was installed, at start-up.
            Some(130) | None => {
                interrupted += 1;
                let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
                if !names.is_empty() {
                    // The signal came as or after the keys were stored (a
                    // fast RSA key generation): the store is then the old
                    // state or the whole new one, as `recover` (which
                    // finishes a committed change) and the checks see it.
                    let recovered = Command::new(binary())
                        .args(["--store", dir.path().to_str().unwrap(), "recover"])
                        .output()
                        .unwrap();
                    assert_eq!(code(&recovered), Some(0), "{}", stderr(&recovered));
                    let verified = Command::new(binary())
                        .args(["--store", dir.path().to_str().unwrap(), "audit", "--verify"])
                        .output()
                        .unwrap();
                    assert_eq!(code(&verified), Some(0), "{}", stderr(&verified));
                }
                if out.status.code().is_some() {
                    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
                }
            }
            Some(0) => {
                // Finished first: the files are whole.
                let class_like = Command::new(binary())
                    .args(["--store", dir.path().to_str().unwrap(), "audit", "--verify"])
                    .output()
                    .unwrap();
                assert_eq!(code(&class_like), Some(0), "{}", stderr(&class_like));
            }
            other => panic!("after {delay_ms} ms: exit {other:?}: {}", stderr(&out)),
        }
    }
    assert!(interrupted >= 3, "only {interrupted} runs were interrupted");
}
