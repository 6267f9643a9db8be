//! The `enricher` binary against mistakes that would lose data (issue 13):
//! outputs that are the input, the database or each other; a claims load
//! that would empty the table; hostile ids; a file run stopped by a signal
//! and resumed. Real files, real DuckDB, the real binary.

#[path = "../support/mod.rs"]
mod support;

mod checks;
mod empty_load;
mod hostile_ids;
mod interrupt;
mod same_file;
mod wrong_db;
