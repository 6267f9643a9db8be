//! Parsing and validating one payment event from raw bytes.
//!
//! Owns the rules for what a valid event is. Parsing borrows from the input
//! (no copies unless a string holds escapes), amounts are exact decimals read
//! from the JSON number's own text (never through `f64`), and every way the
//! bytes can be wrong ends in an [`Invalid`] with a code and a message, never a
//! panic.

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event_scan::{Fields, scan};
use crate::timefmt::is_iso_datetime;

/// Largest accepted amount: `DECIMAL(10,2)` holds at most 99,999,999.99.
const MAX_AMOUNT_UNSCALED: i64 = 9_999_999_999;

/// A payment event that passed validation, borrowing from the input bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentEvent<'a> {
    pub payment_id: Cow<'a, str>,
    pub claim_id: Cow<'a, str>,
    /// Exact, with scale 2.
    pub payment_amount: Decimal,
    /// As sent (validated to be an ISO-8601 date-time).
    pub payment_date: Cow<'a, str>,
    pub processor_id: Option<Cow<'a, str>>,
    pub payment_method: Option<Cow<'a, str>>,
    pub payment_status: Option<Cow<'a, str>>,
}

/// Why an input record is not a valid payment event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub kind: InvalidKind,
    /// Human-readable reason.
    pub message: String,
    /// The event's `payment_id`, when it could be read.
    pub payment_id: Option<String>,
}

/// The two failure codes for bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    /// Not UTF-8, not JSON, or not a JSON object: `INVALID_JSON`.
    Json,
    /// A JSON object that is not a valid payment event: `INVALID_EVENT`.
    Event,
}

/// A JSON string borrowed from the input when it holds no escapes. (A bare
/// `Option<Cow<str>>` would always copy: serde borrows only a direct `Cow` field.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The wire shape, every field optional so that a missing field gets our own message.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    payment_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    claim_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    payment_amount: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payment_date: Option<Text<'a>>,
    #[serde(borrow, default)]
    processor_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    payment_method: Option<Text<'a>>,
    #[serde(borrow, default)]
    payment_status: Option<Text<'a>>,
}

/// Only the id, for a failure record of an event whose other fields are broken.
#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow, default)]
    payment_id: Option<Text<'a>>,
}

fn into_cow(value: Option<Text<'_>>) -> Option<Cow<'_, str>> {
    value.map(|t| t.0)
}

impl<'a> From<RawEvent<'a>> for Fields<'a> {
    fn from(raw: RawEvent<'a>) -> Self {
        Fields {
            payment_id: into_cow(raw.payment_id),
            claim_id: into_cow(raw.claim_id),
            payment_amount: raw.payment_amount.map(RawValue::get),
            payment_date: into_cow(raw.payment_date),
            processor_id: into_cow(raw.processor_id),
            payment_method: into_cow(raw.payment_method),
            payment_status: into_cow(raw.payment_status),
        }
    }
}

/// Parse and validate one payment event.
pub fn parse_event(bytes: &[u8]) -> Result<PaymentEvent<'_>, Invalid> {
    let text = std::str::from_utf8(bytes).map_err(|e| Invalid {
        kind: InvalidKind::Json,
        message: format!("payload is not UTF-8: {e}"),
        payment_id: None,
    })?;
    match scan(text) {
        Some(fields) => validate(fields),
        None => validate(read_with_serde(text)?),
    }
}

/// Any JSON the fast path ([`scan`]) does not read, and every error's message.
fn read_with_serde(text: &str) -> Result<Fields<'_>, Invalid> {
    let raw: RawEvent<'_> = serde_json::from_str(text).map_err(|e| {
        let payment_id = serde_json::from_str::<IdOnly<'_>>(text)
            .ok()
            .and_then(|id| into_cow(id.payment_id))
            .map(Cow::into_owned);
        let kind = if e.is_data() && text.trim_start().starts_with('{') {
            InvalidKind::Event
        } else {
            InvalidKind::Json
        };
        Invalid {
            kind,
            message: describe_serde_error(&e),
            payment_id,
        }
    })?;
    Ok(raw.into())
}

fn describe_serde_error(e: &serde_json::Error) -> String {
    if e.is_data() {
        format!("wrong field type: {e}")
    } else if e.is_eof() {
        format!("truncated JSON: {e}")
    } else {
        format!("malformed JSON: {e}")
    }
}

