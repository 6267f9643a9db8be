//! Claims file rows, from bytes to checked values: rows are read
//! ([`read_csv`], [`read_json_lines`]) as raw text fields with their physical
//! line numbers, then validated ([`validate_claim`]: `fields`, `ids`,
//! `timestamp`). What is wrong with a row is a message; only a problem with
//! the whole file (I/O, header) stops the reading, as a [`ReadError`].

use std::io;

mod csv_rows;
mod fields;
mod ids;
mod json_rows;
mod quote;
mod timestamp;

pub use csv_rows::{read_csv, read_csv_ids};
pub use fields::{
    ClaimRow, RawClaim, RowResult, non_blank, parse_amount, validate_claim, validate_claim_id,
};
pub use ids::{MAX_ID_BYTES, check_id};
pub use json_rows::read_json_lines;
pub use quote::{MAX_QUOTED_CHARS, quoted, quoted_up_to};
pub use timestamp::parse_timestamp_micros;

/// Why a claims file could not be read to its end.
#[derive(Debug)]
pub enum ReadError<E> {
    /// Reading the input failed.
    Io(io::Error),
    /// The file as a whole is unusable (no header, a bad header...): says
    /// what is wrong and on which line.
    File(String),
    /// The row callback stopped the reading with its own error.
    Stopped(E),
}

impl<E> From<E> for ReadError<E> {
    fn from(error: E) -> Self {
        ReadError::Stopped(error)
    }
}
