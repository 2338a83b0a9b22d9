//! Long values shortened for people: the session's end shows a user's
//! record as `key_store.json` holds it, but a wrapped private key is one
//! line of some 1,650 characters, which teaches nothing and buries the
//! rest. So every string value longer than [`MAX_SHOWN`] characters is
//! cut, saying what was cut; what is shown stays valid JSON.

/// The longest string value shown whole.
pub const MAX_SHOWN: usize = 64;

/// How much of a long base64 value is kept before the cut.
const KEPT: usize = 44;

/// `json` (one JSON text, laid out in any way) with every string value
/// longer than [`MAX_SHOWN`] characters shortened, and everything else
/// (keys, numbers, the layout) as it was:
/// - a PEM keeps its first line, the first 64 characters of its body and
///   its last line;
/// - base64 keeps its first 44 characters and says how many bytes it
///   holds, "of ciphertext" under a key named `key` (a wrapped key);
/// - any other text keeps its first 44 characters and says how long it
///   was.
///
/// ```
/// use secure_kms::ui::elide::elide_long_values;
///
/// let key = "A".repeat(1644);
/// let shown = elide_long_values(&format!(r#"{{"key": "{key}", "iterations": 600000}}"#));
/// assert_eq!(
///     shown,
///     format!(r#"{{"key": "{}...(1,233 bytes of ciphertext)", "iterations": 600000}}"#, &key[..44])
/// );
/// assert!(serde_json::from_str::<serde_json::Value>(&shown).is_ok());
/// ```
pub fn elide_long_values(json: &str) -> String {
    let mut out = String::with_capacity(json.len().min(1 << 16));
    let mut rest = json;
    // The last string seen that a `:` followed: the key of the value.
    let mut key = String::new();
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let Some(len) = string_len(&rest[start..]) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let literal = &rest[start..start + len];
        rest = &rest[start + len..];
        let is_key = rest.trim_start().starts_with(':');
        let value: Option<String> = serde_json::from_str(literal).ok();
        match value {
            Some(text) if is_key => {
                key = text;
                out.push_str(literal);
            }
            Some(text) if text.chars().count() > MAX_SHOWN => {
                let shown = shorten(&text, &key);
                out.push_str(&serde_json::to_string(&shown).expect("a string serialises"));
            }
            _ => out.push_str(literal),
        }
    }
    out.push_str(rest);
    out
}

/// The length in bytes of the JSON string literal at the start of `text`
/// (quotes included), if it is closed.
fn string_len(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn shorten(text: &str, key: &str) -> String {
    if let Some(pem) = shorten_pem(text) {
        return pem;
    }
    let head: String = text.chars().take(KEPT).collect();
    let is_base64 = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if is_base64 {
        let padding = text.bytes().rev().take_while(|&b| b == b'=').count();
        let bytes = text.len() / 4 * 3 - padding;
        let what = if key == "key" { " of ciphertext" } else { "" };
        format!("{head}...({} bytes{what})", thousands(bytes))
    } else {
        format!("{head}...({} characters)", thousands(text.chars().count()))
    }
}

/// A PEM shortened to its first line, 64 characters of its body and its
/// last line.
fn shorten_pem(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let first = lines.next().filter(|l| l.starts_with("-----BEGIN "))?;
    let body: Vec<&str> = lines.collect();
    let (last, body) = body.split_last()?;
    let body: String = body.concat().chars().take(MAX_SHOWN).collect();
    Some(format!("{first}\n{body}...\n{last}\n"))
}

/// `n` with a comma between each group of three digits, as English text
/// writes it: 1,232.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_keys_and_the_layout_stay_as_they_were() {
        let text = "{\n  \"fingerprint\": \"ab\\\"c\",\n  \"n\": 1.5,\n  \"s\": [\"x\"]\n}\n";
        assert_eq!(elide_long_values(text), text);
        let sixty_four = format!("{{\"k\": \"{}\"}}", "a".repeat(64));
        assert_eq!(elide_long_values(&sixty_four), sixty_four);
    }

    #[test]
    fn a_pem_keeps_its_armor_and_the_start_of_its_body() {
        let body = "M".repeat(64 * 5);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n");
        let json = serde_json::json!({ "public": pem }).to_string();
        let shown: serde_json::Value = serde_json::from_str(&elide_long_values(&json)).unwrap();
        assert_eq!(
            shown["public"],
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}...\n-----END PUBLIC KEY-----\n",
                "M".repeat(64)
            )
        );
    }

    #[test]
    fn other_long_values_say_what_was_cut() {
        let b64 = format!("{}==", "Q".repeat(98));
        let text = "é".repeat(70);
        let json = serde_json::json!({ "value": b64, "note": text }).to_string();
        let shown: serde_json::Value = serde_json::from_str(&elide_long_values(&json)).unwrap();
        assert_eq!(shown["value"], format!("{}...(73 bytes)", "Q".repeat(44)));
        assert_eq!(
            shown["note"],
            format!("{}...(70 characters)", "é".repeat(44))
        );
        assert_eq!(thousands(1_232), "1,232");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn an_unclosed_string_is_left_as_it_is() {
        assert_eq!(elide_long_values("{\"a\": \"b"), "{\"a\": \"b");
    }
}
