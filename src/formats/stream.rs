//! A file's payload: the STREAM construction, sealed and opened on every
//! core.
//!
//! STREAM (Hoang, Reyhanitabar, Rogaway and Vizár, "Online
//! Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance",
//! CRYPTO 2015), as age uses it: the plaintext is cut into 64 KiB chunks,
//! each sealed with AES-256-GCM under the nonce
//! `counter (11 bytes, big-endian) || last (1 byte: 1 for the final chunk,
//! else 0)`. A chunk moved, dropped or added, or the file cut at a chunk
//! boundary, fails to open; only the final chunk may be shorter than
//! 64 KiB, and it may be empty only when the whole plaintext is.
//!
//! # On every core
//!
//! A chunk's nonce depends on its position alone, never on the chunks before
//! it, so chunks can be sealed (and opened) in any order, on any thread, and
//! still make the same bytes. The calling thread reads the input a batch of
//! 16 chunks (1 MiB) at a time and hands each batch to a worker thread in
//! turn; a writer thread writes the batches out in their order as the
//! workers finish them, and gives each back to be filled again:
//!
//! ```text
//!                  ┌─► worker 0: batches 0, 2, 4, ... ─┐
//!   read batches ──┤                                   ├──► write 0, 1, 2, ...
//!        ▲         └─► worker 1: batches 1, 3, 5, ... ─┘          │
//!        └──────────────── empty batches given back ◄─────────────┘
//! ```
//!
//! Reading, sealing and writing overlap, and every core seals. Each worker
//! takes its batches in turn and returns them in the order it got them, so
//! the writer needs no sorting. At most two batches per worker exist, and
//! there are at most [`MAX_WORKERS`] workers, so memory stays under
//! [`Parallelism::buffered_bytes`], 16,781,568 bytes (just over 16 MiB)
//! at most, whatever the file's size and the machine's core count. A
//! payload of one batch, or one core, uses no thread at all: the same
//! batches are sealed and written in turn. A system that refuses threads
//! gets fewer workers, or the same batches on the calling thread.
//!
//! When opening, a worker stops at the first chunk that fails. The writer
//! writes the chunks before it, as the one-thread loop does, then stops
//! with [`FormatError::FileTampered`] naming that chunk.

use std::io::{Read, Write};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use aes_gcm::aead::Nonce;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit, Tag};
use zeroize::Zeroizing;

use crate::crypto::kdf::hkdf_sha256;
use crate::crypto::wrap::{NONCE_LEN, TAG_LEN};
use crate::{Error, FormatError, Result};

/// Plaintext bytes per chunk: 64 KiB, as age uses.
pub const CHUNK_LEN: usize = 64 * 1024;

/// A sealed chunk: the ciphertext and its 16-byte tag.
pub const CHUNK_CT_LEN: usize = CHUNK_LEN + TAG_LEN;

/// HKDF's info string for a file's payload key.
pub const PAYLOAD_INFO: &[u8] = b"secure-kms v1 file payload";

/// Chunks per batch: 16, so 1 MiB of plaintext per hand-over to a worker.
pub const BATCH_CHUNKS: usize = 16;

/// The most worker threads a payload uses, whatever the core count, which
/// bounds the memory: two batches of 1 MiB per worker.
pub const MAX_WORKERS: usize = 8;

/// Batches out (being read, sealed or waiting to be written) per worker:
/// one being sealed and one queued, so a worker never waits for the reader.
const IN_FLIGHT_PER_WORKER: usize = 2;

/// A chunk's room in a batch: the chunk, its tag (or, when opening, the
/// chunk with its tag), and one byte of look-ahead.
const SLOT_LEN: usize = CHUNK_CT_LEN + 1;

/// The payload's AES-256-GCM key, from the file's data key.
pub struct PayloadCipher {
    cipher: Aes256Gcm,
}

