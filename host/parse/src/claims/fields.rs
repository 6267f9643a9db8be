//! One claim row's fields: from the raw text of an input row (CSV or JSON
//! lines) to a validated [`ClaimRow`] ready for the `claims` table, with a
//! clear message naming the field and value when something is wrong.

use rust_decimal::Decimal;

use super::ids::check_id;
use super::quote::quoted;
use super::timestamp::parse_timestamp_micros;

/// The largest `claim_amount` in cents that fits `DECIMAL(10,2)`.
const MAX_AMOUNT_CENTS: i64 = 9_999_999_999;

/// The raw text of one input row; `None` = absent, null or empty.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RawClaim<'a> {
    pub claim_id: Option<&'a str>,
    pub member_id: Option<&'a str>,
    pub claim_amount: Option<&'a str>,
    pub claim_status: Option<&'a str>,
    pub created_date: Option<&'a str>,
}

/// One row read: its raw fields, or why it could not be read.
pub type RowResult<'a> = Result<RawClaim<'a>, String>;

/// What the row readers' tests compare: every row read, as `(line, fields or error)`.
#[cfg(test)]
pub(crate) type OwnedRows = Vec<(u64, Result<[Option<String>; 5], String>)>;

/// One row read, owned, in column order (for the readers' tests).
#[cfg(test)]
pub(crate) fn owned_fields(row: RowResult<'_>) -> Result<[Option<String>; 5], String> {
    row.map(|raw| {
        [
            raw.claim_id,
            raw.member_id,
            raw.claim_amount,
            raw.claim_status,
            raw.created_date,
        ]
        .map(|field| field.map(str::to_string))
    })
}

/// One valid row of the `claims` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow<'a> {
    pub claim_id: &'a str,
    pub member_id: &'a str,
    /// Scale 2, within `DECIMAL(10,2)`.
    pub claim_amount: Decimal,
    pub claim_status: Option<&'a str>,
    /// Microseconds since 1970-01-01 00:00:00.
    pub created_micros: Option<i64>,
}

/// Trims a field; blank means NULL.
pub fn non_blank(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|trimmed| !trimmed.is_empty())
}

/// Checks one row; the error says what is wrong (without the line number).
pub fn validate_claim<'a>(raw: &RawClaim<'a>) -> Result<ClaimRow<'a>, String> {
    let required = |value: Option<&'a str>, name: &str| {
        value
            .and_then(non_blank)
            .ok_or_else(|| format!("missing or empty {name}"))
    };
    let claim_id = required(raw.claim_id, "claim_id")?;
    check_id("claim_id", claim_id)?;
    let member_id = required(raw.member_id, "member_id")?;
    check_id("member_id", member_id)?;
    let amount_text = raw
        .claim_amount
        .and_then(non_blank)
        .ok_or("missing or empty claim_amount")?;
    let claim_amount = parse_amount(amount_text)?;
    let created_micros = match raw.created_date.and_then(non_blank) {
        Some(text) => Some(parse_timestamp_micros(text).ok_or_else(|| {
            format!(
                "created_date is not a timestamp YYYY-MM-DD[ HH:MM:SS[.ffffff]] ({})",
                quoted(text)
            )
        })?),
        None => None,
    };
    let claim_status = raw.claim_status.and_then(non_blank);
    if let Some(status) = claim_status {
        check_id("claim_status", status)?;
    }
    Ok(ClaimRow {
        claim_id,
        member_id,
        claim_amount,
        claim_status,
        created_micros,
    })
}

/// Checks one row of a deletion, which names only its `claim_id`: the other
/// fields are not read (the row is returned with them blank).
pub fn validate_claim_id<'a>(raw: &RawClaim<'a>) -> Result<ClaimRow<'a>, String> {
    let claim_id = raw
        .claim_id
        .and_then(non_blank)
        .ok_or("missing or empty claim_id")?;
    check_id("claim_id", claim_id)?;
    Ok(ClaimRow {
        claim_id,
        member_id: "",
        claim_amount: Decimal::ZERO,
        claim_status: None,
        created_micros: None,
    })
}

