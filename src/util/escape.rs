//! Escaping what came from a file or from input before it is shown.
//!
//! Every file in the store folder is hostile input, and so is every
//! answer, argument and message: a string from one of them can hold the
//! bytes that drive a terminal (`ESC ] 0 ; title BEL` retitles a window,
//! `ESC [ 2J` clears it) or the characters that reorder what is shown.
//! [`printable`] is the one function every such string goes through before
//! it reaches standard output or standard error. It sits at the bottom of
//! the crate, importing nothing, so that any module can use it.

/// Escapes what could drive a terminal or disguise text, so that a string
/// from a file or from input can be shown: every control character (C0,
/// DEL and C1: the escape that starts `ESC ] 0 ; title BEL`, CSI, a
/// newline that would fake another line) and the bidirectional formatting
/// characters that reorder what is shown ("Trojan Source", CVE-2021-42574),
/// each as Rust writes it (`\u{1b}`). This is the one escaping function:
/// every string that came from a file or from input goes through it before
/// it reaches standard output or standard error (errors, tables, `audit`,
/// paths), unless it is JSON, whose encoder escapes control characters.
///
/// ```
/// use secure_kms::util::escape::printable;
///
/// assert_eq!(printable("alice"), "alice");
/// assert_eq!(printable("\u{1b}]0;pwned\u{7}"), "\\u{1b}]0;pwned\\u{7}");
/// assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
/// ```
pub fn printable(s: &str) -> String {
    printable_keeping(s, &[])
}

/// [`printable`], keeping the characters in `keep` (a command's own
/// newlines and tabs, in text it laid out itself).
pub fn printable_keeping(s: &str, keep: &[char]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() || is_bidi(c)) && !keep.contains(&c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// The bidirectional formatting characters (Unicode's Bidi_Control set).
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// JSON text as written for output: serde_json escapes control
/// characters, and this escapes the bidirectional ones too (as `\u202e`,
/// which JSON reads back as the same character), so that JSON shown on a
/// terminal cannot be reordered either.
///
/// ```
/// let json = serde_json::to_string("a\u{202e}b")?;
/// assert_eq!(secure_kms::util::escape::json_for_output(&json), r#""a\u202eb""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn json_for_output(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_bidi(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("alice"), "alice");
        assert_eq!(printable("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert!(!printable("x\u{7}\r").chars().any(char::is_control));
    }
}
