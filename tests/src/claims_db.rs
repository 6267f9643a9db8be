//! Claims stores for lookup tests: an in-memory DuckDB with generated claims
//! (and a second connection to change it), and a store over it that fails
//! with a transient error a given number of times first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use enricher::error::StoreError;
use enricher::lookup::{ClaimRow, ClaimsStore, DuckDbStore};

/// An in-memory DuckDB with claims `CLM-0` .. `CLM-{rows-1}` (member
/// `MBR-i`, amount `(i % 1000) + 0.25`, `APPROVED`), plus a second
/// connection to change it.
pub fn memory_db(rows: usize) -> (DuckDbStore, duckdb::Connection) {
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    conn.execute_batch(enricher::claims_load::CLAIMS_DDL)
        .expect("ddl");
    conn.execute_batch(&format!(
        "INSERT INTO claims SELECT 'CLM-' || i, 'MBR-' || i, (i % 1000) + 0.25, 'APPROVED', NULL FROM range({rows}) t(i)"
    ))
    .expect("rows");
    let writer = conn.try_clone().expect("second connection");
    (DuckDbStore::from_connection(conn), writer)
}

/// A real store that fails with a transient error while `failures_left` > 0
/// (each failed query takes one off; `u32::MAX`: it always fails).
pub struct FlakyStore {
    pub inner: DuckDbStore,
    pub failures_left: Arc<AtomicU32>,
}

impl ClaimsStore for FlakyStore {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        if self.failures_left.load(Ordering::SeqCst) > 0 {
            self.failures_left.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::Transient(
                "IO Error: could not read block (injected)".into(),
            ));
        }
        self.inner.fetch(ids)
    }

    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        self.inner.fetch_all()
    }
}
