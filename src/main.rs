//! `secure-kms`: the command-line front end. It parses options, runs the
//! library's interactive session or one subcommand, prints the result and
//! any error with what to do next, and turns the outcome into an exit code.

mod cli;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use secure_kms::session::run_session;
use secure_kms::ui::console::{TerminalConsole, password_prompt_owns_ctrl_c};
use secure_kms::{Error, StoreError, UiError, ops::files, util::secret};

use cli::{Cli, shown};

/// Exit code for "refused: key revoked, expired or destroyed".
const EXIT_REFUSED: u8 = 3;

/// Exit code for usage errors, as clap uses.
const EXIT_USAGE: u8 = 2;

/// Exit code for Ctrl-C, as shells report a process killed by SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    // Before anything is read: no core dump, and no debugger of the same
    // user, can see the keys this run unlocks.
    if let Err(e) = secret::disable_core_dumps() {
        eprintln!("warning: cannot switch off core dumps: {e}");
    }
    let cli = Cli::parse();
    // Ctrl-C ends the run at once (every write is atomic, so nothing is left
    // half-written), except while a password is read with echo off: then the
    // reader puts the terminal back first and reports the interruption.
    let handler = ctrlc::set_handler(|| {
        if !password_prompt_owns_ctrl_c() {
            // Exiting runs no destructor: remove a half-written output (a
            // decryption's is plaintext) by hand.
            files::remove_unfinished_outputs();
            eprintln!("\nerror: interrupted; nothing more was written");
            std::process::exit(EXIT_INTERRUPTED.into());
        }
    });
    if let Err(e) = handler {
        eprintln!("warning: cannot handle Ctrl-C: {e}");
    }

    let dir = cli
        .store
        .clone()
        .or_else(|| {
            std::env::var_os("KMS_STORE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let store = secure_kms::ca::open_store(dir);
    if let Some(warning) = store.loose_permissions() {
        eprintln!("warning: {}", secure_kms::util::escape::printable(&warning));
    }
    if let Some(why) = cli.misplaced_option() {
        eprintln!("error: {why} (see --help)");
        return ExitCode::from(EXIT_USAGE);
    }
    let result = match &cli.command {
        None => cli.session_options().and_then(|options| {
            run_session(&store, &mut TerminalConsole::new(), &options).map_err(anyhow::Error::new)
        }),
        Some(command) => cli::run(&cli, &store, command),
    };
    if store.unfinished_change() {
        eprintln!(
            "note: {} holds a change that a run committed but did not finish; this command only read, so it left it as it is (a revocation in it already counts); `secure-kms recover` checks and finishes it, as the next change would",
            shown(&store.dir().join(secure_kms::store::JOURNAL_FILE))
        );
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output went away (`secure-kms ... | head`):
        // stop without a word, as a program killed by SIGPIPE does, and
        // with its status, 128 + 13, so a script still sees the run cut.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(e) => {
            let code = ExitCode::from(code_number(&e));
            // `{:#}` prints the whole chain: "what failed: why".
            // Messages quote files and input: escaped, so that no byte
            // of theirs reaches the terminal as a control sequence.
            eprintln!(
                "error: {}",
                secure_kms::util::escape::printable(&format!("{e:#}"))
            );
            if cli.json && cli.command.is_some() {
                print_json_error(&e, code_number(&e));
            }
            code
        }
    }
}

/// The exit status of a run whose standard output was closed by its
/// reader: a shell's for a program that SIGPIPE ended.
const EXIT_BROKEN_PIPE: u8 = 141;

/// Whether `e` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The library's error under `e`, if it is one, past any context.
fn library_error(e: &anyhow::Error) -> Option<&Error> {
    e.downcast_ref::<Error>().map(Error::root)
}

/// The exit code's number, for the JSON error object.
fn code_number(e: &anyhow::Error) -> u8 {
    match library_error(e) {
        Some(e) if e.is_refusal() => EXIT_REFUSED,
        Some(Error::Ui(UiError::Interrupted { .. })) => EXIT_INTERRUPTED,
        _ => 1,
    }
}

/// With `--json`, an error is also an object on standard output, so that a
/// program reading it always gets JSON: `{"ok": false, "error", "exit_code"}`,
/// and `line` for a broken audit chain.
fn print_json_error(e: &anyhow::Error, exit_code: u8) {
    let mut shape = serde_json::json!({
        "ok": false,
        "error": format!("{e:#}"),
        "exit_code": exit_code,
    });
    if let Some(Error::Store(StoreError::AuditBroken { line, .. })) = library_error(e) {
        shape["line"] = (*line).into();
    }
    let json = serde_json::to_string_pretty(&shape).expect("JSON values always serialise");
    // As every print: a closed standard output cuts it, without a panic.
    let json = secure_kms::util::escape::json_for_output(&json);
    let _ = writeln!(std::io::stdout(), "{json}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_kms::{KeyError, OpsError};

    /// An error under the context of a change already made keeps the exit
    /// code of what failed: a refusal is still 3, through `anyhow` too.
    #[test]
    fn the_exit_code_is_that_of_the_error_under_its_context() {
        let revoked = || {
            Error::Key(KeyError::Revoked {
                user: "alice".into(),
                revoked_at: "2026-01-01T00:00:00Z".into(),
                reason: "keyCompromise".into(),
            })
        };
        let wrapped = Error::Ops(OpsError::ChangeMade {
            what: "the revocation was made",
            source: Box::new(revoked()),
        });
        assert_eq!(code_number(&anyhow::Error::new(revoked())), EXIT_REFUSED);
        assert_eq!(code_number(&anyhow::Error::new(wrapped)), EXIT_REFUSED);
        let plain = Error::Ui(UiError::PasswordMismatch);
        assert_eq!(code_number(&anyhow::Error::new(plain)), 1);
    }
}
