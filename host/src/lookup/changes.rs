//! Changes to the claims table while the host runs (the claims changelog,
//! `POST /v1/claims`): what one change is, and how far the changes have been
//! applied, which the run summary and the admin API's status report.
//!
//! The lookup's side of applying a change is [`ClaimsLookup::apply_changes`](super::ClaimsLookup::apply_changes):
//! called after the change is committed to DuckDB, it drops that id from the
//! partial cache (found and missing entries alike) or updates the full
//! cache's table in place.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::ClaimRow;

/// One change to the claims table: a new or updated row, or a deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimChange {
    pub claim_id: String,
    /// `None` deletes the claim (a tombstone on the changelog).
    pub row: Option<ClaimRow>,
    /// When the change took effect at its source, in ms since the Unix epoch
    /// (a Debezium event's `source.ts_ms`, the commit time); `None` when the
    /// record does not say (our own changelog format).
    pub effective_ms: Option<i64>,
}

/// How far this host has applied the claims changelog (a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangelogStatus {
    /// The changelog topic, or `admin-api` when changes come over `POST /v1/claims`.
    pub source: String,
    /// Changes applied since the host started (upserts and deletions).
    pub applied: u64,
    /// Of those, deletions.
    pub deleted: u64,
    /// Records the topic held that could not be read as a claim (logged, skipped).
    pub rejected: u64,
    /// Records between what is applied and the topic's end, over all partitions.
    pub lag_records: u64,
    /// Age of the oldest record not yet applied, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// Next offset to apply, per partition (stored with the rows, in the same transaction).
    pub next_offsets: Vec<(i32, i64)>,
    /// When the last batch was applied (ms since the Unix epoch).
    pub last_applied_ms: Option<i64>,
    /// The last error of the apply thread, if it is failing now.
    pub last_error: Option<String>,
    /// Why the changelog cannot be read now (its lag is then unknown).
    #[serde(default)]
    pub read_error: Option<String>,
}

/// The apply thread's progress, shared with the lookup's readers.
#[derive(Debug, Default)]
pub struct ChangelogProgress {
    status: Mutex<ChangelogStatus>,
}

impl ChangelogProgress {
    pub fn new(source: &str) -> Self {
        Self {
            status: Mutex::new(ChangelogStatus {
                source: source.to_owned(),
                ..ChangelogStatus::default()
            }),
        }
    }

    /// A copy of the progress now.
    pub fn snapshot(&self) -> ChangelogStatus {
        self.lock().clone()
    }

    /// Change the progress under its lock.
    pub fn update(&self, change: impl FnOnce(&mut ChangelogStatus)) {
        change(&mut self.lock());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChangelogStatus> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
