//! `secure-kms`: the command-line front end. It parses options, runs the
//! library's interactive session or one subcommand, prints the result and
//! any error with what to do next, and turns the outcome into an exit code.

use anyhow::Context as _;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use secure_kms::agreement::Group;
use secure_kms::console::{
    Console, TerminalConsole, password_prompt_owns_ctrl_c, read_password_file,
};
use secure_kms::files::{self, Output};
use secure_kms::kdf::{DEFAULT_ITERATIONS, Password};
use secure_kms::keyring::DestroyOutcome;
use secure_kms::output::{self, Format, RevocationView};
use secure_kms::revocation::RevocationReason;
use secure_kms::secret;
use secure_kms::session::{SessionOptions, run_session};
use secure_kms::store::Store;
use secure_kms::symmetric::{DEFAULT_EXPIRY_SECS, MAX_EXPIRY_SECS};
use secure_kms::user::UserId;
use secure_kms::{Error, time};
use secure_kms::{ca, crl};
use secure_kms::{commands, envelope};
use secure_kms::{handshake, protocol, signing, transfer};

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
        /// With a CA: the administrator password, from the first line of FILE, to certify the new pair now (on a terminal it is asked; empty skips)
        #[arg(long, value_name = "FILE")]
        admin_password_file: Option<PathBuf>,
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
        /// With a CA: the administrator password, from the first line of FILE, to certify the new pair now (on a terminal it is asked; empty skips)
        #[arg(long, value_name = "FILE")]
        admin_password_file: Option<PathBuf>,
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
        /// With a CA: the administrator password, from the first line of FILE, to sign the new CRL now (else run `crl refresh`)
        #[arg(long, value_name = "FILE")]
        admin_password_file: Option<PathBuf>,
    },
    /// Show the revocation list
    #[command(after_help = "Example:\n  secure-kms revoked --json")]
    Revoked,
    /// Finish a change that a killed run committed but did not finish, after checking its journal
    #[command(
        after_help = "Any change (keygen, rotate, revoke, ...) does this first; commands that only read never do, and say when one is pending.\n\nExample:\n  secure-kms recover"
    )]
    Recover,
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
    /// Encrypt a file for a user (envelope: a data key per file, under the primary key version)
    #[command(
        after_help = "Example:\n  secure-kms --password-file pw.txt encrypt alice report.pdf report.pdf.kms\n  tar c notes | secure-kms --password-file pw.txt encrypt alice - notes.tar.kms"
    )]
    Encrypt {
        /// The user ID
        user: String,
        /// The file to encrypt (- for standard input)
        input: PathBuf,
        /// Where to write the encrypted file (- for standard output, not a terminal)
        output: PathBuf,
        /// Replace OUTPUT if it exists
        #[arg(long)]
        force: bool,
    },
    /// Decrypt a file with the key version its header names (a deactivated one will do)
    #[command(
        after_help = "Example:\n  secure-kms --password-file pw.txt decrypt alice report.pdf.kms report.pdf\n  secure-kms --password-file pw.txt decrypt alice notes.tar.kms - | tar t"
    )]
    Decrypt {
        /// The user ID
        user: String,
        /// The encrypted file (- for standard input)
        input: PathBuf,
        /// Where to write the plaintext (- for standard output)
        output: PathBuf,
        /// Replace OUTPUT if it exists
        #[arg(long)]
        force: bool,
    },
    /// Re-wrap files' data keys under the newest key version, leaving their payload as it is
    #[command(
        after_help = "Example:\n  secure-kms --password-file pw.txt rotate alice\n  secure-kms --password-file pw.txt rewrap alice *.kms\n  secure-kms --password-file pw.txt destroy alice --version 1 --yes"
    )]
    Rewrap {
        /// The user ID
        user: String,
        /// The encrypted files, each replaced whole
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Sign a file with the primary RSA key (RSA-PSS, SHA-256, 32-byte salt), as openssl dgst does
    #[command(
        after_help = "Example:\n  secure-kms --password-file pw.txt sign alice report.pdf -o report.pdf.sig\n  openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \\\n      -verify alice.pem -signature report.pdf.sig report.pdf"
    )]
    Sign {
        /// The user ID
        user: String,
        /// The file to sign
        file: PathBuf,
        /// Where to write the signature [default: FILE.sig]
        #[arg(short, long, value_name = "SIG")]
        output: Option<PathBuf>,
        /// Replace SIG if it exists
        #[arg(long)]
        force: bool,
    },
    /// Verify a signature against every key version of a user (no password needed)
    #[command(after_help = "Example:\n  secure-kms verify alice report.pdf report.pdf.sig")]
    Verify {
        /// The user ID
        user: String,
        /// The signed file
        file: PathBuf,
        /// The signature (raw RSA-PSS bytes, as openssl dgst -sign writes)
        signature: PathBuf,
    },
    /// Export the primary key: the public key as PEM, or the private key as encrypted PKCS#8
    #[command(
        after_help = "Example:\n  secure-kms export alice --public -o alice.pem\n  secure-kms --password-file pw.txt export alice --private --export-password-file export-pw.txt -o alice.key\n  openssl pkey -in alice.key -passin file:export-pw.txt -noout -text"
    )]
    Export {
        /// The user ID
        user: String,
        /// Export the public key (SubjectPublicKeyInfo PEM)
        #[arg(long, conflicts_with = "private", required_unless_present = "private")]
        public: bool,
        /// Export the private key (PKCS#8, PBES2: PBKDF2-SHA256 600000, AES-256-CBC)
        #[arg(long, requires = "output")]
        private: bool,
        /// Where to write it [default for --public: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The password for the exported private key, from the first line of FILE
        #[arg(long, value_name = "FILE")]
        export_password_file: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Import an encrypted PKCS#8 RSA private key (2048-4096 bits) as the next key version
    #[command(
        after_help = "Example:\n  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -aes-256-cbc -pass file:key-pw.txt -out key.pem\n  secure-kms --password-file pw.txt import alice --private key.pem --import-password-file key-pw.txt"
    )]
    Import {
        /// The user ID
        user: String,
        /// The encrypted PKCS#8 PEM file
        #[arg(long, value_name = "FILE")]
        private: PathBuf,
        /// The password of the key file, from the first line of FILE
        #[arg(long, value_name = "FILE")]
        import_password_file: Option<PathBuf>,
        /// Seconds until the new version's active period ends (1 to 10000000000)
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_EXPIRY_SECS, value_parser = expiry_range())]
        expiry: u64,
    },
    /// Run an authenticated key exchange between two users, in one process, and show that both get one key
    #[command(
        after_help = "Examples:\n  secure-kms --password-file alice-pw.txt exchange alice bob --peer-password-file bob-pw.txt --group x25519 --explain\n  secure-kms --password-file alice-pw.txt exchange offer alice --to bob -o offer.json\n  secure-kms --password-file bob-pw.txt exchange accept bob offer.json -o answer.json\n  secure-kms --password-file alice-pw.txt exchange finish alice answer.json",
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Exchange {
        /// Between two processes, through files: offer, accept, finish
        #[command(subcommand)]
        step: Option<ExchangeStep>,
        /// The user who speaks first
        #[arg(required = true)]
        user_a: Option<String>,
        /// The user who answers
        #[arg(required = true)]
        user_b: Option<String>,
        /// The group: RFC 7919 ffdhe2048 (the original's) or RFC 7748 x25519
        #[arg(long, value_enum, default_value_t = GroupArg::Ffdhe2048)]
        group: GroupArg,
        /// Print every value, shortened, with what it is and why it is safe
        #[arg(long)]
        explain: bool,
        /// USER_B's password, from the first line of FILE (USER_A's comes from --password-file)
        #[arg(long, value_name = "FILE")]
        peer_password_file: Option<PathBuf>,
        /// Use this DH group (PEM DH PARAMETERS, as dh-params --generate writes) instead of ffdhe2048
        #[arg(long, value_name = "FILE", conflicts_with = "group")]
        params: Option<PathBuf>,
    },
    /// Make a fresh Diffie-Hellman group (the original's path; slow), or check one
    #[command(
        after_help = "Example:\n  secure-kms dh-params --generate -o group.pem\n  secure-kms dh-params --check group.pem\n  openssl dhparam -in group.pem -check -noout",
        name = "dh-params"
    )]
    DhParams {
        /// Generate a new safe-prime group (seconds to a minute)
        #[arg(long, conflicts_with = "check", required_unless_present = "check")]
        generate: bool,
        /// The size of p in bits, 2048 to 8192 (each 1024 more takes several times longer)
        #[arg(long, default_value_t = 2048, requires = "generate")]
        bits: u32,
        /// Check a DH PARAMETERS PEM file: a safe prime of 2048 to 8192 bits and a generator of the q-order subgroup
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
        /// Where to write the PEM [default: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// The store's certificate authority: make it, or show its root
    #[command(
        after_help = "Example:\n  secure-kms --password-file admin-pw.txt ca init\n  secure-kms ca show > root.pem\n  openssl x509 -in root.pem -noout -text",
        subcommand_required = true
    )]
    Ca {
        #[command(subcommand)]
        action: CaAction,
    },
    /// X.509 certificates for users' RSA pairs, issued by the store's CA
    #[command(
        after_help = "Example:\n  secure-kms --password-file admin-pw.txt cert issue alice\n  secure-kms cert export alice -o alice.pem\n  openssl verify -CAfile root.pem alice.pem",
        subcommand_required = true
    )]
    Cert {
        #[command(subcommand)]
        action: CertAction,
    },
    /// The CA's signed certificate revocation list (crl.pem)
    #[command(
        after_help = "Example:\n  secure-kms --password-file admin-pw.txt crl refresh\n  secure-kms crl verify\n  openssl crl -in crl.pem -CAfile ca_root.pem -verify -noout",
        subcommand_required = true
    )]
    Crl {
        #[command(subcommand)]
        action: CrlAction,
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

/// What `ca` does.
#[derive(Subcommand, Debug)]
enum CaAction {
    /// Make the CA: an RSA key under an administrator password (--password-file, or asked) and a self-signed root, valid 10 years
    Init {
        /// The CA key's size
        #[arg(long, default_value_t = ca::DEFAULT_CA_KEY_BITS)]
        bits: usize,
    },
    /// Print the root certificate (PEM), or with --text what it holds
    Show {
        /// Describe it instead of printing the PEM
        #[arg(long)]
        text: bool,
    },
}

/// What `crl` does.
#[derive(Subcommand, Debug)]
enum CrlAction {
    /// Sign a new CRL from revoked_keys.json and the certificates rotations and destructions withdrew, valid 7 days (the administrator password: --password-file, or asked)
    Refresh,
    /// Check crl.pem: the CA's signature, its dates, and that it names exactly the certificates revoked_keys.json revokes and the store withdrew
    Verify,
}

/// What `cert` does.
#[derive(Subcommand, Debug)]
enum CertAction {
    /// Issue a certificate for USER's primary RSA pair (the administrator password: --password-file, or asked)
    Issue {
        /// The user ID
        user: String,
        /// The user's own password, from the first line of FILE (else asked): proof that the key is theirs
        #[arg(long, value_name = "FILE")]
        owner_password_file: Option<PathBuf>,
    },
    /// Describe USER's certificate
    Show {
        /// The user ID
        user: String,
    },
    /// Write USER's certificate as PEM
    Export {
        /// The user ID
        user: String,
        /// Where to write it [default: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
}

/// The steps of an exchange between two processes.
#[derive(Subcommand, Debug)]
enum ExchangeStep {
    /// Offer an exchange to another user: writes the signed offer, keeps the private value wrapped in the store
    #[command(
        after_help = "Example:\n  secure-kms --password-file alice-pw.txt exchange offer alice --to bob -o offer.json"
    )]
    Offer {
        /// The user who offers
        user: String,
        /// The user the offer is for
        #[arg(long, value_name = "USER")]
        to: String,
        /// Where to write the offer
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The group
        #[arg(long, value_enum, default_value_t = GroupArg::Ffdhe2048)]
        group: GroupArg,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Accept an offer: checks it, writes the signed answer, prints the session key's fingerprint
    #[command(
        after_help = "Example:\n  secure-kms --password-file bob-pw.txt exchange accept bob offer.json -o answer.json"
    )]
    Accept {
        /// The user the offer is for
        user: String,
        /// The offer
        offer: PathBuf,
        /// Where to write the answer
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Refuse an offer in any other group
        #[arg(long, value_enum)]
        group: Option<GroupArg>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Finish an exchange with the answer: prints the session key's fingerprint, forgets the private value
    #[command(
        after_help = "Example:\n  secure-kms --password-file alice-pw.txt exchange finish alice answer.json"
    )]
    Finish {
        /// The user who offered
        user: String,
        /// The answer
        answer: PathBuf,
    },
}

