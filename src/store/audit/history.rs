//! What the log records of the CA and of one user: the lines a key use is
//! checked against, found without parsing every line.

use super::*;
use crate::StoreError;

/// What the log records of the store's certificate authority: its newest
/// `ca_created` line (the root's SHA-256), and the `crl_signed` line with
/// the highest cRLNumber since. The CA's files must be that root, and
/// `crl.pem` that CRL or a newer one: a deleted or replaced CA, and an
/// older CRL put back (a replay, which its signature alone cannot tell) or
/// a deleted one, are refused ([`crate::ca::crl`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct CaHistory {
    /// The newest `ca_created` line.
    pub created: Option<Entry>,
    /// The `crl_signed` line with the highest number after it.
    pub newest_crl: Option<Entry>,
    /// The first line of any of the CA's kinds (`ca_created`,
    /// `crl_signed`, `certified`, `trusted`, `untrusted`): a log that has
    /// one belongs to a store with a CA or trust anchors, even if the line
    /// that made them was moved aside with an older log.
    pub first_line: Option<u64>,
    /// The `trusted` and `untrusted` lines, oldest first: the roots the
    /// store trusts are those trusted and not untrusted since.
    pub anchors: Vec<Entry>,
    /// The `crl_imported` lines, oldest first.
    pub crl_imports: Vec<Entry>,
    /// The `cert_signed` and `cert_revoked` lines since the newest
    /// `ca_created`, oldest first: the certificates this CA signed for
    /// other stores, and those it revoked.
    pub signed_requests: Vec<Entry>,
}

/// Reads [`CaHistory`] from the log in `dir`. A log with no CA line is
/// only searched; one with CA lines (`ca_created`, `crl_signed`,
/// `certified`) has its chain links checked first, so that no line before
/// the last can be edited to hide a CRL or a CA.
///
/// # Errors
/// [`StoreError::AuditBroken`] for a broken chain; [`UtilError::Io`](crate::UtilError::Io).
pub(crate) fn ca_history(dir: &Path) -> Result<CaHistory> {
    let bytes = read_log(dir)?;
    // The CA's words, found however the line around them is spaced; a
    // log that holds any is read only once its chain links hold, so that
    // a CA line cannot be edited into another event unseen (but for the
    // last line, which no chain protects).
    // (`trusted` is found inside `untrusted` too.)
    let markers: [&[u8]; 7] = [
        b"ca_created",
        b"crl_signed",
        b"certified",
        b"trusted",
        b"cert_signed",
        b"cert_revoked",
        b"crl_imported",
    ];
    let mut found = markers
        .iter()
        .flat_map(|m| memchr::memmem::find_iter(&bytes, m))
        .peekable();
    if found.peek().is_none() {
        return Ok(CaHistory::default());
    }
    checked_links(dir, &bytes)?;
    let entries: Vec<Entry> = found
        .filter_map(|at| {
            let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
            serde_json::from_slice::<Entry>(&bytes[start..end]).ok()
        })
        .collect();
    let mut entries: Vec<Entry> = entries
        .into_iter()
        // A user may be called `trusted`: only the CA's own kinds count.
        .filter(|e| {
            matches!(
                e.event.event,
                EventKind::CaCreated
                    | EventKind::CrlSigned
                    | EventKind::Certified
                    | EventKind::CertSigned
                    | EventKind::CertRevoked
                    | EventKind::CrlImported
                    | EventKind::Trusted
                    | EventKind::Untrusted
            )
        })
        .collect();
    // A line holding two markers is found twice.
    entries.sort_by_key(|e| e.seq);
    entries.dedup_by_key(|e| e.seq);
    let first_line = entries.iter().map(|e| e.seq).min();
    let anchors = entries
        .iter()
        .filter(|e| matches!(e.event.event, EventKind::Trusted | EventKind::Untrusted))
        .cloned()
        .collect();
    let crl_imports = entries
        .iter()
        .filter(|e| e.event.event == EventKind::CrlImported)
        .cloned()
        .collect();
    let made = entries
        .iter()
        .filter(|e| e.event.event == EventKind::CaCreated)
        .map(|e| e.seq)
        .max()
        .unwrap_or(0);
    let signed_requests = entries
        .iter()
        .filter(|e| {
            matches!(
                e.event.event,
                EventKind::CertSigned | EventKind::CertRevoked
            ) && e.seq > made
        })
        .cloned()
        .collect();
    let created = entries
        .iter()
        .filter(|e| e.event.event == EventKind::CaCreated)
        .max_by_key(|e| e.seq)
        .cloned();
    let signed: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.event.event == EventKind::CrlSigned)
        .collect();
    let since = created.as_ref().map_or(0, |e| e.seq);
    let newest_crl = signed
        .into_iter()
        .filter(|e| {
            e.event.event == EventKind::CrlSigned && e.event.crl_number.is_some() && e.seq > since
        })
        .max_by_key(|e| e.event.crl_number);
    Ok(CaHistory {
        created,
        newest_crl,
        first_line,
        anchors,
        crl_imports,
        signed_requests,
    })
}

/// What the log records of one user: every line that names them, in
/// order, and when the log's first line was written.
#[derive(Clone, Debug, Default)]
pub(crate) struct UserHistory {
    /// The first line's time; `None` for a missing or empty log.
    pub started: Option<Timestamp>,
    /// The lines about the user.
    pub entries: Vec<Entry>,
}

/// Reads [`UserHistory`] for `user` from the log in `dir`: the lines that
/// name the user are found by the quoted ID (a user ID never needs JSON
/// escaping) and only they are read as events, so a 10,000-user log costs
/// a search, not a parse. When the user has lines, the chain's links are
/// checked first, so that none of them can be edited unseen (but for the
/// last line, which no chain protects).
///
/// # Errors
/// [`StoreError::AuditBroken`] for a broken chain or a first line that is not an
/// event; [`UtilError::Io`](crate::UtilError::Io).
pub(crate) fn user_history(dir: &Path, user: &UserId) -> Result<UserHistory> {
    let bytes = read_log(dir)?;
    let Some(first) = bytes
        .split(|&b| b == b'\n')
        .next()
        .filter(|l| !l.is_empty())
    else {
        return Ok(UserHistory::default());
    };
    let started = serde_json::from_slice::<Entry>(first)
        .map_err(|e| {
            Error::Store(StoreError::AuditBroken {
                line: 1,
                problem: format!("it is not an audit event ({e}): edited, or cut short"),
            })
        })?
        .time;
    let needle = format!("\"{user}\"");
    let mut starts: Vec<usize> = Vec::new();
    for at in memchr::memmem::find_iter(&bytes, needle.as_bytes()) {
        let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        if starts.last() != Some(&start) {
            starts.push(start);
        }
    }
    if !starts.is_empty() {
        checked_links(dir, &bytes).map_err(with_advice)?;
    }
    let entries = starts
        .into_iter()
        .filter_map(|start| {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            serde_json::from_slice::<Entry>(&bytes[start..end]).ok()
        })
        .filter(|e| e.event.user == user.as_str())
        .collect();
    Ok(UserHistory {
        started: Some(started),
        entries,
    })
}
