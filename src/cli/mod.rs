//! The subcommands: their options (clap), one module per family, and
//! what they print. The library does the work; these modules ask for
//! passwords ([`prompt`]), open the files named on the command line and
//! render the results, as a table, a sentence or JSON.
//!
//! | module | subcommands |
//! |---|---|
//! | [`keys`] | keygen, status, list, rotate, revoke, revoked, recover, destroy |
//! | [`files`] | encrypt, decrypt, rewrap, sign, verify |
//! | [`transfer`] | export, import |
//! | [`exchange`] | exchange (and its offer, accept, finish), dh-params |
//! | [`ca`] | ca, cert, crl |
//! | [`audit`] | audit |

/// `println!` that does not panic when standard output is closed (a pipe
/// into `head`, say): the output is simply cut there.
macro_rules! say {
    ($($arg:tt)*) => {{
        // Paths and values may come from input. What `say!` prints is
        // escaped here, at the print; a command's rendered text is escaped
        // where it is built (table cells, `shown` paths), since a table's
        // colours are escape sequences of its own.
        let text = secure_kms::util::escape::printable_keeping(&format!($($arg)*), &['\n']);
        let _ = writeln!(std::io::stdout(), "{text}");
    }};
}

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use secure_kms::ops::files::IO_BUFFER;
use secure_kms::session::SessionOptions;
use secure_kms::store::Store;
use secure_kms::symmetric::MAX_EXPIRY_SECS;
use secure_kms::{Error, UiError, UtilError};

mod audit;
mod ca;
mod error;
mod exchange;
mod files;
mod keys;
mod prompt;
mod transfer;

/// A teaching Key Management System: expiring AES-256 keys, RSA-2048 keys
/// under a password, a signed Diffie-Hellman exchange, a revocation list,
/// key versions with NIST key states, and a hash-chained audit log.
///
/// With no subcommand it runs the interactive session of the original script.
#[derive(Parser, Debug)]
#[command(version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// Folder holding key_store.json, revoked_keys.json and audit.log [default: $KMS_STORE, or the current folder]
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) store: Option<PathBuf>,

    /// Subcommands: print the result as JSON on standard output (shapes in docs/commands.md)
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Subcommands that need a password: read it from the first line of FILE instead of asking
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) password_file: Option<PathBuf>,

    /// Print each step in order with its real values (salts, iterations, nonces, tags, key sizes; never a password or key): the session, keygen, rotate, revoke, encrypt, decrypt, sign, verify, exchange
    #[arg(long, global = true)]
    pub(crate) explain: bool,

    /// The session: seconds until the new keys expire (1 to 10000000000) [default: 3600]
    #[arg(long, value_name = "SECS", value_parser = expiry_range())]
    pub(crate) expiry: Option<u64>,

    /// The session: print the whole store at the end, not only this user's record
    #[arg(long)]
    pub(crate) show_store: bool,

    /// The session, with a CA: the administrator password, from the first line of FILE (else asked on a terminal only; piped input is never taken for it)
    #[arg(long, value_name = "FILE")]
    pub(crate) admin_password_file: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

pub(super) const AFTER_HELP: &str = "\
Examples:
  printf 'alice\\nmysecurepassword\\nno\\n' | secure-kms --store class-kms
  secure-kms --expiry 30          # a session whose new keys expire in 30 s
  secure-kms --explain            # a session that shows each step's values
  secure-kms --show-store         # a session that ends with the whole store
  secure-kms --admin-password-file admin.txt   # a session that certifies the new keys
  secure-kms --store class-kms --password-file pw.txt keygen alice
  secure-kms --store class-kms status alice

The password: from --password-file, else typed without echo on a terminal,
else the first line of standard input.

Output: a table on a terminal (in colour unless NO_COLOR is set), one
tab-separated line per record when piped, JSON with --json (shapes in the
project's docs/commands.md). Errors go to standard error; with --json, an error
object also goes to standard output.

Exit codes:
  0    success
  1    error (bad input, wrong password, broken store file, broken audit chain, ...)
  2    usage error (unknown option or subcommand)
  3    refused: the key is revoked or expired, or its version destroyed
  130  interrupted (Ctrl-C)";

impl Cli {
    /// Why an option given does not apply to what was asked, if one does
    /// not: an option that would do nothing is refused, not ignored.
    pub(crate) fn misplaced_option(&self) -> Option<&'static str> {
        match &self.command {
            None if self.json || self.password_file.is_some() => Some(
                "--json and --password-file apply to subcommands; the interactive session asks its questions",
            ),
            Some(_)
                if self.expiry.is_some()
                    || self.show_store
                    || self.admin_password_file.is_some() =>
            {
                Some(
                    "--expiry, --show-store and --admin-password-file before a subcommand apply to the interactive session; the subcommands that take them take them after their name",
                )
            }
            Some(command) if self.explain && !command.explains() => Some(
                "--explain applies to the session, keygen, rotate, revoke, encrypt, decrypt, sign, verify and exchange in one process (exchange USER_A USER_B)",
            ),
            Some(Command::Exchange(c)) if c.is_toy() && self.password_file.is_some() => Some(
                "exchange --toy needs no password: it is arithmetic on small numbers, with no user and no store",
            ),
            _ => None,
        }
    }

    /// The interactive session's settings from the options.
    pub(crate) fn session_options(&self) -> anyhow::Result<SessionOptions> {
        let defaults = SessionOptions::default();
        let admin_password = self.admin_password_file.as_deref();
        Ok(SessionOptions {
            expiry_time: self.expiry.unwrap_or(defaults.expiry_time),
            show_store: self.show_store,
            explain: self.explain,
            admin_password: admin_password
                .map(secure_kms::ui::console::read_password_file)
                .transpose()?,
            ..defaults
        })
    }
}

