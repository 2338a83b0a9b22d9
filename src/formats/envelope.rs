//! File encryption with envelopes: a fresh data key per file, wrapped under
//! one version of the user's symmetric key, and a payload streamed in
//! authenticated chunks.
//!
//! The file, `secure-kms encrypted file v1`:
//!
//! ```text
//! secure-kms encrypted file v1\n                      the magic line
//! {"user":"alice","key_version":2,"file_nonce":"...",  the header: one JSON line
//!  "wrap_nonce":"...","wrapped_key":"..."}\n
//! chunk 0 | chunk 1 | ... | last chunk                 the payload
//! ```
//!
//! - The **data key** (32 random bytes) is sealed with AES-256-GCM under the
//!   user's symmetric key of `key_version`. The associated data binds the
//!   user, the version and the file nonce, so editing any header field makes
//!   the data key fail to unwrap. Re-wrapping under a newer version
//!   (Vault's *rewrap*) changes only the header.
//! - The **payload key** is HKDF-SHA256 of the data key, salted with the
//!   file's 16-byte random nonce.
//! - The **payload** follows the STREAM construction (Hoang, Reyhanitabar,
//!   Rogaway and Vizár, "Online Authenticated-Encryption and its
//!   Nonce-Reuse Misuse-Resistance", CRYPTO 2015), as age does: the
//!   plaintext is cut into 64 KiB chunks, each sealed with AES-256-GCM under
//!   the nonce `counter (11 bytes, big-endian) || last (1 byte: 1 for the
//!   final chunk, else 0)`. A chunk moved, dropped or added, or the file cut
//!   at a chunk boundary, fails to open; only the final chunk may be shorter
//!   than 64 KiB, and it may be empty only when the whole plaintext is.
//!   [`crate::formats::stream`] seals and opens the chunks on every core,
//!   in a bounded memory (16,781,568 bytes of buffers at most) whatever
//!   the file size.

use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::wrap::{self, NONCE_LEN, TAG_LEN};
use crate::formats::stream::{self, Parallelism, PayloadCipher, read_full};
use crate::symmetric::SymmetricKey;
use crate::util::fingerprint;
use crate::util::user::UserId;
use crate::{Error, FormatError, Result};

/// The first line of every encrypted file.
pub const MAGIC: &[u8] = b"secure-kms encrypted file v1\n";

pub use crate::formats::stream::{CHUNK_LEN, PAYLOAD_INFO};

/// The longest header line accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 4096;

const FILE_NONCE_LEN: usize = 16;
/// The size of a file's data key, in bytes (AES-256).
pub const DATA_KEY_LEN: usize = 32;

/// The header of an encrypted file: whose key, which version, and the
/// wrapped data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHeader {
    /// Whose symmetric key wraps the data key.
    pub user: String,
    /// Which version of it.
    pub key_version: u32,
    /// Random per file: salts the payload key, and is bound to the wrap.
    #[serde(with = "crate::util::b64::fixed")]
    pub file_nonce: [u8; FILE_NONCE_LEN],
    /// The nonce of the data key's wrap.
    #[serde(with = "crate::util::b64::fixed")]
    pub wrap_nonce: [u8; NONCE_LEN],
    /// The data key sealed with AES-256-GCM (32 bytes and a 16-byte tag).
    #[serde(with = "crate::util::b64::fixed")]
    pub wrapped_key: [u8; DATA_KEY_LEN + TAG_LEN],
}

impl FileHeader {
    /// What the data key's wrap is bound to: the user, the key version and
    /// the file nonce, so that editing any header field fails to unwrap.
    pub fn associated_data(&self) -> Vec<u8> {
        format!(
            "secure-kms/file/v1/{}/{}/{}",
            self.user,
            self.key_version,
            fingerprint::hex(&self.file_nonce)
        )
        .into_bytes()
    }

    /// A header for a new file, with a fresh data key wrapped under `key`
    /// (version `key_version` of `user_id`'s symmetric key).
    fn new(
        user_id: &UserId,
        key_version: u32,
        key: &SymmetricKey,
    ) -> Result<(Self, Zeroizing<[u8; DATA_KEY_LEN]>)> {
        let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        getrandom::fill(data_key.as_mut())?;
        let mut header = FileHeader {
            user: user_id.to_string(),
            key_version,
            file_nonce: [0; FILE_NONCE_LEN],
            wrap_nonce: [0; NONCE_LEN],
            wrapped_key: [0; DATA_KEY_LEN + TAG_LEN],
        };
        getrandom::fill(&mut header.file_nonce)?;
        header.seal(&data_key, key)?;
        Ok((header, data_key))
    }

