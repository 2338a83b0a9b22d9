//! `secure-kms`: the command-line front end. It parses options, runs the
//! library's interactive session or one subcommand, prints the result and
//! any error with what to do next, and turns the outcome into an exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use secure_kms::commands;
use secure_kms::console::{
    Console, TerminalConsole, password_prompt_owns_ctrl_c, read_password_file,
};
use secure_kms::kdf::{DEFAULT_ITERATIONS, Password};
use secure_kms::keyring::DestroyOutcome;
use secure_kms::output::{self, Format, RevocationView};
use secure_kms::revocation::RevocationReason;
use secure_kms::session::{SessionOptions, run_session};
use secure_kms::store::Store;
use secure_kms::symmetric::{DEFAULT_EXPIRY_SECS, MAX_EXPIRY_SECS};
use secure_kms::user::UserId;
use secure_kms::{Error, time};

/// A teaching Key Management System: expiring AES-256 keys, RSA-2048 keys
/// under a password, a signed Diffie-Hellman exchange, a revocation list,
/// key versions with NIST key states, and a hash-chained audit log.
///
/// With no subcommand it runs the interactive session of the original script.
#[derive(Parser, Debug)]
#[command(version, after_help = AFTER_HELP)]
struct Cli {
    /// Folder holding key_store.json, revoked_keys.json and audit.log [default: $KMS_STORE, or the current folder]
    #[arg(long, value_name = "DIR", global = true)]
    store: Option<PathBuf>,

    /// Subcommands: print the result as JSON on standard output (shapes in README.md)
    #[arg(long, global = true)]
    json: bool,

    /// Subcommands that need a password: read it from the first line of FILE instead of asking
    #[arg(long, value_name = "FILE", global = true)]
    password_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

const AFTER_HELP: &str = "\
Examples:
  printf 'alice\\nmysecurepassword\\nno\\n' | secure-kms --store class-kms
  secure-kms --store class-kms --password-file pw.txt keygen alice
  secure-kms --store class-kms status alice

The password: from --password-file, else typed without echo on a terminal,
else the first line of standard input.

Output: a table on a terminal (in colour unless NO_COLOR is set), one
tab-separated line per record when piped, JSON with --json (shapes in the
project's README.md). Errors go to standard error; with --json, an error
object also goes to standard output.

Exit codes:
  0    success
  1    error (bad input, wrong password, broken store file, broken audit chain, ...)
  2    usage error (unknown option or subcommand)
  3    refused: the key is revoked or expired, or its version destroyed
  130  interrupted (Ctrl-C)";

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a new user's symmetric key and RSA key pair (version 1)
    #[command(
        after_help = "Example:\n  secure-kms --password-file pw.txt keygen alice --expiry 3600"
    )]
    Keygen {
        /// The user ID: 1 to 64 of A-Z a-z 0-9 . _ - @
        user: String,
        /// Seconds until the keys' active period ends (1 to 10000000000)
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_EXPIRY_SECS, value_parser = expiry_range())]
        expiry: u64,
    },
    /// Show a user's key versions, their NIST states with timestamps, and key IDs
    #[command(after_help = "Example:\n  secure-kms status alice\n  secure-kms status alice --json")]
    Status {
        /// The user ID
        user: String,
    },
    /// List all users, one line each, with the state of their primary version
    #[command(after_help = "Example:\n  secure-kms list")]
    List,
    /// Make version n+1 of both keys the primary; older versions stay for decrypting and verifying
    #[command(after_help = "Example:\n  secure-kms --password-file pw.txt rotate alice")]
    Rotate {
        /// The user ID
        user: String,
        /// Seconds until the new version's active period ends (1 to 10000000000)
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_EXPIRY_SECS, value_parser = expiry_range())]
        expiry: u64,
    },
    /// Put a user's keys (all versions, or one) on the revocation list
    #[command(
        after_help = "Example:\n  secure-kms --password-file pw.txt revoke alice --reason keyCompromise --version 2"
    )]
    Revoke {
        /// The user ID
        user: String,
        /// Why, as RFC 5280 names it
        #[arg(long, value_enum, default_value_t = Reason::Unspecified)]
        reason: Reason,
        /// Revoke only this version [default: every version]
        #[arg(long, value_name = "N")]
        version: Option<u32>,
    },
    /// Show the revocation list
    #[command(after_help = "Example:\n  secure-kms revoked --json")]
    Revoked,
    /// Erase one version's key material, keeping its metadata
    #[command(
        after_help = "Example:\n  secure-kms --password-file pw.txt destroy alice --version 1 --yes"
    )]
    Destroy {
        /// The user ID
        user: String,
        /// The version to destroy
        #[arg(long, value_name = "N")]
        version: u32,
        /// Do not ask for confirmation (for scripts)
        #[arg(long)]
        yes: bool,
        /// Destroy even the only version that could still decrypt data
        #[arg(long)]
        force: bool,
    },
    /// Show the audit log, or check its hash chain
    #[command(after_help = "Example:\n  secure-kms audit --verify")]
    Audit {
        /// Check the hash chain and name the first broken line (exit 1 if broken)
        #[arg(long)]
        verify: bool,
    },
}

