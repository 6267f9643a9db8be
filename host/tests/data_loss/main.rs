//! The `enricher` binary against mistakes that would lose data (issues 13
//! and 26): outputs that are the input (stdin too), the database or each
//! other (two names of stdout too); a claims load that would empty the
//! table; hostile ids; a file run stopped by a signal (also while stdin is
//! silent) or killed, and resumed. Real files, real DuckDB, the real binary.

#[path = "../support/mod.rs"]
mod support;

mod checks;
mod empty_load;
mod file_edges;
mod hostile_ids;
mod interrupt;
mod killed;
mod same_file;
mod stdin;
mod stdout;
mod wrong_db;
