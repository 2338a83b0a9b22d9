//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the `openssl` CLI, which the interop tests need (`.ci/run` installs it).
pub fn openssl(args: &[&str], dir: &Path) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for the interop tests (.ci/run installs it)")
}

/// The `secure-kms` binary, run in `dir` with no `KMS_STORE` inherited.
pub fn kms_command(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("secure-kms").unwrap();
    cmd.env_remove("KMS_STORE").current_dir(dir);
    cmd
}

/// Runs the `secure-kms` binary on `stdin` with the store in `dir`.
pub fn kms(dir: &Path, stdin: &str) -> Output {
    kms_command(dir).write_stdin(stdin).output().unwrap()
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Every file in `dir` but the lock file, with its bytes, in name order:
/// what "left byte for byte unchanged" compares.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != ".secure-kms.lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
