//! Using the keys through the binary: encrypt, decrypt and rewrap files,
//! sign and verify, export and import. Each state rule of NIST SP 800-57
//! (see `src/keys/keyring.rs`) is checked where a key is used, and every
//! refusal leaves no output behind.

use std::fs;
use std::path::Path;

use crate::util::{Class, PASSWORD, code, kms_command, stderr, stdout};

/// A file of `len` bytes that is not all one value.
fn data(class: &Class, name: &str, len: usize) -> std::path::PathBuf {
    let path = class.dir.path().join(name);
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 257) as u8).collect();
    fs::write(&path, bytes).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// No temporary file is left in `dir`.
fn no_leftovers(dir: &Path) {
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// Waits until a key made with `--expiry 1` has expired. Not a timing
/// target: only what makes the key expire.
fn let_it_expire() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

#[test]
fn a_file_round_trips_and_decrypts_after_a_rotation() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let plain = data(&class, "plain", 200_000);
    let enc = class.dir.path().join("plain.kms");
    let out = class.ok(&["encrypt", "alice", s(&plain), s(&enc)]);
    assert!(out.contains("under key version 1"), "{out}");
    // The magic line, the header line, then the plaintext with a 16-byte
    // tag per 64 KiB chunk (four chunks here).
    let bytes = fs::read(&enc).unwrap();
    assert!(bytes.starts_with(b"secure-kms encrypted file v1\n"));
    let header_end = bytes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'\n')
        .nth(1)
        .unwrap()
        .0;
    assert_eq!(bytes.len() - header_end - 1, 200_000 + 4 * 16);
    class.ok(&["rotate", "alice"]);
    // Version 1 is deactivated now: it still decrypts.
    let back = class.dir.path().join("back");
    let out = class.ok(&["decrypt", "alice", s(&enc), s(&back)]);
    assert!(out.contains("key version 1"), "{out}");
    assert_eq!(fs::read(&back).unwrap(), fs::read(&plain).unwrap());
    // New files take version 2.
    let enc2 = class.dir.path().join("plain2.kms");
    let json = class.json(&["encrypt", "alice", s(&plain), s(&enc2)]);
    assert_eq!(json["key_version"], 2);
    no_leftovers(class.dir.path());
}

#[test]
fn encryption_refuses_a_key_that_is_not_active() {
    let class = Class::new();
    let plain = data(&class, "plain", 10);
    class.ok(&["keygen", "alice", "--expiry", "1"]);
    let_it_expire();
    let out_path = class.dir.path().join("x.kms");
    let expired = class.run(&["encrypt", "alice", s(&plain), s(&out_path)]);
    assert_eq!(code(&expired), Some(3), "{}", stderr(&expired));
    assert!(
        stderr(&expired).contains("expired at"),
        "{}",
        stderr(&expired)
    );
    assert!(!out_path.exists());

    class.ok(&["rotate", "alice"]);
    class.ok(&["revoke", "alice", "--reason", "keyCompromise"]);
    let revoked = class.run(&["encrypt", "alice", s(&plain), s(&out_path)]);
    assert_eq!(code(&revoked), Some(3));
    assert!(
        stderr(&revoked).contains("(reason: keyCompromise)"),
        "{}",
        stderr(&revoked)
    );
    assert!(!out_path.exists());
    no_leftovers(class.dir.path());
}

