//! The CRL's entries: those the list and the store say it must hold, those
//! a signed CRL holds, and their reasons and dates.

use super::*;
use crate::CaError;

/// A certificate the CRL must name: one whose key version is revoked
/// (from `revoked_keys.json`), or one withdrawn because a rotation
/// superseded its pair.
pub(super) struct Expected {
    pub(super) serial: String,
    pub(super) user: String,
    pub(super) version: String,
    pub(super) at: Timestamp,
    pub(super) reason: RevocationReason,
    /// Withdrawn by a rotation, not revoked: the key is not compromised,
    /// and stays usable for decrypting and verifying, as a deactivated key
    /// is.
    pub(super) withdrawn: bool,
}

/// What the CRL must hold: the certificate of every revoked key version,
/// and the certificate of every pair withdrawn without a revocation (see
/// [`withdrawals`]), once each.
///
/// A revoked version's serial is read from its certificate, never from
/// the list: an entry's `serial` edited to another certificate's would
/// otherwise have the CA revoke that one.
pub(super) fn expected_entries(keys: &KeyStore, revoked: &RevocationList) -> Result<Vec<Expected>> {
    let mut expected: Vec<Expected> = Vec::new();
    for e in revoked.entries() {
        let Some(serial) = revoked_certificate(keys, e)? else {
            continue;
        };
        if !expected.iter().any(|x| x.serial == serial) {
            expected.push(Expected {
                serial,
                user: e.user_id.to_string(),
                version: e.version.map_or("?".to_owned(), |v| v.to_string()),
                at: e.revoked_at,
                reason: e.reason,
                withdrawn: false,
            });
        }
    }
    for w in withdrawals(keys, None)? {
        if !expected.iter().any(|x| x.serial == w.serial) {
            expected.push(w);
        }
    }
    Ok(expected)
}

/// The certificates this CA signed for other stores (`cert sign`) and
/// revoked since (`cert revoke`), as the log's `cert_revoked` lines hold
/// them: the CRL lists them too, though no pair of this store carries them.
pub(super) fn revoked_for_other_stores(history: &CaHistory) -> Vec<Expected> {
    history
        .signed_requests
        .iter()
        .filter(|e| e.event.event == EventKind::CertRevoked)
        .filter_map(|e| {
            Some(Expected {
                serial: e.event.serial.clone()?,
                user: "another store's user".to_owned(),
                version: "-".to_owned(),
                at: e.time,
                reason: e.event.reason.unwrap_or_default(),
                withdrawn: false,
            })
        })
        .collect()
}

/// The serial of the certificate of the key version that `entry` revokes
/// (the user and version it names, whose key IDs it holds), if that pair
/// has one.
pub(super) fn revoked_certificate(
    keys: &KeyStore,
    entry: &crate::revocation::Revocation,
) -> Result<Option<String>> {
    let Some(record) = keys.get(&entry.user_id)? else {
        return Ok(None);
    };
    Ok(crate::keys::keyring::versions(record)
        .into_iter()
        .filter(|v| entry.version.is_none_or(|n| n == v.version))
        .find(|v| entry.revokes(&entry.user_id, v))
        .and_then(|v| v.asymmetric.and_then(AsymmetricVersion::certificate_serial)))
}

/// The certificates withdrawn without a revocation, of `user` or of
/// everyone: the certificate of each pair a rotation superseded (reason
/// superseded, dated when the next pair was made) and of each pair whose
/// private key was destroyed (reason cessationOfOperation, dated then).
pub(super) fn withdrawals(
    keys: &KeyStore,
    user: Option<&crate::util::user::UserId>,
) -> Result<Vec<Expected>> {
    let ids: Vec<String> = match user {
        Some(user) => vec![user.to_string()],
        None => keys.user_ids().map(str::to_owned).collect(),
    };
    let mut found = Vec::new();
    for id in ids {
        let Some(record) = keys.get(&crate::util::user::UserId::new(&id)?)? else {
            continue;
        };
        for (i, pair) in record.asymmetric.iter().enumerate() {
            let Some(serial) = pair.certificate_serial() else {
                continue;
            };
            let (reason, at) = match (pair.destroyed_at, record.asymmetric.get(i + 1)) {
                (Some(at), _) => (RevocationReason::CessationOfOperation, at),
                (None, Some(next)) => (RevocationReason::Superseded, next.created),
                (None, None) => continue,
            };
            found.push(Expected {
                serial,
                user: id.clone(),
                version: pair.version.to_string(),
                at,
                reason,
                withdrawn: true,
            });
        }
    }
    Ok(found)
}

