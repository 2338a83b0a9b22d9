//! Terminal escapes planted in files: an exchange message's fields, an
//! encrypted file's header, an audit line, a file's name. None reaches
//! the terminal as a control sequence: each is shown escaped (`\u{1b}`),
//! in errors, tables and messages alike.

use std::fs;

use serde_json::Value;
use sha2::Digest;

use crate::util::{Class, code, stderr, stdout};

/// Sets a window title and rings the bell, on a terminal that obeys.
const TITLE: &str = "\u{1b}]0;pwned\u{7}";

/// What `TITLE` must be shown as.
const SHOWN: &str = "\\u{1b}]0;pwned\\u{7}";

/// Checks that `text` holds no control character but newlines (and, in
/// plain output, the tabs that separate fields), nor a bidi override.
fn assert_clean(what: &str, text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}')
        .collect();
    assert!(raw.is_empty(), "{what}: raw {raw:?} in {text:?}");
}

fn assert_refused_escaped(what: &str, out: &std::process::Output) {
    let err = stderr(out);
    assert_ne!(code(out), Some(0), "{what}: {err}");
    assert_clean(what, &err);
    assert_clean(what, &stdout(out));
    assert!(err.contains(SHOWN), "{what}: expected {SHOWN:?} in {err:?}");
}

fn two_users() -> Class {
    let class = Class::new();
    fs::write(class.dir.path().join("bob"), "bob's password\n").unwrap();
    class.ok(&["keygen", "alice"]);
    assert_eq!(code(&class.run_with("bob", &["keygen", "bob"])), Some(0));
    class
}

#[test]
fn an_exchange_offer_with_escapes_in_its_fields() {
    let class = two_users();
    class.ok(&[
        "exchange",
        "offer",
        "alice",
        "--to",
        "bob",
        "-o",
        "offer.json",
    ]);
    let path = class.dir.path().join("offer.json");
    let offer: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for field in ["recipient", "group"] {
        let mut edited = offer.clone();
        if field == "recipient" {
            edited["recipient"]["user"] = format!("bob{TITLE}").into();
        } else {
            edited["group"] = TITLE.into();
        }
        fs::write(&path, edited.to_string()).unwrap();
        let out = class.run_with(
            "bob",
            &["exchange", "accept", "bob", "offer.json", "-o", "a.json"],
        );
        assert_refused_escaped(&format!("offer {field}"), &out);
    }
}

#[test]
fn an_encrypted_files_header_with_an_escaped_field_name() {
    let class = two_users();
    fs::write(class.dir.path().join("data"), "data").unwrap();
    class.ok(&["encrypt", "alice", "data", "data.enc"]);
    let path = class.dir.path().join("data.enc");
    let bytes = fs::read(&path).unwrap();
    let magic = b"secure-kms encrypted file v1\n".len();
    let end = magic + bytes[magic..].iter().position(|&b| b == b'\n').unwrap();
    let mut header: Value = serde_json::from_slice(&bytes[magic..end]).unwrap();
    header[TITLE] = 1.into();
    let mut forged = bytes[..magic].to_vec();
    forged.extend_from_slice(header.to_string().as_bytes());
    forged.extend_from_slice(&bytes[end..]);
    fs::write(&path, forged).unwrap();
    let out = class.run(&["decrypt", "alice", "data.enc", "data.out"]);
    assert_refused_escaped("header", &out);
}

