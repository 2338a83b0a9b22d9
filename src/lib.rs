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
//! The modules stand in layers, each importing only the layers below it
//! (ARCHITECTURE.md has the map; `tests/it/layers.rs` enforces it and
//! lists the imports that still go up):
//!
//! | layer | modules | what it holds |
//! |---|---|---|
//! | util | [`time`], [`user`], [`fingerprint`], [`escape`], [`secret`], [`strict`], [`armor`], [`error`] | timestamps, user IDs, key IDs, escaping for the terminal, zeroized secrets, strict serde, PEM armor, the error type |
//! | crypto | [`kdf`], [`wrap`], [`dh`], [`spki`], [`x509`] | PBKDF2 and HKDF, AES-256-GCM key wrapping, Diffie-Hellman groups, public keys as PEM, certificate parsing |
//! | concepts | [`symmetric`], [`pki`], [`exchange`], [`revocation`] | the original's four concepts |
//! | formats | [`agreement`], [`dhkeys`], [`envelope`], [`exchange_state`] | X25519 and the transcript-bound session key, DH keys in OpenSSL's formats, the encrypted file format, exchanges in progress |
//! | keys | [`keys`] (with [`keys::keyring`], [`keys::unlock`]) | each user's record of key versions, all users' records, their NIST SP 800-57 states, opening them with the password |
//! | store | [`store`] (with [`store::audit`], [`store::trust`], [`store::safe_file`]) | the files on disk: atomic, locked, journalled, checked against the hash-chained `audit.log` |
//! | ca | [`ca`] (with [`ca::crl`]) | the store's certificate authority, its certificates and its signed CRL |
//! | ops | [`commands`], [`files`], [`signing`], [`transfer`], [`handshake`], [`protocol`] | the subcommands' work: the key lifecycle, files, signatures, export and import, the exchanges |
//! | ui | [`console`], [`output`] | prompts, tables and plain lines |
//! | session | [`session`] | the interactive run that `cargo run` starts |
//!
//! ```
//! use secure_kms::{symmetric, user::UserId};
//!
//! let key = symmetric::generate_symmetric_key()?;
//! let user = UserId::new("alice")?;
//! assert_eq!(key.fingerprint().len(), 64);
//! # let _ = user;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agreement;
pub mod armor;
pub mod ca;
pub mod ca_policy;
pub mod commands;
pub mod console;
pub mod dh;
pub mod dhkeys;
pub mod envelope;
pub mod error;
pub mod escape;
pub mod exchange;
pub mod exchange_state;
pub mod files;
pub mod fingerprint;
pub mod handshake;
pub mod kdf;
pub mod keys;
pub mod output;
pub mod pki;
pub mod protocol;
pub mod reports;
pub mod revocation;
pub mod secret;
pub mod session;
pub mod signing;
pub mod spki;
pub mod store;
pub mod strict;
pub mod symmetric;
pub mod time;
pub mod transfer;
pub mod user;
pub mod wrap;
pub mod x509;

mod b64;

pub use error::{Error, Result};
