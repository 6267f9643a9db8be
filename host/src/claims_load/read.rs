//! Claims read and checked without loading them: the rows of a file for
//! `enricher claims publish` and `POST /v1/claims`, and one JSON claim (a
//! changelog record's value), with exactly the checks and messages of
//! `enricher claims load`.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use rust_decimal::Decimal;

use enricher_parse::claims::{ClaimRow, ReadError, read_json_lines, validate_claim};

use super::append::{RowsOf, check_claims};
use super::{InputFormat, LoadOptions, LoadReport};
use crate::error::LoadError;

/// One checked claim, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub claim_id: String,
    pub member_id: String,
    /// Scale 2, within `DECIMAL(10,2)`.
    pub claim_amount: Decimal,
    pub claim_status: Option<String>,
    /// `created_date`, microseconds since 1970-01-01 00:00:00.
    pub created_micros: Option<i64>,
}

impl From<&ClaimRow<'_>> for Claim {
    fn from(row: &ClaimRow<'_>) -> Self {
        Claim {
            claim_id: row.claim_id.to_owned(),
            member_id: row.member_id.to_owned(),
            claim_amount: row.claim_amount,
            claim_status: row.claim_status.map(str::to_owned),
            created_micros: row.created_micros,
        }
    }
}

/// Every claim of `input` (CSV or JSON lines, as `format` says), checked as
/// `claims load` checks them. In strict mode (`skip_bad_rows` off) any bad
/// row fails with [`LoadError::BadRows`] and no claim is returned; a file
/// without claims fails with [`LoadError::Empty`] unless `allow_empty`.
pub fn read_claims(
    format: InputFormat,
    input: impl BufRead,
    path: &Path,
    opts: &LoadOptions,
) -> Result<(Vec<Claim>, LoadReport), LoadError> {
    read_rows(format, input, path, RowsOf::Claims, opts)
}

/// The claims a file of deletions names: as [`read_claims`], but a row
/// needs only its `claim_id` (a CSV needs only that column); other fields
/// are ignored and left blank in the [`Claim`]s returned.
pub fn read_claim_ids(
    format: InputFormat,
    input: impl BufRead,
    path: &Path,
    opts: &LoadOptions,
) -> Result<(Vec<Claim>, LoadReport), LoadError> {
    read_rows(format, input, path, RowsOf::Deletions, opts)
}

fn read_rows(
    format: InputFormat,
    input: impl BufRead,
    path: &Path,
    rows: RowsOf,
    opts: &LoadOptions,
) -> Result<(Vec<Claim>, LoadReport), LoadError> {
    let started = Instant::now();
    let mut claims = Vec::new();
    let tally = check_claims(format, input, path, rows, opts.skip_bad_rows, |row| {
        claims.push(Claim::from(row));
        Ok(())
    })?;
    if tally.rows_rejected > 0 && !opts.skip_bad_rows {
        let shown = tally.rejected.len() as u64;
        let mut details = tally.rejected.join("\n");
        if tally.rows_rejected > shown {
            details.push_str(&format!("\n... and {} more", tally.rows_rejected - shown));
        }
        return Err(LoadError::BadRows {
            path: path.to_path_buf(),
            count: tally.rows_rejected as usize,
            details,
        });
    }
    if claims.is_empty() && !opts.allow_empty {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
            rows_rejected: tally.rows_rejected,
            details: tally.rejected.join("\n"),
        });
    }
    let report = LoadReport {
        rows_loaded: tally.rows_loaded,
        rows_rejected: tally.rows_rejected,
        rejected: tally.rejected,
        elapsed: started.elapsed(),
    };
    Ok((claims, report))
}

/// One claim written as a JSON object (a changelog record's value), checked
/// as a line of a JSON-lines claims file is.
pub fn parse_claim_json(value: &[u8]) -> Result<Claim, String> {
    let mut parsed: Option<Result<Claim, String>> = None;
    let mut rows = 0;
    let read = read_json_lines(value, &mut |_, row| {
        rows += 1;
        parsed = Some(
            row.and_then(|raw| validate_claim(&raw))
                .map(|row| Claim::from(&row)),
        );
        Ok::<(), String>(())
    });
    match read {
        Ok(()) => {}
        Err(ReadError::Io(e)) => return Err(e.to_string()),
        Err(ReadError::File(why) | ReadError::Stopped(why)) => return Err(why),
    }
    match (rows, parsed) {
        (1, Some(claim)) => claim,
        (0, _) => Err("empty value (a deletion is a null value, a tombstone)".into()),
        _ => Err("more than one JSON object in one value".into()),
    }
}

/// The `created_date` text of `micros` (`YYYY-MM-DD HH:MM:SS[.ffffff]`), as
/// [`parse_claim_json`] reads it back.
pub fn timestamp_text(micros: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).ok()?;
    let (date, clock) = (at.date(), at.time());
    let mut text = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        clock.hour(),
        clock.minute(),
        clock.second()
    );
    if clock.microsecond() != 0 {
        text.push_str(&format!(".{:06}", clock.microsecond()));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_claim_is_checked_like_a_line_of_a_file() {
        let claim = parse_claim_json(
            br#"{"claim_id":"CLM-1","member_id":"MBR-1","claim_amount":"1500.10","created_date":"2024-02-29 08:30:00.25"}"#,
        )
        .expect("valid");
        assert_eq!(claim.claim_amount, Decimal::new(150_010, 2));
        assert_eq!(
            claim.created_micros.and_then(timestamp_text).as_deref(),
            Some("2024-02-29 08:30:00.250000")
        );
        let bad =
            parse_claim_json(br#"{"claim_id":"CLM-1","member_id":"MBR-1","claim_amount":"1.234"}"#)
                .expect_err("three decimals");
        assert!(bad.contains("claim_amount"), "{bad}");
        assert!(
            parse_claim_json(b"")
                .expect_err("empty")
                .contains("tombstone")
        );
        assert!(parse_claim_json(b"{}\n{}").is_err());
    }
}