/// The groups of `exchange`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum GroupArg {
    Ffdhe2048,
    X25519,
}

impl From<GroupArg> for Group {
    fn from(g: GroupArg) -> Self {
        match g {
            GroupArg::Ffdhe2048 => Group::Ffdhe2048,
            GroupArg::X25519 => Group::X25519,
        }
    }
}

/// `println!` that does not panic when standard output is closed (a pipe
/// into `head`, say): the output is simply cut there.
macro_rules! say {
    ($($arg:tt)*) => {{
        // Paths and values may come from input. What `say!` prints is
        // escaped here, at the print; a command's rendered text is escaped
        // where it is built (table cells, `shown` paths), since a table's
        // colours are escape sequences of its own.
        let text = secure_kms::escape::printable_keeping(&format!($($arg)*), &['\n']);
        let _ = writeln!(std::io::stdout(), "{text}");
    }};
}

/// A path as output shows it: escaped, since a file's name can hold
/// anything (a folder's hostile names, passed on by a shell's `*`).
fn shown(path: &std::path::Path) -> String {
    secure_kms::escape::printable(&path.display().to_string())
}

/// Prints an exchange's explanation lines on standard output.
struct PrintSteps;

impl handshake::Explain for PrintSteps {
    fn step(&mut self, name: &str, value: &str, why: &str) {
        say!("  {name}: {value}\n      {why}");
    }
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
    let store = Store::new(dir);
    if let Some(warning) = store.loose_permissions() {
        eprintln!("warning: {}", secure_kms::escape::printable(&warning));
    }
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
                secure_kms::escape::printable(&format!("{e:#}"))
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
    say!(
        "{}",
        secure_kms::escape::json_for_output(
            &serde_json::to_string_pretty(&shape).expect("JSON values always serialise")
        )
    );
}

