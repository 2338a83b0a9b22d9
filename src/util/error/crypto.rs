//! The errors of the crypto layer and the concepts' use of it: [`CryptoError`].

/// What can go wrong in the cryptography (`crate::crypto` and the concepts'
/// use of it): passwords, keys, signatures and groups. Failures stay opaque
/// on purpose: a wrong password and a modified ciphertext give the same
/// [`CryptoError::Decryption`], so an attacker learns nothing from which
/// one it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An empty password was given.
    #[error("the password is empty: type at least one character")]
    EmptyPassword,

    /// A password is longer than the limit.
    #[error("the password is longer than {0} bytes: choose a shorter one")]
    PasswordTooLong(usize),

    /// A password holds a control character (a tab, an escape, ...).
    #[error(
        "the password holds a control character (such as a tab), which a terminal cannot type reliably: choose another"
    )]
    PasswordControlCharacter,

    /// A PBKDF2 iteration count outside the accepted range.
    #[error(
        "{0} PBKDF2 iterations is outside the accepted range 1000 to 10000000: use a count in it (600000 is the default)"
    )]
    InvalidIterations(u32),

    /// HKDF was asked for a length it cannot give: a PRK under 32 bytes, or
    /// more than 8160 bytes of output.
    #[error("HKDF-SHA256 cannot work with {0} bytes here (PRK at least 32, output at most 8160)")]
    KdfLength(usize),

    /// The password is wrong, or the wrapped key was modified: the two are
    /// deliberately indistinguishable.
    #[error("wrong password or corrupted key")]
    Decryption,

    /// A Diffie-Hellman public value failed validation.
    #[error("invalid Diffie-Hellman public key: {0}")]
    InvalidPublicKey(&'static str),

    /// The two sides of the demonstration exchange derived different keys,
    /// which only a bug can cause.
    #[error(
        "the two parties derived different keys: this is a bug in secure-kms, please report it"
    )]
    KeyAgreement,

    /// A signature did not verify.
    #[error("signature verification failed: the data was not signed by this key, or was modified")]
    BadSignature,

    /// A stored key could not be decoded after a successful decryption, or a
    /// public key PEM is malformed.
    #[error("malformed key: {0}")]
    MalformedKey(String),

    /// The RSA implementation failed (key generation, signing).
    #[error("RSA operation failed")]
    Rsa(#[from] rsa::Error),

    /// An RSA-PSS signature could not be made.
    #[error("RSA-PSS signing failed")]
    Sign(#[source] rsa::signature::Error),

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng(#[from] getrandom::Error),

    /// Diffie-Hellman parameters fail a check.
    #[error("unsafe Diffie-Hellman group: {0}")]
    InvalidGroup(String),

    /// A certificate or CRL could not be built or parsed.
    #[error("X.509: {0}")]
    Certificate(String),
}
