//! `exchange offer | accept | finish`: two processes agree on a key through
//! files, and every tampered, misdirected, replayed or mismatched message
//! is refused with a message that says which.

use std::fs;

use crate::util::{Class, code, stderr};
use serde_json::Value;

/// A store with alice (`pw`), bob (`bob`) and carol (`carol`).
fn three_users() -> Class {
    let class = Class::new();
    for (user, file) in [("bob", "bob"), ("carol", "carol")] {
        fs::write(class.dir.path().join(file), format!("{user}'s password\n")).unwrap();
    }
    class.ok(&["keygen", "alice"]);
    for user in ["bob", "carol"] {
        let out = class.run_with(user, &["keygen", user]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    }
    class
}

fn offer(class: &Class, to: &str, file: &str, group: &str) {
    class.ok(&[
        "exchange", "offer", "alice", "--to", to, "-o", file, "--group", group,
    ]);
}

fn accept(class: &Class, user: &str, offer: &str, answer: &str) -> std::process::Output {
    class.run_with(user, &["exchange", "accept", user, offer, "-o", answer])
}

fn finish(class: &Class, answer: &str) -> std::process::Output {
    class.run(&["exchange", "finish", "alice", answer])
}

fn edit(class: &Class, file: &str, change: impl Fn(&mut Value)) -> String {
    let path = class.dir.path().join(file);
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    change(&mut v);
    let edited = format!("edited-{file}");
    fs::write(
        class.dir.path().join(&edited),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    edited
}

fn refused(out: &std::process::Output, code_wanted: i32, words: &str) {
    assert_eq!(code(out), Some(code_wanted), "{}", stderr(out));
    assert!(
        stderr(out).contains(words),
        "wanted {words:?} in: {}",
        stderr(out)
    );
}

#[test]
fn both_processes_derive_the_same_key_in_both_groups() {
    let class = three_users();
    for group in ["ffdhe2048", "x25519"] {
        offer(&class, "bob", "offer.json", group);
        let out = class.run_with(
            "bob",
            &[
                "--json",
                "exchange",
                "accept",
                "bob",
                "offer.json",
                "-o",
                "answer.json",
            ],
        );
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        let bob: Value = serde_json::from_slice(&out.stdout).unwrap();
        let alice = class.json(&["exchange", "finish", "alice", "answer.json"]);
        assert_eq!(
            alice["session_key_fingerprint"],
            bob["session_key_fingerprint"]
        );
        assert_eq!(alice["group"], group);
        for f in ["offer.json", "answer.json"] {
            fs::remove_file(class.dir.path().join(f)).unwrap();
        }
    }
    // The private values were forgotten: nothing waits in the store.
    let store: Value =
        serde_json::from_slice(&fs::read(class.store().join("key_store.json")).unwrap()).unwrap();
    assert!(
        store["alice"]["exchanges"].get("pending").is_none(),
        "{}",
        store["alice"]
    );
    // The private value was kept wrapped while it waited, never in clear.
    offer(&class, "bob", "waiting.json", "x25519");
    let store: Value =
        serde_json::from_slice(&fs::read(class.store().join("key_store.json")).unwrap()).unwrap();
    let pending = &store["alice"]["exchanges"]["pending"][0];
    assert!(pending["secret"]["key"].is_string() && pending["secret"]["nonce"].is_string());
}

#[test]
fn edited_messages_and_foreign_signatures_are_refused() {
    let class = three_users();
    offer(&class, "bob", "offer.json", "x25519");
    type Change = fn(&mut Value);
    let offer_edits: [(&str, Change); 5] = [
        ("public", |v| {
            let mut s = v["public"].as_str().unwrap().to_owned();
            s.replace_range(0..1, if s.starts_with('A') { "B" } else { "A" });
            v["public"] = s.into();
        }),
        ("nonce", |v| v["nonce"] = "00".repeat(16).into()),
        ("sender version", |v| v["sender"]["key_version"] = 2.into()),
        ("claims another sender", |v| {
            v["sender"]["user"] = "carol".into()
        }),
        ("group", |v| v["group"] = "ffdhe2048".into()),
    ];
    for (what, change) in offer_edits {
        let edited = edit(&class, "offer.json", change);
        let out = accept(&class, "bob", &edited, "answer.json");
        assert_eq!(code(&out), Some(1), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("was edited, or signed by someone else")
                || err.contains("has no key version 2"),
            "{what}: {err}"
        );
    }
    // Carol's own offer to bob, relabelled as alice's: carol's signature.
    class.run_with(
        "carol",
        &[
            "exchange",
            "offer",
            "carol",
            "--to",
            "bob",
            "-o",
            "carol.json",
        ],
    );
    let forged = edit(&class, "carol.json", |v| {
        v["sender"]["user"] = "alice".into()
    });
    refused(
        &accept(&class, "bob", &forged, "answer.json"),
        1,
        "signed by someone else",
    );

    // The genuine offer is still fine; then the answer is edited.
    let ok = accept(&class, "bob", "offer.json", "answer.json");
    assert_eq!(code(&ok), Some(0), "{}", stderr(&ok));
    let edited = edit(&class, "answer.json", |v| {
        v["nonce"] = "11".repeat(16).into()
    });
    refused(
        &finish(&class, &edited),
        1,
        "the answer was edited, or signed by someone else",
    );
    // A group edit is caught as a mismatch with the offer.
    let regrouped = edit(&class, "answer.json", |v| v["group"] = "ffdhe2048".into());
    refused(
        &finish(&class, &regrouped),
        1,
        "group mismatch: the offer was in x25519",
    );
    // The genuine answer still finishes after the refusals.
    assert_eq!(code(&finish(&class, "answer.json")), Some(0));
}

#[test]
fn messages_for_someone_else_are_refused() {
    let class = three_users();
    offer(&class, "carol", "offer.json", "ffdhe2048");
    refused(
        &accept(&class, "bob", "offer.json", "answer.json"),
        1,
        "this offer is addressed to carol, not to bob",
    );
    let out = accept(&class, "carol", "offer.json", "answer.json");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // carol's answer to alice, given to bob.
    let out = class.run_with("bob", &["exchange", "finish", "bob", "answer.json"]);
    refused(&out, 1, "this answer is addressed to alice, not to bob");
    // An answer from someone the offer did not go to.
    offer(&class, "bob", "to-bob.json", "ffdhe2048");
    let out = accept(&class, "bob", "to-bob.json", "bob-answer.json");
    assert_eq!(code(&out), Some(0));
    let swapped = edit(&class, "bob-answer.json", |v| {
        v["offer_nonce"] = serde_json::from_slice::<Value>(
            &fs::read(class.dir.path().join("answer.json")).unwrap(),
        )
        .unwrap()["offer_nonce"]
            .clone();
    });
    // bob's answer pointed at the offer that went to carol.
    refused(
        &finish(&class, &swapped),
        1,
        "the answer comes from bob, but the offer went to carol",
    );
}

#[test]
fn replays_are_refused() {
    let class = three_users();
    offer(&class, "bob", "offer.json", "x25519");
    assert_eq!(
        code(&accept(&class, "bob", "offer.json", "answer.json")),
        Some(0)
    );
    refused(
        &accept(&class, "bob", "offer.json", "answer2.json"),
        1,
        "was accepted before: a replay",
    );
    assert_eq!(code(&finish(&class, "answer.json")), Some(0));
    refused(
        &finish(&class, "answer.json"),
        1,
        "the answer was replayed, or answers another offer",
    );
}

#[test]
fn a_group_mismatch_and_a_revoked_signer_are_refused() {
    let class = three_users();
    offer(&class, "bob", "offer.json", "ffdhe2048");
    let out = class.run_with(
        "bob",
        &[
            "exchange",
            "accept",
            "bob",
            "offer.json",
            "-o",
            "a.json",
            "--group",
            "x25519",
        ],
    );
    refused(
        &out,
        1,
        "group mismatch: the offer is in ffdhe2048, and x25519 was asked for",
    );
    // alice's key is revoked after she made the offer.
    class.ok(&["revoke", "alice", "--reason", "keyCompromise"]);
    let out = accept(&class, "bob", "offer.json", "answer.json");
    refused(
        &out,
        3,
        "this offer was made with version 1 of alice's keys, revoked at",
    );
    refused(
        &out,
        3,
        "(reason: keyCompromise), and is not accepted: ask alice for a new offer",
    );
}
