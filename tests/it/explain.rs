//! `--explain`: each step with its real values, which are the ones the
//! store and the files hold, in lines of at most 80 columns. (That no
//! secret is among them is checked by `secret_hygiene`, which runs every
//! command with `--explain`.)

use std::fs;

use base64::Engine;
use serde_json::Value;

use crate::util::{Class, PASSWORD, code, kms_command, stderr, stdout};

/// The text with the lines that `--explain` broke joined again: at a
/// space, and (for a long value broken mid-word) without one.
struct Joined(String, String);

impl Joined {
    fn contains(&self, needle: &str) -> bool {
        self.0.contains(needle) || self.1.contains(needle)
    }
}

fn joined(text: &str) -> Joined {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    Joined(lines.join(" "), lines.join(""))
}

/// The explanation: what comes before the command's own result line.
fn explanation<'a>(text: &'a str, result: &str) -> &'a str {
    let at = text
        .find(result)
        .unwrap_or_else(|| panic!("no {result:?} in\n{text}"));
    &text[..at]
}

fn fits_80_columns(text: &str) {
    assert!(!text.is_empty());
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

/// A store with alice, and a file `essay.txt` beside it to sign.
fn alice_with_an_essay() -> (Class, std::path::PathBuf) {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let file = class.dir.path().join("essay.txt");
    fs::write(&file, "hand-in\n").unwrap();
    (class, file)
}

fn store_json(class: &Class) -> Value {
    serde_json::from_str(&fs::read_to_string(class.store().join("key_store.json")).unwrap())
        .unwrap()
}

/// The last 16 bytes of a stored `key`, in base64: its GCM tag.
fn tag_of(stored_key: &Value) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bytes = b64.decode(stored_key.as_str().unwrap()).unwrap();
    b64.encode(&bytes[bytes.len() - 16..])
}

