//! The keys at work, explained: a file encrypted or decrypted with an
//! envelope, a file signed or verified with RSA-PSS.

use crate::crypto::wrap::TAG_LEN;
use crate::formats::envelope::{CHUNK_LEN, FileHeader, PAYLOAD_INFO};
use crate::keys::keyring::VersionStatus;
use crate::pki::PSS_SALT_LEN;
use crate::util::{b64, fingerprint};

use super::Steps;

/// The header's steps, shared by encryption and decryption.
fn envelope(steps: &mut Steps, header: &FileHeader, payload_bytes: Option<u64>) {
    steps.step(
        "data key",
        "32 random bytes, fresh for this file (not shown)",
        "an envelope: the file has its own key, so rotating or rewrapping never touches the payload",
    );
    let (_, tag) = header
        .wrapped_key
        .split_at(header.wrapped_key.len() - TAG_LEN);
    steps.step(
        "AES-256-GCM wrap",
        &format!(
            "under {}'s symmetric key version {}, nonce {}",
            header.user,
            header.key_version,
            b64::encode(&header.wrap_nonce)
        ),
        "the data key, sealed: only the holder of that symmetric key opens it",
    );
    steps.step(
        "associated data",
        &String::from_utf8_lossy(&header.associated_data()),
        "binds the wrap to the header's user, version and file nonce: edit one and it fails",
    );
    steps.step(
        "tag",
        &b64::encode(tag),
        "128 bits: the wrapped data key cannot be changed unnoticed",
    );
    steps.step(
        "payload key",
        &format!(
            "HKDF-SHA256(data key, salt = the file nonce, hex {}, info \"{}\") (not shown)",
            fingerprint::hex(&header.file_nonce),
            String::from_utf8_lossy(PAYLOAD_INFO)
        ),
        "a key for the payload only, different for every file",
    );
    let chunks = payload_bytes.map_or_else(
        || "64 KiB chunks".to_owned(),
        |n| {
            let count = n.div_ceil(CHUNK_LEN as u64).max(1);
            format!("{n} bytes in {count} chunk(s) of at most 64 KiB")
        },
    );
    steps.step(
        "payload",
        &chunks,
        "each chunk sealed with AES-256-GCM under the nonce counter (11 bytes) || last (1 byte), \
         with a 16-byte tag: a chunk moved, dropped, added or cut off fails to open (STREAM, as age does)",
    );
}

/// `encrypt`: the envelope written, for `payload_bytes` of plaintext.
pub fn encrypted(steps: &mut Steps, header: &FileHeader, payload_bytes: Option<u64>) {
    steps.title("How the file was encrypted (the header is one JSON line at its top):");
    envelope(steps, header, payload_bytes);
}

/// `decrypt`: the envelope read and opened.
pub fn decrypted(steps: &mut Steps, header: &FileHeader, payload_bytes: Option<u64>) {
    steps.title(
        "How the file was decrypted: the same steps, each checked, and nothing written \
         but what every tag verified:",
    );
    envelope(steps, header, payload_bytes);
}

/// The steps of RSA-PSS shared by signing and verifying.
fn pss(steps: &mut Steps, digest: &[u8], signature_len: usize) {
    steps.step(
        "digest",
        &format!("SHA-256 of the file: {}", fingerprint::hex(digest)),
        "what is signed: any change to the file changes it",
    );
    steps.step(
        "RSA-PSS",
        &format!(
            "hash SHA-256, MGF1-SHA-256, salt length {PSS_SALT_LEN} bytes, {signature_len}-byte signature"
        ),
        "a fresh random salt each time, so signing one file twice gives two signatures; \
         openssl dgst -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 checks it",
    );
}

/// `sign`: which version signed, and how.
pub fn signed(steps: &mut Steps, user: &str, version: u32, digest: &[u8], signature_len: usize) {
    steps.title(&format!(
        "How {user}'s RSA key version {version} signed the file:"
    ));
    pss(steps, digest, signature_len);
    steps.step(
        "private key",
        "unwrapped with the password for this signature only (not shown)",
        "it signs only while its version is active: not expired, not superseded, not revoked",
    );
}

/// `verify`: which version's public key verified it, and its state.
pub fn verified(
    steps: &mut Steps,
    user: &str,
    signer: &VersionStatus,
    digest: &[u8],
    signature_len: usize,
) {
    steps.title(&format!(
        "How the signature was checked against {user}'s public keys, newest first:"
    ));
    pss(steps, digest, signature_len);
    steps.step(
        "public key",
        &format!(
            "version {}, ID {}",
            signer.version,
            signer
                .public_key_fingerprint
                .as_deref()
                .map_or("-", fingerprint::short)
        ),
        "no password needed: verifying uses only the public key",
    );
    steps.step(
        "state",
        &signer.state_text(),
        "a revoked version's signatures are refused; an expired or superseded one still verifies",
    );
}
