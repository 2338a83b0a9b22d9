//! The session's questions to the administrator, asked only when the
//! store has a certificate authority: certify the new keys, and sign a
//! new CRL after revoking a certified pair. What follows each answer is
//! the policy every command shares ([`crate::ops::ca_policy`]).

use crate::ca::Ca;
use crate::crypto::kdf::Password;
use crate::ops::ca_policy::{Admin, AfterRevocation, after_new_pair, after_revocation};
use crate::revocation::RevokeOutcome;
use crate::store::Store;
use crate::ui::console::Console;
use crate::util::user::UserId;
use crate::{CryptoError, Error, Result};

/// Asked only when the store has a certificate authority, after revoking
/// a certified pair.
const CRL_PROMPT: &str = "Enter the administrator password to sign the new CRL (empty to skip): ";
/// Asked only when the store has a certificate authority.
const CERTIFY_PROMPT: &str =
    "Enter the administrator password to certify the keys (empty to skip): ";

/// With a certificate authority in the store: asks the administrator
/// password and issues a certificate for the user's new pair (and, for
/// replaced keys, signs a CRL that withdraws the old pair's), as
/// [`crate::ops::ca_policy::after_new_pair`] does for keygen and rotate. An
/// empty answer skips it, and so does a wrong password (the keys are made
/// already); both say how to issue it later. Whether one was issued.
pub(super) fn certify(
    store: &Store,
    console: &mut dyn Console,
    user_id: &UserId,
    owner_password: &Password,
    replaced: bool,
    given: Option<&Password>,
) -> Result<bool> {
    if Ca::load(store.dir())?.is_none() {
        return Ok(false);
    }
    let later = format!(
        "run `secure-kms cert issue {user_id}` to issue it later{}",
        or_file(console, given)
    );
    let Some(admin) = ask_admin(console, CERTIFY_PROMPT, given)? else {
        console.say(&format!("No certificate issued for {user_id}: {later}"))?;
        return Ok(false);
    };
    // The password is checked by its first use (one PBKDF2 run, not two):
    // a wrong one issues nothing.
    let admin = Admin::With(admin);
    let after = match after_new_pair(store, user_id, owner_password, &admin, replaced, "session") {
        Err(e) if matches!(e.root(), Error::Crypto(CryptoError::Decryption)) => {
            console.say(&format!(
                "Wrong administrator password: no certificate issued for {user_id}; {later}"
            ))?;
            return Ok(false);
        }
        after => after?,
    };
    if let Some(issued) = &after.certificate {
        console.say(&format!(
            "Certificate issued for {user_id} by the KMS CA (serial {})",
            issued.serial
        ))?;
    }
    if let Some(crl) = &after.crl {
        console.say(&format!(
            "CRL number {} signed by the KMS CA: the replaced pair's certificate is withdrawn (superseded)",
            crl.number
        ))?;
    }
    Ok(after.certificate.is_some())
}

/// After revoking a certified pair: asks the administrator password and
/// signs a new CRL, as [`crate::ops::ca_policy::after_revocation`] does for
/// `revoke`. An empty answer or a wrong password leaves the CRL behind the
/// list, and says how to catch it up.
pub(super) fn sign_crl(
    store: &Store,
    console: &mut dyn Console,
    outcome: &RevokeOutcome,
    given: Option<&Password>,
) -> Result<()> {
    let later = format!(
        "run `secure-kms crl refresh` to sign it later{}",
        or_file(console, given)
    );
    let Some(admin) = ask_admin(console, CRL_PROMPT, given)? else {
        console.say(&format!("The CRL was not signed: {later}"))?;
        return Ok(());
    };
    match after_revocation(store, outcome, &Admin::With(admin), "session") {
        Ok(AfterRevocation::Signed(crl)) => console.say(&format!(
            "CRL number {} signed by the KMS CA: {} revoked certificate(s)",
            crl.number,
            crl.serials.len()
        )),
        Err(e) if matches!(e.root(), Error::Crypto(CryptoError::Decryption)) => console.say(
            &format!("Wrong administrator password: the CRL was not signed; {later}"),
        ),
        other => other.map(drop),
    }
}

/// How else to give the administrator password, when piped input could
/// not.
fn or_file(console: &dyn Console, given: Option<&Password>) -> &'static str {
    if given.is_none() && !console.is_interactive() {
        " (or pass --admin-password-file)"
    } else {
        ""
    }
}

/// The administrator password: the one given, else asked without echo on
/// a terminal; `None` for an empty answer, the end of input, or piped
/// input, whose lines are the original's three answers and never this.
fn ask_admin(
    console: &mut dyn Console,
    prompt: &str,
    given: Option<&Password>,
) -> Result<Option<Password>> {
    if let Some(given) = given {
        return Ok(Some(given.clone()));
    }
    if !console.is_interactive() {
        return Ok(None);
    }
    match console.ask_password(prompt)?.filter(|a| !a.is_empty()) {
        Some(answer) => Password::new(answer).map(Some),
        None => Ok(None),
    }
}