fn run_command(cli: &Cli, store: &Store, command: &Command) -> anyhow::Result<()> {
    let format = Format::detect();
    let now = time::now();
    let out = match command {
        Command::Keygen {
            user,
            expiry,
            admin_password_file,
        } => {
            let user = UserId::new(user)?;
            let password = password(cli, true)?;
            let admin = admin_for_new_pair(store, &user, admin_password_file.as_deref())?;
            let made = slow("making keys", || {
                commands::keygen(store, &user, &password, *expiry, DEFAULT_ITERATIONS)
            })?;
            let certified = certify_new_pair(store, &user, &password, &admin)?;
            render(cli, &made, || output::new_version(&made) + &certified)?
        }
        Command::Rotate {
            user,
            expiry,
            admin_password_file,
        } => {
            let user = UserId::new(user)?;
            let password = password(cli, false)?;
            let admin = admin_for_new_pair(store, &user, admin_password_file.as_deref())?;
            let made = slow("rotating keys", || {
                commands::rotate(store, &user, &password, *expiry)
            })?;
            let mut certified = certify_new_pair(store, &user, &password, &admin)?;
            // The pair rotated out keeps its certificate until the CRL
            // withdraws it (reason superseded; its key stays usable for
            // decrypting and verifying).
            let behind = || {
                crl::is_behind(store, Some(&user)).context(
                    "the new version was made, but the CRL could not be read to withdraw the old certificate",
                )
            };
            match &admin {
                Certify::With(password) if behind()? => {
                    let crl = slow("signing the CRL", || {
                        crl::publish(store, password, "rotate")
                    })
                    .context(
                        "the new version was made and certified, but no CRL was signed to withdraw the old certificate (an administrator can run `secure-kms crl refresh` once this is fixed)",
                    )?;
                    certified.push_str(&format!(
                        "CRL number {} signed: the superseded pair's certificate is withdrawn\n",
                        crl.number
                    ));
                }
                Certify::Later(_) if behind()? => certified.push_str(
                    "note: the superseded pair's certificate stays valid until an administrator runs `secure-kms crl refresh`\n",
                ),
                _ => {}
            }
            render(cli, &made, || output::new_version(&made) + &certified)?
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
            admin_password_file,
        } => {
            let admin = admin_password_file
                .as_deref()
                .map(read_password_file)
                .transpose()?;
            // A wrong administrator password stops the command before the
            // revocation, not after it.
            if let Some(admin) = &admin {
                let has_ca = slow("checking the administrator password", || {
                    ca::check_admin_password(store, admin)
                })?;
                // An option that would do nothing is refused, not ignored.
                if !has_ca {
                    return Err(Error::NoCa.into());
                }
            }
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
            let mut text = render(cli, &shape, || output::revoke(user.as_str(), &outcome))?;
            let has_ca = ca::Ca::load(store.dir())?.is_some();
            match admin {
                Some(admin) if has_ca && !outcome.revoked.is_empty() => {
                    let crl = slow("signing the CRL", || crl::publish(store, &admin, "revoke"))
                        .context(
                            "the revocation was made, but no CRL was signed (an administrator can run `secure-kms crl refresh` once this is fixed)",
                        )?;
                    if !cli.json {
                        text.push_str(&format!(
                            "CRL number {} signed: {} revoked certificate(s)\n",
                            crl.number,
                            crl.serials.len()
                        ));
                    }
                }
                None if has_ca && !outcome.revoked.is_empty() && !cli.json => text.push_str(
                    "note: the CRL is now behind revoked_keys.json; an administrator must run `secure-kms crl refresh`\n",
                ),
                _ => {}
            }
            text
        }
        Command::Recover => {
            let finished = commands::recover(store)?;
            render(cli, &serde_json::json!({ "finished": finished }), || {
                if finished {
                    "The unfinished change was checked and finished\n".to_owned()
                } else {
                    "No unfinished change: nothing to do\n".to_owned()
                }
            })?
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
        Command::Encrypt {
            user,
            input,
            output,
            force,
        } => {
            let user = UserId::new(user)?;
            if output.as_os_str() == "-" && std::io::stdout().is_terminal() {
                return Err(Error::BinaryToTerminal.into());
            }
            let mut reader = open_input(input)?;
            let mut out = Output::create(output, *force)?;
            let password = password_for_data(cli, input)?;
            let header = slow("encrypting", || {
                files::encrypt_file(store, &user, &password, &mut reader, &mut out)
            })
            .map_err(|e| naming(e, input, Some(output)))?;
            out.finish()?;
            if output.as_os_str() == "-" {
                return Ok(());
            }
            file_result(
                cli,
                &user,
                header.key_version,
                output,
                "Encrypted for {user} under key version {version} into {output}",
            )?
        }
        Command::Decrypt {
            user,
            input,
            output,
            force,
        } => {
            let user = UserId::new(user)?;
            let mut reader = open_input(input)?;
            let header = envelope::read_header(&mut reader).map_err(|e| naming(e, input, None))?;
            // Refusals that need no password come first.
            files::check_decryptable(store, &user, &header)?;
            let mut out = Output::create(output, *force)?;
            let password = password_for_data(cli, input)?;
            slow("decrypting", || {
                files::decrypt_file(store, &user, &password, &header, &mut reader, &mut out)
            })
            .map_err(|e| naming(e, input, Some(output)))?;
            out.finish()?;
            if output.as_os_str() == "-" {
                return Ok(());
            }
            file_result(
                cli,
                &user,
                header.key_version,
                output,
                "Decrypted with key version {version} of {user} into {output}",
            )?
        }
        Command::Rewrap { user, files: paths } => {
            let user = UserId::new(user)?;
            let password = password(cli, false)?;
            let mut rewrapper = slow("checking the password", || {
                files::Rewrapper::new(store, &user, password)
            })?;
            #[derive(serde::Serialize)]
            struct Shape {
                file: String,
                from_version: u32,
                to_version: u32,
                rewrapped: bool,
            }
            let mut done = Vec::new();
            for path in paths {
                // Files already done stay done if a later one fails: say
                // which, as each is finished.
                let (from, rewrapped) = rewrap_file(&mut rewrapper, path)
                    .map_err(|e| e.context(format!("{}", path.display())))?;
                if !cli.json {
                    if rewrapped {
                        say!(
                            "{}: data key re-wrapped from version {from} to version {}",
                            path.display(),
                            rewrapper.newest_version()
                        );
                    } else {
                        say!(
                            "{}: already under version {}, unchanged",
                            path.display(),
                            rewrapper.newest_version()
                        );
                    }
                }
                done.push(Shape {
                    file: path.display().to_string(),
                    from_version: from,
                    to_version: rewrapper.newest_version(),
                    rewrapped,
                });
            }
            render(cli, &done, String::new)?
        }
        Command::Sign {
            user,
            file,
            output,
            force,
        } => {
            let user = UserId::new(user)?;
            let sig_path = output.clone().unwrap_or_else(|| {
                let mut p = file.clone().into_os_string();
                p.push(".sig");
                PathBuf::from(p)
            });
            let mut reader = open_input(file)?;
            let mut out = Output::create(&sig_path, *force)?;
            let password = password_for_data(cli, file)?;
            let signature = slow("signing", || {
                signing::sign_file(store, &user, &password, &mut reader)
            })
            .map_err(|e| naming(e, file, None))?;
            out.write_all(&signature.bytes).map_err(Error::Output)?;
            out.finish()?;
            #[derive(serde::Serialize)]
            struct Shape {
                user: String,
                version: u32,
                signature: String,
            }
            let shape = Shape {
                user: user.to_string(),
                version: signature.version,
                signature: sig_path.display().to_string(),
            };
            render(cli, &shape, || {
                format!(
                    "Signed by {user} with key version {} into {}\n",
                    signature.version,
                    shown(&sig_path)
                )
            })?
        }
        Command::Verify {
            user,
            file,
            signature,
        } => {
            let user = UserId::new(user)?;
            let sig = read_small(signature, 64 * 1024)?;
            let mut reader = open_input(file)?;
            let (version, state) = signing::verify_file(store, &user, &mut reader, &sig)
                .map_err(|e| naming(e, file, None))?;
            #[derive(serde::Serialize)]
            struct Shape {
                user: String,
                version: u32,
                state: secure_kms::keyring::KeyState,
                verified: bool,
            }
            let shape = Shape {
                user: user.to_string(),
                version,
                state,
                verified: true,
            };
            render(cli, &shape, || {
                format!("Verified OK: signed by {user} with key version {version} (now {state})\n")
            })?
        }
        Command::Export {
            user,
            public,
            output,
            export_password_file,
            force,
            ..
        } => {
            let user = UserId::new(user)?;
            let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
            if *public {
                let (version, pem) = transfer::export_public(store, &user)?;
                let mut out = Output::create(&target, *force)?;
                out.write_all(pem.as_bytes()).map_err(Error::Output)?;
                out.finish()?;
                if target.as_os_str() == "-" {
                    return Ok(());
                }
                export_note(cli, &user, version, &target, "public")?
            } else {
                let mut out = Output::create(&target, *force)?;
                let password = password(cli, false)?;
                let export_password = second_password(
                    export_password_file.as_deref(),
                    "for the exported key",
                    true,
                )?;
                let (version, pem) = slow("exporting", || {
                    transfer::export_private(store, &user, &password, &export_password)
                })?;
                out.write_all(pem.as_bytes()).map_err(Error::Output)?;
                out.finish()?;
                if target.as_os_str() == "-" {
                    return Ok(());
                }
                export_note(cli, &user, version, &target, "private")?
            }
        }
        Command::Import {
            user,
            private,
            import_password_file,
            expiry,
        } => {
            let user = UserId::new(user)?;
            let pem = read_small(private, 1024 * 1024)?;
            let pem = String::from_utf8(pem).map_err(|_| {
                Error::ImportRefused(format!("{} is not a PEM text file", private.display()))
            })?;
            let key_password =
                second_password(import_password_file.as_deref(), "of the key file", false)?;
            let key = slow("reading the key", || {
                transfer::read_encrypted_private_key(&pem, &key_password)
            })?;
            let new_user = commands::status(store, &user, time::now()).is_err();
            let password = password(cli, new_user)?;
            let made = slow("importing", || {
                transfer::import_private(store, &user, &password, &key, *expiry, DEFAULT_ITERATIONS)
            })?;
            render(cli, &made, || output::new_version(&made))?
        }
        Command::Exchange {
            step: Some(step), ..
        } => run_exchange_step(cli, store, step)?,
        Command::Exchange {
            step: None,
            user_a,
            user_b,
            group,
            explain,
            peer_password_file,
            params,
        } => {
            // A group from a file is checked before any password is asked.
            let custom = match params {
                Some(path) => {
                    let text = String::from_utf8(read_small(path, 64 * 1024)?)
                        .map_err(|_| Error::InvalidGroup("the file is not PEM text".to_owned()))?;
                    Some(
                        secure_kms::dhkeys::params_from_pem(&text).map_err(|e| {
                            anyhow::Error::new(e).context(path.display().to_string())
                        })?,
                    )
                }
                None => None,
            };
            let (a, b) = (
                UserId::new(user_a.as_deref().unwrap_or_default())?,
                UserId::new(user_b.as_deref().unwrap_or_default())?,
            );
            if a == b {
                anyhow::bail!("an exchange needs two different users");
            }
            let password_a = match &cli.password_file {
                Some(path) => read_password_file(path)?,
                None => ask_named_password(&a)?,
            };
            let password_b = match peer_password_file {
                Some(path) => read_password_file(path)?,
                None => ask_named_password(&b)?,
            };
            let group: Group = (*group).into();
            if *explain && !cli.json {
                match params {
                    Some(path) => say!(
                        "Key exchange between {a} and {b} (a 2048-bit group from {}):",
                        path.display()
                    ),
                    None => say!("Key exchange between {a} and {b} ({group}):"),
                }
            }
            let outcome = slow("exchanging", || {
                let mut printer = PrintSteps;
                let mut quiet = handshake::Quiet;
                let explain: &mut dyn handshake::Explain = if *explain && !cli.json {
                    &mut printer
                } else {
                    &mut quiet
                };
                handshake::exchange(
                    store,
                    (&a, &password_a),
                    (&b, &password_b),
                    group,
                    custom.as_ref(),
                    explain,
                )
            })?;
            render(cli, &outcome, || {
                format!(
                    "Public keys authenticated: {} (RSA version {}) and {} (RSA version {})\n{} derived key (hashed): {}\n{} derived key (hashed): {}\nSecure symmetric key derived!\n",
                    outcome.initiator.user,
                    outcome.initiator.key_version,
                    outcome.responder.user,
                    outcome.responder.key_version,
                    outcome.initiator.user,
                    secure_kms::fingerprint::short(&outcome.initiator_key_fingerprint),
                    outcome.responder.user,
                    secure_kms::fingerprint::short(&outcome.responder_key_fingerprint),
                )
            })?
        }
        Command::DhParams {
            bits,
            check,
            output,
            force,
            ..
        } => {
            if let Some(path) = check {
                let text = String::from_utf8(read_small(path, 64 * 1024)?)
                    .map_err(|_| Error::InvalidGroup("the file is not PEM text".to_owned()))?;
                let params = secure_kms::dhkeys::params_from_pem(&text)
                    .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))?;
                say!(
                    "{}: a safe prime p of {} bits and g = {} generating the subgroup of order (p - 1) / 2: usable",
                    path.display(),
                    params.bits(),
                    params
                        .g()
                        .to_string()
                        .trim_start_matches("0x")
                        .trim_start_matches('0')
                );
                return Ok(());
            }
            let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
            let mut out = Output::create(&target, *force)?;
            let params = generate_group(*bits)?;
            let pem = secure_kms::dhkeys::params_to_pem(&params)?;
            out.write_all(pem.as_bytes()).map_err(Error::Output)?;
            out.finish()?;
            if target.as_os_str() == "-" {
                return Ok(());
            }
            format!(
                "A new {bits}-bit safe-prime group, g = 2, written to {}\n",
                shown(&target)
            )
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
                        "note: the log begins at {}; {n} key version(s) made before then are not checked against it (keys migrated from format 1, which predate logging)\n",
                        time::format(start)
                    ));
                }
                text
            })?
        }
        Command::Ca {
            action: CaAction::Init { bits },
        } => {
            let password = admin_password(cli, true)?;
            let made = slow("making the CA key", || {
                ca::init(store, &password, *bits, DEFAULT_ITERATIONS)
            })?;
            #[derive(serde::Serialize)]
            struct Shape<'a> {
                root: &'a str,
                key: &'a str,
                bits: usize,
                key_fingerprint: &'a str,
            }
            let root = store.dir().join(ca::ROOT_FILE);
            let key = store.dir().join(ca::CA_KEY_FILE);
            let shape = Shape {
                root: &root.to_string_lossy(),
                key: &key.to_string_lossy(),
                bits: *bits,
                key_fingerprint: &made.key.fingerprint,
            };
            render(cli, &shape, || {
                format!(
                    "CA made: an RSA-{bits} key, encrypted under the administrator password, in {}\nroot certificate ({}, valid 10 years) in {}\nkey ID (SHA-256 of its public key): {}\nsee it with: openssl x509 -in {} -noout -text\n",
                    shown(&key),
                    ca::ROOT_SUBJECT,
                    shown(&root),
                    made.key.fingerprint,
                    shown(&root)
                )
            })?
        }
        Command::Ca {
            action: CaAction::Show { text },
        } => {
            // Shown only once the store's checks hold: the root the log
            // recorded (a CA swapped in is refused), and a current CRL.
            store.load()?;
            let found = ca::Ca::load(store.dir())?.ok_or(Error::NoCa)?;
            if *text {
                let shape = ca::describe_root(&found)?;
                render(cli, &shape, || shape.to_string())?
            } else {
                found.root_pem.clone()
            }
        }
        Command::Crl {
            action: CrlAction::Refresh,
        } => {
            let password = admin_password(cli, false)?;
            let signed = slow("signing the CRL", || {
                crl::publish(store, &password, "crl refresh")
            })?;
            render(cli, &signed, || signed.to_string())?
        }
        Command::Crl {
            action: CrlAction::Verify,
        } => {
            let checked = crl::verify(store)?;
            render(cli, &checked, || {
                format!(
                    "crl.pem: signature valid (the store's root), current, and in agreement with revoked_keys.json and key_store.json\n{checked}"
                )
            })?
        }
        Command::Cert {
            action:
                CertAction::Issue {
                    user,
                    owner_password_file,
                },
        } => {
            let user = UserId::new(user)?;
            let password = admin_password(cli, false)?;
            let owner = owner_password(&user, owner_password_file.as_deref())?;
            let issued = slow("issuing", || ca::issue(store, &user, &password, &owner))?;
            render(cli, &issued, || issued.to_string())?
        }
        Command::Cert {
            action: CertAction::Show { user },
        } => {
            let found = ca::certificate_of(store, &UserId::new(user)?)?;
            render(cli, &found, || found.to_string())?
        }
        Command::Cert {
            action:
                CertAction::Export {
                    user,
                    output,
                    force,
                },
        } => {
            let found = ca::certificate_of(store, &UserId::new(user)?)?;
            let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
            let mut out = Output::create(&target, *force)?;
            out.write_all(found.pem.as_bytes()).map_err(Error::Output)?;
            out.finish()?;
            String::new()
        }
        Command::Audit { verify: false } => {
            let entries = commands::audit_log(store)?;
            render(cli, &entries, || output::audit(&entries, format))?
        }
    };
    // A closed pipe (into `head`) ends the run as it ends the session:
    // quietly, with status 141 (see `main`).
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(Error::Output)?;
    Ok(())
}

