//! What `--explain` prints: each step of a command in order, with its real
//! values and why each is safe, in lines of at most 80 columns.
//!
//! Only values that are not secret are ever given to [`Steps`]: salts,
//! iteration counts, nonces, associated data, tags, public values, key IDs
//! and sizes. A password, a key, a private value or a shared secret is
//! shown at most as its size or as the first digits of its SHA-256, which
//! reveal nothing of it.

use crate::ops::handshake::Explain;
use crate::util::fingerprint;

pub mod exchange;
pub mod files;
pub mod keys;

/// The widest line `--explain` prints.
pub const WIDTH: usize = 80;

/// Steps explained, collected as text.
///
/// ```
/// use secure_kms::ui::explain::Steps;
/// let mut steps = Steps::default();
/// steps.step("iterations", "600000", "PBKDF2-HMAC-SHA256 rounds");
/// assert_eq!(steps.text(), "  iterations: 600000\n      PBKDF2-HMAC-SHA256 rounds\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Steps {
    text: String,
}

impl Steps {
    /// A heading, wrapped to [`WIDTH`].
    pub fn title(&mut self, text: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        wrap_into(&mut self.text, text, "", "");
    }

    /// One step: its name and value, then why, indented and wrapped.
    pub fn step(&mut self, name: &str, value: &str, why: &str) {
        wrap_into(&mut self.text, &format!("{name}: {value}"), "  ", "      ");
        if !why.is_empty() {
            wrap_into(&mut self.text, why, "      ", "      ");
        }
    }

    /// Everything so far, one line per line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether nothing was explained.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl Explain for Steps {
    fn step(&mut self, name: &str, value: &str, why: &str) {
        Steps::step(self, name, value, why);
    }
}

/// Appends `text`, its first line starting with `first` and the others
/// with `rest`, broken at spaces so that none is wider than [`WIDTH`].
fn wrap_into(out: &mut String, text: &str, first: &str, rest: &str) {
    let mut line = String::from(first);
    let mut indent = first.len();
    let room = WIDTH - rest.len();
    let words = text.split(' ').flat_map(|word| split_long(word, room));
    for word in words {
        let word = word.as_str();
        let fits = line.chars().count() + 1 + word.chars().count() <= WIDTH;
        if line.len() > indent && !fits {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            indent = rest.len();
        } else if line.len() > indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// A word too long for a line of its own (associated data, with a key ID
/// in it) in pieces that fit, each as long as it can be: broken after a
/// `/` where the word has one, so that each field stays whole, else where
/// the line ends. No two pieces fit on one line, so none is joined to the
/// next by a space.
fn split_long(word: &str, room: usize) -> Vec<String> {
    if word.chars().count() <= room {
        return vec![word.to_owned()];
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for field in word.split_inclusive('/') {
        if !piece.is_empty() && piece.chars().count() + field.chars().count() > room {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push_str(field);
        while piece.chars().count() > room {
            let cut: String = piece.chars().take(room).collect();
            piece = piece.chars().skip(room).collect();
            pieces.push(cut);
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// The first 16 hex digits of SHA-256 of a secret: enough to see that two
/// sides hold the same value, nothing about the value.
pub fn hashed(secret: &[u8]) -> String {
    format!(
        "SHA-256 {}",
        fingerprint::short(&fingerprint::sha256_hex(secret))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_at_80_columns_with_the_indent_kept() {
        let mut steps = Steps::default();
        let why = "word ".repeat(40);
        steps.step("name", "value", why.trim_end());
        let text = steps.text();
        assert!(text.lines().count() > 3, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(
            text.lines().skip(1).all(|l| l.starts_with("      ")),
            "{text}"
        );
    }

    #[test]
    fn a_word_longer_than_a_line_is_broken_and_nothing_is_lost() {
        let mut steps = Steps::default();
        let id = "0123456789abcdef".repeat(8);
        steps.step(
            "associated data",
            &format!("secure-kms/v2/alice/{id}"),
            "why",
        );
        let text = steps.text();
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        let joined: String = text.lines().map(str::trim).collect();
        assert!(joined.contains(&id), "{text}");
    }

    #[test]
    fn associated_data_breaks_after_a_slash_so_each_field_stays_whole() {
        let id = "0123456789abcdef".repeat(4);
        let ad =
            format!("secure-kms/v2/alice/symmetric/1/1796489312.0957181/1796492912.0957181/{id}");
        let mut steps = Steps::default();
        steps.step("associated data", &ad, "");
        let text = steps.text();
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(text.lines().any(|l| l.trim() == id), "{text}");
        let joined: String = text.lines().skip(1).map(str::trim).collect();
        assert_eq!(joined, ad, "{text}");
    }
}