#[test]
fn decryption_refuses_a_compromised_or_destroyed_version_before_the_password() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let plain = data(&class, "plain", 1000);
    let enc = class.dir.path().join("plain.kms");
    class.ok(&["encrypt", "alice", s(&plain), s(&enc)]);
    class.ok(&["rotate", "alice"]);
    class.ok(&[
        "revoke",
        "alice",
        "--version",
        "1",
        "--reason",
        "affiliationChanged",
    ]);
    let back = class.dir.path().join("back");
    // Even with a wrong password the answer is the revocation: the password
    // is not asked for a file that cannot be opened anyway.
    let out = class.run_with("wrong", &["decrypt", "alice", s(&enc), s(&back)]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("revoked at 20") && err.contains("affiliationChanged; version 1"),
        "{err}"
    );
    assert!(!back.exists());

    // Destroyed: the file names a version whose key is gone.
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let plain = data(&class, "plain", 1000);
    let enc = class.dir.path().join("plain.kms");
    let back = class.dir.path().join("back");
    class.ok(&["encrypt", "alice", s(&plain), s(&enc)]);
    class.ok(&["rotate", "alice"]);
    class.ok(&["destroy", "alice", "--version", "1", "--yes"]);
    let out = class.run(&["decrypt", "alice", s(&enc), s(&back)]);
    assert_eq!(code(&out), Some(3));
    assert!(
        stderr(&out).contains("version 1 of the keys of alice was destroyed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rotate_then_rewrap_lets_the_old_version_be_destroyed() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let plain = data(&class, "plain", 150_000);
    let (a, b) = (
        class.dir.path().join("a.kms"),
        class.dir.path().join("b.kms"),
    );
    class.ok(&["encrypt", "alice", s(&plain), s(&a)]);
    class.ok(&["encrypt", "alice", s(&plain), s(&b)]);
    let payload_of = |p: &Path| {
        let bytes = fs::read(p).unwrap();
        let header_end = bytes
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == b'\n')
            .nth(1)
            .unwrap()
            .0;
        bytes[header_end + 1..].to_vec()
    };
    let before = payload_of(&a);
    class.ok(&["rotate", "alice"]);
    let json = class.json(&["rewrap", "alice", s(&a), s(&b)]);
    assert_eq!(json[0]["from_version"], 1);
    assert_eq!(json[0]["to_version"], 2);
    assert_eq!(json[1]["rewrapped"], true);
    // The payload is untouched; only the header changed.
    assert_eq!(payload_of(&a), before);
    // Rewrapping again changes nothing.
    let again = class.ok(&["rewrap", "alice", s(&a)]);
    assert!(
        again.contains("already under version 2, unchanged"),
        "{again}"
    );
    class.ok(&["destroy", "alice", "--version", "1", "--yes"]);
    for f in [&a, &b] {
        let back = class.dir.path().join("back");
        class.ok(&["decrypt", "alice", s(f), s(&back), "--force"]);
        assert_eq!(fs::read(&back).unwrap(), fs::read(&plain).unwrap());
    }
    no_leftovers(class.dir.path());
}

#[test]
fn a_tampered_file_leaves_no_output_and_names_the_chunk() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let plain = data(&class, "plain", 3 * 65536 + 5);
    let enc = class.dir.path().join("plain.kms");
    class.ok(&["encrypt", "alice", s(&plain), s(&enc)]);
    let mut bytes = fs::read(&enc).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&enc, &bytes).unwrap();
    let back = class.dir.path().join("back");
    let out = class.run(&["decrypt", "alice", s(&enc), s(&back)]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("fails authentication at chunk 3"),
        "{}",
        stderr(&out)
    );
    // Three good chunks came before the bad one; none of them was kept.
    assert!(!back.exists());
    no_leftovers(class.dir.path());
}

#[test]
fn wrong_user_wrong_password_and_existing_output_are_refused() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    class.ok(&["keygen", "bob"]);
    let plain = data(&class, "plain", 100);
    let enc = class.dir.path().join("plain.kms");
    class.ok(&["encrypt", "alice", s(&plain), s(&enc)]);
    let back = class.dir.path().join("back");

    let bob = class.run(&["decrypt", "bob", s(&enc), s(&back)]);
    assert_eq!(code(&bob), Some(1));
    assert!(
        stderr(&bob).contains("encrypted for alice, not for bob"),
        "{}",
        stderr(&bob)
    );

    let wrong = class.run_with("wrong", &["decrypt", "alice", s(&enc), s(&back)]);
    assert_eq!(code(&wrong), Some(1));
    assert!(stderr(&wrong).contains("wrong password for alice"));
    assert_eq!(
        class.audit_events().last().map(String::as_str),
        Some("authentication_failed")
    );
    assert!(!back.exists());

    let exists = class.run(&["encrypt", "alice", s(&plain), s(&enc)]);
    assert_eq!(code(&exists), Some(1));
    assert!(stderr(&exists).contains("--force"), "{}", stderr(&exists));
    let not_ours = class.run(&["decrypt", "alice", s(&plain), s(&back)]);
    assert_eq!(code(&not_ours), Some(1));
    assert!(stderr(&not_ours).contains("not a secure-kms encrypted file"));
    no_leftovers(class.dir.path());
}

