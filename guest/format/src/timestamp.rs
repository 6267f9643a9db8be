//! The `enrichment_timestamp` text: milliseconds since the Unix epoch as UTC,
//! `2024-01-15T10:30:01.123Z` (always three fractional digits and `Z`). The
//! calendar is the `time` crate's; no clock is read here (callers pass the time in).
//! The text is written by hand from the date's fields rather than with
//! `time`'s `formatting` feature, which adds ~45 KB to every plugin (and to
//! its compile time) for one fixed format.

use std::fmt::Write;

use time::{OffsetDateTime, PrimitiveDateTime};

/// `2024-01-15T10:30:01.123Z` for milliseconds since the Unix epoch (UTC).
///
/// Covers the years 0000-9999 (the text is the same as it always was there);
/// instants beyond `time`'s range (±9999 years) are written as its first or last instant.
pub fn format_utc_millis(epoch_ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .unwrap_or_else(|_| {
            if epoch_ms < 0 {
                PrimitiveDateTime::MIN.assume_utc()
            } else {
                PrimitiveDateTime::MAX.assume_utc()
            }
        });
    let mut text = String::with_capacity(24);
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_millis_as_utc() {
        assert_eq!(format_utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc_millis(1_705_314_601_123),
            "2024-01-15T10:30:01.123Z"
        );
        assert_eq!(
            format_utc_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_utc_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn pads_every_field_and_keeps_the_range_ends() {
        assert_eq!(
            format_utc_millis(-62_167_219_200_000),
            "0000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_utc_millis(-61_851_600_000_000),
            "0010-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_utc_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(format_utc_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            format_utc_millis(1_000_000_000_007),
            "2001-09-09T01:46:40.007Z"
        );
        assert_eq!(
            format_utc_millis(4_107_542_400_050),
            "2100-03-01T00:00:00.050Z"
        );
    }
}
