//! The session on a real terminal: a pseudo-terminal made by `script`
//! (util-linux), driven like `expect`: wait for each prompt, then type.
//! These check what piped tests cannot: the password is not echoed (in the
//! session and in the subcommands), a new password is confirmed, Ctrl-C at
//! the password prompt leaves the terminal's echo on, and results are
//! tables in colour on a terminal, without colour when `NO_COLOR` is set.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_secure-kms");

/// A program running on a pseudo-terminal, with everything it printed so far.
struct Terminal {
    child: Child,
    input: ChildStdin,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: JoinHandle<()>,
}

impl Terminal {
    /// Runs `shell_command` under `script`, which gives it a terminal.
    ///
    /// `script` runs the command with `$SHELL -c`. Ctrl-C reaches that
    /// shell too, since it shares the terminal's foreground process group
    /// with secure-kms. bash then waits and goes on to the next command
    /// when the program handled the signal and exited on its own, as an
    /// interactive shell would; dash (Debian's `/bin/sh`) exits at once
    /// and the rest of the line never runs. So the shell is named here,
    /// not taken from whoever runs the tests.
    fn start(shell_command: &str) -> Self {
        let mut child = Command::new("script")
            .args(["-qec", shell_command, "/dev/null"])
            .env("SHELL", "/bin/bash")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the `script` command (util-linux) is needed for the terminal tests");
        let input = child.stdin.take().unwrap();
        let mut output = child.stdout.take().unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&screen);
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = output.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            child,
            input,
            screen,
            reader,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).replace('\r', "")
    }

    /// Waits until `text` has been printed `times` times in all.
    fn wait_for(&self, text: &str, times: usize) {
        // A bound against a hang, not a performance target.
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.screen().matches(text).count() < times {
            assert!(
                Instant::now() < deadline,
                "never saw {text:?}; screen:\n{}",
                self.screen()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys` once the prompt is up. The pause lets the password
    /// reader turn echo off after printing its prompt, as a person's
    /// reaction time always does.
    fn type_after(&mut self, prompt: &str, times: usize, keys: &str) {
        self.wait_for(prompt, times);
        thread::sleep(Duration::from_millis(300));
        self.input.write_all(keys.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        // `script` has exited, so its output pipe is at end of file: the
        // reader thread ends once it has drained everything. Waiting for it,
        // not for a fixed pause, keeps a loaded machine from losing the
        // last lines.
        self.reader.join().unwrap();
        let screen = String::from_utf8_lossy(&self.screen.lock().unwrap()).replace('\r', "");
        (status.code().unwrap_or(-1), screen)
    }
}

#[test]
fn on_a_terminal_the_password_is_not_echoed_and_a_new_one_is_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "Not-Echoed-7391";
    let mut t = Terminal::start(&format!("{BIN} --store {}", dir.path().display()));
    t.type_after("Enter the user ID: ", 1, "alice\n");
    t.type_after("Enter the password: ", 1, &format!("{secret}\n"));
    t.type_after("Confirm the password: ", 1, &format!("{secret}\n"));
    t.type_after("Do you want to revoke keys? (yes/no): ", 1, "no\n");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains(secret),
        "the password was echoed:\n{screen}"
    );
    assert!(screen.contains("Enter the user ID: alice\n"), "{screen}");
    assert!(
        screen.contains("Symmetric key stored for alice, expires in 3600 seconds"),
        "{screen}"
    );
    assert!(dir.path().join("key_store.json").exists());
}

#[test]
fn ctrl_c_at_the_password_prompt_leaves_echo_on() {
    let dir = tempfile::tempdir().unwrap();
    // stty runs on the same terminal after secure-kms exits and prints
    // whether echo is on ("echo") or off ("-echo").
    let mut t = Terminal::start(&format!(
        "{BIN} --store {}; echo EXIT=$?; stty -a",
        dir.path().display()
    ));
    t.type_after("Enter the user ID: ", 1, "alice\n");
    t.type_after("Enter the password: ", 1, "half-typ\u{3}");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("EXIT=130"), "{screen}");
    assert!(
        screen.contains("interrupted at the question \"Enter the password:\""),
        "{screen}"
    );
    let settings = screen.split("EXIT=130").nth(1).unwrap();
    assert!(
        settings.split_whitespace().any(|w| w == "echo"),
        "echo was left off:\n{settings}"
    );
    assert!(!dir.path().join("key_store.json").exists());
}

#[test]
fn ctrl_c_at_another_question_exits_130_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Terminal::start(&format!(
        "{BIN} --store {}; echo EXIT=$?",
        dir.path().display()
    ));
    t.type_after("Enter the user ID: ", 1, "ali\u{3}");
    let (_, screen) = t.finish();
    assert!(
        screen.contains("error: interrupted; nothing more was written"),
        "{screen}"
    );
    assert!(screen.contains("EXIT=130"), "{screen}");
    assert!(!dir.path().join("key_store.json").exists());
}

/// Makes alice's keys in `dir` with a password file, outside any terminal.
fn store_with_alice(dir: &std::path::Path) {
    std::fs::write(dir.join("pw"), "a class password\n").unwrap();
    let out = Command::new(BIN)
        .args(["--store"])
        .arg(dir.join("kms"))
        .arg("--password-file")
        .arg(dir.join("pw"))
        .args(["keygen", "alice"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Piped, nothing but the result: no spinner, no prompt.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn on_a_terminal_status_is_a_coloured_table_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    store_with_alice(dir.path());
    let store = dir.path().join("kms");
    let t = Terminal::start(&format!(
        "env -u NO_COLOR {BIN} --store {} status alice",
        store.display()
    ));
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Keys of alice"), "{screen}");
    assert!(screen.contains("VERSION"), "{screen}");
    // The state in green, and the header in bold.
    assert!(screen.contains("\u{1b}[32mactive"), "{screen:?}");
    assert!(screen.contains("\u{1b}[1mVERSION"), "{screen:?}");

    let t = Terminal::start(&format!(
        "NO_COLOR=1 {BIN} --store {} status alice",
        store.display()
    ));
    let (code, plain) = t.finish();
    assert_eq!(code, 0, "{plain}");
    assert!(plain.contains("VERSION"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "colour with NO_COLOR set: {plain:?}"
    );
}

#[test]
fn on_a_terminal_a_subcommand_asks_for_the_password_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "Typed-Not-Shown-42";
    let mut t = Terminal::start(&format!(
        "{BIN} --store {} keygen carol",
        dir.path().display()
    ));
    t.type_after("Enter the password: ", 1, &format!("{secret}\n"));
    t.type_after("Confirm the password: ", 1, &format!("{secret}\n"));
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains(secret),
        "the password was echoed:\n{screen}"
    );
    assert!(screen.contains("carol: version 1 made"), "{screen}");
}

/// With a CA in the store, keygen and rotate on a terminal ask the
/// administrator password, without echo, to certify the new pair; an
/// empty answer skips it, and rotate then says the old pair's certificate
/// stays valid until the CRL is signed.
#[test]
fn on_a_terminal_keygen_and_rotate_ask_the_administrator_password() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms");
    let admin = "Admin-Not-Shown-77";
    std::fs::write(dir.path().join("admin"), format!("{admin}\n")).unwrap();
    let out = Command::new(BIN)
        .arg("--store")
        .arg(&store)
        .arg("--password-file")
        .arg(dir.path().join("admin"))
        .args(["ca", "init", "--bits", "2048"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let secret = "User-Not-Shown-13";
    let prompt = "Enter the administrator password to certify the new pair (empty to skip): ";
    let mut t = Terminal::start(&format!("{BIN} --store {} keygen dave", store.display()));
    t.type_after("Enter the password: ", 1, &format!("{secret}\n"));
    t.type_after("Confirm the password: ", 1, &format!("{secret}\n"));
    t.type_after(prompt, 1, &format!("{admin}\n"));
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains(secret) && !screen.contains(admin),
        "echoed:\n{screen}"
    );
    assert!(
        screen.contains("certificate issued by the KMS CA: serial"),
        "{screen}"
    );

    let mut t = Terminal::start(&format!("{BIN} --store {} rotate dave", store.display()));
    t.type_after("Enter the password: ", 1, &format!("{secret}\n"));
    t.type_after(prompt, 1, "\n");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("no certificate issued: run `secure-kms cert issue dave` to issue one"),
        "{screen}"
    );
    assert!(
        screen.contains("the superseded pair's certificate stays valid until an administrator runs `secure-kms crl refresh`"),
        "{screen}"
    );

    // Ctrl-D at the administrator's question skips it too: the keys are
    // made, without a certificate.
    let mut t = Terminal::start(&format!("{BIN} --store {} rotate dave", store.display()));
    t.type_after("Enter the password: ", 1, &format!("{secret}\n"));
    t.type_after(prompt, 1, "\x04");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("version 3") && screen.contains("no certificate issued"),
        "{screen}"
    );
}

#[test]
fn on_a_terminal_mistakes_are_asked_again_and_a_taken_id_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().display().to_string();
    // alice is in the store already, with a password only she knows.
    let first = crate::util::kms_command(dir.path())
        .args(["--store", &store])
        .write_stdin("alice\nalices-secret\nno\n")
        .output()
        .unwrap();
    assert!(first.status.success());

    let mut t = Terminal::start(&format!("{BIN} --store {store}"));
    t.type_after("Enter the user ID: ", 1, "not valid!\n");
    t.type_after("Enter the user ID: ", 2, "alice\n");
    t.type_after("Enter the password: ", 1, "my-password\n");
    t.type_after("Enter the user ID: ", 3, "bob\n");
    t.type_after("Enter the password: ", 2, "bobs-password\n");
    t.type_after("Confirm the password: ", 1, "bobs-password\n");
    t.type_after("Do you want to revoke keys? (yes/no): ", 1, "no\n");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("invalid user ID"), "{screen}");
    assert!(screen.contains("(try 2 of 3)"), "{screen}");
    assert!(
        screen.contains("the user ID alice is taken") && screen.contains("(alice-2 is free)"),
        "{screen}"
    );
    // One budget for every kind of mistake: the taken ID was the second.
    assert!(screen.contains("(try 3 of 3)"), "{screen}");
    assert!(screen.contains("Symmetric key stored for bob"), "{screen}");
    for secret in ["my-password", "bobs-pas", "alices-secret"] {
        assert!(!screen.contains(secret), "{secret} was echoed:\n{screen}");
    }
}
