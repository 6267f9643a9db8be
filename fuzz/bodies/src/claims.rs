//! `claims_csv` and `claims_json_lines`: the claims file readers and the row
//! validation over arbitrary bytes. Lines only go forward; a row that passes
//! is what the table can hold (ids short and free of control characters, an
//! amount exact within `DECIMAL(10,2)`); every message is bounded and safe to
//! print, whatever the row held.

use enricher_parse::claims::{
    MAX_ID_BYTES, ReadError, RowResult, read_csv, read_json_lines, validate_claim,
};
use rust_decimal::Decimal;

/// The longest message about one row or the file, in characters.
const MAX_MESSAGE_CHARS: usize = 600;

/// Checks each row as `claims load` does, and the line numbers' order.
fn check_rows(last_line: &mut u64) -> impl FnMut(u64, RowResult<'_>) -> Result<(), ()> + '_ {
    move |line, row| {
        assert!(line >= *last_line, "line {line} after line {last_line}");
        *last_line = line;
        match row.and_then(|raw| validate_claim(&raw)) {
            Ok(claim) => {
                for id in [claim.claim_id, claim.member_id] {
                    assert!(!id.is_empty() && id.len() <= MAX_ID_BYTES);
                    assert!(!id.chars().any(char::is_control), "{id:?}");
                }
                assert_eq!(claim.claim_amount.scale(), 2);
                assert!(claim.claim_amount.abs() <= Decimal::new(9_999_999_999, 2));
            }
            Err(why) => crate::assert_printable(&why, MAX_MESSAGE_CHARS),
        }
        Ok(())
    }
}

fn check_end(result: Result<(), ReadError<()>>) {
    match result {
        Ok(()) => {}
        Err(ReadError::File(why)) => crate::assert_printable(&why, MAX_MESSAGE_CHARS),
        Err(other) => panic!("reading from memory failed: {other:?}"),
    }
}

pub fn claims_csv(data: &[u8]) {
    let mut last_line = 0;
    check_end(read_csv(data, &mut check_rows(&mut last_line)));
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    assert!(last_line <= lines, "line {last_line} of {lines}");
}

pub fn claims_json_lines(data: &[u8]) {
    let mut last_line = 0;
    check_end(read_json_lines(data, &mut check_rows(&mut last_line)));
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    assert!(last_line <= lines, "line {last_line} of {lines}");
}