impl PayloadCipher {
    /// The payload key: HKDF-SHA256 of the data key, salted with the file's
    /// random nonce, with info [`PAYLOAD_INFO`].
    ///
    /// # Errors
    /// [`CryptoError::KdfLength`](crate::CryptoError::KdfLength) (never for these sizes).
    pub fn new(file_nonce: &[u8], data_key: &[u8; 32]) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf_sha256(Some(file_nonce), data_key, PAYLOAD_INFO, key.as_mut())?;
        Ok(PayloadCipher {
            cipher: Aes256Gcm::new((&*key).into()),
        })
    }

    /// The nonce of the chunk at `counter`: 11 bytes of big-endian counter,
    /// then 1 for the final chunk or 0.
    fn nonce(counter: u64, last: bool) -> Nonce<Aes256Gcm> {
        let mut nonce = [0u8; NONCE_LEN];
        // A u64 fills the counter's low 8 bytes: far more chunks than any
        // file has (2^64 of 64 KiB).
        nonce[3..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = u8::from(last);
        Nonce::<Aes256Gcm>::from(nonce)
    }

    /// Seals `chunk` in place; returns its tag.
    fn seal_chunk(&self, counter: u64, last: bool, chunk: &mut [u8]) -> Tag {
        self.cipher
            .encrypt_inout_detached(&Self::nonce(counter, last), &[], chunk.into())
            .expect("AES-GCM seals any chunk of 64 KiB")
    }

    /// Opens `chunk` (ciphertext, then tag) in place, leaving the plaintext
    /// in its first bytes; false if it does not authenticate.
    fn open_chunk(&self, counter: u64, last: bool, chunk: &mut [u8]) -> bool {
        let (body, tag) = chunk.split_at_mut(chunk.len() - TAG_LEN);
        let tag = Tag::try_from(&*tag).expect("16 bytes");
        self.cipher
            .decrypt_inout_detached(&Self::nonce(counter, last), &[], body.into(), &tag)
            .is_ok()
    }
}

/// How many threads seal or open a payload, and in batches of how many
/// chunks. The file's bytes are the same for every setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parallelism {
    /// Worker threads; 1 (or 0) seals on the calling thread.
    pub workers: usize,
    /// Chunks handed to a worker at a time (at least 1).
    pub batch_chunks: usize,
}

impl Parallelism {
    /// Everything on the calling thread: read a batch, seal it, write it.
    pub const ONE_THREAD: Self = Parallelism {
        workers: 1,
        batch_chunks: BATCH_CHUNKS,
    };

    /// One worker per core this process may run on, at most
    /// [`MAX_WORKERS`].
    pub fn available() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Parallelism {
            workers: cores.min(MAX_WORKERS),
            batch_chunks: BATCH_CHUNKS,
        }
    }

    /// The most bytes the batches hold at once: the bound on memory.
    ///
    /// ```
    /// use secure_kms::formats::stream::{Parallelism, MAX_WORKERS};
    ///
    /// let most = Parallelism { workers: MAX_WORKERS, ..Parallelism::ONE_THREAD };
    /// assert!(most.buffered_bytes() < 17 << 20);
    /// ```
    pub fn buffered_bytes(&self) -> usize {
        self.batches_out() * self.batch_chunks.max(1) * SLOT_LEN
    }

    fn batches_out(&self) -> usize {
        match self.workers.min(MAX_WORKERS) {
            0 | 1 => 1,
            n => n * IN_FLIGHT_PER_WORKER,
        }
    }
}

/// Consecutive chunks, read, sealed or opened, and written together.
struct Batch {
    /// One slot of [`SLOT_LEN`] bytes per chunk. Plaintext passes through
    /// here: zeroized when dropped.
    buf: Zeroizing<Vec<u8>>,
    /// Each chunk's length as read: plaintext when sealing, ciphertext and
    /// tag when opening.
    lens: Vec<usize>,
    /// The counter of its first chunk.
    first: u64,
    /// Whether its last chunk is the final one of the stream.
    ends: bool,
    /// When opening: the first chunk that failed.
    failed: Option<u64>,
}

impl Batch {
    fn new(chunks: usize) -> Self {
        Batch {
            buf: Zeroizing::new(vec![0u8; chunks * SLOT_LEN]),
            lens: Vec::with_capacity(chunks),
            first: 0,
            ends: false,
            failed: None,
        }
    }

