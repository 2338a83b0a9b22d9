//! The CA's certificate revocation list: `crl.pem`, an X.509 v2 CRL (RFC
//! 5280 section 5) that the store's CA signs.
//!
//! `revoked_keys.json` stays the original's list, and anyone who can write
//! the store folder can edit it. The CRL is the signed copy: each entry is
//! a revoked certificate's serial, its revocation date and its reason code
//! (the list's RFC 5280 reason); the CRL carries a cRLNumber that grows on
//! every change, thisUpdate and nextUpdate (seven days later), and the
//! CA's authorityKeyIdentifier. Signing it needs the administrator
//! password: `crl refresh`, or `revoke --admin-password-file`.
//!
//! [`verify`] checks the signature against the root, the issuer and the
//! dates, and that the CRL and `revoked_keys.json` name the same serials:
//! an entry removed from the list (a key "un-revoked" by hand) or added to
//! it is caught, and so is any edit to the CRL itself, which breaks its
//! signature.

use std::collections::BTreeSet;
use std::time::Duration;

use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde::Serialize;
use sha2::Sha256;
use x509_cert::builder::CrlBuilder;
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::der::asn1::{GeneralizedTime, OctetString};
use x509_cert::der::{DecodePem, Encode, EncodePem, pem::LineEnding};
use x509_cert::ext::pkix::{CrlNumber, CrlReason};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::ca::{Ca, x509_time};
use crate::crypto::kdf::Password;
use crate::crypto::x509::x509_error;
use crate::keys::KeyStore;
use crate::pki::AsymmetricVersion;
use crate::revocation::{RevocationList, RevocationReason};
use crate::store::audit::{CaHistory, Event, EventKind};
use crate::store::{AttachedRead, Store};
use crate::util::fingerprint::sha256_hex;
use crate::util::time::{self, Timestamp};
use crate::{CaError, Error, Result, StoreError};

mod entries;
pub mod imported;
mod merge;

pub use entries::reason_code;
use entries::{
    entry_reason, expected_entries, is_revocation, parse_time, revoked_certificate,
    revoked_certificates, revoked_for_other_stores, signed_entries, withdrawals,
};
pub(crate) use merge::add_signed_revocations;

/// The CRL's file, in the store folder.
pub const CRL_FILE: &str = "crl.pem";

/// How long a CRL is current: its nextUpdate is this long after its
/// thisUpdate.
pub const CRL_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// What a CRL holds, as `crl refresh` and `crl verify` report it.
#[derive(Clone, Debug, Serialize)]
pub struct CrlSummary {
    /// The cRLNumber.
    pub number: u64,
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339.
    pub next_update: String,
    /// The revoked certificates' serial numbers, hex, in the CRL's order.
    pub serials: Vec<String>,
}

impl std::fmt::Display for CrlSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "CRL number {}: {} revoked certificate(s), signed by the store's CA",
            self.number,
            self.serials.len()
        )?;
        writeln!(
            f,
            "  this update: {}\n  next update: {} (run `secure-kms crl refresh` before then)",
            self.this_update, self.next_update
        )?;
        for serial in &self.serials {
            writeln!(f, "  revoked serial: {serial}")?;
        }
        Ok(())
    }
}

/// Signs a new CRL from `revoked_keys.json`, numbered one past both the
/// current one and the newest the audit log records, writes it to
/// `crl.pem` and logs it (`crl_signed`, with `command`), in one step.
///
/// # Errors
/// [`CaError::NoCa`]; [`CryptoError::Decryption`](crate::CryptoError::Decryption) for a wrong administrator
/// password; [`CaError::CrlBroken`] if the current CRL does not verify or is
/// older than the log's newest (it is left for someone to look at);
/// [`UtilError::Io`](crate::UtilError::Io).
pub fn publish(store: &Store, password: &Password, command: &str) -> Result<CrlSummary> {
    publish_at(store, password, time::now(), command)
}

