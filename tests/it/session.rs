//! The interactive session, driven through the real binary with piped
//! standard input: every line it prints, the files it leaves, and every bad
//! input it must refuse.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::util::{hex, kms, kms_command, openssl, snapshot, stderr, stdout};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use regex_lite::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};

const PASSWORD: &str = "mysecurepassword";

/// The session of a new user who does not revoke; `{hex}` is 16 hex digits
/// and `{time}` an RFC 3339 UTC time.
const NEW_USER_NO_REVOKE: &[&str] = &[
    "Enter the user ID: alice",
    "Enter the password: ",
    "Symmetric key stored for alice, expires in 3600 seconds",
    "Asymmetric keys stored securely for alice",
    "Keys Generated and Stored Securely:",
    "Symmetric key (hashed): {hex}",
    "Diffie-Hellman key exchange (RFC 7919 ffdhe2048: 2048-bit prime, g = 2):",
    "Public keys authenticated!",
    "Party A derived key (hashed): {hex}",
    "Party B derived key (hashed): {hex}",
    "Secure symmetric key derived!",
    "Do you want to revoke keys? (yes/no): no",
    "Key status for alice:",
    "  expired: no (the symmetric key expires at {time})",
    "  revoked: no",
    "  state (NIST SP 800-57): version 1 is active",
    "Final Key Store State:",
];

/// Checks `out` line by line against `expected`, then returns the rest.
fn expect_lines<'a>(out: &'a str, expected: &[&str]) -> Vec<&'a str> {
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= expected.len(), "too few lines:\n{out}");
    for (i, (want, got)) in expected.iter().zip(&lines).enumerate() {
        let pattern = format!("^{}$", regex_lite::escape(want))
            .replace(r"\{hex\}", "[0-9a-f]{16}")
            .replace(r"\{time\}", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ");
        assert!(
            Regex::new(&pattern).unwrap().is_match(got),
            "line {}: expected {want:?}, got {got:?}\n{out}",
            i + 1
        );
    }
    lines[expected.len()..].to_vec()
}

fn value_after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in\n{out}"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn b64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap()).unwrap()
}

/// A store with alice in it, made by a first session.
fn store_with_alice() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    dir
}

#[test]
fn a_new_user_session_prints_every_line_and_shows_the_final_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    let rest = expect_lines(&text, NEW_USER_NO_REVOKE);

    // Both parties derive the same key.
    assert_eq!(
        value_after(&text, "Party A derived key (hashed): "),
        value_after(&text, "Party B derived key (hashed): ")
    );
    // The final state is the file's record of alice, with the long values
    // (the wrapped private key, the public key's PEM) shortened.
    let shown: Value = serde_json::from_str(&rest.join("\n")).unwrap();
    assert_shortened(&shown, &read_json(&dir.path().join("key_store.json")));
}

/// `shown` is `file` (a store of one user, alice) but for the values over
/// 64 characters: the private key says how many bytes of ciphertext it
/// holds, the PEM keeps its armor and the first 64 characters of its body.
fn assert_shortened(shown: &Value, file: &Value) {
    let (shown, file) = (&shown["alice"], &file["alice"]);
    let (mut shown, mut file) = (shown.clone(), file.clone());
    let key = file["private"]["key"].as_str().unwrap().to_owned();
    let bytes = B64.decode(&key).unwrap().len();
    let count = format!("{},{:03}", bytes / 1000, bytes % 1000);
    assert_eq!(
        shown["private"]["key"],
        format!("{}...({count} bytes of ciphertext)", &key[..44])
    );
    let pem = file["public"].as_str().unwrap().to_owned();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(
        shown["public"],
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}...\n-----END PUBLIC KEY-----\n",
            &body[..64]
        )
    );
    for v in [&mut shown, &mut file] {
        v["private"]["key"] = Value::Null;
        v["public"] = Value::Null;
    }
    assert_eq!(shown, file, "every other value is shown whole");
}

