//! Timestamps as the original script kept them: seconds since the Unix epoch,
//! as a float (Python's `time.time()`), shown to people as RFC 3339 UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, de::Error as _};

/// Seconds since the Unix epoch, as Python's `time.time()` gives them.
pub type Timestamp = f64;

/// The latest time a store file holds: 9999-12-31T23:59:59Z, the last that
/// RFC 3339's four-digit years can write.
pub const LATEST_TIME: Timestamp = 253_402_300_799.0;

/// The current time.
///
/// ```
/// let t = secure_kms::util::time::now();
/// assert!(t > 1.7e9);
/// ```
pub fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        // A clock before 1970 is broken; the epoch is the least surprising answer.
        .unwrap_or(0.0)
}

/// Formats a timestamp as RFC 3339 UTC to the second, e.g. `2024-04-25T10:00:00Z`.
///
/// ```
/// assert_eq!(secure_kms::util::time::format(1714039200.0), "2024-04-25T10:00:00Z");
/// ```
pub fn format(t: Timestamp) -> String {
    if !t.is_finite() || t < 0.0 {
        return format!("{t} (not a valid time)");
    }
    let when = UNIX_EPOCH + Duration::from_secs_f64(t.min(LATEST_TIME));
    humantime::format_rfc3339_seconds(when).to_string()
}

/// Serialises a timestamp as RFC 3339 UTC text, for command output.
pub(crate) fn serialize_rfc3339<S: serde::Serializer>(
    t: &Timestamp,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

/// As [`serialize_rfc3339`], for an optional timestamp.
pub(crate) fn serialize_rfc3339_optional<S: serde::Serializer>(
    t: &Option<Timestamp>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&format(*t)),
        None => s.serialize_none(),
    }
}

/// Serde check for an optional timestamp, as [`deserialize`].
pub(crate) fn deserialize_optional<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Timestamp>, D::Error> {
    #[derive(Deserialize)]
    struct Checked(#[serde(deserialize_with = "deserialize")] Timestamp);
    Ok(Option::<Checked>::deserialize(d)?.map(|c| c.0))
}

/// Serde check: a timestamp read from a store file must be a time between
/// 1970 and 9999; anything else (negative, 1e308) is an edited file.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let t = f64::deserialize(d)?;
    if t.is_finite() && (0.0..=LATEST_TIME).contains(&t) {
        Ok(t)
    } else {
        // Short scientific notation for huge values, not 300 digits.
        let shown = if t.abs() < 1e15 {
            format!("{t}")
        } else {
            format!("{t:e}")
        };
        Err(D::Error::custom(format!(
            "timestamp {shown} is not a time between 1970 and 9999"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_epoch_and_fractions() {
        assert_eq!(format(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1714039200.9), "2024-04-25T10:00:00Z");
    }

    #[test]
    fn refuses_to_format_nonsense_as_a_date() {
        assert!(format(f64::NAN).contains("not a valid time"));
        assert!(format(-1.0).contains("not a valid time"));
    }
}
