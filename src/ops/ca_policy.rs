//! What the certificate authority does after a change to a user's keys:
//! the one policy that `keygen`, `rotate`, `revoke` and the session share.
//!
//! - A new key pair (keygen, rotate, the session's new keys) gets a
//!   certificate when the administrator's password is given. A rotation
//!   supersedes the old pair: its certificate goes on a new CRL, signed
//!   with the same password. Without the password, the new pair has no
//!   certificate (`cert issue` makes one later) and the old certificate
//!   stays valid until `crl refresh`.
//! - A revocation that added entries goes on a new CRL when the password
//!   is given; without it the CRL is behind `revoked_keys.json` until
//!   `crl refresh`.
//!
//! The administrator's password is checked before the change (see
//! [`Admin::check`]), so that a wrong one stops a command before it has
//! done anything. A failure after the change is made says what was made
//! ([`OpsError::ChangeMade`]).

use crate::ca::crl::{self, CrlSummary};
use crate::ca::{self, UserCertificate};
use crate::crypto::kdf::Password;
use crate::revocation::RevokeOutcome;
use crate::store::Store;
use crate::util::user::UserId;
use crate::{CaError, Error, OpsError, Result};

/// The administrator's part in a change, decided before it is made.
#[derive(Debug)]
#[non_exhaustive]
pub enum Admin {
    /// The store has no CA: nothing to certify or sign.
    NoCa,
    /// The store has a CA, and no password was given: the CA's part is
    /// left for later.
    Later,
    /// This password for the CA key: checked by [`Admin::check`] before
    /// the change, or else by its first use after it (a wrong one is then
    /// [`CryptoError::Decryption`](crate::CryptoError::Decryption), and nothing more is done).
    With(Password),
}

impl Admin {
    /// The administrator's part: `password` checked against the store's
    /// CA key, or [`Admin::Later`] (with a CA) or [`Admin::NoCa`] without
    /// one.
    ///
    /// ```
    /// use secure_kms::ops::ca_policy::Admin;
    /// use secure_kms::crypto::kdf::Password;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = secure_kms::ca::open_store(dir.path());
    /// assert!(matches!(Admin::check(&store, None)?, Admin::NoCa));
    /// // A password for a CA that is not there is refused, not ignored.
    /// let password = Password::new("admin".to_owned())?;
    /// assert!(Admin::check(&store, Some(password)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CaError::NoCa`] for a password given to a store without a CA;
    /// [`CryptoError::Decryption`](crate::CryptoError::Decryption) for a wrong one; as [`ca::Ca::load`].
    pub fn check(store: &Store, password: Option<Password>) -> Result<Admin> {
        match password {
            Some(password) => match ca::check_admin_password(store, &password)? {
                true => Ok(Admin::With(password)),
                false => Err(Error::Ca(CaError::NoCa)),
            },
            None if ca::Ca::load(store.dir())?.is_some() => Ok(Admin::Later),
            None => Ok(Admin::NoCa),
        }
    }
}

/// What the CA did after a new key pair was made.
#[derive(Clone, Debug, Default)]
pub struct AfterNewPair {
    /// The new pair's certificate, if one was issued.
    pub certificate: Option<UserCertificate>,
    /// The CRL signed to withdraw the superseded pair's certificate.
    pub crl: Option<CrlSummary>,
    /// Whether a superseded pair's certificate is still off the CRL (no
    /// password was given to sign one).
    pub superseded_still_valid: bool,
}