/// Every subcommand, by family, in the order `--help` lists them.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    #[command(flatten)]
    Keys(keys::KeyCommand),
    #[command(flatten)]
    Files(files::FileCommand),
    #[command(flatten)]
    Transfer(transfer::TransferCommand),
    #[command(flatten)]
    Exchange(exchange::ExchangeCommand),
    #[command(flatten)]
    Ca(ca::CaCommand),
    #[command(flatten)]
    Audit(audit::AuditCommand),
}

impl Command {
    /// Whether `--explain` has something to show for this command.
    fn explains(&self) -> bool {
        match self {
            Command::Keys(c) => c.explains(),
            Command::Files(c) => c.explains(),
            Command::Exchange(c) => c.explains(),
            Command::Transfer(_) | Command::Ca(_) | Command::Audit(_) => false,
        }
    }
}

/// Prints what `--explain` collected: on standard output before the
/// result, or on standard error when standard output carries JSON or data
/// (`-o -`), so that a script still reads only the result there.
pub(super) fn explain(cli: &Cli, data_on_stdout: bool, steps: &secure_kms::ui::explain::Steps) {
    if steps.is_empty() {
        return;
    }
    let text = secure_kms::util::escape::printable_keeping(steps.text(), &['\n']);
    if cli.json || data_on_stdout {
        let _ = std::io::stderr().write_all(text.as_bytes());
    } else {
        let _ = std::io::stdout().write_all(text.as_bytes());
    }
}

/// Runs one subcommand and prints its result.
pub(crate) fn run(cli: &Cli, store: &Store, command: &Command) -> anyhow::Result<()> {
    let out = match command {
        Command::Keys(c) => c.run(cli, store)?,
        Command::Files(c) => c.run(cli, store)?,
        Command::Transfer(c) => c.run(cli, store)?,
        Command::Exchange(c) => c.run(cli, store)?,
        Command::Ca(c) => c.run(cli, store)?,
        Command::Audit(c) => c.run(cli, store)?,
    };
    // A closed pipe (into `head`) ends the run as it ends the session:
    // quietly, with status 141 (see `main`).
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Error::Ui(UiError::Output(e)))?;
    Ok(())
}

/// A key must live at least a second (a key born expired is of no use)
/// and end long before the year 9999.
pub(super) fn expiry_range() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=MAX_EXPIRY_SECS)
}

/// A path as output shows it: escaped, since a file's name can hold
/// anything (a folder's hostile names, passed on by a shell's `*`).
pub(crate) fn shown(path: &std::path::Path) -> String {
    secure_kms::util::escape::printable(&path.display().to_string())
}

/// The text to print: JSON with `--json`, else what `text` renders.
pub(super) fn render<T: serde::Serialize>(
    cli: &Cli,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    if cli.json {
        Ok(secure_kms::util::escape::json_for_output(&serde_json::to_string_pretty(value)?) + "\n")
    } else {
        Ok(text())
    }
}

/// Reads a small file whole (a signature, a key), refusing one over `limit`.
pub(super) fn read_small(path: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let io = |source| {
        Error::Util(UtilError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    std::io::Read::take(file, limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        anyhow::bail!(
            "{} is larger than {limit} bytes: not what was expected",
            path.display()
        );
    }
    Ok(bytes)
}

/// Opens the input file, or standard input for `-`, with a large buffer.
pub(super) fn open_input(path: &std::path::Path) -> anyhow::Result<Box<dyn std::io::BufRead>> {
    if path.as_os_str() == "-" {
        secure_kms::ops::files::widen_pipe(std::io::stdin());
        return Ok(Box::new(std::io::BufReader::with_capacity(
            IO_BUFFER,
            std::io::stdin(),
        )));
    }
    let file = std::fs::File::open(path).map_err(|source| {
        Error::Util(UtilError::Io {
            action: "open",
            path: path.to_owned(),
            source,
        })
    })?;
    Ok(Box::new(std::io::BufReader::with_capacity(IO_BUFFER, file)))
}

/// Runs a slow step (PBKDF2, RSA key generation) with a spinner on standard
/// error, shown only on a terminal and only once the step has taken 100 ms.
pub(super) fn slow<T>(what: &str, step: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return step();
    }
    let spinner = indicatif::ProgressBar::hidden();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}...").expect("a valid template"),
    );
    spinner.set_message(what.to_owned());
    let shown = spinner.clone();
    let timer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        if !shown.is_finished() {
            shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown.enable_steady_tick(Duration::from_millis(80));
        }
    });
    let out = step();
    spinner.finish_and_clear();
    drop(timer);
    out
}
