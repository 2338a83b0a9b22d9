//! The encrypted file format under attack: every header field edited, every
//! chunk changed, the file cut at every chunk boundary, a chunk appended,
//! chunks swapped. Each must be refused, naming the header or the first
//! chunk that fails; none may yield plaintext.

use secure_kms::formats::envelope::{CHUNK_LEN, decrypt, encrypt, read_header};
use secure_kms::symmetric::{SymmetricKey, generate_symmetric_key};
use secure_kms::util::user::UserId;
use secure_kms::{Error, FormatError, Result};
use serde_json::Value;

const TAG_LEN: usize = 16;
const CHUNK_CT: usize = CHUNK_LEN + TAG_LEN;

/// Three full chunks and a short fourth.
fn plaintext() -> Vec<u8> {
    (0..3 * CHUNK_LEN + 1000).map(|i| (i % 253) as u8).collect()
}

fn seal(key: &SymmetricKey) -> Vec<u8> {
    let mut out = Vec::new();
    encrypt(
        &mut &plaintext()[..],
        &mut out,
        &UserId::new("alice").unwrap(),
        1,
        key,
    )
    .unwrap();
    out
}

fn open(file: &[u8], key: &SymmetricKey) -> Result<Vec<u8>> {
    let mut input = file;
    let header = read_header(&mut input)?;
    let mut out = Vec::new();
    decrypt(&header, &mut input, &mut out, key)?;
    Ok(out)
}

/// Where the payload starts: after the magic line and the header line.
fn payload_start(file: &[u8]) -> usize {
    let mut newlines = file.iter().enumerate().filter(|(_, b)| **b == b'\n');
    newlines.nth(1).unwrap().0 + 1
}

/// The file with its header line replaced by `edit` of the header's JSON.
fn with_header(file: &[u8], edit: impl Fn(&mut Value)) -> Vec<u8> {
    let magic_end = file.iter().position(|&b| b == b'\n').unwrap() + 1;
    let start = payload_start(file);
    let mut header: Value = serde_json::from_slice(&file[magic_end..start - 1]).unwrap();
    edit(&mut header);
    let mut out = file[..magic_end].to_vec();
    out.extend_from_slice(serde_json::to_string(&header).unwrap().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&file[start..]);
    out
}

fn flip_b64(v: &mut Value) {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(v.as_str().unwrap()).unwrap();
    bytes[0] ^= 1;
    *v = engine.encode(bytes).into();
}

#[test]
fn the_untouched_file_opens() {
    let key = generate_symmetric_key().unwrap();
    assert_eq!(open(&seal(&key), &key).unwrap(), plaintext());
}

#[test]
fn every_header_field_is_bound() {
    let key = generate_symmetric_key().unwrap();
    let file = seal(&key);
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 5] = [
        ("user", |h| h["user"] = "mallory".into()),
        ("key_version", |h| h["key_version"] = 2.into()),
        ("file_nonce", |h| flip_b64(&mut h["file_nonce"])),
        ("wrap_nonce", |h| flip_b64(&mut h["wrap_nonce"])),
        ("wrapped_key", |h| flip_b64(&mut h["wrapped_key"])),
    ];
    for (field, edit) in edits {
        let err = open(&with_header(&file, edit), &key).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::FileKey { .. })),
            "{field}: {err}"
        );
    }
}

#[test]
fn a_header_that_is_not_version_1_is_refused_as_a_format_error() {
    let key = generate_symmetric_key().unwrap();
    let file = seal(&key);
    let mut magic = file.clone();
    magic[26] = b'2'; // "... file v1" -> "... file v2"
    let cases = [
        ("magic", magic),
        (
            "extra field",
            with_header(&file, |h| h["note"] = "x".into()),
        ),
        (
            "missing field",
            with_header(&file, |h| {
                h.as_object_mut().unwrap().remove("wrap_nonce");
            }),
        ),
        (
            "short key",
            with_header(&file, |h| h["wrapped_key"] = "AAAA".into()),
        ),
        ("bad user", with_header(&file, |h| h["user"] = "a b".into())),
        ("empty", Vec::new()),
        ("magic only", file[..29].to_vec()),
    ];
    for (what, bad) in cases {
        let err = open(&bad, &key).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::FileFormat(_))),
            "{what}: {err}"
        );
    }
}

#[test]
fn a_change_in_any_chunk_names_that_chunk() {
    let key = generate_symmetric_key().unwrap();
    let file = seal(&key);
    let start = payload_start(&file);
    let chunks = (file.len() - start).div_ceil(CHUNK_CT);
    assert_eq!(chunks, 4);
    for chunk in 0..chunks {
        let base = start + chunk * CHUNK_CT;
        let end = (base + CHUNK_CT).min(file.len());
        // The first byte, a middle one, and the last byte (in the tag).
        for at in [base, (base + end) / 2, end - 1] {
            let mut bad = file.clone();
            bad[at] ^= 0x80;
            let err = open(&bad, &key).unwrap_err();
            assert!(
                matches!(err, Error::Format(FormatError::FileTampered { chunk: c }) if c == chunk as u64),
                "chunk {chunk}, byte {at}: {err}"
            );
        }
    }
}

#[test]
fn cutting_the_file_at_any_chunk_boundary_is_caught() {
    let key = generate_symmetric_key().unwrap();
    let file = seal(&key);
    let start = payload_start(&file);
    // Right after the header, after each full chunk, and inside chunks.
    let mut cuts = vec![start, start + 5];
    for chunk in 1..=3 {
        cuts.push(start + chunk * CHUNK_CT);
        cuts.push(start + chunk * CHUNK_CT - 1);
        cuts.push(start + chunk * CHUNK_CT + 3);
    }
    cuts.push(file.len() - 1);
    for cut in cuts {
        let err = open(&file[..cut], &key).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::FileTampered { .. })),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn an_appended_chunk_is_caught() {
    let key = generate_symmetric_key().unwrap();
    let file = seal(&key);
    let start = payload_start(&file);
    // A copy of the first chunk, then a few stray bytes.
    let mut appended = file.clone();
    appended.extend_from_slice(&file[start..start + CHUNK_CT]);
    let mut stray = file.clone();
    stray.extend_from_slice(b"more");
    for (what, bad) in [("chunk", appended), ("bytes", stray)] {
        let err = open(&bad, &key).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::FileTampered { .. })),
            "{what}: {err}"
        );
    }
    // Two whole files one after the other are not one file either.
    let mut doubled = file.clone();
    doubled.extend_from_slice(&file);
    assert!(open(&doubled, &key).is_err());
}

#[test]
fn swapped_chunks_are_caught() {
    let key = generate_symmetric_key().unwrap();
    let file = seal(&key);
    let start = payload_start(&file);
    let mut swapped = file.clone();
    let (a, b) = (start, start + CHUNK_CT);
    let first = file[a..a + CHUNK_CT].to_vec();
    swapped.copy_within(b..b + CHUNK_CT, a);
    swapped[b..b + CHUNK_CT].copy_from_slice(&first);
    let err = open(&swapped, &key).unwrap_err();
    assert!(
        matches!(err, Error::Format(FormatError::FileTampered { chunk: 0 })),
        "{err}"
    );
    // A chunk of another file under the same key does not fit either.
    let other = seal(&key);
    let mut spliced = file.clone();
    spliced[start..start + CHUNK_CT].copy_from_slice(&other[start..start + CHUNK_CT]);
    assert!(matches!(
        open(&spliced, &key),
        Err(Error::Format(FormatError::FileTampered { chunk: 0 }))
    ));
}
