//! How the subcommands print their results: an aligned table when standard
//! output is a terminal (in colour, unless `NO_COLOR` is set), plain
//! tab-separated lines otherwise, and JSON with `--json`.
//!
//! Plain lines are for `grep`, `cut` and `awk`: no header, no padding, no
//! colour, one record per line, fields separated by tabs. JSON is for
//! programs; its shapes are documented in `docs/commands.md` and kept stable.
//! Nothing printed here comes from outside the store's checked values:
//! user IDs are limited to `[A-Za-z0-9._@-]`, and the rest are numbers,
//! hex fingerprints, times and fixed words, so no output can carry a
//! terminal escape sequence.

use std::fmt::Write as _;
use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::keys::keyring::{self, KeyState};
use crate::ops::commands::{UserStatus, UserSummary};
use crate::revocation::{Revocation, RevokeOutcome};
use crate::store::audit::Entry;
use crate::store::versions::NewVersion;
use crate::util::fingerprint;
use crate::util::time;
use crate::util::user::UserId;

/// How to print: decided once, from the terminal and the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// Aligned columns with a header (a terminal), or plain lines.
    pub table: bool,
    /// Colour, only in a table and never with `NO_COLOR` set.
    pub color: bool,
}

impl Format {
    /// A table with colour on a terminal (unless the `NO_COLOR` variable is
    /// set to anything but the empty string, as <https://no-color.org>
    /// asks), plain lines otherwise.
    pub fn detect() -> Self {
        let table = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Format {
            table,
            color: table && !no_color,
        }
    }

    /// Plain lines, no colour: what scripts and tests get.
    pub const PLAIN: Format = Format {
        table: false,
        color: false,
    };
}

/// A table cell, with the colour it takes on a terminal.
struct Cell {
    text: String,
    color: Option<AnsiColor>,
}

/// Every cell's text is escaped: a field read from a file (an audit line's
/// `command`, a time) cannot drive the terminal or break a plain line's
/// tabs.
impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell {
            text: crate::util::escape::printable(&text),
            color: None,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::from(text.to_owned())
    }
}

/// A state, with the original's word or the event beside the NIST name.
fn state_cell(state: KeyState, why: Option<&str>) -> Cell {
    Cell {
        text: keyring::state_text(state, why),
        color: Some(match state {
            KeyState::Active => AnsiColor::Green,
            KeyState::Deactivated => AnsiColor::Yellow,
            KeyState::Compromised => AnsiColor::Red,
            KeyState::Destroyed => AnsiColor::Magenta,
        }),
    }
}

struct Table {
    headers: &'static [&'static str],
    rows: Vec<Vec<Cell>>,
    /// The first field of each plain line, naming the kind of record where
    /// one command prints two kinds.
    plain_kind: Option<&'static str>,
}

impl Table {
    fn render(&self, format: Format, out: &mut String) {
        if !format.table {
            for row in &self.rows {
                let fields = self.plain_kind.into_iter().map(str::to_owned);
                let fields: Vec<String> =
                    fields.chain(row.iter().map(|c| c.text.clone())).collect();
                let _ = writeln!(out, "{}", fields.join("\t"));
            }
            return;
        }
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.text.chars().count());
            }
        }
        let bold = Style::new().bold();
        let mut line = String::new();
        for (h, w) in self.headers.iter().zip(&widths) {
            let _ = write!(line, "{h:<w$}  ");
        }
        let header = line.trim_end();
        if format.color {
            let _ = writeln!(out, "{bold}{header}{bold:#}");
        } else {
            let _ = writeln!(out, "{header}");
        }
        for row in &self.rows {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                let padded = format!("{:<w$}", cell.text);
                match (format.color, cell.color) {
                    (true, Some(c)) => {
                        let style = Style::new().fg_color(Some(c.into()));
                        let _ = write!(line, "{style}{padded}{style:#}  ");
                    }
                    _ => {
                        let _ = write!(line, "{padded}  ");
                    }
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
}

fn short(fp: Option<&str>, format: Format) -> String {
    match fp {
        // A table is read by people: the first 16 hex digits identify a
        // key among a class's. Plain lines keep the whole ID for scripts.
        Some(fp) if format.table => fingerprint::short(fp).to_owned(),
        Some(fp) => fp.to_owned(),
        None => "-".to_owned(),
    }
}

/// What `keygen` and `rotate` print: the same lines on a terminal and in a
/// pipe, since each names its field.
pub fn new_version(v: &NewVersion) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: version {} made, now the primary (active until {})",
        v.user,
        v.version,
        time::format(v.expiry)
    );
    let _ = writeln!(out, "  symmetric key ID: {}", v.symmetric_fingerprint);
    let _ = writeln!(out, "  RSA key pair ID:  {}", v.public_key_fingerprint);
    out
}