/// `--show-store` ends the session with the whole store, byte for byte as
/// the file holds it, as the original printed it; without it, the other
/// users are one line, so that a class's store does not flood the screen:
/// the eighth user's session fits in 60 lines.
#[test]
fn the_session_ends_with_this_user_and_a_count_or_with_show_store_the_whole_store() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("pw"), "a password\n").unwrap();
    for n in 1..=7 {
        let out = kms_command(dir.path())
            .args(["--password-file", "pw", "keygen", &format!("student{n}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines = text.lines().count();
    assert!(lines <= 60, "{lines} lines:\n{text}");
    assert!(!text.contains("student1\""), "{text}");
    assert!(
        text.ends_with(
            "}\n(and 7 other users: `secure-kms list` names them; --show-store shows all)\n"
        ),
        "{text}"
    );

    let out = kms_command(dir.path())
        .arg("--show-store")
        .write_stdin(format!("alice\n{PASSWORD}\nno\nno\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    let shown = shown.split_once("Final Key Store State:\n").unwrap().1;
    assert_eq!(
        shown,
        fs::read_to_string(dir.path().join("key_store.json")).unwrap()
    );
}

/// The session's new keys take `--expiry`, as `keygen`'s do, so that
/// expiry can be shown live; the session's options before a subcommand
/// are refused, not ignored.
#[test]
fn the_session_takes_expiry_and_its_options_are_refused_before_a_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms_command(dir.path())
        .args(["--expiry", "30"])
        .write_stdin(format!("alice\n{PASSWORD}\nno\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Symmetric key stored for alice, expires in 30 seconds"),
        "{}",
        stdout(&out)
    );
    let store = read_json(&dir.path().join("key_store.json"));
    let sym = &store["alice"]["symmetric"];
    let lifetime = sym["expiry"].as_f64().unwrap() - sym["created"].as_f64().unwrap();
    assert!((lifetime - 30.0).abs() < 1e-6, "{lifetime}");
    for args in [
        &["--expiry", "30", "list"][..],
        &["--show-store", "list"],
        &["--admin-password-file", "pw", "list"],
    ] {
        let out = kms_command(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("apply to the interactive session"),
            "{}",
            stderr(&out)
        );
    }
    let out = kms_command(dir.path())
        .args(["--expiry", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_store_keeps_the_original_shape_with_keys_only_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\n"));
    let shown_fingerprint = value_after(&stdout(&out), "Symmetric key (hashed): ").to_owned();
    let path = dir.path().join("key_store.json");
    assert_eq!(mode(&path), 0o600);
    assert!(!dir.path().join("revoked_keys.json").exists());

    let store = read_json(&path);
    let alice = &store["alice"];
    assert_eq!(store.as_object().unwrap().len(), 1);
    assert_eq!(alice["format"], 3);

    // The original's shape: `symmetric` {`key`, `expiry`}, `private`
    // {`salt`, `key`} and `public`, for the newest keys; a new user has
    // version 1 and nothing older.
    let sym = &alice["symmetric"];
    assert_eq!(sym["version"], 1);
    let expiry = sym["expiry"].as_f64().unwrap();
    let created = sym["created"].as_f64().unwrap();
    assert!((expiry - created - 3600.0).abs() < 1e-6);
    let fingerprint = sym["fingerprint"].as_str().unwrap();
    assert!(fingerprint.starts_with(&shown_fingerprint));
    // The stored key is 32 bytes of ciphertext plus a 16-byte tag, and no
    // 32-byte run of it hashes to the key's fingerprint: it is not the key.
    let wrapped = b64(&sym["key"]);
    assert_eq!(wrapped.len(), 48);
    for window in wrapped.windows(32) {
        assert_ne!(hex(&Sha256::digest(window)), fingerprint);
    }
    assert_eq!(b64(&sym["nonce"]).len(), 12);
    assert_eq!(sym["cipher"], "aes-256-gcm");
    assert!(alice.get("previous").is_none());

    let private = &alice["private"];
    assert_eq!(b64(&private["salt"]).len(), 16);
    assert_eq!(private["kdf"], "pbkdf2-hmac-sha256");
    assert_eq!(private["iterations"], 600_000);
    assert_eq!(private["cipher"], "aes-256-gcm");
    // The ciphertext holds no readable PKCS#8: no rsaEncryption OID.
    let rsa_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    assert!(
        !b64(&private["key"])
            .windows(rsa_oid.len())
            .any(|w| w == rsa_oid)
    );

    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("PRIVATE KEY"));
    assert!(
        alice["public"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
}

#[test]
fn the_public_key_is_a_pem_that_openssl_reads() {
    let dir = store_with_alice();
    let store = read_json(&dir.path().join("key_store.json"));
    fs::write(
        dir.path().join("alice.pem"),
        store["alice"]["public"].as_str().unwrap(),
    )
    .unwrap();
    let out = openssl(
        &["pkey", "-pubin", "-in", "alice.pem", "-noout", "-text"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(text.contains("Exponent: 65537"), "{text}");
}

#[test]
fn revoking_prints_the_original_lines_and_records_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nyes\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut expected = NEW_USER_NO_REVOKE[..11].to_vec();
    expected.extend([
        "Do you want to revoke keys? (yes/no): yes",
        // One line for the revocation, the original's.
        "Key revoked for alice",
        "Key status for alice:",
        "  expired: no (the symmetric key expires at {time})",
        "  revoked: yes, at {time} (reason: unspecified)",
        // No reason given: a compromise cannot be ruled out.
        "  state (NIST SP 800-57): version 1 is compromised (revoked: unspecified)",
        "Final Key Store State:",
    ]);
    expect_lines(&text, &expected);
    // The record shown at the end is the file's, shortened.
    let shown: Value =
        serde_json::from_str(text.split_once("Final Key Store State:\n").unwrap().1).unwrap();
    assert_shortened(&shown, &read_json(&dir.path().join("key_store.json")));

    let revoked_path = dir.path().join("revoked_keys.json");
    assert_eq!(mode(&revoked_path), 0o600);
    let revoked = read_json(&revoked_path);
    let store = read_json(&dir.path().join("key_store.json"));
    let entry = &revoked[0];
    assert_eq!(revoked.as_array().unwrap().len(), 1);
    assert_eq!(entry["user_id"], "alice");
    assert_eq!(entry["reason"], "unspecified");
    assert_eq!(
        entry["symmetric_fingerprint"],
        store["alice"]["symmetric"]["fingerprint"]
    );
    let pem = store["alice"]["public"].as_str().unwrap();
    let der = B64
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    assert_eq!(entry["public_key_fingerprint"], hex(&Sha256::digest(der)));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!((entry["revoked_at"].as_f64().unwrap() - now.as_secs_f64()).abs() < 60.0);
}

#[test]
fn a_wrong_password_is_refused_and_the_store_is_unchanged() {
    let dir = store_with_alice();
    let before = snapshot(dir.path());
    let out = kms(dir.path(), "alice\nnot the password\nyes\nyes\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: wrong password for alice, or its stored keys are corrupted"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("Replace them"));
    // The key files are unchanged; the audit log records the failure.
    let keys_only = |files: Vec<(String, Vec<u8>)>| -> Vec<_> {
        files
            .into_iter()
            .filter(|(name, _)| name != "audit.log")
            .collect()
    };
    assert!(
        keys_only(snapshot(dir.path())) == keys_only(before),
        "a key file changed"
    );
    let log = fs::read_to_string(dir.path().join("audit.log")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "authentication_failed");
    assert_eq!(last["user"], "alice");
    assert!(!log.contains("not the password"));
}

#[test]
fn an_existing_user_keeps_the_keys_when_asked_to() {
    let dir = store_with_alice();
    let first = read_json(&dir.path().join("key_store.json"));
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    expect_lines(
        &text,
        &[
            "Enter the user ID: alice",
            "Enter the password: ",
            "alice already has keys in the store (made {time}; the symmetric key expires at {time}).",
            "Replace them with new keys? (yes/no): no",
            "Keeping the existing keys for alice",
            "Symmetric key (hashed): {hex}",
        ],
    );
    let fingerprint = first["alice"]["symmetric"]["fingerprint"].as_str().unwrap();
    assert!(fingerprint.starts_with(value_after(&text, "Symmetric key (hashed): ")));
    assert!(text.contains("Secure symmetric key derived!"));
    assert_eq!(read_json(&dir.path().join("key_store.json")), first);
}

#[test]
fn an_existing_user_replaces_the_keys_only_after_saying_yes() {
    let dir = store_with_alice();
    let first = read_json(&dir.path().join("key_store.json"));
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\ny\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    expect_lines(
        &stdout(&out),
        &[
            "Enter the user ID: alice",
            "Enter the password: ",
            "alice already has keys in the store (made {time}; the symmetric key expires at {time}).",
            "Replace them with new keys? (yes/no): y",
            "Symmetric key stored for alice, expires in 3600 seconds",
            "Asymmetric keys stored securely for alice",
            "Keys Generated and Stored Securely:",
        ],
    );
    // Replacing is a rotation: version 2 is new and takes the original's
    // fields at the top; version 1 is kept as it was, under `previous`, so
    // no key is lost silently.
    let second = read_json(&dir.path().join("key_store.json"));
    assert_eq!(second["alice"]["symmetric"]["version"], 2);
    assert_eq!(second["alice"]["key_pair"]["version"], 2);
    let previous = &second["alice"]["previous"];
    assert_eq!(previous["symmetric"].as_array().unwrap().len(), 1);
    assert_eq!(previous["asymmetric"].as_array().unwrap().len(), 1);
    let old_symmetric = &previous["symmetric"][0];
    assert_eq!(old_symmetric["version"], 1);
    for field in ["expiry", "created", "fingerprint"] {
        assert_eq!(old_symmetric[field], first["alice"]["symmetric"][field]);
    }
    assert_eq!(
        old_symmetric["wrapped"]["key"],
        first["alice"]["symmetric"]["key"]
    );
    let old_pair = &previous["asymmetric"][0];
    assert_eq!(old_pair["public"], first["alice"]["public"]);
    assert_eq!(old_pair["private"], first["alice"]["private"]);
    assert_eq!(
        old_pair["fingerprint"],
        first["alice"]["key_pair"]["fingerprint"]
    );
    assert_ne!(
        second["alice"]["symmetric"]["fingerprint"],
        first["alice"]["symmetric"]["fingerprint"]
    );
    assert_ne!(second["alice"]["public"], first["alice"]["public"]);
    assert_ne!(
        second["alice"]["private"]["salt"],
        first["alice"]["private"]["salt"]
    );
}

#[test]
fn revoked_keys_are_refused_with_when_and_why_until_replaced() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        kms(dir.path(), &format!("alice\n{PASSWORD}\nyes\n"))
            .status
            .success()
    );
    let revoked_before = fs::read(dir.path().join("revoked_keys.json")).unwrap();

    // Keeping revoked keys is refused, with the refusal exit code.
    let before = snapshot(dir.path());
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\n"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    expect_lines(
        &stdout(&out),
        &[
            "Enter the user ID: alice",
            "Enter the password: ",
            "The keys of alice were revoked at {time} (reason: unspecified).",
            "alice already has keys in the store (made {time}; the symmetric key expires at {time}).",
            "Replace them with new keys? (yes/no): no",
        ],
    );
    let err = stderr(&out);
    assert!(
        err.contains("the keys of alice were revoked at") && err.contains("(reason: unspecified)"),
        "{err}"
    );
    assert!(err.contains("issue new keys for alice (in the session, answer yes to \"Replace them with new keys?\")"), "{err}");
    assert_eq!(snapshot(dir.path()), before);

    // Replacing them issues fresh, unrevoked keys; the old entry stays.
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nyes\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Symmetric key stored for alice"), "{text}");
    assert!(text.contains("  revoked: no"), "{text}");
    assert!(
        text.contains("  state (NIST SP 800-57): version 2 is active"),
        "{text}"
    );
    assert_eq!(
        fs::read(dir.path().join("revoked_keys.json")).unwrap(),
        revoked_before
    );
}

#[test]
fn yes_and_no_are_accepted_in_any_case_and_anything_else_asks_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nmaybe\n\nYeS\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let asks = "Do you want to revoke keys? (yes/no): ";
    assert!(text.contains(&format!("{asks}maybe\nPlease answer yes or no.\n{asks}\nPlease answer yes or no.\n{asks}YeS\nKey revoked for alice\n")), "{text}");

    for (answer, revoked) in [("Y", true), ("N", false), ("No", false), ("YES", true)] {
        let dir = tempfile::tempdir().unwrap();
        let out = kms(dir.path(), &format!("bob\n{PASSWORD}\n{answer}\n"));
        assert!(out.status.success(), "{answer}: {}", stderr(&out));
        assert_eq!(
            stdout(&out).contains("Key revoked for bob"),
            revoked,
            "{answer}"
        );
    }
}

#[test]
fn end_of_input_before_the_keys_are_made_writes_nothing() {
    for (input, question) in [
        ("", "Enter the user ID:"),
        ("alice\n", "Enter the password:"),
        ("alice", "Enter the password:"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = kms(dir.path(), input);
        assert_eq!(out.status.code(), Some(1), "{input:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "input ended at the question {question:?}; nothing was written"
            )),
            "{input:?}: {err}"
        );
        assert!(
            snapshot(dir.path()).is_empty(),
            "{input:?} left files behind"
        );
    }
}

#[test]
fn end_of_input_at_a_later_question_keeps_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the keys above are kept and nothing was revoked"),
        "{}",
        stderr(&out)
    );
    assert!(read_json(&dir.path().join("key_store.json"))["alice"]["private"].is_object());
    assert!(!dir.path().join("revoked_keys.json").exists());

    // A known user who stops at the replace question changes nothing.
    let before = snapshot(dir.path());
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("\"Replace them with new keys? (yes/no):\"; nothing was written")
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_bad_user_id_is_refused_with_the_rule() {
    for bad in ["bob smith", "", "ali\u{1b}[31mce", &"x".repeat(65), "a/b"] {
        let dir = tempfile::tempdir().unwrap();
        let out = kms(dir.path(), &format!("{bad}\n{PASSWORD}\nno\n"));
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        let err = stderr(&out);
        assert!(err.contains("invalid user ID"), "{bad:?}: {err}");
        assert!(
            err.contains(
                "1 to 64 characters, each an ASCII letter (a-z, A-Z), a digit or one of . _ - @"
            ),
            "{err}"
        );
        assert!(
            !err.contains('\u{1b}') && !stdout(&out).contains('\u{1b}'),
            "escape reached the terminal"
        );
        assert!(
            !stdout(&out).contains("Enter the password"),
            "asked for a password after a bad ID"
        );
        assert!(snapshot(dir.path()).is_empty());
    }
}

#[test]
fn the_user_id_is_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("  alice\t\n{PASSWORD}\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Symmetric key stored for alice, expires"));
    assert!(read_json(&dir.path().join("key_store.json"))["alice"].is_object());
}

