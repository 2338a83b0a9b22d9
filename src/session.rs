//! The interactive session that `cargo run` starts, line for line as the
//! original script ran it. `run_session` reads as the script's main block:
//! one function per step, in the original's order.
//!
//! | step | the original | here |
//! |---|---|---|
//! | 1 | `input` the user ID and the password | `ask_user` |
//! | 2, 3 | `generate_symmetric_key`, `store_symmetric_key`; `generate_asymmetric_keys`, `store_asymmetric_keys` | `distribute_keys` (`make_keys`, or `keep_existing` in `session/existing.rs` for a known user) |
//! | 4 | `generate_dh_parameters`, `generate_dh_private_key`, `compute_shared_secret`, `derive_key_from_secret` | `exchange_keys` (each public value signed with `sign_public_key`, checked with `verify_signature`) |
//! | 5 | "Do you want to revoke keys?", `revoke_key` | `offer_revocation` |
//! | 6 | `is_key_revoked`, "Final Key Store State:" | `show_final_state` |
//!
//! The session talks through a [`Console`], so that tests can script it and
//! the binary can give it the terminal ([`crate::ui::console::TerminalConsole`]).

use crate::crypto::kdf::{DEFAULT_ITERATIONS, KdfParams, Password, PasswordKey};
use crate::exchange::{
    SessionKey, compute_shared_secret, derive_key_from_secret, generate_dh_parameters,
    generate_dh_private_key,
};
use crate::keys::keyring::{status, versions, versions_of};
use crate::keys::unlock::UnlockedUser;
use crate::keys::{KeyStore, UserRecord};
use crate::pki::{sign_public_key, verify_signature};
use crate::revocation::{
    RevocationList, RevocationReason, find_revocation, is_key_revoked, revoke_key,
};
use crate::store::Store;
use crate::store::audit::EventKind;
use crate::store::versions::add_version_unlocking;
use crate::symmetric::{DEFAULT_EXPIRY_SECS, is_key_expired, load_symmetric_key};
use crate::ui::console::Console;
use crate::ui::elide::elide_long_values;
use crate::ui::explain::{self, Steps};
use crate::util::fingerprint;
use crate::util::time;
use crate::util::user::UserId;

use crate::{CryptoError, Error, KeyError, Result, StoreError, UiError};
use ask::{
    CONFIRM_PROMPT, KEYS_KEPT, NOTHING_WRITTEN, PASSWORD_PROMPT, REVOKE_PROMPT, Tries, USER_PROMPT,
    ask_password, ask_required, ask_yes_no, id_taken, retry,
};

/// Settings of a session; the defaults are the product's.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// PBKDF2 iterations for new keys.
    pub iterations: u32,
    /// Lifetime of a new symmetric key, in seconds.
    pub expiry_time: u64,
    /// Show the whole store at the end, as the original printed it,
    /// rather than this user's record with long values shortened.
    pub show_store: bool,
    /// Show each step with its real, non-secret values (`--explain`): how
    /// the keys were made and wrapped, the Diffie-Hellman values, the
    /// revocation entry.
    pub explain: bool,
    /// With a certificate authority: the administrator password to
    /// certify the new keys and sign a CRL with. Without it the session
    /// asks for it on a terminal only, so that piped input keeps the
    /// original's three lines, CA or not.
    pub admin_password: Option<Password>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            iterations: DEFAULT_ITERATIONS,
            expiry_time: DEFAULT_EXPIRY_SECS,
            show_store: false,
            explain: false,
            admin_password: None,
        }
    }
}

