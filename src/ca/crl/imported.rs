//! `crl import`: the CRL that a root this store trusts signed (the
//! teacher's `crl.pem`), taken when it is genuine, current and newer than
//! the last one imported from that root, and applied: a certificate of
//! this store that it lists revokes its key pair's version, for every use,
//! with the CRL's date and reason, in `revoked_keys.json` and the log.

use x509_cert::Certificate;

use super::*;
use crate::revocation::{Revocation, RevokeOutcome};
use crate::util::fingerprint::{Fingerprint, hex};
use crate::util::user::UserId;

/// The imported CRLs' file, in the store folder: the newest of each root.
pub const IMPORTED_CRLS_FILE: &str = "trusted_crls.pem";

/// What `crl import` took and did.
#[derive(Clone, Debug, Serialize)]
pub struct CrlImported {
    /// The root that signed it, as RFC 4514 text.
    pub issuer: String,
    /// Its cRLNumber.
    pub number: u64,
    /// nextUpdate, RFC 3339: import a newer one before then.
    pub next_update: String,
    /// How many certificates it lists.
    pub listed: usize,
    /// The key versions of this store it revoked: user, version, reason.
    pub revoked: Vec<(UserId, u32, String)>,
}

impl std::fmt::Display for CrlImported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuer = crate::util::escape::printable(&self.issuer);
        writeln!(
            f,
            "CRL number {} of {issuer} imported: {} certificate(s) listed, next update {}",
            self.number, self.listed, self.next_update
        )?;
        if self.revoked.is_empty() {
            return writeln!(f, "  none of them is a certificate of this store");
        }
        for (user, version, reason) in &self.revoked {
            writeln!(
                f,
                "  revoked here: {user} version {version} (reason: {reason}), refused for every use"
            )?;
        }
        Ok(())
    }
}

fn refused(reason: &str, detail: String) -> Error {
    Error::Ca(CaError::CrlRefused {
        reason: reason.to_owned(),
        detail,
    })
}

/// The CRLs imported so far, each the one the log's newest `crl_imported`
/// line for its root names (by SHA-256): a CRL written into the file by
/// hand, or an older one put back, is refused.
///
/// # Errors
/// [`CaError::CrlBroken`] for a file that does not parse or a CRL the log
/// does not vouch for.
pub fn stored(store: &Store) -> Result<Vec<CertificateList>> {
    let path = store.dir().join(IMPORTED_CRLS_FILE);
    let Some(bytes) = crate::store::safe_file::read(&path, 1 << 20)? else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| crate::ca::broken(format!("{} is not UTF-8 text", path.display())))?;
    let crls =
        parse(&text).map_err(|why| crate::ca::broken(format!("{}: {why}", path.display())))?;
    let history = crate::store::audit::ca_history(store.dir())?;
    for crl in &crls {
        let der = crl.to_der().map_err(x509_error)?;
        let number = summarise(crl)?.number;
        // The line that imported it, and no newer import from its root.
        let line = history.crl_imports.iter().find(|e| {
            e.event.file_sha256.as_deref() == Some(sha256_hex(&der).as_str())
                && e.event.crl_number == Some(number)
        });
        let vouched = line.is_some_and(|line| {
            history
                .crl_imports
                .iter()
                .filter(|e| e.event.public_key_fingerprint == line.event.public_key_fingerprint)
                .all(|e| e.event.crl_number <= Some(number))
        });
        if !vouched {
            return Err(Error::Ca(CaError::CrlBroken(format!(
                "{IMPORTED_CRLS_FILE} holds CRL number {number} of {}, which audit.log does not record as imported: it was put there by hand; move the file aside and import the CRLs again with `secure-kms crl import`",
                crate::util::escape::printable(&crl.tbs_cert_list.issuer.to_string())
            ))));
        }
    }
    Ok(crls)
}

