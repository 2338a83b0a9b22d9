//! The key lifecycle: keygen, status, list, rotate, revoke, revoked,
//! recover and destroy.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use secure_kms::crypto::kdf::DEFAULT_ITERATIONS;
use secure_kms::keys::keyring::DestroyOutcome;
use secure_kms::ops::ca_policy::{self, Admin, AfterRevocation};
use secure_kms::ops::commands;
use secure_kms::revocation::{RevocationReason, RevokeOutcome};
use secure_kms::store::Store;
use secure_kms::store::versions::NewVersion;
use secure_kms::symmetric::DEFAULT_EXPIRY_SECS;
use secure_kms::ui::console::read_password_file;
use secure_kms::ui::explain::{self, Steps};
use secure_kms::ui::output::{self, Format, RevocationView};
use secure_kms::ui::reports;
use secure_kms::util::time;
use secure_kms::util::user::UserId;

use super::ca::{admin_for_new_pair, certify_new_pair};
use super::prompt::{confirm, password};
use super::{Cli, expiry_range, render, slow};

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
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
        after_help = "Example:\n  secure-kms --password-file pw.txt revoke alice --reason keyCompromise --version 2\n  secure-kms revoke alice --admin --admin-password-file admin.txt --reason privilegeWithdrawn   # with a CA, without alice's password"
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
        /// With a CA: revoke on the administrator's authority, without USER's password (the administrator password: --admin-password-file, else --password-file, else asked); the CRL is signed at once
        #[arg(long)]
        admin: bool,
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
}

/// `--explain` for a version just made.
fn explain_new_version(cli: &Cli, made: &NewVersion) -> anyhow::Result<()> {
    if cli.explain {
        let mut steps = Steps::default();
        explain::keys::new_version(&mut steps, made)?;
        super::explain(cli, false, &steps);
    }
    Ok(())
}

/// What `revoke` prints, with or without `--admin`: the entries, the CRL
/// signed after them (or a note that it is behind), and `--explain`'s steps.
fn revoked_report(
    cli: &Cli,
    user: &UserId,
    outcome: &RevokeOutcome,
    after: AfterRevocation,
) -> anyhow::Result<String> {
    let shape = reports::Revoked {
        user: user.clone(),
        revoked: outcome.revoked.iter().map(Into::into).collect(),
        already_revoked: outcome.already.iter().map(Into::into).collect(),
    };
    let mut text = render(cli, &shape, || output::revoke(user.as_str(), outcome))?;
    if cli.explain {
        let mut steps = Steps::default();
        let crl = match &after {
            AfterRevocation::Signed(crl) => Some(crl),
            _ => None,
        };
        explain::keys::revocation(&mut steps, &outcome.revoked, crl);
        super::explain(cli, false, &steps);
    }
    match after {
        AfterRevocation::Signed(crl) if !cli.json => text.push_str(&format!(
            "CRL number {} signed: {} revoked certificate(s)\n",
            crl.number,
            crl.serials.len()
        )),
        AfterRevocation::Behind if !cli.json => text.push_str(
            "note: the CRL is now behind revoked_keys.json; an administrator must run `secure-kms crl refresh`\n",
        ),
        _ => {}
    }
    Ok(text)
}

impl KeyCommand {
    /// Whether `--explain` shows something for this command.
    pub(super) fn explains(&self) -> bool {
        matches!(
            self,
            Self::Keygen { .. } | Self::Rotate { .. } | Self::Revoke { .. }
        )
    }

