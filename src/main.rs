//! `secure-kms`: the command-line front end. It parses options, runs the
//! library's interactive session, prints any error with what to do next, and
//! turns the outcome into an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use secure_kms::session::{SessionOptions, TerminalConsole, run_session};
use secure_kms::store::Store;

/// A teaching Key Management System: expiring AES-256 keys, RSA-2048 keys
/// under a password, a signed Diffie-Hellman exchange and a revocation list.
///
/// With no arguments it runs the interactive session of the original script.
#[derive(Parser, Debug)]
#[command(version, after_help = EXIT_CODES)]
struct Cli {
    /// Folder holding key_store.json and revoked_keys.json.
    #[arg(long, value_name = "DIR", env = "KMS_STORE", default_value = ".")]
    store: PathBuf,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error (bad input, wrong password, broken store file, ...)
  2  usage error (unknown option)
  3  refused: the key is revoked or expired";

/// Exit code for "refused: key revoked or expired".
const EXIT_REFUSED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = Store::new(cli.store);
    match run_session(
        &store,
        &mut TerminalConsole::new(),
        &SessionOptions::default(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = if e.is_refusal() {
                ExitCode::from(EXIT_REFUSED)
            } else {
                ExitCode::FAILURE
            };
            // `{:#}` prints the whole chain: "what failed: why".
            eprintln!("error: {:#}", anyhow::Error::new(e));
            code
        }
    }
}
