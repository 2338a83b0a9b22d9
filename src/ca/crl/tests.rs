//! Unit tests of `ca/crl.rs`.

use std::fs;

use super::*;
use crate::CryptoError;
use crate::crypto::kdf::MIN_ITERATIONS;
use crate::keys::keyring::versions_of;
use crate::util::user::UserId;

/// A store in a fresh folder with a CA (RSA-2048, administrator
/// password `admin`), and that password.
fn store_with_ca() -> (tempfile::TempDir, Store, Password) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    let admin = Password::new("admin".to_owned()).unwrap();
    crate::ca::init(&store, &admin, 2048, MIN_ITERATIONS).unwrap();
    (dir, store, admin)
}

fn alice() -> UserId {
    UserId::new("alice").unwrap()
}

/// A new key version for `user`, as keygen (`Created`) or rotate
/// (`Rotated`) makes it.
/// The password of the users that [`add_version`] makes.
fn owner() -> Password {
    Password::new("pw".to_owned()).unwrap()
}

fn add_version(store: &Store, user: &UserId, kind: EventKind) {
    let record = store.load().unwrap().0.get(user).unwrap().cloned();
    let pk = crate::crypto::kdf::test_key("pw");
    crate::store::versions::add_version(store, user, &pk, 3600, record.as_ref(), kind, "test")
        .unwrap();
}

/// Revokes alice's keys as `revoke` does: the list entry and its line
/// in the log.
fn revoke_alice(store: &Store, reason: RevocationReason, version: Option<u32>, at: Timestamp) {
    store
        .update(|keys, revoked, events| {
            let outcome = crate::revocation::revoke_key(
                revoked,
                &alice(),
                &versions_of(keys, &alice()).unwrap(),
                reason,
                version,
                at,
            )?;
            events.extend(crate::store::versions::revocation_events(
                &outcome,
                &alice(),
                "test",
            ));
            Ok(())
        })
        .unwrap();
}

/// The CRL read back with x509-cert: version, issuer, cRLNumber,
/// authority key ID, dates, and each entry's serial, date and reason.
#[test]
fn the_crl_holds_its_fields_and_extensions() {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
    let (dir, store, admin) = store_with_ca();
    let ca = Ca::load(dir.path()).unwrap().unwrap();
    let alice = alice();
    add_version(&store, &alice, EventKind::Created);
    let issued = crate::ca::issue(&store, &alice, &admin, &owner()).unwrap();
    revoke_alice(&store, RevocationReason::KeyCompromise, None, time::now());
    let summary = publish(&store, &admin, "test").unwrap();
    assert_eq!(summary.serials, std::slice::from_ref(&issued.serial));

    let pem = fs::read_to_string(dir.path().join(CRL_FILE)).unwrap();
    let crl: CertificateList = CertificateList::from_pem(pem.as_bytes()).unwrap();
    let tbs = &crl.tbs_cert_list;
    assert_eq!(tbs.version, x509_cert::certificate::Version::V2);
    assert_eq!(tbs.issuer, *ca.root.tbs_certificate().subject());
    let lifetime = tbs.next_update.unwrap().to_unix_duration() - tbs.this_update.to_unix_duration();
    assert_eq!(lifetime, CRL_LIFETIME);
    let ext = |oid| {
        tbs.crl_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .unwrap()
            .extn_value
            .as_bytes()
            .to_vec()
    };
    use x509_cert::der::oid::AssociatedOid;
    let number = CrlNumber::from_der(&ext(CrlNumber::OID)).unwrap();
    assert_eq!(number.0.as_bytes(), [1]);
    let aki = AuthorityKeyIdentifier::from_der(&ext(AuthorityKeyIdentifier::OID)).unwrap();
    let (_, root_ski) = ca
        .root
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(aki.key_identifier, Some(root_ski.0));

    let entries = tbs.revoked_certificates.as_ref().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        crate::util::fingerprint::hex(entry.serial_number.as_bytes()),
        issued.serial
    );
    let (_, revoked) = store.load().unwrap();
    assert_eq!(
        entry.revocation_date.to_unix_duration().as_secs(),
        revoked.entries()[0].revoked_at.whole_secs()
    );
    let reason = entry.crl_entry_extensions.as_ref().unwrap();
    assert_eq!(reason[0].extn_id, CrlReason::OID);
    assert_eq!(
        CrlReason::from_der(reason[0].extn_value.as_bytes()).unwrap(),
        CrlReason::KeyCompromise
    );
    // A second CRL takes the next number.
    assert_eq!(publish(&store, &admin, "test").unwrap().number, 2);
}

