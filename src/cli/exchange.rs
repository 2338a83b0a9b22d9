//! The key exchange, in one process or two, and Diffie-Hellman groups.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use secure_kms::formats::agreement::Group;
use secure_kms::ops::files::Output;
use secure_kms::store::Store;
use secure_kms::ui::explain::Steps;
use secure_kms::util::user::UserId;
use secure_kms::{CryptoError, Error, OpsError, UiError};
use secure_kms::{ops::handshake, ops::protocol};

use super::prompt::{named_password, password};
use super::{Cli, read_small, render, shown, slow};

#[derive(Subcommand, Debug)]
pub(crate) enum ExchangeCommand {
    /// Run an authenticated key exchange between two users, in one process, and show that both get one key
    #[command(
        after_help = "Examples:\n  secure-kms exchange --toy\n  secure-kms --password-file alice-pw.txt exchange alice bob --peer-password-file bob-pw.txt --group x25519 --explain\n  secure-kms --password-file alice-pw.txt exchange offer alice --to bob -o offer.json\n  secure-kms --password-file bob-pw.txt exchange accept bob offer.json -o answer.json\n  secure-kms --password-file alice-pw.txt exchange finish alice answer.json",
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Exchange {
        /// Between two processes, through files: offer, accept, finish
        #[command(subcommand)]
        step: Option<ExchangeStep>,
        /// The user who speaks first
        #[arg(required_unless_present = "toy")]
        user_a: Option<String>,
        /// The user who answers
        #[arg(required_unless_present = "toy")]
        user_b: Option<String>,
        /// Show a textbook exchange (p = 23, g = 5) with every number, then the same steps in ffdhe2048; insecure, for learning only, needs no store
        #[arg(long, conflicts_with_all = ["user_a", "user_b", "group", "params", "peer_password_file"])]
        toy: bool,
        /// The group: RFC 7919 ffdhe2048 (the original's) or RFC 7748 x25519
        #[arg(long, value_enum, default_value_t = GroupArg::Ffdhe2048)]
        group: GroupArg,
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
}

impl ExchangeCommand {
    /// Whether `--explain` shows something for this command: the exchange
    /// in one process (the toy one explains itself).
    pub(super) fn explains(&self) -> bool {
        matches!(self, Self::Exchange { step: None, .. })
    }

    /// Whether this is `exchange --toy`, which takes no user.
    pub(super) fn is_toy(&self) -> bool {
        matches!(self, Self::Exchange { toy: true, .. })
    }

