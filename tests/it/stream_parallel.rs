//! The payload sealed and opened on several threads: the same bytes as on
//! one thread and as a plain AES-256-GCM loop over the chunks, and every
//! tamper still caught, naming the same chunk, whatever the thread count
//! and batch size. Small batches (one to three chunks) put batch boundaries
//! between the chunks the tests change.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use secure_kms::formats::stream::{
    self, BATCH_CHUNKS, CHUNK_CT_LEN, CHUNK_LEN, PAYLOAD_INFO, Parallelism, PayloadCipher,
};
use secure_kms::{Error, FormatError, Result};

const DATA_KEY: [u8; 32] = [0x42; 32];
const FILE_NONCE: [u8; 16] = [0x17; 16];

/// One thread, then threads and batch sizes that put batch edges anywhere,
/// and settings out of range (more workers than the most, empty batches),
/// which are clamped.
fn settings() -> Vec<Parallelism> {
    let mut all = vec![
        Parallelism::ONE_THREAD,
        Parallelism {
            workers: 64,
            batch_chunks: 0,
        },
    ];
    for workers in [2, 3, 8] {
        for batch_chunks in [1, 2, 3, BATCH_CHUNKS] {
            all.push(Parallelism {
                workers,
                batch_chunks,
            });
        }
    }
    all
}

fn cipher() -> PayloadCipher {
    PayloadCipher::new(&FILE_NONCE, &DATA_KEY).unwrap()
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal(plain: &[u8], parallelism: Parallelism) -> Vec<u8> {
    let mut out = Vec::new();
    stream::seal(&cipher(), &mut &plain[..], &mut out, parallelism).unwrap();
    out
}

/// The payload opened with `parallelism`: the result, and what was written.
fn open(payload: &[u8], parallelism: Parallelism) -> (Result<()>, Vec<u8>) {
    let mut out = Vec::new();
    let result = stream::open(&cipher(), &mut &payload[..], &mut out, parallelism);
    (result, out)
}

/// STREAM as the format describes it, written with nothing of secure-kms
/// but the info string: HKDF-SHA256 for the payload key, then AES-256-GCM
/// per 64 KiB chunk under counter (11 bytes) || last (1 byte).
fn reference(plain: &[u8]) -> Vec<u8> {
    let mut key = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&FILE_NONCE), &DATA_KEY)
        .expand(PAYLOAD_INFO, &mut key)
        .unwrap();
    let aes = Aes256Gcm::new(&key.into());
    let chunks: Vec<&[u8]> = if plain.is_empty() {
        vec![&[]]
    } else {
        plain.chunks(CHUNK_LEN).collect()
    };
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&(i as u64).to_be_bytes());
        nonce[11] = u8::from(i + 1 == chunks.len());
        let mut sealed = chunk.to_vec();
        let tag = aes
            .encrypt_inout_detached(&Nonce::from(nonce), &[], sealed.as_mut_slice().into())
            .unwrap();
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&tag);
    }
    out
}

fn tampered_at(result: Result<()>) -> Option<u64> {
    match result {
        Err(Error::Format(FormatError::FileTampered { chunk })) => Some(chunk),
        _ => None,
    }
}

#[test]
fn every_thread_count_writes_the_bytes_of_one_thread_and_of_the_format() {
    let sizes = [
        0,
        1,
        CHUNK_LEN - 1,
        CHUNK_LEN,
        CHUNK_LEN + 1,
        2 * CHUNK_LEN,
        7 * CHUNK_LEN + 5,
        // More than two full batches of 16, ending on a chunk edge.
        40 * CHUNK_LEN,
    ];
    for len in sizes {
        let plain = plaintext(len);
        let expected = reference(&plain);
        assert_eq!(seal(&plain, Parallelism::ONE_THREAD), expected, "{len}");
        for parallelism in settings() {
            let sealed = seal(&plain, parallelism);
            assert!(sealed == expected, "{len} bytes, {parallelism:?}");
            let (result, opened) = open(&sealed, parallelism);
            result.unwrap();
            assert!(opened == plain, "{len} bytes, {parallelism:?}");
        }
    }
}

/// Seven full chunks and a short eighth, as one thread seals them.
fn eight_chunks() -> (Vec<u8>, Vec<u8>) {
    let plain = plaintext(7 * CHUNK_LEN + 1000);
    let sealed = seal(&plain, Parallelism::ONE_THREAD);
    assert_eq!(sealed.len().div_ceil(CHUNK_CT_LEN), 8);
    (plain, sealed)
}

#[test]
fn a_flipped_byte_in_any_chunk_names_that_chunk_and_nothing_after_it_is_written() {
    let (plain, sealed) = eight_chunks();
    for chunk in 0..8 {
        let at = chunk * CHUNK_CT_LEN + 77;
        let mut bad = sealed.clone();
        bad[at] ^= 1;
        for parallelism in settings() {
            let (result, written) = open(&bad, parallelism);
            assert_eq!(
                tampered_at(result),
                Some(chunk as u64),
                "chunk {chunk}, {parallelism:?}"
            );
            // The chunks before it, authenticated, and not a byte more.
            assert!(
                written == plain[..chunk * CHUNK_LEN],
                "chunk {chunk}, {parallelism:?}: {} bytes written",
                written.len()
            );
        }
    }
}