    /// The slot of chunk `i`, and whether that chunk is the stream's last.
    fn slot(&mut self, i: usize) -> (&mut [u8], bool) {
        let last = self.ends && i + 1 == self.lens.len();
        (&mut self.buf[i * SLOT_LEN..(i + 1) * SLOT_LEN], last)
    }
}

/// The input cut into chunks of `chunk_len` bytes, with one byte read ahead
/// so that the final chunk is known when it is read.
struct Chunks<'a, R> {
    reader: &'a mut R,
    chunk_len: usize,
    look_ahead: Option<u8>,
    next: u64,
    ended: bool,
}

impl<'a, R: Read> Chunks<'a, R> {
    fn new(reader: &'a mut R, chunk_len: usize) -> Self {
        Chunks {
            reader,
            chunk_len,
            look_ahead: None,
            next: 0,
            ended: false,
        }
    }

    /// Fills `batch` with the next chunks, as many as it holds or as are
    /// left. An empty input is one empty final chunk.
    fn fill(&mut self, batch: &mut Batch, chunks: usize) -> Result<()> {
        batch.lens.clear();
        batch.first = self.next;
        batch.failed = None;
        while batch.lens.len() < chunks && !self.ended {
            let i = batch.lens.len();
            let slot = &mut batch.buf[i * SLOT_LEN..(i + 1) * SLOT_LEN];
            let mut filled = 0;
            if let Some(byte) = self.look_ahead.take() {
                slot[0] = byte;
                filled = 1;
            }
            // One byte past the chunk: if it comes, the chunk is not the last.
            filled += read_full(self.reader, &mut slot[filled..=self.chunk_len])?;
            if filled > self.chunk_len {
                self.look_ahead = Some(slot[self.chunk_len]);
                filled = self.chunk_len;
            } else {
                self.ended = true;
            }
            batch.lens.push(filled);
            self.next += 1;
        }
        batch.ends = self.ended;
        Ok(())
    }
}

/// Seals everything `reader` gives into `writer` as STREAM chunks under
/// `cipher`, with `parallelism` threads.
///
/// ```
/// use secure_kms::formats::stream::{self, Parallelism, PayloadCipher, CHUNK_CT_LEN};
///
/// let cipher = PayloadCipher::new(&[7u8; 16], &[42u8; 32])?;
/// let plain = vec![1u8; 100_000]; // a full chunk and a short one
/// let (mut one, mut two) = (Vec::new(), Vec::new());
/// stream::seal(&cipher, &mut &plain[..], &mut one, Parallelism::ONE_THREAD)?;
/// let workers = Parallelism { workers: 2, batch_chunks: 1 };
/// stream::seal(&cipher, &mut &plain[..], &mut two, workers)?;
/// assert_eq!(one, two); // the same bytes on one thread or two
/// assert_eq!(one.len(), 100_000 + 2 * 16);
///
/// let mut opened = Vec::new();
/// stream::open(&cipher, &mut &one[..], &mut opened, workers)?;
/// assert_eq!(opened, plain);
/// // Cut after the first chunk: the first chunk, read as the last, fails.
/// let cut = &one[..CHUNK_CT_LEN];
/// assert!(stream::open(&cipher, &mut &cut[..], &mut Vec::new(), workers).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`FormatError::ReadData`] or [`FormatError::WriteData`].
pub fn seal<R: Read, W: Write + Send>(
    cipher: &PayloadCipher,
    reader: &mut R,
    writer: &mut W,
    parallelism: Parallelism,
) -> Result<()> {
    let seal_batch = |batch: &mut Batch| {
        for i in 0..batch.lens.len() {
            let (n, counter) = (batch.lens[i], batch.first + i as u64);
            let (slot, last) = batch.slot(i);
            let tag = cipher.seal_chunk(counter, last, &mut slot[..n]);
            slot[n..n + TAG_LEN].copy_from_slice(&tag);
        }
    };
    let write_sealed = |writer: &mut W, batch: &Batch| {
        for (i, &n) in batch.lens.iter().enumerate() {
            // Each sealed chunk and its tag in one write.
            write(writer, &batch.buf[i * SLOT_LEN..i * SLOT_LEN + n + TAG_LEN])?;
        }
        Ok(())
    };
    run(
        reader,
        writer,
        CHUNK_LEN,
        parallelism,
        &seal_batch,
        &write_sealed,
    )
}

