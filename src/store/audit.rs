//! The audit log, `audit.log` in the store folder: one JSON line per event
//! (keys created, rotated, revoked, destroyed, exported; a password that
//! failed), each holding the SHA-256 of the line before it.
//!
//! The lines form a hash chain, as in Certificate Transparency's logs or
//! git's commits: editing, removing, inserting or reordering a line breaks
//! the link to the line after it, and [`verify`] names the first line where
//! that happens. A chain does not stop someone who rewrites every line
//! after the one they edit, or who cuts lines off the end. [`cross_check`]
//! narrows the second: every key version, revocation and destruction this
//! version of secure-kms made must have its event, and every revocation or
//! destruction the log records must still be in the store. No secret is
//! ever written here: only user IDs, versions, key fingerprints, reasons
//! and times.
//!
//! Lines are appended under the store's lock, in the same step as the
//! change they record ([`crate::store::Store::update`]).

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::keys::KeyStore;
use crate::keys::keyring::versions;
use crate::revocation::{RevocationList, RevocationReason};
use crate::util::fingerprint::Fingerprint;
use crate::util::fingerprint::sha256_hex;
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{Error, Result, StoreError};

mod cross_check;
mod history;

pub use cross_check::{CrossCheck, cross_check};
pub(crate) use history::{CaHistory, ca_history, user_history};

/// The audit log's file name in the store folder.
pub const AUDIT_FILE: &str = "audit.log";

/// What the `prev` field of the first line holds: there is no line before.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The kinds of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A user's first keys were made.
    Created,
    /// A new key version was made and became the primary.
    Rotated,
    /// A version was put on the revocation list.
    Revoked,
    /// A version's key material was erased.
    Destroyed,
    /// A key left the store in a file.
    Exported,
    /// A password did not unlock a user's keys.
    AuthenticationFailed,
    /// The store's CA issued a certificate for a version's RSA pair.
    Certified,
    /// The store's certificate authority was made (`ca init`).
    CaCreated,
    /// The CA signed a new CRL; the event holds its cRLNumber, and a CRL
    /// older than the newest one logged is refused as a replay.
    CrlSigned,
    /// Another CA's root became a trust anchor of the store (`ca trust`);
    /// the event holds the SHA-256 of its DER, its fingerprint.
    Trusted,
    /// A trust anchor was removed (`ca untrust`).
    Untrusted,
    /// The CA signed a certificate from a request of another store (`cert
    /// sign`): the event holds the certified key's ID and the
    /// certificate's SHA-256.
    CertSigned,
    /// The CA revoked a certificate it signed from a request (`cert
    /// revoke`): the event holds its serial and the reason; the CRL lists
    /// it from then on.
    CertRevoked,
    /// The CRL of a root the store trusts was imported (`crl import`): the
    /// event holds its cRLNumber, its SHA-256, and the root's key ID; an
    /// older one from that root is refused after it.
    CrlImported,
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or_default())
    }
}

/// One event, before it is numbered and chained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub event: EventKind,
    /// To whose keys; empty for the CA's own events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Which key version, where one is concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The symmetric key's ID (its SHA-256), where one is concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetric_fingerprint: Option<Fingerprint>,
    /// The RSA key pair's ID (its public key's SHA-256), where one is concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_fingerprint: Option<Fingerprint>,
    /// Why, for a revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RevocationReason>,
    /// A CRL's cRLNumber, for `crl_signed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_number: Option<u64>,
    /// SHA-256 (hex) of the file the event wrote, as `sha256sum` prints
    /// it: `ca_root.pem` for `ca_created`, `crl.pem` for `crl_signed`; for
    /// `trusted` and `untrusted`, of the root's DER (its fingerprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    /// A certificate's serial number (hex), for `cert_signed` and
    /// `cert_revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The user ID a certificate signed for another store names (its CN),
    /// for `cert_signed`; kept apart from `user`, which names users of
    /// this store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The command or step that caused it (`keygen`, `session`, ...).
    pub command: String,
}

