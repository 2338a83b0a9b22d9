//! What only the command line can get wrong: the library never asks a
//! question or writes to a terminal, so these are the binary's alone (as
//! rage keeps its own `error.rs` beside the age library's).

/// An error of the command line itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// An irreversible step was not confirmed.
    #[error(
        "{0} cannot be undone and was not confirmed: answer yes at the question on a terminal, or pass --yes (standard input that is not a terminal is never taken as an answer)"
    )]
    NotConfirmed(String),

    /// Binary output was about to go to a terminal.
    #[error(
        "refusing to print binary output (an encrypted file or a signature) on the terminal: give an output file, or redirect standard output"
    )]
    BinaryToTerminal,
}