    /// Runs the command; the text to print.
    pub(super) fn run(&self, cli: &Cli, store: &Store) -> anyhow::Result<String> {
        let format = Format::detect();
        let now = time::now();
        Ok(match self {
            Self::Keygen {
                user,
                expiry,
                admin_password_file,
            } => {
                let user = UserId::new(user)?;
                let password = password(cli, true)?;
                let admin = admin_for_new_pair(store, admin_password_file.as_deref())?;
                let made = slow("making keys", || {
                    commands::keygen(store, &user, &password, *expiry, DEFAULT_ITERATIONS)
                })?;
                let certified = certify_new_pair(store, &user, &password, &admin, false, "keygen")?;
                explain_new_version(cli, &made)?;
                render(cli, &secure_kms::ui::reports::Made::from(&made), || {
                    output::new_version(&made) + &certified
                })?
            }
            Self::Status { user } => {
                let status = commands::status(store, &UserId::new(user)?, now)?;
                render(cli, &status, || output::status(&status, format))?
            }
            Self::List => {
                let users = commands::list(store, now)?;
                render(cli, &users, || output::list(&users, format))?
            }
            Self::Rotate {
                user,
                expiry,
                admin_password_file,
            } => {
                let user = UserId::new(user)?;
                let password = password(cli, false)?;
                let admin = admin_for_new_pair(store, admin_password_file.as_deref())?;
                let made = slow("rotating keys", || {
                    commands::rotate(store, &user, &password, *expiry)
                })?;
                // The pair rotated out keeps its certificate until the CRL
                // withdraws it (reason superseded; its key stays usable for
                // decrypting and verifying).
                let certified = certify_new_pair(store, &user, &password, &admin, true, "rotate")?;
                explain_new_version(cli, &made)?;
                render(cli, &secure_kms::ui::reports::Made::from(&made), || {
                    output::new_version(&made) + &certified
                })?
            }
            Self::Revoke {
                user,
                reason,
                version,
                admin_password_file,
                admin: true,
            } => {
                let user = UserId::new(user)?;
                let administrator = match admin_password_file.as_deref() {
                    Some(path) => read_password_file(path)?,
                    None => super::prompt::admin_password(cli, false)?,
                };
                let outcome = slow("checking the administrator password", || {
                    commands::revoke_as_administrator(
                        store,
                        &user,
                        &administrator,
                        (*reason).into(),
                        *version,
                    )
                })?;
                let after = slow("signing the CRL", || {
                    ca_policy::after_revocation(
                        store,
                        &outcome,
                        &Admin::With(administrator.clone()),
                        "revoke --admin",
                    )
                })?;
                revoked_report(cli, &user, &outcome, after)?
            }
            Self::Revoke {
                user,
                reason,
                version,
                admin_password_file,
                admin: false,
            } => {
                // A wrong administrator password stops the command before the
                // revocation, not after it; one given to a store without a CA
                // is refused, not ignored.
                let admin = match admin_password_file.as_deref() {
                    Some(path) => {
                        let admin = read_password_file(path)?;
                        slow("checking the administrator password", || {
                            Admin::check(store, Some(admin))
                        })?
                    }
                    None => Admin::check(store, None)?,
                };
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
                let after = slow("signing the CRL", || {
                    ca_policy::after_revocation(store, &outcome, &admin, "revoke")
                })?;
                revoked_report(cli, &user, &outcome, after)?
            }
            Self::Revoked => {
                let entries = commands::revoked(store)?;
                let views: Vec<RevocationView> = entries.iter().map(Into::into).collect();
                render(cli, &views, || output::revoked(&entries, format))?
            }
            Self::Recover => {
                let finished = commands::recover(store)?;
                render(cli, &reports::Recovered { finished }, || {
                    if finished {
                        "The unfinished change was checked and finished\n".to_owned()
                    } else {
                        "No unfinished change: nothing to do\n".to_owned()
                    }
                })?
            }
            Self::Destroy {
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
                let destroyed = outcome == DestroyOutcome::Destroyed;
                let shape = reports::Destroyed {
                    user: user.clone(),
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
                        format!(
                            "Version {version} of {user} was already destroyed; nothing changed.\n"
                        )
                    }
                })?
            }
        })
    }
}
/// RFC 5280 section 5.3.1 reason names.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "camelCase")]
pub(crate) enum Reason {
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
