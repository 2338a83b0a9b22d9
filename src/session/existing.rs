//! Step 2 for a user already in the store: the original overwrote their
//! keys; here the password must unlock them first, the session says what is
//! there, and asks before replacing them (a rotation, which keeps the old
//! version). Revoked, destroyed or expired keys cannot be kept.

use crate::crypto::kdf::Password;
use crate::keys::KeyStore;
use crate::keys::keyring::versions;
use crate::keys::unlock::UnlockedUser;
use crate::ops::commands::authenticate;
use crate::revocation::{RevocationList, find_revocation};
use crate::store::Store;
use crate::symmetric::is_key_expired;
use crate::ui::console::Console;
use crate::util::time;
use crate::util::user::UserId;
use crate::{CryptoError, Error, KeyError, Result};

use super::ask::{NOTHING_WRITTEN, REPLACE_PROMPT, ask_yes_no};

/// Checks the password of a user already in the store (a failure is
/// logged as `authentication_failed`). Their keys, unlocked, unless they
/// are revoked or destroyed: those are never unlocked for use, but the
/// password is still checked, so that only their owner can replace them.
///
/// # Errors
/// [`KeyError::Unlock`] for a wrong password.
pub(super) fn check_password(
    store: &Store,
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    password: &Password,
) -> Result<Option<UnlockedUser>> {
    let record = keys.require(user_id)?;
    let all = versions(record);
    let primary_destroyed = all.last().is_some_and(|v| !v.has_material());
    if find_revocation(revoked, user_id, &all).is_some() || primary_destroyed {
        authenticate(store, keys, user_id, password, "session")?;
        return Ok(None);
    }
    crate::ops::commands::unlock_logged(store, keys, revoked, user_id, password, "session")
        .map(Some)
}

/// For a user already in the store, whose password [`check_password`]
/// checked (`current`: their keys, unless revoked or destroyed): says what
/// is there and asks whether to replace it. The keys, unlocked, if they are
/// kept; `None` to replace them by a rotation. Revoked, destroyed or
/// expired keys cannot be kept.
pub(super) fn keep_existing(
    console: &mut dyn Console,
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    current: Option<UnlockedUser>,
) -> Result<Option<UnlockedUser>> {
    let record = keys.require(user_id)?;
    let all = versions(record);
    let revocation = find_revocation(revoked, user_id, &all).cloned();
    if let Some(r) = &revocation {
        console.say(&format!(
            "The keys of {user_id} were revoked at {} (reason: {}).",
            r.revoked_at_text(),
            r.reason
        ))?;
    }
    let now = time::now();
    match record.symmetric.last() {
        Some(sym) if is_key_expired(sym, now) => console.say(&format!(
            "{user_id} already has keys in the store (made {}; the symmetric key expired at {}).",
            time::format(sym.created),
            time::format(sym.expiry)
        ))?,
        Some(sym) => console.say(&format!(
            "{user_id} already has keys in the store (made {}; the symmetric key expires at {}).",
            time::format(sym.created),
            time::format(sym.expiry)
        ))?,
        None => console.say(&format!("{user_id} already has keys in the store."))?,
    }
    if ask_yes_no(console, REPLACE_PROMPT, NOTHING_WRITTEN)? {
        return Ok(None);
    }
    if let Some(r) = revocation {
        return Err(r.to_error());
    }
    let Some(current) = current else {
        let primary = versions(record).last().map_or(0, |v| v.version);
        return Err(Error::Key(KeyError::Destroyed {
            user: user_id.to_string(),
            version: primary,
            destroyed_at: versions(record)
                .last()
                .and_then(|v| v.destroyed_at())
                .map(time::format),
        }));
    };
    let missing = match (&current.symmetric, &current.key_pair) {
        (None, _) => Some("no symmetric key"),
        (_, None) => Some("no RSA key pair"),
        _ => None,
    };
    if let Some(missing) = missing {
        return Err(Error::Crypto(CryptoError::MalformedKey(format!(
            "the keys of {user_id} are incomplete ({missing}): run the session again and answer yes to replace them"
        ))));
    }
    current.symmetric_key_for_use(user_id, now)?;
    console.say(&format!("Keeping the existing keys for {user_id}"))?;
    Ok(Some(current))
}
