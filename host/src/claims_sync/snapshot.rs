//! The first run of a slot: create it on a replication session with an
//! exported snapshot, read the whole table in that snapshot on the SQL
//! session (`SET TRANSACTION SNAPSHOT`, a portal read in chunks), publish
//! every row as an upsert, and wait until all of it is durable. The stream
//! then starts at the slot's consistent point: each change after the
//! snapshot, none before it. The publication's comment marks the snapshot
//! `pending` until then (`setup`).

use pgwire_replication::ReplicationClient;
use tokio_postgres::{Client, IsolationLevel};

use super::SyncError;
use super::decode::Change;
use super::setup::{self, OPTIONAL};
use super::sink::{Record, Sink, Step};
use super::source::SyncSource;
use super::status::SyncProgress;
use crate::changelog::encode;
use crate::claims_load::Claim;
use enricher_parse::claims::{RawClaim, validate_claim};

/// Rows read (and published) per chunk.
const CHUNK: i32 = 5000;
/// Bad rows named in the log; the rest are only counted.
const LOGGED_BAD_ROWS: u64 = 20;

/// Take the snapshot and return the replication session that created the
/// slot, ready to start streaming from the slot's consistent point.
pub(super) async fn take(
    source: &SyncSource,
    sql: &mut Client,
    columns: &[String],
    sink: &mut Sink,
    progress: &SyncProgress,
) -> Result<ReplicationClient, SyncError> {
    setup::mark_snapshot(sql, source, "pending").await?;
    let mut session = ReplicationClient::connect_gated(source.replication.clone()).await?;
    let created = session
        .simple_query(&format!(
            "CREATE_REPLICATION_SLOT \"{}\" LOGICAL pgoutput (SNAPSHOT 'export')",
            source.slot
        ))
        .await?;
    let field = |i: usize| {
        created
            .first()
            .and_then(|row| row.get(i).cloned().flatten())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or_else(|| {
                SyncError::Postgres("CREATE_REPLICATION_SLOT answered no snapshot".into())
            })
    };
    let (consistent_point, snapshot) = (field(1)?, field(2)?);
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(SyncError::Postgres(format!(
            "an unexpected snapshot name {snapshot:?}"
        )));
    }
    tracing::info!(slot = %source.slot, %consistent_point, %snapshot, "replication slot created; reading the snapshot");
    let snapshot_ms = crate::clock::now_ms();

    let tx = sql
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    tx.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
        .await?;
    let optional = OPTIONAL.map(|name| {
        if columns.iter().any(|c| c == name) {
            format!("\"{name}\"::text")
        } else {
            "NULL::text".to_owned()
        }
    });
    let select = format!(
        "SELECT claim_id::text, member_id::text, claim_amount::text, {}, {} FROM {}",
        optional[0],
        optional[1],
        source.table_sql()
    );
    let statement = tx.prepare(&select).await?;
    let portal = tx.bind(&statement, &[]).await?;
    let mut bad = 0u64;
    loop {
        let rows = tx.query_portal(&portal, CHUNK).await?;
        if rows.is_empty() {
            break;
        }
        let mut step = Step {
            snapshot: true,
            commit_ms: snapshot_ms,
            ..Step::default()
        };
        for row in &rows {
            let text = |i: usize| row.get::<_, Option<&str>>(i);
            let raw = RawClaim {
                claim_id: text(0),
                member_id: text(1),
                claim_amount: text(2),
                claim_status: text(3),
                created_date: text(4),
            };
            match validate_claim(&raw) {
                Ok(valid) => step
                    .records
                    .push(record(Change::Upsert(Claim::from(&valid)), snapshot_ms)),
                Err(why) => {
                    bad += 1;
                    if bad <= LOGGED_BAD_ROWS {
                        tracing::warn!(
                            claim_id = raw.claim_id.unwrap_or(""),
                            "snapshot row skipped: {why}"
                        );
                    }
                }
            }
        }
        sink.send(step).await?;
    }
    tx.commit().await?;
    progress.add_rejected(bad);
    sink.wait_durable().await?;
    setup::mark_snapshot(sql, source, "complete").await?;
    let rows = progress.status().snapshot_rows;
    tracing::info!(rows, rejected = bad, "snapshot published to the changelog");
    Ok(session)
}

/// The changelog record of `change`, stamped `timestamp_ms`.
pub(super) fn record(change: Change, timestamp_ms: i64) -> Record {
    match change {
        Change::Upsert(claim) => Record {
            value: Some(encode(&claim)),
            key: claim.claim_id,
            timestamp_ms,
        },
        Change::Delete(claim_id) => Record {
            key: claim_id,
            value: None,
            timestamp_ms,
        },
    }
}
