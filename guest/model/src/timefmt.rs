//! Checking that a `payment_date` is an ISO-8601 date-time on a real calendar
//! day (the calendar is the `time` crate's). Formatting the batch's
//! `enrichment_timestamp` is [`crate::format_utc_millis`].

use time::{Date, Month};

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH:MM]`, with real calendar ranges.
pub fn is_iso_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
    {
        return false;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi)) = (
        digits(&b[0..4]),
        digits(&b[5..7]),
        digits(&b[8..10]),
        digits(&b[11..13]),
        digits(&b[14..16]),
    ) else {
        return false;
    };
    let real_day = u8::try_from(mo)
        .ok()
        .and_then(|mo| Month::try_from(mo).ok())
        .zip(u8::try_from(d).ok())
        .is_some_and(|(mo, d)| Date::from_calendar_date(y as i32, mo, d).is_ok());
    if !real_day || h > 23 || mi > 59 {
        return false;
    }
    let mut rest = &b[16..];
    if let [b':', s1, s2, tail @ ..] = rest {
        match digits(&[*s1, *s2]) {
            Some(sec) if sec <= 60 => rest = tail,
            _ => return false,
        }
        if let [b'.', tail @ ..] = rest {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return false;
            }
            rest = &tail[n..];
        }
    }
    match rest {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            matches!((digits(&[*h1, *h2]), digits(&[*m1, *m2])), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_iso_datetimes() {
        for ok in [
            "2024-01-15T10:30:00",
            "2024-01-15 10:30",
            "2024-02-29T23:59:59.999",
            "2024-01-15T10:30:00Z",
            "2024-01-15T10:30:00.123456789+05:30",
        ] {
            assert!(is_iso_datetime(ok), "{ok}");
        }
    }

    #[test]
    fn rejects_non_dates() {
        for bad in [
            "",
            "2024-01-15",
            "2023-02-29T00:00:00",
            "2024-13-01T00:00:00",
            "2024-01-15T24:00:00",
            "2024-01-15T10:30:00.",
            "2024-01-15T10:30:00+5",
            "２０２４-01-15T10:30:00",
            "yesterday at noon",
        ] {
            assert!(!is_iso_datetime(bad), "{bad}");
        }
    }
}