/// After a new pair of `user` (whose password is `owner`): its
/// certificate and, when it `replaced` an older pair (a rotation), a CRL
/// that withdraws the old pair's certificate, as `admin` allows.
///
/// ```
/// use secure_kms::crypto::kdf::{KdfParams, MIN_ITERATIONS, Password, PasswordKey};
/// use secure_kms::ops::ca_policy::{Admin, after_new_pair};
/// use secure_kms::store::{audit::EventKind, versions::add_version};
/// use secure_kms::util::user::UserId;
///
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// let admin = Password::new("admin".to_owned())?;
/// let owner = Password::new("pw".to_owned())?;
/// // The product uses 600,000 PBKDF2 rounds; an example need not wait.
/// secure_kms::ca::init(&store, &admin, 2048, MIN_ITERATIONS)?;
/// let alice = UserId::new("alice")?;
/// let key = PasswordKey::derive(&owner, &KdfParams::generate(MIN_ITERATIONS)?);
/// add_version(&store, &alice, &key, 3600, None, EventKind::Created, "example")?;
///
/// let admin = Admin::check(&store, Some(admin))?;
/// let after = after_new_pair(&store, &alice, &owner, &admin, false, "example")?;
/// assert_eq!(after.certificate.expect("issued").subject, "CN=alice");
/// assert!(after.crl.is_none(), "a first pair supersedes nothing");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`ca::issue`]; [`OpsError::ChangeMade`] when the CRL could not be read
/// or signed after the keys were made.
pub fn after_new_pair(
    store: &Store,
    user: &UserId,
    owner: &Password,
    admin: &Admin,
    replaced: bool,
    command: &str,
) -> Result<AfterNewPair> {
    // Only a rotation leaves an old certificate to withdraw.
    let behind = || -> Result<bool> {
        Ok(replaced
            && crl::is_behind(store, Some(user)).map_err(made(
                "the new version was made, but the CRL could not be read to withdraw the old certificate",
            ))?)
    };
    match admin {
        Admin::NoCa => Ok(AfterNewPair::default()),
        Admin::Later => Ok(AfterNewPair {
            superseded_still_valid: behind()?,
            ..AfterNewPair::default()
        }),
        Admin::With(password) => {
            let certificate = ca::issue(store, user, password, owner)?;
            let crl = match behind()? {
                true => Some(crl::publish(store, password, command).map_err(made(
                    "the new version was made and certified, but no CRL was signed to withdraw the old certificate (an administrator can run `secure-kms crl refresh` once this is fixed)",
                ))?),
                false => None,
            };
            Ok(AfterNewPair {
                certificate: Some(certificate),
                crl,
                superseded_still_valid: false,
            })
        }
    }
}

/// What the CA did after a revocation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AfterRevocation {
    /// Nothing to do: no CA, or nothing new was revoked.
    Unchanged,
    /// A new CRL was signed.
    Signed(CrlSummary),
    /// The CRL is behind the list until an administrator signs one.
    Behind,
}

/// After a revocation: a new CRL when `outcome` added entries, as `admin`
/// allows.
///
/// ```
/// use secure_kms::ops::ca_policy::{Admin, AfterRevocation, after_revocation};
/// use secure_kms::revocation::RevokeOutcome;
///
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// // Nothing new revoked, or no CA: nothing to sign.
/// let nothing = RevokeOutcome::default();
/// let after = after_revocation(&store, &nothing, &Admin::NoCa, "example")?;
/// assert!(matches!(after, AfterRevocation::Unchanged));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`OpsError::ChangeMade`] when the CRL could not be signed.
pub fn after_revocation(
    store: &Store,
    outcome: &RevokeOutcome,
    admin: &Admin,
    command: &str,
) -> Result<AfterRevocation> {
    if outcome.revoked.is_empty() {
        return Ok(AfterRevocation::Unchanged);
    }
    match admin {
        Admin::NoCa => Ok(AfterRevocation::Unchanged),
        Admin::Later => Ok(AfterRevocation::Behind),
        Admin::With(password) => crl::publish(store, password, command)
            .map(AfterRevocation::Signed)
            .map_err(made(
                "the revocation was made, but no CRL was signed (an administrator can run `secure-kms crl refresh` once this is fixed)",
            )),
    }
}

/// `cert revoke`: revokes a certificate the store's CA signed for another
/// store ([`crate::ca::request::revoke_signed`]) and signs a new CRL at
/// once, which lists it: the student's store learns of it with `crl
/// import`.
///
/// # Errors
/// As [`crate::ca::request::revoke_signed`]; [`OpsError::ChangeMade`]
/// when the CRL could not be signed after the revocation was recorded.
pub fn revoke_certificate(
    store: &Store,
    serial: &str,
    reason: crate::revocation::RevocationReason,
    password: &crate::crypto::kdf::Password,
) -> Result<crate::ca::crl::CrlSummary> {
    crate::ca::request::revoke_signed(store, serial, reason, password)?;
    crl::publish(store, password, "cert revoke").map_err(made(
        "the certificate was revoked, but no CRL was signed (an administrator can run `secure-kms crl refresh` once this is fixed)",
    ))
}

