//! Timestamps as the original script kept them: seconds since the Unix epoch,
//! as a float (Python's `time.time()`), shown to people as RFC 3339 UTC.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

/// A moment as the original script kept it: seconds since the Unix epoch,
/// as a float (Python's `time.time()`). A type of its own, so that a
/// lifetime in seconds or a version number cannot be passed where a time
/// is meant; stored in JSON as the bare number, bit for bit.
///
/// ```
/// use secure_kms::util::time::Timestamp;
///
/// let made = Timestamp::from_secs(1714039200.0);
/// let expiry = made + 3600.0;
/// assert_eq!(expiry - made, 3600.0);
/// assert!(made < expiry);
/// assert_eq!(expiry.to_string(), "1714042800");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(f64);

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0.0);

    /// The moment `secs` seconds after the epoch.
    pub const fn from_secs(secs: f64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> f64 {
        self.0
    }

    /// The moment `since` after the epoch (an X.509 time, a file's).
    pub fn from_duration(since: Duration) -> Self {
        Timestamp(since.as_secs_f64())
    }

    /// Whole seconds since the epoch (none before it): what X.509 and
    /// RFC 3339 to the second keep.
    pub fn whole_secs(self) -> u64 {
        self.0.max(0.0) as u64
    }

    /// Orders two moments, NaN included (as [`f64::total_cmp`]).
    pub fn total_cmp(&self, other: &Timestamp) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }

    /// The later of two moments.
    #[must_use]
    pub fn max(self, other: Timestamp) -> Timestamp {
        Timestamp(self.0.max(other.0))
    }

    /// The earlier of two moments.
    #[must_use]
    pub fn min(self, other: Timestamp) -> Timestamp {
        Timestamp(self.0.min(other.0))
    }
}

/// `secs` seconds later.
impl std::ops::Add<f64> for Timestamp {
    type Output = Timestamp;
    fn add(self, secs: f64) -> Timestamp {
        Timestamp(self.0 + secs)
    }
}

/// Moves it `secs` seconds later.
impl std::ops::AddAssign<f64> for Timestamp {
    fn add_assign(&mut self, secs: f64) {
        self.0 += secs;
    }
}

/// `secs` seconds earlier.
impl std::ops::Sub<f64> for Timestamp {
    type Output = Timestamp;
    fn sub(self, secs: f64) -> Timestamp {
        Timestamp(self.0 - secs)
    }
}

/// The seconds from `earlier` to `self`.
impl std::ops::Sub for Timestamp {
    type Output = f64;
    fn sub(self, earlier: Timestamp) -> f64 {
        self.0 - earlier.0
    }
}

/// The number as Rust writes an `f64`: what the wrapped keys' associated
/// data binds, so it must never change.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The latest time a store file holds: 9999-12-31T23:59:59Z, the last that
/// RFC 3339's four-digit years can write.
pub const LATEST_TIME: Timestamp = Timestamp(253_402_300_799.0);

/// The current time.
///
/// ```
/// let t = secure_kms::util::time::now();
/// assert!(t.as_secs() > 1.7e9);
/// ```
pub fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            // A clock before 1970 is broken; the epoch is the least surprising answer.
            .unwrap_or(0.0),
    )
}

/// Formats a timestamp as RFC 3339 UTC to the second, e.g. `2024-04-25T10:00:00Z`.
///
/// ```
/// use secure_kms::util::time::{Timestamp, format};
///
/// assert_eq!(format(Timestamp::from_secs(1714039200.0)), "2024-04-25T10:00:00Z");
/// ```
pub fn format(t: Timestamp) -> String {
    let t = t.0;
    if !t.is_finite() || t < 0.0 {
        return format!("{t} (not a valid time)");
    }
    let when = UNIX_EPOCH + Duration::from_secs_f64(t.min(LATEST_TIME.0));
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
    if t.is_finite() && (0.0..=LATEST_TIME.0).contains(&t) {
        Ok(Timestamp(t))
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
        assert_eq!(format(Timestamp::EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            format(Timestamp::from_secs(1714039200.9)),
            "2024-04-25T10:00:00Z"
        );
    }

    #[test]
    fn refuses_to_format_nonsense_as_a_date() {
        assert!(format(Timestamp::from_secs(f64::NAN)).contains("not a valid time"));
        assert!(format(Timestamp::from_secs(-1.0)).contains("not a valid time"));
    }
}