impl Event {
    /// An event about `user`'s keys as a whole.
    pub fn new(event: EventKind, user: &UserId, command: &str) -> Self {
        Event {
            event,
            user: user.to_string(),
            version: None,
            symmetric_fingerprint: None,
            public_key_fingerprint: None,
            reason: None,
            crl_number: None,
            file_sha256: None,
            serial: None,
            subject: None,
            command: command.to_owned(),
        }
    }

    /// An event of the store's certificate authority, about the file it
    /// wrote (`contents`).
    pub(crate) fn for_ca(event: EventKind, contents: &[u8], command: &str) -> Self {
        Event {
            event,
            user: String::new(),
            version: None,
            symmetric_fingerprint: None,
            public_key_fingerprint: None,
            reason: None,
            crl_number: None,
            file_sha256: Some(sha256_hex(contents)),
            serial: None,
            subject: None,
            command: command.to_owned(),
        }
    }

    /// The same event about one key version, with its key IDs.
    pub fn for_version(
        mut self,
        version: u32,
        symmetric_fingerprint: Option<&Fingerprint>,
        public_key_fingerprint: Option<&Fingerprint>,
    ) -> Self {
        self.version = Some(version);
        self.symmetric_fingerprint = symmetric_fingerprint.cloned();
        self.public_key_fingerprint = public_key_fingerprint.cloned();
        self
    }
}

/// One line of `audit.log`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1 for the first line, then one more on each line.
    pub seq: u64,
    /// When, in seconds since the epoch.
    pub time: Timestamp,
    /// When, as RFC 3339 UTC, for people reading the file.
    pub time_utc: String,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// SHA-256 (hex) of the previous line's bytes, without its newline;
    /// [`GENESIS`] on the first line.
    pub prev: String,
}

/// The log, read and checked, ready to take the next lines.
///
/// A change to the store opens it before writing anything, so that a broken
/// log refuses the change (as HashiCorp Vault refuses requests it cannot
/// audit) instead of chaining new lines to a broken one.
pub(crate) struct Appender {
    /// The log's length in bytes when read.
    length: u64,
    seq: u64,
    prev: String,
    /// The time every line of this append carries: taken when the log is
    /// opened, before the change, so that a key made by the change is never
    /// older than the event that records it.
    opened_at: Timestamp,
}

