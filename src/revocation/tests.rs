//! Unit tests of `revocation.rs`.

use super::*;

/// A key version as the list knows one: its number and its key ID. (The
/// program passes the store's versions, `keys::keyring::KeyVersion`.)
#[derive(Clone, Debug)]
struct Version {
    number: u32,
    symmetric: Fingerprint,
}

impl KeyIds for Version {
    fn version(&self) -> u32 {
        self.number
    }
    fn symmetric_fingerprint(&self) -> Option<&Fingerprint> {
        Some(&self.symmetric)
    }
    fn public_key_fingerprint(&self) -> Option<&Fingerprint> {
        None
    }
    fn certificate_serial(&self) -> Option<String> {
        None
    }
}

/// A user's versions 1 to `n`, each with a key ID of its own, as new keys
/// have.
fn versions(n: u32) -> Vec<Version> {
    (1..=n)
        .map(|number| {
            let mut id = [0u8; 32];
            getrandom::fill(&mut id).unwrap();
            Version {
                number,
                symmetric: Fingerprint::of(&id),
            }
        })
        .collect()
}

#[test]
fn revoking_records_who_which_when_and_why() {
    let alice = UserId::new("alice").unwrap();
    let keys = versions(1);
    let mut list = RevocationList::default();
    let outcome = revoke_key(
        &mut list,
        &alice,
        &keys,
        RevocationReason::KeyCompromise,
        None,
        Timestamp::from_secs(42.0),
    )
    .unwrap();
    let [e] = &outcome.revoked[..] else {
        panic!("expected one new revocation: {outcome:?}");
    };
    assert_eq!(e.version, Some(1));
    assert_eq!(e.user_id, alice);
    assert_eq!(e.revoked_at, Timestamp::from_secs(42.0));
    assert_eq!(e.reason, RevocationReason::KeyCompromise);
    assert_eq!(
        e.symmetric_fingerprint.as_deref(),
        Some(keys[0].symmetric.as_str())
    );
    let err = check_not_revoked(&list, &alice, &keys)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1970-01-01T00:00:42Z") && err.contains("keyCompromise"),
        "{err}"
    );
}

#[test]
fn fresh_keys_after_a_revocation_are_not_revoked() {
    let alice = UserId::new("alice").unwrap();
    let old = versions(1);
    let mut list = RevocationList::default();
    revoke_key(
        &mut list,
        &alice,
        &old,
        RevocationReason::Superseded,
        None,
        Timestamp::from_secs(1.0),
    )
    .unwrap();
    let new = versions(1);
    assert!(is_key_revoked(&list, &alice, &old));
    assert!(!is_key_revoked(&list, &alice, &new));
    check_not_revoked(&list, &alice, &new).unwrap();
}

#[test]
fn other_users_are_untouched() {
    let alice = UserId::new("alice").unwrap();
    let bob = UserId::new("bob").unwrap();
    let (alice_keys, bob_keys) = (versions(1), versions(1));
    let mut list = RevocationList::default();
    revoke_key(
        &mut list,
        &alice,
        &alice_keys,
        RevocationReason::Unspecified,
        None,
        Timestamp::from_secs(1.0),
    )
    .unwrap();
    assert!(!is_key_revoked(&list, &bob, &bob_keys));
    // Bob's versions, even under Alice's name, are not hers.
    assert!(!is_key_revoked(&list, &alice, &bob_keys));
    assert!(is_key_revoked(&list, &alice, &alice_keys));
}

#[test]
fn one_version_can_be_revoked_and_revoking_again_changes_nothing() {
    let alice = UserId::new("alice").unwrap();
    let keys = versions(2);
    let mut list = RevocationList::default();
    let reason = RevocationReason::AffiliationChanged;
    let first = revoke_key(
        &mut list,
        &alice,
        &keys,
        reason,
        Some(1),
        Timestamp::from_secs(5.0),
    )
    .unwrap();
    assert_eq!(first.revoked.len(), 1);
    // The primary (version 2) is not revoked.
    assert!(!is_key_revoked(&list, &alice, &keys));
    let again = revoke_key(
        &mut list,
        &alice,
        &keys,
        RevocationReason::KeyCompromise,
        Some(1),
        Timestamp::from_secs(9.0),
    )
    .unwrap();
    assert!(again.was_already_revoked());
    assert_eq!(again.already[0].revoked_at, Timestamp::from_secs(5.0));
    assert_eq!(list.entries().len(), 1);
    // Every version: only version 2 is new.
    let all = revoke_key(
        &mut list,
        &alice,
        &keys,
        reason,
        None,
        Timestamp::from_secs(10.0),
    )
    .unwrap();
    assert_eq!(
        all.revoked.iter().map(|r| r.version).collect::<Vec<_>>(),
        [Some(2)]
    );
    assert_eq!(all.already.len(), 1);
    assert!(is_key_revoked(&list, &alice, &keys));
    assert!(matches!(
        revoke_key(
            &mut list,
            &alice,
            &keys,
            reason,
            Some(3),
            Timestamp::from_secs(11.0)
        ),
        Err(Error::Key(KeyError::UnknownVersion { version: 3, .. }))
    ));
}

#[test]
fn reasons_display_as_stored_with_rfc5280_names() {
    use RevocationReason::*;
    for reason in [
        Unspecified,
        KeyCompromise,
        AffiliationChanged,
        Superseded,
        CessationOfOperation,
        PrivilegeWithdrawn,
    ] {
        let stored = serde_json::to_value(reason).unwrap();
        assert_eq!(stored.as_str(), Some(reason.to_string().as_str()));
    }
    assert_eq!(KeyCompromise.to_string(), "keyCompromise");
    assert_eq!(RevocationReason::default(), Unspecified);
}
