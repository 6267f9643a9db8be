//! Reading a payment event from JSON for native tests of typed plugins, by
//! the host's rules (`guest/src/event.rs`): `payment_id`, `claim_id` and
//! `payment_date` non-empty text, the date an ISO-8601 date-time,
//! `payment_amount` an exact number (or a string of one) with at most two
//! decimal places within `DECIMAL(10,2)`. The status codes are the host's
//! (INVALID_JSON, INVALID_EVENT); the messages are close to, not always the
//! same as, the host's (`enricher plugin test` shows the host's own).

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A payment event as read, its texts owned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub payment_id: String,
    pub claim_id: String,
    /// Scale 2.
    pub payment_amount: Decimal,
    pub payment_date: String,
    pub processor_id: Option<String>,
    pub payment_method: Option<String>,
    pub payment_status: Option<String>,
}

/// Why a payload never reaches the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// INVALID_JSON or INVALID_EVENT.
    pub status: &'static str,
    pub message: String,
    pub payment_id: Option<String>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    payment_id: Option<String>,
    claim_id: Option<String>,
    #[serde(borrow)]
    payment_amount: Option<&'a RawValue>,
    payment_date: Option<String>,
    processor_id: Option<String>,
    payment_method: Option<String>,
    payment_status: Option<String>,
}

/// Largest accepted amount: `DECIMAL(10,2)` holds at most 99,999,999.99.
const MAX_UNSCALED: u128 = 9_999_999_999;

pub(crate) fn read(payload: &str) -> Result<Event, Rejected> {
    let wire: Wire<'_> = serde_json::from_str(payload).map_err(|e| Rejected {
        status: if e.is_data() && payload.trim_start().starts_with('{') {
            "INVALID_EVENT"
        } else {
            "INVALID_JSON"
        },
        message: format!("malformed JSON: {e}"),
        payment_id: None,
    })?;
    let payment_id = wire.payment_id.filter(|s| !s.trim().is_empty());
    let invalid = |message: String| Rejected {
        status: "INVALID_EVENT",
        message,
        payment_id: payment_id.clone(),
    };
    let Some(id) = payment_id.clone() else {
        return Err(invalid("missing or empty field `payment_id`".into()));
    };
    let claim_id = required(wire.claim_id, "claim_id").map_err(&invalid)?;
    let amount = wire
        .payment_amount
        .ok_or_else(|| invalid("missing field `payment_amount`".into()))?;
    let payment_amount = amount_of(amount.get()).map_err(&invalid)?;
    let payment_date = required(wire.payment_date, "payment_date").map_err(&invalid)?;
    if !looks_iso(&payment_date) {
        return Err(invalid(format!(
            "`payment_date` {payment_date:?} is not an ISO-8601 date-time (e.g. 2024-01-15T10:30:00)"
        )));
    }
    Ok(Event {
        payment_id: id,
        claim_id,
        payment_amount,
        payment_date,
        processor_id: wire.processor_id,
        payment_method: wire.payment_method,
        payment_status: wire.payment_status,
    })
}

fn required(value: Option<String>, name: &str) -> Result<String, String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(format!("field `{name}` is empty")),
        None => Err(format!("missing field `{name}`")),
    }
}

/// The amount of a JSON number token (or a string holding one), exactly, at scale 2.
fn amount_of(token: &str) -> Result<Decimal, String> {
    let text = token.trim().trim_matches('"').trim();
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    let mut amount =
        parsed.map_err(|_| format!("`payment_amount` must be a decimal number, got {token}"))?;
    amount.normalize_assign();
    if amount.scale() > 2 {
        return Err(format!(
            "`payment_amount` {text} has more than two decimal places"
        ));
    }
    amount.rescale(2);
    if amount.mantissa().unsigned_abs() > MAX_UNSCALED {
        return Err(format!("`payment_amount` {text} is outside DECIMAL(10,2)"));
    }
    Ok(amount)
}

/// `YYYY-MM-DDTHH:MM:SS` at the start (the host checks the calendar too).
fn looks_iso(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_event_has_its_amount_exact_at_scale_2() {
        let e = read(r#"{"payment_id":"P1","claim_id":"C1","payment_amount":99.5,"payment_date":"2024-01-15T10:30:00","payment_method":"ACH"}"#)
            .expect("valid");
        assert_eq!(e.payment_amount.to_string(), "99.50");
        assert_eq!(e.payment_method.as_deref(), Some("ACH"));
        assert_eq!(e.processor_id, None);
    }

    #[test]
    fn bad_input_gets_the_hosts_status_codes() {
        let status = |p: &str| read(p).map(|_| ()).map_err(|r| (r.status, r.message));
        assert_eq!(status("not json").map_err(|e| e.0), Err("INVALID_JSON"));
        let (code, why) = status(r#"{"payment_id":"P1","claim_id":"C1","payment_amount":0.001,"payment_date":"2024-01-15T10:30:00"}"#)
            .expect_err("three places");
        assert_eq!(code, "INVALID_EVENT");
        assert_eq!(
            why,
            "`payment_amount` 0.001 has more than two decimal places"
        );
        let (code, why) = status(
            r#"{"payment_id":"P1","payment_amount":1,"payment_date":"2024-01-15T10:30:00"}"#,
        )
        .expect_err("no claim id");
        assert_eq!(
            (code, why.as_str()),
            ("INVALID_EVENT", "missing field `claim_id`")
        );
        let rejected = read(
            r#"{"payment_id":"P9","claim_id":"C1","payment_amount":1,"payment_date":"yesterday"}"#,
        )
        .expect_err("bad date");
        assert_eq!(rejected.payment_id.as_deref(), Some("P9"));
        assert_eq!(
            status(r#"{"payment_id":"P1","claim_id":"C1","payment_amount":"abc","payment_date":"2024-01-15T10:30:00"}"#)
                .map_err(|e| e.0),
            Err("INVALID_EVENT")
        );
    }
}
