//! The revocations that only the signed CRL still records: a certificate
//! it revokes stays revoked, even if its entry left `revoked_keys.json`.

use super::entries::{entry_reason, is_revocation};
use super::*;
use crate::CaError;

/// Adds to `revoked` an entry for each certificate the CA's CRL revokes
/// and `revoked` does not list (one removed from `revoked_keys.json` by
/// hand): the key version that certificate is for, with the CRL's date and
/// reason. A certificate the CRL withdraws because a rotation superseded
/// its pair revokes nothing. Nothing happens without a CA or a CRL. Only
/// for a CRL entry that the list does not name are all records read, to
/// find the certificate.
///
/// # Errors
/// [`CaError::CrlBroken`] for a CRL that does not verify: every command
/// stops until it is looked at (move it aside, and an administrator signs
/// a new one); as [`crate::keys::KeyStore::get`].
pub(crate) fn add_signed_revocations(
    store: &Store,
    keys: &crate::keys::KeyStore,
    revoked: &mut RevocationList,
    read: AttachedRead,
) -> Result<()> {
    if read == AttachedRead::New {
        return Ok(());
    }
    let Some((ca, history)) = ca_state(store, read)? else {
        return Ok(());
    };
    let Some((_, pem)) = current(store, &ca, &history, read)? else {
        return Ok(());
    };
    let crl: CertificateList = CertificateList::from_pem(pem.as_bytes()).map_err(x509_error)?;
    let mut all_certificates: Option<Vec<(String, u32, String)>> = None;
    // Certificates signed for other stores: no pair here carries them.
    let elsewhere: BTreeSet<String> = super::entries::revoked_for_other_stores(&history)
        .into_iter()
        .map(|e| e.serial)
        .collect();
    for entry in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
        let serial = crate::util::fingerprint::hex(entry.serial_number.as_bytes());
        if elsewhere.contains(&serial) {
            continue;
        }
        // The fast path: a list entry with this serial that revokes the
        // very version whose certificate carries it. An entry whose user,
        // version or key IDs were edited does not count.
        if listed_for_its_certificate(keys, revoked, &serial)? {
            continue;
        }
        // A withdrawal (no invalidityDate, which the CA puts on every
        // revocation; superseded or cessationOfOperation) revokes nothing:
        // no need to find its pair, which would mean reading every record
        // on every command. (`crl verify` checks it against the store.)
        if !is_revocation(entry)
            && matches!(
                entry_reason(entry),
                RevocationReason::Superseded | RevocationReason::CessationOfOperation
            )
        {
            continue;
        }
        // Otherwise find the certificate among every record (read once).
        if all_certificates.is_none() {
            all_certificates = Some(certificates(keys)?);
        }
        let (user, version) = all_certificates
            .as_ref()
            .expect("just read")
            .iter()
            .find(|(_, _, s)| *s == serial)
            .map(|(user, version, _)| (user.clone(), *version))
            .ok_or_else(|| {
                Error::Ca(CaError::CrlDisagrees(format!(
                    "the CRL revokes certificate {serial}, which no key pair in key_store.json carries any more: its certificate was removed or replaced by hand, and no key is used until that is resolved"
                )))
            })?;
        let user_id = crate::util::user::UserId::new(&user)?;
        let record = keys.get(&user_id)?.expect("listed");
        let version = crate::keys::keyring::versions(record)
            .into_iter()
            .find(|v| v.version == version)
            .expect("listed");
        if revoked.find(&user_id, &version).is_some() {
            continue;
        }
        let reason = entry_reason(entry);
        revoked.push(crate::revocation::Revocation {
            format: crate::revocation::ENTRY_FORMAT,
            user_id,
            version: Some(version.version),
            symmetric_fingerprint: version.symmetric_fingerprint().cloned(),
            public_key_fingerprint: version.public_key_fingerprint().cloned(),
            revoked_at: crate::util::time::Timestamp::from_duration(
                entry.revocation_date.to_unix_duration(),
            ),
            reason,
            serial: Some(serial),
        });
    }
    Ok(())
}

/// Whether `revoked` has an entry with `serial` that revokes the version
/// (of the user and version it names) whose certificate carries `serial`.
pub(super) fn listed_for_its_certificate(
    keys: &crate::keys::KeyStore,
    revoked: &RevocationList,
    serial: &str,
) -> Result<bool> {
    for entry in revoked
        .entries()
        .iter()
        .filter(|e| e.serial.as_deref() == Some(serial))
    {
        let Some(number) = entry.version else {
            continue;
        };
        let Some(record) = keys.get(&entry.user_id)? else {
            continue;
        };
        let versions = crate::keys::keyring::versions(record);
        let Some(version) = versions.iter().find(|v| v.version == number) else {
            continue;
        };
        let certified = version.asymmetric.and_then(|a| a.certificate_serial());
        if certified.as_deref() == Some(serial) && entry.revokes(&entry.user_id, version) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every certificate in the store: user, version and serial.
pub(super) fn certificates(keys: &crate::keys::KeyStore) -> Result<Vec<(String, u32, String)>> {
    let mut found = Vec::new();
    for id in keys.user_ids() {
        let user = crate::util::user::UserId::new(id)?;
        let Some(record) = keys.get(&user)? else {
            continue;
        };
        for pair in &record.asymmetric {
            if let Some(serial) = pair.certificate_serial() {
                found.push((id.to_owned(), pair.version, serial));
            }
        }
    }
    Ok(found)
}
