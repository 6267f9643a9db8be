//! The DuckDB claims store: reads `claims` from an embedded database file.
//!
//! A batch of missed ids is ONE parameterised query (no SQL is built from ids).
//! Two shapes, chosen by batch size (see docs/benchmarks-log.md, "Misses", for the measurements):
//! - `IN (?, ?, ...)`: uses the primary-key index; its statements are prepared
//!   once per size bucket (ids are padded to a power of two by repeating one);
//! - a semi join against the ids passed as one string and split in SQL: one
//!   scan of the table (~20 ms for 1M rows), so its cost per id falls as
//!   batches grow. DuckDB 1.5 has no index join to use instead.

use std::path::Path;
use std::sync::Arc;

use duckdb::{Connection, params_from_iter};
use rust_decimal::Decimal;

use super::ClaimRow;
use super::duckdb_open::{self, classify};
use super::schema::{SchemaError, check_claims_table};
use super::store::{ClaimsStore, Interrupter, TableSize};
use crate::error::StoreError;

/// Separator of ids in the joined-string shape (ASCII unit separator).
const ID_SEPARATOR: char = '\u{1f}';

const COLUMNS: &str =
    "c.claim_id, c.member_id, c.claim_amount, c.claim_status, epoch_us(c.created_date)";

/// Which query a batch of ids is resolved with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryShape {
    /// `IN` lists up to this many ids, the join beyond (the default).
    Adaptive {
        in_list_max: usize,
    },
    InList,
    SplitJoin,
}

impl Default for QueryShape {
    fn default() -> Self {
        QueryShape::Adaptive { in_list_max: 400 }
    }
}

pub struct DuckDbStore {
    conn: Connection,
    shape: QueryShape,
}

impl DuckDbStore {
    /// Open a database file read-only (several hosts may share it), or an
    /// empty in-memory database for `None`.
    pub fn open(path: Option<&Path>, threads: Option<u32>) -> Result<Self, StoreError> {
        let conn = match path {
            Some(p) => {
                if !p.exists() {
                    return Err(StoreError::Permanent(format!(
                        "claims database {} does not exist (create it with `enricher claims load`)",
                        p.display()
                    )));
                }
                duckdb_open::open_read_only(p, threads)?
            }
            None => duckdb_open::open_in_memory(threads)?,
        };
        Ok(Self::from_connection(conn))
    }

    /// Open (or create) a database file read-write, for a host that applies
    /// changes to it (the claims changelog): no other process may open it
    /// then. Give [`Connection::try_clone`] of it to [`Self::from_connection`]
    /// for the lookup's own connection on the same database.
    pub fn open_writable(path: &Path, threads: Option<u32>) -> Result<Connection, StoreError> {
        duckdb_open::open_writable(path, threads)
    }

    pub fn from_connection(conn: Connection) -> Self {
        Self {
            conn,
            shape: QueryShape::default(),
        }
    }

    pub fn with_shape(mut self, shape: QueryShape) -> Self {
        self.shape = shape;
        self
    }

    /// Whether the claims table has the columns the lookup reads (see `schema`).
    pub fn check_schema(&self) -> Result<(), SchemaError> {
        check_claims_table(&self.conn)
    }

    /// Rows in the claims table (for summaries).
    pub fn count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM claims", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(classify)
    }

    fn fetch_in_list(&self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        let bucket = ids.len().next_power_of_two().max(8);
        let placeholders = vec!["?"; bucket].join(",");
        let sql = format!("SELECT {COLUMNS} FROM claims c WHERE c.claim_id IN ({placeholders})");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(classify)?;
        let pad = ids.last().map(String::as_str).unwrap_or_default();
        let params = ids
            .iter()
            .map(String::as_str)
            .chain(std::iter::repeat(pad))
            .take(bucket);
        let rows = stmt
            .query_map(params_from_iter(params), read_row)
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    fn fetch_split_join(&self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        let joined = ids.join(&ID_SEPARATOR.to_string());
        // A semi join: measured ~20% faster than an inner join on the same list.
        let sql = format!(
            "SELECT {COLUMNS} FROM claims c WHERE c.claim_id IN (SELECT unnest(string_split(?, chr(31))))"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(classify)?;
        let rows = stmt.query_map([joined], read_row).map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }
}

fn read_row(row: &duckdb::Row<'_>) -> duckdb::Result<(String, ClaimRow)> {
    Ok((
        row.get(0)?,
        ClaimRow {
            member_id: row.get(1)?,
            claim_amount: row.get::<_, Decimal>(2)?,
            claim_status: row.get(3)?,
            created_at_micros: row.get(4)?,
        },
    ))
}

impl ClaimsStore for DuckDbStore {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // An id holding the separator cannot go through the joined string.
        let splittable = !ids.iter().any(|id| id.contains(ID_SEPARATOR));
        let use_join = splittable
            && match self.shape {
                QueryShape::Adaptive { in_list_max } => ids.len() > in_list_max,
                QueryShape::InList => false,
                QueryShape::SplitJoin => true,
            };
        if use_join {
            return self.fetch_split_join(ids);
        }
        // Bound the statement size: very long IN lists go in chunks.
        let mut rows = Vec::new();
        for chunk in ids.chunks(1024) {
            rows.extend(self.fetch_in_list(chunk)?);
        }
        Ok(rows)
    }

    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM claims c"))
            .map_err(classify)?;
        let rows = stmt.query_map([], read_row).map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    fn second_connection(&self) -> Option<Box<dyn ClaimsStore>> {
        let conn = self.conn.try_clone().ok()?;
        Some(Box::new(Self::from_connection(conn).with_shape(self.shape)))
    }

    fn interrupter(&self) -> Option<Interrupter> {
        let handle = self.conn.interrupt_handle();
        Some(Arc::new(move || handle.interrupt()))
    }

    /// One scan of the text columns (~10-30 ms for 1M rows).
    fn table_size(&mut self) -> Result<Option<TableSize>, StoreError> {
        let sql = "SELECT count(*), coalesce(avg(strlen(claim_id) + strlen(member_id) \
                   + coalesce(strlen(claim_status), 0)), 0)::BIGINT FROM claims";
        let (rows, avg) = self
            .conn
            .query_row(sql, [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(classify)?;
        Ok(Some(TableSize {
            rows: u64::try_from(rows).unwrap_or(0),
            avg_text_bytes: u64::try_from(avg).unwrap_or(0),
        }))
    }
}
