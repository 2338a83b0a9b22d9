//! The interactive session that `cargo run` starts, line for line as the
//! original script ran it, plus a signed Diffie-Hellman demonstration and a
//! status report.
//!
//! The session talks through a [`Console`], so that tests can script it and
//! the binary can give it the terminal ([`crate::console::TerminalConsole`]).

use crate::commands::{add_version, authenticate};
use crate::console::Console;
use crate::exchange::{
    SessionKey, compute_shared_secret, derive_key_from_secret, generate_dh_parameters,
    generate_dh_private_key,
};
use crate::fingerprint;
use crate::kdf::{DEFAULT_ITERATIONS, KdfParams, Password, PasswordKey};
use crate::keys::keyring::versions;
use crate::keys::keyring::versions_of;
use crate::keys::unlock::UnlockedUser;
use crate::keys::{KeyStore, UserRecord};
use crate::pki::{sign_public_key, verify_signature};
use crate::revocation::{
    Revocation, RevocationList, RevocationReason, find_revocation, is_key_revoked, revoke_key,
};
use crate::store::Store;
use crate::store::audit::EventKind;
use crate::symmetric::{DEFAULT_EXPIRY_SECS, is_key_expired, load_symmetric_key};
use crate::time;
use crate::user::UserId;
use crate::{Error, Result};

/// Settings of a session; the defaults are the product's.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// PBKDF2 iterations for new keys.
    pub iterations: u32,
    /// Lifetime of a new symmetric key, in seconds.
    pub expiry_time: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            iterations: DEFAULT_ITERATIONS,
            expiry_time: DEFAULT_EXPIRY_SECS,
        }
    }
}

const USER_PROMPT: &str = "Enter the user ID: ";
const PASSWORD_PROMPT: &str = "Enter the password: ";
const CONFIRM_PROMPT: &str = "Confirm the password: ";
const REPLACE_PROMPT: &str = "Replace them with new keys? (yes/no): ";
const REVOKE_PROMPT: &str = "Do you want to revoke keys? (yes/no): ";
/// Asked only when the store has a certificate authority, after revoking
/// a certified pair.
const CRL_PROMPT: &str = "Enter the administrator password to sign the new CRL (empty to skip): ";
/// Asked only when the store has a certificate authority.
const CERTIFY_PROMPT: &str =
    "Enter the administrator password to certify the keys (empty to skip): ";

const NOTHING_WRITTEN: &str = "nothing was written";
const KEYS_KEPT: &str = "the keys above are kept and nothing was revoked";

