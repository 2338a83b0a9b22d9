//! The bottom layer: small things every other layer uses, none of them
//! cryptography: times, user IDs, key IDs (fingerprints), base64, PEM armor,
//! escaping for the terminal, zeroizing secrets, strict serde, and the
//! library's error type.

pub mod armor;
pub(crate) mod b64;
pub mod error;
pub mod escape;
pub mod fingerprint;
pub mod secret;
pub mod strict;
pub mod time;
pub mod user;