    /// Wraps `data_key` under `key` with a fresh nonce, for this header's
    /// user, version and file nonce.
    fn seal(&mut self, data_key: &[u8; DATA_KEY_LEN], key: &SymmetricKey) -> Result<()> {
        getrandom::fill(&mut self.wrap_nonce)?;
        let sealed = wrap::seal(
            key.as_bytes(),
            &self.wrap_nonce,
            &self.associated_data(),
            data_key,
        );
        self.wrapped_key.copy_from_slice(&sealed);
        Ok(())
    }

    /// Unwraps the data key with `key`, the symmetric key of this header's
    /// user and version. Public so that a test (or a curious student) can
    /// check that the data key appears nowhere but wrapped; the command
    /// line never shows it.
    ///
    /// # Errors
    /// [`FormatError::FileKey`] when the key is not the one, or any header field
    /// was edited.
    pub fn open(&self, key: &SymmetricKey) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
        let plain = wrap::open(
            key.as_bytes(),
            &self.wrap_nonce,
            &self.associated_data(),
            &self.wrapped_key,
        )
        .map_err(|_| {
            Error::Format(FormatError::FileKey {
                user: self.user.clone(),
                version: self.key_version,
            })
        })?;
        let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        data_key.copy_from_slice(&plain);
        Ok(data_key)
    }

    /// Re-wraps this header's data key, opened with `old_key`, under
    /// `new_key` (version `new_version` of the same user's key): Vault's
    /// rewrap. The payload does not change.
    ///
    /// # Errors
    /// [`FormatError::FileKey`] when `old_key` does not open the data key.
    pub fn rewrap(
        &mut self,
        old_key: &SymmetricKey,
        new_version: u32,
        new_key: &SymmetricKey,
    ) -> Result<()> {
        let data_key = self.open(old_key)?;
        self.key_version = new_version;
        self.seal(&data_key, new_key)
    }

    /// The header as written: the magic line and one JSON line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(
            serde_json::to_string(self)
                .expect("headers always serialise")
                .as_bytes(),
        );
        out.push(b'\n');
        out
    }
}

/// Reads and checks the magic line and the header of an encrypted file,
/// leaving `reader` at the first chunk.
///
/// # Errors
/// [`FormatError::FileFormat`] for anything that is not a version 1 header;
/// [`FormatError::ReadData`] if reading fails.
pub fn read_header(reader: &mut impl BufRead) -> Result<FileHeader> {
    let mut magic = vec![0u8; MAGIC.len()];
    let got = read_full(reader, &mut magic)?;
    if got < MAGIC.len() || magic != MAGIC {
        return Err(Error::Format(FormatError::FileFormat(
            "it does not start with \"secure-kms encrypted file v1\"".to_owned(),
        )));
    }
    let mut line = Vec::new();
    reader
        .take(MAX_HEADER_LEN as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| Error::Format(FormatError::ReadData(e)))?;
    if line.pop() != Some(b'\n') {
        return Err(Error::Format(FormatError::FileFormat(
            "its header line is cut short or longer than 4096 bytes".to_owned(),
        )));
    }
    let header: FileHeader = serde_json::from_slice(&line).map_err(|e| {
        Error::Format(FormatError::FileFormat(format!(
            "its header does not parse: {e}"
        )))
    })?;
    UserId::new(&header.user).map_err(|e| {
        Error::Format(FormatError::FileFormat(format!(
            "its header names no valid user: {e}"
        )))
    })?;
    Ok(header)
}

/// Encrypts everything `reader` gives into `writer`, for version
/// `key_version` of `user_id`'s symmetric key `key`. Returns the header.
///
/// ```
/// use secure_kms::formats::envelope::{decrypt, encrypt, read_header};
/// use secure_kms::symmetric::generate_symmetric_key;
/// use secure_kms::util::user::UserId;
///
/// let key = generate_symmetric_key()?;
/// let alice = UserId::new("alice")?;
/// let mut sealed = Vec::new();
/// encrypt(&mut &b"attack at dawn"[..], &mut sealed, &alice, 1, &key)?;
/// let mut input = &sealed[..];
/// let header = read_header(&mut input)?;
/// assert_eq!(header.key_version, 1);
/// let mut plain = Vec::new();
/// decrypt(&header, &mut input, &mut plain, &key)?;
/// assert_eq!(plain, b"attack at dawn");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`FormatError::ReadData`] or [`FormatError::WriteData`] if reading or writing fails;
/// [`CryptoError::Rng`](crate::CryptoError::Rng) if the random source fails.
pub fn encrypt(
    reader: &mut impl Read,
    writer: &mut (impl Write + Send),
    user_id: &UserId,
    key_version: u32,
    key: &SymmetricKey,
) -> Result<FileHeader> {
    let (header, data_key) = FileHeader::new(user_id, key_version, key)?;
    writer
        .write_all(&header.to_bytes())
        .map_err(|e| Error::Format(FormatError::WriteData(e)))?;
    let cipher = PayloadCipher::new(&header.file_nonce, &data_key)?;
    stream::seal(&cipher, reader, writer, Parallelism::available())?;
    Ok(header)
}