/// What `encrypt` and `decrypt` print once the output file is in place:
/// `{"user", "key_version", "output"}` with `--json`, else `sentence` with
/// `{user}`, `{version}` and `{output}` filled in.
fn file_result(
    cli: &Cli,
    user: &UserId,
    version: u32,
    output: &std::path::Path,
    sentence: &str,
) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Shape {
        user: String,
        key_version: u32,
        output: String,
    }
    let shape = Shape {
        user: user.to_string(),
        key_version: version,
        output: output.display().to_string(),
    };
    render(cli, &shape, || {
        sentence
            .replace("{user}", user.as_str())
            .replace("{version}", &version.to_string())
            .replace("{output}", &shown(output))
            + "\n"
    })
}

/// Names the file behind a read or write error of the data.
fn naming(e: Error, input: &std::path::Path, output: Option<&std::path::Path>) -> anyhow::Error {
    let path = match (&e, output) {
        (Error::ReadData(_), _) => Some(input),
        (Error::WriteData(_), Some(out)) => Some(out),
        _ => None,
    };
    match path {
        Some(p) if p.as_os_str() == "-" => anyhow::Error::new(e),
        Some(p) => anyhow::Error::new(e).context(p.display().to_string()),
        None => anyhow::Error::new(e),
    }
}