/// Runs the interactive session against `store`:
/// asks for a user ID and a password, makes and stores the user's keys (or,
/// for a known user, checks the password and asks before replacing them),
/// shows a signed Diffie-Hellman exchange, offers to revoke the keys, reports
/// their status and prints the final key store.
///
/// ```
/// use secure_kms::ui::console::Console;
/// use secure_kms::session::{run_session, SessionOptions};
/// # use zeroize::Zeroizing;
/// # struct Script(Vec<&'static str>, Vec<String>);
/// # impl Console for Script {
/// #     fn say(&mut self, l: &str) -> secure_kms::Result<()> { self.1.push(l.into()); Ok(()) }
/// #     fn ask(&mut self, _: &str) -> secure_kms::Result<Option<String>> { Ok(self.0.pop().map(Into::into)) }
/// #     fn ask_password(&mut self, _: &str) -> secure_kms::Result<Option<Zeroizing<String>>> {
/// #         Ok(self.0.pop().map(|s| Zeroizing::new(s.to_string())))
/// #     }
/// # }
/// let dir = tempfile::tempdir()?;
/// let store = secure_kms::ca::open_store(dir.path());
/// // Answers, last first: user ID, password, "no" to revocation.
/// let mut console = Script(vec!["no", "mysecurepassword", "alice"], vec![]);
/// let options = SessionOptions { iterations: 1_000, ..Default::default() };
/// run_session(&store, &mut console, &options)?;
/// assert!(console.1.contains(&"Asymmetric keys stored securely for alice".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Any [`Error`]: a bad user ID or empty password, a wrong password,
/// revoked keys kept in use, end of input, a broken store file.
pub fn run_session(
    store: &Store,
    console: &mut dyn Console,
    options: &SessionOptions,
) -> Result<()> {
    // Read the files and check that the folder is writable first, so that a
    // broken or unwritable store stops the session before anyone types.
    store.load()?;
    store.check_writable()?;
    // The original's steps, in its order.
    let mut user = ask_user(store, console)?;
    let unlocked = distribute_keys(store, console, &mut user, options)?;
    exchange_keys(console, &user.id, &unlocked, options.explain)?;
    offer_revocation(store, console, &user.id, &unlocked, options)?;
    show_final_state(store, console, &user.id, options.show_store)
}

/// Who runs the session, and the store as it was read for them.
struct SessionUser {
    id: UserId,
    password: Password,
    keys: KeyStore,
    revoked: RevocationList,
    /// Whether the store holds keys for them already.
    known: bool,
    /// A known user's keys, unlocked by the password (none if they are
    /// revoked or destroyed, or the user is new).
    current: Option<UnlockedUser>,
}

/// Step 1, the original's two `input`s: the user ID, then the password
/// (asked twice on a terminal for a new user; checked against the keys of
/// a known one). On a terminal an invalid ID, a confirmation that differs,
/// or a password that does not unlock a known ID (most likely someone
/// else's: the session says the ID is taken) is asked again, [`ask::TRIES`]
/// tries in all.
fn ask_user(store: &Store, console: &mut dyn Console) -> Result<SessionUser> {
    let mut tries = Tries::new();
    loop {
        let user = ask_once(store, console, &mut tries)?;
        if !user.known {
            return Ok(user);
        }
        let (keys, revoked) = (&user.keys, &user.revoked);
        match existing::check_password(store, keys, revoked, &user.id, &user.password) {
            Err(Error::Key(KeyError::Unlock(_))) if tries.another(console) => {
                console.say(&id_taken(&user.id, keys, &tries))?;
            }
            current => {
                return Ok(SessionUser {
                    current: current?,
                    ..user
                });
            }
        }
    }
}

/// One round of step 1: the user ID, the store read for it, the password.
fn ask_once(store: &Store, console: &mut dyn Console, tries: &mut Tries) -> Result<SessionUser> {
    let id = retry(console, tries, |console| {
        UserId::new(&ask_required(console, USER_PROMPT, NOTHING_WRITTEN)?)
    })?;
    // Read again now that the user is known, with their record checked
    // against what the audit log recorded of them (a swapped key, a
    // deleted revocation or record is refused), before a password is typed
    // for it; what follows uses this read, and no other. Other users'
    // records are not parsed at all.
    let (keys, revoked) = crate::ops::commands::load_for_use(
        store,
        &[&id],
        crate::store::trust::KeyUse::WithPassword,
    )?;
    // A record that holds no key version at all (possible through the
    // library, as in the original) has nothing to protect or keep: treat
    // the user as new. A user whose versions are all destroyed is not new:
    // the password cannot be checked, and the keys are refused later.
    let known = keys.get(&id)?.is_some_and(|r| r.latest_version() > 0);
    let password = retry(console, tries, |console| {
        let password = ask_password(console, PASSWORD_PROMPT)?;
        if !known && console.is_interactive() {
            // A new password typed once without echo could hold a typo that
            // locks the keys for good. Scripts, which cannot mistype, are not
            // asked twice, so that piped sessions keep the original's lines.
            let again = ask_password(console, CONFIRM_PROMPT)?;
            if !password.ct_eq(&again) {
                return Err(Error::Ui(UiError::PasswordMismatch));
            }
        }
        Ok(password)
    })?;
    Ok(SessionUser {
        id,
        password,
        keys,
        revoked,
        known,
        current: None,
    })
}

