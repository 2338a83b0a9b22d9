//! Unit tests of `keys/keyring.rs`.

use super::*;
use crate::revocation::{RevocationReason, revoke_key};
use crate::symmetric::generate_symmetric_key;

fn ring(n: usize, lifetime: u64) -> (KeyStore, UserId) {
    let pk = crate::crypto::kdf::test_key("pw");
    let alice = UserId::new("alice").unwrap();
    let mut keys = KeyStore::default();
    for _ in 0..n {
        keys.add_symmetric(&alice, &generate_symmetric_key().unwrap(), lifetime, &pk)
            .unwrap();
    }
    (keys, alice)
}

fn states(
    keys: &KeyStore,
    revoked: &RevocationList,
    user: &UserId,
    now: Timestamp,
) -> Vec<KeyState> {
    status(keys.get(user).unwrap().unwrap(), revoked, user, now)
        .iter()
        .map(|v| v.state)
        .collect()
}

#[test]
fn each_state_is_reached_with_a_timestamp() {
    use KeyState::*;
    let (mut keys, alice) = ring(3, 60);
    let mut revoked = RevocationList::default();
    let now = crate::util::time::now();
    assert_eq!(
        states(&keys, &revoked, &alice, now),
        [Deactivated, Deactivated, Active]
    );
    // The primary's own lifetime ends: deactivated, at its expiry.
    let later = now + 120.0;
    assert_eq!(states(&keys, &revoked, &alice, later), [Deactivated; 3]);
    let last = status(keys.get(&alice).unwrap().unwrap(), &revoked, &alice, later)
        .pop()
        .unwrap();
    assert_eq!(last.transitions[1].why, "expired");
    assert_eq!(last.transitions[1].at, last.active_until);

    revoke_key(
        &mut revoked,
        &alice,
        &versions_of(&keys, &alice).unwrap(),
        RevocationReason::KeyCompromise,
        Some(2),
        now + 1.0,
    )
    .unwrap();
    assert_eq!(
        states(&keys, &revoked, &alice, now),
        [Deactivated, Compromised, Active]
    );
    destroy(&mut keys, &revoked, &alice, 1, false, now + 2.0).unwrap();
    assert_eq!(
        states(&keys, &revoked, &alice, now + 3.0),
        [Destroyed, Compromised, Active]
    );

    let v2 = &status(
        keys.get(&alice).unwrap().unwrap(),
        &revoked,
        &alice,
        now + 3.0,
    )[1];
    let whys: Vec<_> = v2
        .transitions
        .iter()
        .map(|t| (t.state, t.why.as_str()))
        .collect();
    assert_eq!(
        whys,
        [
            (Active, "created"),
            (Deactivated, "superseded by version 3"),
            (Compromised, "revoked: keyCompromise")
        ]
    );
    let v1 = &status(
        keys.get(&alice).unwrap().unwrap(),
        &revoked,
        &alice,
        now + 3.0,
    )[0];
    assert_eq!(v1.transitions.last().unwrap().at, now + 2.0);
    assert!(
        keys.get(&alice).unwrap().unwrap().symmetric[0]
            .wrapped
            .is_none()
    );
    assert!(
        !v1.primary && status(keys.get(&alice).unwrap().unwrap(), &revoked, &alice, now)[2].primary
    );
}

#[test]
fn a_compromised_key_never_goes_back_to_deactivated() {
    use KeyState::*;
    let (mut keys, alice) = ring(1, 3600);
    let mut revoked = RevocationList::default();
    let now = crate::util::time::now();
    revoke_key(
        &mut revoked,
        &alice,
        &versions_of(&keys, &alice).unwrap(),
        RevocationReason::KeyCompromise,
        None,
        now,
    )
    .unwrap();
    // A rotation after the revocation does not supersede it, and its
    // expiry passing later changes nothing either.
    let pk = crate::crypto::kdf::test_key("pw");
    keys.add_symmetric(&alice, &generate_symmetric_key().unwrap(), 60, &pk)
        .unwrap();
    let later = now + 7200.0;
    let v1 = &status(keys.get(&alice).unwrap().unwrap(), &revoked, &alice, later)[0];
    assert_eq!(v1.state, Compromised);
    let states: Vec<_> = v1.transitions.iter().map(|t| t.state).collect();
    assert_eq!(states, [Active, Compromised]);
    assert_eq!(v1.active_until, now);
}

#[test]
fn a_destroyed_key_never_goes_back_to_deactivated() {
    use KeyState::*;
    let (mut keys, alice) = ring(2, 3600);
    let none = RevocationList::default();
    let now = crate::util::time::now();
    destroy(&mut keys, &none, &alice, 2, true, now).unwrap();
    let later = now + 7200.0;
    let v2 = &status(keys.get(&alice).unwrap().unwrap(), &none, &alice, later)[1];
    let states: Vec<_> = v2.transitions.iter().map(|t| t.state).collect();
    assert_eq!(states, [Active, Destroyed]);
    assert_eq!(v2.active_until, now);
}