/// One CRL entry per certificate: its serial, the revocation's time and
/// its reason code.
pub(super) fn revoked_certificates(expected: &[Expected]) -> Result<Vec<RevokedCert>> {
    expected
        .iter()
        .map(|entry| {
            let bytes = base16ct::mixed::decode_vec(&entry.serial).map_err(|_| {
                Error::Ca(CaError::CrlBroken(format!(
                    "serial {:?} is not hex",
                    entry.serial
                )))
            })?;
            let reason: Extension = reason_code(entry.reason)
                .to_extension(&Default::default(), &[])
                .map_err(x509_error)?;
            let mut extensions = vec![reason];
            // A revoked key's certificate carries invalidityDate, the
            // revocation's time; a rotation's withdrawal does not (no key
            // became invalid). The CA signs the difference, so no edit to
            // the store can pass a revocation off as a withdrawal.
            if !entry.withdrawn {
                let date =
                    GeneralizedTime::from_unix_duration(Duration::from_secs(entry.at.whole_secs()))
                        .map_err(x509_error)?;
                extensions.push(Extension {
                    extn_id: INVALIDITY_DATE,
                    critical: false,
                    extn_value: OctetString::new(date.to_der().map_err(x509_error)?)
                        .map_err(x509_error)?,
                });
            }
            Ok(RevokedCert {
                serial_number: SerialNumber::new(&bytes).map_err(x509_error)?,
                revocation_date: x509_time(entry.at)?,
                crl_entry_extensions: Some(extensions),
            })
        })
        .collect()
}

/// The entries of a signed CRL, as [`Expected`] (with no user or version:
/// the CRL names only serials).
pub(super) fn signed_entries(pem: &str) -> Result<Vec<Expected>> {
    let crl: CertificateList = CertificateList::from_pem(pem.as_bytes()).map_err(x509_error)?;
    Ok(crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|entry| Expected {
            serial: crate::util::fingerprint::hex(entry.serial_number.as_bytes()),
            user: "?".to_owned(),
            version: "?".to_owned(),
            at: crate::util::time::Timestamp::from_duration(
                entry.revocation_date.to_unix_duration(),
            ),
            reason: entry_reason(entry),
            withdrawn: !is_revocation(entry),
        })
        .collect())
}

/// A CRL entry's reason code, as a revocation reason.
pub(super) fn entry_reason(entry: &RevokedCert) -> RevocationReason {
    extension::<CrlReason>(entry.crl_entry_extensions.as_deref())
        .map_or(RevocationReason::Unspecified, reason_of)
}

/// Whether a CRL entry revokes a key (it carries invalidityDate), rather
/// than withdraw a certificate a rotation superseded.
pub(super) fn is_revocation(entry: &RevokedCert) -> bool {
    entry
        .crl_entry_extensions
        .iter()
        .flatten()
        .any(|e| e.extn_id == INVALIDITY_DATE)
}

/// id-ce-invalidityDate (RFC 5280 section 5.3.2).
pub(super) const INVALIDITY_DATE: x509_cert::der::oid::ObjectIdentifier =
    x509_cert::der::oid::db::rfc5280::ID_CE_INVALIDITY_DATE;

/// The CRL reason code of a revocation reason (RFC 5280 section 5.3.1).
pub fn reason_code(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
    }
}

pub(super) fn parse_time(rfc3339: &str) -> Timestamp {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(Timestamp::EPOCH, Timestamp::from_duration)
}

/// The revocation reason of a CRL reason code; codes with no counterpart
/// (certificateHold, and the CA's own) as unspecified.
fn reason_of(code: CrlReason) -> RevocationReason {
    match code {
        CrlReason::KeyCompromise => RevocationReason::KeyCompromise,
        CrlReason::AffiliationChanged => RevocationReason::AffiliationChanged,
        CrlReason::Superseded => RevocationReason::Superseded,
        CrlReason::CessationOfOperation => RevocationReason::CessationOfOperation,
        CrlReason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        _ => RevocationReason::Unspecified,
    }
}