/// [`publish`], with thisUpdate `now`.
fn publish_at(
    store: &Store,
    password: &Password,
    now: Timestamp,
    command: &str,
) -> Result<CrlSummary> {
    let (ca, _) = ca_state(store, AttachedRead::Replacing)?.ok_or(Error::Ca(CaError::NoCa))?;
    let ca_key = ca.key.unlock(password)?;
    // One step under the lock: the list read, the CRL signed from it, the
    // file written and its `crl_signed` line logged, so no revocation made
    // meanwhile is left off and no CRL goes unlogged.
    store.update_with_files(AttachedRead::Replacing, |keys, revoked, events, files| {
        let (ca, history) =
            ca_state(store, AttachedRead::Replacing)?.ok_or(Error::Ca(CaError::NoCa))?;
        // The CA signs only a store its log agrees with: a revocation
        // removed from the list by hand (with crl.pem deleted, so the CRL
        // could not restore it) is not signed away.
        let log = crate::store::audit::verify(store.dir())?;
        crate::store::audit::cross_check(&log, keys, revoked).map_err(|e| match e {
            Error::Store(StoreError::AuditDisagrees(why)) => Error::Ca(CaError::CrlDisagrees(
                format!("no CRL is signed from a store its log disagrees with: {why}"),
            )),
            other => other,
        })?;
        // The number follows both the current CRL and the newest the log
        // records, so a deleted crl.pem does not start the count again.
        let previous = current(store, &ca, &history, AttachedRead::Replacing)?;
        let logged = history.newest_crl.as_ref().and_then(|e| e.event.crl_number);
        let number = previous
            .as_ref()
            .map(|(summary, _)| summary.number)
            .max(logged)
            .unwrap_or(0)
            .checked_add(1)
            .filter(|n| i64::try_from(*n).is_ok())
            .ok_or_else(|| {
                Error::Ca(CaError::CrlBroken(
                    "its cRLNumber cannot grow any further".to_owned(),
                ))
            })?;
        // `revoked` holds the current CRL's revocations too: an entry
        // removed from revoked_keys.json by hand stays on the new CRL.
        let this_update = x509_time(now)?;
        let next_update = x509_time(now + CRL_LIFETIME.as_secs_f64())?;
        let mut expected = expected_entries(keys, revoked)?;
        for other in revoked_for_other_stores(&history) {
            if !expected.iter().any(|e| e.serial == other.serial) {
                expected.push(other);
            }
        }
        // A CRL never drops an entry: one the list no longer names (its
        // serial edited away, say) is carried over as it was signed.
        if let Some((_, pem)) = &previous {
            for old in signed_entries(pem)? {
                if !expected.iter().any(|e| e.serial == old.serial) {
                    expected.push(old);
                }
            }
        }
        let entries = revoked_certificates(&expected)?;
        let builder = CrlBuilder::new_with_this_update(
            &ca.root,
            CrlNumber::try_from(number).map_err(x509_error)?,
            this_update,
        )
        .map_err(x509_error)?
        .with_next_update(Some(next_update));
        // With no entry, revokedCertificates is left out (RFC 5280 5.1.2.6).
        let builder = if entries.is_empty() {
            builder
        } else {
            builder.with_certificates(entries.into_iter())
        };
        let crl: CertificateList = crate::ca::sign(builder, &ca_key)?;
        let pem = crl.to_pem(LineEnding::LF).map_err(x509_error)?;
        let mut event = Event::for_ca(EventKind::CrlSigned, pem.as_bytes(), command);
        event.crl_number = Some(number);
        event.public_key_fingerprint = Some(ca.key.fingerprint.clone());
        events.push(event);
        files.push((CRL_FILE, pem));
        summarise(&crl)
    })
}

/// Whether a certificate withdrawn without a revocation (of `user`, or of
/// anyone: a pair a rotation superseded, or whose private key was
/// destroyed) is missing from the CA's current CRL (or there is none
/// yet): that certificate is still valid, until an administrator signs a
/// new CRL. False without a CA.
///
/// # Errors
/// As [`verify`], for a CRL that is broken, older than the log's, or gone.
pub fn is_behind(store: &Store, user: Option<&crate::util::user::UserId>) -> Result<bool> {
    let Some((ca, history)) = ca_state(store, AttachedRead::Required)? else {
        return Ok(false);
    };
    let (keys, _) = store.load()?;
    let on_crl: BTreeSet<String> = current(store, &ca, &history, AttachedRead::Required)?
        .map(|(summary, _)| summary.serials.into_iter().collect())
        .unwrap_or_default();
    // One user's record, when asked about one user: another's broken
    // record does not make that user's rotation fail.
    Ok(withdrawals(&keys, user)?
        .iter()
        .any(|w| !on_crl.contains(&w.serial)))
}

