//! Attacks on the store folder, one regression test per case: whoever can
//! write the folder (a classmate's zip, a downloaded folder) must not be
//! able to turn the tool against the user who runs it. docs/RELIABILITY.md's
//! threat model says what such an attacker can and cannot do.
//!
//! One module per class of attack.

mod escapes;
mod planted_files;
mod process;
mod public_keys;
mod removed_records;