#[test]
fn the_last_version_that_decrypts_needs_force() {
    let (mut keys, alice) = ring(2, 60);
    let mut revoked = RevocationList::default();
    // Version 2 compromised: version 1 is the only one left that decrypts.
    revoke_key(
        &mut revoked,
        &alice,
        &versions_of(&keys, &alice).unwrap(),
        RevocationReason::Superseded,
        Some(2),
        Timestamp::from_secs(0.0),
    )
    .unwrap();
    let err = destroy(
        &mut keys,
        &revoked,
        &alice,
        1,
        false,
        Timestamp::from_secs(0.0),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Key(KeyError::LastDecryptingVersion { version: 1, .. })
        ),
        "{err}"
    );
    assert!(
        keys.get(&alice).unwrap().unwrap().symmetric[0]
            .wrapped
            .is_some()
    );
    // A compromised version decrypts nothing: destroying it needs no force.
    assert_eq!(
        destroy(
            &mut keys,
            &revoked,
            &alice,
            2,
            false,
            Timestamp::from_secs(0.0)
        )
        .unwrap(),
        DestroyOutcome::Destroyed
    );
    assert_eq!(
        destroy(
            &mut keys,
            &revoked,
            &alice,
            1,
            true,
            Timestamp::from_secs(0.0)
        )
        .unwrap(),
        DestroyOutcome::Destroyed
    );
    assert!(!keys.get(&alice).unwrap().unwrap().has_keys());
}

#[test]
fn unknown_users_and_versions_are_errors() {
    let (mut keys, alice) = ring(1, 60);
    let none = RevocationList::default();
    assert!(matches!(
        destroy(&mut keys, &none, &alice, 2, true, Timestamp::from_secs(0.0)),
        Err(Error::Key(KeyError::UnknownVersion { version: 2, .. }))
    ));
    let bob = UserId::new("bob").unwrap();
    assert!(matches!(
        destroy(&mut keys, &none, &bob, 1, true, Timestamp::from_secs(0.0)),
        Err(Error::Key(KeyError::UnknownUser(_)))
    ));
}

/// An unknown user has no versions to revoke: the program asks for them
/// before `revoke_key`, and that is refused.
#[test]
fn an_unknown_user_has_no_versions() {
    let (keys, alice) = ring(1, 60);
    assert_eq!(versions_of(&keys, &alice).unwrap().len(), 1);
    let carol = UserId::new("carol").unwrap();
    assert!(matches!(
        versions_of(&keys, &carol),
        Err(Error::Key(KeyError::UnknownUser(_)))
    ));
}

#[test]
fn a_revocation_is_a_compromise_only_for_key_compromise_or_no_reason() {
    use KeyState::*;
    use RevocationReason::*;
    for (reason, expected) in [
        (KeyCompromise, Compromised),
        (Unspecified, Compromised),
        (AffiliationChanged, Deactivated),
        (Superseded, Deactivated),
        (CessationOfOperation, Deactivated),
        (PrivilegeWithdrawn, Deactivated),
    ] {
        let (keys, alice) = ring(1, 3600);
        let mut revoked = RevocationList::default();
        let now = crate::util::time::now();
        let all = versions_of(&keys, &alice).unwrap();
        revoke_key(&mut revoked, &alice, &all, reason, None, now).unwrap();
        let record = keys.get(&alice).unwrap().unwrap();
        let v1 = &status(record, &revoked, &alice, now + 1.0)[0];
        assert_eq!(v1.state, expected, "{reason}");
        assert_eq!(v1.why, Some(format!("revoked: {reason}")));
        assert_eq!(v1.state_text(), format!("{expected} (revoked: {reason})"));
        // Its expiry passing later adds nothing: the revocation ended it.
        let later = &status(record, &revoked, &alice, now + 7200.0)[0];
        let states: Vec<_> = later.transitions.iter().map(|t| t.state).collect();
        assert_eq!(states, [Active, expected], "{reason}");
    }
}

#[test]
fn an_expired_or_superseded_key_says_why_it_is_deactivated() {
    let (keys, alice) = ring(2, 60);
    let none = RevocationList::default();
    let record = keys.get(&alice).unwrap().unwrap();
    let later = crate::util::time::now() + 120.0;
    let states: Vec<String> = status(record, &none, &alice, later)
        .iter()
        .map(VersionStatus::state_text)
        .collect();
    assert_eq!(
        states,
        [
            "deactivated (superseded by version 2)",
            "deactivated (expired)"
        ]
    );
}