#[test]
fn keygen_explains_the_values_the_store_holds() {
    let class = Class::new();
    let out = class.run(&["keygen", "alice", "--explain"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    fits_80_columns(explanation(&text, "alice: version 1 made"));
    let flat = joined(&text);
    let store = store_json(&class);
    let sym = &store["alice"]["symmetric"];
    let private = &store["alice"]["private"];
    // PBKDF2: the stored salt and iteration count, and the time it took.
    assert!(
        flat.contains(&format!(
            "PBKDF2-HMAC-SHA256: 600000 iterations, salt {}, ",
            sym["salt"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(
        regex_lite::Regex::new(r"salt \S+, \d+\.\d ms")
            .unwrap()
            .is_match(&flat.0),
        "{text}"
    );
    // HKDF: each purpose's info string.
    assert!(flat.contains("HKDF-SHA256: info \"secure-kms v1 symmetric key wrap\""));
    assert!(flat.contains("HKDF-SHA256: info \"secure-kms v1 private key wrap\""));
    // AES-256-GCM: each stored nonce, associated data and tag.
    for value in [&sym["nonce"], &private["nonce"]] {
        assert!(
            flat.contains(&format!("nonce {}", value.as_str().unwrap())),
            "{text}"
        );
    }
    assert!(
        flat.contains(&format!("tag: {}", tag_of(&sym["key"]))),
        "{text}"
    );
    assert!(
        flat.contains(&format!("tag: {}", tag_of(&private["key"]))),
        "{text}"
    );
    let fingerprint = sym["fingerprint"].as_str().unwrap();
    assert!(
        flat.contains("secure-kms/v2/alice/symmetric/1/") && flat.contains(fingerprint),
        "{text}"
    );
    // RSA: the modulus size, the exponent and the key ID.
    let pair_id = &store["alice"]["key_pair"]["fingerprint"].as_str().unwrap()[..16];
    assert!(flat.contains("2048-bit modulus n, e = 65537"), "{text}");
    assert!(flat.contains(&format!("ID {pair_id}")), "{text}");
    // The result follows the explanation, unchanged.
    assert!(
        text.contains("alice: version 1 made, now the primary"),
        "{text}"
    );

    // Without --explain, none of it; with --json, the JSON alone on stdout.
    let plain = class.ok(&["rotate", "alice"]);
    assert!(!plain.contains("PBKDF2"), "{plain}");
    let json = class.run(&["rotate", "alice", "--explain", "--json"]);
    let result: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(result["version"], 3);
    assert!(
        stderr(&json).contains("How version 3 of alice's keys"),
        "{}",
        stderr(&json)
    );
}

#[test]
fn encrypt_and_decrypt_explain_the_header_of_the_file() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let dir = class.dir.path();
    fs::write(dir.join("notes.txt"), vec![b'x'; 70_000]).unwrap();
    let (plain, sealed) = (dir.join("notes.txt"), dir.join("notes.kms"));
    let out = class.run(&[
        "encrypt",
        "alice",
        plain.to_str().unwrap(),
        sealed.to_str().unwrap(),
        "--explain",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    fits_80_columns(explanation(&text, "Encrypted for alice"));
    let flat = joined(&text);
    let bytes = fs::read(&sealed).unwrap();
    let header = secure_kms::formats::envelope::read_header(&mut &bytes[..]).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    assert!(
        flat.contains(&format!("nonce {}", b64.encode(header.wrap_nonce))),
        "{text}"
    );
    assert!(
        flat.contains(&String::from_utf8(header.associated_data()).unwrap()),
        "{text}"
    );
    assert!(
        flat.contains(&format!("tag: {}", b64.encode(&header.wrapped_key[32..]))),
        "{text}"
    );
    assert!(
        flat.contains("70000 bytes in 2 chunk(s) of at most 64 KiB"),
        "{text}"
    );
    assert!(
        flat.contains("info \"secure-kms v1 file payload\""),
        "{text}"
    );

    let back = dir.join("back.txt");
    let out = class.run(&[
        "decrypt",
        "alice",
        sealed.to_str().unwrap(),
        back.to_str().unwrap(),
        "--explain",
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("How the file was decrypted"), "{text}");
    assert!(joined(&text).contains(&format!("nonce {}", b64.encode(header.wrap_nonce))));

    // To standard output, the data stays alone there: the steps go to stderr.
    let piped = class.run(&[
        "encrypt",
        "alice",
        plain.to_str().unwrap(),
        "-",
        "--explain",
    ]);
    assert!(
        piped
            .stdout
            .starts_with(secure_kms::formats::envelope::MAGIC)
    );
    assert!(
        stderr(&piped).contains("How the file was encrypted"),
        "{}",
        stderr(&piped)
    );
}

#[test]
fn sign_verify_and_revoke_explain_pss_and_the_entry() {
    let (class, file) = alice_with_an_essay();
    let digest = crate::util::hex(&<sha2::Sha256 as sha2::Digest>::digest(b"hand-in\n"));
    let f = file.to_str().unwrap();
    let sig = format!("{f}.sig");
    let signed = class.ok(&["sign", "alice", f, "--explain"]);
    fits_80_columns(explanation(&signed, "Signed by alice"));
    let flat = joined(&signed);
    assert!(flat.contains(&digest), "{signed}");
    assert!(
        flat.contains("hash SHA-256, MGF1-SHA-256, salt length 32 bytes, 256-byte signature"),
        "{signed}"
    );
    let verified = class.ok(&["verify", "alice", f, &sig, "--explain"]);
    assert!(joined(&verified).contains(&digest), "{verified}");
    assert!(verified.contains("state: active"), "{verified}");

    let revoked = class.ok(&[
        "revoke",
        "alice",
        "--reason",
        "affiliationChanged",
        "--explain",
    ]);
    fits_80_columns(explanation(&revoked, "Key revoked for alice"));
    let flat = joined(&revoked);
    let entry: Value = class.json(&["revoked"])[0].clone();
    assert!(
        flat.contains(&format!(
            "entry: alice version 1, at {}",
            entry["revoked_at"].as_str().unwrap()
        )),
        "{revoked}"
    );
    let id = &entry["symmetric_fingerprint"].as_str().unwrap()[..16];
    assert!(
        flat.contains(&format!("symmetric key ID: {id}")),
        "{revoked}"
    );
    assert!(
        flat.contains("reason: affiliationChanged (RFC 5280 section 5.3.1)"),
        "{revoked}"
    );
    assert!(
        flat.contains("now deactivated (revoked: affiliationChanged)"),
        "{revoked}"
    );
}

#[test]
fn the_session_explains_each_step_and_a_command_without_steps_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = kms_command(dir.path())
        .arg("--explain")
        .write_stdin(format!("alice\n{PASSWORD}\nyes\n"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for (from, to) in [
        ("How version 1", "Keys Generated"),
        (
            "The exchange, step by step",
            "Secure symmetric key derived!",
        ),
        ("What the revocation wrote", "Key status for alice:"),
    ] {
        let start = text.find(from).unwrap();
        fits_80_columns(explanation(&text[start..], to));
    }
    // In the original's order: the keys, the exchange, the revocation.
    let at = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("no {s:?} in\n{text}"))
    };
    assert!(at("How version 1 of alice's keys") < at("The exchange, step by step"));
    assert!(at("The exchange, step by step") < at("Secure symmetric key derived!"));
    assert!(at("Key revoked for alice") < at("What the revocation wrote"));
    let flat = joined(&text);
    assert!(
        flat.contains("HKDF-SHA256(Z, info \"key exchange\")"),
        "{text}"
    );
    let parties: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("key at "))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(parties.len(), 2, "{text}");
    assert_eq!(parties[0], parties[1]);

    let refused = kms_command(dir.path())
        .args(["list", "--explain"])
        .output()
        .unwrap();
    assert_eq!(code(&refused), Some(2));
    assert!(
        stderr(&refused).contains("--explain applies to the session"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn data_on_standard_output_stays_alone_there_with_explain() {
    let (class, file) = alice_with_an_essay();
    let dir = class.dir.path();
    let f = file.to_str().unwrap();
    // A signature to standard output: its 256 bytes and nothing else.
    let signed = class.run(&["sign", "alice", f, "-o", "-", "--explain"]);
    assert_eq!(code(&signed), Some(0), "{}", stderr(&signed));
    assert_eq!(signed.stdout.len(), 256);
    assert!(stderr(&signed).contains("How alice's RSA key version 1 signed"));
    let sig = dir.join("essay.sig");
    fs::write(&sig, &signed.stdout).unwrap();
    let verified = class.ok(&["verify", "alice", f, sig.to_str().unwrap()]);
    assert!(verified.starts_with("Verified OK"), "{verified}");
    // A file decrypted to standard output: the plaintext and nothing else.
    let sealed = dir.join("essay.kms");
    class.ok(&["encrypt", "alice", f, sealed.to_str().unwrap()]);
    let opened = class.run(&[
        "decrypt",
        "alice",
        sealed.to_str().unwrap(),
        "-",
        "--explain",
    ]);
    assert_eq!(code(&opened), Some(0), "{}", stderr(&opened));
    assert_eq!(opened.stdout, b"hand-in\n");
    assert!(stderr(&opened).contains("How the file was decrypted"));
}