/// A key must live at least a second (a key born expired is of no use)
/// and end long before the year 9999.
fn expiry_range() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=MAX_EXPIRY_SECS)
}

/// RFC 5280 section 5.3.1 reason names.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "camelCase")]
enum Reason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl From<Reason> for RevocationReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
            Reason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        }
    }
}

/// Exit code for "refused: key revoked, expired or destroyed".
const EXIT_REFUSED: u8 = 3;

/// Exit code for usage errors, as clap uses.
const EXIT_USAGE: u8 = 2;

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
        .clone()
        .or_else(|| {
            std::env::var_os("KMS_STORE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let store = Store::new(dir);
    let result = match &cli.command {
        None if cli.json || cli.password_file.is_some() => {
            eprintln!(
                "error: --json and --password-file apply to subcommands; the interactive session asks its questions (see --help)"
            );
            return ExitCode::from(EXIT_USAGE);
        }
        None => run_session(
            &store,
            &mut TerminalConsole::new(),
            &SessionOptions::default(),
        )
        .map_err(anyhow::Error::new),
        Some(command) => run_command(&cli, &store, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = ExitCode::from(code_number(&e));
            // `{:#}` prints the whole chain: "what failed: why".
            eprintln!("error: {e:#}");
            if cli.json && cli.command.is_some() {
                print_json_error(&e, code_number(&e));
            }
            code
        }
    }
}

/// The exit code's number, for the JSON error object.
fn code_number(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(e) if e.is_refusal() => EXIT_REFUSED,
        Some(Error::Interrupted { .. }) => EXIT_INTERRUPTED,
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
    if let Some(Error::AuditBroken { line, .. }) = e.downcast_ref::<Error>() {
        shape["line"] = (*line).into();
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&shape).expect("JSON values always serialise")
    );
}

fn run_command(cli: &Cli, store: &Store, command: &Command) -> anyhow::Result<()> {
    let format = Format::detect();
    let now = time::now();
    let out = match command {
        Command::Keygen { user, expiry } => {
            let user = UserId::new(user)?;
            let password = password(cli, true)?;
            let made = slow("making keys", || {
                commands::keygen(store, &user, &password, *expiry, DEFAULT_ITERATIONS)
            })?;
            render(cli, &made, || output::new_version(&made))?
        }
        Command::Rotate { user, expiry } => {
            let user = UserId::new(user)?;
            let password = password(cli, false)?;
            let made = slow("rotating keys", || {
                commands::rotate(store, &user, &password, *expiry)
            })?;
            render(cli, &made, || output::new_version(&made))?
        }
        Command::Status { user } => {
            let status = commands::status(store, &UserId::new(user)?, now)?;
            render(cli, &status, || output::status(&status, format))?
        }
        Command::List => {
            let users = commands::list(store, now)?;
            render(cli, &users, || output::list(&users, format))?
        }
        Command::Revoke {
            user,
            reason,
            version,
        } => {
            let user = UserId::new(user)?;
            let password = password(cli, false)?;
            let outcome = slow("checking the password", || {
                commands::revoke(
                    store,
                    &user,
                    &password,
                    (*reason).into(),
                    *version,
                    "revoke",
                )
            })?;
            #[derive(serde::Serialize)]
            struct Shape {
                user: String,
                revoked: Vec<RevocationView>,
                already_revoked: Vec<RevocationView>,
            }
            let shape = Shape {
                user: user.to_string(),
                revoked: outcome.revoked.iter().map(Into::into).collect(),
                already_revoked: outcome.already.iter().map(Into::into).collect(),
            };
            render(cli, &shape, || output::revoke(user.as_str(), &outcome))?
        }
        Command::Revoked => {
            let entries = commands::revoked(store)?;
            let views: Vec<RevocationView> = entries.iter().map(Into::into).collect();
            render(cli, &views, || output::revoked(&entries, format))?
        }
        Command::Destroy {
            user,
            version,
            yes,
            force,
        } => {
            let user = UserId::new(user)?;
            // A refusal that needs no password comes before the question.
            commands::check_destroy(store, &user, *version, *force)?;
            if !yes {
                confirm(&format!(
                    "Destroy the key material of version {version} of {user}? It cannot be undone. (yes/no): "
                ))?;
            }
            let password = password(cli, false)?;
            let outcome = slow("checking the password", || {
                commands::destroy(store, &user, &password, *version, *force)
            })?;
            #[derive(serde::Serialize)]
            struct Shape {
                user: String,
                version: u32,
                destroyed: bool,
                already_destroyed: bool,
            }
            let destroyed = outcome == DestroyOutcome::Destroyed;
            let shape = Shape {
                user: user.to_string(),
                version: *version,
                destroyed,
                already_destroyed: !destroyed,
            };
            render(cli, &shape, || {
                if destroyed {
                    format!(
                        "Version {version} of {user} destroyed: its key material is erased; its metadata stays.\n"
                    )
                } else {
                    format!("Version {version} of {user} was already destroyed; nothing changed.\n")
                }
            })?
        }
        Command::Audit { verify: true } => {
            let (events, report) = commands::verify_audit(store)?;
            #[derive(serde::Serialize)]
            struct Shape {
                ok: bool,
                events: usize,
                #[serde(flatten)]
                report: secure_kms::audit::CrossCheck,
            }
            let shape = Shape {
                ok: true,
                events,
                report,
            };
            render(cli, &shape, || {
                let mut text = format!(
                    "audit.log: {events} events, hash chain intact and in agreement with the store\n"
                );
                if let (Some(start), n @ 1..) = (report.log_started, report.unchecked_versions) {
                    text.push_str(&format!(
                        "note: the log begins at {}; {n} key version(s) made before then are not checked against it (from before logging, or a log moved aside or deleted)\n",
                        time::format(start)
                    ));
                }
                text
            })?
        }
        Command::Audit { verify: false } => {
            let entries = commands::audit_log(store)?;
            render(cli, &entries, || output::audit(&entries, format))?
        }
    };
    print!("{out}");
    Ok(())
}

/// The text to print: JSON with `--json`, else what `text` renders.
fn render<T: serde::Serialize>(
    cli: &Cli,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    if cli.json {
        Ok(serde_json::to_string_pretty(value)? + "\n")
    } else {
        Ok(text())
    }
}

/// The password: from `--password-file`, else asked (without echo on a
/// terminal, where a new one is asked twice), else a line of stdin.
fn password(cli: &Cli, new: bool) -> anyhow::Result<Password> {
    if let Some(path) = &cli.password_file {
        return Ok(read_password_file(path)?);
    }
    let mut console = TerminalConsole::for_commands();
    let ask = |console: &mut TerminalConsole, prompt: &str| -> anyhow::Result<Password> {
        match console.ask_password(prompt)? {
            Some(pw) => Ok(Password::new(pw)?),
            None => Err(Error::EndOfInput {
                question: prompt.trim_end().to_owned(),
                state: "nothing was written",
            }
            .into()),
        }
    };
    let password = ask(&mut console, "Enter the password: ")?;
    if new && console.is_interactive() {
        let again = ask(&mut console, "Confirm the password: ")?;
        if !password.ct_eq(&again) {
            return Err(Error::PasswordMismatch.into());
        }
    }
    Ok(password)
}

/// Asks yes/no on the terminal; without one, refuses (scripts pass --yes).
fn confirm(question: &str) -> anyhow::Result<()> {
    let what = "destroying a key version".to_owned();
    if !std::io::stdin().is_terminal() {
        return Err(Error::NotConfirmed(what).into());
    }
    let mut console = TerminalConsole::for_commands();
    loop {
        match console
            .ask(question)?
            .map(|a| a.trim().to_ascii_lowercase())
        {
            Some(a) if a == "yes" || a == "y" => return Ok(()),
            Some(a) if a == "no" || a == "n" => return Err(Error::NotConfirmed(what).into()),
            Some(_) => eprintln!("Please answer yes or no."),
            None => return Err(Error::NotConfirmed(what).into()),
        }
    }
}

/// Runs a slow step (PBKDF2, RSA key generation) with a spinner on standard
/// error, shown only on a terminal and only once the step has taken 100 ms.
fn slow<T>(what: &str, step: impl FnOnce() -> T) -> T {
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