/// Reads a small file whole (a signature, a key), refusing one over `limit`.
fn read_small(path: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let io = |source| Error::Io {
        action: "read",
        path: path.to_owned(),
        source,
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

/// A second password (for an exported or imported key file): from `file`,
/// else asked on the terminal (twice when `new`).
fn second_password(
    file: Option<&std::path::Path>,
    what: &str,
    new: bool,
) -> anyhow::Result<Password> {
    if let Some(path) = file {
        return Ok(read_password_file(path)?);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the password {what} cannot be read from standard input alongside the user's: give it with a file (see --help)"
        );
    }
    let mut console = TerminalConsole::for_commands();
    let prompt = format!("Enter the password {what}: ");
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
    let password = ask(&mut console, &prompt)?;
    if new {
        let again = ask(&mut console, &format!("Confirm the password {what}: "))?;
        if !password.ct_eq(&again) {
            return Err(Error::PasswordMismatch.into());
        }
    }
    Ok(password)
}

/// One step of an exchange between two processes.
fn run_exchange_step(cli: &Cli, store: &Store, step: &ExchangeStep) -> anyhow::Result<String> {
    let agreed_text = |agreed: &protocol::Agreed, me: &str| {
        format!(
            "Exchange between {} (RSA version {}) and {} (RSA version {}) in {}: signatures verified\n{me} derived key (hashed): {}\n",
            agreed.initiator.user,
            agreed.initiator.key_version,
            agreed.responder.user,
            agreed.responder.key_version,
            agreed.group,
            secure_kms::fingerprint::short(&agreed.session_key_fingerprint)
        )
    };
    let read_message = |path: &std::path::Path| -> anyhow::Result<protocol::Message> {
        let bytes = read_small(path, 64 * 1024)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::ExchangeRefused("it is not UTF-8 text".to_owned()))?;
        protocol::Message::from_json(&text)
            .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))
    };
    match step {
        ExchangeStep::Offer {
            user,
            to,
            output,
            group,
            force,
        } => {
            let (user, to) = (UserId::new(user)?, UserId::new(to)?);
            let mut out = Output::create(output, *force)?;
            let password = password(cli, false)?;
            let offer = slow("making the offer", || {
                protocol::offer(store, &user, &password, &to, (*group).into())
            })?;
            out.write_all(offer.to_json().as_bytes())
                .map_err(Error::Output)?;
            out.finish()?;
            #[derive(serde::Serialize)]
            struct Shape {
                offer: String,
                nonce: String,
            }
            let shape = Shape {
                offer: output.display().to_string(),
                nonce: offer.nonce.clone(),
            };
            render(cli, &shape, || {
                format!(
                    "Offer from {user} to {to} ({}) written to {}: send it to {to}, then run `exchange finish {user}` on the answer\n",
                    offer.group,
                    shown(output)
                )
            })
        }
        ExchangeStep::Accept {
            user,
            offer,
            output,
            group,
            force,
        } => {
            let user = UserId::new(user)?;
            let message = read_message(offer)?;
            let mut out = Output::create(output, *force)?;
            let password = password(cli, false)?;
            let (answer, agreed) = slow("accepting", || {
                protocol::accept(store, &user, &password, &message, group.map(Into::into))
            })?;
            out.write_all(answer.to_json().as_bytes())
                .map_err(Error::Output)?;
            out.finish()?;
            render(cli, &agreed, || agreed_text(&agreed, user.as_str()))
        }
        ExchangeStep::Finish { user, answer } => {
            let user = UserId::new(user)?;
            let message = read_message(answer)?;
            let password = password(cli, false)?;
            let agreed = slow("finishing", || {
                protocol::finish(store, &user, &password, &message)
            })?;
            render(cli, &agreed, || agreed_text(&agreed, user.as_str()))
        }
    }
}

