//! Unit tests of `symmetric.rs`.

use super::*;

fn setup() -> (UserId, PasswordKey, SymmetricKey) {
    let pk = crate::crypto::kdf::test_key("pw");
    (
        UserId::new("alice").unwrap(),
        pk,
        generate_symmetric_key().unwrap(),
    )
}

#[test]
fn wrap_then_unwrap_gives_the_key_back() {
    let (alice, pk, key) = setup();
    let rec =
        store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();
    assert_eq!(rec.expiry, Timestamp::from_secs(4600.0));
    assert_eq!(load_symmetric_key(&rec, &alice, &pk).unwrap(), key);
    assert!(
        !rec.wrapped
            .as_ref()
            .unwrap()
            .sealed
            .ciphertext
            .windows(32)
            .any(|w| w == key.as_bytes())
    );
}

#[test]
fn edited_expiry_fingerprint_or_owner_is_refused() {
    let (alice, pk, key) = setup();
    let rec =
        store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();

    let mut longer = rec.clone();
    longer.expiry += 1e6;
    assert!(matches!(
        load_symmetric_key(&longer, &alice, &pk),
        Err(Error::Crypto(CryptoError::Decryption))
    ));

    let mut other_fp = rec.clone();
    other_fp.fingerprint = Fingerprint::of(b"another key");
    assert!(matches!(
        load_symmetric_key(&other_fp, &alice, &pk),
        Err(Error::Crypto(CryptoError::Decryption))
    ));

    let bob = UserId::new("bob").unwrap();
    assert!(matches!(
        load_symmetric_key(&rec, &bob, &pk),
        Err(Error::Crypto(CryptoError::Decryption))
    ));

    // A version number moved to another key is caught too.
    let mut renumbered = rec.clone();
    renumbered.version = 2;
    assert!(matches!(
        load_symmetric_key(&renumbered, &alice, &pk),
        Err(Error::Crypto(CryptoError::Decryption))
    ));
    let mut downgraded = rec.clone();
    downgraded.binding = 1;
    assert!(matches!(
        load_symmetric_key(&downgraded, &alice, &pk),
        Err(Error::Crypto(CryptoError::Decryption))
    ));
}

#[test]
fn a_destroyed_version_is_refused_with_its_date() {
    let (alice, pk, key) = setup();
    let mut rec =
        store_symmetric_key(&alice, 3, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();
    rec.wrapped = None;
    rec.destroyed_at = Some(Timestamp::from_secs(2000.0));
    let err = load_symmetric_key(&rec, &alice, &pk).unwrap_err();
    assert!(
        matches!(err, Error::Key(KeyError::Destroyed { version: 3, .. })),
        "{err}"
    );
    assert!(err.to_string().contains("1970-01-01T00:33:20Z"), "{err}");
}

#[test]
fn a_flipped_byte_in_the_wrapped_key_is_refused() {
    let (alice, pk, key) = setup();
    let rec =
        store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 3600, &pk).unwrap();
    let len = rec.wrapped.as_ref().unwrap().sealed.ciphertext.len();
    for i in 0..len {
        let mut bad = rec.clone();
        bad.wrapped.as_mut().unwrap().sealed.ciphertext[i] ^= 0x40;
        assert!(
            matches!(
                load_symmetric_key(&bad, &alice, &pk),
                Err(Error::Crypto(CryptoError::Decryption))
            ),
            "byte {i}"
        );
    }
}

#[test]
fn a_key_expires_at_its_expiry_and_still_loads_after() {
    let (alice, pk, key) = setup();
    let stored =
        store_symmetric_key(&alice, 1, &key, Timestamp::from_secs(1000.0), 60, &pk).unwrap();
    assert!(!is_key_expired(&stored, Timestamp::from_secs(1059.9)));
    assert!(is_key_expired(&stored, Timestamp::from_secs(1060.0)));
    assert!(is_key_expired(&stored, Timestamp::from_secs(1061.0)));
    // Expired is deactivated: refused for new use by keys::unlock (its
    // test an_expired_symmetric_key_is_refused_for_use, and revoked
    // keys in revoked_keys_are_refused_...), still there to decrypt
    // what it encrypted.
    assert_eq!(load_symmetric_key(&stored, &alice, &pk).unwrap(), key);
}

#[test]
fn a_lifetime_past_the_year_9999_is_refused() {
    let (alice, pk, key) = setup();
    let err = store_symmetric_key(&alice, 1, &key, Timestamp::EPOCH, u64::MAX, &pk).unwrap_err();
    assert!(
        matches!(err, Error::Key(KeyError::InvalidLifetime(u64::MAX))),
        "{err}"
    );
    // The longest accepted lifetime still reads back from the file.
    let rec = store_symmetric_key(
        &alice,
        1,
        &key,
        Timestamp::from_secs(0.0),
        LATEST_TIME.whole_secs(),
        &pk,
    )
    .unwrap();
    let json = serde_json::to_string(&rec).unwrap();
    assert_eq!(
        serde_json::from_str::<SymmetricVersion>(&json).unwrap(),
        rec
    );
}

#[test]
fn fingerprint_is_sha256_and_debug_shows_only_its_start() {
    // `head -c 32 /dev/zero | sha256sum`
    let zeros = SymmetricKey(Zeroizing::new([0u8; KEY_LEN]));
    let expected = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";
    assert_eq!(zeros.fingerprint().as_str(), expected);
    assert_eq!(
        format!("{zeros:?}"),
        "SymmetricKey(sha256:66687aadf862bd77)"
    );
}
