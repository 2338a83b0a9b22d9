//! What a command does, on a store: the key lifecycle (`commands`), the
//! CA's part after a change (`ca_policy`), using the keys on files
//! (`files`, `signing`), export and import (`transfer`), and the key
//! exchange in one process (`handshake`) and between two (`protocol`).
//! Nothing here reads a password: the caller passes it.

pub mod ca_policy;
pub mod commands;
pub mod files;
pub mod handshake;
pub mod protocol;
pub mod signing;
pub mod transfer;
