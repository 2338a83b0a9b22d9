//! Cryptographic building blocks, below the four concepts: passwords to keys
//! (PBKDF2, HKDF), AES-256-GCM wrapping with bound associated data, the
//! Diffie-Hellman groups and their constant-time arithmetic, public keys as
//! SubjectPublicKeyInfo, and X.509 helpers. Functions of their inputs: no
//! file, no store.

pub mod dh;
pub mod kdf;
pub mod spki;
pub mod wrap;
pub mod x509;
