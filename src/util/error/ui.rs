//! The errors of the ui layer and the session: [`UiError`].

/// What can go wrong in talking to a person (`crate::ui`, the session):
/// questions not answered, answers that cannot be read, output that cannot
/// be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// Input ended while a question was waiting for an answer.
    #[error("input ended at the question {question:?}; {state}")]
    EndOfInput {
        /// The question.
        question: String,
        /// What had been written by then.
        state: &'static str,
    },

    /// The session stopped at a question asked after the keys were stored
    /// or kept: they stay as they are, and nothing was revoked.
    #[error("the keys above are kept and nothing was revoked")]
    KeysKept(#[source] Box<super::Error>),

    /// An answer could not be read from standard input.
    #[error("cannot read the answer from standard input (answers are lines of UTF-8 text)")]
    Input(#[source] std::io::Error),

    /// Standard output could not be written.
    #[error("cannot write to standard output")]
    Output(#[source] std::io::Error),

    /// An answer is longer than any valid one.
    #[error("the answer to {question:?} is longer than {limit} bytes: check what is being sent")]
    AnswerTooLong {
        /// The question.
        question: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// The password and its confirmation differ.
    #[error(
        "the two passwords differ; nothing was written: run again and type the same password twice"
    )]
    PasswordMismatch,

    /// Ctrl-C was pressed while a question was waiting for an answer.
    #[error("interrupted at the question {question:?}; nothing more was written")]
    Interrupted {
        /// The question.
        question: String,
    },
}