/// A line appended to the log with a correct link (the chain has no key,
/// so anyone can add one), its `command` and `time_utc` full of escapes.
#[test]
fn an_audit_line_with_escapes_in_its_fields() {
    let class = two_users();
    let path = class.store().join("audit.log");
    let log = fs::read_to_string(&path).unwrap();
    let last = log.trim_end().lines().last().unwrap();
    let seq = log.lines().count() + 1;
    let prev = sha2::Sha256::digest(last.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let line = serde_json::json!({
        "seq": seq, "time": 1.8e9, "time_utc": format!("2027{TITLE}"),
        "event": "authentication_failed", "user": "alice",
        "command": format!("rm\u{202e}{TITLE}\u{1b}[2J"), "prev": prev,
    });
    fs::write(&path, format!("{log}{line}\n")).unwrap();
    let out = class.run(&["audit"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_clean("audit", &stdout(&out));
    assert!(stdout(&out).contains(SHOWN), "{}", stdout(&out));
    let out = class.run(&["--json", "audit"]);
    assert_clean("audit --json", &stdout(&out));
}

/// A file's name is input too: `rewrap` prints each name it was given, as
/// a shell's `*` passes on whatever a hostile folder holds; and the store
/// folder's name reaches the warnings.
#[test]
fn hostile_names_of_files_and_folders_are_shown_escaped() {
    let class = two_users();
    let name = format!("x{TITLE}.enc");
    fs::write(class.dir.path().join("data"), "data").unwrap();
    // Each command that names its output file.
    let outputs = [
        vec!["encrypt", "alice", "data", &name],
        vec!["decrypt", "alice", &name, "out\u{1b}]0;pwned\u{7}"],
        vec![
            "export",
            "alice",
            "--public",
            "-o",
            "pub\u{1b}]0;pwned\u{7}",
        ],
        vec![
            "exchange",
            "offer",
            "alice",
            "--to",
            "bob",
            "-o",
            "offer\u{1b}]0;pwned\u{7}",
        ],
    ];
    for args in outputs {
        let out = class.run(&args);
        assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
        assert_clean(args[0], &stdout(&out));
        assert!(stdout(&out).contains(SHOWN), "{args:?}: {}", stdout(&out));
    }
    let out = class.run(&["rewrap", "alice", &name]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_clean("rewrap", &stdout(&out));
    assert!(stdout(&out).contains(SHOWN), "{}", stdout(&out));
    // A store folder so named, writable by others: the warning names it.
    let store = class.dir.path().join(format!("kms{TITLE}"));
    fs::create_dir(&store).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&store, fs::Permissions::from_mode(0o777)).unwrap();
    let out = crate::util::kms_command(class.dir.path())
        .args(["--store", store.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    assert_clean("warning", &stderr(&out));
    assert!(stderr(&out).contains(SHOWN), "{}", stderr(&out));
    // A change left unfinished there: the note names the journal escaped.
    fs::set_permissions(&store, fs::Permissions::from_mode(0o700)).unwrap();
    let run = |args: &[&str], crash: Option<&str>| {
        let mut command = crate::util::kms_command(class.dir.path());
        if let Some(point) = crash {
            command.env("SECURE_KMS_CRASH_AFTER", point);
        }
        let pw = class.dir.path().join("pw");
        command
            .args([
                "--store",
                store.to_str().unwrap(),
                "--password-file",
                pw.to_str().unwrap(),
            ])
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(code(&run(&["keygen", "carol"], None)), Some(0));
    assert_eq!(code(&run(&["rotate", "carol"], Some("journal"))), None);
    let out = run(&["status", "carol"], None);
    assert_clean("the unfinished-change note", &stderr(&out));
    assert!(stderr(&out).contains("did not finish"), "{}", stderr(&out));
    assert!(stderr(&out).contains(SHOWN), "{}", stderr(&out));
}

/// Text before a PEM's armor (which PEM decoders skip) in a stored public
/// key or root: it would be printed as stored by `export --public` or
/// `ca show`, so it is refused when the file is read.
#[test]
fn text_around_a_stored_pem_is_refused() {
    let class = two_users();
    let path = class.store().join("key_store.json");
    let mut store: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let public = store["alice"]["public"].as_str().unwrap().to_owned();
    store["alice"]["public"] = format!("{TITLE}\u{202e}\n{public}").into();
    fs::write(&path, serde_json::to_string_pretty(&store).unwrap()).unwrap();
    let out = class.run(&["export", "alice", "--public"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert_clean("a public key's preamble", &stdout(&out));
    assert_clean("a public key's preamble", &stderr(&out));
    assert!(
        stderr(&out).contains("before its -----BEGIN line"),
        "{}",
        stderr(&out)
    );
}
