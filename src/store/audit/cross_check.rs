//! `audit --verify`'s second half: the log and the store's files must
//! agree on every version, revocation and destruction.

use super::*;
use crate::StoreError;

/// Checks the log's `entries` against the store: each change in the store
/// that secure-kms logs must have its event, and each revocation or
/// destruction in the log must still hold in the store. Changes older than
/// the log's first line are not expected in it (a log moved aside starts a
/// new one), nor are keys migrated from format 1, which predate logging.
///
/// # Errors
/// [`StoreError::AuditDisagrees`], saying which change is missing where.
pub fn cross_check(
    entries: &[Entry],
    keys: &KeyStore,
    revoked: &RevocationList,
) -> Result<CrossCheck> {
    let has = |kinds: &[EventKind], user: &str, version: u32| {
        entries.iter().any(|e| {
            kinds.contains(&e.event.event)
                && e.event.user == user
                && e.event.version == Some(version)
        })
    };
    let log_start = entries
        .first()
        .map_or(Timestamp::from_secs(f64::INFINITY), |e| e.time);
    // Every change the log should hold but does not, with its time; the
    // earliest is reported, as where the log stops telling the truth.
    let mut missing: Vec<(Timestamp, String)> = Vec::new();
    let mut unchecked_versions = 0;
    for id in keys.user_ids() {
        let user_id = UserId::new(id)?;
        let record = keys.get(&user_id)?.expect("listed");
        for v in versions(record) {
            let logged_era = v.is_logged();
            if logged_era && entries.is_empty() {
                return Err(Error::Store(StoreError::AuditDisagrees(format!(
                    "audit.log is missing or empty, but version {} of {id} was made at {} by a secure-kms that logs every change: the log was deleted or replaced; restore it from a backup",
                    v.version,
                    time::format(v.created())
                ))));
            }
            if logged_era && v.created() < log_start {
                // Whoever deletes the log and makes one change gets a new
                // log that vouches for nothing before it: that is refused,
                // as every command that uses the user's keys refuses it.
                return Err(Error::Store(StoreError::AuditDisagrees(format!(
                    "audit.log starts at {}, after version {} of {id} was made at {} by a secure-kms that logs every change: the log's earlier lines were deleted or the log replaced; restore it from a backup",
                    time::format(log_start),
                    v.version,
                    time::format(v.created())
                ))));
            }
            if v.created() < log_start {
                unchecked_versions += 1;
            }
            if logged_era
                && v.created() >= log_start
                && !has(&[EventKind::Created, EventKind::Rotated], id, v.version)
            {
                missing.push((
                    v.created(),
                    format!(
                        "version {} of {id}, made at {},",
                        v.version,
                        time::format(v.created())
                    ),
                ));
            }
            if let Some(at) = v.destroyed_at()
                && at >= log_start
                && !has(&[EventKind::Destroyed], id, v.version)
            {
                missing.push((
                    at,
                    format!(
                        "the destruction of version {} of {id} at {}",
                        v.version,
                        time::format(at)
                    ),
                ));
            }
            if let Some(r) = revoked.find(&user_id, &v)
                && r.revoked_at >= log_start
                && !has(&[EventKind::Revoked], id, v.version)
            {
                missing.push((
                    r.revoked_at,
                    format!(
                        "the revocation of version {} of {id} at {}",
                        v.version,
                        r.revoked_at_text()
                    ),
                ));
            }
        }
    }
    if let Some((_, what)) = missing.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)) {
        return Err(Error::Store(StoreError::AuditDisagrees(format!(
            "{what} has no event in audit.log: lines were removed from its end, or the log was replaced"
        ))));
    }
    for e in entries {
        let (Some(version), Ok(user_id)) = (e.event.version, UserId::new(&e.event.user)) else {
            continue;
        };
        let record = keys.get(&user_id)?;
        let found = record.and_then(|r| versions(r).into_iter().find(|v| v.version == version));
        let undone = match e.event.event {
            EventKind::Revoked => found.is_none_or(|v| revoked.find(&user_id, &v).is_none()),
            EventKind::Destroyed => found.is_none_or(|v| v.has_material()),
            // A version the log saw made must still be there, with its key:
            // a store rolled back to before a rotation would bring an old
            // version back into use.
            EventKind::Created | EventKind::Rotated => found.is_none(),
            _ => false,
        };
        // Each key ID the log gives a version must still be that version's:
        // a public key swapped in key_store.json (with its fingerprint, so
        // that the file is consistent) would pass for the user's.
        let differs = |logged: &Option<Fingerprint>, stored: Option<&Fingerprint>| {
            logged.is_some() && stored != logged.as_ref()
        };
        if let Some(v) = &found
            && (differs(&e.event.symmetric_fingerprint, v.symmetric_fingerprint())
                || differs(&e.event.public_key_fingerprint, v.public_key_fingerprint()))
        {
            return Err(Error::Store(StoreError::AuditDisagrees(format!(
                "line {} records version {version} of {} with other key IDs than key_store.json holds: a key in key_store.json was replaced",
                e.seq, e.event.user
            ))));
        }
        if undone {
            return Err(Error::Store(StoreError::AuditDisagrees(format!(
                "line {} records that version {version} of {} was {} at {}, but the store says otherwise: revoked_keys.json or key_store.json was edited or rolled back",
                e.seq, e.event.user, e.event.event, e.time_utc
            ))));
        }
    }
    Ok(CrossCheck {
        log_started: entries.first().map(|e| e.time),
        unchecked_versions,
    })
}

/// What [`cross_check`] could not check, for `audit --verify` to say.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CrossCheck {
    /// When the log's first line was written (RFC 3339 UTC in JSON output).
    #[serde(serialize_with = "crate::util::time::serialize_rfc3339_optional")]
    pub log_started: Option<Timestamp>,
    /// Key versions made before that, which the log cannot vouch for: from
    /// before logging, or from before a log that was moved aside (or
    /// deleted: a log that starts late is worth a look).
    pub unchecked_versions: usize,
}
