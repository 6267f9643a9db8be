//! `created_date` timestamps as DuckDB's TIMESTAMP takes them, checked here
//! so that a bad one gets a clear message: `YYYY-MM-DD`, optionally with
//! `[ T]HH:MM:SS[.ffffff]`, on a real calendar day.

/// `YYYY-MM-DD`, optionally followed by `[ T]HH:MM:SS[.f{1,6}]`, on a real
/// calendar day: microseconds since the epoch, or `None` if not such a text.
pub(super) fn parse_timestamp_micros(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = bytes.get(from..to)?;
        digits.iter().try_fold(0i64, |total, &byte| {
            byte.is_ascii_digit()
                .then(|| total * 10 + i64::from(byte - b'0'))
        })
    };
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    if year == 0 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut micros_of_day = 0;
    if bytes.len() > 10 {
        if !matches!(bytes[10], b' ' | b'T')
            || bytes.len() < 19
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return None;
        }
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut micros = 0;
        if bytes.len() > 19 {
            let fraction_digits = bytes.len() - 20;
            if bytes[19] != b'.' || !(1..=6).contains(&fraction_digits) {
                return None;
            }
            micros = number(20, bytes.len())? * 10i64.pow(6 - fraction_digits as u32);
        }
        micros_of_day = ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros;
    }
    Some(days_from_civil(year, month, day) * 86_400_000_000 + micros_of_day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
