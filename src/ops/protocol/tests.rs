//! Unit tests of `protocol.rs`.

use super::*;
use crate::CryptoError;
use crate::keys::unlock::unlock_user;
use crate::store::audit::EventKind;
use crate::store::versions::add_version;

/// A store with alice and bob, whose passwords are their names.
fn store() -> (tempfile::TempDir, Store, UserId, UserId) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
    for user in [&alice, &bob] {
        let pk = crate::crypto::kdf::test_key(user.as_str());
        add_version(&store, user, &pk, 3600, None, EventKind::Created, "test").unwrap();
    }
    (dir, store, alice, bob)
}

fn pw(s: &str) -> Password {
    Password::new(s.to_owned()).unwrap()
}

/// An offer from alice to bob with `public` in place of a real value,
/// properly signed by alice: only validation can refuse it.
fn signed_offer(store: &Store, alice: &UserId, group: Group, public: Vec<u8>) -> Message {
    let (keys, revoked) = store.load().unwrap();
    let unlocked = unlock_user(&keys, &revoked, alice, &pw("alice")).unwrap();
    let (private_key, _) = unlocked.key_pair.as_ref().unwrap();
    let created = time::format(time::now());
    offer_signed_by(private_key, 1, &created, group, public)
}

/// An offer from alice to bob (version 1), made at `created` and signed
/// with `key` as alice's version `version`.
fn offer_signed_by(
    key: &rsa::PrivateKey,
    version: u32,
    created: &str,
    group: Group,
    public: Vec<u8>,
) -> Message {
    let mut message = Message {
        protocol: PROTOCOL.to_owned(),
        kind: Kind::Offer,
        group,
        sender: Party {
            user: "alice".into(),
            key_version: version,
        },
        recipient: Party {
            user: "bob".into(),
            key_version: 1,
        },
        public,
        nonce: new_nonce().unwrap(),
        created: created.to_owned(),
        offer_nonce: None,
        certificate: None,
        signature: Vec::new(),
    };
    message.signature = sign_public_key(key, &message.signed_bytes(None)).unwrap();
    message
}

/// Makes version n+1 of `user`'s keys (password: the user's name).
fn rotate(store: &Store, user: &UserId) {
    let record = store.load().unwrap().0.get(user).unwrap().cloned();
    let pk = crate::crypto::kdf::test_key(user.as_str());
    add_version(
        store,
        user,
        &pk,
        3600,
        record.as_ref(),
        EventKind::Rotated,
        "test",
    )
    .unwrap();
}

fn x25519_public() -> Vec<u8> {
    EphemeralKey::generate(Group::X25519)
        .unwrap()
        .public_bytes()
}

/// An offer is refused when stale, from the future beyond the clock
/// skew, or with a time that is no time; one just inside both bounds
/// is taken. The time is signed: edited, the signature fails.
#[test]
fn offers_out_of_their_time_window_are_refused() {
    let (_dir, store, alice, bob) = store();
    let (keys, revoked) = store.load().unwrap();
    let unlocked = unlock_user(&keys, &revoked, &alice, &pw("alice")).unwrap();
    let (key, _) = unlocked.key_pair.as_ref().unwrap();
    let now = time::now();
    let at = |offset: f64| time::format(now + offset);
    let cases = [
        (at(-(MAX_AGE_SECS as f64) - 60.0), "it is stale"),
        (
            at(CLOCK_SKEW_SECS as f64 + 60.0),
            "check both machines' clocks",
        ),
        ("yesterday".to_owned(), "is not an RFC 3339 UTC time"),
        (String::new(), "is not an RFC 3339 UTC time"),
    ];
    for (created, why) in cases {
        let offer = offer_signed_by(key, 1, &created, Group::X25519, x25519_public());
        let err = accept(&store, &bob, &pw("bob"), &offer, None).unwrap_err();
        assert!(err.to_string().contains(why), "{created:?}: {err}");
    }
    let mut edited = offer_signed_by(
        key,
        1,
        &at(-(MAX_AGE_SECS as f64) - 60.0),
        Group::X25519,
        x25519_public(),
    );
    edited.created = at(0.0);
    let err = accept(&store, &bob, &pw("bob"), &edited, None).unwrap_err();
    assert!(
        err.to_string().contains("signature does not verify"),
        "{err}"
    );
    for offset in [-(MAX_AGE_SECS as f64) + 60.0, CLOCK_SKEW_SECS as f64 - 60.0] {
        let offer = offer_signed_by(key, 1, &at(offset), Group::X25519, x25519_public());
        accept(&store, &bob, &pw("bob"), &offer, None).unwrap();
    }
}

