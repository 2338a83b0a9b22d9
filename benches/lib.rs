//! secure-kms's criterion micro-benchmarks live in `primitives.rs` and
//! `store.rs` beside this file; this package has no code of its own.
