//! `created_date` timestamps as DuckDB's TIMESTAMP takes them, checked here
//! so that a bad one gets a clear message: `YYYY-MM-DD`, optionally with
//! `[ T]HH:MM:SS[.ffffff]`, on a real calendar day. The text's shape is
//! checked here; the calendar (month lengths, leap years, days since the
//! epoch) is the `time` crate's.

use time::{Date, Month, PrimitiveDateTime, Time};

/// `YYYY-MM-DD`, optionally followed by `[ T]HH:MM:SS[.f{1,6}]`, on a real
/// calendar day: microseconds since the epoch, or `None` if not such a text.
pub fn parse_timestamp_micros(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        let digits = bytes.get(from..to)?;
        digits.iter().try_fold(0u32, |total, &byte| {
            byte.is_ascii_digit()
                .then(|| total * 10 + u32::from(byte - b'0'))
        })
    };
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    if year == 0 {
        return None;
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let mut time = Time::MIDNIGHT;
    if bytes.len() > 10 {
        if !matches!(bytes[10], b' ' | b'T')
            || bytes.len() < 19
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return None;
        }
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        let mut micros = 0;
        if bytes.len() > 19 {
            let fraction_digits = bytes.len() - 20;
            if bytes[19] != b'.' || !(1..=6).contains(&fraction_digits) {
                return None;
            }
            micros = number(20, bytes.len())? * 10u32.pow(6 - fraction_digits as u32);
        }
        time = Time::from_hms_micro(
            u8::try_from(hour).ok()?,
            u8::try_from(minute).ok()?,
            u8::try_from(second).ok()?,
            micros,
        )
        .ok()?;
    }
    let nanos = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp_nanos();
    i64::try_from(nanos / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_the_accepted_forms() {
        assert_eq!(parse_timestamp_micros("1970-01-01"), Some(0));
        assert_eq!(
            parse_timestamp_micros("1970-01-02 00:00:01"),
            Some(86_401_000_000)
        );
        assert_eq!(
            parse_timestamp_micros("1970-01-01T00:00:00.5"),
            Some(500_000)
        );
        assert_eq!(
            parse_timestamp_micros("1970-01-01T00:00:00.000001"),
            Some(1)
        );
        assert_eq!(
            parse_timestamp_micros("2024-02-29"),
            Some(19_782 * 86_400_000_000)
        );
        assert_eq!(
            parse_timestamp_micros("1969-12-31 23:59:59"),
            Some(-1_000_000)
        );
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-1-05",
            "2024-01-01 24:00:00",
            "2024-01-01 12:00",
            "2024-01-01 12:00:00.1234567",
            "2024-01-01X12:00:00",
            "2024-01-01 12:00:00Z",
            "yesterday",
            "0000-01-01",
        ] {
            assert_eq!(parse_timestamp_micros(bad), None, "{bad}");
        }
    }
}