/// Steps 2 and 3, centralized key distribution and the PKI: a new
/// symmetric key and RSA key pair, stored wrapped under the password; or,
/// for a known user, their keys kept or replaced.
fn distribute_keys(
    store: &Store,
    console: &mut dyn Console,
    user: &mut SessionUser,
    options: &SessionOptions,
) -> Result<UnlockedUser> {
    let kept = if user.known {
        let current = user.current.take();
        existing::keep_existing(console, &user.keys, &user.revoked, &user.id, current)?
    } else {
        None
    };
    match kept {
        Some(unlocked) => Ok(unlocked),
        None => {
            let expected = user.keys.get(&user.id)?.cloned();
            make_keys(store, console, &user.id, &user.password, expected, options)
        }
    }
}

/// Step 5, revocation: asks whether to revoke the keys and, if so, puts
/// them on `revoked_keys.json` (one entry per version), signing a new CRL
/// when a certified pair was revoked.
fn offer_revocation(
    store: &Store,
    console: &mut dyn Console,
    user_id: &UserId,
    unlocked: &UnlockedUser,
    options: &SessionOptions,
) -> Result<()> {
    let revoke = ask_yes_no(console, REVOKE_PROMPT, KEYS_KEPT).map_err(|e| match e {
        e @ Error::Ui(UiError::EndOfInput { .. }) => e,
        other => Error::Ui(UiError::KeysKept(Box::new(other))),
    })?;
    if !revoke {
        return Ok(());
    }
    let outcome = store.update(|keys, revoked, events| {
        if keys.get(user_id)? != Some(&unlocked.record) {
            return Err(Error::Store(StoreError::Conflict(user_id.to_string())));
        }
        let outcome = revoke_key(
            revoked,
            user_id,
            &versions_of(keys, user_id)?,
            RevocationReason::Unspecified,
            None,
            time::now(),
        )?;
        events.extend(crate::store::versions::revocation_events(
            &outcome, user_id, "session",
        ));
        Ok(outcome)
    })?;
    match outcome.already.first() {
        Some(e) if outcome.was_already_revoked() => console.say(&format!(
            "Key for {user_id} was already revoked at {}",
            e.revoked_at_text()
        ))?,
        _ => console.say(&format!("Key revoked for {user_id}"))?,
    }
    if options.explain {
        let mut steps = Steps::default();
        explain::keys::revocation(&mut steps, &outcome.revoked, None);
        if !steps.is_empty() {
            console.say(steps.text().trim_end())?;
        }
    }
    if outcome.revoked.iter().any(|r| r.serial.is_some()) {
        admin::sign_crl(store, console, &outcome, options.admin_password.as_ref())?;
    }
    Ok(())
}