/// The CRLs of a `trusted_crls.pem`, one PEM block after another.
///
/// # Errors
/// What is wrong, as a phrase.
pub(crate) fn parse(text: &str) -> std::result::Result<Vec<CertificateList>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    crate::util::armor::check_armor(text)?;
    let mut out = Vec::new();
    for block in text.split_inclusive("-----END X509 CRL-----") {
        if block.trim().is_empty() {
            continue;
        }
        out.push(
            CertificateList::from_pem(block.trim_start().as_bytes()).map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

/// Whether `crl` is `root`'s: issued in its name and signed by its key.
fn signed_by(crl: &CertificateList, root: &Certificate) -> bool {
    crl.tbs_cert_list.issuer == *root.tbs_certificate().subject()
        && crl.signature_algorithm.oid
            == x509_cert::der::oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        && crl
            .tbs_cert_list
            .to_der()
            .is_ok_and(|tbs| crate::ca::issue::signed_with(root, &tbs, crl.signature.as_bytes()))
}

/// When and why `certificate`, which `root` signed, was revoked, if one
/// of the imported `crls` of that root lists it.
pub(crate) fn listed(
    crls: &[CertificateList],
    root: &Certificate,
    certificate: &Certificate,
) -> Option<(Timestamp, RevocationReason)> {
    let serial = certificate.tbs_certificate().serial_number();
    crls.iter()
        .filter(|crl| signed_by(crl, root))
        .flat_map(|crl| crl.tbs_cert_list.revoked_certificates.iter().flatten())
        .find(|entry| entry.serial_number == *serial)
        .map(|entry| {
            (
                Timestamp::from_duration(entry.revocation_date.to_unix_duration()),
                entries::entry_reason(entry),
            )
        })
}

/// The key ID of a root: SHA-256 of its public key's DER.
fn key_id(root: &Certificate) -> Result<Fingerprint> {
    let spki = root
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(x509_error)?;
    Ok(Fingerprint::of(&spki))
}

/// `crl import`: checks `pem`, a CRL, and applies it. It must be signed
/// (sha256WithRSAEncryption) by a root the store trusts through `ca
/// trust`, current (nextUpdate after now), and newer than the last CRL
/// imported from that root (its cRLNumber higher, as the log records
/// them). Each certificate of this store that root issued and the CRL
/// lists revokes its pair's version, with the CRL entry's date and reason.
///
/// # Errors
/// [`CaError::CrlRefused`] (`UnknownIssuer`, `BadSignature`,
/// `Expired`); [`CaError::Refused`] for an older CRL, the store's own CA's,
/// or text that is not a CRL; as [`Store::update`].
pub fn import(store: &Store, pem: &str) -> Result<CrlImported> {
    let not_one = |why: String| Error::Ca(CaError::Refused(why));
    let block = crate::util::armor::pem_block(pem, "X509 CRL")
        .ok_or_else(|| not_one("it holds no PEM X.509 CRL".to_owned()))?;
    crate::util::armor::check_armor(block)
        .map_err(|why| not_one(format!("it is not PEM: {why}")))?;
    let crl = CertificateList::from_pem(block.as_bytes())
        .map_err(|e| not_one(format!("it is not a PEM X.509 CRL ({e})")))?;
    let issuer = crl.tbs_cert_list.issuer.clone();
    let shown_issuer = crate::util::escape::printable(&issuer.to_string());
    if let Some(ca) = Ca::load(store.dir())?
        && signed_by(&crl, &ca.root)
    {
        return Err(not_one(
            "it is this store's own CA's: `secure-kms crl refresh` signs that one here".to_owned(),
        ));
    }
    let roots = crate::ca::anchors::roots(store)?;
    let named: Vec<&Certificate> = roots
        .iter()
        .filter(|r| *r.tbs_certificate().subject() == issuer)
        .collect();
    if named.is_empty() {
        return Err(refused(
            "UnknownIssuer",
            format!(
                "it was issued by {shown_issuer}, which is not a root this store trusts (`secure-kms ca trust` it first)"
            ),
        ));
    }
    // Roots may share a name: the one whose key signed it is its issuer.
    let Some(root) = named.into_iter().find(|r| signed_by(&crl, r)).cloned() else {
        return Err(refused(
            "BadSignature",
            format!(
                "its signature does not verify with the key of {shown_issuer}: it was edited, or signed by another"
            ),
        ));
    };
    let summary = summarise(&crl)?;
    let next = Timestamp::from_duration(
        crl.tbs_cert_list
            .next_update
            .as_ref()
            .expect("summarise checks it")
            .to_unix_duration(),
    );
    if next <= time::now() {
        return Err(refused(
            "Expired",
            format!(
                "it was due to be replaced at {}: ask for the current one",
                summary.next_update
            ),
        ));
    }
    let root_id = key_id(&root)?;
    let der = crl.to_der().map_err(x509_error)?;
    let listed: BTreeSet<String> = summary.serials.iter().cloned().collect();
    let revoked_here = store.update_with_files(AttachedRead::Required, |keys, revoked, events, files| {
        // The CRLs kept so far, each the one the log names: the numbers
        // below are checked against a file the log vouches for.
        let kept = stored(store)?;
        // The newest number imported from this root, as the log says.
        let history = crate::store::audit::ca_history(store.dir())?;
        if let Some(last) = history
            .crl_imports
            .iter()
            .filter(|e| e.event.public_key_fingerprint.as_ref() == Some(&root_id))
            .max_by_key(|e| e.event.crl_number)
            && last.event.crl_number.unwrap_or_default() >= summary.number
        {
            return Err(Error::Ca(CaError::Refused(format!(
                "it is CRL number {}, and number {} from this root was imported at {} (audit.log line {}): an older CRL is not taken back",
                summary.number,
                last.event.crl_number.unwrap_or_default(),
                last.time_utc,
                last.seq
            ))));
        }
        let mut revoked_here = Vec::new();
        let mut events_here = Vec::new();
        for id in keys.user_ids().map(str::to_owned).collect::<Vec<_>>() {
            let user = UserId::new(&id)?;
            let Some(record) = keys.get(&user)? else {
                continue;
            };
            for version in crate::keys::keyring::versions(record) {
                let Some(pair) = version.asymmetric else { continue };
                let Some(pem) = &pair.certificate else { continue };
                let Ok(certificate) = Certificate::from_pem(pem.as_bytes()) else {
                    continue;
                };
                let serial = hex(certificate.tbs_certificate().serial_number().as_bytes());
                let by_this_root = crate::ca::issue::signed_by_a_root(
                    std::slice::from_ref(&root),
                    &certificate,
                )
                .is_ok();
                if !by_this_root || !listed.contains(&serial) || revoked.find(&user, &version).is_some() {
                    continue;
                }
                let entry = crl
                    .tbs_cert_list
                    .revoked_certificates
                    .iter()
                    .flatten()
                    .find(|e| hex(e.serial_number.as_bytes()) == serial)
                    .expect("listed");
                let revocation = Revocation {
                    format: crate::revocation::ENTRY_FORMAT,
                    user_id: user.clone(),
                    version: Some(version.version),
                    symmetric_fingerprint: version.symmetric_fingerprint().cloned(),
                    public_key_fingerprint: version.public_key_fingerprint().cloned(),
                    revoked_at: Timestamp::from_duration(entry.revocation_date.to_unix_duration()),
                    reason: entries::entry_reason(entry),
                    serial: Some(serial),
                };
                revoked_here.push((user.clone(), version.version, revocation.reason.to_string()));
                let outcome = RevokeOutcome {
                    revoked: vec![revocation.clone()],
                    already: Vec::new(),
                };
                events_here.extend(crate::store::versions::revocation_events(
                    &outcome,
                    &user,
                    "crl import",
                ));
                revoked.push(revocation);
            }
        }
        let mut kept: Vec<CertificateList> =
            kept.into_iter().filter(|c| !signed_by(c, &root)).collect();
        kept.push(crl.clone());
        let text = kept
            .iter()
            .map(|c| c.to_pem(LineEnding::LF).map_err(x509_error))
            .collect::<Result<String>>()?;
        let mut event = Event::for_ca(EventKind::CrlImported, &der, "crl import");
        event.crl_number = Some(summary.number);
        event.public_key_fingerprint = Some(root_id.clone());
        events.push(event);
        events.extend(events_here);
        files.push((IMPORTED_CRLS_FILE, text));
        Ok(revoked_here)
    })?;
    Ok(CrlImported {
        issuer: issuer.to_string(),
        number: summary.number,
        next_update: summary.next_update,
        listed: listed.len(),
        revoked: revoked_here,
    })
}