fn validate(raw: Fields<'_>) -> Result<PaymentEvent<'_>, Invalid> {
    let payment_id = raw.payment_id.filter(|s| !is_blank(s));
    let invalid = |message: String| Invalid {
        kind: InvalidKind::Event,
        message,
        payment_id: payment_id.as_deref().map(str::to_owned),
    };
    let Some(pid) = payment_id.clone() else {
        return Err(invalid("missing or empty field `payment_id`".into()));
    };
    let claim_id = required_text(raw.claim_id, "claim_id").map_err(&invalid)?;
    let amount_raw = raw
        .payment_amount
        .ok_or_else(|| invalid("missing field `payment_amount`".into()))?;
    let payment_amount = parse_amount(amount_raw).map_err(&invalid)?;
    let payment_date = required_text(raw.payment_date, "payment_date").map_err(&invalid)?;
    if !is_iso_datetime(&payment_date) {
        return Err(invalid(format!(
            "`payment_date` {:?} is not an ISO-8601 date-time (e.g. 2024-01-15T10:30:00)",
            truncate(&payment_date, 64)
        )));
    }
    Ok(PaymentEvent {
        payment_id: pid,
        claim_id,
        payment_amount,
        payment_date,
        processor_id: raw.processor_id,
        payment_method: raw.payment_method,
        payment_status: raw.payment_status,
    })
}

fn required_text<'a>(value: Option<Cow<'a, str>>, name: &str) -> Result<Cow<'a, str>, String> {
    match value {
        Some(v) if !is_blank(&v) => Ok(v),
        Some(_) => Err(format!("field `{name}` is empty")),
        None => Err(format!("missing field `{name}`")),
    }
}