/// A user's password, asked by name: without echo on a terminal, else the
/// next line of standard input.
fn ask_named_password(user: &UserId) -> anyhow::Result<Password> {
    let prompt = format!("Enter the password of {user}: ");
    match TerminalConsole::for_commands().ask_password(&prompt)? {
        Some(pw) => Ok(Password::new(pw)?),
        None => Err(Error::EndOfInput {
            question: prompt.trim_end().to_owned(),
            state: "nothing was written",
        }
        .into()),
    }
}

/// What `export` prints once the key is written to a file.
fn export_note(
    cli: &Cli,
    user: &UserId,
    version: u32,
    target: &std::path::Path,
    which: &str,
) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Shape<'a> {
        user: String,
        version: u32,
        key: &'a str,
        output: String,
    }
    let shape = Shape {
        user: user.to_string(),
        version,
        key: which,
        output: target.display().to_string(),
    };
    render(cli, &shape, || {
        format!(
            "Exported the {which} key of {user}, version {version}, into {}\n",
            shown(target)
        )
    })
}

/// Opens the input file, or standard input for `-`, with a large buffer.
fn open_input(path: &std::path::Path) -> anyhow::Result<Box<dyn std::io::BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::with_capacity(
            files::IO_BUFFER,
            std::io::stdin(),
        )));
    }
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        action: "open",
        path: path.to_owned(),
        source,
    })?;
    Ok(Box::new(std::io::BufReader::with_capacity(
        files::IO_BUFFER,
        file,
    )))
}

