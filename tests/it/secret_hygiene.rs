//! No secret in any output or file, but wrapped. One store goes through the
//! interactive session and every subcommand with a known password; then
//! every secret it holds (the password, each symmetric key, each RSA
//! private key, each encrypted file's data key), recovered through the
//! library, is searched for as raw bytes, hex and base64 in everything the
//! runs printed and in every file they left. Files are 0600 whatever the
//! umask, and a store folder others can write to is warned about.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{Class, PASSWORD, hex, kms_command, stderr};
use base64::Engine;
use pkcs8::EncodePrivateKey;
use secure_kms::crypto::kdf::{Password, PasswordKey};
use secure_kms::util::user::UserId;

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The forms a secret could leak in: raw, lower and upper hex, base64.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    vec![
        secret.to_vec(),
        hex(secret).into_bytes(),
        hex(secret).to_uppercase().into_bytes(),
        // A base64 prefix, so a secret inside a longer encoded blob (a PEM
        // body) is found too, whatever its alignment there.
        b64.as_bytes()[..b64.len().min(40)].to_vec(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_secret_appears_in_any_output_or_file_except_wrapped() {
    let class = Class::new();
    let work = class.dir.path();
    fs::write(work.join("plain.txt"), "a secret-free message\n").unwrap();
    fs::write(work.join("export-pw"), "an export password\n").unwrap();
    let mut printed: Vec<u8> = Vec::new();
    let mut run = |args: &[&str]| {
        let out = class.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        printed.extend_from_slice(&out.stdout);
        printed.extend_from_slice(&out.stderr);
    };
    let path = |name: &str| work.join(name).to_str().unwrap().to_owned();
    // Every command that explains itself runs with --explain: its steps
    // show salts, nonces, tags and hashes, never a key.
    run(&["keygen", "alice", "--explain"]);
    run(&["keygen", "bob"]);
    run(&["rotate", "alice", "--explain"]);
    run(&[
        "encrypt",
        "alice",
        &path("plain.txt"),
        &path("plain.kms"),
        "--explain",
    ]);
    run(&["rotate", "alice"]);
    run(&["rewrap", "alice", &path("plain.kms")]);
    run(&["encrypt", "alice", &path("plain.txt"), &path("second.kms")]);
    run(&[
        "decrypt",
        "alice",
        &path("plain.kms"),
        &path("back.txt"),
        "--explain",
    ]);
    run(&[
        "sign",
        "alice",
        &path("plain.txt"),
        "-o",
        &path("plain.sig"),
        "--explain",
    ]);
    run(&[
        "verify",
        "alice",
        &path("plain.txt"),
        &path("plain.sig"),
        "--explain",
    ]);
    run(&["export", "alice", "--public", "-o", &path("alice.pem")]);
    run(&[
        "export",
        "alice",
        "--private",
        "--export-password-file",
        &path("export-pw"),
        "-o",
        &path("alice.p8"),
    ]);
    for group in ["ffdhe2048", "x25519"] {
        run(&[
            "exchange",
            "alice",
            "bob",
            "--peer-password-file",
            &path("pw"),
            "--group",
            group,
            "--explain",
        ]);
    }
    run(&[
        "exchange",
        "offer",
        "alice",
        "--to",
        "bob",
        "-o",
        &path("offer.json"),
    ]);
    run(&[
        "exchange",
        "accept",
        "bob",
        &path("offer.json"),
        "-o",
        &path("answer.json"),
    ]);
    run(&["exchange", "finish", "alice", &path("answer.json")]);
    run(&[
        "revoke",
        "bob",
        "--version",
        "1",
        "--reason",
        "keyCompromise",
        "--explain",
    ]);
    run(&["destroy", "alice", "--version", "1", "--yes"]);
    for args in [
        &["status", "alice"][..],
        &["list"],
        &["revoked"],
        &["audit"],
        &["audit", "--verify"],
    ] {
        run(args);
        let mut json = vec!["--json"];
        json.extend_from_slice(args);
        run(&json);
    }
    // The interactive session, for a third user, in the same store.
    let session = kms_command(work)
        .args(["--store", class.store().to_str().unwrap(), "--explain"])
        .write_stdin(format!("carol\n{PASSWORD}\nyes\n"))
        .output()
        .unwrap();
    assert!(session.status.success(), "{}", stderr(&session));
    printed.extend_from_slice(&session.stdout);
    printed.extend_from_slice(&session.stderr);
    // The explanations were printed, so they were searched too.
    let text = String::from_utf8_lossy(&printed);
    for step in [
        "How version 2 of alice's keys was made and stored:",
        "How the file was encrypted",
        "How the file was decrypted",
        "signed the file:",
        "How the signature was checked",
        "What the revocation wrote to revoked_keys.json",
        "The exchange, step by step",
    ] {
        assert!(text.contains(step), "no {step:?} in what was printed");
    }

    // Every secret, recovered through the library.
    let store = secure_kms::ca::open_store(class.store());
    let (keys, revoked) = store.load().unwrap();
    let password = Password::new(PASSWORD.to_owned()).unwrap();
    let mut secrets: Vec<(String, Vec<u8>)> =
        vec![("the password".to_owned(), PASSWORD.as_bytes().to_vec())];
    let mut symmetric_keys = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let id = UserId::new(user).unwrap();
        let record = keys.get(&id).unwrap().unwrap();
        for sym in &record.symmetric {
            if sym.wrapped.is_none() {
                continue; // destroyed
            }
            let key = secure_kms::keys::unlock::unlock_symmetric_version(
                &keys,
                &Default::default(),
                &id,
                sym.version,
                &password,
            )
            .unwrap();
            secrets.push((
                format!("{user}'s symmetric key v{}", sym.version),
                key.as_bytes().to_vec(),
            ));
            symmetric_keys.push((user, sym.version, key));
        }
        for pair in &record.asymmetric {
            let Some(private) = &pair.private else {
                continue;
            };
            let pk = PasswordKey::derive(&password, &private.kdf);
            let (private_key, _) = pair.unlock(&id, &pk).unwrap();
            let der = private_key.to_pkcs8_der().unwrap();
            secrets.push((
                format!("{user}'s RSA key v{} (PKCS#8)", pair.version),
                der.as_bytes().to_vec(),
            ));
            // The keys that --explain describes without showing: the
            // wrapping key of each purpose, from the password.
            for purpose in [secure_kms::symmetric::PURPOSE, secure_kms::pki::PURPOSE] {
                secrets.push((
                    format!("{user}'s {purpose} key (v{})", pair.version),
                    pk.subkey(purpose).to_vec(),
                ));
            }
        }
    }
    let _ = revoked;
    for file in ["plain.kms", "second.kms"] {
        let bytes = fs::read(work.join(file)).unwrap();
        let header = secure_kms::formats::envelope::read_header(&mut &bytes[..]).unwrap();
        let (_, _, key) = symmetric_keys
            .iter()
            .find(|(u, v, _)| *u == "alice" && *v == header.key_version)
            .unwrap();
        let data_key = header.open(key).unwrap();
        secrets.push((format!("the data key of {file}"), data_key.to_vec()));
        let mut payload_key = [0u8; 32];
        secure_kms::crypto::kdf::hkdf_sha256(
            Some(&header.file_nonce),
            data_key.as_ref(),
            secure_kms::formats::envelope::PAYLOAD_INFO,
            &mut payload_key,
        )
        .unwrap();
        secrets.push((format!("the payload key of {file}"), payload_key.to_vec()));
    }
    // The password; symmetric keys alice v2 and v3 (v1 is destroyed), bob
    // v1, carol v1; RSA keys likewise, each with its two wrapping keys; two
    // data keys and their payload keys.
    assert_eq!(secrets.len(), 21);

    // Everything printed, and every file left, in the store or beside it.
    let mut haystacks = vec![("what the runs printed".to_owned(), printed)];
    for file in files_under(work) {
        let name = file.strip_prefix(work).unwrap().display().to_string();
        if name == "pw" {
            continue; // the password file itself
        }
        haystacks.push((name, fs::read(&file).unwrap()));
    }
    for (what, secret) in &secrets {
        for form in forms(secret) {
            for (name, haystack) in &haystacks {
                assert!(!contains(haystack, &form), "{what} appears in {name}");
            }
        }
    }
}

#[test]
fn every_file_is_0600_whatever_the_umask() {
    let class = Class::new();
    let work = class.dir.path();
    fs::write(work.join("plain.txt"), "x").unwrap();
    let pw = work.join("pw");
    let store = class.store();
    let script = format!(
        "umask 000; K='{}'; S='{}'; P='{}'; W='{}';
         \"$K\" --store \"$S\" --password-file \"$P\" keygen alice &&
         \"$K\" --store \"$S\" --password-file \"$P\" encrypt alice \"$W/plain.txt\" \"$W/plain.kms\" &&
         \"$K\" --store \"$S\" --password-file \"$P\" decrypt alice \"$W/plain.kms\" \"$W/back.txt\" &&
         \"$K\" --store \"$S\" --password-file \"$P\" sign alice \"$W/plain.txt\" -o \"$W/plain.sig\" &&
         \"$K\" --store \"$S\" --password-file \"$P\" exchange offer alice --to alice -o \"$W/offer.json\" ;
         \"$K\" --store \"$S\" export alice --public -o \"$W/alice.pem\"",
        env!("CARGO_BIN_EXE_secure-kms"),
        store.display(),
        pw.display(),
        work.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store), 0o700, "the store folder");
    let mut checked = 0;
    for file in files_under(work) {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        if ["pw", "wrong", "plain.txt"].contains(&name.as_str()) {
            continue; // made by this test
        }
        assert_eq!(mode(&file), 0o600, "{name}");
        checked += 1;
    }
    // key_store.json, revoked_keys.json (none yet), audit.log, the lock,
    // plain.kms, back.txt, plain.sig, alice.pem.
    assert!(checked >= 7, "{checked}");
}

#[test]
fn a_store_folder_others_can_write_to_is_warned_about() {
    let class = Class::new();
    class.ok(&["keygen", "alice"]);
    let quiet = class.run(&["status", "alice"]);
    assert!(!stderr(&quiet).contains("warning"), "{}", stderr(&quiet));
    for (mode, who) in [
        (0o770, "its group"),
        (0o707, "any user"),
        (0o777, "its group and any user"),
    ] {
        fs::set_permissions(class.store(), fs::Permissions::from_mode(mode)).unwrap();
        let out = class.run(&["status", "alice"]);
        assert_eq!(out.status.code(), Some(0));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("can be written by {who}")) && err.contains("chmod 700"),
            "{mode:o}: {err}"
        );
    }
}
