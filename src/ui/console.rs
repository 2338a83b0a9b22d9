//! Where the session talks: a [`Console`] trait, so that tests can script
//! the session, and [`TerminalConsole`], the process's terminal or pipes.
//!
//! Answers are read a line at a time with a length limit, so that a hostile
//! or mistaken input cannot grow memory without bound, and a password line
//! is read into a buffer reserved up front, so that no unzeroized copy of it
//! is left behind by reallocation.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use crate::util::escape::printable;
use crate::{CryptoError, Error, Result, UiError, UtilError};

/// The longest answer accepted, in bytes (a user ID is at most 64).
pub const MAX_ANSWER_BYTES: usize = 4096;

use crate::crypto::kdf::MAX_PASSWORD_BYTES;

/// Where the session reads answers and prints lines.
pub trait Console {
    /// Prints one line.
    ///
    /// # Errors
    /// [`UiError::Output`] if the output fails.
    fn say(&mut self, line: &str) -> Result<()>;

    /// Asks a question; the answer without its line ending, or `None` when
    /// input has ended.
    ///
    /// # Errors
    /// [`UiError::Input`] or [`UiError::Output`] if reading or writing fails;
    /// [`UiError::AnswerTooLong`] for an answer over [`MAX_ANSWER_BYTES`].
    fn ask(&mut self, prompt: &str) -> Result<Option<String>>;

    /// Asks for a password, which must not be echoed.
    ///
    /// # Errors
    /// [`UiError::Input`] or [`UiError::Output`] if reading or writing fails.
    fn ask_password(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>>;

    /// Prints the lines `write` writes, which end with a new line: a block
    /// that can be tens of megabytes (a whole store file). By default they
    /// are collected and passed to [`Console::say`]; a console on a stream
    /// writes them straight out.
    ///
    /// # Errors
    /// [`UiError::Output`] if the output fails; an error of ours that
    /// `write` passes through the writer, as it is.
    fn say_written(&mut self, write: &dyn Fn(&mut dyn Write) -> io::Result<()>) -> Result<()> {
        let mut text = Vec::new();
        write(&mut text).map_err(|e| Error::from_writer(e, |e| Error::Ui(UiError::Output(e))))?;
        self.say(String::from_utf8_lossy(&text).trim_end())
    }

    /// Whether a person is typing (a terminal) rather than a script piping
    /// answers. The session asks a new password twice only then.
    fn is_interactive(&self) -> bool {
        false
    }
}

/// The process's standard input and output.
///
/// On a terminal, the password is read from the terminal with echo off. When
/// standard input is not a terminal (a pipe in a test or a classroom script),
/// each answer is the next line of input, and the answers that a terminal
/// would have echoed are printed after their prompt, so that the output reads
/// the same either way; a password is never printed.
pub struct TerminalConsole {
    interactive: bool,
    /// Subcommand mode: prompts on standard error and answers never echoed,
    /// so that standard output holds only the command's result.
    quiet: bool,
    stdin: io::StdinLock<'static>,
    stdout: io::Stdout,
}

impl TerminalConsole {
    /// A console on this process's standard input and output.
    pub fn new() -> Self {
        let stdin = io::stdin();
        TerminalConsole {
            interactive: stdin.is_terminal(),
            quiet: false,
            stdin: stdin.lock(),
            stdout: io::stdout(),
        }
    }

    /// A console for the subcommands: prompts go to standard error (on a
    /// terminal only) and nothing is echoed, so that standard output holds
    /// only the result, which a script may parse.
    pub fn for_commands() -> Self {
        TerminalConsole {
            quiet: true,
            ..Self::new()
        }
    }

    fn prompt(&mut self, prompt: &str) -> Result<()> {
        if self.quiet {
            if self.interactive {
                let mut err = io::stderr().lock();
                err.write_all(prompt.as_bytes())
                    .and_then(|()| err.flush())
                    .map_err(|e| Error::Ui(UiError::Output(e)))?;
            }
            return Ok(());
        }
        let mut out = self.stdout.lock();
        out.write_all(prompt.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::Ui(UiError::Output(e)))
    }

    /// Ends the prompt's line, where the terminal did not.
    fn end_line(&mut self) -> Result<()> {
        if self.quiet {
            if self.interactive {
                eprintln!();
            }
            Ok(())
        } else {
            self.say("")
        }
    }

    /// Reads one line of at most `limit` bytes into `buf`, without its line
    /// ending; false at end of input.
    fn read_line(&mut self, prompt: &str, buf: &mut String, limit: usize) -> Result<bool> {
        // One byte more than the limit tells a line that is exactly `limit`
        // bytes long (with its newline) from one that is longer.
        let n = (&mut self.stdin)
            .take(limit as u64 + 1)
            .read_line(buf)
            .map_err(|e| Error::Ui(UiError::Input(e)))?;
        if n > limit && !buf.ends_with('\n') {
            return Err(Error::Ui(UiError::AnswerTooLong {
                question: prompt.trim_end().to_string(),
                limit,
            }));
        }
        while buf.ends_with('\n') || buf.ends_with('\r') {
            buf.pop();
        }
        Ok(n > 0)
    }
}

impl Default for TerminalConsole {
    fn default() -> Self {
        Self::new()
    }
}

impl Console for TerminalConsole {
    fn say(&mut self, line: &str) -> Result<()> {
        writeln!(self.stdout.lock(), "{line}").map_err(|e| Error::Ui(UiError::Output(e)))
    }