/// Checks `crl.pem`: signed by the store's CA, issued by its root, the
/// newest the audit log records, current, and naming exactly the serials
/// `revoked_keys.json` lists, each with the list's reason and date.
///
/// # Errors
/// [`CaError::NoCa`]; [`CaError::NoCrl`]; [`CaError::CrlBroken`] for a CRL that
/// does not parse or whose signature or issuer is wrong;
/// [`CaError::CrlExpired`] past its nextUpdate; [`CaError::CrlDisagrees`] when
/// it and the list differ.
pub fn verify(store: &Store) -> Result<CrlSummary> {
    let (ca, history) = ca_state(store, AttachedRead::Required)?.ok_or(Error::Ca(CaError::NoCa))?;
    let (summary, pem) =
        current(store, &ca, &history, AttachedRead::Required)?.ok_or(Error::Ca(CaError::NoCrl))?;
    let (keys, revoked) = store.load_as_stored()?;
    // Each entry's serial is its key version's certificate's.
    for e in revoked.entries() {
        let Some(listed) = &e.serial else { continue };
        let actual = revoked_certificate(&keys, e)?;
        if actual.as_ref() != Some(listed) {
            return Err(Error::Ca(CaError::CrlDisagrees(format!(
                "revoked_keys.json names certificate {listed} for {} version {}, but {}: the list was edited",
                e.user_id,
                e.version.map_or("?".to_owned(), |v| v.to_string()),
                actual.map_or(
                    "no certificate of a key version it revokes has that serial".to_owned(),
                    |a| format!("that version's certificate is {a}")
                )
            ))));
        }
    }
    let mut expected = expected_entries(&keys, &revoked)?;
    for other in revoked_for_other_stores(&history) {
        if !expected.iter().any(|e| e.serial == other.serial) {
            expected.push(other);
        }
    }
    let listed: BTreeSet<&str> = expected.iter().map(|e| e.serial.as_str()).collect();
    let signed: BTreeSet<&str> = summary.serials.iter().map(String::as_str).collect();
    if let Some(serial) = listed.difference(&signed).next() {
        let entry = expected
            .iter()
            .find(|e| e.serial == *serial)
            .expect("listed");
        return Err(Error::Ca(CaError::CrlDisagrees(if entry.withdrawn {
            format!(
                "the certificate {serial} of {} version {} was superseded by a rotation at {}, but the CRL does not withdraw it yet (an administrator can run `secure-kms crl refresh`)",
                entry.user,
                entry.version,
                time::format(entry.at)
            )
        } else {
            format!(
                "revoked_keys.json revokes certificate {serial} ({} version {}) but the CRL does not: the list was edited, or the CRL is older than it (an administrator can run `secure-kms crl refresh`)",
                entry.user, entry.version
            )
        })));
    }
    if let Some(serial) = signed.difference(&listed).next() {
        return Err(Error::Ca(CaError::CrlDisagrees(format!(
            "the CRL revokes certificate {serial}, which revoked_keys.json no longer lists: an entry was removed from the list by hand, and the key is still revoked"
        ))));
    }
    // The same serials; now each entry's reason and date.
    let crl: CertificateList = CertificateList::from_pem(pem.as_bytes()).map_err(x509_error)?;
    for signed in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
        let serial = crate::util::fingerprint::hex(signed.serial_number.as_bytes());
        let entry = expected
            .iter()
            .find(|e| e.serial == serial)
            .expect("the same serials");
        let reason = entry_reason(signed);
        let date = signed.revocation_date.to_unix_duration().as_secs();
        if reason != entry.reason
            || date != entry.at.whole_secs()
            || is_revocation(signed) == entry.withdrawn
        {
            let what = if entry.withdrawn {
                "key_store.json says"
            } else {
                "revoked_keys.json says"
            };
            let kind = |withdrawn: bool| if withdrawn { "withdrawn" } else { "revoked" };
            return Err(Error::Ca(CaError::CrlDisagrees(format!(
                "{what} certificate {serial} ({} version {}) was {} at {} ({}), but the CRL says {} at {} ({}): the list or the store was edited, or the CRL is older than they are (an administrator can run `secure-kms crl refresh` once sure which)",
                entry.user,
                entry.version,
                kind(entry.withdrawn),
                time::format(entry.at),
                entry.reason,
                kind(!is_revocation(signed)),
                time::format(Timestamp::from_secs(date as f64)),
                reason
            ))));
        }
    }
    let next = parse_time(&summary.next_update);
    if next <= time::now() {
        return Err(Error::Ca(CaError::CrlExpired(summary.next_update.clone())));
    }
    Ok(summary)
}

