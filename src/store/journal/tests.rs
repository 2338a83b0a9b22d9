//! Unit tests of `store/journal.rs`.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::FormatError;

fn files(dir: &Path) -> Vec<Option<Vec<u8>>> {
    [REVOKED_KEYS_FILE, KEY_STORE_FILE, AUDIT_FILE, JOURNAL_FILE]
        .iter()
        .map(|name| fs::read(dir.join(name)).ok())
        .collect()
}

/// A real log of one line (`OLD`), and the two chained lines a change
/// adds to it.
fn log_lines() -> (String, String) {
    use crate::store::audit::{Appender, Event, EventKind};
    let alice = crate::util::user::UserId::new("alice").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let event = |kind| Event::new(kind, &alice, "test");
    let old = Appender::open(dir.path())
        .unwrap()
        .render(&[event(EventKind::Created)]);
    fs::write(dir.path().join(AUDIT_FILE), &old).unwrap();
    let new = Appender::open(dir.path())
        .unwrap()
        .render(&[event(EventKind::Rotated), event(EventKind::Revoked)]);
    (old, new)
}

/// A change to both store files and the log of [`log_lines`], whose
/// old line must be in `audit.log` before it is committed.
fn journal(old: &str, new: &str) -> Journal {
    Journal::new(
        Some("[]".to_owned()),
        Some(Contents::Text("{}".to_owned())),
        Vec::new(),
        old.len() as u64,
        new.to_owned(),
    )
}

/// Writes a journal by hand, as secure-kms writes one (mode 0600).
fn write_journal(dir: &Path, text: &str) {
    let path = dir.join(JOURNAL_FILE);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// A crash can stop `apply` after any rename, or with the log cut in
/// the middle of a line; recovery from each of those states gives the
/// bytes one uninterrupted apply gives.
#[test]
fn recovery_after_any_partial_apply_gives_the_same_files() {
    let (old, new) = log_lines();
    let whole = tempfile::tempdir().unwrap();
    fs::write(whole.path().join(AUDIT_FILE), &old).unwrap();
    let mut j = journal(&old, &new);
    j.commit(whole.path()).unwrap();
    j.apply(whole.path()).unwrap();
    let expected = files(whole.path());
    assert_eq!(expected[3], None, "the journal is removed");
    let second_line = new.find('\n').unwrap() + 1;
    let partial_logs = [
        old.clone(),
        format!("{old}{}", &new[..4]),
        format!("{old}{}", &new[..second_line]),
        format!("{old}{new}"),
    ];
    for renamed in 0..=2 {
        for (i, log) in partial_logs.iter().enumerate() {
            let case = format!("{renamed} renamed, log {i}");
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(AUDIT_FILE), &old).unwrap();
            let mut j = journal(&old, &new);
            j.commit(dir.path()).unwrap();
            for r in &j.replace[..renamed] {
                fs::rename(dir.path().join(&r.prepared), dir.path().join(&r.target)).unwrap();
            }
            fs::write(dir.path().join(AUDIT_FILE), log).unwrap();
            assert!(pending(dir.path()));
            assert!(Journal::recover(dir.path(), None).unwrap(), "{case}");
            assert_eq!(files(dir.path()), expected, "{case}");
            // Nothing left to do, and no prepared file left over.
            assert!(!Journal::recover(dir.path(), None).unwrap());
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3, "{case}");
        }
    }
    for name in [REVOKED_KEYS_FILE, KEY_STORE_FILE] {
        let mode = fs::metadata(whole.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

/// A journal the previous format wrote (a SHA-256 of each prepared
/// file, not its inode) is still finished, and still checked.
#[test]
fn a_format_2_journal_is_finished_by_its_hashes() {
    for target_holds_it in [true, false] {
        let (old, new) = log_lines();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(AUDIT_FILE), &old).unwrap();
        let mut j = journal(&old, &new);
        j.commit(dir.path()).unwrap();
        j.format = JOURNAL_FORMAT_2;
        for r in &mut j.replace {
            let text = fs::read(dir.path().join(&r.prepared)).unwrap();
            (r.stamp, r.sha256) = (None, Some(sha256_hex(&text)));
        }
        write_journal(dir.path(), &serde_json::to_string(&j).unwrap());
        // The run died after renaming the revocation list into place.
        let first = &j.replace[0];
        fs::rename(
            dir.path().join(&first.prepared),
            dir.path().join(&first.target),
        )
        .unwrap();
        if !target_holds_it {
            fs::write(dir.path().join(&first.target), "[ ]").unwrap();
        }
        let result = Journal::recover(dir.path(), None);
        if target_holds_it {
            assert!(result.unwrap());
            assert_eq!(
                fs::read_to_string(dir.path().join(KEY_STORE_FILE)).unwrap(),
                "{}"
            );
            assert_eq!(
                fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap(),
                format!("{old}{new}")
            );
        } else {
            let err = result.unwrap_err();
            assert!(
                matches!(err, Error::Store(StoreError::BrokenJournal { .. })),
                "{err}"
            );
        }
    }
}

#[test]
fn a_log_cut_below_the_recorded_length_is_reported_not_papered_over() {
    let (old, new) = log_lines();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(AUDIT_FILE), &old).unwrap();
    journal(&old, &new).commit(dir.path()).unwrap();
    fs::write(dir.path().join(AUDIT_FILE), &old[..2]).unwrap();
    let err = Journal::recover(dir.path(), None).unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::BrokenJournal { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("the log was cut"), "{err}");
    assert_eq!(
        fs::read(dir.path().join(AUDIT_FILE)).unwrap(),
        &old.as_bytes()[..2]
    );
    assert!(pending(dir.path()), "the journal is kept as evidence");
}

