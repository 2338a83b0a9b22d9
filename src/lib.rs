//! secure-kms: a teaching Key Management System.
//!
//! The crate ports a classroom script that shows four KMS concepts, each in a
//! module of its own:
//!
//! | concept | module | the original's functions |
//! |---|---|---|
//! | centralized distribution of expiring AES-256 keys | [`symmetric`] | `generate_symmetric_key`, `store_symmetric_key`, `is_key_expired` |
//! | a PKI of RSA-2048 keys, private keys under a password | [`pki`] | `generate_asymmetric_keys`, `encrypt_private_key`, `decrypt_private_key`, `store_asymmetric_keys`, `sign_public_key`, `verify_signature` |
//! | Diffie-Hellman key exchange with HKDF | [`exchange`] | `generate_dh_parameters`, `generate_dh_private_key`, `compute_shared_secret`, `derive_key_from_secret` |
//! | a revocation list of compromised keys | [`revocation`] | `revoke_key`, `is_key_revoked` |
//!
//! The modules stand in layers, one folder or file each, lowest first;
//! each imports only the layers below it (ARCHITECTURE.md has the map;
//! `tests/it/layers.rs` enforces it):
//!
//! | layer | module | what it holds |
//! |---|---|---|
//! | util | [`util`] | timestamps, user IDs, key IDs, escaping for the terminal, zeroized secrets, strict serde, PEM armor, the error type |
//! | crypto | [`crypto`] | PBKDF2 and HKDF, AES-256-GCM key wrapping, Diffie-Hellman groups, public keys as PEM, certificate parsing |
//! | concepts | [`symmetric`], [`pki`], [`exchange`], [`revocation`] | the original's four concepts |
//! | formats | [`formats`] | X25519 and the transcript-bound session key, DH keys in OpenSSL's formats, the encrypted file format, exchanges in progress |
//! | keys | [`keys`] | each user's record of key versions, all users' records, their NIST SP 800-57 states, opening them with the password |
//! | store | [`store`] | the files on disk: atomic, locked, journalled, checked against the hash-chained `audit.log` |
//! | ca | [`ca`] | the store's certificate authority, its certificates and its signed CRL |
//! | ops | [`ops`] | the subcommands' work: the key lifecycle, the CA's part after a change, files, signatures, export and import, the exchanges |
//! | ui | [`ui`] | prompts, tables and plain lines, the JSON results |
//! | session | [`session`] | the interactive run that `cargo run` starts |
//!
//! ```
//! use secure_kms::{symmetric, util::user::UserId};
//!
//! let key = symmetric::generate_symmetric_key()?;
//! let user = UserId::new("alice")?;
//! assert_eq!(key.fingerprint().len(), 64);
//! # let _ = user;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod ca;
pub mod crypto;
pub mod exchange;
pub mod formats;
pub mod keys;
pub mod ops;
pub mod pki;
pub mod revocation;
pub mod session;
pub mod store;
pub mod symmetric;
pub mod ui;
pub mod util;

pub use util::error::{
    CaError, CryptoError, Error, FormatError, KeyError, OpsError, Result, StoreError, UiError,
    UtilError,
};
