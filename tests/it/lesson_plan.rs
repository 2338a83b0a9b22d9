//! The README's lesson plan runs: every command in its `sh` blocks, in
//! order, in one folder as a class would run them at the repository's top
//! level, each with the exit code the plan gives it (0 unless the line ends
//! with `# exit N`). `cargo run -q --` is the binary under test; the files
//! and functions the plan tells students to open must exist.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::{code, stderr, stdout};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README's section for teachers.
fn lesson_plan() -> String {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("## For teachers")
        .expect("the README has a lesson plan");
    let rest = &readme[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

/// The command lines of its `sh` blocks, with the exit code each expects.
fn commands(plan: &str) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in plan.lines() {
        match line.trim() {
            "```sh" => in_block = true,
            "```" => in_block = false,
            command if in_block && !command.is_empty() => {
                let (command, expected) = match command.split_once("# exit ") {
                    Some((c, n)) => (c.trim_end(), n.trim().parse().unwrap()),
                    None => (command, 0),
                };
                out.push((command.to_owned(), expected));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_command_of_the_lesson_plan_runs_with_the_exit_code_it_shows() {
    let plan = lesson_plan();
    let commands = commands(&plan);
    assert!(commands.len() >= 20, "{} commands", commands.len());
    for concept in [
        "### 1. Key distribution",
        "### 2. PKI",
        "### 3. Diffie-Hellman",
        "### 4. Revocation",
    ] {
        assert!(plan.contains(concept), "no {concept:?} in the plan");
    }
    let class = tempfile::tempdir().unwrap();
    // The folder a class works in: the repository's examples beside the
    // store, and the binary as `cargo run` would run it.
    std::os::unix::fs::symlink(root().join("examples"), class.path().join("examples")).unwrap();
    let shim = format!(
        r#"cargo() {{
  case "$1 $2 $3" in
    "run -q --") shift 3; "{bin}" "$@" ;;
    "run -q "*) shift 2; "{bin}" "$@" ;;
    "build  ") ;;
    *) echo "the lesson plan runs cargo $*, which this test does not know" >&2; return 99 ;;
  esac
}}
"#,
        bin = env!("CARGO_BIN_EXE_secure-kms")
    );
    // What the plan says students see, for the command it follows.
    let mut shows = vec![
        ("exchange --toy", "A toy Diffie-Hellman exchange. INSECURE"),
        (
            "--expiry 5 --explain",
            "PBKDF2-HMAC-SHA256: 600000 iterations",
        ),
        ("status bob", "deactivated (expired)"),
        ("keygen carol --explain", "2048-bit modulus n, e = 65537"),
        ("openssl pkey", "Public-Key: (2048 bit)"),
        (
            "sign carol essay.txt --explain",
            "hash SHA-256, MGF1-SHA-256",
        ),
        ("exchange alice carol", "Secure symmetric key derived!"),
        ("revoke carol", "compromised (revoked: keyCompromise)"),
        ("status carol", "compromised (revoked: keyCompromise)"),
        ("printf 'dave", "Key revoked for dave"),
        ("rotate carol", "carol: version 2 made"),
        ("-- audit --verify", "hash chain intact"),
        ("unwrap_key.py", "matches the store's fingerprint"),
        ("--store ana ca trust", "SHA-256 fingerprint:"),
        ("exchange accept cleo", "cleo derived key (hashed):"),
        ("exchange finish ana", "ana derived key (hashed):"),
    ];
    for (command, expected) in &commands {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{shim}{command}"))
            .current_dir(class.path())
            .env_remove("KMS_STORE")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            Some(*expected),
            "the lesson plan's `{command}` exited {:?}:\n{}{}",
            code(&out),
            stdout(&out),
            stderr(&out)
        );
        let printed = stdout(&out) + &stderr(&out);
        shows.retain(|(after, text)| {
            if !command.contains(after) {
                return true;
            }
            assert!(
                printed.contains(text),
                "`{command}` should show {text:?}:\n{printed}"
            );
            false
        });
    }
    assert!(shows.is_empty(), "no command of the plan for {shows:?}");
    // The class's store was the folder's two files.
    assert!(class.path().join("key_store.json").is_file());
    assert!(class.path().join("revoked_keys.json").is_file());
}

#[test]
fn the_files_the_lesson_plan_opens_exist_and_hold_the_functions_it_names() {
    let plan = lesson_plan();
    // Each "**Open:**" bullet, its continuation lines joined:
    // "**Open:** `src/x.rs`: `f`, `g`; and `src/y.rs`: `h`".
    let mut bullets: Vec<String> = Vec::new();
    let mut in_open = false;
    for line in plan.lines().map(str::trim) {
        if line.starts_with("- **Open:**") {
            bullets.push(line.to_owned());
            in_open = true;
        } else if line.starts_with("- ") || line.is_empty() {
            in_open = false;
        } else if in_open && let Some(last) = bullets.last_mut() {
            last.push(' ');
            last.push_str(line);
        }
    }
    let mut opened = 0;
    let mut named = 0;
    for bullet in &bullets {
        let ticked: Vec<&str> = bullet.split('`').skip(1).step_by(2).collect();
        let mut file = None;
        for item in ticked {
            if item.ends_with(".rs") {
                let path = root().join(item);
                assert!(path.is_file(), "the plan opens {item}, which is not there");
                file = Some(fs::read_to_string(path).unwrap());
                opened += 1;
            } else if let Some(text) = &file {
                let name = item.rsplit("::").next().unwrap();
                assert!(
                    text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<")),
                    "the plan names {item}, which its file does not define"
                );
                named += 1;
            }
        }
    }
    assert!(opened >= 8, "{opened} files opened");
    assert!(named >= 15, "{named} functions named");
}
