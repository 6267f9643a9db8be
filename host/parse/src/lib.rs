//! `enricher-parse`: the host's parsers of untrusted input that need nothing
//! heavy, apart from the host crate so that they build in seconds and are
//! fuzzed on their own (`fuzz/`, see docs/testing.md, "Fuzzing").
//!
//! Layout:
//! - [`claims`]: claims file rows, CSV or JSON lines, read and validated
//!   (`enricher claims load` streams them into DuckDB);
//! - [`query`]: the admin API's query string (`POST /v1/plugins?name=...`).

pub mod claims;
pub mod query;
