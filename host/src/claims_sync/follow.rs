//! A run from start to stop: set up, take the snapshot or resume the slot,
//! then follow the stream. Changes are gathered per transaction and handed
//! to the sink only at its Commit (an unfinished transaction is never
//! published), several transactions per step while the stream is busy; the
//! slot is acknowledged up to what the sink reports durable, and on an idle
//! stream up to the server's keepalive position once everything before it is
//! durable (so the slot does not hold WAL written for other tables).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgwire_replication::{Lsn, ReplicationClient, ReplicationEvent};

use super::decode::{Change, Decoder};
use super::setup;
use super::sink::{Sink, Step};
use super::snapshot::{self, record};
use super::source::SyncSource;
use super::status::{StatusLine, SyncProgress};
use super::{SyncError, SyncReport};
use crate::config::KafkaConfig;

/// Records per step handed to the sink at most (a larger transaction is one step).
const STEP_RECORDS: usize = 5000;
/// How long committed changes may wait for more before they are handed over anyway.
const STEP_AGE: Duration = Duration::from_millis(20);
/// How long to wait for an event before looking at the stop flag and the lag again.
const WAIT: Duration = Duration::from_millis(100);
/// How often the lag in bytes is asked for.
const LAG_EVERY: Duration = Duration::from_secs(1);
/// Bad rows named in the log; the rest are only counted.
const LOGGED_BAD_ROWS: u64 = 20;
/// Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch), in ms.
const PG_EPOCH_MS: i64 = 946_684_800_000;

pub(super) async fn run(
    source: &SyncSource,
    kafka: &KafkaConfig,
    topic: &str,
    status_every: Option<Duration>,
    stop: &AtomicBool,
    progress: Arc<SyncProgress>,
) -> Result<SyncReport, SyncError> {
    let mut sql = setup::connect(source).await?;
    let columns = setup::check_table(&sql, source).await?;
    setup::ensure_publication(&sql, source).await?;
    let mut resumed = setup::slot_exists(&sql, source).await?;
    if resumed {
        setup::wait_slot_free(&sql, source).await?;
    }
    if resumed && setup::snapshot_pending(&sql, source).await? {
        tracing::warn!(slot = %source.slot, "the slot's snapshot never completed (the last run stopped during it): dropping the slot and taking the snapshot again");
        setup::drop_slot(&sql, source).await?;
        resumed = false;
    }
    let mut sink = Sink::start(kafka, topic, Arc::clone(&progress))?;
    let mut session = if resumed {
        tracing::info!(slot = %source.slot, "resuming the slot from its confirmed position (no snapshot)");
        ReplicationClient::connect_gated(source.replication.clone()).await?
    } else {
        snapshot::take(source, &mut sql, &columns, &mut sink, &progress).await?
    };
    session.start().await?;
    session.wait_started().await?;
    progress.set_streaming();
    tracing::info!(slot = %source.slot, table = %source.table_text(), topic, "following the table");
    let mut follower = Follower {
        decoder: Decoder::new(&source.table),
        sink,
        progress: Arc::clone(&progress),
        pending: Step::default(),
        pending_since: None,
        transaction: None,
        handed_lsn: 0,
        acked: 0,
        bad: 0,
    };
    let mut line = StatusLine::new();
    let (mut lag_at, mut status_at) = (Instant::now() - LAG_EVERY, Instant::now());
    while !stop.load(Ordering::Relaxed) {
        follower.acknowledge(&session);
        if lag_at.elapsed() >= LAG_EVERY {
            progress.set_lag_bytes(setup::lag_bytes(&sql, &source.slot).await.ok().flatten());
            lag_at = Instant::now();
        }
        if status_every.is_some_and(|every| status_at.elapsed() >= every) {
            line.log(&progress);
            status_at = Instant::now();
        }
        // What is waiting now; otherwise hand the pending step over and wait a little.
        if follower
            .pending_since
            .is_some_and(|at| at.elapsed() >= STEP_AGE)
        {
            follower.hand_over().await?;
        }
        let event = match tokio::time::timeout(Duration::ZERO, session.recv()).await {
            Ok(event) => event?,
            Err(_) => {
                follower.hand_over().await?;
                match tokio::time::timeout(WAIT, session.recv()).await {
                    Ok(event) => event?,
                    Err(_) => continue,
                }
            }
        };
        let event =
            event.ok_or_else(|| SyncError::Postgres("the replication stream ended".into()))?;
        follower.on(event).await?;
    }
    // Stopping: what is committed goes out and is acknowledged; an unfinished
    // transaction is dropped (the slot sends it again on the next run).
    follower.transaction = None;
    follower.hand_over().await?;
    follower.sink.wait_durable().await?;
    follower.acknowledge(&session);
    let durable = Lsn::from_u64(progress.durable_lsn());
    let deadline = Instant::now() + Duration::from_secs(5);
    while session.metrics().last_applied_lsn() < durable && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.stop();
    while let Ok(Ok(Some(_))) = tokio::time::timeout(Duration::from_secs(5), session.recv()).await {
    }
    follower.sink.finish()?;
    progress.set_lag_bytes(setup::lag_bytes(&sql, &source.slot).await.ok().flatten());
    Ok(SyncReport {
        resumed,
        status: progress.status(),
    })
}