    fn say_written(&mut self, write: &dyn Fn(&mut dyn Write) -> io::Result<()>) -> Result<()> {
        let mut out = io::BufWriter::with_capacity(256 << 10, self.stdout.lock());
        write(&mut out)
            .and_then(|()| out.flush())
            .map_err(|e| Error::from_writer(e, |e| Error::Ui(UiError::Output(e))))
    }

    fn ask(&mut self, prompt: &str) -> Result<Option<String>> {
        self.prompt(prompt)?;
        let mut answer = String::new();
        if !self.read_line(prompt, &mut answer, MAX_ANSWER_BYTES)? {
            self.end_line()?;
            return Ok(None);
        }
        if !self.interactive && !self.quiet {
            self.say(&printable(&answer))?;
        }
        Ok(Some(answer))
    }

    fn ask_password(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>> {
        self.prompt(prompt)?;
        if self.interactive {
            // rpassword turns echo off and puts the terminal back when done,
            // also on Ctrl-C, provided the process survives the SIGINT it
            // raises: see password_prompt_owns_ctrl_c().
            PASSWORD_PROMPT_OWNS_CTRL_C.store(true, Ordering::SeqCst);
            let read = rpassword::read_password();
            // rpassword raised SIGINT itself on Ctrl-C; the handler may run
            // only now, so keep the flag up in that case.
            let interrupted = matches!(&read, Err(e) if e.kind() == io::ErrorKind::Interrupted);
            PASSWORD_PROMPT_OWNS_CTRL_C.store(interrupted, Ordering::SeqCst);
            return match read {
                Ok(pw) => Ok(Some(Zeroizing::new(pw))),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    // Ctrl-D: rpassword printed no newline.
                    self.end_line()?;
                    Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    Err(Error::Ui(UiError::Interrupted {
                        question: prompt.trim_end().to_string(),
                    }))
                }
                Err(e) => Err(Error::Ui(UiError::Input(e))),
            };
        }
        // Reserve room up front so that the password is never moved by a
        // reallocation, which would leave an unzeroized copy behind.
        let mut pw = Zeroizing::new(String::with_capacity(MAX_PASSWORD_BYTES + 2));
        let got = self.read_line(prompt, &mut pw, MAX_PASSWORD_BYTES)?;
        if !self.quiet {
            self.say("")?;
        }
        Ok(got.then_some(pw))
    }

    fn is_interactive(&self) -> bool {
        self.interactive
    }
}

/// Reads a password from the first line of `path`, as `--password-file`
/// does for scripts (the line ending is not part of it).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("pw");
/// std::fs::write(&path, "mysecurepassword\n")?;
/// let pw = secure_kms::ui::console::read_password_file(&path)?;
/// assert!(pw.ct_eq(&secure_kms::crypto::kdf::Password::new("mysecurepassword".to_owned())?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`UtilError::Io`] if the file cannot be read; [`CryptoError::EmptyPassword`] and
/// the other [`crate::crypto::kdf::Password::new`] refusals; [`UiError::Input`] if the
/// line is not UTF-8.
pub fn read_password_file(path: &std::path::Path) -> Result<crate::crypto::kdf::Password> {
    let io = |source| {
        Error::Util(UtilError::Io {
            action: "read the password file",
            path: path.to_owned(),
            source,
        })
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut line = Zeroizing::new(String::with_capacity(MAX_PASSWORD_BYTES + 2));
    let n = io::BufReader::new(file)
        .take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_line(&mut line)
        .map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => Error::Util(UtilError::Io {
                action: "read the password file (its first line must be UTF-8 text)",
                path: path.to_owned(),
                source: e,
            }),
            _ => io(e),
        })?;
    if n > MAX_PASSWORD_BYTES + 1 && !line.ends_with('\n') {
        return Err(Error::Crypto(CryptoError::PasswordTooLong(
            MAX_PASSWORD_BYTES,
        )));
    }
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    crate::crypto::kdf::Password::new(line)
}

/// True while a password is read from the terminal with echo off, and for
/// good once such a read was interrupted by Ctrl-C.
static PASSWORD_PROMPT_OWNS_CTRL_C: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C is the password prompt's to handle: true while a password
/// is read from the terminal, and after that read was interrupted. A Ctrl-C
/// handler should then do nothing: the reader puts the terminal back (echo
/// on) and reports the interruption as [`UiError::Interrupted`], which the
/// caller turns into the exit.
pub fn password_prompt_owns_ctrl_c() -> bool {
    PASSWORD_PROMPT_OWNS_CTRL_C.load(Ordering::SeqCst)
}
