//! The errors of the certificate authority: [`CaError`].

use std::path::PathBuf;

/// What can go wrong in the certificate authority (`crate::ca`): its files
/// and its CRL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// `ca init` on a store that has a certificate authority.
    #[error(
        "{} exists: this store has a certificate authority already (a second would orphan every certificate the first issued; move the CA files aside to start over)",
        .0.display()
    )]
    CaExists(PathBuf),

    /// The certificate authority's files are missing one another, or do
    /// not belong together.
    #[error("the certificate authority's files are broken: {0}")]
    CaBroken(String),

    /// A command needs the store's certificate authority, and it has none.
    #[error("this store has no certificate authority: make one with `secure-kms ca init`")]
    NoCa,

    /// The user's primary RSA pair has no certificate.
    #[error(
        "the primary RSA pair of {0} has no certificate: issue one with `secure-kms cert issue {0}`"
    )]
    NoCertificate(String),

    /// A key size that this command does not make.
    #[error("{0}-bit keys are not made here: use 2048 or 3072")]
    InvalidKeySize(usize),

    /// The store's CA has not signed a CRL yet.
    #[error(
        "the store's CA has no CRL yet: an administrator can sign one with `secure-kms crl refresh`"
    )]
    NoCrl,

    /// `crl.pem` does not parse, or is not the store's CA's.
    #[error(
        "crl.pem is refused: {0} (keep it as evidence and move it aside; an administrator can then sign a new one with `secure-kms crl refresh`)"
    )]
    CrlBroken(String),

    /// The CRL's nextUpdate has passed.
    #[error(
        "the CRL expired at {0} (its nextUpdate): an administrator must sign a new one with `secure-kms crl refresh`"
    )]
    CrlExpired(String),

    /// `crl.pem` is gone, but the audit log records the CA signing one.
    #[error(
        "crl.pem is missing, but audit.log line {line} records that the CA signed CRL number {number} at {at}: it was deleted, and no revocation can be checked against it; an administrator must sign a new one with `secure-kms crl refresh`"
    )]
    CrlDeleted {
        /// The newest cRLNumber the log records.
        number: u64,
        /// The log line that records it.
        line: u64,
        /// When it was signed, RFC 3339.
        at: String,
    },

    /// The CRL and `revoked_keys.json` name different certificates.
    #[error("the CRL and revoked_keys.json disagree: {0}")]
    CrlDisagrees(String),

    /// A certificate is refused: its chain, dates, name or purpose, with
    /// the reason in rustls's words.
    #[error("the certificate is refused ({reason}): {detail}")]
    CertificateRefused {
        /// `UnknownIssuer`, `Expired`, `NotValidYet`, `NotValidForName` or
        /// `InvalidPurpose`.
        reason: String,
        /// What exactly is wrong.
        detail: String,
    },

    /// A CRL given to `crl import` is refused: its issuer, signature or
    /// dates, with the reason in rustls's words.
    #[error("the CRL is refused ({reason}): {detail}")]
    CrlRefused {
        /// `UnknownIssuer`, `BadSignature` or `Expired`.
        reason: String,
        /// What exactly is wrong.
        detail: String,
    },

    /// A certificate request given to `cert sign` cannot be signed.
    #[error("this certificate request cannot be signed: {0}")]
    BadRequest(String),

    /// A certificate given to `ca trust` cannot anchor trust.
    #[error(
        "this certificate cannot be a trust anchor: {0} (`ca trust` takes another CA's root, such as the ca_root.pem of the store that will issue your certificate)"
    )]
    NotARoot(String),

    /// `ca trust` or `ca untrust` cannot do what was asked.
    #[error("trust anchors: {0}")]
    Trust(String),

    /// `trusted_roots.pem` holds a root that the audit log does not record
    /// as trusted: someone who can write the folder put it there.
    #[error(
        "trusted_roots.pem holds a root that audit.log does not record as trusted, {0}: it was put there by hand, and nothing it signed is believed; move trusted_roots.pem aside and trust the roots you mean with `secure-kms ca trust`"
    )]
    PlantedAnchor(String),

    /// The CA refuses to certify a pair: it is certified already, or its
    /// active period is over. (Worded as the X.509 errors are.)
    #[error("X.509: {0}")]
    Refused(String),
}
