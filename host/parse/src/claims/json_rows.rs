//! Reading claims as JSON lines: one object per line with the claims
//! table's keys (`null` or absent optional fields are NULL). `claim_amount`
//! may be a number or a string and is kept as written, never through `f64`.
//! Each line is handed on with its number; blank lines are skipped.

use std::borrow::Cow;
use std::io::BufRead;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::ReadError;
use super::fields::{RawClaim, RowResult};
use super::quote::{quoted, quoted_up_to};

/// One JSON line as written; `null` and absent fields are `None`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a claim object")]
struct JsonClaim<'a> {
    #[serde(borrow)]
    claim_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    member_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    claim_amount: Option<&'a RawValue>,
    #[serde(borrow)]
    claim_status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    created_date: Option<Cow<'a, str>>,
}

/// At most this many characters of serde_json's message about a line are
/// shown (it quotes an unknown key, which may be long or hostile).
const MAX_JSON_ERROR_CHARS: usize = 300;

/// The text of a JSON `claim_amount`: a number's own digits, or a string's content.
fn amount_text(raw: &RawValue) -> Result<Cow<'_, str>, String> {
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .map_err(|error| error.to_string())
    } else if text.starts_with(|first: char| first == '-' || first.is_ascii_digit()) {
        Ok(Cow::Borrowed(text))
    } else {
        Err(format!(
            "claim_amount is not a number or a string ({})",
            quoted(text)
        ))
    }
}

/// Reads one JSON object per line, handing each to `on_row` with its line.
pub fn read_json_lines<E>(
    mut input: impl BufRead,
    on_row: &mut impl FnMut(u64, RowResult<'_>) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    let mut buffer = Vec::with_capacity(512);
    let mut line = 0;
    loop {
        buffer.clear();
        let read = input.read_until(b'\n', &mut buffer);
        if read.map_err(ReadError::Io)? == 0 {
            return Ok(());
        }
        line += 1;
        let Ok(text) = std::str::from_utf8(&buffer) else {
            on_row(line, Err("not valid UTF-8".into()))?;
            continue;
        };
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        let claim = match serde_json::from_str::<JsonClaim<'_>>(text) {
            Ok(claim) => claim,
            Err(error) => {
                let why = quoted_up_to(&error.to_string(), MAX_JSON_ERROR_CHARS);
                on_row(line, Err(format!("not a valid claim object: {why}")))?;
                continue;
            }
        };
        let claim_amount = match claim.claim_amount.map(amount_text).transpose() {
            Ok(amount) => amount,
            Err(why) => {
                on_row(line, Err(why))?;
                continue;
            }
        };
        let raw = RawClaim {
            claim_id: claim.claim_id.as_deref(),
            member_id: claim.member_id.as_deref(),
            claim_amount: claim_amount.as_deref(),
            claim_status: claim.claim_status.as_deref(),
            created_date: claim.created_date.as_deref(),
        };
        on_row(line, Ok(raw))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::claims::fields::{OwnedRows as Rows, owned_fields};

    fn collect(text: &str) -> Result<Rows, ReadError<()>> {
        let mut rows = Rows::new();
        read_json_lines(text.as_bytes(), &mut |line, row| {
            rows.push((line, owned_fields(row)));
            Ok(())
        })?;
        Ok(rows)
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn json_lines_accept_numbers_strings_and_nulls() {
        let text = concat!(
            "{\"claim_id\":\"CLM-1\",\"member_id\":\"MBR-1\",\"claim_amount\":1500.10,\"claim_status\":null}\n",
            "\r\n",
            "{\"claim_id\":\"CLM-\\u0032\",\"member_id\":\"MBR-2\",\"claim_amount\":\"0.10\",\"created_date\":\"2023-06-01\"}\r\n",
            "{\"claim_id\":\"CLM-3\",\"member_id\":\"MBR-3\",\"claim_amount\":true}\n",
            "{\"claim_id\":\"CLM-4\",\"member\":\"MBR-4\"}\n",
            "{\"claim_id\":\"CLM-5\",\"member_id\":\"MBR-5\"\n",
            "42\n",
            "\u{feff}{\"claim_id\":\"CLM-7\",\"member_id\":\"MBR-7\",\"claim_amount\":7e2}\n",
            "{\"claim_id\":\"CLM-8\",\"member_id\":\"MBR-8\",\"claim_amount\":null}\n",
        );
        let rows = collect(text).expect("readable");
        assert_eq!(
            rows[0],
            (
                1,
                Ok([some("CLM-1"), some("MBR-1"), some("1500.10"), None, None])
            )
        );
        assert_eq!(
            rows[1],
            (
                3,
                Ok([
                    some("CLM-2"),
                    some("MBR-2"),
                    some("0.10"),
                    None,
                    some("2023-06-01")
                ])
            )
        );
        assert_eq!(
            rows[2],
            (
                4,
                Err("claim_amount is not a number or a string (true)".to_string())
            )
        );
        let error = |index: usize| rows[index].1.clone().expect_err("bad row");
        assert!(error(3).contains("unknown field `member`"), "{}", error(3));
        assert!(
            error(4).starts_with("not a valid claim object: EOF"),
            "{}",
            error(4)
        );
        assert!(error(5).contains("expected a claim object"), "{}", error(5));
        assert_eq!(
            rows[6],
            (
                8,
                Ok([some("CLM-7"), some("MBR-7"), some("7e2"), None, None])
            )
        );
        assert_eq!(
            rows[7],
            (9, Ok([some("CLM-8"), some("MBR-8"), None, None, None]))
        );
        assert_eq!(rows.len(), 8);
    }

    /// Found by the `claims_json_lines` fuzz target: serde_json's message
    /// quotes an unknown key raw, control characters and length included.
    #[test]
    fn a_hostile_unknown_key_is_escaped_and_cut_in_the_message() {
        let long = "k".repeat(100_000);
        let text =
            format!("{{\"claim_id\":\"CLM-1\",\"x\\u0000\\u001b[31m\":1}}\n{{\"{long}\":1}}\n");
        let rows = collect(&text).expect("readable");
        let escaped = rows[0].1.clone().expect_err("unknown key");
        assert!(
            escaped.contains("unknown field `x\\0\\u{1b}[31m`"),
            "{escaped}"
        );
        let cut = rows[1].1.clone().expect_err("unknown key");
        assert!(cut.len() < 400 && cut.ends_with("..."), "{}", cut.len());
    }
}
