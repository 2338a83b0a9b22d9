//! Unit tests of `store/audit.rs`.

use std::fs;

use super::*;

fn alice() -> UserId {
    UserId::new("alice").unwrap()
}

/// Appends `events` to the log in `dir`, chained, as a store change
/// would (without the journal).
fn append(dir: &Path, events: &[Event]) {
    let text = Appender::open(dir).unwrap().render(events);
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(AUDIT_FILE))
        .unwrap();
    std::io::Write::write_all(&mut log, text.as_bytes()).unwrap();
}

fn log_of(n: usize) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        let kind = if i == 0 {
            EventKind::Created
        } else {
            EventKind::Rotated
        };
        let e = Event::new(kind, &alice(), "test").for_version(i as u32 + 1, None, None);
        append(dir.path(), &[e]);
    }
    let text = fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
    let lines = text.lines().map(str::to_owned).collect();
    (dir, lines)
}

/// Where the full check finds the chain broken; the check a change
/// makes (links only, the last line whole) must find the same.
fn broken_at(lines: &[String]) -> (usize, String) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let found = match check_chain(text.as_bytes()) {
        Err(Error::Store(StoreError::AuditBroken { line, problem })) => (line, problem),
        other => panic!("expected a broken chain, got {other:?}"),
    };
    match check_links(text.as_bytes()) {
        Err(Error::Store(StoreError::AuditBroken { line, problem })) => {
            assert_eq!((line, problem), found)
        }
        other => panic!("the links check missed {found:?}: {other:?}"),
    }
    found
}

#[test]
fn a_last_line_that_links_but_is_no_event_is_refused() {
    let (dir, mut lines) = log_of(3);
    assert_eq!(
        check_links(&fs::read(dir.path().join(AUDIT_FILE)).unwrap()).unwrap(),
        3
    );
    let prev = sha256_hex(lines[2].as_bytes());
    lines.push(format!(r#"{{"seq": 4, "prev": "{prev}"}}"#));
    let (line, problem) = broken_at(&lines);
    assert_eq!(line, 4);
    assert!(problem.contains("not an audit event"), "{problem}");
}

#[test]
fn appended_lines_chain_and_verify() {
    let (dir, lines) = log_of(4);
    let entries = verify(dir.path()).unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0].prev, GENESIS);
    assert_eq!(entries[3].prev, sha256_hex(lines[2].as_bytes()));
    assert_eq!(entries[3].event.version, Some(4));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Audit lines: any events (users, commands, versions), rendered
    /// in one or several appends, read back as the same entries, in
    /// order, with an unbroken chain.
    #[test]
    fn rendered_lines_read_back_as_the_same_events(
        events in proptest::collection::vec(("[A-Za-z0-9._@-]{1,64}", "[ -~]{0,40}", proptest::option::of(1u32..100)), 1..12),
        split in 0usize..12,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let events: Vec<Event> = events
            .iter()
            .map(|(user, command, version)| {
                let e = Event::new(EventKind::Rotated, &UserId::new(user).unwrap(), command);
                match version {
                    Some(v) => e.for_version(*v, None, None),
                    None => e,
                }
            })
            .collect();
        let (first, second) = events.split_at(split.min(events.len()));
        for part in [first, second] {
            append(dir.path(), part);
        }
        let entries = verify(dir.path()).unwrap();
        let read: Vec<Event> = entries.iter().map(|e| e.event.clone()).collect();
        proptest::prop_assert_eq!(read, events);
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        proptest::prop_assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>());
    }
}

#[test]
fn an_edited_line_is_named() {
    let (_dir, mut lines) = log_of(4);
    lines[1] = lines[1].replace("\"alice\"", "\"mallory\"");
    let (line, problem) = broken_at(&lines);
    assert_eq!(line, 2, "{problem}");
    assert!(problem.contains("edited"), "{problem}");
}

#[test]
fn a_removed_line_is_named() {
    let (_dir, mut lines) = log_of(4);
    lines.remove(1);
    let (line, problem) = broken_at(&lines);
    assert_eq!(line, 2);
    assert!(problem.contains("removed"), "{problem}");
}

#[test]
fn swapped_lines_are_named() {
    let (_dir, mut lines) = log_of(4);
    lines.swap(1, 2);
    let (line, problem) = broken_at(&lines);
    assert_eq!(line, 2);
    assert!(problem.contains("reordered"), "{problem}");
}

#[test]
fn an_inserted_line_is_named() {
    let (_dir, mut lines) = log_of(3);
    let copy = lines[0].clone();
    lines.insert(2, copy);
    let (line, problem) = broken_at(&lines);
    assert_eq!(line, 3);
    assert!(problem.contains("inserted"), "{problem}");
}

#[test]
fn a_file_cut_in_the_middle_of_a_line_is_named() {
    let (_dir, lines) = log_of(3);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let cut = &text.as_bytes()[..lines[0].len() + 1 + lines[1].len() / 2];
    match check_chain(cut) {
        Err(Error::Store(StoreError::AuditBroken { line, problem })) => {
            assert_eq!(line, 2);
            assert!(problem.contains("cut short"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    // A line cut in the middle, with lines after it.
    let mut lines = lines;
    let half = lines[1].len() / 2;
    lines[1].truncate(half);
    let (line, problem) = broken_at(&lines);
    assert_eq!(line, 2);
    assert!(problem.contains("not an audit event"), "{problem}");
}

#[test]
fn a_broken_log_takes_no_more_lines() {
    let (dir, lines) = log_of(2);
    let path = dir.path().join(AUDIT_FILE);
    let cut = format!("{}\n{}", lines[0], &lines[1][..10]);
    fs::write(&path, &cut).unwrap();
    let err = Appender::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("broken at line 2"), "{err}");
    assert!(err.contains("restore a good copy from a backup"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), cut);
}

#[test]
fn a_first_line_that_does_not_start_the_chain_is_line_1() {
    let (_dir, mut lines) = log_of(3);
    lines.remove(0);
    let (line, problem) = broken_at(&lines);
    assert_eq!(line, 1, "{problem}");
    // Renumbered to look like a start, it still does not start a chain.
    lines[0] = lines[0].replace("\"seq\":2", "\"seq\":1");
    let (line, problem) = broken_at(&lines[..1]);
    assert_eq!(line, 1);
    assert!(problem.contains("does not start a chain"), "{problem}");
}

#[test]
fn events_print_as_stored() {
    assert_eq!(
        EventKind::AuthenticationFailed.to_string(),
        "authentication_failed"
    );
    assert_eq!(EventKind::Created.to_string(), "created");
}