#[test]
fn a_crl_past_its_next_update_is_refused_and_a_refresh_renews_it() {
    let (_dir, store, admin) = store_with_ca();
    assert!(matches!(verify(&store), Err(Error::Ca(CaError::NoCrl))));
    let eight_days_ago = time::now() - 8.0 * 86_400.0;
    let old = publish_at(&store, &admin, eight_days_ago, "test").unwrap();
    assert_eq!(old.number, 1);
    let err = verify(&store).unwrap_err();
    assert!(
        matches!(err, Error::Ca(CaError::CrlExpired(ref at)) if *at == old.next_update),
        "{err}"
    );
    let new = publish(&store, &admin, "test").unwrap();
    assert_eq!(new.number, 2);
    assert_eq!(verify(&store).unwrap().number, 2);
    // A wrong administrator password signs nothing.
    let wrong = Password::new("not it".to_owned()).unwrap();
    assert!(matches!(
        publish(&store, &wrong, "test"),
        Err(Error::Crypto(CryptoError::Decryption))
    ));
    assert_eq!(verify(&store).unwrap().number, 2);
}

/// A CRL's signature proves who signed it, not that it is the newest:
/// the audit log's `crl_signed` lines do. An older CRL put back, or a
/// deleted one, stops every command; a refresh numbers past both.
#[test]
fn an_older_or_deleted_crl_is_refused_and_the_number_keeps_growing() {
    let (dir, store, admin) = store_with_ca();
    let path = dir.path().join(CRL_FILE);
    assert_eq!(publish(&store, &admin, "test").unwrap().number, 1);
    let first = fs::read(&path).unwrap();
    assert_eq!(publish(&store, &admin, "test").unwrap().number, 2);

    fs::write(&path, &first).unwrap();
    for err in [
        verify(&store).unwrap_err(),
        store.load().unwrap_err(),
        publish(&store, &admin, "test").unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Ca(CaError::CrlBroken(why)) if why.contains("CRL number 1") && why.contains("signed number 2")),
            "{err}"
        );
    }
    assert_eq!(fs::read(&path).unwrap(), first, "a refused CRL is kept");

    fs::remove_file(&path).unwrap();
    for err in [verify(&store).unwrap_err(), store.load().unwrap_err()] {
        assert!(
            matches!(err, Error::Ca(CaError::CrlDeleted { number: 2, .. })),
            "{err}"
        );
    }
    assert_eq!(publish(&store, &admin, "test").unwrap().number, 3);
    assert_eq!(verify(&store).unwrap().number, 3);

    let log = crate::store::audit::verify(dir.path()).unwrap();
    let kinds: Vec<_> = log
        .iter()
        .map(|e| (e.event.event, e.event.crl_number))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::CaCreated, None),
            (EventKind::CrlSigned, Some(1)),
            (EventKind::CrlSigned, Some(2)),
            (EventKind::CrlSigned, Some(3)),
        ]
    );
    let root = fs::read(dir.path().join(crate::ca::ROOT_FILE)).unwrap();
    assert_eq!(log[0].event.file_sha256, Some(sha256_hex(&root)));
    assert_eq!(
        log[3].event.file_sha256,
        Some(sha256_hex(&fs::read(&path).unwrap()))
    );
}

