//! secure-kms's integration tests, in one test binary (as ripgrep keeps
//! its own): the crate and its dependencies are linked once, not once per
//! file. Each module is one behaviour; `util` holds the shared helpers.
//!
//! Run one module with `cargo test --test it session::`, one test with
//! `cargo test --test it -- session::a_new_user_session --exact`.
//!
//! | module | what it checks |
//! |---|---|
//! | `session`, `terminal` | the interactive run, piped and on a pseudo-terminal |
//! | `cli`, `keyuse` | every subcommand through the binary, and the key-state rules |
//! | `explain` | `--explain`: the real values of each step, in 80 columns |
//! | `exchange_between_stores` | an exchange between two stores, each message carrying its sender's certificate |
//! | `exchange`, `exchange_files`, `dh_params` | the key exchange in one process, in two, and groups from files |
//! | `class_pki` | a teacher's CA and three students' stores: trust, request, sign, import, exchange between stores, revoke, CRL |
//! | `cert_requests` | `cert request` in one store, `cert sign` by another's CA, read by OpenSSL |
//! | `crl_import` | `crl import`: a trusted root's CRL (from `openssl ca`) revokes the store's certificates it lists |
//! | `trust_anchors` | `ca trust`: another CA's root trusted, by the fingerprint OpenSSL prints |
//! | `x509_pki`, `openssl_interop` | the CA and the key formats, read back by the openssl CLI |
//! | `migration`, `hostile_store_files`, `attacks` | older formats, broken files, a hostile store folder |
//! | `lesson_plan`, `code_map` | the README's lesson plan runs; its code map names real code |
//! | `unwrap_example` | `examples/unwrap_key.py` unwraps a key the binary stored, in Python |
//! | `reliability`, `secret_hygiene` | concurrency and crashes; no secret in any output or file |
//! | `envelope_tamper`, `properties` | the file format under attack; encode/decode round trips |
//! | `stream_parallel` | the payload on several threads: the same bytes as on one, every tamper still caught |
//! | `gcm_spec_aes256`, `rfc5869_hkdf`, `rfc7748_x25519`, `rfc7914_pbkdf2`, `rfc7919_ffdhe2048`, `wycheproof` | known answers, each citing its source |

mod util;

mod attacks;
mod audit_cross_check;
mod cert_requests;
mod class_pki;
mod cli;
mod code_map;
mod crl_import;
mod dh_params;
mod envelope_tamper;
mod exchange;
mod exchange_between_stores;
mod exchange_files;
mod explain;
mod gcm_spec_aes256;
mod hostile_store_files;
mod keyuse;
mod layers;
mod lesson_plan;
mod migration;
mod openssl_interop;
mod properties;
mod reliability;
mod rfc5869_hkdf;
mod rfc7748_x25519;
mod rfc7914_pbkdf2;
mod rfc7919_ffdhe2048;
mod secret_hygiene;
mod session;
mod stream_parallel;
mod terminal;
mod trust_anchors;
mod unwrap_example;
mod wycheproof;
mod x509_pki;