/// The password, when the data may come from standard input: then a
/// password cannot also be a line of it.
fn password_for_data(cli: &Cli, input: &std::path::Path) -> anyhow::Result<Password> {
    if input.as_os_str() == "-" && cli.password_file.is_none() && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the data comes from standard input, so the password cannot: give it with --password-file"
        );
    }
    password(cli, false)
}

/// Re-wraps one file in place (a whole new file renamed over it): its
/// version before, and whether it changed.
fn rewrap_file(
    rewrapper: &mut files::Rewrapper<'_>,
    path: &std::path::Path,
) -> anyhow::Result<(u32, bool)> {
    let io = |action| Error::io(action, path);
    let meta = std::fs::symlink_metadata(path).map_err(io("read"))?;
    if meta.file_type().is_symlink() {
        anyhow::bail!(
            "it is a symbolic link: rewrap replaces a file whole, which would replace the link and leave its target as it was; give the file it points to"
        );
    }
    let file = std::fs::File::open(path).map_err(io("open"))?;
    let mut reader = std::io::BufReader::with_capacity(files::IO_BUFFER, file);
    let header = envelope::read_header(&mut reader)?;
    let Some(new_header) = rewrapper.rewrap(&header)? else {
        return Ok((header.key_version, false));
    };
    let mut out = Output::create(path, true)?;
    out.write_all(&new_header.to_bytes())
        .map_err(io("write beside"))?;
    std::io::copy(&mut reader, &mut out).map_err(io("copy the payload of"))?;
    out.finish()?;
    // The new file keeps the old one's permissions.
    std::fs::set_permissions(path, meta.permissions()).map_err(io("set the permissions of"))?;
    Ok((header.key_version, true))
}