/// Alice's version 1 private key, kept (as by an export) before she
/// rotates, expires or destroys it: an offer it signs is refused once
/// version 1 is not her active primary.
#[test]
fn offers_signed_by_a_version_no_longer_active_are_refused() {
    let now = || time::format(time::now());
    // Superseded by a rotation, then destroyed.
    let (_dir, store, alice, bob) = store();
    let (keys, revoked) = store.load().unwrap();
    let old = unlock_user(&keys, &revoked, &alice, &pw("alice")).unwrap();
    let (old_key, _) = old.key_pair.as_ref().unwrap();
    rotate(&store, &alice);
    let offer = offer_signed_by(old_key, 1, &now(), Group::X25519, x25519_public());
    let err = accept(&store, &bob, &pw("bob"), &offer, None).unwrap_err();
    assert!(
        err.to_string().contains("alice's primary is version 2"),
        "{err}"
    );
    store
        .update(|keys, revoked, _| {
            crate::keys::keyring::destroy(keys, revoked, &alice, 1, true, time::now()).map(drop)
        })
        .unwrap();
    let err = accept(&store, &bob, &pw("bob"), &offer, None).unwrap_err();
    assert!(
        err.to_string().contains("alice's primary is version 2"),
        "{err}"
    );
    // The primary itself destroyed (its private key kept elsewhere).
    let (keys, revoked) = store.load().unwrap();
    let newest = unlock_user(&keys, &revoked, &alice, &pw("alice")).unwrap();
    let (newest_key, _) = newest.key_pair.as_ref().unwrap();
    store
        .update(|keys, revoked, _| {
            crate::keys::keyring::destroy(keys, revoked, &alice, 2, true, time::now()).map(drop)
        })
        .unwrap();
    let offer = offer_signed_by(newest_key, 2, &now(), Group::X25519, x25519_public());
    let err = accept(&store, &bob, &pw("bob"), &offer, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("is destroyed (key material erased), not active"),
        "{err}"
    );

    // The primary itself, past its active period.
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    let pk = crate::crypto::kdf::test_key("alice");
    add_version(&store, &alice, &pk, 1, None, EventKind::Created, "test").unwrap();
    let pk = crate::crypto::kdf::test_key("bob");
    add_version(&store, &bob, &pk, 3600, None, EventKind::Created, "test").unwrap();
    let (keys, revoked) = store.load().unwrap();
    let unlocked = unlock_user(&keys, &revoked, &alice, &pw("alice")).unwrap();
    let (key, _) = unlocked.key_pair.as_ref().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let offer = offer_signed_by(key, 1, &now(), Group::X25519, x25519_public());
    let err = accept(&store, &bob, &pw("bob"), &offer, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("is deactivated (expired), not active"),
        "{err}"
    );
}

/// An answer is checked the same way at `finish`: fresh, signed by the
/// responder's active primary, and made after the offer it answers.
#[test]
fn a_stale_answer_or_one_from_a_superseded_version_is_refused_at_finish() {
    let (_dir, store, alice, bob) = store();
    let offer_made = offer(&store, &alice, &pw("alice"), &bob, Group::X25519).unwrap();
    let (answer, _) = accept(&store, &bob, &pw("bob"), &offer_made, None).unwrap();
    // Re-signed by bob's key with an old time: stale.
    let (keys, revoked) = store.load().unwrap();
    let bobs = unlock_user(&keys, &revoked, &bob, &pw("bob")).unwrap();
    let (bob_key, _) = bobs.key_pair.as_ref().unwrap();
    let mut stale = answer.clone();
    stale.created = time::format(time::now() - MAX_AGE_SECS as f64 - 60.0);
    stale.signature =
        sign_public_key(bob_key, &stale.signed_bytes(Some(&offer_made.public))).unwrap();
    let err = finish(&store, &alice, &pw("alice"), &stale).unwrap_err();
    assert!(err.to_string().contains("it is stale"), "{err}");
    // Dated before the offer it answers (beyond the clock skew).
    let mut early = answer.clone();
    early.created = time::format(time::now() - CLOCK_SKEW_SECS as f64 - 60.0);
    early.signature =
        sign_public_key(bob_key, &early.signed_bytes(Some(&offer_made.public))).unwrap();
    let err = finish(&store, &alice, &pw("alice"), &early).unwrap_err();
    assert!(
        err.to_string().contains("before the offer it answers"),
        "{err}"
    );
    // bob rotates: his answer, signed by version 1, no longer counts.
    rotate(&store, &bob);
    let err = finish(&store, &alice, &pw("alice"), &answer).unwrap_err();
    assert!(
        err.to_string().contains("bob's primary is version 2"),
        "{err}"
    );
}

#[test]
fn a_signed_but_invalid_public_value_is_refused() {
    let (_dir, store, alice, bob) = store();
    let mut one = vec![0u8; 256];
    one[255] = 1;
    let p_minus_one = {
        let mut v = crate::crypto::dh::DhParameters::ffdhe2048().p_bytes();
        v[255] -= 1;
        v
    };
    let cases = [
        (Group::Ffdhe2048, vec![0u8; 256]),
        (Group::Ffdhe2048, one),
        (Group::Ffdhe2048, p_minus_one),
        (Group::Ffdhe2048, vec![7u8; 100]),
        (Group::X25519, vec![0u8; 32]),
    ];
    for (group, public) in cases {
        let offer = signed_offer(&store, &alice, group, public);
        let err = accept(&store, &bob, &pw("bob"), &offer, None).unwrap_err();
        assert!(
            matches!(err, Error::Crypto(CryptoError::InvalidPublicKey(_))),
            "{group}: {err}"
        );
    }
    // Nothing was recorded as seen: a refused offer is not taken.
    let (keys, _) = store.load().unwrap();
    assert!(keys.get(&bob).unwrap().unwrap().exchanges.seen.is_empty());
}

#[test]
fn a_wrong_password_cannot_finish_and_the_offer_still_waits() {
    let (_dir, store, alice, bob) = store();
    let offer = offer(&store, &alice, &pw("alice"), &bob, Group::X25519).unwrap();
    let (answer, agreed) = accept(&store, &bob, &pw("bob"), &offer, None).unwrap();
    assert!(matches!(
        finish(&store, &alice, &pw("nope"), &answer),
        Err(Error::Key(KeyError::Unlock(_)))
    ));
    let done = finish(&store, &alice, &pw("alice"), &answer).unwrap();
    assert_eq!(done.session_key_fingerprint, agreed.session_key_fingerprint);
}