/// Step 6: the original's last check (`is_key_revoked`), the key's status,
/// and the final key store, read back from disk: the report shows the
/// store, not this run's idea of it.
fn show_final_state(
    store: &Store,
    console: &mut dyn Console,
    user_id: &UserId,
    whole_store: bool,
) -> Result<()> {
    let (keys, revoked) = store.load()?;
    if let Some(record) = keys.get(user_id)? {
        report_status(console, user_id, record, &revoked)?;
    }
    console.say("Final Key Store State:")?;
    // The records are shown as read; JSON allows no control character in
    // them, and the bidirectional ones are escaped here too.
    if whole_store {
        return console.say_written(&|out| {
            let mut json = Vec::new();
            keys.write_json(&mut json)?;
            let shown = crate::util::escape::json_for_output(&String::from_utf8_lossy(&json));
            out.write_all(shown.as_bytes())
        });
    }
    // This user's record in the file's shape, long values shortened (a
    // class's store would print hundreds of lines), and a word on the rest.
    let json = match keys.record_text(user_id)? {
        Some(record) => format!("{{\n  {}: {record}\n}}", serde_json::json!(user_id)),
        None => "{}".to_owned(),
    };
    let shown = elide_long_values(&crate::util::escape::json_for_output(&json));
    console.say(&shown)?;
    let others = keys.user_ids().filter(|id| *id != user_id.as_str()).count();
    match others {
        0 => Ok(()),
        n => console.say(&format!(
            "(and {n} other user{}: `secure-kms list` names them; --show-store shows all)",
            if n == 1 { "" } else { "s" }
        )),
    }
}

/// Makes and stores a new symmetric key and RSA key pair: version 1 for a
/// new user, or the next version (a rotation: the old ones stay) in place of
/// `expected`, the record the user unlocked.
fn make_keys(
    store: &Store,
    console: &mut dyn Console,
    user_id: &UserId,
    password: &Password,
    expected: Option<UserRecord>,
    options: &SessionOptions,
) -> Result<UnlockedUser> {
    let params = KdfParams::generate(options.iterations)?;
    let kind = match &expected {
        Some(record) if record.latest_version() > 0 => EventKind::Rotated,
        _ => EventKind::Created,
    };
    // The password is stretched (PBKDF2) on this core while the RSA key
    // pair is generated on another: neither needs the other.
    let (made, password_key) = add_version_unlocking(
        store,
        user_id,
        || Ok(PasswordKey::derive(password, &params)),
        options.expiry_time,
        expected.as_ref(),
        kind,
        "session",
    )?;
    console.say(&format!(
        "Symmetric key stored for {user_id}, expires in {} seconds",
        options.expiry_time
    ))?;
    console.say(&format!("Asymmetric keys stored securely for {user_id}"))?;
    if options.explain {
        let mut steps = Steps::default();
        explain::keys::new_version(&mut steps, &made)?;
        console.say(steps.text().trim_end())?;
    }
    let replaced = kind == EventKind::Rotated;
    let admin = options.admin_password.as_ref();
    let record = if admin::certify(store, console, user_id, password, replaced, admin)? {
        // The record now holds the certificate too.
        store
            .load()?
            .0
            .get(user_id)?
            .cloned()
            .ok_or_else(|| Error::Store(StoreError::Conflict(user_id.to_string())))?
    } else {
        made.record
    };
    console.say("Keys Generated and Stored Securely:")?;
    let sym = record.symmetric.last().expect("just stored");
    let asym = record.asymmetric.last().expect("just stored");
    let symmetric = load_symmetric_key(sym, user_id, &password_key)?;
    let key_pair = asym.unlock(user_id, &password_key)?;
    Ok(UnlockedUser {
        version: made.version,
        record: record.clone(),
        symmetric: Some(symmetric),
        key_pair: Some(key_pair),
        password_key,
    })
}

