//! Reading a claims CSV row by row: a header row names the columns (in any
//! order); each record is handed on with its physical line number, as raw
//! text fields or as the reason it cannot be read. Blank lines are skipped.
//! Only a problem with the whole file (I/O, header) stops the reading.

use std::collections::VecDeque;
use std::io::{self, Read};

use super::ReadError;
use super::fields::{RawClaim, RowResult};
use super::quote::quoted;

/// The claims table's columns in table order; the first three are required.
const COLUMNS: [&str; 5] = [
    "claim_id",
    "member_id",
    "claim_amount",
    "claim_status",
    "created_date",
];
const REQUIRED_COLUMNS: usize = 3;
/// At most this many unknown columns are named in the header's error.
const MAX_UNKNOWN_SHOWN: usize = 5;

/// Which field of a CSV record holds each of [`COLUMNS`]; the first
/// `required` of them must be there.
fn column_positions(
    header: &csv::StringRecord,
    required: usize,
) -> Result<[Option<usize>; 5], String> {
    let mut positions = [None; 5];
    let mut unknown = Vec::new();
    for (position, name) in header.iter().map(str::trim).enumerate() {
        match COLUMNS
            .iter()
            .position(|column| column.eq_ignore_ascii_case(name))
        {
            Some(column) if positions[column].is_some() => {
                return Err(format!("column {name} appears twice"));
            }
            Some(column) => positions[column] = Some(position),
            None if name.is_empty() => unknown.push("(blank)".to_string()),
            None => unknown.push(quoted(name)),
        }
    }
    if !unknown.is_empty() {
        let more = unknown.len().saturating_sub(MAX_UNKNOWN_SHOWN);
        unknown.truncate(MAX_UNKNOWN_SHOWN);
        if more > 0 {
            unknown.push(format!("and {more} more"));
        }
        return Err(format!(
            "unknown column(s) {}; expected {}",
            unknown.join(", "),
            COLUMNS.join(", ")
        ));
    }
    let missing: Vec<&str> = COLUMNS[..required]
        .iter()
        .zip(positions)
        .filter(|(_, at)| at.is_none())
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing required column(s) {}", missing.join(", ")));
    }
    Ok(positions)
}

/// Passes the CSV input through, noting where each non-empty line starts, so
/// that a record's byte offset gives its physical line number (the csv
/// crate's own count is off after blank lines and in CRLF files).
struct LineTracker<R> {
    inner: R,
    /// Offset of the next byte read.
    offset: u64,
    /// Line number of the next byte read.
    line: u64,
    at_line_start: bool,
    /// `(offset, line)` of each non-empty line start not yet passed.
    content_lines: VecDeque<(u64, u64)>,
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        for &byte in &buf[..read] {
            if byte == b'\n' {
                self.line += 1;
                self.at_line_start = true;
            } else if byte != b'\r' {
                if self.at_line_start {
                    self.content_lines.push_back((self.offset, self.line));
                }
                self.at_line_start = false;
            }
            self.offset += 1;
        }
        Ok(read)
    }
}

impl<R> LineTracker<R> {
    fn new(inner: R) -> Self {
        LineTracker {
            inner,
            offset: 0,
            line: 1,
            at_line_start: true,
            content_lines: VecDeque::new(),
        }
    }

    /// The line of the record read from `record_start` (which may point at
    /// line ends before it): the first non-empty line starting there or later.
    fn line_of_record_at(&mut self, record_start: u64) -> u64 {
        while let Some(&(offset, line)) = self.content_lines.front() {
            if offset >= record_start {
                return line;
            }
            self.content_lines.pop_front();
        }
        self.line
    }
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|field| field.trim().is_empty())
}