/// `crl verify` compares each entry's reason and date with the list's,
/// not only its serial: a reason edited by hand is caught.
#[test]
fn an_edited_reason_or_date_in_the_list_is_caught() {
    let (_dir, store, admin) = store_with_ca();
    let alice = alice();
    add_version(&store, &alice, EventKind::Created);
    crate::ca::issue(&store, &alice, &admin, &owner()).unwrap();
    revoke_alice(&store, RevocationReason::KeyCompromise, None, time::now());
    publish(&store, &admin, "test").unwrap();
    verify(&store).unwrap();
    let list = store.revoked_keys_path();
    let original = fs::read_to_string(&list).unwrap();
    for (from, to) in [
        ("\"keyCompromise\"", "\"superseded\""),
        ("\"revoked_at\": ", "\"revoked_at\": 1"),
    ] {
        assert!(original.contains(from), "{original}");
        fs::write(&list, original.replacen(from, to, 1)).unwrap();
        let err = verify(&store).unwrap_err();
        assert!(
            matches!(&err, Error::Ca(CaError::CrlDisagrees(why)) if why.contains("keyCompromise") && why.contains("was edited")),
            "{from}: {err}"
        );
    }
}

/// A certificate withdrawn because a rotation superseded its pair
/// revokes no key; a revocation (here with the same reason,
/// superseded) removed from the list by hand still revokes it, as the
/// CRL dates it otherwise.
#[test]
fn a_withdrawal_revokes_no_key_but_a_removed_revocation_still_does() {
    let (_dir, store, admin) = store_with_ca();
    let alice = alice();
    add_version(&store, &alice, EventKind::Created);
    let v1 = crate::ca::issue(&store, &alice, &admin, &owner())
        .unwrap()
        .serial;
    assert!(!is_behind(&store, None).unwrap(), "nothing superseded yet");
    add_version(&store, &alice, EventKind::Rotated);
    assert!(
        is_behind(&store, Some(&alice)).unwrap(),
        "v1's certificate is still valid"
    );
    publish(&store, &admin, "test").unwrap();
    assert!(!is_behind(&store, None).unwrap());
    assert_eq!(verify(&store).unwrap().serials, std::slice::from_ref(&v1));
    let (keys, revoked) = store.load().unwrap();
    assert!(revoked.is_empty(), "a withdrawal revokes nothing");
    assert!(!crate::revocation::is_key_revoked(
        &revoked,
        &alice,
        &versions_of(&keys, &alice).unwrap()
    ));
    // Revoked at the very second of the rotation, with the same reason:
    // only the CA-signed invalidityDate tells the two apart.
    let rotated_at = keys.get(&alice).unwrap().unwrap().asymmetric[1].created;

    revoke_alice(&store, RevocationReason::Superseded, Some(1), rotated_at);
    publish(&store, &admin, "test").unwrap();
    verify(&store).unwrap();
    fs::write(store.revoked_keys_path(), "[]\n").unwrap();
    let (_, revoked) = store.load().unwrap();
    assert_eq!(revoked.entries().len(), 1, "the CRL's revocation stands");
    assert_eq!(revoked.entries()[0].version, Some(1));
    let err = verify(&store).unwrap_err();
    assert!(
        matches!(&err, Error::Ca(CaError::CrlDisagrees(why)) if why.contains(&v1)),
        "{err}"
    );
    // The next change (here a refresh) writes the entry back.
    publish(&store, &admin, "test").unwrap();
    let (_, listed) = store.load_as_stored().unwrap();
    assert_eq!(listed.entries().len(), 1, "the entry is back in the list");
    verify(&store).unwrap();
}

