//! What `claims sync` sets up and asks over plain SQL before and while it
//! streams: the table's columns, the publication (created when missing), the
//! slot's state, the snapshot marker, and the lag in bytes.
//!
//! The snapshot marker: a new slot's snapshot must reach the changelog before
//! the slot is worth resuming. The publication's comment says `snapshot
//! pending` for a slot from just before the slot is created until the last
//! snapshot row is durable, then `snapshot complete`; a run that finds its
//! slot with `pending` drops it and takes the snapshot again.

use tokio_postgres::Client;

use super::SyncError;
use super::source::SyncSource;

/// The columns read, by name; `claim_status` and `created_date` may be absent.
pub(super) const REQUIRED: [&str; 3] = ["claim_id", "member_id", "claim_amount"];
pub(super) const OPTIONAL: [&str; 2] = ["claim_status", "created_date"];

/// Connect the plain SQL session (its connection driven on this runtime).
pub(super) async fn connect(source: &SyncSource) -> Result<Client, SyncError> {
    let (client, connection) = source.sql.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("claims sync: the SQL session to PostgreSQL ended: {e}");
        }
    });
    Ok(client)
}

/// The optional columns the table has; an error names what is missing, and
/// what to do when a delete would not carry the `claim_id`.
pub(super) async fn check_table(
    client: &Client,
    source: &SyncSource,
) -> Result<Vec<String>, SyncError> {
    let (schema, table) = &source.table;
    let rows = client
        .query(
            "SELECT a.attname::text, c.relreplident::text, \
                    coalesce(a.attnum = ANY(i.indkey::int2[]), false) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident) \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[schema, table],
        )
        .await?;
    if rows.is_empty() {
        return Err(SyncError::Setup(format!(
            "the table {} does not exist in this database",
            source.table_text()
        )));
    }
    let has = |name: &str| rows.iter().any(|r| r.get::<_, String>(0) == name);
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| !has(c)).collect();
    if !missing.is_empty() {
        return Err(SyncError::Setup(format!(
            "the table {} has no column {} (a claims table has claim_id, member_id, \
             claim_amount NUMERIC(10,2), and optionally claim_status and created_date TIMESTAMP)",
            source.table_text(),
            missing.join(", ")
        )));
    }
    let full = rows.iter().any(|r| r.get::<_, String>(1) == "f");
    let id_in_key = rows
        .iter()
        .any(|r| r.get::<_, String>(0) == "claim_id" && r.get::<_, bool>(2));
    if !full && !id_in_key {
        return Err(SyncError::Setup(format!(
            "a delete from {} would not carry its claim_id: make claim_id the primary key, \
             or ALTER TABLE {} REPLICA IDENTITY FULL",
            source.table_text(),
            source.table_sql()
        )));
    }
    Ok(OPTIONAL
        .iter()
        .filter(|c| has(c))
        .map(|c| (*c).to_owned())
        .collect())
}

/// Create the publication for the table unless it exists; an existing one
/// must publish the table.
pub(super) async fn ensure_publication(
    client: &Client,
    source: &SyncSource,
) -> Result<(), SyncError> {
    let name = &source.publication;
    let exists = client
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[name])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!(
                "CREATE PUBLICATION \"{name}\" FOR TABLE {}",
                source.table_sql()
            ))
            .await?;
        tracing::info!(publication = %name, table = %source.table_text(), "publication created");
        return Ok(());
    }
    let (schema, table) = &source.table;
    let covers = client
        .query_opt(
            "SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
            &[name, schema, table],
        )
        .await?
        .is_some();
    if !covers {
        return Err(SyncError::Setup(format!(
            "the publication {name} exists but does not publish {}: \
             ALTER PUBLICATION \"{name}\" ADD TABLE {}, or name another with --publication",
            source.table_text(),
            source.table_sql()
        )));
    }
    Ok(())
}

/// Whether the slot exists (checked to be a logical `pgoutput` slot).
pub(super) async fn slot_exists(client: &Client, source: &SyncSource) -> Result<bool, SyncError> {
    let row = client
        .query_opt(
            "SELECT coalesce(plugin::text, ''), slot_type::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&source.slot],
        )
        .await?;
    match row {
        None => Ok(false),
        Some(row) if row.get::<_, String>(0) == "pgoutput" => Ok(true),
        Some(row) => Err(SyncError::Setup(format!(
            "the slot {} exists but is a {} slot with plugin {:?}, not a logical pgoutput one",
            source.slot,
            row.get::<_, String>(1),
            row.get::<_, String>(0)
        ))),
    }
}

/// Wait (up to 30 s) until no session holds the slot: after a crash the
/// server notices the old session is gone within moments.
pub(super) async fn wait_slot_free(client: &Client, source: &SyncSource) -> Result<(), SyncError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let row = client
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active",
                &[&source.slot],
            )
            .await?;
        let Some(row) = row else { return Ok(()) };
        if std::time::Instant::now() >= deadline {
            let pid: Option<i32> = row.get(0);
            return Err(SyncError::Setup(format!(
                "the slot {} is in use by another session (pid {}): is another `claims sync` running?",
                source.slot,
                pid.map_or_else(|| "?".into(), |p| p.to_string())
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub(super) async fn drop_slot(client: &Client, source: &SyncSource) -> Result<(), SyncError> {
    client
        .execute("SELECT pg_drop_replication_slot($1)", &[&source.slot])
        .await?;
    Ok(())
}

fn marker(source: &SyncSource, state: &str) -> String {
    format!(
        "enricher claims sync: slot {} snapshot {state}",
        source.slot
    )
}

/// Whether the publication's comment says this slot's snapshot is pending.
pub(super) async fn snapshot_pending(
    client: &Client,
    source: &SyncSource,
) -> Result<bool, SyncError> {
    let row = client
        .query_opt(
            "SELECT obj_description(oid, 'pg_publication') FROM pg_publication WHERE pubname = $1",
            &[&source.publication],
        )
        .await?;
    let comment: Option<String> = row.and_then(|r| r.get(0));
    Ok(comment.as_deref() == Some(marker(source, "pending").as_str()))
}

/// Record the snapshot's state (`pending` or `complete`) in the publication's comment.
pub(super) async fn mark_snapshot(
    client: &Client,
    source: &SyncSource,
    state: &str,
) -> Result<(), SyncError> {
    client
        .batch_execute(&format!(
            "COMMENT ON PUBLICATION \"{}\" IS '{}'",
            source.publication,
            marker(source, state)
        ))
        .await?;
    Ok(())
}

/// Bytes of WAL between the server's current position and the slot's
/// confirmed one (`None` if the slot is gone).
pub(super) async fn lag_bytes(client: &Client, slot: &str) -> Result<Option<i64>, SyncError> {
    let row = client
        .query_opt(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8 \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?;
    Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)))
}
