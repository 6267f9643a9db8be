//! The claims store behind the cache: a small trait, so the DuckDB store and
//! the fault-injecting stores of tests and benchmarks plug in the same way.

use std::sync::Arc;

use super::ClaimRow;
use crate::error::StoreError;

/// Stops the query a store is running right now (called from another thread
/// when a lookup runs out of time).
pub type Interrupter = Arc<dyn Fn() + Send + Sync>;

/// How big the claims table is, for cache mode `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSize {
    pub rows: u64,
    /// Average bytes of a row's text (id, member, status).
    pub avg_text_bytes: u64,
}

/// A source of claim rows. Runs on the lookup's own worker thread.
pub trait ClaimsStore: Send {
    /// The rows for those of `ids` that exist, in any order, in ONE query.
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError>;

    /// Every row (for the full cache).
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError>;

    /// A way to interrupt a running query, if the store has one.
    fn interrupter(&self) -> Option<Interrupter> {
        None
    }

    /// The table's size, if the store can tell it cheaply (called once, at start).
    fn table_size(&mut self) -> Result<Option<TableSize>, StoreError> {
        Ok(None)
    }

    /// Another connection to the same table, for a load that runs beside the
    /// lookups (cache mode `auto`'s background load); `None` if it has none.
    fn second_connection(&self) -> Option<Box<dyn ClaimsStore>> {
        None
    }
}

impl<S: ClaimsStore + ?Sized> ClaimsStore for Box<S> {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        (**self).fetch(ids)
    }

    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        (**self).fetch_all()
    }

    fn interrupter(&self) -> Option<Interrupter> {
        (**self).interrupter()
    }

    fn table_size(&mut self) -> Result<Option<TableSize>, StoreError> {
        (**self).table_size()
    }

    fn second_connection(&self) -> Option<Box<dyn ClaimsStore>> {
        (**self).second_connection()
    }
}