/// Opens the STREAM chunks `reader` gives into `writer` under `cipher`,
/// with `parallelism` threads. Each chunk is authenticated before it is
/// written; the chunks before a failing one stay written.
///
/// # Errors
/// [`FormatError::FileTampered`] naming the first chunk that fails (a
/// changed, moved, missing or added chunk, or a payload cut short);
/// [`FormatError::ReadData`] or [`FormatError::WriteData`].
pub fn open<R: Read, W: Write + Send>(
    cipher: &PayloadCipher,
    reader: &mut R,
    writer: &mut W,
    parallelism: Parallelism,
) -> Result<()> {
    let open_batch = |batch: &mut Batch| {
        for i in 0..batch.lens.len() {
            let (n, counter) = (batch.lens[i], batch.first + i as u64);
            let (slot, last) = batch.slot(i);
            // Less than a tag, or an empty final chunk after full ones
            // (which the writer never makes), fails as a changed chunk does.
            let fits = n >= TAG_LEN && !(last && n == TAG_LEN && counter > 0);
            if !fits || !cipher.open_chunk(counter, last, &mut slot[..n]) {
                batch.failed = Some(counter);
                return;
            }
        }
    };
    let write_opened = |writer: &mut W, batch: &Batch| {
        for (i, &n) in batch.lens.iter().enumerate() {
            let counter = batch.first + i as u64;
            if batch.failed == Some(counter) {
                return Err(Error::Format(FormatError::FileTampered { chunk: counter }));
            }
            write(writer, &batch.buf[i * SLOT_LEN..i * SLOT_LEN + n - TAG_LEN])?;
        }
        Ok(())
    };
    run(
        reader,
        writer,
        CHUNK_CT_LEN,
        parallelism,
        &open_batch,
        &write_opened,
    )
}

/// Reads `reader` in batches of chunks of `chunk_len` bytes, runs `process`
/// on each, and gives each to `emit` in order: on the calling thread, or
/// with worker threads when there is more than one batch and more than one
/// worker.
fn run<R: Read, W: Write + Send>(
    reader: &mut R,
    writer: &mut W,
    chunk_len: usize,
    parallelism: Parallelism,
    process: &(dyn Fn(&mut Batch) + Sync),
    emit: &(dyn Fn(&mut W, &Batch) -> Result<()> + Sync),
) -> Result<()> {
    let chunks_per_batch = parallelism.batch_chunks.max(1);
    let mut input = Chunks::new(reader, chunk_len);
    let mut batch = Batch::new(chunks_per_batch);
    input.fill(&mut batch, chunks_per_batch)?;
    if batch.ends || parallelism.workers.min(MAX_WORKERS) <= 1 {
        one_thread(
            &mut input,
            &mut *writer,
            batch,
            chunks_per_batch,
            process,
            emit,
        )?;
    } else {
        on_workers(input, &mut *writer, batch, parallelism, process, emit)?;
    }
    writer
        .flush()
        .map_err(|e| Error::Format(FormatError::WriteData(e)))
}

/// One batch after another on the calling thread: process it, write it,
/// read the next into the same buffer. `batch` is the first, read already.
fn one_thread<R: Read, W: Write>(
    input: &mut Chunks<'_, R>,
    writer: &mut W,
    mut batch: Batch,
    chunks_per_batch: usize,
    process: &(dyn Fn(&mut Batch) + Sync),
    emit: &(dyn Fn(&mut W, &Batch) -> Result<()> + Sync),
) -> Result<()> {
    loop {
        process(&mut batch);
        emit(writer, &batch)?;
        if batch.ends {
            return Ok(());
        }
        input.fill(&mut batch, chunks_per_batch)?;
    }
}

