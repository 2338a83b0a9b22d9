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
//! Around them: [`kdf`] turns a password into wrapping keys (PBKDF2, HKDF),
//! [`wrap`] seals key material with AES-256-GCM, [`store`] keeps
//! `key_store.json` and `revoked_keys.json` safe on disk (and [`migrate`]
//! reads its first format), [`user`] checks user IDs, and [`session`] is the
//! interactive run that `cargo run` starts.
//!
//! A key's life: [`keyring`] holds each user's key versions and derives their
//! NIST SP 800-57 states, [`audit`] keeps the hash-chained `audit.log`,
//! [`commands`] are the subcommands (`keygen`, `rotate`, `revoke`, `destroy`,
//! `status`, ...), and [`output`] prints their results.
//!
//! Using the keys: [`envelope`] is the encrypted file format (a data key
//! per file, STREAM chunks), [`files`] encrypts, decrypts and re-wraps files
//! under the state rules, [`signing`] signs and verifies files with RSA-PSS,
//! and [`transfer`] exports and imports keys in OpenSSL's formats.
//! [`agreement`] adds X25519 and transcript-bound session keys to the
//! exchange, [`handshake`] runs an authenticated exchange between two
//! users in one process, [`protocol`] between two processes, and
//! [`dhkeys`] writes and reads exchange keys in OpenSSL's formats.
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
pub mod audit;
pub mod ca;
pub mod commands;
pub mod console;
pub mod crl;
pub mod dhkeys;
pub mod envelope;
pub mod error;
pub mod escape;
pub mod exchange;
pub mod exchange_state;
pub mod files;
pub mod fingerprint;
pub mod handshake;
mod journal;
pub mod kdf;
pub mod keyring;
pub mod migrate;
pub mod output;
pub mod pki;
pub mod protocol;
pub mod revocation;
pub mod safe_file;
pub mod secret;
pub mod session;
pub mod signing;
pub mod store;
pub mod strict;
pub mod symmetric;
pub mod time;
pub mod transfer;
pub mod trust;
pub mod unlock;
pub mod user;
pub mod wrap;
pub mod x509;

mod b64;

pub use error::{Error, Result};
