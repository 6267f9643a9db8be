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

use crate::Status;
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

impl InvalidKind {
    /// The status of an input rejected this way.
    pub fn status(self) -> Status {
        match self {
            InvalidKind::Json => Status::InvalidJson,
            InvalidKind::Event => Status::InvalidEvent,
        }
    }
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
    /// `null` stays the token `null` (not `None`), so that it is told apart from a missing field.
    #[serde(borrow, default, deserialize_with = "token")]
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

fn token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as Deserialize>::deserialize(d).map(Some)
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
    if let Some(message) = not_an_object(text) {
        return Err(Invalid {
            kind: InvalidKind::Json,
            message: message.to_owned(),
            payment_id: None,
        });
    }
    match scan(text) {
        Some(fields) => validate(fields),
        None => validate(read_with_serde(text)?),
    }
}

/// What a record that holds nothing is, said plainly (serde would call an
/// empty one "truncated JSON"): empty, only whitespace, or JSON `null`.
fn not_an_object(text: &str) -> Option<&'static str> {
    let trimmed = text.trim();
    if text.is_empty() {
        Some("empty record: the value has no bytes (a Kafka tombstone, or an empty line)")
    } else if trimmed.is_empty() {
        Some("blank record: the value holds only whitespace")
    } else if trimmed == "null" {
        Some("the value is JSON null, not a payment event object")
    } else {
        None
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
    if amount_raw == "null" {
        return Err(invalid("field `payment_amount` is null".into()));
    }
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
#[path = "event_tests.rs"]
mod tests;