#[test]
fn a_cut_payload_and_a_missing_final_chunk_are_caught() {
    let (_, sealed) = eight_chunks();
    // After each full chunk (the final chunk missing when cut after the
    // seventh), inside a tag, and less than a tag into a chunk.
    let mut cuts = Vec::new();
    for chunk in 1..=7 {
        cuts.push(chunk * CHUNK_CT_LEN);
        cuts.push(chunk * CHUNK_CT_LEN - 1);
        cuts.push(chunk * CHUNK_CT_LEN + 3);
    }
    cuts.extend([0, 5, sealed.len() - 1]);
    for cut in cuts {
        for parallelism in settings() {
            let (result, _) = open(&sealed[..cut], parallelism);
            assert!(
                tampered_at(result).is_some(),
                "cut at {cut}, {parallelism:?}"
            );
        }
    }
}

#[test]
fn reordered_and_appended_chunks_are_caught() {
    let (_, sealed) = eight_chunks();
    let chunk = |i: usize| &sealed[i * CHUNK_CT_LEN..(i + 1) * CHUNK_CT_LEN];
    // Chunks 2 and 5 swapped: across batches for every batch size here.
    let mut swapped = sealed.clone();
    swapped[2 * CHUNK_CT_LEN..3 * CHUNK_CT_LEN].copy_from_slice(chunk(5));
    swapped[5 * CHUNK_CT_LEN..6 * CHUNK_CT_LEN].copy_from_slice(chunk(2));
    // A full chunk appended after the final one.
    let mut appended = sealed.clone();
    appended.extend_from_slice(chunk(0));
    // The final chunk dropped and chunk 6 (full, not final) in its place.
    let dropped = sealed[..7 * CHUNK_CT_LEN].to_vec();
    for parallelism in settings() {
        assert_eq!(tampered_at(open(&swapped, parallelism).0), Some(2));
        assert_eq!(tampered_at(open(&appended, parallelism).0), Some(7));
        assert_eq!(tampered_at(open(&dropped, parallelism).0), Some(6));
    }
}

/// A writer that fails after `room` bytes.
struct Full {
    room: usize,
}

impl std::io::Write for Full {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room < buf.len() {
            return Err(std::io::Error::other("disk full"));
        }
        self.room -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A reader that fails after `left` bytes.
struct Broken {
    left: usize,
}

impl std::io::Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("read error"));
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(7);
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn a_failing_writer_or_reader_stops_the_workers_with_its_error() {
    let plain = plaintext(40 * CHUNK_LEN);
    for parallelism in settings() {
        let mut full = Full {
            room: 5 * CHUNK_CT_LEN,
        };
        let err = stream::seal(&cipher(), &mut &plain[..], &mut full, parallelism).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::WriteData(_))),
            "{parallelism:?}: {err}"
        );
        let mut broken = Broken {
            left: 9 * CHUNK_LEN + 3,
        };
        let err = stream::seal(&cipher(), &mut broken, &mut Vec::new(), parallelism).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::ReadData(_))),
            "{parallelism:?}: {err}"
        );
    }
}

#[test]
fn a_failing_reader_or_writer_stops_the_opening_too() {
    let plain = plaintext(40 * CHUNK_LEN);
    let sealed = seal(&plain, Parallelism::ONE_THREAD);
    for parallelism in settings() {
        let mut full = Full {
            room: 5 * CHUNK_LEN,
        };
        let err = stream::open(&cipher(), &mut &sealed[..], &mut full, parallelism).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::WriteData(_))),
            "{parallelism:?}: {err}"
        );
        // The sealed bytes, then a read error after 20 chunks.
        let mut broken = std::io::Read::chain(&sealed[..20 * CHUNK_CT_LEN], Broken { left: 0 });
        let err = stream::open(&cipher(), &mut broken, &mut Vec::new(), parallelism).unwrap_err();
        assert!(
            matches!(err, Error::Format(FormatError::ReadData(_))),
            "{parallelism:?}: {err}"
        );
    }
}

/// Counts the bytes that pass, in a counter shared with the other side.
struct Counted<T> {
    inner: T,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<T: std::io::Read> std::io::Read for Counted<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        Ok(n)
    }
}

/// A writer that checks, at every write, that the reader is no further
/// ahead of it than `bound` bytes.
struct Bounded {
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    written: usize,
    bound: usize,
    most_ahead: usize,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let read = self.read.load(std::sync::atomic::Ordering::SeqCst);
        self.most_ahead = self.most_ahead.max(read.saturating_sub(self.written));
        assert!(
            read <= self.written + self.bound,
            "read {read}, written {}, bound {}",
            self.written,
            self.bound
        );
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_reader_is_never_further_ahead_than_the_buffers_hold() {
    let plain = plaintext(60 * CHUNK_LEN);
    for parallelism in settings() {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut reader = Counted {
            inner: &plain[..],
            count: count.clone(),
        };
        // What the batches hold, and the one byte read ahead.
        let bound = parallelism.buffered_bytes() + 1;
        let mut writer = Bounded {
            read: count,
            written: 0,
            bound,
            most_ahead: 0,
        };
        stream::seal(&cipher(), &mut reader, &mut writer, parallelism).unwrap();
        assert!(writer.most_ahead > 0, "{parallelism:?}");
    }
}
