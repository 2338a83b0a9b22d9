//! Using the keys on files: encrypt, decrypt, rewrap, sign and verify.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Subcommand;
use secure_kms::ops::files::{self, Output};
use secure_kms::store::Store;
use secure_kms::ui::reports;
use secure_kms::util::user::UserId;
use secure_kms::{Error, FormatError, UiError};
use secure_kms::{formats::envelope, ops::signing};

use secure_kms::ui::explain::{self, Steps};

use super::prompt::{password, password_for_data};
use super::{Cli, open_input, read_small, render, shown, slow};

#[derive(Subcommand, Debug)]
pub(crate) enum FileCommand {
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
        /// Where to write the signature (- for standard output, not a terminal) [default: FILE.sig]
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
}

impl FileCommand {
    /// Whether `--explain` shows something for this command.
    pub(super) fn explains(&self) -> bool {
        !matches!(self, Self::Rewrap { .. })
    }

    /// Runs the command; the text to print.
    pub(super) fn run(&self, cli: &Cli, store: &Store) -> anyhow::Result<String> {
        Ok(match self {
            Self::Encrypt {
                user,
                input,
                output,
                force,
            } => {
                let user = UserId::new(user)?;
                if output.as_os_str() == "-" && std::io::stdout().is_terminal() {
                    return Err(super::error::CliError::BinaryToTerminal.into());
                }
                let mut reader = open_input(input)?;
                let mut out = Output::create(output, *force)?;
                let password = password_for_data(cli, input)?;
                let header = slow("encrypting", || {
                    files::encrypt_file(store, &user, &password, &mut reader, &mut out)
                })
                .map_err(|e| naming(e, input, Some(output)))?;
                out.finish()?;
                if cli.explain {
                    let mut steps = Steps::default();
                    explain::files::encrypted(&mut steps, &header, file_len(input));
                    super::explain(cli, output.as_os_str() == "-", &steps);
                }
                if output.as_os_str() == "-" {
                    return Ok(String::new());
                }
                file_result(
                    cli,
                    &user,
                    header.key_version,
                    output,
                    "Encrypted for {user} under key version {version} into {output}",
                )?
            }
            Self::Decrypt {
                user,
                input,
                output,
                force,
            } => {
                let user = UserId::new(user)?;
                let mut reader = open_input(input)?;
                let header =
                    envelope::read_header(&mut reader).map_err(|e| naming(e, input, None))?;
                // Refusals that need no password come first.
                files::check_decryptable(store, &user, &header)?;
                let mut out = Output::create(output, *force)?;
                let password = password_for_data(cli, input)?;
                slow("decrypting", || {
                    files::decrypt_file(store, &user, &password, &header, &mut reader, &mut out)
                })
                .map_err(|e| naming(e, input, Some(output)))?;
                out.finish()?;
                if cli.explain {
                    let mut steps = Steps::default();
                    explain::files::decrypted(&mut steps, &header, file_len(output));
                    super::explain(cli, output.as_os_str() == "-", &steps);
                }
                if output.as_os_str() == "-" {
                    return Ok(String::new());
                }
                file_result(
                    cli,
                    &user,
                    header.key_version,
                    output,
                    "Decrypted with key version {version} of {user} into {output}",
                )?
            }
            Self::Rewrap { user, files: paths } => {
                let user = UserId::new(user)?;
                let password = password(cli, false)?;
                let mut rewrapper = slow("checking the password", || {
                    files::Rewrapper::new(store, &user, password)
                })?;
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
                    done.push(reports::Rewrapped {
                        file: path.display().to_string(),
                        from_version: from,
                        to_version: rewrapper.newest_version(),
                        rewrapped,
                    });
                }
                render(cli, &done, String::new)?
            }
            Self::Sign {
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
                let to_stdout = sig_path.as_os_str() == "-";
                if to_stdout && std::io::stdout().is_terminal() {
                    return Err(super::error::CliError::BinaryToTerminal.into());
                }
                let mut reader = open_input(file)?;
                let mut out = Output::create(&sig_path, *force)?;
                let password = password_for_data(cli, file)?;
                let signature = slow("signing", || {
                    signing::sign_file(store, &user, &password, &mut reader)
                })
                .map_err(|e| naming(e, file, None))?;
                out.write_all(&signature.bytes)
                    .map_err(|e| Error::Ui(UiError::Output(e)))?;
                out.finish()?;
                if cli.explain {
                    let mut steps = Steps::default();
                    let (version, len) = (signature.version, signature.bytes.len());
                    explain::files::signed(
                        &mut steps,
                        user.as_str(),
                        version,
                        &signature.digest,
                        len,
                    );
                    super::explain(cli, to_stdout, &steps);
                }
                // The signature alone on standard output, as openssl dgst -out - writes it.
                if to_stdout {
                    return Ok(String::new());
                }
                let shape = reports::Signed {
                    user: user.clone(),
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
            Self::Verify {
                user,
                file,
                signature,
            } => {
                let user = UserId::new(user)?;
                let sig = read_small(signature, 64 * 1024)?;
                let mut reader = open_input(file)?;
                let verified = signing::verify_file(store, &user, &mut reader, &sig)
                    .map_err(|e| naming(e, file, None))?;
                if cli.explain {
                    let mut steps = Steps::default();
                    let (signer, digest) = (&verified.signer, &verified.digest);
                    explain::files::verified(&mut steps, user.as_str(), signer, digest, sig.len());
                    super::explain(cli, false, &steps);
                }
                let signer = verified.signer;
                let (version, state) = (signer.version, signer.state_text());
                let shape = reports::Verified {
                    user: user.clone(),
                    version,
                    state: signer.state,
                    why: signer.why.clone(),
                    verified: true,
                };
                render(cli, &shape, || {
                    format!(
                        "Verified OK: signed by {user} with key version {version}, now {state}\n"
                    )
                })?
            }
        })
    }
}
/// What `encrypt` and `decrypt` print once the output file is in place:
/// `{"user", "key_version", "output"}` with `--json`, else `sentence` with
/// `{user}`, `{version}` and `{output}` filled in.
pub(super) fn file_result(
    cli: &Cli,
    user: &UserId,
    version: u32,
    output: &std::path::Path,
    sentence: &str,
) -> anyhow::Result<String> {
    let shape = reports::FileWritten {
        user: user.clone(),
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
pub(super) fn naming(
    e: Error,
    input: &std::path::Path,
    output: Option<&std::path::Path>,
) -> anyhow::Error {
    let path = match (&e, output) {
        (Error::Format(FormatError::ReadData(_)), _) => Some(input),
        (Error::Format(FormatError::WriteData(_)), Some(out)) => Some(out),
        _ => None,
    };
    match path {
        Some(p) if p.as_os_str() == "-" => anyhow::Error::new(e),
        Some(p) => anyhow::Error::new(e).context(p.display().to_string()),
        None => anyhow::Error::new(e),
    }
}

/// Re-wraps one file in place (a whole new file renamed over it): its
/// version before, and whether it changed.
pub(super) fn rewrap_file(
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

/// The size of a regular file, for `--explain`; none for `-` or a pipe.
fn file_len(path: &std::path::Path) -> Option<u64> {
    if path.as_os_str() == "-" {
        return None;
    }
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
}
