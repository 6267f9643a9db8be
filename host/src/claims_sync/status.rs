//! How far `claims sync` got: counters the run adds to (atomics, read by the
//! status line, the summary and the tests), the lag, and the status line:
//!
//! ```text
//! claims sync: 1000000 snapshot rows, 5230 changes (+1200, 240/s), 12 deleted, 0 rejected, lag 0 B (0.0 s), acknowledged up to 0/3A2F1C8
//! ```

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// Shared counters of one run (`Default`: all zero).
#[derive(Debug, Default)]
pub struct SyncProgress {
    /// Snapshot rows published (durable).
    snapshot_rows: AtomicU64,
    /// Changes (upserts and tombstones) published since the start, durable.
    changes: AtomicU64,
    deleted: AtomicU64,
    /// Rows that fail the claims checks (skipped, logged).
    rejected: AtomicU64,
    /// The WAL position up to which everything is on the changelog.
    durable_lsn: AtomicU64,
    /// Commit time (ms since the epoch) of the last durable change.
    durable_commit_ms: AtomicI64,
    /// Commit time (ms) of the first change received after the last idle moment.
    busy_since_ms: AtomicI64,
    /// Whether everything received so far is durable (nothing in flight).
    idle: AtomicBool,
    /// Bytes of WAL between the server's position and the slot's confirmed one (-1: unknown).
    lag_bytes: AtomicI64,
    /// Whether the stream is running (the snapshot, if any, is done).
    streaming: AtomicBool,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStatus {
    pub snapshot_rows: u64,
    pub changes: u64,
    pub deleted: u64,
    pub rejected: u64,
    /// The WAL position everything before which is on the changelog
    /// ([`SyncStatus::durable_lsn_text`] writes it as PostgreSQL does).
    pub durable_lsn: u64,
    /// Bytes of WAL behind (`None` before the first measure).
    pub lag_bytes: Option<u64>,
    /// Seconds since the commit of the last published change, while changes
    /// are in flight; 0 when everything received is published.
    pub lag_seconds: f64,
    pub streaming: bool,
}

impl SyncStatus {
    /// The acknowledged position as PostgreSQL writes positions: `X/Y`.
    pub fn durable_lsn_text(&self) -> String {
        let lsn = self.durable_lsn;
        format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
    }
}

impl SyncProgress {
    pub fn new() -> Self {
        let progress = Self::default();
        progress.lag_bytes.store(-1, Ordering::Relaxed);
        progress.idle.store(true, Ordering::Relaxed);
        progress
    }

    pub fn status(&self) -> SyncStatus {
        let lsn = self.durable_lsn.load(Ordering::Acquire);
        let lag_seconds = if self.idle.load(Ordering::Relaxed) {
            0.0
        } else {
            // The oldest change not yet published is at most this old.
            let at = self
                .durable_commit_ms
                .load(Ordering::Relaxed)
                .max(self.busy_since_ms.load(Ordering::Relaxed));
            (crate::clock::now_ms() - at).max(0) as f64 / 1000.0
        };
        SyncStatus {
            snapshot_rows: self.snapshot_rows.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            deleted: self.deleted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            durable_lsn: lsn,
            lag_bytes: u64::try_from(self.lag_bytes.load(Ordering::Relaxed)).ok(),
            lag_seconds,
            streaming: self.streaming.load(Ordering::Relaxed),
        }
    }

    pub(super) fn durable_lsn(&self) -> u64 {
        self.durable_lsn.load(Ordering::Acquire)
    }

    /// `records` more are durable, of which `deleted` tombstones, up to `lsn`
    /// (0: a snapshot chunk, no position), the last committed at `commit_ms`.
    pub(super) fn add_durable(
        &self,
        snapshot: bool,
        records: u64,
        deleted: u64,
        lsn: u64,
        commit_ms: i64,
    ) {
        let counter = if snapshot {
            &self.snapshot_rows
        } else {
            &self.changes
        };
        counter.fetch_add(records, Ordering::Relaxed);
        self.deleted.fetch_add(deleted, Ordering::Relaxed);
        if records > 0 {
            self.durable_commit_ms.store(commit_ms, Ordering::Relaxed);
        }
        self.durable_lsn.fetch_max(lsn, Ordering::AcqRel);
    }

    pub(super) fn add_rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    pub(super) fn set_busy_since(&self, commit_ms: i64) {
        self.busy_since_ms.store(commit_ms, Ordering::Relaxed);
    }

    pub(super) fn set_lag_bytes(&self, bytes: Option<i64>) {
        self.lag_bytes
            .store(bytes.unwrap_or(-1).max(-1), Ordering::Relaxed);
    }

    pub(super) fn set_streaming(&self) {
        self.streaming.store(true, Ordering::Relaxed);
    }
}

/// The status line, with the change rate since the previous one.
pub(super) struct StatusLine {
    at: Instant,
    changes: u64,
}

impl StatusLine {
    pub(super) fn new() -> Self {
        Self {
            at: Instant::now(),
            changes: 0,
        }
    }

    pub(super) fn log(&mut self, progress: &SyncProgress) {
        let s = progress.status();
        let seconds = self.at.elapsed().as_secs_f64().max(1e-3);
        let new = s.changes - self.changes.min(s.changes);
        let lag = s
            .lag_bytes
            .map_or_else(|| "?".to_owned(), |b| b.to_string());
        eprintln!(
            "claims sync: {} snapshot rows, {} changes (+{new}, {:.0}/s), {} deleted, {} rejected, \
             lag {lag} B ({:.1} s), acknowledged up to {}",
            s.snapshot_rows,
            s.changes,
            new as f64 / seconds,
            s.deleted,
            s.rejected,
            s.lag_seconds,
            s.durable_lsn_text()
        );
        self.at = Instant::now();
        self.changes = s.changes;
    }
}