/// The text to print: JSON with `--json`, else what `text` renders.
fn render<T: serde::Serialize>(
    cli: &Cli,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    if cli.json {
        Ok(secure_kms::escape::json_for_output(&serde_json::to_string_pretty(value)?) + "\n")
    } else {
        Ok(text())
    }
}

/// Whether, and with which administrator password, to certify a new pair.
enum Certify {
    /// The store has no CA.
    NoCa,
    /// Not now: the line saying how to do it later.
    Later(String),
    /// With this password, checked against the CA key.
    With(Password),
}

/// Before keygen or rotate changes anything: with a CA in the store, the
/// administrator password from `file`, or asked on a terminal (an empty
/// answer skips), checked, so that a wrong one stops the command first.
fn admin_for_new_pair(
    store: &Store,
    user: &UserId,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Certify> {
    if ca::Ca::load(store.dir())?.is_none() {
        // An option that would do nothing is refused, not ignored.
        return match file {
            Some(_) => Err(Error::NoCa.into()),
            None => Ok(Certify::NoCa),
        };
    }
    let later = format!("no certificate issued: run `secure-kms cert issue {user}` to issue one");
    let password = match file {
        Some(path) => read_password_file(path)?,
        None if std::io::stdin().is_terminal() => {
            let mut console = TerminalConsole::for_commands();
            match console.ask_password(
                "Enter the administrator password to certify the new pair (empty to skip): ",
            )? {
                Some(pw) if !pw.is_empty() => Password::new(pw)?,
                _ => return Ok(Certify::Later(format!("{later}\n"))),
            }
        }
        None => {
            return Ok(Certify::Later(format!(
                "{later} (or pass --admin-password-file)\n"
            )));
        }
    };
    slow("checking the administrator password", || {
        ca::check_admin_password(store, &password)
    })?;
    Ok(Certify::With(password))
}

/// After keygen or rotate: issues the new pair's certificate as `admin`
/// says. The line to print: what was issued, or how to issue it later.
fn certify_new_pair(
    store: &Store,
    user: &UserId,
    owner: &Password,
    admin: &Certify,
) -> anyhow::Result<String> {
    let password = match admin {
        Certify::NoCa => return Ok(String::new()),
        Certify::Later(line) => return Ok(line.clone()),
        Certify::With(password) => password,
    };
    let issued = slow("issuing the certificate", || {
        ca::issue(store, user, password, owner)
    })?;
    Ok(format!(
        "certificate issued by the KMS CA: serial {}, valid {} to {}\n",
        issued.serial, issued.not_before, issued.not_after
    ))
}

/// The administrator password (of the CA key): from `--password-file`,
/// else asked on the terminal (twice when `new`).
fn admin_password(cli: &Cli, new: bool) -> anyhow::Result<Password> {
    if let Some(path) = &cli.password_file {
        return Ok(read_password_file(path)?);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the administrator password is read from a file or a terminal, not a pipe: give it with --password-file"
        );
    }
    let mut console = TerminalConsole::for_commands();
    let mut ask = |prompt: &str| -> anyhow::Result<Password> {
        match console.ask_password(prompt)? {
            Some(pw) => Ok(Password::new(pw)?),
            None => Err(Error::EndOfInput {
                question: prompt.trim_end().to_owned(),
                state: "nothing was written",
            }
            .into()),
        }
    };
    let password = ask("Enter the administrator password: ")?;
    if new && !password.ct_eq(&ask("Confirm the administrator password: ")?) {
        return Err(Error::PasswordMismatch.into());
    }
    Ok(password)
}

/// The password of `user`, the owner of the key a certificate is asked
/// for: from `file`, else asked (without echo on a terminal), else a line
/// of standard input.
fn owner_password(user: &UserId, file: Option<&std::path::Path>) -> anyhow::Result<Password> {
    match file {
        Some(path) => Ok(read_password_file(path)?),
        None => ask_named_password(user),
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

/// Generates a safe-prime group with a progress indicator on the terminal:
/// a spinner that counts the candidates tested.
fn generate_group(bits: u32) -> anyhow::Result<secure_kms::exchange::DhParameters> {
    let what = format!("searching for a {bits}-bit safe prime p = 23 mod 24, on every core");
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .expect("a valid template"),
        );
        bar.set_message(what.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let params = secure_kms::exchange::DhParameters::generate(bits, |tested| {
        if let Some(bar) = &spinner
            && tested % 16 == 0
        {
            bar.set_message(format!("{what}: {tested} candidates tested"));
        }
    });
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    Ok(params?)
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