/// A `DECIMAL(10,2)` amount, exactly: `[+-]digits[.digits]` (JSON exponent
/// form too), at most 2 decimal places once trailing zeros are dropped.
pub fn parse_amount(text: &str) -> Result<Decimal, String> {
    let not_a_number = || format!("claim_amount is not a decimal number ({})", quoted(text));
    let mut amount = if text.contains(['e', 'E']) {
        let allowed =
            |byte: u8| byte.is_ascii_digit() || matches!(byte, b'+' | b'-' | b'.' | b'e' | b'E');
        if !text.bytes().all(allowed) {
            return Err(not_a_number());
        }
        Decimal::from_scientific(text)
            .map_err(|_| not_a_number())?
            .normalize()
    } else {
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        let (units, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if units.len() + fraction.len() == 0 || !all_digits(units) || !all_digits(fraction) {
            return Err(not_a_number());
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err(format!(
                "claim_amount has more than 2 decimal places ({})",
                quoted(text)
            ));
        }
        let units = units.trim_start_matches('0');
        if units.len() > 8 {
            return Err(format!(
                "claim_amount is out of range for DECIMAL(10,2) ({})",
                quoted(text)
            ));
        }
        let cents = (units
            .bytes()
            .chain(fraction.bytes())
            .chain("00".bytes())
            .take(units.len() + 2))
        .fold(0i64, |total, digit| total * 10 + i64::from(digit - b'0'));
        Decimal::new(if text.starts_with('-') { -cents } else { cents }, 2)
    };
    if amount.scale() > 2 {
        return Err(format!(
            "claim_amount has more than 2 decimal places ({})",
            quoted(text)
        ));
    }
    if amount.abs() > Decimal::new(MAX_AMOUNT_CENTS, 2) {
        return Err(format!(
            "claim_amount is out of range for DECIMAL(10,2) ({})",
            quoted(text)
        ));
    }
    amount.rescale(2);
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Result<String, String> {
        parse_amount(text).map(|decimal| decimal.to_string())
    }

    #[test]
    fn amounts_are_exact_with_two_decimals() {
        assert_eq!(amount("1500"), Ok("1500.00".to_string()));
        assert_eq!(amount("0.1"), Ok("0.10".to_string()));
        assert!(amount("-12.345000").is_err());
        assert_eq!(amount("-12.340"), Ok("-12.34".to_string()));
        assert_eq!(amount("99999999.99"), Ok("99999999.99".to_string()));
        assert_eq!(amount("+007.5"), Ok("7.50".to_string()));
        assert_eq!(amount(".5"), Ok("0.50".to_string()));
        assert_eq!(amount("1.5e3"), Ok("1500.00".to_string()));
        assert_eq!(amount("125E-2"), Ok("1.25".to_string()));
    }

    #[test]
    fn bad_amounts_say_why() {
        for (text, why) in [
            ("abc", "is not a decimal number"),
            ("", "is not a decimal number"),
            ("1,5", "is not a decimal number"),
            ("1_000", "is not a decimal number"),
            ("-", "is not a decimal number"),
            ("1.005", "more than 2 decimal places"),
            ("1e-3", "more than 2 decimal places"),
            ("100000000.00", "out of range"),
            ("-100000000", "out of range"),
            ("1e9", "out of range"),
        ] {
            let message = parse_amount(text).expect_err(text);
            assert!(
                message.contains(why) && message.ends_with(&format!("({text})")),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn a_row_is_validated_field_by_field() {
        let good = RawClaim {
            claim_id: Some(" CLM-1 "),
            member_id: Some("MBR-1"),
            claim_amount: Some("10.5"),
            claim_status: Some(""),
            created_date: Some("2023-06-01 12:00:00"),
        };
        let row = validate_claim(&good).expect("valid");
        assert_eq!(row.claim_id, "CLM-1");
        assert_eq!(row.member_id, "MBR-1");
        assert_eq!(row.claim_amount, Decimal::new(1050, 2));
        assert_eq!(row.claim_status, None);
        assert!(row.created_micros.is_some());
        let missing = RawClaim {
            member_id: Some("  "),
            ..good
        };
        assert_eq!(
            validate_claim(&missing),
            Err("missing or empty member_id".to_string())
        );
        let no_id = RawClaim {
            claim_id: None,
            ..good
        };
        assert_eq!(
            validate_claim(&no_id),
            Err("missing or empty claim_id".to_string())
        );
        let bad_date = RawClaim {
            created_date: Some("2023-02-30"),
            ..good
        };
        assert!(
            validate_claim(&bad_date)
                .expect_err("bad date")
                .ends_with("(2023-02-30)")
        );
    }
}
