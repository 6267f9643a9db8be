//! Streaming checked rows into the new `claims` table: each row read is
//! validated, its `claim_id` checked unique within the file, and the good
//! ones handed to DuckDB's appender with the table's exact column types.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::BuildHasher;
use std::io::{self, BufRead};
use std::path::Path;

use duckdb::types::{TimeUnit, Value};
use enricher_parse::claims::{
    ClaimRow, ReadError, RowResult, quoted, read_csv, read_csv_ids, read_json_lines,
    validate_claim, validate_claim_id,
};

use super::InputFormat;
use crate::error::LoadError;

/// How many bad-row messages are kept for the report or the error.
const MAX_REJECTED_MESSAGES: usize = 20;

/// What each row of a file must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowsOf {
    /// Whole claims: every required field, checked.
    Claims,
    /// Deletions: only `claim_id` is read (and checked); other fields are ignored.
    Deletions,
}

/// What was appended and what was rejected.
#[derive(Debug, Default)]
pub(super) struct AppendTally {
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// The first bad rows, as `line N: why (value)`.
    pub rejected: Vec<String>,
}

/// Reads every row of `input` into the (new, empty) `claims` table of
/// `conn`'s open transaction. Unless `skip_bad_rows`, appending stops at the
/// first bad row (nothing will be kept) but reading goes on, to count them all.
pub(super) fn append_claims(
    conn: &duckdb::Connection,
    format: InputFormat,
    input: impl BufRead,
    path: &Path,
    skip_bad_rows: bool,
) -> Result<AppendTally, LoadError> {
    let mut appender = conn.appender("claims")?;
    let tally = check_claims(
        format,
        input,
        path,
        RowsOf::Claims,
        skip_bad_rows,
        |claim| append_claim(&mut appender, claim),
    )?;
    appender.flush()?;
    Ok(tally)
}

/// Reads and checks every row of `input` (fields, unique `claim_id`), hands
/// the good ones to `on_good` and counts the bad ones. Unless
/// `skip_bad_rows`, `on_good` is not called after the first bad row (nothing
/// will be kept) but reading goes on, to count them all.
pub(super) fn check_claims(
    format: InputFormat,
    input: impl BufRead,
    path: &Path,
    rows: RowsOf,
    skip_bad_rows: bool,
    mut on_good: impl FnMut(&ClaimRow<'_>) -> Result<(), LoadError>,
) -> Result<AppendTally, LoadError> {
    let mut seen = SeenClaimIds::default();
    let mut tally = AppendTally::default();
    let validate = match rows {
        RowsOf::Claims => validate_claim,
        RowsOf::Deletions => validate_claim_id,
    };
    let mut on_row = |line: u64, row: RowResult<'_>| {
        let checked = row.and_then(|raw| validate(&raw)).and_then(|claim| {
            match seen.first_line(claim.claim_id, line) {
                Some(first) => Err(format!(
                    "duplicate claim_id ({}), first on line {first}",
                    quoted(claim.claim_id)
                )),
                None => Ok(claim),
            }
        });
        match checked {
            Ok(claim) => {
                if tally.rows_rejected == 0 || skip_bad_rows {
                    on_good(&claim)?;
                }
                tally.rows_loaded += 1;
            }
            Err(why) => {
                tally.rows_rejected += 1;
                if tally.rejected.len() < MAX_REJECTED_MESSAGES {
                    tally.rejected.push(format!("line {line}: {why}"));
                }
            }
        }
        Ok(())
    };
    let read = match (format, rows) {
        (InputFormat::Csv, RowsOf::Claims) => read_csv(input, &mut on_row),
        (InputFormat::Csv, RowsOf::Deletions) => read_csv_ids(input, &mut on_row),
        (InputFormat::JsonLines, _) => read_json_lines(input, &mut on_row),
    };
    read.map_err(|error| match error {
        ReadError::Io(source) => LoadError::Read {
            path: path.to_path_buf(),
            source,
        },
        // The whole file is unusable (bad header...): reported as unreadable data.
        ReadError::File(why) => LoadError::Read {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, why),
        },
        ReadError::Stopped(error) => error,
    })?;
    Ok(tally)
}

