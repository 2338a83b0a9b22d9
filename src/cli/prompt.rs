//! Every password and question the subcommands ask.

use std::io::IsTerminal;
use std::path::Path;

use secure_kms::crypto::kdf::Password;
use secure_kms::ui::console::{Console, TerminalConsole, read_password_file};
use secure_kms::util::user::UserId;
use secure_kms::{Error, UiError};

use super::Cli;
use super::error::CliError;

/// Whether a password may be the next line of a piped standard input.
pub(super) enum Piped {
    /// Yes: a script pipes the user's password, as the session's answers.
    Allowed,
    /// No (standard input is taken, or a pipe is no place for it): why, and
    /// what to do instead.
    Refused(String),
}

/// The one way a subcommand gets a password: the first line of `file` if
/// one is given; else asked as "Enter `what`: " without echo on a
/// terminal (and confirmed there when `new`), or read as the next line of
/// a piped standard input when `piped` allows it.
pub(super) fn get_password(
    file: Option<&Path>,
    what: &str,
    new: bool,
    piped: Piped,
) -> anyhow::Result<Password> {
    let asked = ask(file, what, new, piped, false)?;
    Ok(asked.expect("only an optional password is skipped"))
}

/// A password that may be left out: the first line of `file` if one is
/// given; else asked on a terminal, where an empty answer or the end of
/// input (Ctrl-D) skips it; and without a terminal, none.
pub(super) fn optional_password(
    file: Option<&Path>,
    what: &str,
) -> anyhow::Result<Option<Password>> {
    if file.is_none() && !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    ask(file, what, false, Piped::Allowed, true)
}

/// [`get_password`], with an empty answer on a terminal taken as `None`
/// when `optional`.
fn ask(
    file: Option<&Path>,
    what: &str,
    new: bool,
    piped: Piped,
    optional: bool,
) -> anyhow::Result<Option<Password>> {
    if let Some(path) = file {
        return Ok(Some(read_password_file(path)?));
    }
    if let Piped::Refused(why) = piped
        && !std::io::stdin().is_terminal()
    {
        anyhow::bail!(why);
    }
    let mut console = TerminalConsole::for_commands();
    let mut ask = |prompt: String| -> anyhow::Result<Option<Password>> {
        match console.ask_password(&prompt)? {
            Some(pw) if optional && pw.is_empty() => Ok(None),
            Some(pw) => Ok(Some(Password::new(pw)?)),
            None if optional => Ok(None),
            None => Err(Error::Ui(UiError::EndOfInput {
                question: prompt.trim_end().to_owned(),
                state: "nothing was written",
            })
            .into()),
        }
    };
    let Some(password) = ask(format!("Enter {what}: "))? else {
        return Ok(None);
    };
    if new && std::io::stdin().is_terminal() {
        let again = ask(format!("Confirm {what}: "))?;
        if !again.is_some_and(|again| password.ct_eq(&again)) {
            return Err(Error::Ui(UiError::PasswordMismatch).into());
        }
    }
    Ok(Some(password))
}

/// The user's password: from `--password-file`, else asked (twice on a
/// terminal when `new`), else a line of standard input.
pub(super) fn password(cli: &Cli, new: bool) -> anyhow::Result<Password> {
    get_password(
        cli.password_file.as_deref(),
        "the password",
        new,
        Piped::Allowed,
    )
}

/// The password, when the data may come from standard input: then a
/// password cannot also be a line of it.
pub(super) fn password_for_data(cli: &Cli, input: &Path) -> anyhow::Result<Password> {
    let piped = if input.as_os_str() == "-" {
        Piped::Refused(
            "the data comes from standard input, so the password cannot: give it with --password-file"
                .to_owned(),
        )
    } else {
        Piped::Allowed
    };
    get_password(cli.password_file.as_deref(), "the password", false, piped)
}

/// A second password (for an exported or imported key file): from `file`,
/// else asked on the terminal (twice when `new`).
pub(super) fn second_password(
    file: Option<&Path>,
    what: &str,
    new: bool,
) -> anyhow::Result<Password> {
    let refused = format!(
        "the password {what} cannot be read from standard input alongside the user's: give it with a file (see --help)"
    );
    get_password(
        file,
        &format!("the password {what}"),
        new,
        Piped::Refused(refused),
    )
}

/// The administrator password (of the CA key): from `--password-file`,
/// else asked on the terminal (twice when `new`).
pub(super) fn admin_password(cli: &Cli, new: bool) -> anyhow::Result<Password> {
    let refused = "the administrator password is read from a file or a terminal, not a pipe: give it with --password-file";
    get_password(
        cli.password_file.as_deref(),
        "the administrator password",
        new,
        Piped::Refused(refused.to_owned()),
    )
}

/// The password of `user` (an exchange's peer, a certificate's owner):
/// from `file`, else asked by name, else a line of standard input.
pub(super) fn named_password(user: &UserId, file: Option<&Path>) -> anyhow::Result<Password> {
    get_password(
        file,
        &format!("the password of {user}"),
        false,
        Piped::Allowed,
    )
}

/// Asks yes/no on the terminal; without one, refuses (scripts pass --yes).
pub(super) fn confirm(question: &str) -> anyhow::Result<()> {
    let what = "destroying a key version".to_owned();
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NotConfirmed(what).into());
    }
    let mut console = TerminalConsole::for_commands();
    loop {
        match console
            .ask(question)?
            .map(|a| a.trim().to_ascii_lowercase())
        {
            Some(a) if a == "yes" || a == "y" => return Ok(()),
            Some(a) if a == "no" || a == "n" => return Err(CliError::NotConfirmed(what).into()),
            Some(_) => eprintln!("Please answer yes or no."),
            None => return Err(CliError::NotConfirmed(what).into()),
        }
    }
}
