//! Unit tests of `session.rs`.

use super::ask::REPLACE_PROMPT;
use super::*;
use crate::UtilError;
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
        iterations: crate::crypto::kdf::MIN_ITERATIONS,
        expiry_time,
        show_store: true,
        explain: false,
        admin_password: None,
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
    assert!(first.has("  expired: yes, at "), "{:?}", first.lines);
    // The NIST state, with the original's word beside it.
    assert!(
        first.has("  state (NIST SP 800-57): version 1 is deactivated (expired)"),
        "{:?}",
        first.lines
    );

    let before = store.load().unwrap();
    let mut keep = Script::new(&["alice", "pw", "no"]);
    let err = run_session(&store, &mut keep, &fast(0)).unwrap_err();
    assert!(
        matches!(err, Error::Key(KeyError::Expired { ref user, .. }) if user == "alice"),
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
        replace.has("  expired: no (the symmetric key expires at "),
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
        matches!(err, Error::Store(StoreError::Conflict(ref u)) if u == "alice"),
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
    assert!(
        matches!(err, Error::Store(StoreError::Conflict(_))),
        "{err}"
    );
    // The other run's fresh keys were not revoked by mistake.
    assert!(store.load().unwrap().1.is_empty());
}

#[test]
fn on_a_terminal_a_new_password_is_asked_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    // Three confirmations that differ stop the session, writing nothing.
    let mut typo = Script::new(&["alice", "pw", "pW", "pw", "pX", "pw", "pY", "pw", "pw"]);
    typo.interactive = true;
    assert!(matches!(
        run_session(&store, &mut typo, &fast(60)),
        Err(Error::Ui(UiError::PasswordMismatch))
    ));
    assert_eq!(typo.answers.len(), 2, "a fourth try was asked");
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
        assert!(
            matches!(err, Error::Key(KeyError::Unlock(_))),
            "{missing}: {err}"
        );
        let mut replace = Script::new(&["alice", "pw", "yes", "no"]);
        run_session(&store, &mut replace, &fast(60)).unwrap();
        assert!(replace.has("Asymmetric keys stored securely for alice"));
    }
}

#[test]
fn on_a_terminal_an_invalid_user_id_or_a_differing_confirmation_is_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    let mut person = Script::new(&["bad id!", "alice", "pw", "pW", "pw", "pw", "no"]);
    person.interactive = true;
    run_session(&store, &mut person, &fast(60)).unwrap();
    assert_eq!(
        person.prompts[..6],
        [
            USER_PROMPT,
            USER_PROMPT,
            PASSWORD_PROMPT,
            CONFIRM_PROMPT,
            PASSWORD_PROMPT,
            CONFIRM_PROMPT
        ]
    );
    assert!(
        person
            .lines
            .iter()
            .any(|l| l.contains("invalid user ID") && l.ends_with("(try 2 of 3)")),
        "{:?}",
        person.lines
    );
    assert!(
        person.has("the two passwords differ; type the same password twice (try 3 of 3)"),
        "{:?}",
        person.lines
    );
    assert!(
        store
            .load()
            .unwrap()
            .0
            .get(&UserId::new("alice").unwrap())
            .unwrap()
            .is_some()
    );

    // Three invalid IDs stop the session with the rule.
    let mut lost = Script::new(&["a b", "c d", "e f", "alice"]);
    lost.interactive = true;
    assert!(matches!(
        run_session(&store, &mut lost, &fast(60)),
        Err(Error::Util(UtilError::InvalidUserId(_)))
    ));
    assert_eq!(lost.answers.len(), 1);

    // Piped, the first invalid ID stops it, as before.
    let mut piped = Script::new(&["bad id!", "bob", "pw", "no"]);
    assert!(matches!(
        run_session(&store, &mut piped, &fast(60)),
        Err(Error::Util(UtilError::InvalidUserId(_)))
    ));
    assert!(piped.lines.is_empty(), "{:?}", piped.lines);
}

#[test]
fn on_a_terminal_a_taken_user_id_says_so_and_suggests_a_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    run_session(
        &store,
        &mut Script::new(&["alice", "alices-pw", "no"]),
        &fast(60),
    )
    .unwrap();
    let before = store.load().unwrap();

    let mut other = Script::new(&["alice", "mine", "alice-2", "mine", "mine", "no"]);
    other.interactive = true;
    run_session(&store, &mut other, &fast(60)).unwrap();
    assert!(
        other.has(
            "That password does not unlock alice: the user ID alice is taken. If it is yours, \
             enter it again with its password; if not, choose another user ID (alice-2 is \
             free). (try 2 of 3)"
        ),
        "{:?}",
        other.lines
    );
    // alice's keys are untouched; the new student has their own.
    let (keys, _) = store.load().unwrap();
    let alice = UserId::new("alice").unwrap();
    assert_eq!(keys.get(&alice).unwrap(), before.0.get(&alice).unwrap());
    assert!(
        keys.get(&UserId::new("alice-2").unwrap())
            .unwrap()
            .is_some()
    );

    // Three wrong passwords stop the session with the error piped input
    // gets at once.
    let mut guesser = Script::new(&["alice", "a", "alice", "b", "alice", "c", "alice", "d"]);
    guesser.interactive = true;
    assert!(matches!(
        run_session(&store, &mut guesser, &fast(60)),
        Err(Error::Key(KeyError::Unlock(_)))
    ));
    assert_eq!(guesser.answers.len(), 2);
    // Each wrong password is in the audit log, the ones a terminal retried
    // too: three from the guesser, one from the other student above.
    let failed = crate::ops::commands::audit_log(&store)
        .unwrap()
        .iter()
        .filter(|e| e.event.event == crate::store::audit::EventKind::AuthenticationFailed)
        .count();
    assert_eq!(failed, 4);
    let mut piped = Script::new(&["alice", "a", "alice", "alices-pw", "no"]);
    assert!(matches!(
        run_session(&store, &mut piped, &fast(60)),
        Err(Error::Key(KeyError::Unlock(_)))
    ));
    assert!(!piped.has("That password does not unlock"));
}

#[test]
fn on_a_terminal_three_mistakes_of_any_kind_stop_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::ca::open_store(dir.path());
    run_session(
        &store,
        &mut Script::new(&["alice", "alices-pw", "no"]),
        &fast(60),
    )
    .unwrap();
    // An invalid ID, then a taken one: the third mistake is the last.
    let mut person = Script::new(&[
        "bad id!", "alice", "guess", "bad id!", "bob", "pw", "pw", "no",
    ]);
    person.interactive = true;
    assert!(matches!(
        run_session(&store, &mut person, &fast(60)),
        Err(Error::Util(UtilError::InvalidUserId(_)))
    ));
    assert_eq!(person.answers.len(), 4, "{:?}", person.prompts);
}