/// A journal that does not parse, prepared a file that does not, names
/// a file it may not, or whose prepared file is gone while the target
/// is something else, is refused and nothing is renamed.
#[test]
fn a_journal_that_cannot_be_trusted_is_refused() {
    let commit = |revoked: Option<&str>, keys: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::new(
            revoked.map(str::to_owned),
            keys.map(|k| Contents::Text(k.to_owned())),
            Vec::new(),
            0,
            String::new(),
        );
        j.commit(dir.path()).unwrap();
        (dir, j)
    };
    let (not_json, _) = commit(None, None);
    write_journal(not_json.path(), "not json");
    let (bad_list, _) = commit(Some("{}"), None);
    let (bad_store, _) = commit(None, Some("{\"bad id\": {}}"));
    let (forged, mut j) = commit(Some("[]"), None);
    j.replace[0].target = "../escape.json".to_owned();
    write_journal(forged.path(), &serde_json::to_string(&j).unwrap());
    let attached = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![(OneFile::NAME, text.to_owned())];
        Journal::new(None, None, files, 0, String::new())
            .commit(dir.path())
            .unwrap();
        dir
    };
    let bad_attached = attached("not what it holds");
    let unattached = attached(OneFile::GOOD);
    let (gone, j) = commit(Some("[]"), None);
    fs::remove_file(gone.path().join(&j.replace[0].prepared)).unwrap();
    fs::write(gone.path().join(REVOKED_KEYS_FILE), "[ ]").unwrap();
    for (name, dir) in [
        ("not JSON", &not_json),
        ("a bad list", &bad_list),
        ("a bad store", &bad_store),
        ("a forged target", &forged),
        ("an attached file that is not what it holds", &bad_attached),
        (
            "an attached file, recovered without its attachment",
            &unattached,
        ),
        ("a prepared file gone", &gone),
    ] {
        let attachment = (name != "an attached file, recovered without its attachment")
            .then_some(&OneFile as &dyn Attachment);
        let err = Journal::recover(dir.path(), attachment).unwrap_err();
        if attachment.is_none() && dir.path() == unattached.path() {
            // Not broken: the store was opened the wrong way.
            assert!(
                matches!(err, Error::Store(StoreError::NotAttached(_))),
                "{name}: {err}"
            );
        } else {
            assert!(
                matches!(err, Error::Store(StoreError::BrokenJournal { .. })),
                "{name}: {err}"
            );
        }
        assert!(!dir.path().join(KEY_STORE_FILE).exists(), "{name}");
        assert!(pending(dir.path()), "{name}: the journal is kept");
    }
    assert_eq!(
        fs::read(gone.path().join(REVOKED_KEYS_FILE)).unwrap(),
        b"[ ]"
    );
    assert!(!forged.path().parent().unwrap().join("escape.json").exists());
    assert!(!bad_attached.path().join(OneFile::NAME).exists());
    assert!(!unattached.path().join(OneFile::NAME).exists());
    // With its attachment, the good one is put in place.
    assert!(Journal::recover(unattached.path(), Some(&OneFile)).unwrap());
    assert_eq!(
        fs::read(unattached.path().join(OneFile::NAME)).unwrap(),
        OneFile::GOOD.as_bytes()
    );
}

/// An attachment of one file, whose text must be [`OneFile::GOOD`].
#[derive(Debug)]
struct OneFile;

impl OneFile {
    const NAME: &str = "attached.txt";
    const GOOD: &str = "good";
}

impl Attachment for OneFile {
    fn files(&self) -> &'static [&'static str] {
        &[OneFile::NAME]
    }
    fn check_file(&self, name: &str, text: &[u8]) -> Result<()> {
        match text == OneFile::GOOD.as_bytes() {
            true => Ok(()),
            false => Err(Error::Format(FormatError::FileFormat(format!(
                "{name} is not good"
            )))),
        }
    }
    fn add_revocations(
        &self,
        _: &crate::store::Store,
        _: &crate::keys::KeyStore,
        _: &mut RevocationList,
        _: crate::store::AttachedRead,
    ) -> Result<()> {
        Ok(())
    }
}
