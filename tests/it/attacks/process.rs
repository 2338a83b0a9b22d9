//! The process itself: while a run holds unlocked keys, no core file can
//! be written, and the limit cannot be raised again.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The session, waiting at its first question, has a core file size limit
/// of 0, soft and hard: a crash (or `kill -QUIT`) leaves no copy of the
/// keys it would unlock.
#[test]
fn a_running_session_cannot_dump_core() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secure-kms"))
        .env_remove("KMS_STORE")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first question: the process has started for good.
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while !first.contains("user ID") {
        let mut chunk = Vec::new();
        out.read_until(b':', &mut chunk).unwrap();
        assert!(
            !chunk.is_empty(),
            "the session ended before asking: {first:?}"
        );
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}