/// What `status` prints: one row per version, then each version's
/// timestamped transitions.
pub fn status(s: &UserStatus, format: Format) -> String {
    let mut out = String::new();
    if format.table {
        let _ = writeln!(out, "Keys of {} (* = primary, for new use):", s.user);
    }
    let versions = Table {
        headers: &[
            "VERSION",
            "STATE",
            "CREATED",
            "ACTIVE UNTIL",
            "SYMMETRIC KEY ID",
            "RSA KEY ID",
        ],
        rows: s
            .versions
            .iter()
            .map(|v| {
                let number = if v.primary && format.table {
                    format!("{} *", v.version)
                } else {
                    v.version.to_string()
                };
                vec![
                    number.into(),
                    state_cell(v.state, v.why.as_deref()),
                    time::format(v.created).into(),
                    time::format(v.active_until).into(),
                    short(v.symmetric_fingerprint.as_deref(), format).into(),
                    short(v.public_key_fingerprint.as_deref(), format).into(),
                ]
            })
            .collect(),
        plain_kind: Some("version"),
    };
    versions.render(format, &mut out);
    if format.table {
        let _ = writeln!(out, "\nTransitions (NIST SP 800-57 Part 1, section 7):");
    }
    let transitions = Table {
        headers: &["VERSION", "STATE", "AT", "WHY"],
        rows: s
            .versions
            .iter()
            .flat_map(|v| {
                v.transitions.iter().map(move |t| {
                    vec![
                        v.version.to_string().into(),
                        state_cell(t.state, None),
                        time::format(t.at).into(),
                        t.why.as_str().into(),
                    ]
                })
            })
            .collect(),
        plain_kind: Some("transition"),
    };
    transitions.render(format, &mut out);
    out
}

/// What `list` prints: one line per user.
pub fn list(users: &[UserSummary], format: Format) -> String {
    let mut out = String::new();
    Table {
        headers: &["USER", "VERSIONS", "PRIMARY", "STATE", "ACTIVE UNTIL"],
        rows: users
            .iter()
            .map(|u| {
                vec![
                    u.user.as_str().into(),
                    u.version_count.to_string().into(),
                    u.primary.map_or("-".to_owned(), |p| p.to_string()).into(),
                    u.state
                        .map_or(Cell::from("-"), |s| state_cell(s, u.why.as_deref())),
                    u.active_until.map_or("-".to_owned(), time::format).into(),
                ]
            })
            .collect(),
        plain_kind: None,
    }
    .render(format, &mut out);
    if users.is_empty() && format.table {
        out.push_str("(no users)\n");
    }
    out
}

/// A revocation as commands print it in JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RevocationView {
    /// Whose key.
    pub user: UserId,
    /// Which version.
    pub version: Option<u32>,
    /// The symmetric key's ID.
    pub symmetric_fingerprint: Option<String>,
    /// The RSA pair's ID.
    pub public_key_fingerprint: Option<String>,
    /// When, RFC 3339 UTC.
    pub revoked_at: String,
    /// Why: an RFC 5280 reason name.
    pub reason: String,
    /// The serial of the revoked pair's certificate, if the CA issued one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl From<&Revocation> for RevocationView {
    fn from(r: &Revocation) -> Self {
        RevocationView {
            user: r.user_id.clone(),
            version: r.version,
            symmetric_fingerprint: r.symmetric_fingerprint.as_deref().map(str::to_owned),
            public_key_fingerprint: r.public_key_fingerprint.as_deref().map(str::to_owned),
            revoked_at: r.revoked_at_text(),
            reason: r.reason.to_string(),
            serial: r.serial.clone(),
        }
    }
}