/// The log remembers the CA: its files deleted (which would switch
/// every CRL check off) or replaced by another CA's stop every
/// command; a new CA made on purpose with `ca init` starts afresh.
#[test]
fn a_deleted_or_replaced_ca_is_refused_and_a_new_one_starts_afresh() {
    let (dir, store, admin) = store_with_ca();
    publish(&store, &admin, "test").unwrap();
    let aside = tempfile::tempdir().unwrap();
    // (A store that trusts no other root has no trusted_roots.pem.)
    for name in crate::ca::FILES
        .iter()
        .filter(|n| dir.path().join(n).exists())
    {
        fs::rename(dir.path().join(name), aside.path().join(name)).unwrap();
    }
    let err = store.load().unwrap_err();
    assert!(
        matches!(&err, Error::Ca(CaError::CaBroken(why)) if why.contains("are gone, but audit.log line 2")),
        "{err}"
    );
    // A new CA, on purpose: the old CA's CRLs no longer count.
    crate::ca::init(&store, &admin, 2048, MIN_ITERATIONS).unwrap();
    store.load().unwrap();
    assert!(matches!(verify(&store), Err(Error::Ca(CaError::NoCrl))));
    // The old CA put back in its place is not the one the log names.
    for name in [crate::ca::CA_KEY_FILE, crate::ca::ROOT_FILE] {
        fs::copy(aside.path().join(name), dir.path().join(name)).unwrap();
    }
    let err = store.load().unwrap_err();
    assert!(
        matches!(&err, Error::Ca(CaError::CaBroken(why)) if why.contains("is not the root that audit.log line")),
        "{err}"
    );
}

/// The `crl_signed` lines are read only once the log's chain holds:
/// one edited to hide the newest CRL breaks the link after it.
#[test]
fn a_crl_line_edited_in_the_log_is_caught_by_the_chain() {
    let (dir, store, admin) = store_with_ca();
    publish(&store, &admin, "test").unwrap();
    let first = fs::read(dir.path().join(CRL_FILE)).unwrap();
    publish(&store, &admin, "test").unwrap();
    publish(&store, &admin, "test").unwrap();
    fs::write(dir.path().join(CRL_FILE), &first).unwrap();
    let log = dir.path().join(crate::store::audit::AUDIT_FILE);
    let text = fs::read_to_string(&log).unwrap();
    let edited = text
        .replacen("\"crl_number\":2", "\"crl_number\":1", 1)
        .replacen("\"crl_number\":3", "\"crl_number\":1", 1);
    assert_ne!(edited, text);
    fs::write(&log, &edited).unwrap();
    // Line 3 (number 2) no longer hashes to what line 4 recorded.
    let err = store.load().unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::AuditBroken { line: 3, .. })),
        "{err}"
    );
}

/// A revocation whose serial was edited out of the list still puts the
/// certificate on the next CRL (its serial is read from the pair), and
/// then stays revoked when the entry itself is deleted.
#[test]
fn a_serial_edited_out_of_the_list_stays_on_the_crl() {
    let (_dir, store, admin) = store_with_ca();
    let alice = alice();
    add_version(&store, &alice, EventKind::Created);
    let serial = crate::ca::issue(&store, &alice, &admin, &owner())
        .unwrap()
        .serial;
    revoke_alice(&store, RevocationReason::KeyCompromise, None, time::now());
    let list = store.revoked_keys_path();
    let text = fs::read_to_string(&list).unwrap();
    let line = format!("\"serial\": \"{serial}\"");
    assert!(text.contains(&line), "{text}");
    let without = text.replace(&format!(",\n    {line}"), "");
    assert!(!without.contains(&serial), "{without}");
    fs::write(&list, &without).unwrap();
    assert_eq!(
        publish(&store, &admin, "test").unwrap().serials,
        std::slice::from_ref(&serial)
    );
    fs::write(&list, "[]\n").unwrap();
    let (keys, revoked) = store.load().unwrap();
    assert!(crate::revocation::is_key_revoked(
        &revoked,
        &alice,
        &versions_of(&keys, &alice).unwrap()
    ));
}