/// Runs the interactive session against `store`:
/// asks for a user ID and a password, makes and stores the user's keys (or,
/// for a known user, checks the password and asks before replacing them),
/// shows a signed Diffie-Hellman exchange, offers to revoke the keys, reports
/// their status and prints the final key store.
///
/// ```
/// use secure_kms::console::Console;
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

    let answer = ask_required(console, USER_PROMPT, NOTHING_WRITTEN)?;
    let user_id = UserId::new(&answer)?;
    // Read again now that the user is known, with their record checked
    // against what the audit log recorded of them (a swapped key, a
    // deleted revocation or record is refused), before a password is typed
    // for it; what follows uses this read, and no other. Other users'
    // records are not parsed at all.
    let (keys, revoked) = crate::commands::load_for_use(
        store,
        &[&user_id],
        crate::store::trust::KeyUse::WithPassword,
    )?;
    let record = keys.get(&user_id)?;
    let password = ask_password(console, PASSWORD_PROMPT)?;
    // A record that holds no key version at all (possible through the
    // library, as in the original) has nothing to protect or keep: treat
    // the user as new. A user whose versions are all destroyed is not new:
    // the password cannot be checked, and the keys are refused below.
    let known = record.is_some_and(|r| r.latest_version() > 0);
    if !known && console.is_interactive() {
        // A new password typed once without echo could hold a typo that
        // locks the keys for good. Scripts, which cannot mistype, are not
        // asked twice, so that piped sessions keep the original's lines.
        let again = ask_password(console, CONFIRM_PROMPT)?;
        if !password.ct_eq(&again) {
            return Err(Error::PasswordMismatch);
        }
    }

    let kept = if known {
        keep_existing(store, console, &keys, &revoked, &user_id, &password)?
    } else {
        None
    };
    let unlocked = match kept {
        Some(unlocked) => unlocked,
        None => {
            let expected = keys.get(&user_id)?.cloned();
            make_keys(store, console, &user_id, &password, expected, options)?
        }
    };

    demonstrate(console, &user_id, &unlocked)?;

    let revoke = ask_yes_no(console, REVOKE_PROMPT, KEYS_KEPT).map_err(|e| match e {
        e @ Error::EndOfInput { .. } => e,
        other => Error::KeysKept(Box::new(other)),
    })?;
    if revoke {
        let outcome = store.update(|keys, revoked, events| {
            if keys.get(&user_id)? != Some(&unlocked.record) {
                return Err(Error::Conflict(user_id.to_string()));
            }
            let outcome = revoke_key(
                revoked,
                &user_id,
                &versions_of(keys, &user_id)?,
                RevocationReason::Unspecified,
                None,
                time::now(),
            )?;
            events.extend(crate::commands::revocation_events(
                &outcome, &user_id, "session",
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
        if outcome.revoked.iter().any(|r| r.serial.is_some()) {
            sign_crl(store, console)?;
        }
    }

    // Read back what is on disk now: the report shows the store, not this
    // run's idea of it.
    let (keys, revoked) = store.load()?;
    if let Some(record) = keys.get(&user_id)? {
        let all = versions(record);
        // The original's last check, as it asked it.
        if is_key_revoked(&revoked, &user_id, &all) {
            console.say(&format!("Key for {user_id} has been revoked."))?;
        }
        report_status(
            console,
            &user_id,
            record,
            find_revocation(&revoked, &user_id, &all),
        )?;
    }
    console.say("Final Key Store State:")?;
    // The records are shown as read; JSON allows no control character in
    // them, and the bidirectional ones are escaped here too.
    console.say_written(&|out| {
        let mut json = Vec::new();
        keys.write_json(&mut json)?;
        let shown = crate::escape::json_for_output(&String::from_utf8_lossy(&json));
        out.write_all(shown.as_bytes())
    })
}

/// For a user already in the store: checks the password, says what is there
/// and asks whether to replace it. The keys, unlocked, if they are kept;
/// `None` to replace them by a rotation. Revoked, destroyed or expired keys
/// cannot be kept.
fn keep_existing(
    store: &Store,
    console: &mut dyn Console,
    keys: &KeyStore,
    revoked: &RevocationList,
    user_id: &UserId,
    password: &Password,
) -> Result<Option<UnlockedUser>> {
    let record = keys.get(user_id)?.expect("the caller found the user");
    let all = versions(record);
    let revocation = find_revocation(revoked, user_id, &all).cloned();
    let primary_destroyed = all.last().is_some_and(|v| !v.has_material());
    // Revoked or destroyed keys are never unlocked for use; the password is
    // still checked, so that only their owner can replace them.
    let current = if revocation.is_some() || primary_destroyed {
        authenticate(store, keys, user_id, password, "session")?;
        None
    } else {
        let unlocked =
            crate::commands::unlock_logged(store, keys, revoked, user_id, password, "session")?;
        Some(unlocked)
    };
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
        return Err(Error::Destroyed {
            user: user_id.to_string(),
            version: primary,
            destroyed_at: versions(record)
                .last()
                .and_then(|v| v.destroyed_at())
                .map(time::format),
        });
    };
    let missing = match (&current.symmetric, &current.key_pair) {
        (None, _) => Some("no symmetric key"),
        (_, None) => Some("no RSA key pair"),
        _ => None,
    };
    if let Some(missing) = missing {
        return Err(Error::MalformedKey(format!(
            "the keys of {user_id} are incomplete ({missing}): run the session again and answer yes to replace them"
        )));
    }
    current.symmetric_key_for_use(user_id, now)?;
    console.say(&format!("Keeping the existing keys for {user_id}"))?;
    Ok(Some(current))
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
    let password_key = PasswordKey::derive(password, &KdfParams::generate(options.iterations)?);
    let kind = match &expected {
        Some(record) if record.latest_version() > 0 => EventKind::Rotated,
        _ => EventKind::Created,
    };
    let made = add_version(
        store,
        user_id,
        &password_key,
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
    let record = if certify(store, console, user_id, password)? {
        // The record now holds the certificate too.
        store
            .load()?
            .0
            .get(user_id)?
            .cloned()
            .ok_or_else(|| Error::Conflict(user_id.to_string()))?
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

/// With a certificate authority in the store: asks the administrator
/// password and issues a certificate for the user's new pair. An empty
/// answer skips it, and so does a wrong password (the keys are made
/// already); both say how to issue it later. Whether one was issued.
fn certify(
    store: &Store,
    console: &mut dyn Console,
    user_id: &UserId,
    owner_password: &Password,
) -> Result<bool> {
    if crate::ca::Ca::load(store.dir())?.is_none() {
        return Ok(false);
    }
    let later = format!("run `secure-kms cert issue {user_id}` to issue it later");
    let answer = console.ask_password(CERTIFY_PROMPT)?;
    let Some(answer) = answer.filter(|a| !a.is_empty()) else {
        console.say(&format!("No certificate issued for {user_id}: {later}"))?;
        return Ok(false);
    };
    let password = Password::new(answer)?;
    match crate::ca::issue(store, user_id, &password, owner_password) {
        Ok(issued) => {
            console.say(&format!(
                "Certificate issued for {user_id} by the KMS CA (serial {})",
                issued.serial
            ))?;
            // Replaced keys: the CRL withdraws the old pair's certificate
            // (superseded), with the password just given.
            if crate::ca::crl::is_behind(store, Some(user_id))? {
                let crl = crate::ca::crl::publish(store, &password, "session")?;
                console.say(&format!(
                    "CRL number {} signed by the KMS CA: the replaced pair's certificate is withdrawn (superseded)",
                    crl.number
                ))?;
            }
            Ok(true)
        }
        Err(Error::Decryption) => {
            console.say(&format!(
                "Wrong administrator password: no certificate issued for {user_id}; {later}"
            ))?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// After revoking a certified pair: asks the administrator password and
/// signs a new CRL. An empty answer or a wrong password leaves the CRL
/// behind the list, and says how to catch it up.
fn sign_crl(store: &Store, console: &mut dyn Console) -> Result<()> {
    let later = "run `secure-kms crl refresh` to sign it later";
    let answer = console.ask_password(CRL_PROMPT)?;
    let Some(answer) = answer.filter(|a| !a.is_empty()) else {
        console.say(&format!("The CRL was not signed: {later}"))?;
        return Ok(());
    };
    match crate::ca::crl::publish(store, &Password::new(answer)?, "session") {
        Ok(crl) => console.say(&format!(
            "CRL number {} signed by the KMS CA: {} revoked certificate(s)",
            crl.number,
            crl.serials.len()
        )),
        Err(Error::Decryption) => console.say(&format!(
            "Wrong administrator password: the CRL was not signed; {later}"
        )),
        Err(e) => Err(e),
    }
}

/// Shows the symmetric key's fingerprint and a Diffie-Hellman exchange whose
/// public values are signed with the user's RSA key.
fn demonstrate(console: &mut dyn Console, user_id: &UserId, unlocked: &UnlockedUser) -> Result<()> {
    let sym_record = unlocked
        .record
        .symmetric
        .iter()
        .find(|s| s.version == unlocked.version);
    let (Some(symmetric), Some((private_key, public_key)), Some(sym_record)) =
        (&unlocked.symmetric, &unlocked.key_pair, sym_record)
    else {
        return Err(Error::MalformedKey(format!(
            "the keys of {user_id} are incomplete"
        )));
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

    let key_a = derive_key_from_secret(compute_shared_secret(&party_a, &public_b)?.as_bytes());
    let key_b = derive_key_from_secret(compute_shared_secret(&party_b, &public_a)?.as_bytes());
    let hashed = |k: &SessionKey| fingerprint::sha256_hex(k.as_bytes());
    console.say(&format!(
        "Party A derived key (hashed): {}",
        fingerprint::short(&hashed(&key_a))
    ))?;
    console.say(&format!(
        "Party B derived key (hashed): {}",
        fingerprint::short(&hashed(&key_b))
    ))?;
    if key_a != key_b {
        return Err(Error::KeyAgreement);
    }
    console.say("Secure symmetric key derived!")
}

/// Prints whether the user's keys are expired and whether they are revoked.
fn report_status(
    console: &mut dyn Console,
    user_id: &UserId,
    record: &UserRecord,
    revocation: Option<&Revocation>,
) -> Result<()> {
    console.say(&format!("Key status for {user_id}:"))?;
    if let Some(sym) = record.symmetric.last() {
        let when = time::format(sym.expiry);
        if is_key_expired(sym, time::now()) {
            console.say(&format!("  symmetric key: expired at {when}"))?;
        } else {
            console.say(&format!("  symmetric key: not expired (expires at {when})"))?;
        }
    }
    match revocation {
        Some(r) => console.say(&format!(
            "  revoked: yes, at {} (reason: {})",
            r.revoked_at_text(),
            r.reason
        )),
        None => console.say("  revoked: no"),
    }
}

fn end_of_input(question: &str, state: &'static str) -> Error {
    Error::EndOfInput {
        question: question.trim_end().to_string(),
        state,
    }
}

fn ask_password(console: &mut dyn Console, prompt: &str) -> Result<Password> {
    match console.ask_password(prompt)? {
        Some(pw) => Password::new(pw),
        None => Err(end_of_input(prompt, NOTHING_WRITTEN)),
    }
}

fn ask_required(console: &mut dyn Console, prompt: &str, state: &'static str) -> Result<String> {
    console
        .ask(prompt)?
        .ok_or_else(|| end_of_input(prompt, state))
}

/// Asks until the answer is yes, y, no or n, in any case.
fn ask_yes_no(console: &mut dyn Console, prompt: &str, state: &'static str) -> Result<bool> {
    loop {
        let answer = ask_required(console, prompt, state)?;
        match answer.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" => return Ok(true),
            "no" | "n" => return Ok(false),
            _ => console.say("Please answer yes or no.")?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use zeroize::Zeroizing;

    /// Something another run does while this one waits for an answer.
    type Hook<'a> = Box<dyn FnMut() + 'a>;

    /// A scripted console: answers in order, lines recorded, and an optional
    /// action run just before a given question is answered.
    struct Script<'a> {
        answers: VecDeque<&'static str>,
        lines: Vec<String>,
        before: Option<(&'static str, Hook<'a>)>,
        interactive: bool,
        prompts: Vec<String>,
    }

    impl<'a> Script<'a> {
        fn new(answers: &[&'static str]) -> Self {
            Script {
                answers: answers.iter().copied().collect(),
                lines: Vec::new(),
                before: None,
                interactive: false,
                prompts: Vec::new(),
            }
        }

        fn next(&mut self, prompt: &str) -> Option<&'static str> {
            self.prompts.push(prompt.to_owned());
            if let Some((question, action)) = &mut self.before
                && *question == prompt
            {
                action();
            }
            self.answers.pop_front()
        }

        fn has(&self, line: &str) -> bool {
            self.lines.iter().any(|l| l.starts_with(line))
        }
    }

    impl Console for Script<'_> {
        fn say(&mut self, line: &str) -> Result<()> {
            self.lines.push(line.to_owned());
            Ok(())
        }
        fn ask(&mut self, prompt: &str) -> Result<Option<String>> {
            Ok(self.next(prompt).map(str::to_owned))
        }
        fn ask_password(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>> {
            Ok(self.next(prompt).map(|s| Zeroizing::new(s.to_owned())))
        }
        fn is_interactive(&self) -> bool {
            self.interactive
        }
    }

    fn fast(expiry_time: u64) -> SessionOptions {
        SessionOptions {
            iterations: crate::kdf::MIN_ITERATIONS,
            expiry_time,
        }
    }

    #[test]
    fn an_expired_symmetric_key_is_reported_and_cannot_be_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::ca::open_store(dir.path());
        let mut first = Script::new(&["alice", "pw", "no"]);
        run_session(&store, &mut first, &fast(0)).unwrap();
        assert!(
            first.has("The symmetric key of alice expired at "),
            "{:?}",
            first.lines
        );
        assert!(
            first.has("  symmetric key: expired at "),
            "{:?}",
            first.lines
        );

        let before = store.load().unwrap();
        let mut keep = Script::new(&["alice", "pw", "no"]);
        let err = run_session(&store, &mut keep, &fast(0)).unwrap_err();
        assert!(
            matches!(err, Error::Expired { ref user, .. } if user == "alice"),
            "{err}"
        );
        assert!(err.is_refusal());
        assert!(
            keep.has("alice already has keys in the store (made "),
            "{:?}",
            keep.lines
        );
        assert!(
            keep.lines
                .iter()
                .any(|l| l.contains("the symmetric key expired at")),
            "{:?}",
            keep.lines
        );
        assert_eq!(store.load().unwrap(), before);

        // Replacing it issues a key that is valid again.
        let mut replace = Script::new(&["alice", "pw", "yes", "no"]);
        run_session(&store, &mut replace, &fast(3600)).unwrap();
        assert!(
            replace.has("  symmetric key: not expired"),
            "{:?}",
            replace.lines
        );
    }

    #[test]
    fn a_change_by_another_run_while_waiting_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::ca::open_store(dir.path());
        run_session(
            &store,
            &mut Script::new(&["alice", "pw", "no"]),
            &fast(3600),
        )
        .unwrap();

        // While this session waits at the replace question, another run
        // replaces alice's keys: this session must not write over them.
        let after_other = std::cell::RefCell::new(None);
        let other = store.clone();
        let mut script = Script::new(&["alice", "pw", "yes", "no"]);
        script.before = Some((
            REPLACE_PROMPT,
            Box::new(|| {
                run_session(
                    &other,
                    &mut Script::new(&["alice", "pw", "yes", "no"]),
                    &fast(3600),
                )
                .unwrap();
                after_other.replace(Some(other.load().unwrap().0));
            }),
        ));
        let err = run_session(&store, &mut script, &fast(3600)).unwrap_err();
        drop(script);
        assert!(
            matches!(err, Error::Conflict(ref u) if u == "alice"),
            "{err}"
        );
        let written_by_other = after_other.into_inner().expect("the other run ran");
        assert_eq!(store.load().unwrap().0, written_by_other);
    }

    #[test]
    fn a_revocation_needs_the_keys_this_session_showed() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::ca::open_store(dir.path());
        let mut script = Script::new(&["alice", "pw", "yes"]);
        let other = store.clone();
        script.before = Some((
            REVOKE_PROMPT,
            Box::new(move || {
                run_session(
                    &other,
                    &mut Script::new(&["alice", "pw", "yes", "no"]),
                    &fast(3600),
                )
                .unwrap();
            }),
        ));
        let err = run_session(&store, &mut script, &fast(3600)).unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        // The other run's fresh keys were not revoked by mistake.
        assert!(store.load().unwrap().1.is_empty());
    }

    #[test]
    fn on_a_terminal_a_new_password_is_asked_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::ca::open_store(dir.path());
        let mut typo = Script::new(&["alice", "pw", "pW"]);
        typo.interactive = true;
        assert!(matches!(
            run_session(&store, &mut typo, &fast(60)),
            Err(Error::PasswordMismatch)
        ));
        assert!(store.load().unwrap().0.is_empty());

        let mut same = Script::new(&["alice", "pw", "pw", "no"]);
        same.interactive = true;
        run_session(&store, &mut same, &fast(60)).unwrap();
        assert_eq!(
            same.prompts[..3],
            [USER_PROMPT, PASSWORD_PROMPT, CONFIRM_PROMPT]
        );

        // A known user proves the password by unlocking: no confirmation.
        let mut known = Script::new(&["alice", "pw", "no", "no"]);
        known.interactive = true;
        run_session(&store, &mut known, &fast(60)).unwrap();
        assert_eq!(
            known.prompts[..3],
            [USER_PROMPT, PASSWORD_PROMPT, REPLACE_PROMPT]
        );

        // Piped answers are never asked twice.
        let mut piped = Script::new(&["bob", "pw", "no"]);
        run_session(&store, &mut piped, &fast(60)).unwrap();
        assert_eq!(
            piped.prompts[..3],
            [USER_PROMPT, PASSWORD_PROMPT, REVOKE_PROMPT]
        );
    }

    #[test]
    fn incomplete_records_can_be_replaced_and_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::ca::open_store(dir.path());
        let alice = UserId::new("alice").unwrap();
        // A record with no key at all: the user is treated as new.
        store
            .update(|keys, _, _| {
                keys.insert(&alice, UserRecord::default());
                Ok(())
            })
            .unwrap();
        let mut empty = Script::new(&["alice", "pw", "no"]);
        run_session(&store, &mut empty, &fast(60)).unwrap();
        assert!(
            empty.has("Symmetric key stored for alice"),
            "{:?}",
            empty.lines
        );

        // Half the keys: the password is still checked, and the keys cannot
        // be kept, only replaced.
        type Damage = fn(&mut UserRecord);
        let damages: [(&str, Damage); 2] = [
            ("no RSA key pair", |r| drop(r.asymmetric.pop())),
            ("no symmetric key", |r| drop(r.symmetric.pop())),
        ];
        for (missing, damage) in damages {
            store
                .update(|keys, _, _| {
                    damage(keys.entry(&alice).unwrap());
                    Ok(())
                })
                .unwrap();
            let keep = Script::new(&["alice", "pw", "no"]);
            let err = run_session(&store, &mut { keep }, &fast(60)).unwrap_err();
            assert!(
                err.to_string().contains(&format!("incomplete ({missing})")),
                "{err}"
            );
            let wrong = Script::new(&["alice", "wrong", "yes"]);
            let err = run_session(&store, &mut { wrong }, &fast(60)).unwrap_err();
            assert!(matches!(err, Error::Unlock(_)), "{missing}: {err}");
            let mut replace = Script::new(&["alice", "pw", "yes", "no"]);
            run_session(&store, &mut replace, &fast(60)).unwrap();
            assert!(replace.has("Asymmetric keys stored securely for alice"));
        }
    }
}