struct Follower {
    decoder: Decoder,
    sink: Sink,
    progress: Arc<SyncProgress>,
    /// Committed transactions not yet handed to the sink.
    pending: Step,
    /// When the first of them was committed (received).
    pending_since: Option<Instant>,
    /// The changes of the open transaction (`None` outside one).
    transaction: Option<Vec<Change>>,
    /// The position of the last step handed over.
    handed_lsn: u64,
    /// The position last acknowledged to the server.
    acked: u64,
    bad: u64,
}

impl Follower {
    async fn on(&mut self, event: ReplicationEvent) -> Result<(), SyncError> {
        match event {
            ReplicationEvent::Begin { .. } => self.transaction = Some(Vec::new()),
            ReplicationEvent::XLogData { data, .. } => {
                let mut decoded = Vec::new();
                self.decoder
                    .decode(&data, &mut decoded)
                    .map_err(SyncError::Postgres)?;
                for change in decoded {
                    match change {
                        Ok(change) => self.transaction.get_or_insert_with(Vec::new).push(change),
                        Err(why) => {
                            self.bad += 1;
                            self.progress.add_rejected(1);
                            if self.bad <= LOGGED_BAD_ROWS {
                                tracing::warn!("change skipped: {why}");
                            }
                        }
                    }
                }
            }
            ReplicationEvent::Commit {
                end_lsn,
                commit_time_micros,
                ..
            } => {
                let commit_ms = commit_time_micros.div_euclid(1000) + PG_EPOCH_MS;
                let changes = self.transaction.take().unwrap_or_default();
                if self.pending.records.is_empty() && !changes.is_empty() && self.sink.all_durable()
                {
                    self.progress.set_busy_since(commit_ms);
                }
                if !changes.is_empty() {
                    self.pending_since.get_or_insert_with(Instant::now);
                }
                self.pending
                    .records
                    .extend(changes.into_iter().map(|c| record(c, commit_ms)));
                self.pending.lsn = self.pending.lsn.max(end_lsn.as_u64());
                self.pending.commit_ms = commit_ms;
                if self.pending.records.len() >= STEP_RECORDS {
                    self.hand_over().await?;
                }
            }
            ReplicationEvent::KeepAlive { wal_end, .. } => {
                // Everything before the keepalive was sent before it: once that is
                // durable, so is the position (nothing of an open transaction, though).
                if self.transaction.is_none() {
                    self.pending.lsn = self.pending.lsn.max(wal_end.as_u64());
                }
            }
            ReplicationEvent::Message { .. } | ReplicationEvent::StoppedAt { .. } => {}
        }
        Ok(())
    }

    /// Give the committed transactions (or a raised position) to the sink.
    async fn hand_over(&mut self) -> Result<(), SyncError> {
        if self.pending.records.is_empty() && self.pending.lsn <= self.handed_lsn {
            return Ok(());
        }
        let step = std::mem::take(&mut self.pending);
        self.pending_since = None;
        self.handed_lsn = self.handed_lsn.max(step.lsn);
        self.pending.lsn = self.handed_lsn;
        self.sink.send(step).await
    }

    /// Acknowledge what the sink made durable; note whether anything is in flight.
    fn acknowledge(&mut self, session: &ReplicationClient) {
        let durable = self.progress.durable_lsn();
        if durable > self.acked {
            session.update_applied_lsn(Lsn::from_u64(durable));
            self.acked = durable;
        }
        let idle = self.transaction.as_ref().is_none_or(Vec::is_empty)
            && self.pending.records.is_empty()
            && self.sink.all_durable();
        self.progress.set_idle(idle);
    }
}