impl Appender {
    /// Reads the log in `dir` and checks its chain.
    ///
    /// # Errors
    /// [`StoreError::AuditBroken`], with what to do; [`StoreError::SymbolicLink`];
    /// [`UtilError::Io`](crate::UtilError::Io).
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let existing = read_log(dir)?;
        let seq = checked_links(dir, &existing).map_err(with_advice)?;
        let prev = match last_line(&existing) {
            Some(line) if seq > 0 => sha256_hex(line),
            _ => GENESIS.to_owned(),
        };
        Ok(Appender {
            length: existing.len() as u64,
            seq,
            prev,
            opened_at: time::now(),
        })
    }

    /// The log's length in bytes when it was read.
    pub(crate) fn length(&self) -> u64 {
        self.length
    }

    /// The lines that record `events`, chained to the last line, for the
    /// store's journal to append.
    pub(crate) fn render(mut self, events: &[Event]) -> String {
        let mut text = String::new();
        let now = self.opened_at;
        for event in events {
            self.seq += 1;
            let entry = Entry {
                seq: self.seq,
                time: now,
                time_utc: time::format(now),
                event: event.clone(),
                prev: std::mem::take(&mut self.prev),
            };
            let line = serde_json::to_string(&entry).expect("audit entries always serialise");
            self.prev = sha256_hex(line.as_bytes());
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

fn last_line(bytes: &[u8]) -> Option<&[u8]> {
    bytes
        .strip_suffix(b"\n")
        .unwrap_or(bytes)
        .split(|&b| b == b'\n')
        .next_back()
        .filter(|l| !l.is_empty())
}

/// Reads the log in `dir` (empty if there is none), checking the chain.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(secure_kms::store::audit::verify(dir.path())?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreError::AuditBroken`] naming the first line that is not the one the
/// chain expects, and why; [`UtilError::Io`](crate::UtilError::Io) if the file cannot be read.
pub fn verify(dir: &Path) -> Result<Vec<Entry>> {
    check_chain(&read_log(dir)?)
}

/// The log's bytes; none if there is no log. A command reads it at most
/// once: the CA's history, a user's history and a change's appender all
/// need it, and a second read takes the first if the file is unchanged
/// (see [`LogRead`]).
fn read_log(dir: &Path) -> Result<Arc<Vec<u8>>> {
    let path = dir.join(AUDIT_FILE);
    let Some(file) = crate::store::safe_file::open_read(&path)? else {
        return Ok(Arc::default());
    };
    let identity = crate::store::safe_file::FileIdentity::of(
        &file.metadata().map_err(Error::io("read", &path))?,
    );
    let mut last = LAST_LOG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(read) = last.as_ref()
        && read.path == path
        && read.identity == identity
    {
        return Ok(Arc::clone(&read.bytes));
    }
    let bytes = Arc::new(crate::store::safe_file::read_open(
        &file,
        &path,
        crate::store::safe_file::MAX_STORE_FILE,
    )?);
    *last = Some(LogRead {
        path,
        identity,
        _open: file,
        bytes: Arc::clone(&bytes),
        links: None,
    });
    Ok(bytes)
}

/// A broken chain's error, with what it stops and what to do: a change
/// that cannot be logged is not made, and a key the log cannot vouch for
/// is not used.
fn with_advice(e: Error) -> Error {
    match e {
        Error::Store(StoreError::AuditBroken { line, problem }) => {
            Error::Store(StoreError::AuditBroken {
                line,
                problem: format!(
                    "{problem}; no change is made while the log cannot record it, and no key it vouches for is used (keep the file as evidence, and restore a good copy from a backup; moving it aside starts a new log, but the keys made before it are then refused until the old log is back)"
                ),
            })
        }
        other => other,
    }
}

/// [`check_links`] on the log as [`read_log`] read it, once per read.
fn checked_links(dir: &Path, bytes: &Arc<Vec<u8>>) -> Result<u64> {
    let cached = |last: &Option<LogRead>| {
        last.as_ref()
            .filter(|r| r.path == dir.join(AUDIT_FILE) && Arc::ptr_eq(&r.bytes, bytes))
            .and_then(|r| r.links)
    };
    if let Some(lines) = cached(&LAST_LOG.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(lines);
    }
    let lines = check_links(bytes)?;
    if let Some(read) = LAST_LOG
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
        .filter(|r| Arc::ptr_eq(&r.bytes, bytes))
    {
        read.links = Some(lines);
    }
    Ok(lines)
}

/// `audit.log` as this process last read it, with the file kept open (so
/// that its inode number cannot be given to another file) and whether its
/// links were checked. secure-kms never rewrites the log in place but to
/// append or cut it, which changes its size and times: the same inode with
/// the same size and times is the same text.
struct LogRead {
    path: std::path::PathBuf,
    identity: crate::store::safe_file::FileIdentity,
    _open: std::fs::File,
    bytes: Arc<Vec<u8>>,
    links: Option<u64>,
}

static LAST_LOG: Mutex<Option<LogRead>> = Mutex::new(None);

/// The chain check of [`verify`], on the file's bytes.
pub(crate) fn check_chain(bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    walk_chain(bytes, |raw| {
        let entry: Entry = serde_json::from_slice(raw)?;
        let link = Link {
            seq: entry.seq,
            prev: entry.prev.clone(),
        };
        entries.push(entry);
        Ok(link)
    })?;
    Ok(entries)
}

/// What chains one line to the one before it.
#[derive(Deserialize)]
struct Link {
    seq: u64,
    prev: String,
}

/// The chain check a change makes before it appends: every line's number
/// and hash link, as [`check_chain`], with only the last line read whole
/// (the lines before it are vouched for by the hashes that follow them).
/// Reading each line as an event costs most of the check, and a change
/// makes it on every run: [`verify`] reads them all. The last line's
/// number, 0 for an empty log.
fn check_links(bytes: &[u8]) -> Result<u64> {
    let lines = walk_chain(bytes, |raw| match link_as_written(raw) {
        Some(link) => Ok(link),
        None => serde_json::from_slice::<Link>(raw),
    })?;
    if let Some(line) = last_line(bytes) {
        serde_json::from_slice::<Entry>(line).map_err(|e| {
            Error::Store(StoreError::AuditBroken {
                line: lines,
                problem: format!("it is not an audit event ({e}): edited, or cut short"),
            })
        })?;
    }
    Ok(lines as u64)
}

/// A line's link read straight from the layout secure-kms writes, which
/// begins `{"seq":N,` and ends `"prev":"<64 hex digits>"}`; `None` for any
/// other layout, which is then parsed as JSON. Parsing every field of
/// 10,000 lines was most of a link check. Whatever is read here is
/// vouched for by the chain itself: the line's bytes are hashed whole, and
/// the next line (or, for the last one, a full parse) checks them.
fn link_as_written(raw: &[u8]) -> Option<Link> {
    let rest = raw.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || rest.get(digits) != Some(&b',') {
        return None;
    }
    let seq = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let head = raw.strip_suffix(b"\"}")?;
    let (head, prev) = head.split_at_checked(head.len().checked_sub(64)?)?;
    if !head.ends_with(b",\"prev\":\"")
        || !prev.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    Some(Link {
        seq,
        prev: String::from_utf8(prev.to_vec()).ok()?,
    })
}

/// Walks the log's lines, reading each with `read`, and checks that they
/// are numbered 1, 2, 3... and that each holds the SHA-256 of the one
/// before. The number of lines.
fn walk_chain(
    bytes: &[u8],
    mut read: impl FnMut(&[u8]) -> serde_json::Result<Link>,
) -> Result<usize> {
    let broken =
        |line: usize, problem: String| Error::Store(StoreError::AuditBroken { line, problem });
    let body = match bytes.strip_suffix(b"\n") {
        Some(body) => body,
        None if bytes.is_empty() => return Ok(0),
        None => {
            let line = bytes.split(|&b| b == b'\n').count();
            return Err(broken(
                line,
                "the file does not end with a complete line: it was cut short".to_owned(),
            ));
        }
    };
    // The previous line's SHA-256 in hex, on the stack: no allocation per
    // line.
    let mut prev_hash = [b'0'; 64];
    let mut lines = 0;
    // Lines found with memchr: a byte-by-byte split was a third of the walk.
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for (i, end) in ends.enumerate() {
        let raw = &body[start..end];
        start = end + 1;
        let n = i + 1;
        let link = read(raw).map_err(|e| {
            broken(
                n,
                format!("it is not an audit event ({e}): edited, or cut short"),
            )
        })?;
        if link.seq != n as u64 {
            let why = if link.seq > n as u64 {
                "a line before it was removed, or lines were reordered"
            } else {
                "a line was inserted before it, or lines were reordered"
            };
            return Err(broken(
                n,
                format!(
                    "it holds event number {} where {n} was due: {why}",
                    link.seq
                ),
            ));
        }
        if n == 1 && link.prev != GENESIS {
            return Err(broken(
                1,
                "it does not start a chain (its prev is not 64 zeros): lines before it were removed, or it was edited".to_owned(),
            ));
        }
        if link.prev.as_bytes() != prev_hash {
            // The numbering is intact, so the line above changed after this
            // one recorded its hash, or this line's `prev` was edited: the
            // chain cannot tell which, and says so.
            return Err(broken(
                n - 1,
                format!(
                    "its SHA-256 is no longer the one line {n} recorded: line {} was edited (or the prev field of line {n})",
                    n - 1
                ),
            ));
        }
        let digest: [u8; 32] = sha2::Sha256::digest(raw).into();
        base16ct::lower::encode(&digest, &mut prev_hash).expect("64 hex digits for 32 bytes");
        lines = n;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