/// The store's CA, checked against what the audit log records of it: the
/// root must be the one the newest `ca_created` line names, and a CA the
/// log records cannot have gone (removing it would switch every CRL check
/// off). `None` for a store that never had one.
fn ca_state(store: &Store, read: AttachedRead) -> Result<Option<(Ca, CaHistory)>> {
    let history = crate::store::audit::ca_history(store.dir())?;
    let ca = Ca::load(store.dir())?;
    // The newest line that speaks of the CA: its making, or a CRL it signed
    // (a log moved aside since `ca init` holds only the latter).
    let recorded = history.newest_crl.as_ref().or(history.created.as_ref());
    let Some(ca) = ca else {
        return match recorded {
            Some(line) if read != AttachedRead::New => Err(Error::Ca(CaError::CaBroken(format!(
                "ca_key.json and ca_root.pem are gone, but audit.log line {} records the CA at {}: they were deleted or moved, and no revocation can be checked without them (put them back; to start a new CA on purpose, move crl.pem aside too and run `secure-kms ca init`)",
                line.seq, line.time_utc
            )))),
            _ => Ok(None),
        };
    };
    if let Some(made) = &history.created
        && made.event.file_sha256.as_deref() != Some(sha256_hex(ca.root_pem.as_bytes()).as_str())
    {
        return Err(Error::Ca(CaError::CaBroken(format!(
            "ca_root.pem is not the root that audit.log line {} records (its SHA-256 differs): the CA was replaced",
            made.seq
        ))));
    }
    if let Some(signed) = &history.newest_crl
        && let Some(key) = &signed.event.public_key_fingerprint
        && *key != ca.key.fingerprint
    {
        return Err(Error::Ca(CaError::CaBroken(format!(
            "the CA's key is not the one that signed CRL number {} (audit.log line {}): the CA was replaced",
            signed.event.crl_number.unwrap_or_default(),
            signed.seq
        ))));
    }
    Ok(Some((ca, history)))
}