#[test]
fn standard_input_and_output_stream_through() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
    let pw = class.dir.path().join("pw");
    let run = |args: &[&str], input: Vec<u8>| {
        kms_command(class.dir.path())
            .args(["--store", "kms", "--password-file", s(&pw)])
            .args(args)
            .write_stdin(input)
            .output()
            .unwrap()
    };
    let enc = run(&["encrypt", "alice", "-", "-"], plain.clone());
    assert_eq!(code(&enc), Some(0), "{}", stderr(&enc));
    let dec = run(&["decrypt", "alice", "-", "-"], enc.stdout.clone());
    assert_eq!(code(&dec), Some(0), "{}", stderr(&dec));
    assert_eq!(dec.stdout, plain);
    // Without a password file, standard input cannot hold both.
    let out = kms_command(class.dir.path())
        .args(["--store", "kms", "encrypt", "alice", "-", "x.kms"])
        .write_stdin(format!("{PASSWORD}\ndata"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("give it with --password-file"));
}

#[test]
fn signatures_name_their_version_and_a_compromised_signer_is_refused() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let file = data(&class, "doc", 70_000);
    let json = class.json(&["sign", "alice", s(&file)]);
    assert_eq!(json["version"], 1);
    let sig = class.dir.path().join("doc.sig");
    assert_eq!(fs::read(&sig).unwrap().len(), 256);

    // verify needs no password: run it with no password file at all.
    let verify = |args: &[&str]| {
        kms_command(class.dir.path())
            .args(["--store", "kms"])
            .args(args)
            .output()
            .unwrap()
    };
    let ok = verify(&["verify", "alice", s(&file), s(&sig)]);
    assert_eq!(code(&ok), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("signed by alice with key version 1, now active\n"));

    // After a rotation version 1 still verifies, and signs no more.
    class.ok(&["rotate", "alice"]);
    let ok = verify(&["verify", "alice", s(&file), s(&sig)]);
    assert!(
        stdout(&ok).contains("key version 1, now deactivated (superseded by version 2)"),
        "{}",
        stdout(&ok)
    );

    let mut changed = fs::read(&file).unwrap();
    changed[0] ^= 1;
    let other = class.dir.path().join("changed");
    fs::write(&other, changed).unwrap();
    let bad = verify(&["verify", "alice", s(&other), s(&sig)]);
    assert_eq!(code(&bad), Some(1));
    assert!(stderr(&bad).contains("signature verification failed"));
    let bob = {
        class.ok(&["keygen", "bob"]);
        verify(&["verify", "bob", s(&file), s(&sig)])
    };
    assert_eq!(code(&bob), Some(1));

    class.ok(&[
        "revoke",
        "alice",
        "--version",
        "1",
        "--reason",
        "keyCompromise",
    ]);
    let refused = verify(&["verify", "alice", s(&file), s(&sig)]);
    assert_eq!(code(&refused), Some(3));
    assert!(
        stderr(&refused)
            .contains("this signature was made with version 1 of alice's keys, revoked at")
            && stderr(&refused).contains(
                "(reason: keyCompromise), and is not accepted: ask alice for a new signature"
            ),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn an_expired_key_does_not_sign() {
    let class = Class::new();
    class.ok(&["keygen", "alice", "--expiry", "1"]);
    let file = data(&class, "doc", 10);
    let_it_expire();
    let out = class.run(&["sign", "alice", s(&file)]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(!class.dir.path().join("doc.sig").exists());
}

#[test]
fn exports_are_0600_never_overwrite_and_are_refused_when_compromised() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    fs::write(class.dir.path().join("epw"), "export password\n").unwrap();
    let key = class.dir.path().join("alice.key");
    let export = |class: &Class, extra: &[&str]| {
        let mut args = vec![
            "export",
            "alice",
            "--private",
            "--export-password-file",
            "epw",
            "-o",
        ];
        args.push(s(&key));
        args.extend_from_slice(extra);
        class.run(&args)
    };
    let out = export(&class, &[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pem = fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert!(!pem.contains(PASSWORD) && !pem.contains("export password"));
    assert_eq!(
        class.audit_events().last().map(String::as_str),
        Some("exported")
    );
    let again = export(&class, &[]);
    assert_eq!(code(&again), Some(1));
    assert_eq!(fs::read_to_string(&key).unwrap(), pem);
    assert_eq!(code(&export(&class, &["--force"])), Some(0));

    let public = class.ok(&["export", "alice", "--public"]);
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));

    class.ok(&["revoke", "alice", "--reason", "keyCompromise"]);
    let refused = export(&class, &["--force"]);
    assert_eq!(code(&refused), Some(3));
    let events = class.audit_events();
    assert_eq!(events.iter().filter(|e| *e == "exported").count(), 2);
}

#[test]
fn import_takes_only_an_encrypted_rsa_key_of_2048_to_4096_bits() {
    let class = Class::new();
    fs::write(class.dir.path().join("kpw"), "key password\n").unwrap();
    let import = |file: &str| {
        class.run(&[
            "import",
            "alice",
            "--private",
            file,
            "--import-password-file",
            "kpw",
        ])
    };
    for (file, content, why) in [
        (
            "plain.pem",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
            "unencrypted private key",
        ),
        (
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "CERTIFICATE",
        ),
        ("junk.pem", "hello", "not a PEM file"),
        (
            "broken.pem",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "it is not a well-formed encrypted PKCS#8 file",
        ),
    ] {
        fs::write(class.dir.path().join(file), content).unwrap();
        let out = import(file);
        assert_eq!(code(&out), Some(1), "{file}");
        assert!(stderr(&out).contains(why), "{file}: {}", stderr(&out));
    }
    assert!(!class.store().join("key_store.json").exists());
}

#[test]
fn a_key_the_store_has_had_cannot_come_back_by_import() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    fs::write(class.dir.path().join("epw"), "export password\n").unwrap();
    class.ok(&[
        "export",
        "alice",
        "--private",
        "--export-password-file",
        "epw",
        "-o",
        "v1.key",
    ]);
    let import = |class: &Class| {
        class.run(&[
            "import",
            "alice",
            "--private",
            "v1.key",
            "--import-password-file",
            "epw",
        ])
    };
    // While it is still version 1...
    let same = import(&class);
    assert_eq!(code(&same), Some(1));
    assert!(
        stderr(&same).contains("already version 1 of alice's keys, now active:"),
        "{}",
        stderr(&same)
    );
    // ...and once destroyed: a destroyed key stays destroyed.
    class.ok(&["rotate", "alice"]);
    class.ok(&["destroy", "alice", "--version", "1", "--yes"]);
    let back = import(&class);
    assert_eq!(code(&back), Some(1));
    assert!(
        stderr(&back).contains("now destroyed (key material erased)"),
        "{}",
        stderr(&back)
    );
    assert_eq!(class.states("alice"), ["destroyed", "active"]);
}