/// Reads CSV rows, handing each to `on_row` with its line; a blank field is
/// NULL (fields are trimmed when validated).
pub fn read_csv<E>(
    input: impl Read,
    on_row: &mut impl FnMut(u64, RowResult<'_>) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    read_csv_requiring(input, REQUIRED_COLUMNS, on_row)
}

/// As [`read_csv`], for a file of deletions: only `claim_id` is a required column.
pub fn read_csv_ids<E>(
    input: impl Read,
    on_row: &mut impl FnMut(u64, RowResult<'_>) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    read_csv_requiring(input, 1, on_row)
}

fn read_csv_requiring<E>(
    input: impl Read,
    required: usize,
    on_row: &mut impl FnMut(u64, RowResult<'_>) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineTracker::new(input));
    let mut record = csv::StringRecord::new();
    let mut positions = None;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let start = error.position().map_or(u64::MAX, csv::Position::byte);
                let line = reader.get_mut().line_of_record_at(start);
                if let csv::ErrorKind::Utf8 { err, .. } = error.kind() {
                    if positions.is_some() {
                        on_row(line, Err("not valid UTF-8".into()))?;
                        continue;
                    }
                    return Err(ReadError::File(format!(
                        "line {line}: the header row is not valid UTF-8 (column {}, after {} valid byte(s)); save the file as UTF-8",
                        err.field() + 1,
                        err.valid_up_to()
                    )));
                }
                let why = error.to_string();
                return Err(match error.into_kind() {
                    csv::ErrorKind::Io(source) => ReadError::Io(source),
                    _ => ReadError::File(format!("line {line}: unreadable CSV ({why})")),
                });
            }
        }
        let start = record.position().map_or(u64::MAX, csv::Position::byte);
        let line = reader.get_mut().line_of_record_at(start);
        if is_blank(&record) {
            continue;
        }
        let Some(positions) = positions else {
            let found = column_positions(&record, required)
                .map_err(|why| ReadError::File(format!("line {line}: {why}")))?;
            positions = Some(found);
            continue;
        };
        if record.len() != positions.iter().flatten().count() {
            let why = format!(
                "expected {} fields as in the header, found {}",
                positions.iter().flatten().count(),
                record.len()
            );
            on_row(line, Err(why))?;
            continue;
        }
        let field = |column: usize| positions[column].and_then(|at| record.get(at));
        let raw = RawClaim {
            claim_id: field(0),
            member_id: field(1),
            claim_amount: field(2),
            claim_status: field(3),
            created_date: field(4),
        };
        on_row(line, Ok(raw))?;
    }
    // An empty file (or blank lines only) holds no row; the caller decides
    // whether no claims is allowed (`claims load --allow-empty`).
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::claims::fields::{OwnedRows as Rows, owned_fields};

    fn collect(text: &str) -> Result<Rows, String> {
        collect_bytes(text.as_bytes())
    }

    fn collect_bytes(bytes: &[u8]) -> Result<Rows, String> {
        let mut rows = Rows::new();
        read_csv(bytes, &mut |line, row| {
            rows.push((line, owned_fields(row)));
            Ok::<(), ()>(())
        })
        .map_err(|error| match error {
            ReadError::File(why) => why,
            other => panic!("not a file error: {other:?}"),
        })?;
        Ok(rows)
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn csv_columns_in_any_order_with_line_numbers() {
        let text = "\u{feff}Member_ID, claim_amount ,claim_id\n\nMBR-1,10.00,CLM-1\n  \nMBR-2,\"1,5\",\"CLM-2\"\nMBR-3,1\n";
        let rows = collect(text).expect("readable");
        let expected = [
            (
                3,
                Ok([some("CLM-1"), some("MBR-1"), some("10.00"), None, None]),
            ),
            (
                5,
                Ok([some("CLM-2"), some("MBR-2"), some("1,5"), None, None]),
            ),
            (
                6,
                Err("expected 3 fields as in the header, found 2".to_string()),
            ),
        ];
        assert_eq!(rows, expected);
    }

    #[test]
    fn line_numbers_stay_physical_with_crlf_blank_lines_and_quoted_breaks() {
        let text = "claim_id,member_id,claim_amount\r\nCLM-1,MBR-1,1\r\n\r\n\r\n\"CLM\r\n2\",MBR-2,2\r\nCLM-3,MBR-3\r\n";
        let rows = collect(text).expect("readable");
        let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 5, 7]);
        assert_eq!(
            rows[1].1,
            Ok([some("CLM\r\n2"), some("MBR-2"), some("2"), None, None])
        );
    }

    #[test]
    fn csv_header_problems_stop_the_file() {
        let message = |text: &str| collect(text).expect_err(text);
        assert!(
            message("claim_id,member_id,amount,note\n")
                .contains("line 1: unknown column(s) amount, note")
        );
        assert!(
            message("\nclaim_id,member_id\n")
                .contains("line 2: missing required column(s) claim_amount")
        );
        assert!(
            message("claim_id,claim_id,member_id,claim_amount\n")
                .contains("column claim_id appears twice")
        );
        // An empty file is no header problem: it holds no rows.
        assert_eq!(collect(""), Ok(Rows::new()));
        assert_eq!(collect("\n\n"), Ok(Rows::new()));
        // Found by the `claims_csv` fuzz target: the list of unknown columns is cut.
        let wide = format!("claim_id,member_id,claim_amount{}\n", ",x".repeat(100_000));
        assert!(
            message(&wide)
                .starts_with("line 1: unknown column(s) x, x, x, x, x, and 99995 more; expected")
        );
    }

    #[test]
    fn invalid_utf8_is_a_bad_row_not_a_bad_file() {
        let bytes: &[u8] = b"claim_id,member_id,claim_amount\nCLM-1,MBR-\xff,1\nCLM-2,MBR-2,2\n";
        let mut rows = Vec::new();
        let mut on_row = |line: u64, row: RowResult<'_>| {
            rows.push((line, row.map(|raw| raw.claim_id.map(str::to_string))));
            Ok::<(), ()>(())
        };
        read_csv::<()>(bytes, &mut on_row).expect("readable");
        assert_eq!(
            rows,
            [
                (2, Err("not valid UTF-8".to_string())),
                (3, Ok(some("CLM-2")))
            ]
        );
    }

    #[test]
    fn a_header_that_is_not_utf8_names_the_line_and_column() {
        let mut on_row = |_: u64, _: RowResult<'_>| Ok::<(), ()>(());
        let bytes: &[u8] = b"\n\nclaim_id,member\xff_id,claim_amount\nCLM-1,MBR-1,1\n";
        match read_csv(bytes, &mut on_row) {
            Err(ReadError::File(why)) => assert_eq!(
                why,
                "line 3: the header row is not valid UTF-8 (column 2, after 6 valid byte(s)); save the file as UTF-8"
            ),
            other => panic!("expected a file error, got {other:?}"),
        }
    }
}
