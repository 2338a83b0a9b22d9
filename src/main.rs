//! `secure-kms`: the command-line front end. It parses options, runs the
//! library's interactive session, prints any error with what to do next, and
//! turns the outcome into an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use secure_kms::console::{TerminalConsole, password_prompt_owns_ctrl_c};
use secure_kms::session::{SessionOptions, run_session};
use secure_kms::store::Store;

/// A teaching Key Management System: expiring AES-256 keys, RSA-2048 keys
/// under a password, a signed Diffie-Hellman exchange and a revocation list.
///
/// With no arguments it runs the interactive session of the original script.
#[derive(Parser, Debug)]
#[command(version, after_help = AFTER_HELP)]
struct Cli {
    /// Folder holding key_store.json and revoked_keys.json [default: $KMS_STORE, or the current folder]
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
}

const AFTER_HELP: &str = "\
Example:
  printf 'alice\\nmysecurepassword\\nno\\n' | secure-kms --store class-kms

Exit codes:
  0    success
  1    error (bad input, wrong password, broken store file, ...)
  2    usage error (unknown option)
  3    refused: the key is revoked or expired
  130  interrupted (Ctrl-C)";

/// Exit code for "refused: key revoked or expired".
const EXIT_REFUSED: u8 = 3;

/// Exit code for Ctrl-C, as shells report a process killed by SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ctrl-C ends the run at once (every write is atomic, so nothing is left
    // half-written), except while a password is read with echo off: then the
    // reader puts the terminal back first and reports the interruption.
    let handler = ctrlc::set_handler(|| {
        if !password_prompt_owns_ctrl_c() {
            eprintln!("\nerror: interrupted; nothing more was written");
            std::process::exit(EXIT_INTERRUPTED.into());
        }
    });
    if let Err(e) = handler {
        eprintln!("warning: cannot handle Ctrl-C: {e}");
    }

    let dir = cli
        .store
        .or_else(|| {
            std::env::var_os("KMS_STORE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let store = Store::new(dir);
    match run_session(
        &store,
        &mut TerminalConsole::new(),
        &SessionOptions::default(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = match &e {
                e if e.is_refusal() => ExitCode::from(EXIT_REFUSED),
                secure_kms::Error::Interrupted { .. } => ExitCode::from(EXIT_INTERRUPTED),
                _ => ExitCode::FAILURE,
            };
            // `{:#}` prints the whole chain: "what failed: why".
            eprintln!("error: {:#}", anyhow::Error::new(e));
            code
        }
    }
}
