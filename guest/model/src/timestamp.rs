//! The `enrichment_timestamp` text: milliseconds since the Unix epoch as UTC,
//! `2024-01-15T10:30:01.123Z` (always three fractional digits and `Z`). The
//! calendar is the `time` crate's; no clock is read here (callers pass the time in).
//! The text is written by hand from the date's fields rather than with
//! `time`'s `formatting` feature, which adds ~45 KB to every plugin (and to
//! its compile time) for one fixed format.

use time::{OffsetDateTime, PrimitiveDateTime};

/// `2024-01-15T10:30:01.123Z` for milliseconds since the Unix epoch (UTC).
///
/// Covers the years 0000-9999 (the text is the same as it always was there);
/// instants beyond `time`'s range (±9999 years) are written as its first or last instant.
pub fn format_utc_millis(epoch_ms: i64) -> String {
    // Whole seconds and milliseconds in i64 (nanoseconds would take i128
    // division, a slow library call inside WASM).
    let (seconds, millis) = (epoch_ms.div_euclid(1000), epoch_ms.rem_euclid(1000));
    let at = OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| at.replace_millisecond(millis as u16).ok())
        .unwrap_or_else(|| {
            if epoch_ms < 0 {
                PrimitiveDateTime::MIN.assume_utc()
            } else {
                PrimitiveDateTime::MAX.assume_utc()
            }
        });
    // Digits by hand: `write!` goes through `core::fmt`, which costs several
    // times more inside a WASM plugin (once per batch: per record at batch 1).
    let year = match u32::try_from(at.year()) {
        Ok(year) if year <= 9999 => year,
        // Before year 0 (`time` reaches -9999): as `{:04}` writes it, rarely.
        _ => {
            return format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.millisecond()
            );
        }
    };
    let mut text = [0u8; 24];
    put_digits(&mut text[0..4], year);
    text[4] = b'-';
    put_digits(&mut text[5..7], u32::from(u8::from(at.month())));
    text[7] = b'-';
    put_digits(&mut text[8..10], u32::from(at.day()));
    text[10] = b'T';
    put_digits(&mut text[11..13], u32::from(at.hour()));
    text[13] = b':';
    put_digits(&mut text[14..16], u32::from(at.minute()));
    text[16] = b':';
    put_digits(&mut text[17..19], u32::from(at.second()));
    text[19] = b'.';
    put_digits(&mut text[20..23], u32::from(at.millisecond()));
    text[23] = b'Z';
    // Only ASCII digits and separators were written.
    text.iter().map(|&b| char::from(b)).collect()
}

/// `value`'s last `slot.len()` decimal digits, zero-padded, into `slot`.
fn put_digits(slot: &mut [u8], mut value: u32) {
    for d in slot.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
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
        assert_eq!(format_utc_millis(i64::MIN), "-9999-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc_millis(-62_198_755_200_000),
            "-001-01-01T00:00:00.000Z"
        );
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
