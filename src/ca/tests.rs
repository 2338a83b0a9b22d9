//! Unit tests of `ca/mod.rs`.

use x509_cert::der::referenced::OwnedToRef;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};

use super::*;
use crate::KeyError;
use crate::crypto::kdf::MIN_ITERATIONS;
use crate::crypto::x509::check_certificate_of;
use crate::util::user::UserId;

fn password() -> Password {
    Password::new("admin".to_owned()).unwrap()
}

/// The store knows the CA only as an attachment: a folder whose log
/// records a CA, opened without it, is refused by every read that counts
/// revocations and by every change, rather than read as if its CRL did
/// not exist. (`load_as_stored`, the files as they are without the CRL's
/// revocations, is what `crl verify` compares the CRL with, and is not.)
#[test]
fn a_store_with_a_ca_is_refused_without_its_attachment() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Store::new(dir.path());
    assert!(plain.load().is_ok(), "no CA yet: nothing to miss");
    init(&open_store(dir.path()), &password(), 2048, MIN_ITERATIONS).unwrap();
    let refused = |what: &str, r: Result<()>| match r {
        Err(Error::Store(StoreError::NotAttached(why))) => {
            assert!(why.contains("audit.log line 1"), "{what}: {why}")
        }
        other => panic!("{what}: expected NotAttached, got {other:?}"),
    };
    refused("load", plain.load().map(drop));
    refused("update", plain.update(|_, _, _| Ok(())));
    refused(
        "log",
        plain.log(crate::store::audit::Event::for_ca(
            crate::store::audit::EventKind::CrlSigned,
            b"",
            "test",
        )),
    );
    assert!(plain.load_as_stored().is_ok());
    assert!(open_store(dir.path()).load().is_ok());
    assert!(open_store(dir.path()).update(|_, _, _| Ok(())).is_ok());
}

/// With the log that recorded `ca init` moved aside, a later line of the
/// CA's (a certificate issued) still marks the folder as the CA's.
#[test]
fn any_line_of_the_ca_marks_the_folder_as_the_cas() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    init(&store, &password(), 2048, MIN_ITERATIONS).unwrap();
    fs::rename(
        dir.path().join("audit.log"),
        dir.path().join("audit.log.old"),
    )
    .unwrap();
    let mut event =
        crate::store::audit::Event::for_ca(crate::store::audit::EventKind::Certified, b"", "test");
    event.user = "alice".to_owned();
    store.log(event).unwrap();
    match Store::new(dir.path()).load() {
        Err(Error::Store(StoreError::NotAttached(why))) => assert!(why.contains("line 1"), "{why}"),
        other => panic!("expected NotAttached, got {other:?}"),
    }
}

