//! The store's certificate authority: ca, cert and crl.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Subcommand;
use secure_kms::ca::{self, crl};
use secure_kms::crypto::kdf::{DEFAULT_ITERATIONS, Password};
use secure_kms::ops::ca_policy::{self, Admin};
use secure_kms::ops::files::Output;
use secure_kms::store::Store;
use secure_kms::util::user::UserId;
use secure_kms::{CaError, Error, UiError};

use super::prompt::{admin_password, named_password, optional_password};
use super::{Cli, render, shown, slow};

#[derive(Subcommand, Debug)]
pub(crate) enum CaCommand {
    /// The store's certificate authority: make it, or show its root
    #[command(
        after_help = "Example:\n  secure-kms --password-file admin-pw.txt ca init\n  secure-kms ca show > root.pem\n  openssl x509 -in root.pem -noout -text\n  secure-kms ca trust class-root.pem      # in another store: trust this root\n  openssl x509 -in class-root.pem -noout -fingerprint -sha256\n  secure-kms ca trusted",
        subcommand_required = true
    )]
    Ca {
        #[command(subcommand)]
        action: CaAction,
    },
    /// X.509 certificates for users' RSA pairs, issued by the store's CA
    #[command(
        after_help = "Example:\n  secure-kms --password-file admin-pw.txt cert issue alice\n  secure-kms cert export alice -o alice.pem\n  openssl verify -CAfile root.pem alice.pem\n  secure-kms --password-file alice-pw.txt cert request alice -o alice.csr    # in alice's store\n  openssl req -in alice.csr -verify -noout\n  secure-kms --password-file admin-pw.txt cert sign alice.csr -o alice.crt   # in the CA's store\n  secure-kms cert import alice alice.crt     # in alice's store, which trusts that CA's root\n  secure-kms --password-file admin-pw.txt cert revoke 7e1f7c88... --reason keyCompromise",
        subcommand_required = true
    )]
    Cert {
        #[command(subcommand)]
        action: CertAction,
    },
    /// The CA's signed certificate revocation list (crl.pem)
    #[command(
        after_help = "Example:\n  secure-kms --password-file admin-pw.txt crl refresh\n  secure-kms crl verify\n  openssl crl -in crl.pem -CAfile ca_root.pem -verify -noout\n  secure-kms crl import class-crl.pem       # in a store that trusts the class root",
        subcommand_required = true
    )]
    Crl {
        #[command(subcommand)]
        action: CrlAction,
    },
}

