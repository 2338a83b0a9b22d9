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
    }
    // The class's store was the folder's two files.
    assert!(class.path().join("key_store.json").is_file());
    assert!(class.path().join("revoked_keys.json").is_file());
}

#[test]
fn the_files_the_lesson_plan_opens_exist_and_hold_the_functions_it_names() {
    let plan = lesson_plan();
    let mut opened = 0;
    for line in plan.lines().filter(|l| l.contains("**Open:**")) {
        // "**Open:** `src/x.rs`: `f`, `g`; and `src/y.rs` for ..."
        let ticked: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        let mut file = None;
        for item in ticked {
            if item.ends_with(".rs") {
                let path = root().join(item);
                assert!(path.is_file(), "the plan opens {item}, which is not there");
                file = Some(fs::read_to_string(path).unwrap());
                opened += 1;
            } else if let Some(text) = &file {
                assert!(
                    text.contains(&format!("fn {item}(")) || text.contains(&format!("fn {item}<")),
                    "the plan names {item}, which its file does not define"
                );
            }
        }
    }
    assert!(opened >= 4, "{opened} files opened");
}