/// The current CRL, verified against `ca` and against the newest CRL the
/// audit log records, and its text.
///
/// A CRL's signature proves the CA signed it, not that it is the CA's
/// latest: an older CRL put back in place of the current one (a replay)
/// would un-revoke what was revoked since. The log's `crl_signed` lines
/// remember the newest number, so an older one, or a deleted one, is
/// refused, as a relying party refuses a CRL whose cRLNumber went down.
fn current(
    store: &Store,
    ca: &Ca,
    history: &CaHistory,
    read_as: AttachedRead,
) -> Result<Option<(CrlSummary, String)>> {
    let logged = history.newest_crl.clone();
    let Some(pem) = read(store)? else {
        return match logged {
            Some(entry) if read_as == AttachedRead::Required => {
                Err(Error::Ca(CaError::CrlDeleted {
                    number: entry.event.crl_number.unwrap_or_default(),
                    line: entry.seq,
                    at: entry.time_utc,
                }))
            }
            _ => Ok(None),
        };
    };
    let broken = |why: String| Error::Ca(CaError::CrlBroken(why));
    let crl = CertificateList::from_pem(pem.as_bytes())
        .map_err(|e| broken(format!("it is not a PEM X.509 CRL: {e}")))?;
    if crl.tbs_cert_list.issuer != *ca.root.tbs_certificate().subject() {
        return Err(broken("it was not issued by the store's root".to_owned()));
    }
    // Both signature fields must name the one algorithm the CA signs with.
    let algorithm = x509_cert::der::oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
    if crl.signature_algorithm.oid != algorithm || crl.tbs_cert_list.signature.oid != algorithm {
        return Err(broken(
            "its signature algorithm is not sha256WithRSAEncryption".to_owned(),
        ));
    }
    let tbs = crl.tbs_cert_list.to_der().map_err(x509_error)?;
    let signature = crl
        .signature
        .as_bytes()
        .and_then(|bytes| Signature::try_from(bytes).ok())
        .ok_or_else(|| broken("its signature is not an RSA signature".to_owned()))?;
    VerifyingKey::<Sha256>::new(ca.public_key()?)
        .verify(&tbs, &signature)
        .map_err(|_| {
            broken("its signature does not verify with the root's key: it was edited".to_owned())
        })?;
    let summary = summarise(&crl)?;
    if let Some(entry) = logged {
        let newest = entry.event.crl_number.unwrap_or_default();
        if summary.number < newest {
            return Err(broken(format!(
                "it is CRL number {}, but audit.log line {} records that the CA signed number {newest} at {}: an older CRL was put back in its place (its signature is genuine, its list out of date)",
                summary.number, entry.seq, entry.time_utc
            )));
        }
        if summary.number == newest
            && entry.event.file_sha256.as_deref() != Some(sha256_hex(pem.as_bytes()).as_str())
        {
            return Err(broken(format!(
                "it is not the CRL number {newest} that audit.log line {} records (its SHA-256 differs)",
                entry.seq
            )));
        }
    }
    Ok(Some((summary, pem)))
}

/// The largest `crl.pem` read: some 200,000 entries.
const MAX_CRL_BYTES: u64 = 16 << 20;

fn read(store: &Store) -> Result<Option<String>> {
    let path = store.dir().join(CRL_FILE);
    let bytes = match crate::store::safe_file::read(&path, MAX_CRL_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(Error::Store(StoreError::RefusedStoreFile { .. })) => {
            return Err(Error::Ca(CaError::CrlBroken(format!(
                "it is not a regular file of at most {MAX_CRL_BYTES} bytes"
            ))));
        }
        Err(e) => return Err(e),
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Error::Ca(CaError::CrlBroken("it is not UTF-8 text".into())))
}

/// The extension `T` among `extensions`, decoded, if present and valid.
fn extension<T>(extensions: Option<&[Extension]>) -> Option<T>
where
    T: x509_cert::der::oid::AssociatedOid + for<'a> x509_cert::der::Decode<'a>,
{
    extensions?
        .iter()
        .find(|e| e.extn_id == T::OID)
        .and_then(|e| T::from_der(e.extn_value.as_bytes()).ok())
}

fn summarise(crl: &CertificateList) -> Result<CrlSummary> {
    let tbs = &crl.tbs_cert_list;
    let number = extension::<CrlNumber>(tbs.crl_extensions.as_deref())
        .and_then(|n| {
            let bytes = n.0.as_bytes();
            (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
        })
        .ok_or_else(|| Error::Ca(CaError::CrlBroken("it has no cRLNumber".to_owned())))?;
    let when = |t: &Time| {
        time::format(crate::util::time::Timestamp::from_duration(
            t.to_unix_duration(),
        ))
    };
    Ok(CrlSummary {
        number,
        this_update: when(&tbs.this_update),
        next_update: tbs
            .next_update
            .as_ref()
            .map(when)
            .ok_or_else(|| Error::Ca(CaError::CrlBroken("it has no nextUpdate".to_owned())))?,
        serials: tbs
            .revoked_certificates
            .iter()
            .flatten()
            .map(|r| crate::util::fingerprint::hex(r.serial_number.as_bytes()))
            .collect(),
    })
}

#[cfg(test)]
mod tests;