impl CaCommand {
    /// Runs the command; the text to print.
    pub(super) fn run(&self, cli: &Cli, store: &Store) -> anyhow::Result<String> {
        Ok(match self {
            Self::Ca {
                action: CaAction::Init { bits },
            } => {
                let password = admin_password(cli, true)?;
                let made = slow("making the CA key", || {
                    ca::init(store, &password, *bits, DEFAULT_ITERATIONS)
                })?;
                let root = store.dir().join(ca::ROOT_FILE);
                let key = store.dir().join(ca::CA_KEY_FILE);
                let shape = secure_kms::ui::reports::CaMade {
                    root: root.to_string_lossy().into_owned(),
                    key: key.to_string_lossy().into_owned(),
                    bits: *bits,
                    key_fingerprint: made.key.fingerprint.to_string(),
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
            Self::Ca {
                action: CaAction::Show { text },
            } => {
                // Shown only once the store's checks hold: the root the log
                // recorded (a CA swapped in is refused), and a current CRL.
                store.load()?;
                let found = ca::Ca::load(store.dir())?.ok_or(Error::Ca(CaError::NoCa))?;
                if *text {
                    let shape = ca::describe_root(&found)?;
                    render(cli, &shape, || shape.to_string())?
                } else {
                    found.root_pem.clone()
                }
            }
            Self::Ca {
                action: CaAction::Trust { root },
            } => {
                let text =
                    String::from_utf8(super::read_small(root, 64 * 1024)?).map_err(|_| {
                        Error::Ca(CaError::NotARoot("the file is not PEM text".to_owned()))
                    })?;
                let anchor = ca::anchors::trust(store, &text)
                    .map_err(|e| anyhow::Error::new(e).context(shown(root)))?;
                render(cli, &anchor, || {
                    format!(
                        "Trusted: {anchor}Compare the fingerprint with the one the root's owner gives you (openssl x509 -in ROOT.pem -noout -fingerprint -sha256): if they differ, run `secure-kms ca untrust {}` at once.\n",
                        anchor.fingerprint
                    )
                })?
            }
            Self::Ca {
                action: CaAction::Trusted,
            } => {
                let anchors = ca::anchors::trusted(store)?;
                render(cli, &anchors, || {
                    if anchors.is_empty() {
                        "No trusted roots: `secure-kms ca trust ROOT.pem` adds one, `ca init` makes this store's own.\n".to_owned()
                    } else {
                        anchors.iter().map(ToString::to_string).collect()
                    }
                })?
            }
            Self::Ca {
                action: CaAction::Untrust { fingerprint },
            } => {
                let anchor = ca::anchors::untrust(store, fingerprint)?;
                render(cli, &anchor, || format!("No longer trusted: {anchor}"))?
            }
            Self::Cert {
                action:
                    CertAction::Issue {
                        user,
                        owner_password_file,
                    },
            } => {
                let user = UserId::new(user)?;
                let password = admin_password(cli, false)?;
                let owner = named_password(&user, owner_password_file.as_deref())?;
                let issued = slow("issuing", || ca::issue(store, &user, &password, &owner))?;
                render(cli, &issued, || issued.to_string())?
            }
            Self::Cert {
                action: CertAction::Show { user },
            } => {
                let found = ca::certificate_of(store, &UserId::new(user)?)?;
                render(cli, &found, || found.to_string())?
            }
            Self::Cert {
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
                out.write_all(found.pem.as_bytes())
                    .map_err(|e| Error::Ui(UiError::Output(e)))?;
                out.finish()?;
                String::new()
            }
            Self::Cert {
                action:
                    CertAction::Request {
                        user,
                        output,
                        force,
                    },
            } => {
                let user = UserId::new(user)?;
                let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
                let mut out = Output::create(&target, *force)?;
                let password = super::prompt::password(cli, false)?;
                let pem = slow("checking the password", || {
                    secure_kms::ops::transfer::certificate_request(store, &user, &password)
                })?;
                out.write_all(pem.as_bytes())
                    .map_err(|e| Error::Ui(UiError::Output(e)))?;
                out.finish()?;
                if output.is_none() {
                    String::new()
                } else {
                    format!(
                        "Certificate request for {user} written to {}: give it to the CA, and check its fingerprint with `openssl req -in {} -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum`\n",
                        shown(&target),
                        shown(&target)
                    )
                }
            }
            Self::Cert {
                action: CertAction::Revoke { serial, reason },
            } => {
                let password = admin_password(cli, false)?;
                let signed = slow("signing the CRL", || {
                    ca_policy::revoke_certificate(store, serial, (*reason).into(), &password)
                })?;
                render(cli, &signed, || {
                    format!(
                        "Certificate {} revoked; CRL number {} signed: {} revoked certificate(s). Give crl.pem to the stores that trust this CA (`secure-kms crl import crl.pem`).\n",
                        secure_kms::util::escape::printable(serial),
                        signed.number,
                        signed.serials.len()
                    )
                })?
            }
            Self::Cert {
                action: CertAction::Import { user, certificate },
            } => {
                let user = UserId::new(user)?;
                let text = String::from_utf8(super::read_small(certificate, 64 * 1024)?).map_err(
                    |_| Error::Ca(CaError::Refused("the file is not PEM text".to_owned())),
                )?;
                let imported = ca::import::import(store, &user, &text)
                    .map_err(|e| anyhow::Error::new(e).context(shown(certificate)))?;
                render(cli, &imported, || imported.to_string())?
            }
            Self::Cert {
                action:
                    CertAction::Sign {
                        request,
                        output,
                        days,
                        force,
                    },
            } => {
                let text =
                    String::from_utf8(super::read_small(request, 64 * 1024)?).map_err(|_| {
                        Error::Ca(CaError::BadRequest("the file is not PEM text".to_owned()))
                    })?;
                // A request that cannot be signed is refused before the
                // password is asked.
                ca::request::check_request(&text)
                    .map_err(|e| anyhow::Error::new(e).context(shown(request)))?;
                let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
                let mut out = Output::create(&target, *force)?;
                let password = admin_password(cli, false)?;
                let signed = slow("signing", || {
                    ca::request::sign_request(store, &text, &password, *days)
                })?;
                out.write_all(signed.pem.as_bytes())
                    .map_err(|e| Error::Ui(UiError::Output(e)))?;
                out.finish()?;
                if output.is_none() {
                    String::new()
                } else {
                    render(cli, &signed, || {
                        format!("{signed}  written to {}\n", shown(&target))
                    })?
                }
            }
            Self::Crl {
                action: CrlAction::Refresh,
            } => {
                let password = admin_password(cli, false)?;
                let signed = slow("signing the CRL", || {
                    crl::publish(store, &password, "crl refresh")
                })?;
                render(cli, &signed, || signed.to_string())?
            }
            Self::Crl {
                action: CrlAction::Import { crl: path },
            } => {
                let text = String::from_utf8(super::read_small(path, 1 << 20)?).map_err(|_| {
                    Error::Ca(CaError::Refused("the file is not PEM text".to_owned()))
                })?;
                let imported = crl::imported::import(store, &text)
                    .map_err(|e| anyhow::Error::new(e).context(shown(path)))?;
                render(cli, &imported, || imported.to_string())?
            }
            Self::Crl {
                action: CrlAction::Verify,
            } => {
                let checked = crl::verify(store)?;
                render(cli, &checked, || {
                    format!(
                        "crl.pem: signature valid (the store's root), current, and in agreement with revoked_keys.json and key_store.json\n{checked}"
                    )
                })?
            }
        })
    }
}
/// What `ca` does.
#[derive(Subcommand, Debug)]
pub(crate) enum CaAction {
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
    /// Trust another CA's root (a class's root): its fingerprint is printed, to compare with the one its owner gives you
    Trust {
        /// The root certificate, PEM (the other store's ca_root.pem)
        root: PathBuf,
    },
    /// List the roots this store trusts: its own CA's and those `ca trust` added
    Trusted,
    /// Stop trusting a root added with `ca trust`
    Untrust {
        /// Its SHA-256 fingerprint, as `ca trusted` or `openssl x509 -fingerprint -sha256` prints it
        fingerprint: String,
    },
}

/// What `crl` does.
#[derive(Subcommand, Debug)]
pub(crate) enum CrlAction {
    /// Sign a new CRL from revoked_keys.json and the certificates rotations and destructions withdrew, valid 7 days (the administrator password: --password-file, or asked)
    Refresh,
    /// Check crl.pem: the CA's signature, its dates, and that it names exactly the certificates revoked_keys.json revokes and the store withdrew
    Verify,
    /// Import the CRL of a root this store trusts (the class CA's crl.pem): newer, current and genuine, it revokes here each of this store's certificates it lists
    Import {
        /// The CRL, PEM
        crl: PathBuf,
    },
}

/// What `cert` does.
#[derive(Subcommand, Debug)]
pub(crate) enum CertAction {
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
    /// Keep a certificate another store's CA signed for USER's primary RSA pair, once it chains to a root this store trusts (`ca trust`)
    Import {
        /// The user ID
        user: String,
        /// The certificate, PEM (`cert sign`, or `openssl x509 -req -CA`)
        certificate: PathBuf,
    },
    /// Revoke a certificate this store's CA signed for another store (`cert sign`), and sign a new CRL at once (the administrator password)
    Revoke {
        /// Its serial number, hex (as `cert sign` and `openssl x509 -serial` print it)
        serial: String,
        /// Why (RFC 5280)
        #[arg(long, value_enum, default_value_t = super::keys::Reason::Unspecified)]
        reason: super::keys::Reason,
    },
    /// Write a certificate request (PKCS#10) for USER's primary RSA pair, signed with its private key (USER's password), for another store's CA
    Request {
        /// The user ID
        user: String,
        /// Where to write it [default: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Sign a certificate request from another store with this store's CA (the administrator password)
    Sign {
        /// The request, PEM (`cert request`, or `openssl req -new`)
        request: PathBuf,
        /// Where to write the certificate [default: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// How many days it is valid (1 to 366; openssl x509 -req's default is 30 too)
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
}

/// Before keygen or rotate changes anything: with a CA in the store, the
/// administrator password from `file`, or asked on a terminal (an empty
/// answer skips), checked, so that a wrong one stops the command first.
pub(super) fn admin_for_new_pair(
    store: &Store,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Admin> {
    if ca::Ca::load(store.dir())?.is_none() {
        // An option that would do nothing is refused, not ignored.
        return match file {
            Some(_) => Err(Error::Ca(CaError::NoCa).into()),
            None => Ok(Admin::NoCa),
        };
    }
    let password = optional_password(
        file,
        "the administrator password to certify the new pair (empty to skip)",
    )?;
    Ok(slow("checking the administrator password", || {
        Admin::check(store, password)
    })?)
}

/// After keygen or rotate: what the CA did for the new pair, as `admin`
/// said (see [`ca_policy::after_new_pair`]), as lines to print.
pub(super) fn certify_new_pair(
    store: &Store,
    user: &UserId,
    owner: &Password,
    admin: &Admin,
    replaced: bool,
    command: &str,
) -> anyhow::Result<String> {
    let after = slow("certifying the new pair", || {
        ca_policy::after_new_pair(store, user, owner, admin, replaced, command)
    })?;
    let mut text = String::new();
    if let Some(issued) = &after.certificate {
        text.push_str(&format!(
            "certificate issued by the KMS CA: serial {}, valid {} to {}\n",
            issued.serial, issued.not_before, issued.not_after
        ));
    }
    if matches!(admin, Admin::Later) {
        let or_file = if std::io::stdin().is_terminal() {
            ""
        } else {
            " (or pass --admin-password-file)"
        };
        text.push_str(&format!(
            "no certificate issued: run `secure-kms cert issue {user}` to issue one{or_file}\n"
        ));
    }
    if let Some(crl) = &after.crl {
        text.push_str(&format!(
            "CRL number {} signed: the superseded pair's certificate is withdrawn\n",
            crl.number
        ));
    }
    if after.superseded_still_valid {
        text.push_str("note: the superseded pair's certificate stays valid until an administrator runs `secure-kms crl refresh`\n");
    }
    Ok(text)
}
