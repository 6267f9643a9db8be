//! Writing changes into this host's own DuckDB file: each batch in ONE
//! transaction together with the changelog offsets it reached (table
//! `enricher_changelog_offsets`), so a restart resumes exactly after the last
//! applied batch, never re-applying one and never skipping one. Then, after
//! the commit, the lookup forgets (or updates) exactly the ids that changed.

use std::collections::HashMap;
use std::path::Path;

use duckdb::Connection;
use duckdb::types::{TimeUnit, Value};

use crate::claims_load::CLAIMS_DDL;
use crate::error::StoreError;
use crate::lookup::{ClaimChange, ClaimsLookup, DuckDbStore, classify};

/// Where the changelog offsets reached are kept, in the claims file itself.
pub const OFFSETS_DDL: &str = "CREATE TABLE IF NOT EXISTS enricher_changelog_offsets \
     (topic VARCHAR NOT NULL, partition INTEGER NOT NULL, next_offset BIGINT NOT NULL, \
      PRIMARY KEY (topic, partition))";

/// A batch is staged in two temporary tables (filled by DuckDB's appender),
/// then applied with two set-based statements: one statement per row costs
/// milliseconds each in DuckDB, a batch of thousands as much as one.
const STAGING_DDL: &str = "CREATE TEMP TABLE IF NOT EXISTS changelog_upserts \
     (claim_id VARCHAR, member_id VARCHAR, claim_amount DECIMAL(10,2), claim_status VARCHAR, created_date TIMESTAMP); \
     CREATE TEMP TABLE IF NOT EXISTS changelog_deletes (claim_id VARCHAR)";

const APPLY_STAGED: &str = "DELETE FROM claims WHERE claim_id IN (SELECT claim_id FROM temp.main.changelog_deletes); \
     INSERT OR REPLACE INTO claims (claim_id, member_id, claim_amount, claim_status, created_date) \
     SELECT claim_id, member_id, claim_amount, claim_status, created_date FROM temp.main.changelog_upserts; \
     DELETE FROM temp.main.changelog_upserts; DELETE FROM temp.main.changelog_deletes";

/// The apply side's connection to the host's database.
pub struct ClaimsWriter {
    conn: Connection,
}

/// One batch to apply: the changes, in changelog order, and the offsets
/// reached (`(topic, partition, next offset)`; none for the admin API).
#[derive(Debug, Default)]
pub struct Batch {
    pub changes: Vec<ClaimChange>,
    pub offsets: Vec<(String, i32, i64)>,
}

impl ClaimsWriter {
    /// Open `path` read-write (created, with an empty claims table, when it
    /// does not exist: a new host bootstraps from the changelog alone), and
    /// return the writer and the lookup's store: two connections on ONE
    /// database instance, so the store sees each batch once it is committed.
    pub fn open(path: &Path, threads: Option<u32>) -> Result<(Self, DuckDbStore), StoreError> {
        let conn = DuckDbStore::open_writable(path, threads)?;
        let has_claims: i64 = conn
            .query_row(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() \
                 AND schema_name = current_schema() AND lower(table_name) = 'claims'",
                [],
                |r| r.get(0),
            )
            .map_err(classify)?;
        if has_claims == 0 {
            conn.execute_batch(CLAIMS_DDL).map_err(classify)?;
            tracing::info!(db = %path.display(), "created an empty claims table (bootstrapping from the changelog)");
        }
        conn.execute_batch(OFFSETS_DDL).map_err(classify)?;
        conn.execute_batch(STAGING_DDL).map_err(classify)?;
        let store = DuckDbStore::from_connection(conn.try_clone().map_err(classify)?);
        Ok((Self { conn }, store))
    }

