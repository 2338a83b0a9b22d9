//! Helpers shared by the integration tests.
#![allow(dead_code)]

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
