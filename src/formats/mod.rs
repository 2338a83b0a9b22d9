//! Formats built on the four concepts: key agreement in two groups with a
//! transcript-bound session key, exchange keys in OpenSSL's file formats,
//! the encrypted file format (envelopes, STREAM chunks), and the state of
//! exchanges in progress as a user's record keeps it. No file I/O.

pub mod agreement;
pub mod dhkeys;
pub mod envelope;
pub mod exchange_state;
pub mod stream;