/// Appends one row, with values of the column types themselves (a decimal of
/// another width would go through DuckDB's slow casting path).
fn append_claim(
    appender: &mut duckdb::Appender<'_>,
    claim: &ClaimRow<'_>,
) -> Result<(), LoadError> {
    let mut amount = claim.claim_amount;
    amount.rescale(2);
    let amount =
        duckdb::types::Decimal::new(10, 2, amount.mantissa()).map_err(duckdb::Error::from)?;
    let created = claim
        .created_micros
        .map(|micros| Value::Timestamp(TimeUnit::Microsecond, micros));
    appender.append_row(duckdb::params![
        claim.claim_id,
        claim.member_id,
        Value::Decimal(amount),
        claim.claim_status,
        created
    ])?;
    Ok(())
}

/// The `claim_id`s accepted so far, with their lines. Kept compact for
/// millions of ids: the texts in one arena, the table keyed by their hash;
/// the rare different ids with equal hashes go to `colliding`.
#[derive(Default)]
struct SeenClaimIds {
    hasher: RandomState,
    /// Hash of an id -> (its text's place in `arena`, its line).
    by_hash: HashMap<u64, (usize, usize, u64)>,
    arena: String,
    colliding: HashMap<String, u64>,
}

impl SeenClaimIds {
    /// The line `claim_id` was first seen on, or `None` (and it is noted as
    /// seen on `line`) if it is new.
    fn first_line(&mut self, claim_id: &str, line: u64) -> Option<u64> {
        match self.by_hash.entry(self.hasher.hash_one(claim_id)) {
            Entry::Vacant(slot) => {
                slot.insert((self.arena.len(), claim_id.len(), line));
                self.arena.push_str(claim_id);
                None
            }
            Entry::Occupied(seen) => {
                let (start, length, first_line) = *seen.get();
                if self.arena.get(start..start + length) == Some(claim_id) {
                    return Some(first_line);
                }
                match self.colliding.entry(claim_id.to_string()) {
                    Entry::Occupied(first) => Some(*first.get()),
                    Entry::Vacant(slot) => {
                        slot.insert(line);
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn duplicate_ids_are_found_with_their_first_line() {
        let mut seen = SeenClaimIds::default();
        assert_eq!(seen.first_line("CLM-1", 2), None);
        assert_eq!(seen.first_line("CLM-2", 3), None);
        assert_eq!(seen.first_line("CLM-1", 4), Some(2));
        assert_eq!(seen.first_line("CLM-2", 9), Some(3));
        assert_eq!(seen.first_line("CLM-12", 10), None);
    }

    #[test]
    fn different_ids_with_equal_hashes_stay_apart() {
        let mut seen = SeenClaimIds::default();
        assert_eq!(seen.first_line("A", 1), None);
        // Pretend "B" hashed like "A": its text differs, so it is new.
        let hash_of_b = seen.hasher.hash_one("B");
        let entry_of_a = *seen.by_hash.values().next().expect("A");
        seen.by_hash.insert(hash_of_b, entry_of_a);
        assert_eq!(seen.first_line("B", 2), None);
        assert_eq!(seen.first_line("B", 3), Some(2));
        assert_eq!(seen.first_line("A", 4), Some(1));
    }

    #[test]
    fn amounts_and_timestamps_are_appended_exactly() {
        let conn = duckdb::Connection::open_in_memory().expect("db");
        conn.execute_batch(super::super::CLAIMS_DDL).expect("table");
        let mut appender = conn.appender("claims").expect("appender");
        for (id, cents, micros) in [
            ("a", 10, Some(1)),
            ("b", 9_999_999_999, None),
            ("c", -1, Some(-1)),
        ] {
            let claim = ClaimRow {
                claim_id: id,
                member_id: "m",
                claim_amount: Decimal::new(cents, 2),
                claim_status: None,
                created_micros: micros,
            };
            append_claim(&mut appender, &claim).expect("append");
        }
        appender.flush().expect("flush");
        drop(appender);
        let mut statement = conn
            .prepare(
                "SELECT claim_amount, CAST(created_date AS VARCHAR) FROM claims ORDER BY claim_id",
            )
            .expect("prepare");
        let rows: Vec<(Decimal, Option<String>)> = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(|rows| rows.collect())
            .expect("rows");
        let expected = [
            (
                Decimal::new(10, 2),
                Some("1970-01-01 00:00:00.000001".to_string()),
            ),
            (Decimal::new(9_999_999_999, 2), None),
            (
                Decimal::new(-1, 2),
                Some("1969-12-31 23:59:59.999999".to_string()),
            ),
        ];
        assert_eq!(rows, expected);
        assert_eq!(rows[0].0.to_string(), "0.10");
    }
}