#[test]
fn user_ids_are_case_sensitive() {
    let dir = store_with_alice();
    let out = kms(dir.path(), &format!("Alice\n{PASSWORD}\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Symmetric key stored for Alice"),
        "Alice was taken for alice"
    );
    let store = read_json(&dir.path().join("key_store.json"));
    assert_ne!(store["alice"]["public"], store["Alice"]["public"]);
}

#[test]
fn empty_passwords_and_ones_a_terminal_cannot_type_are_refused() {
    for (password, why) in [
        ("", "the password is empty"),
        ("pass\tword", "control character"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = kms(dir.path(), &format!("alice\n{password}\nno\n"));
        assert_eq!(out.status.code(), Some(1), "{password:?}");
        assert!(stderr(&out).contains(why), "{password:?}: {}", stderr(&out));
        assert!(snapshot(dir.path()).is_empty(), "{password:?}");
    }
}

#[test]
fn the_password_never_appears_in_output_or_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "Tr0ub4dor&3-unique-marker";
    let out = kms(dir.path(), &format!("alice\n{secret}\nyes\n"));
    assert!(out.status.success());
    assert!(!stdout(&out).contains(secret) && !stderr(&out).contains(secret));
    let out = kms(dir.path(), &format!("alice\n{secret}x\n"));
    assert!(!stdout(&out).contains(secret) && !stderr(&out).contains(secret));
    for (name, bytes) in snapshot(dir.path()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{name} holds the password"
        );
    }
}