/// Says what was made before `source` failed.
fn made(what: &'static str) -> impl FnOnce(Error) -> Error {
    move |source| {
        Error::Ops(OpsError::ChangeMade {
            what,
            source: Box::new(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CryptoError;
    use crate::crypto::kdf::MIN_ITERATIONS;
    use crate::revocation::RevocationReason;
    use crate::store::audit::EventKind;
    use crate::store::versions::add_version;

    fn pw(s: &str) -> Password {
        Password::new(s.to_owned()).unwrap()
    }

    /// A store with a CA (password `admin`) and alice's first keys
    /// (password `pw`), certified.
    fn store_with_alice() -> (tempfile::TempDir, Store, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let store = ca::open_store(dir.path());
        ca::init(&store, &pw("admin"), 2048, MIN_ITERATIONS).unwrap();
        let alice = UserId::new("alice").unwrap();
        new_version(&store, &alice);
        let admin = Admin::check(&store, Some(pw("admin"))).unwrap();
        let after = after_new_pair(&store, &alice, &pw("pw"), &admin, false, "test").unwrap();
        assert!(after.certificate.is_some() && after.crl.is_none());
        (dir, store, alice)
    }

    fn new_version(store: &Store, user: &UserId) {
        let record = store.load().unwrap().0.get(user).unwrap().cloned();
        let kind = match record {
            Some(_) => EventKind::Rotated,
            None => EventKind::Created,
        };
        let key = crate::crypto::kdf::test_key("pw");
        add_version(store, user, &key, 3600, record.as_ref(), kind, "test").unwrap();
    }

    #[test]
    fn the_administrator_password_is_checked_before_the_change() {
        let (_dir, store, _) = store_with_alice();
        assert!(matches!(Admin::check(&store, None), Ok(Admin::Later)));
        assert!(matches!(
            Admin::check(&store, Some(pw("wrong"))),
            Err(Error::Crypto(CryptoError::Decryption))
        ));
        let plain = tempfile::tempdir().unwrap();
        let plain = ca::open_store(plain.path());
        assert!(matches!(Admin::check(&plain, None), Ok(Admin::NoCa)));
        assert!(matches!(
            Admin::check(&plain, Some(pw("admin"))),
            Err(Error::Ca(CaError::NoCa))
        ));
    }

    /// A rotation supersedes the certified pair: with the password its
    /// certificate goes on a new CRL at once; without, it stays valid and
    /// the outcome says so.
    #[test]
    fn a_rotation_withdraws_the_old_certificate_as_the_password_allows() {
        let (_dir, store, alice) = store_with_alice();
        new_version(&store, &alice);
        let later = after_new_pair(&store, &alice, &pw("pw"), &Admin::Later, true, "test").unwrap();
        assert!(later.certificate.is_none() && later.crl.is_none());
        assert!(later.superseded_still_valid);
        let admin = Admin::check(&store, Some(pw("admin"))).unwrap();
        let with = after_new_pair(&store, &alice, &pw("pw"), &admin, true, "test").unwrap();
        assert!(with.certificate.is_some());
        let crl = with.crl.expect("the superseded certificate is withdrawn");
        assert_eq!(crl.serials.len(), 1);
        assert!(!crl::is_behind(&store, Some(&alice)).unwrap());
    }

    #[test]
    fn a_revocation_is_signed_or_left_behind_as_the_password_allows() {
        let (_dir, store, alice) = store_with_alice();
        let outcome = crate::ops::commands::revoke(
            &store,
            &alice,
            &pw("pw"),
            RevocationReason::KeyCompromise,
            None,
            "test",
        )
        .unwrap();
        let nothing = RevokeOutcome::default();
        let admin = Admin::check(&store, Some(pw("admin"))).unwrap();
        assert!(matches!(
            after_revocation(&store, &nothing, &admin, "test"),
            Ok(AfterRevocation::Unchanged)
        ));
        assert!(matches!(
            after_revocation(&store, &outcome, &Admin::NoCa, "test"),
            Ok(AfterRevocation::Unchanged)
        ));
        assert!(matches!(
            after_revocation(&store, &outcome, &Admin::Later, "test"),
            Ok(AfterRevocation::Behind)
        ));
        match after_revocation(&store, &outcome, &admin, "test").unwrap() {
            AfterRevocation::Signed(crl) => assert_eq!(crl.serials.len(), 1),
            other => panic!("expected a signed CRL, got {other:?}"),
        }
    }
}
