//! What the loop reads, and the state that belongs to that source alone:
//! the payment events (with late claims on, the retry topic too), or for
//! `redrive` the failure records turned back into inputs, with the reason
//! each had failed for, the records passed over and the per-reason counts.
//! The loop keeps the batch; a source keeps what only it needs.

use std::collections::BTreeMap;

use super::super::failure_source::{Moved, RedriveCounts, RedriveFilter};
use super::super::late::LateClaims;

/// What the loop reads.
pub(crate) enum Source {
    /// The payment events, and with late claims on the retry topic as well.
    Stream(Option<LateClaims>),
    /// The failed topic, failure records turned back into inputs (`redrive`).
    Redrive(RedriveSource),
}

/// Redrive's side of the loop.
pub(crate) struct RedriveSource {
    pub(super) filter: RedriveFilter,
    /// The reason each input of the batch had failed for (parallel to the batch).
    pub(super) reasons: Vec<String>,
    /// (partition, offset) of records read but not re-driven (filtered out, unusable).
    pub(super) passed: Vec<(i32, i64)>,
    /// What the run did, by reason; the run's result.
    pub(super) counts: RedriveCounts,
}

impl RedriveSource {
    pub(crate) fn new(filter: RedriveFilter) -> Self {
        Self {
            filter,
            reasons: Vec::new(),
            passed: Vec::new(),
            counts: RedriveCounts::default(),
        }
    }
}

impl Source {
    /// Forget what the source holds of the batch read (it is read again after a rewind).
    pub(super) fn clear_batch(&mut self) {
        if let Source::Redrive(redrive) = self {
            redrive.reasons.clear();
            redrive.passed.clear();
        }
    }

    /// Records of this batch read but passed over (redrive), committed with it.
    pub(super) fn passed(&self) -> &[(i32, i64)] {
        match self {
            Source::Redrive(redrive) => &redrive.passed,
            Source::Stream(_) => &[],
        }
    }

    /// The reasons of the batch's inputs (redrive), none for the stream.
    pub(super) fn reasons(&self) -> &[String] {
        match self {
            Source::Redrive(redrive) => &redrive.reasons,
            Source::Stream(_) => &[],
        }
    }

    /// Redrive: add a batch's outcomes by reason.
    pub(super) fn count_redriven(&mut self, redriven: BTreeMap<String, Moved>) {
        if let Source::Redrive(redrive) = self {
            for (reason, m) in redriven {
                let moved = redrive.counts.by_reason.entry(reason).or_default();
                moved.redriven += m.redriven;
                moved.enriched += m.enriched;
                moved.failed_again += m.failed_again;
            }
        }
    }

    /// What the run did by reason (redrive), or nothing.
    pub(super) fn into_counts(self) -> RedriveCounts {
        match self {
            Source::Redrive(redrive) => redrive.counts,
            Source::Stream(_) => RedriveCounts::default(),
        }
    }
}