#[test]
fn a_broken_store_file_is_named_and_left_byte_for_byte() {
    for (file, content) in [
        ("key_store.json", &b"{\"alice\": {\"format\": 1,, }"[..]),
        ("key_store.json", b"[1, 2, 3]"),
        ("key_store.json", b"{\"alice\": {\"format\": 99}}"),
        ("revoked_keys.json", b"not json\n"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(file), content).unwrap();
        let before = snapshot(dir.path());
        let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nyes\n"));
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{file} is broken and was left unchanged")),
            "{err}"
        );
        assert!(err.contains("line 1 column"), "{err}");
        assert!(
            !stdout(&out).contains("Enter the password"),
            "asked before checking the store"
        );
        assert_eq!(snapshot(dir.path()), before, "{file} was touched");
    }
}

#[test]
fn the_store_folder_comes_from_store_or_kms_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms_command(dir.path())
        .args(["--store", "class/kms"])
        .write_stdin(format!("alice\n{PASSWORD}\nno\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("class/kms/key_store.json").exists());
    assert!(!dir.path().join("key_store.json").exists());

    let out = kms_command(dir.path())
        .env("KMS_STORE", dir.path().join("env-store"))
        .write_stdin(format!("bob\n{PASSWORD}\nno\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read_json(&dir.path().join("env-store/key_store.json"))["bob"].is_object());
}

#[test]
fn an_empty_kms_store_means_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms_command(dir.path())
        .env("KMS_STORE", "")
        .write_stdin(format!("alice\n{PASSWORD}\nno\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("key_store.json").exists());
}

#[test]
fn a_store_folder_that_cannot_be_made_is_reported_before_any_question() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a-file"), "").unwrap();
    let out = kms_command(dir.path())
        .args(["--store", "a-file/kms"])
        .write_stdin(format!("alice\n{PASSWORD}\nno\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("a-file/kms") && err.contains("Not a directory"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn overlong_answers_are_refused_without_echo() {
    // 10 MB: the reader stops at the limit, so this costs 4 KB of memory.
    let long_id = "a".repeat(10_000_000);
    let long_password = "p".repeat(1025);
    for (input, question, limit) in [
        (
            format!("{long_id}\n{PASSWORD}\nno\n"),
            "Enter the user ID:",
            4096,
        ),
        (
            format!("alice\n{long_password}\nno\n"),
            "Enter the password:",
            1024,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = kms(dir.path(), &input);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "the answer to {question:?} is longer than {limit} bytes"
            )),
            "{err}"
        );
        assert!(!stdout(&out).contains("aaaa") && !stdout(&out).contains("pppp"));
        assert!(snapshot(dir.path()).is_empty());
    }
    // A password of exactly the limit is fine.
    let dir = tempfile::tempdir().unwrap();
    let out = kms(dir.path(), &format!("alice\n{}\nno\n", "p".repeat(1024)));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_bad_answer_after_the_keys_are_stored_says_they_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms(
        dir.path(),
        &format!("alice\n{PASSWORD}\n{}\n", "y".repeat(5000)),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: the keys above are kept and nothing was revoked: the answer to \"Do you want to revoke keys? (yes/no):\" is longer than 4096 bytes"),
        "{err}"
    );
    assert!(read_json(&dir.path().join("key_store.json"))["alice"].is_object());
    assert!(!dir.path().join("revoked_keys.json").exists());
}

#[test]
fn a_store_file_that_is_a_symbolic_link_is_refused() {
    let dir = store_with_alice();
    let real = dir.path().join("real");
    fs::create_dir(&real).unwrap();
    fs::rename(
        dir.path().join("key_store.json"),
        real.join("key_store.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink("real/key_store.json", dir.path().join("key_store.json")).unwrap();
    let out = kms(dir.path(), &format!("bob\n{PASSWORD}\nno\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("key_store.json is a symbolic link"),
        "{}",
        stderr(&out)
    );
    let link = fs::symlink_metadata(dir.path().join("key_store.json")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(stdout(&out), "");
}

#[test]
fn answers_that_are_not_utf8_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms_command(dir.path())
        .write_stdin(&b"al\xffice\npw\nno\n"[..])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "cannot read the answer from standard input (answers are lines of UTF-8 text)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(snapshot(dir.path()).is_empty());
}

#[test]
fn sessions_running_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let users = ["ann", "ben", "cat", "dan"];
    std::thread::scope(|s| {
        for user in users {
            let path = dir.path();
            s.spawn(move || {
                let out = kms(path, &format!("{user}\n{PASSWORD}\nyes\n"));
                assert!(out.status.success(), "{user}: {}", stderr(&out));
            });
        }
    });
    let store = read_json(&dir.path().join("key_store.json"));
    let revoked = read_json(&dir.path().join("revoked_keys.json"));
    for user in users {
        assert!(store[user]["private"].is_object(), "{user} was lost");
        assert!(
            revoked
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["user_id"] == user),
            "{user}'s revocation was lost"
        );
    }
}

#[test]
fn help_lists_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms_command(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("--store <DIR>") && text.contains("KMS_STORE"),
        "{text}"
    );
    assert!(
        text.contains("3    refused: the key is revoked or expired"),
        "{text}"
    );
    let bad = kms_command(dir.path()).arg("--nope").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_key_edited_in_the_file_is_refused_like_a_wrong_password() {
    // Extending the expiry, or flipping one byte of either wrapped key, makes
    // the keys fail to unlock: the same opaque error as a wrong password.
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 3] = [
        ("expiry", |v| {
            let e = v["alice"]["symmetric"]["expiry"].as_f64().unwrap();
            v["alice"]["symmetric"]["expiry"] = (e + 86_400.0).into();
        }),
        ("symmetric key byte", |v| {
            flip_first_byte(&mut v["alice"]["symmetric"]["key"])
        }),
        ("private key byte", |v| {
            flip_first_byte(&mut v["alice"]["private"]["key"])
        }),
    ];
    for (what, edit) in edits {
        let dir = store_with_alice();
        let path = dir.path().join("key_store.json");
        let mut store = read_json(&path);
        edit(&mut store);
        fs::write(&path, serde_json::to_vec_pretty(&store).unwrap()).unwrap();
        let before = snapshot(dir.path());
        let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\nno\n"));
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(
            stderr(&out).contains("wrong password for alice, or its stored keys are corrupted"),
            "{what}: {}",
            stderr(&out)
        );
        // A failed unlock is logged; nothing else changes.
        assert!(
            keys_only(snapshot(dir.path())) == keys_only(before),
            "{what}: a key file changed"
        );
    }
}

/// A store snapshot without `audit.log`, which records failed passwords.
fn keys_only(files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    files
        .into_iter()
        .filter(|(name, _)| name != "audit.log")
        .collect()
}

fn flip_first_byte(field: &mut Value) {
    let mut bytes = b64(field);
    bytes[0] ^= 0x01;
    *field = B64.encode(bytes).into();
}

/// A reader that closes standard output early (`cargo run | head -2`)
/// stops the session without an error message, with the status of a
/// program that SIGPIPE ended (141), before anything is written.
#[test]
fn a_closed_standard_output_stops_the_session_quietly() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_secure-kms"))
        .args(["--store"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    // The session may be gone before all of its input is written.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("alice\n{PASSWORD}\nno\n").as_bytes());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(!dir.path().join("key_store.json").exists());
}

/// The repository ships the original's two files, as its folder did: an
/// empty key store (`{}`) and an empty revocation list (`[]`). They are
/// exactly that, and `cargo run` beside them starts from an empty store,
/// makes the user's keys, and rewrites them in place (mode 0600).
///
/// The shipped files are read from git's HEAD, not from the working copy:
/// once `cargo run` has run in the checkout (the README's first command),
/// the working copy is that session's store, and `cargo test` must pass
/// after it.
#[test]
fn the_original_s_empty_files_at_the_top_level_are_an_empty_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for (name, shipped) in [("key_store.json", "{}"), ("revoked_keys.json", "[]")] {
        let from_git = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["show", &format!("HEAD:./{name}")])
            .output()
            .ok()
            .filter(|out| out.status.success());
        // Outside a git checkout (a source archive), the file as it is.
        let text = match from_git {
            Some(out) => String::from_utf8(out.stdout).unwrap(),
            None => fs::read_to_string(root.join(name)).unwrap(),
        };
        assert_eq!(text.trim(), shipped, "{name} as the repository ships it");
        fs::write(dir.path().join(name), text).unwrap();
        fs::set_permissions(dir.path().join(name), fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = kms_command(dir.path()).arg("list").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let out = kms(dir.path(), &format!("alice\n{PASSWORD}\nno\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    expect_lines(&stdout(&out), NEW_USER_NO_REVOKE);
    let store = read_json(&dir.path().join("key_store.json"));
    assert!(store.get("alice").is_some(), "{store}");
    assert_eq!(mode(&dir.path().join("key_store.json")), 0o600);
}