    /// Runs the command; the text to print.
    pub(super) fn run(&self, cli: &Cli, store: &Store) -> anyhow::Result<String> {
        Ok(match self {
            Self::Exchange {
                step: Some(step), ..
            } => run_exchange_step(cli, store, step)?,
            Self::Exchange {
                step: None,
                toy: true,
                ..
            } => {
                use secure_kms::exchange::toy;
                let run = toy::exchange(toy::TEXTBOOK)?;
                let text = if cli.json {
                    String::new()
                } else {
                    secure_kms::ui::explain::exchange::toy_exchange(&run)?
                };
                render(cli, &run, || text)?
            }
            Self::Exchange {
                step: None,
                user_a,
                user_b,
                group,
                peer_password_file,
                params,
                toy: false,
            } => {
                // A group from a file is checked before any password is asked.
                let custom =
                    match params {
                        Some(path) => {
                            let text =
                                String::from_utf8(read_small(path, 64 * 1024)?).map_err(|_| {
                                    Error::Crypto(CryptoError::InvalidGroup(
                                        "the file is not PEM text".to_owned(),
                                    ))
                                })?;
                            Some(secure_kms::formats::dhkeys::params_from_pem(&text).map_err(
                                |e| anyhow::Error::new(e).context(path.display().to_string()),
                            )?)
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
                let password_a = named_password(&a, cli.password_file.as_deref())?;
                let password_b = named_password(&b, peer_password_file.as_deref())?;
                let group: Group = (*group).into();
                let mut steps = Steps::default();
                match params {
                    Some(path) => steps.title(&format!(
                        "Key exchange between {a} and {b} (a 2048-bit group from {}):",
                        shown(path)
                    )),
                    None => steps.title(&format!("Key exchange between {a} and {b} ({group}):")),
                }
                let outcome = slow("exchanging", || {
                    handshake::exchange(
                        store,
                        (&a, &password_a),
                        (&b, &password_b),
                        group,
                        custom.as_ref(),
                        &mut steps,
                    )
                })?;
                if cli.explain {
                    super::explain(cli, false, &steps);
                }
                render(cli, &outcome, || {
                    format!(
                        "Public keys authenticated: {} (RSA version {}) and {} (RSA version {})\n{} derived key (hashed): {}\n{} derived key (hashed): {}\nSecure symmetric key derived!\n",
                        outcome.initiator.user,
                        outcome.initiator.key_version,
                        outcome.responder.user,
                        outcome.responder.key_version,
                        outcome.initiator.user,
                        secure_kms::util::fingerprint::short(&outcome.initiator_key_fingerprint),
                        outcome.responder.user,
                        secure_kms::util::fingerprint::short(&outcome.responder_key_fingerprint),
                    )
                })?
            }
            Self::DhParams {
                bits,
                check,
                output,
                force,
                ..
            } => {
                if let Some(path) = check {
                    let text = String::from_utf8(read_small(path, 64 * 1024)?).map_err(|_| {
                        Error::Crypto(CryptoError::InvalidGroup(
                            "the file is not PEM text".to_owned(),
                        ))
                    })?;
                    let params = secure_kms::formats::dhkeys::params_from_pem(&text)
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
                    return Ok(String::new());
                }
                let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
                let mut out = Output::create(&target, *force)?;
                let params = generate_group(*bits)?;
                let pem = secure_kms::formats::dhkeys::params_to_pem(&params)?;
                out.write_all(pem.as_bytes())
                    .map_err(|e| Error::Ui(UiError::Output(e)))?;
                out.finish()?;
                if target.as_os_str() == "-" {
                    return Ok(String::new());
                }
                format!(
                    "A new {bits}-bit safe-prime group, g = 2, written to {}\n",
                    shown(&target)
                )
            }
        })
    }
}
/// The steps of an exchange between two processes.
#[derive(Subcommand, Debug)]
pub(crate) enum ExchangeStep {
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
pub(crate) enum GroupArg {
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

/// One step of an exchange between two processes.
pub(super) fn run_exchange_step(
    cli: &Cli,
    store: &Store,
    step: &ExchangeStep,
) -> anyhow::Result<String> {
    let agreed_text = |agreed: &protocol::Agreed, me: &str| {
        format!(
            "Exchange between {} (RSA version {}) and {} (RSA version {}) in {}: signatures verified\n{me} derived key (hashed): {}\n",
            agreed.initiator.user,
            agreed.initiator.key_version,
            agreed.responder.user,
            agreed.responder.key_version,
            agreed.group,
            secure_kms::util::fingerprint::short(&agreed.session_key_fingerprint)
        )
    };
    let read_message = |path: &std::path::Path| -> anyhow::Result<protocol::Message> {
        let bytes = read_small(path, 64 * 1024)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Ops(OpsError::ExchangeRefused("it is not UTF-8 text".to_owned()))
        })?;
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
                .map_err(|e| Error::Ui(UiError::Output(e)))?;
            out.finish()?;
            let shape = secure_kms::ui::reports::OfferWritten {
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
                .map_err(|e| Error::Ui(UiError::Output(e)))?;
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

/// Generates a safe-prime group with a progress indicator on the terminal:
/// a spinner that counts the candidates tested.
pub(super) fn generate_group(bits: u32) -> anyhow::Result<secure_kms::crypto::dh::DhParameters> {
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
    let params = secure_kms::crypto::dh::DhParameters::generate(bits, |tested| {
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