/// Step 4, the key exchange: shows the symmetric key's fingerprint and a
/// Diffie-Hellman exchange whose public values are signed with the user's
/// RSA key, each party deriving the same key through HKDF.
fn exchange_keys(
    console: &mut dyn Console,
    user_id: &UserId,
    unlocked: &UnlockedUser,
    explain: bool,
) -> Result<()> {
    let sym_record = unlocked
        .record
        .symmetric
        .iter()
        .find(|s| s.version == unlocked.version);
    let (Some(symmetric), Some((private_key, public_key)), Some(sym_record)) =
        (&unlocked.symmetric, &unlocked.key_pair, sym_record)
    else {
        return Err(Error::Crypto(CryptoError::MalformedKey(format!(
            "the keys of {user_id} are incomplete"
        ))));
    };
    console.say(&format!(
        "Symmetric key (hashed): {}",
        fingerprint::short(&symmetric.fingerprint())
    ))?;
    if is_key_expired(sym_record, time::now()) {
        console.say(&format!(
            "The symmetric key of {user_id} expired at {}: it is refused for new use.",
            time::format(sym_record.expiry)
        ))?;
    }

    console.say("Diffie-Hellman key exchange (RFC 7919 ffdhe2048: 2048-bit prime, g = 2):")?;
    let params = generate_dh_parameters();
    let party_a = generate_dh_private_key(&params)?;
    let party_b = generate_dh_private_key(&params)?;
    let (public_a, public_b) = (party_a.public_key(), party_b.public_key());
    // Each side signs its public value; the other checks the signature
    // against the stored public key before trusting the value.
    let signature_a = sign_public_key(private_key, &public_a.to_bytes())?;
    let signature_b = sign_public_key(private_key, &public_b.to_bytes())?;
    verify_signature(public_key, &public_a.to_bytes(), &signature_a)?;
    verify_signature(public_key, &public_b.to_bytes(), &signature_b)?;
    console.say("Public keys authenticated!")?;

    let (z_a, z_b) = (
        compute_shared_secret(&party_a, &public_b)?,
        compute_shared_secret(&party_b, &public_a)?,
    );
    let key_a = derive_key_from_secret(z_a.as_bytes());
    let key_b = derive_key_from_secret(z_b.as_bytes());
    let hashed = |k: &SessionKey| fingerprint::sha256_hex(k.as_bytes());
    console.say(&format!(
        "Party A derived key (hashed): {}",
        fingerprint::short(&hashed(&key_a))
    ))?;
    console.say(&format!(
        "Party B derived key (hashed): {}",
        fingerprint::short(&hashed(&key_b))
    ))?;
    if explain {
        let mut steps = Steps::default();
        steps.title("The exchange, step by step (party A and party B both use your RSA key here):");
        explain::exchange::dh_steps(
            &mut steps,
            &params,
            (&public_a.to_bytes(), &public_b.to_bytes()),
            (&z_a, &z_b),
            (key_a.as_bytes(), key_b.as_bytes()),
        );
        steps.step(
            "signatures",
            &format!(
                "RSA-PSS-SHA256 on A and on B, {} bytes each, both verified",
                signature_a.len()
            ),
            "with the public key the store holds for you: a value swapped in transit fails here",
        );
        console.say(steps.text().trim_end())?;
    }
    if key_a != key_b {
        return Err(Error::Crypto(CryptoError::KeyAgreement));
    }
    console.say("Secure symmetric key derived!")
}

/// Prints the original's two checks on the user's keys, expired
/// (`is_key_expired`) and revoked (`is_key_revoked`), then the primary
/// version's state in NIST SP 800-57's words with the original's beside it.
fn report_status(
    console: &mut dyn Console,
    user_id: &UserId,
    record: &UserRecord,
    revoked: &RevocationList,
) -> Result<()> {
    console.say(&format!("Key status for {user_id}:"))?;
    let now = time::now();
    if let Some(sym) = record.symmetric.last() {
        let when = time::format(sym.expiry);
        if is_key_expired(sym, now) {
            console.say(&format!("  expired: yes, at {when}"))?;
        } else {
            console.say(&format!(
                "  expired: no (the symmetric key expires at {when})"
            ))?;
        }
    }
    let all = versions(record);
    // The original's last check, as it asked it.
    match find_revocation(revoked, user_id, &all) {
        Some(r) if is_key_revoked(revoked, user_id, &all) => console.say(&format!(
            "  revoked: yes, at {} (reason: {})",
            r.revoked_at_text(),
            r.reason
        ))?,
        _ => console.say("  revoked: no")?,
    }
    if let Some(primary) = status(record, revoked, user_id, now).last() {
        console.say(&format!(
            "  state (NIST SP 800-57): version {} is {}",
            primary.version,
            primary.state_text()
        ))?;
    }
    Ok(())
}

mod admin;
mod ask;
mod existing;
#[cfg(test)]
mod tests;
