//! User IDs: the names keys are stored under.

use std::fmt;

use crate::{Error, Result, UtilError};

/// The longest user ID accepted, in characters.
pub const MAX_LEN: usize = 64;

/// A checked user ID: 1 to 64 ASCII letters, digits and `._-@`, with
/// surrounding white space trimmed.
///
/// The rule keeps IDs safe to print on a terminal (no control characters or
/// escape sequences) and safe as JSON keys and file-name parts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    /// Checks and trims a user ID.
    ///
    /// ```
    /// use secure_kms::util::user::UserId;
    ///
    /// assert_eq!(UserId::new("  alice@example.org ")?.as_str(), "alice@example.org");
    /// assert!(UserId::new("bob smith").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`UtilError::InvalidUserId`] when the trimmed ID is empty, longer than 64
    /// characters, or holds any other character.
    pub fn new(raw: &str) -> Result<Self> {
        let id = raw.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
        if id.is_empty() || id.chars().count() > MAX_LEN || !id.chars().all(allowed) {
            // Shorten what is echoed back: the input may be huge or hostile;
            // `{:?}` in the message escapes control characters.
            let shown: String = id.chars().take(MAX_LEN + 8).collect();
            return Err(Error::Util(UtilError::InvalidUserId(shown)));
        }
        Ok(UserId(id.to_owned()))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Written as the bare ID.
impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Read from a file: the ID must follow the naming rule exactly as
/// written (white space around it is refused, not trimmed, so that what
/// is read is what is written back).
impl<'de> serde::Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = String::deserialize(d)?;
        let id = UserId::new(&raw).map_err(D::Error::custom)?;
        if id.0 != raw {
            return Err(D::Error::custom(Error::Util(UtilError::InvalidUserId(raw))));
        }
        Ok(id)
    }
}

impl PartialEq<str> for UserId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["a", "alice", "Bob_2", "x.y-z@host", &"a".repeat(64)] {
            assert_eq!(UserId::new(ok).unwrap().as_str(), ok);
        }
    }

    /// A file holds an ID exactly: white space that a person's answer may
    /// carry is trimmed, but in a file it is refused, so that what is read
    /// is what is written back.
    #[test]
    fn a_file_holds_an_id_exactly() {
        let id: UserId = serde_json::from_str("\"alice@example.org\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"alice@example.org\"");
        for bad in ["\" alice\"", "\"alice \"", "\"bob smith\"", "\"\"", "1"] {
            assert!(serde_json::from_str::<UserId>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trims_white_space() {
        assert_eq!(UserId::new("\t alice \n").unwrap().as_str(), "alice");
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "   ",
            "bob smith",
            "alice\u{1b}[31m",
            "ali/ce",
            "ëlise",
            "a\nb",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(
                    UserId::new(bad),
                    Err(Error::Util(UtilError::InvalidUserId(_)))
                ),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn the_error_states_the_rule_and_escapes_the_input() {
        let msg = UserId::new("x\u{1b}y").unwrap_err().to_string();
        assert!(msg.contains("1 to 64 characters"), "{msg}");
        assert!(!msg.contains('\u{1b}'), "{msg}");
    }
}