/// The pipeline of the module's picture: this thread reads, each worker
/// processes every `workers`-th batch, and a writer thread writes them in
/// order. `first` is the first batch, read already. Batches go round: the
/// writer gives each back for the reader to fill again, so no more than
/// [`Parallelism::buffered_bytes`] is ever held. A system that refuses
/// threads (a process limit) gets fewer workers, or none: then the batches
/// are done on this thread.
fn on_workers<R: Read, W: Write + Send>(
    mut input: Chunks<'_, R>,
    writer: &mut W,
    first: Batch,
    parallelism: Parallelism,
    process: &(dyn Fn(&mut Batch) + Sync),
    emit: &(dyn Fn(&mut W, &Batch) -> Result<()> + Sync),
) -> Result<()> {
    let chunks_per_batch = parallelism.batch_chunks.max(1);
    // Set by the writer when it stops on an error, so that the reader
    // stops reading too.
    let stopped = AtomicBool::new(false);
    // Leaving the scope closes the queues: the workers end, and the scope
    // waits for them, also when a thread stops on an error. A worker that
    // panics closes its queue out: the writer ends, and the scope passes
    // the panic on.
    std::thread::scope(|scope| {
        // Each worker has a queue in and a queue out; both keep their order,
        // so batch n goes to worker n % workers and comes back from it.
        let mut to_worker = Vec::new();
        let mut from_worker = Vec::new();
        for _ in 0..parallelism.workers.min(MAX_WORKERS) {
            let (send_job, jobs) = mpsc::channel::<Batch>();
            let (send_done, done) = mpsc::channel::<Batch>();
            let worker = std::thread::Builder::new().spawn_scoped(scope, move || {
                for mut batch in jobs {
                    process(&mut batch);
                    if send_done.send(batch).is_err() {
                        break; // the writer stopped on an error
                    }
                }
            });
            if worker.is_err() {
                break;
            }
            to_worker.push(send_job);
            from_worker.push(done);
        }
        let workers = to_worker.len();
        if workers == 0 {
            return one_thread(&mut input, writer, first, chunks_per_batch, process, emit);
        }
        let (give_back, given_back) = mpsc::channel::<Batch>();
        let stopped = &stopped;
        let writing = std::thread::Builder::new()
            .spawn_scoped(scope, move || -> Result<()> {
                for n in 0.. {
                    // Closed: the reader stopped on an error, which it reports.
                    let Ok(batch) = from_worker[n % workers].recv() else {
                        break;
                    };
                    if let Err(e) = emit(writer, &batch) {
                        stopped.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                    if batch.ends {
                        break;
                    }
                    let _ = give_back.send(batch);
                }
                Ok(())
            })
            .map_err(|e| Error::Format(FormatError::WriteData(e)))?;
        let reading = (|| -> Result<()> {
            let (mut batch, mut made) = (first, 1);
            for n in 0.. {
                let ends = batch.ends;
                if to_worker[n % workers].send(batch).is_err() || ends {
                    break;
                }
                // A new batch until the bound, then only those given back
                // (none if the writer stopped: its error says why).
                batch = if made < workers * IN_FLIGHT_PER_WORKER {
                    made += 1;
                    Batch::new(chunks_per_batch)
                } else {
                    match given_back.recv() {
                        Ok(batch) => batch,
                        Err(_) => break,
                    }
                };
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                input.fill(&mut batch, chunks_per_batch)?;
            }
            Ok(())
        })();
        // Closing the queues ends the workers once they are empty.
        drop(to_worker);
        let written = writing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written.and(reading)
    })
}

/// Fills `buf` from `reader` until it is full or the input ends; the number
/// of bytes read.
pub(super) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Format(FormatError::ReadData(e))),
        }
    }
    Ok(filled)
}

fn write(writer: &mut impl Write, bytes: &[u8]) -> Result<()> {
    writer
        .write_all(bytes)
        .map_err(|e| Error::Format(FormatError::WriteData(e)))
}