    /// The next offset to apply of each partition of `topic` stored so far.
    pub fn stored_offsets(&self, topic: &str) -> Result<HashMap<i32, i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT partition, next_offset FROM enricher_changelog_offsets WHERE topic = ?",
            )
            .map_err(classify)?;
        let rows = stmt
            .query_map([topic], |r| Ok((r.get::<_, i32>(0)?, r.get::<_, i64>(1)?)))
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    /// Apply `batch` in one transaction, then tell `lookup` what changed.
    /// On error nothing is applied (the batch can be tried again).
    pub fn apply(&mut self, batch: &Batch, lookup: &ClaimsLookup) -> Result<(), StoreError> {
        // Within a batch the last change of an id wins (the changelog's order per key).
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(batch.changes.len());
        for (i, change) in batch.changes.iter().enumerate() {
            last.insert(change.claim_id.as_str(), i);
        }
        let tx = self.conn.transaction().map_err(classify)?;
        {
            let mut upserts = tx
                .appender_to_catalog_and_db("changelog_upserts", "temp", "main")
                .map_err(classify)?;
            let mut deletes = tx
                .appender_to_catalog_and_db("changelog_deletes", "temp", "main")
                .map_err(classify)?;
            for (i, change) in batch.changes.iter().enumerate() {
                if last.get(change.claim_id.as_str()) != Some(&i) {
                    continue;
                }
                match &change.row {
                    Some(row) => {
                        let mut amount = row.claim_amount;
                        amount.rescale(2);
                        let amount = duckdb::types::Decimal::new(10, 2, amount.mantissa())
                            .map_err(|e| classify(duckdb::Error::from(e)))?;
                        let created = row
                            .created_at_micros
                            .map(|micros| Value::Timestamp(TimeUnit::Microsecond, micros));
                        upserts
                            .append_row(duckdb::params![
                                change.claim_id,
                                row.member_id,
                                Value::Decimal(amount),
                                row.claim_status,
                                created
                            ])
                            .map_err(classify)?;
                    }
                    None => deletes.append_row([&change.claim_id]).map_err(classify)?,
                }
            }
            upserts.flush().map_err(classify)?;
            deletes.flush().map_err(classify)?;
        }
        tx.execute_batch(APPLY_STAGED).map_err(classify)?;
        {
            let mut offset = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO enricher_changelog_offsets VALUES (?, ?, ?)",
                )
                .map_err(classify)?;
            for (topic, partition, next) in &batch.offsets {
                offset
                    .execute(duckdb::params![topic, partition, next])
                    .map_err(classify)?;
            }
        }
        tx.commit().map_err(classify)?;
        // After the commit: a lookup from now on reads the new rows.
        lookup.apply_changes(&batch.changes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CacheMode, LookupConfig};
    use crate::lookup::{ClaimRow, LookupAnswer};
    use rust_decimal::Decimal;
    use std::sync::Arc;
    use std::time::Duration;

    fn row(member: &str, cents: i64) -> ClaimRow {
        ClaimRow {
            member_id: member.into(),
            claim_amount: Decimal::new(cents, 2),
            claim_status: Some("APPROVED".into()),
            created_at_micros: Some(1_700_000_000_000_000),
        }
    }

    fn change(id: &str, row: Option<ClaimRow>) -> ClaimChange {
        ClaimChange {
            claim_id: id.into(),
            row,
            effective_ms: None,
        }
    }

    fn scratch(test: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("changelog-apply-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir.join("claims.duckdb")
    }

    fn found(lookup: &ClaimsLookup, id: &str) -> Option<ClaimRow> {
        match lookup.lookup(&[id.to_owned()]).remove(0) {
            LookupAnswer::Found(row) => Some((*row).clone()),
            LookupAnswer::NotFound => None,
            other => panic!("lookup failed: {other:?}"),
        }
    }

    #[test]
    fn a_new_file_bootstraps_and_batches_apply_with_their_offsets_and_invalidate() {
        for mode in [CacheMode::Partial, CacheMode::Full, CacheMode::None] {
            let path = scratch(&format!("{mode:?}"));
            let (mut writer, store) = ClaimsWriter::open(&path, Some(1)).expect("open");
            store.check_schema().expect("the expected claims table");
            let config = LookupConfig {
                cache: mode,
                cache_ttl: Duration::from_secs(3600),
                cache_missing_ttl: Duration::from_secs(3600),
                ..LookupConfig::default()
            };
            let lookup = Arc::new(ClaimsLookup::start(Box::new(store), &config).expect("lookup"));
            assert_eq!(found(&lookup, "CLM-1"), None, "{mode:?}: cached as missing");
            let first = Batch {
                changes: vec![
                    change("CLM-1", Some(row("M1", 100))),
                    change("CLM-2", Some(row("M2", 200))),
                    change("CLM-1", Some(row("M1", 150))),
                ],
                offsets: vec![("t".into(), 0, 3)],
            };
            writer.apply(&first, &lookup).expect("apply");
            assert_eq!(
                found(&lookup, "CLM-1"),
                Some(row("M1", 150)),
                "{mode:?}: last wins"
            );
            assert_eq!(found(&lookup, "CLM-2"), Some(row("M2", 200)));
            let second = Batch {
                changes: vec![change("CLM-2", None), change("CLM-1", Some(row("M9", 1)))],
                offsets: vec![("t".into(), 0, 5), ("t".into(), 1, 7)],
            };
            writer.apply(&second, &lookup).expect("apply");
            assert_eq!(found(&lookup, "CLM-2"), None, "{mode:?}: deleted");
            assert_eq!(
                found(&lookup, "CLM-1"),
                Some(row("M9", 1)),
                "{mode:?}: updated"
            );
            let offsets = writer.stored_offsets("t").expect("offsets");
            assert_eq!(offsets, HashMap::from([(0, 5), (1, 7)]));
            drop(lookup);
            drop(writer);
            let (writer, _) = ClaimsWriter::open(&path, Some(1)).expect("reopen");
            assert_eq!(
                writer.stored_offsets("t").expect("offsets").get(&0),
                Some(&5)
            );
        }
    }
}
