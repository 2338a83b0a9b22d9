//! Keys in and out of the store, in OpenSSL's formats: export and import.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use secure_kms::crypto::kdf::DEFAULT_ITERATIONS;
use secure_kms::ops::files::Output;
use secure_kms::store::Store;
use secure_kms::symmetric::DEFAULT_EXPIRY_SECS;
use secure_kms::ui::output::{self};
use secure_kms::util::user::UserId;
use secure_kms::{Error, util::time};
use secure_kms::{OpsError, UiError};
use secure_kms::{ops::commands, ops::transfer};

use super::prompt::{password, second_password};
use super::{Cli, expiry_range, read_small, render, shown, slow};

#[derive(Subcommand, Debug)]
pub(crate) enum TransferCommand {
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
}

impl TransferCommand {
    /// Runs the command; the text to print.
    pub(super) fn run(&self, cli: &Cli, store: &Store) -> anyhow::Result<String> {
        Ok(match self {
            Self::Export {
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
                    out.write_all(pem.as_bytes())
                        .map_err(|e| Error::Ui(UiError::Output(e)))?;
                    out.finish()?;
                    if target.as_os_str() == "-" {
                        return Ok(String::new());
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
                    out.write_all(pem.as_bytes())
                        .map_err(|e| Error::Ui(UiError::Output(e)))?;
                    out.finish()?;
                    if target.as_os_str() == "-" {
                        return Ok(String::new());
                    }
                    export_note(cli, &user, version, &target, "private")?
                }
            }
            Self::Import {
                user,
                private,
                import_password_file,
                expiry,
            } => {
                let user = UserId::new(user)?;
                let pem = read_small(private, 1024 * 1024)?;
                let pem = String::from_utf8(pem).map_err(|_| {
                    Error::Ops(OpsError::ImportRefused(format!(
                        "{} is not a PEM text file",
                        private.display()
                    )))
                })?;
                let key_password =
                    second_password(import_password_file.as_deref(), "of the key file", false)?;
                let key = slow("reading the key", || {
                    transfer::read_encrypted_private_key(&pem, &key_password)
                })?;
                let new_user = commands::status(store, &user, time::now()).is_err();
                let password = password(cli, new_user)?;
                let made = slow("importing", || {
                    transfer::import_private(
                        store,
                        &user,
                        &password,
                        &key,
                        *expiry,
                        DEFAULT_ITERATIONS,
                    )
                })?;
                render(cli, &secure_kms::ui::reports::Made::from(&made), || {
                    output::new_version(&made)
                })?
            }
        })
    }
}
/// What `export` prints once the key is written to a file.
pub(super) fn export_note(
    cli: &Cli,
    user: &UserId,
    version: u32,
    target: &std::path::Path,
    which: &str,
) -> anyhow::Result<String> {
    let shape = secure_kms::ui::reports::Exported {
        user: user.clone(),
        version,
        key: which.to_owned(),
        output: target.display().to_string(),
    };
    render(cli, &shape, || {
        format!(
            "Exported the {which} key of {user}, version {version}, into {}\n",
            shown(target)
        )
    })
}
