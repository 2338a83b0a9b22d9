//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

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

/// Every file in `dir` but the lock file, with its bytes, in name order
/// (a folder or a symbolic link as its kind and, for a link, its target):
/// what "left byte for byte unchanged" compares.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != ".secure-kms.lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                match e.file_type().unwrap() {
                    t if t.is_dir() => b"<folder>".to_vec(),
                    t if t.is_symlink() => {
                        let target = fs::read_link(e.path()).unwrap();
                        format!("<link to {}>", target.display()).into_bytes()
                    }
                    _ => fs::read(e.path()).unwrap(),
                },
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

/// The password of [`Class`]'s `pw` file.
pub const PASSWORD: &str = "correct horse battery staple";

/// A store folder for the subcommand tests, with a password file (`pw`,
/// [`PASSWORD`]) and a wrong one (`wrong`) beside it, not in it.
pub struct Class {
    /// The folder: `kms/` (the store), `pw` and `wrong` (password files).
    pub dir: tempfile::TempDir,
}

impl Class {
    /// A new empty folder with the two password files.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pw"), format!("{PASSWORD}\n")).unwrap();
        fs::write(dir.path().join("wrong"), "not the password\n").unwrap();
        Class { dir }
    }

    /// The store folder.
    pub fn store(&self) -> std::path::PathBuf {
        self.dir.path().join("kms")
    }

    /// Runs `secure-kms --store kms ARGS` with the right password file.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_with("pw", args)
    }

    /// Runs with the password file named `password_file`.
    pub fn run_with(&self, password_file: &str, args: &[&str]) -> std::process::Output {
        let store = self.store();
        let pw = self.dir.path().join(password_file);
        let mut all = vec![
            "--store",
            store.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        kms_command(self.dir.path()).args(&all).output().unwrap()
    }

    /// Runs and expects success; the standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// Runs with `--json`, expects success; the parsed output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// The states of `user`'s versions, oldest first.
    pub fn states(&self, user: &str) -> Vec<String> {
        self.json(&["status", user])["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["state"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The event kinds of the audit log, in order.
    pub fn audit_events(&self) -> Vec<String> {
        self.json(&["audit"])
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The store's files and their bytes.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        snapshot(&self.store())
    }
}

/// The exit code.
pub fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

/// A library source file as the structure tests read it: without line
/// comments (doc links name modules) and without the unit-test module at
/// its end, since tests may reach anywhere. A string holding `//` loses
/// the rest of its line, which names no module.
pub fn source_code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `.rs` file below `folder` (none if it does not exist), without the
/// unit-test modules kept in `tests.rs` files.
pub fn rust_files(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut folders = vec![folder.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Runs the binary in `dir` on the store folder `store`, with the password
/// in `password_file`.
pub fn in_store(dir: &Path, store: &str, password_file: &str, args: &[&str]) -> Output {
    kms_command(dir)
        .args(["--store", store, "--password-file", password_file])
        .args(args)
        .output()
        .unwrap()
}

/// The standard output of a run that must have succeeded.
pub fn succeeded(out: &Output) -> String {
    assert_eq!(code(out), Some(0), "{}", stderr(out));
    stdout(out)
}

/// Runs the openssl CLI in `dir`; it must succeed.
pub fn openssl_ok(dir: &Path, args: &[&str]) {
    let out = openssl(args, dir);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

/// A self-signed RSA-2048 root made by `openssl req -x509` in `dir`, valid
/// for 30 days: its key in `key`, its certificate in `pem`, its subject
/// `subject` (`/CN=...`).
pub fn openssl_root(dir: &Path, key: &str, pem: &str, subject: &str) {
    openssl_ok(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem, "-subj",
            subject, "-days", "30",
        ],
    );
}

/// Gives `user` of `store` (password in `password_file`) a certificate
/// from the CA of `ca_store` (administrator password in `ca_password`),
/// as a class does: the store trusts the CA's root, the user asks with
/// `cert request`, the CA signs with `cert sign`, the user imports it.
/// The certificate's serial.
pub fn certify(
    dir: &Path,
    ca_store: &str,
    ca_password: &str,
    user: &str,
    store: &str,
    password_file: &str,
) -> String {
    let root = format!("{ca_store}/ca_root.pem");
    let (csr, crt) = (format!("{user}.csr"), format!("{user}.crt"));
    succeeded(&in_store(
        dir,
        store,
        password_file,
        &["ca", "trust", &root],
    ));
    succeeded(&in_store(
        dir,
        store,
        password_file,
        &["cert", "request", user, "-o", &csr],
    ));
    let signed: Value = serde_json::from_str(&succeeded(&in_store(
        dir,
        ca_store,
        ca_password,
        &["--json", "cert", "sign", &csr, "-o", &crt],
    )))
    .unwrap();
    succeeded(&in_store(
        dir,
        store,
        password_file,
        &["cert", "import", user, &crt],
    ));
    signed["serial"].as_str().unwrap().to_owned()
}
