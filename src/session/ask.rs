//! The session's questions: the prompts, as the original worded them, and
//! how an answer that cannot be taken is handled (asked again on a
//! terminal, up to [`TRIES`] times; an error at once for piped input).

use crate::crypto::kdf::Password;
use crate::keys::KeyStore;
use crate::ui::console::Console;
use crate::util::user::UserId;
use crate::{CryptoError, Error, Result, UiError, UtilError};

pub(super) const USER_PROMPT: &str = "Enter the user ID: ";
pub(super) const PASSWORD_PROMPT: &str = "Enter the password: ";
pub(super) const CONFIRM_PROMPT: &str = "Confirm the password: ";
pub(super) const REPLACE_PROMPT: &str = "Replace them with new keys? (yes/no): ";
pub(super) const REVOKE_PROMPT: &str = "Do you want to revoke keys? (yes/no): ";
pub(super) const NOTHING_WRITTEN: &str = "nothing was written";
/// How many times a person at a terminal may give an answer that cannot be
/// taken (an invalid user ID, a confirmation that differs, the password of
/// a user ID that is someone else's) before the session stops. Piped
/// answers get one try, so that scripts keep the original's lines.
pub(super) const TRIES: u32 = 3;
pub(super) const KEYS_KEPT: &str = "the keys above are kept and nothing was revoked";

/// What a person at a terminal reads when a known user ID's password fails.
pub(super) fn id_taken(id: &UserId, keys: &KeyStore, tries: &Tries) -> String {
    // Suggest an ID that is free now: alice-2, alice-3, ...
    let free = (2..100)
        .filter_map(|n| UserId::new(&format!("{id}-{n}")).ok())
        .find(|candidate| keys.get(candidate).is_ok_and(|r| r.is_none()));
    let example = free.map_or_else(String::new, |f| format!(" ({f} is free)"));
    format!(
        "That password does not unlock {id}: the user ID {id} is taken. If it is yours, \
         enter it again with its password; if not, choose another user ID{example}. {}",
        tries.label()
    )
}

/// The tries a person at a terminal has used: one budget of [`TRIES`] for
/// every kind of mistake, so that the session stops after the third,
/// whatever they were.
#[derive(Debug)]
pub(super) struct Tries(u32);

impl Tries {
    pub(super) fn new() -> Self {
        Tries(1)
    }

    /// Whether another try is allowed after a mistake: on a terminal, while
    /// the budget lasts. Piped answers get no second try.
    pub(super) fn another(&mut self, console: &dyn Console) -> bool {
        if console.is_interactive() && self.0 < TRIES {
            self.0 += 1;
            true
        } else {
            false
        }
    }

    /// "(try 2 of 3)", after [`Tries::another`].
    pub(super) fn label(&self) -> String {
        format!("(try {} of {TRIES})", self.0)
    }
}

/// Runs `ask` until it gives an answer that can be taken: on a terminal, an
/// invalid user ID, an empty or over-long password or a confirmation that
/// differs is said and asked again while `tries` last; the last error (and
/// any other error, such as the end of input) stops the session.
pub(super) fn retry<T>(
    console: &mut dyn Console,
    tries: &mut Tries,
    mut ask: impl FnMut(&mut dyn Console) -> Result<T>,
) -> Result<T> {
    loop {
        match ask(console) {
            Err(
                e @ (Error::Util(UtilError::InvalidUserId(_))
                | Error::Crypto(
                    CryptoError::EmptyPassword
                    | CryptoError::PasswordTooLong(_)
                    | CryptoError::PasswordControlCharacter,
                )
                | Error::Ui(UiError::PasswordMismatch)),
            ) if tries.another(console) => {
                let hint = match e {
                    Error::Ui(UiError::PasswordMismatch) => {
                        "the two passwords differ; type the same password twice".to_owned()
                    }
                    other => other.to_string(),
                };
                console.say(&format!("{hint} {}", tries.label()))?;
            }
            result => return result,
        }
    }
}

pub(super) fn end_of_input(question: &str, state: &'static str) -> Error {
    Error::Ui(UiError::EndOfInput {
        question: question.trim_end().to_string(),
        state,
    })
}

pub(super) fn ask_password(console: &mut dyn Console, prompt: &str) -> Result<Password> {
    match console.ask_password(prompt)? {
        Some(pw) => Password::new(pw),
        None => Err(end_of_input(prompt, NOTHING_WRITTEN)),
    }
}

pub(super) fn ask_required(
    console: &mut dyn Console,
    prompt: &str,
    state: &'static str,
) -> Result<String> {
    console
        .ask(prompt)?
        .ok_or_else(|| end_of_input(prompt, state))
}

/// Asks until the answer is yes, y, no or n, in any case.
pub(super) fn ask_yes_no(
    console: &mut dyn Console,
    prompt: &str,
    state: &'static str,
) -> Result<bool> {
    loop {
        let answer = ask_required(console, prompt, state)?;
        match answer.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" => return Ok(true),
            "no" | "n" => return Ok(false),
            _ => console.say("Please answer yes or no.")?,
        }
    }
}
