//! TEMPORARY placeholder until the loader lands.
use std::path::Path;
use std::time::Duration;
pub const CLAIMS_DDL: &str = "CREATE TABLE claims (claim_id VARCHAR PRIMARY KEY, member_id VARCHAR NOT NULL, claim_amount DECIMAL(10,2) NOT NULL, claim_status VARCHAR, created_date TIMESTAMP)";
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadOptions { pub skip_bad_rows: bool }
#[derive(Debug, Default)]
pub struct LoadReport { pub rows_loaded: u64, pub rows_rejected: u64, pub rejected: Vec<String>, pub elapsed: Duration }
pub fn load_claims(_conn: &mut duckdb::Connection, _path: &Path, _opts: &LoadOptions) -> Result<LoadReport, crate::error::LoadError> { Ok(LoadReport::default()) }
