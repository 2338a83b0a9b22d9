//! Timestamps as the original script kept them: seconds since the Unix epoch,
//! as a float (Python's `time.time()`), shown to people as RFC 3339 UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as Python's `time.time()` gives them.
pub type Timestamp = f64;

/// The current time.
///
/// ```
/// let t = secure_kms::time::now();
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
/// assert_eq!(secure_kms::time::format(1714039200.0), "2024-04-25T10:00:00Z");
/// ```
pub fn format(t: Timestamp) -> String {
    if !t.is_finite() || t < 0.0 {
        return format!("{t} (not a valid time)");
    }
    match UNIX_EPOCH.checked_add(Duration::from_secs_f64(t.min(253_402_300_799.0))) {
        Some(when) => humantime::format_rfc3339_seconds(when).to_string(),
        None => format!("{t} (not a valid time)"),
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