/// Decrypts the payload that follows `header` in `reader` into `writer`,
/// with `key`, the symmetric key of the header's user and version.
///
/// Each chunk is authenticated before it is written. Output that has been
/// written stays written if a later chunk fails: write to a temporary file
/// and keep it only on success, as the command line does.
///
/// # Errors
/// [`FormatError::FileKey`] if `key` does not open the header;
/// [`FormatError::FileTampered`] naming the first chunk that fails (a changed,
/// moved, missing or added chunk, or a file cut short); [`FormatError::ReadData`]
/// or [`FormatError::WriteData`].
pub fn decrypt(
    header: &FileHeader,
    reader: &mut impl Read,
    writer: &mut (impl Write + Send),
    key: &SymmetricKey,
) -> Result<()> {
    let data_key = header.open(key)?;
    let cipher = PayloadCipher::new(&header.file_nonce, &data_key)?;
    stream::open(&cipher, reader, writer, Parallelism::available())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symmetric::generate_symmetric_key;

    fn alice() -> UserId {
        UserId::new("alice").unwrap()
    }

    fn seal(plain: &[u8], key: &SymmetricKey) -> Vec<u8> {
        let mut out = Vec::new();
        encrypt(&mut &plain[..], &mut out, &alice(), 1, key).unwrap();
        out
    }

    fn open(file: &[u8], key: &SymmetricKey) -> Result<Vec<u8>> {
        let mut input = file;
        let header = read_header(&mut input)?;
        let mut out = Vec::new();
        decrypt(&header, &mut input, &mut out, key)?;
        Ok(out)
    }

    fn header_len(file: &[u8]) -> usize {
        let first = file.iter().position(|&b| b == b'\n').unwrap() + 1;
        first + file[first..].iter().position(|&b| b == b'\n').unwrap() + 1
    }

    #[test]
    fn round_trips_at_every_size_around_a_chunk() {
        let key = generate_symmetric_key().unwrap();
        for len in [
            0,
            1,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            2 * CHUNK_LEN,
            3 * CHUNK_LEN + 17,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let file = seal(&plain, &key);
            let chunks = len.div_ceil(CHUNK_LEN).max(1);
            assert_eq!(
                file.len(),
                header_len(&file) + len + chunks * TAG_LEN,
                "{len}"
            );
            assert_eq!(open(&file, &key).unwrap(), plain, "{len}");
        }
    }

    #[test]
    fn each_file_has_its_own_data_key() {
        let key = generate_symmetric_key().unwrap();
        let (a, b) = (seal(b"same", &key), seal(b"same", &key));
        assert_ne!(a, b);
        let h = header_len(&a);
        assert_ne!(a[h..], b[h..]);
    }

    #[test]
    fn a_wrong_key_cannot_open_the_data_key() {
        let key = generate_symmetric_key().unwrap();
        let other = generate_symmetric_key().unwrap();
        let file = seal(b"secret", &key);
        assert!(matches!(
            open(&file, &other),
            Err(Error::Format(FormatError::FileKey { version: 1, .. }))
        ));
    }

    #[test]
    fn rewrap_changes_the_header_only() {
        let old = generate_symmetric_key().unwrap();
        let new = generate_symmetric_key().unwrap();
        let file = seal(b"kept as it is", &old);
        let mut input = &file[..];
        let mut header = read_header(&mut input).unwrap();
        header.rewrap(&old, 2, &new).unwrap();
        let mut rewrapped = header.to_bytes();
        rewrapped.extend_from_slice(input);
        assert_eq!(
            rewrapped[header_len(&rewrapped)..],
            file[header_len(&file)..]
        );
        assert_eq!(open(&rewrapped, &new).unwrap(), b"kept as it is");
        assert!(open(&rewrapped, &old).is_err());
    }
}