/// The CRL's serials come from the certificates: a list entry's
/// `serial` edited to another user's certificate has the CA revoke
/// nothing of that user's, and `crl verify` names the edit.
#[test]
fn a_serial_edited_in_the_list_to_another_certificate_is_not_signed() {
    let (_dir, store, admin) = store_with_ca();
    add_version(&store, &alice(), EventKind::Created);
    let alices = crate::ca::issue(&store, &alice(), &admin, &owner())
        .unwrap()
        .serial;
    let bob = UserId::new("bob").unwrap();
    add_version(&store, &bob, EventKind::Created);
    let bobs = crate::ca::issue(&store, &bob, &admin, &owner())
        .unwrap()
        .serial;
    revoke_alice(&store, RevocationReason::KeyCompromise, None, time::now());
    publish(&store, &admin, "test").unwrap();
    let list = store.revoked_keys_path();
    let text = fs::read_to_string(&list).unwrap();
    fs::write(&list, text.replace(&alices, &bobs)).unwrap();
    let err = verify(&store).unwrap_err();
    assert!(
        matches!(&err, Error::Ca(CaError::CrlDisagrees(why)) if why.contains(&format!("names certificate {bobs} for alice"))),
        "{err}"
    );
    let signed = publish(&store, &admin, "test").unwrap();
    assert_eq!(signed.serials, std::slice::from_ref(&alices));
    let (keys, revoked) = store.load().unwrap();
    assert!(!crate::revocation::is_key_revoked(
        &revoked,
        &bob,
        &versions_of(&keys, &bob).unwrap()
    ));
}

/// A destroyed pair's certificate is withdrawn too (reason
/// cessationOfOperation, dated at the destruction), without revoking
/// anything.
#[test]
fn a_destroyed_pairs_certificate_is_withdrawn() {
    let (_dir, store, admin) = store_with_ca();
    add_version(&store, &alice(), EventKind::Created);
    let serial = crate::ca::issue(&store, &alice(), &admin, &owner())
        .unwrap()
        .serial;
    let destroyed_at = time::now();
    store
        .update(|keys, _, events| {
            let record = keys.entry(&alice())?;
            let pair = &mut record.asymmetric[0];
            pair.private = None;
            pair.destroyed_at = Some(destroyed_at);
            record.symmetric[0].wrapped = None;
            record.symmetric[0].destroyed_at = Some(destroyed_at);
            events.push(
                Event::new(EventKind::Destroyed, &alice(), "test").for_version(1, None, None),
            );
            Ok(())
        })
        .unwrap();
    assert!(is_behind(&store, Some(&alice())).unwrap());
    assert_eq!(publish(&store, &admin, "test").unwrap().serials, [serial]);
    let crl = signed_entries(&fs::read_to_string(store.dir().join(CRL_FILE)).unwrap()).unwrap();
    assert_eq!(crl[0].reason, RevocationReason::CessationOfOperation);
    assert!(crl[0].withdrawn);
    assert!(store.load().unwrap().1.is_empty(), "nothing is revoked");
    verify(&store).unwrap();
}

/// A log moved aside since `ca init` holds only `crl_signed` lines; the
/// CA's files deleted are refused all the same, and a log line spaced
/// otherwise (an edit) is still found.
#[test]
fn a_deleted_ca_is_refused_from_crl_lines_alone_however_spaced() {
    let (dir, store, admin) = store_with_ca();
    let log = dir.path().join(crate::store::audit::AUDIT_FILE);
    fs::rename(&log, dir.path().join("audit.log.old")).unwrap();
    publish(&store, &admin, "test").unwrap();
    let text = fs::read_to_string(&log).unwrap();
    fs::write(
        &log,
        text.replace("\"event\":\"crl_signed\"", "\"event\": \"crl_signed\""),
    )
    .unwrap();
    // (A store that trusts no other root has no trusted_roots.pem.)
    for name in crate::ca::FILES
        .iter()
        .filter(|n| dir.path().join(n).exists())
    {
        fs::remove_file(dir.path().join(name)).unwrap();
    }
    let err = store.load().unwrap_err();
    assert!(
        matches!(&err, Error::Ca(CaError::CaBroken(why)) if why.contains("are gone, but audit.log line 1")),
        "{err}"
    );
}
