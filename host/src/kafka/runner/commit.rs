//! The commit cadence: commit every `commit-interval` or `commit-max-records`
//! (whichever comes first), note a rewind, and tell whether `--stop-at-end`
//! has committed the input up to where it ended at start.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Loop;
use crate::kafka::KafkaRunError;
use crate::kafka::delivery::Outcome;

impl Loop<'_> {
    /// Commit when due; returns whether `--stop-at-end` says the run is done.
    pub(super) fn maybe_commit(&mut self) -> Result<bool, KafkaRunError> {
        let due = self.since_commit >= self.config.commit_max_records
            || self.last_commit.elapsed() >= self.config.commit_interval;
        if !due {
            return Ok(false);
        }
        if self.delivery.has_pending() {
            let started = Instant::now();
            let committed = self.delivery.commit(&self.consumer);
            self.meter.commit_duration.observe(started.elapsed());
            self.publish_commits();
            if committed? == Outcome::Committed {
                self.last_progress = Instant::now();
            }
            self.since_commit = 0;
        } else {
            self.last_progress = Instant::now();
        }
        self.last_commit = Instant::now();
        let generation = self.delivery.generation();
        if generation != self.seen_generation {
            // Rewound or revoked: partitions are read again from their committed offsets.
            if let Some(end) = self.end.as_mut() {
                end.forget_eofs();
            }
            self.seen_generation = generation;
        }
        match &self.end {
            Some(end) => end.reached(&self.consumer, !self.delivery.has_pending()),
            None => Ok(false),
        }
    }

    /// Mirror the delivery mode's commit counters into the meter.
    pub(super) fn publish_commits(&self) {
        let counters = self.delivery.counters();
        let meter = &self.meter;
        meter.commits.store(counters.commits, Ordering::Relaxed);
        meter.aborts.store(counters.rewinds, Ordering::Relaxed);
    }
}
