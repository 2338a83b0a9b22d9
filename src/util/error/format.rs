//! The errors of the formats layer: [`FormatError`].

/// What can go wrong in the file formats (`crate::formats`): an encrypted
/// file that is not one, or was tampered with, and the data streamed
/// through it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A file given to `decrypt` or `rewrap` is not a secure-kms encrypted file.
    #[error("not a secure-kms encrypted file: {0}")]
    FileFormat(String),

    /// The key named in an encrypted file's header does not open its data key.
    #[error(
        "version {version} of the key of {user} does not open this file's data key: the file's header was edited, or it was encrypted with other keys of the same name"
    )]
    FileKey {
        /// The user named in the header.
        user: String,
        /// The key version named in the header.
        version: u32,
    },

    /// A chunk of an encrypted file fails authentication.
    #[error(
        "the encrypted file fails authentication at chunk {chunk}: it was modified, cut short, extended or reordered"
    )]
    FileTampered {
        /// The first chunk (from 0) that fails.
        chunk: u64,
    },

    /// The data to encrypt, decrypt, sign or verify cannot be read.
    #[error("cannot read the data")]
    ReadData(#[source] std::io::Error),

    /// The result cannot be written.
    #[error("cannot write the result")]
    WriteData(#[source] std::io::Error),
}