#[test]
fn a_compromised_public_key_is_not_exported_and_a_private_export_to_stdout_is_only_pem() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    fs::write(class.dir.path().join("epw"), "export password\n").unwrap();
    let pem = class.ok(&[
        "export",
        "alice",
        "--private",
        "--export-password-file",
        "epw",
        "-o",
        "-",
    ]);
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert!(
        pem.ends_with("-----END ENCRYPTED PRIVATE KEY-----\n"),
        "{pem}"
    );
    class.ok(&["revoke", "alice", "--reason", "keyCompromise"]);
    let out = class.run(&["export", "alice", "--public"]);
    assert_eq!(code(&out), Some(3));
    assert!(stdout(&out).is_empty());
}

#[test]
fn rewrap_keeps_permissions_and_refuses_symbolic_links() {
    use std::os::unix::fs::PermissionsExt;
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let plain = data(&class, "plain", 100);
    let enc = class.dir.path().join("shared.kms");
    class.ok(&["encrypt", "alice", s(&plain), s(&enc)]);
    fs::set_permissions(&enc, fs::Permissions::from_mode(0o640)).unwrap();
    let link = class.dir.path().join("link.kms");
    std::os::unix::fs::symlink(&enc, &link).unwrap();
    class.ok(&["rotate", "alice"]);
    let out = class.run(&["rewrap", "alice", s(&link)]);
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    class.ok(&["rewrap", "alice", s(&enc)]);
    assert_eq!(
        fs::metadata(&enc).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn an_interrupted_decryption_leaves_no_plaintext() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    // 40 chunks: more than two batches of 16 (1 MiB), which are decrypted
    // and written as they come, so half the file yields plaintext.
    let plain = data(&class, "plain", 40 * 65536);
    let enc = class.dir.path().join("plain.kms");
    class.ok(&["encrypt", "alice", s(&plain), s(&enc)]);
    let bytes = fs::read(&enc).unwrap();
    let out_dir = class.dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secure-kms"))
        .args([
            "--store",
            "kms",
            "--password-file",
            "pw",
            "decrypt",
            "alice",
            "-",
        ])
        .arg(out_dir.join("plain"))
        .current_dir(class.dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half the file, then wait until the plaintext so far is on disk in the
    // temporary file.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let temp_with_data = || {
        fs::read_dir(&out_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.metadata().is_ok_and(|m| m.len() > 0))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // The first batch reaches the temporary file: wait for it.
    while !temp_with_data() {
        assert!(std::time::Instant::now() < deadline, "no output appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(stdin);
}