#[test]
fn the_root_is_a_v3_ca_certificate_with_its_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    let ca = init(&store, &password(), 2048, MIN_ITERATIONS).unwrap();
    let tbs = ca.root.tbs_certificate();
    assert_eq!(tbs.version(), x509_cert::certificate::Version::V3);
    assert_eq!(tbs.subject(), tbs.issuer());
    assert_eq!(
        tbs.subject().to_string(),
        "CN=secure-kms root CA,O=secure-kms"
    );
    assert_eq!(tbs.serial_number().as_bytes().len(), 16);
    let (from, to) = (
        tbs.validity().not_before.to_date_time(),
        tbs.validity().not_after.to_date_time(),
    );
    assert_eq!(to.year(), from.year() + 10);
    assert_eq!(
        (to.month(), to.day(), to.hour(), to.minutes(), to.seconds()),
        (
            from.month(),
            from.day(),
            from.hour(),
            from.minutes(),
            from.seconds()
        )
    );

    let (critical, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(critical && bc.ca);
    let (critical, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(critical);
    assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    let (_, ski) = tbs
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    let expected =
        SubjectKeyIdentifier::try_from(tbs.subject_public_key_info().owned_to_ref()).unwrap();
    assert_eq!(ski, expected);

    // The key opens with the password only; the files are 0600.
    assert!(ca.key.unlock(&password()).is_ok());
    let wrong = Password::new("not it".to_owned()).unwrap();
    assert!(matches!(
        ca.key.unlock(&wrong),
        Err(Error::Crypto(CryptoError::Decryption))
    ));
    use std::os::unix::fs::PermissionsExt;
    for name in [CA_KEY_FILE, ROOT_FILE] {
        let mode = fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn a_key_and_a_root_that_do_not_belong_together_are_refused() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    init(
        &crate::ca::open_store(a.path()),
        &password(),
        2048,
        MIN_ITERATIONS,
    )
    .unwrap();
    init(
        &crate::ca::open_store(b.path()),
        &password(),
        2048,
        MIN_ITERATIONS,
    )
    .unwrap();
    fs::copy(b.path().join(ROOT_FILE), a.path().join(ROOT_FILE)).unwrap();
    let err = Ca::load(a.path()).unwrap_err().to_string();
    assert!(err.contains("does not certify the key"), "{err}");
    fs::remove_file(a.path().join(ROOT_FILE)).unwrap();
    let err = Ca::load(a.path()).unwrap_err().to_string();
    assert!(err.contains("ca_root.pem is missing"), "{err}");
}

#[test]
fn ten_years_from_29_february_end_on_28_february() {
    // 2028-02-29T12:00:00Z
    let v = root_validity(Timestamp::from_secs(1_835_438_400.0)).unwrap();
    let (from, to) = (v.not_before.to_date_time(), v.not_after.to_date_time());
    assert_eq!((from.year(), from.month(), from.day()), (2028, 2, 29));
    assert_eq!(
        (to.year(), to.month(), to.day(), to.hour()),
        (2038, 2, 28, 12)
    );
    // 2050 and later are GeneralizedTime (RFC 5280 section 4.1.2.5).
    assert!(matches!(v.not_after, x509_cert::time::Time::UtcTime(_)));
    let late = root_validity(Timestamp::from_secs(2_524_608_000.0)).unwrap(); // 2050-01-01
    assert!(matches!(
        late.not_after,
        x509_cert::time::Time::GeneralTime(_)
    ));
}

#[test]
fn a_stored_certificate_must_be_one_for_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = init(
        &crate::ca::open_store(dir.path()),
        &password(),
        2048,
        MIN_ITERATIONS,
    )
    .unwrap();
    // The root certifies the CA key: its fingerprint passes, another fails.
    assert!(check_certificate_of(&ca.root_pem, &ca.key.fingerprint).is_ok());
    let err = check_certificate_of(&ca.root_pem, &"ab".repeat(32)).unwrap_err();
    assert!(err.to_string().contains("for another public key"), "{err}");
    let err = check_certificate_of(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        &ca.key.fingerprint,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a PEM certificate"), "{err}");
}

/// A user's certificate, read back with x509-cert: every field and
/// extension, and the root's signature over it.
#[test]
fn a_user_certificate_holds_its_fields_and_extensions() {
    use rsa::signature::Verifier;
    use x509_cert::der::oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    let ca = init(&store, &password(), 2048, MIN_ITERATIONS).unwrap();
    let alice = UserId::new("alice").unwrap();
    let made = crate::store::versions::add_version(
        &store,
        &alice,
        &crate::crypto::kdf::test_key("pw"),
        3600,
        None,
        EventKind::Created,
        "test",
    )
    .unwrap();
    let owner = Password::new("pw".to_owned()).unwrap();
    // Proof of possession: a wrong owner password certifies nothing.
    let err = issue(&store, &alice, &password(), &password()).unwrap_err();
    assert!(matches!(err, Error::Key(KeyError::Unlock(_))), "{err}");
    let issued = issue(&store, &alice, &password(), &owner).unwrap();
    let cert = Certificate::from_pem(issued.pem.as_bytes()).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.version(), x509_cert::certificate::Version::V3);
    assert_eq!(tbs.subject().to_string(), "CN=alice");
    assert_eq!(tbs.issuer(), ca.root.tbs_certificate().subject());
    assert_eq!(tbs.serial_number().as_bytes().len(), 16);
    assert_eq!(tbs.signature().oid, SHA_256_WITH_RSA_ENCRYPTION);
    assert_eq!(cert.signature_algorithm().oid, SHA_256_WITH_RSA_ENCRYPTION);
    let pair = &made.record.asymmetric[0];
    let secs = |t: x509_cert::time::Time| t.to_unix_duration().as_secs();
    assert_eq!(secs(tbs.validity().not_before), pair.created.whole_secs());
    assert_eq!(secs(tbs.validity().not_after), pair.expiry.whole_secs());
    let spki = tbs.subject_public_key_info().to_der().unwrap();
    assert_eq!(Fingerprint::of(&spki), pair.fingerprint);

    let (critical, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(critical && !bc.ca);
    let (critical, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(critical);
    assert_eq!(
        ku.0,
        KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
    );
    let (_, ski) = tbs
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(
        ski,
        SubjectKeyIdentifier::try_from(tbs.subject_public_key_info().owned_to_ref()).unwrap()
    );
    let (_, aki) = tbs
        .get_extension::<AuthorityKeyIdentifier>()
        .unwrap()
        .unwrap();
    let (_, root_ski) = ca
        .root
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(aki.key_identifier, Some(root_ski.0));

    let signature = Pkcs1v15Signature::try_from(cert.signature().as_bytes().unwrap()).unwrap();
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(ca.public_key().unwrap())
        .verify(&tbs.to_der().unwrap(), &signature)
        .unwrap();
    // Stored beside the pair, and recorded in the log.
    assert_eq!(
        certificate_of(&store, &alice).unwrap().serial,
        issued.serial
    );
    let log = crate::store::audit::verify(dir.path()).unwrap();
    assert_eq!(log.last().unwrap().event.event, EventKind::Certified);
}

#[test]
fn only_2048_and_3072_bits_are_made() {
    let dir = tempfile::tempdir().unwrap();
    let err = init(
        &crate::ca::open_store(dir.path()),
        &password(),
        1024,
        MIN_ITERATIONS,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Ca(CaError::InvalidKeySize(1024))),
        "{err}"
    );
    assert!(Ca::load(dir.path()).unwrap().is_none());
}