/// Parse an amount from the JSON token's text: a number (`1500.00`, `1.5e3`)
/// or a string holding one (`"1500.00"`). Exact: at most two decimal places,
/// within `DECIMAL(10,2)`.
pub fn parse_amount(token: &str) -> Result<Decimal, String> {
    if let Some(amount) = plain_amount(token) {
        return Ok(amount);
    }
    let text = if token.starts_with('"') {
        serde_json::from_str::<Cow<'_, str>>(token)
            .map_err(|e| format!("`payment_amount` is not a valid string: {e}"))?
    } else {
        Cow::Borrowed(token)
    };
    let text = text.trim();
    let starts_like_number = text
        .bytes()
        .next()
        .is_some_and(|b| b == b'-' || b.is_ascii_digit());
    if !starts_like_number {
        return Err(format!(
            "`payment_amount` must be a decimal number, got {}",
            truncate(token, 40)
        ));
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    let mut amount = parsed.map_err(|e| {
        format!(
            "`payment_amount` {} is not a representable decimal: {e}",
            truncate(text, 40)
        )
    })?;
    amount.normalize_assign();
    if amount.scale() > 2 {
        return Err(format!(
            "`payment_amount` {} has more than two decimal places",
            truncate(text, 40)
        ));
    }
    amount.rescale(2);
    if amount.mantissa().unsigned_abs() > MAX_AMOUNT_UNSCALED.unsigned_abs() as u128 {
        return Err(format!(
            "`payment_amount` {} is outside DECIMAL(10,2)",
            truncate(text, 40)
        ));
    }
    Ok(amount)
}

/// The common amount, `1234.5` or `1234.56` (a number token of at most 8
/// digits before the point and 2 after, no sign or exponent), read in one
/// pass; `None` for anything else, which the general path reads. Gives the
/// same value and scale (2) as the general path.
fn plain_amount(token: &str) -> Option<Decimal> {
    let (whole, fraction) = match token.split_once('.') {
        Some((whole, fraction)) if (1..=2).contains(&fraction.len()) => (whole, fraction),
        Some(_) => return None,
        None => (token, ""),
    };
    if !(1..=8).contains(&whole.len()) {
        return None;
    }
    let mut cents = 0i64;
    for b in whole.bytes().chain(fraction.bytes()) {
        if !b.is_ascii_digit() {
            return None;
        }
        cents = cents * 10 + i64::from(b - b'0');
    }
    if fraction.len() == 1 {
        cents *= 10;
    } else if fraction.is_empty() {
        cents *= 100;
    }
    Some(Decimal::new(cents, 2))
}

/// Whether a field's text is empty or only whitespace (as `str::trim` sees
/// it), deciding from the first byte in the common case.
fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(&b) if b > b' ' && b < 0x80 => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// At most `max` characters of `s`, for messages.
pub fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"payment_id":"PAY-1","claim_id":"CLM-1","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00","processor_id":"PROC-VISA-001","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}"#;

    fn invalid(bytes: &[u8]) -> Invalid {
        match parse_event(bytes) {
            Ok(e) => panic!("expected invalid, parsed {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_a_valid_event_exactly() {
        let e = parse_event(VALID.as_bytes()).expect("valid");
        assert_eq!(e.payment_id, "PAY-1");
        assert_eq!(e.payment_amount.to_string(), "1500.00");
        assert!(
            matches!(e.claim_id, Cow::Borrowed(_)),
            "no copy without escapes"
        );
        assert_eq!(e.payment_status.as_deref(), Some("COMPLETED"));
    }

    #[test]
    fn amounts_are_exact_and_rescaled_to_two_places() {
        assert_eq!(
            parse_amount("0.1").map(|d| d.to_string()),
            Ok("0.10".into())
        );
        assert_eq!(
            parse_amount("\"12.5\"").map(|d| d.to_string()),
            Ok("12.50".into())
        );
        assert_eq!(
            parse_amount("1.5e3").map(|d| d.to_string()),
            Ok("1500.00".into())
        );
        assert_eq!(
            parse_amount("-3").map(|d| d.to_string()),
            Ok("-3.00".into())
        );
        assert_eq!(
            parse_amount("1.230").map(|d| d.to_string()),
            Ok("1.23".into())
        );
        assert_eq!(
            parse_amount("99999999.99").map(|d| d.to_string()),
            Ok("99999999.99".into())
        );
    }

    #[test]
    fn plain_amounts_read_as_the_general_path_reads_them() {
        let general = |token: &str| {
            let mut d = Decimal::from_str_exact(token).expect("decimal");
            d.normalize_assign();
            d.rescale(2);
            d
        };
        for token in [
            "0",
            "0.0",
            "0.5",
            "13.44",
            "1257.60",
            "99999999.99",
            "7",
            "10.1",
            "100",
        ] {
            let fast = plain_amount(token).expect("on the fast path");
            let slow = general(token);
            assert_eq!(
                (fast.mantissa(), fast.scale()),
                (slow.mantissa(), slow.scale()),
                "{token}"
            );
            assert_eq!(fast.to_string(), slow.to_string());
        }
        for token in [
            "-1",
            "1.005",
            "1e3",
            "\"1\"",
            "100000000",
            "1.",
            ".5",
            "",
            "1.2.3",
            "12a",
        ] {
            assert_eq!(plain_amount(token), None, "{token}");
        }
    }

    #[test]
    fn blank_is_what_trim_says() {
        for s in [
            "",
            " ",
            "\t\n",
            "\u{b}",
            "\u{a0}",
            "\u{3000} ",
            "x",
            " x",
            "é",
            "\u{a0}x",
        ] {
            assert_eq!(is_blank(s), s.trim().is_empty(), "{s:?}");
        }
    }

    #[test]
    fn hostile_amounts_are_rejected_not_rounded() {
        for bad in [
            "1e400",
            "123456789012345678901234567890",
            "1.005",
            "100000000.00",
            "NaN",
            "\"NaN\"",
            "\"\"",
            "true",
            "{}",
            "[1]",
            "\"1.2.3\"",
            "-",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn missing_and_null_fields_are_named() {
        let e = invalid(
            br#"{"payment_id":"P","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#,
        );
        assert_eq!(e.kind, InvalidKind::Event);
        assert!(e.message.contains("claim_id"), "{}", e.message);
        assert_eq!(e.payment_id.as_deref(), Some("P"));
        let e = invalid(br#"{"payment_id":"P","claim_id":null,"payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
        assert!(e.message.contains("claim_id"));
        let e = invalid(br#"{"payment_id":"  ","claim_id":"C","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
        assert!(e.message.contains("payment_id"));
    }

    #[test]
    fn wrong_types_keep_the_payment_id() {
        let e = invalid(br#"{"payment_id":"PAY-9","claim_id":7,"payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
        assert_eq!(e.kind, InvalidKind::Event);
        assert_eq!(e.payment_id.as_deref(), Some("PAY-9"));
    }

    #[test]
    fn garbage_is_invalid_json() {
        for bad in [
            &b""[..],
            b"   ",
            b"{",
            b"not json",
            b"[1,2]",
            b"\xff\xfe",
            b"{\"payment_id\":\"a\"} trailing",
            b"null",
        ] {
            let e = invalid(bad);
            assert!(!e.message.is_empty());
        }
        assert_eq!(invalid(b"{").kind, InvalidKind::Json);
        assert_eq!(invalid(b"\xff").kind, InvalidKind::Json);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deep = nest(100_000);
        let in_ignored = format!(r#"{{"x":{deep}}}"#);
        let in_amount = format!(
            r#"{{"payment_id":"P","claim_id":"C","payment_amount":{deep},"payment_date":"2024-01-01T00:00:00"}}"#
        );
        for input in [deep.clone(), in_ignored, in_amount] {
            let e = invalid(input.as_bytes());
            assert!(!e.message.is_empty());
        }
    }

    /// Whenever the fast path reads an input, serde_json reads the same fields from it.
    fn same_as_serde(text: &str) -> bool {
        let Some(fast) = scan(text) else {
            return false;
        };
        let slow: RawEvent<'_> = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("fast path read what serde refuses ({e}): {text:?}"));
        assert_eq!(fast, Fields::from(slow), "{text:?}");
        true
    }

    #[test]
    fn the_fast_path_reads_common_events_exactly_as_serde_does() {
        for text in [
            VALID,
            r#" { "payment_id" : "P", "claim_id":"C" ,"payment_amount": -0.5e+2 ,
                "payment_date":"2024-01-15T10:30:00", "processor_id": null } "#,
            r#"{"payment_amount":"12.50","payment_id":"P","payment_status":"é ✓"}"#,
            r#"{"payment_amount":0,"claim_id":""}"#,
            r#"{"payment_amount":1E5}"#,
            "{}",
        ] {
            assert!(same_as_serde(text), "not on the fast path: {text}");
        }
        // Left to serde_json (which reads or refuses them as before).
        for text in [
            r#"{"payment_id":"P\u0041"}"#,
            r#"{"payment_id":"P","other":1}"#,
            r#"{"payment_id":"P","payment_id":"Q"}"#,
            r#"{"payment_amount":01}"#,
            r#"{"payment_amount":1.}"#,
            r#"{"payment_amount":null}"#,
            r#"{"payment_amount":true}"#,
            r#"{"payment_id":"P"} x"#,
            "{\"payment_id\":\"a\tb\"}",
            r#"{"payment_id":"P",}"#,
            "[]",
        ] {
            assert!(scan(text).is_none(), "{text}");
        }
        assert_eq!(
            parse_event(br#"{"payment_id":"P\u0041","claim_id":"C","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#)
                .map(|e| e.payment_id.into_owned()),
            Ok("PA".to_owned())
        );
    }

    #[test]
    fn the_fast_path_never_reads_what_serde_reads_otherwise() {
        // Mutate a valid event byte by byte: whatever the fast path accepts,
        // serde_json must read to the same fields.
        let base = VALID.as_bytes();
        let alphabet = b" \t\n{}[]:,\"\\0123456789.eE+-nultrfaxyz\x01\xc3\xa9";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut fast = 0;
        for _ in 0..20_000 {
            let mut p = base.to_vec();
            for _ in 0..2 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % p.len() as u64) as usize;
                let b = alphabet[(state >> 40) as usize % alphabet.len()];
                match (state >> 32) % 3 {
                    0 => p[at] = b,
                    1 => p.insert(at, b),
                    _ => {
                        p.remove(at);
                    }
                }
            }
            if let Ok(text) = std::str::from_utf8(&p) {
                fast += usize::from(same_as_serde(text));
            }
        }
        assert!(fast > 1000, "the fast path read only {fast} inputs");
    }

    #[test]
    fn bad_dates_and_duplicate_fields_are_rejected() {
        let e = invalid(br#"{"payment_id":"P","claim_id":"C","payment_amount":1,"payment_date":"2024-02-30T00:00:00"}"#);
        assert!(e.message.contains("payment_date"));
        let e = invalid(br#"{"payment_id":"P","payment_id":"Q","claim_id":"C","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
        assert!(e.message.contains("duplicate"), "{}", e.message);
    }
}