/// What `revoked` prints: the revocation list.
pub fn revoked(entries: &[Revocation], format: Format) -> String {
    let mut out = String::new();
    Table {
        headers: &[
            "USER",
            "VERSION",
            "REVOKED AT",
            "REASON",
            "SYMMETRIC KEY ID",
            "RSA KEY ID",
        ],
        rows: entries
            .iter()
            .map(|r| {
                vec![
                    r.user_id.as_str().into(),
                    r.version.map_or("-".to_owned(), |v| v.to_string()).into(),
                    r.revoked_at_text().into(),
                    r.reason.to_string().into(),
                    short(r.symmetric_fingerprint.as_deref(), format).into(),
                    short(r.public_key_fingerprint.as_deref(), format).into(),
                ]
            })
            .collect(),
        plain_kind: None,
    }
    .render(format, &mut out);
    if entries.is_empty() && format.table {
        out.push_str("(no revoked keys)\n");
    }
    out
}

/// What `revoke` prints.
pub fn revoke(user: &str, outcome: &RevokeOutcome) -> String {
    let mut out = String::new();
    for r in &outcome.revoked {
        let _ = writeln!(
            out,
            "Key revoked for {user}: version {} is now {} as of {}, refused for every use",
            r.version.map_or("-".to_owned(), |v| v.to_string()),
            crate::keys::keyring::revoked_state_text(r),
            r.revoked_at_text(),
        );
    }
    for r in &outcome.already {
        let _ = writeln!(
            out,
            "Already revoked, nothing changed: {user} version {} was revoked at {} (reason: {})",
            r.version.map_or("-".to_owned(), |v| v.to_string()),
            r.revoked_at_text(),
            r.reason
        );
    }
    out
}

/// What `audit` prints: the events.
pub fn audit(entries: &[Entry], format: Format) -> String {
    let mut out = String::new();
    Table {
        headers: &[
            "SEQ", "TIME", "EVENT", "USER", "VERSION", "REASON", "COMMAND",
        ],
        rows: entries
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string().into(),
                    e.time_utc.as_str().into(),
                    e.event.event.to_string().into(),
                    // The CA's own events have no user.
                    if e.event.user.is_empty() {
                        "(CA)".into()
                    } else {
                        e.event.user.as_str().into()
                    },
                    e.event
                        .version
                        .map_or("-".to_owned(), |v| v.to_string())
                        .into(),
                    e.event
                        .reason
                        .map_or("-".to_owned(), |r| r.to_string())
                        .into(),
                    e.event.command.as_str().into(),
                ]
            })
            .collect(),
        plain_kind: None,
    }
    .render(format, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            headers: &["A", "STATE"],
            rows: vec![
                vec!["long value".into(), state_cell(KeyState::Active, None)],
                vec!["x".into(), state_cell(KeyState::Compromised, None)],
            ],
            plain_kind: Some("row"),
        }
    }

    #[test]
    fn plain_lines_are_tab_separated_without_header_or_colour() {
        let mut out = String::new();
        table().render(Format::PLAIN, &mut out);
        assert_eq!(out, "row\tlong value\tactive\nrow\tx\tcompromised\n");
    }

    #[test]
    fn a_table_aligns_columns_and_colours_only_when_asked() {
        let mut out = String::new();
        let plain_table = Format {
            table: true,
            color: false,
        };
        table().render(plain_table, &mut out);
        assert_eq!(
            out,
            "A           STATE\nlong value  active\nx           compromised\n"
        );
        assert!(!out.contains('\u{1b}'));
        let mut coloured = String::new();
        table().render(
            Format {
                table: true,
                color: true,
            },
            &mut coloured,
        );
        assert!(coloured.contains("\u{1b}[32m"), "{coloured:?}");
        assert!(coloured.contains("\u{1b}[31m"), "{coloured:?}");
    }
}
