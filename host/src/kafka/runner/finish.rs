//! The end of a run: the last commit and flush, or (broker unreachable,
//! fatal producer, a batch given up half-sent) a quick flush and no commit,
//! then the run's report.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::producer::Producer;

use super::{KafkaRunReport, Loop};
use crate::kafka::KafkaRunError;
use crate::kafka::failure_source::RedriveCounts;

/// How long the last flush may take at a shutdown that does not commit.
const QUICK_FLUSH: Duration = Duration::from_secs(1);
/// How long outputs may take to be acknowledged at a normal shutdown.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

impl Loop<'_> {
    /// Commit everything, flush, and report. With the broker unreachable, a
    /// fatal producer or a batch given up half-sent, nothing more is
    /// committed (those inputs are processed again after a restart): a
    /// shutdown does not wait for a broker that is not there.
    pub(super) fn finish(mut self) -> Result<(KafkaRunReport, RedriveCounts), KafkaRunError> {
        let producer = self.delivery.producer();
        let why_not = if self.abandoned {
            Some("a batch was given up half-sent")
        } else if !self.faults.broker_reachable() {
            Some("the broker is unreachable")
        } else if producer.client().fatal_error().is_some() {
            Some("the producer is fatal")
        } else {
            None
        };
        if let Some(why) = why_not {
            tracing::warn!(
                "stopping without a last commit ({why}): uncommitted inputs are processed again after a restart"
            );
            let _ = producer.flush(QUICK_FLUSH);
            self.report.commits = self.delivery.counters();
            self.report.elapsed = self.started.elapsed();
            return Ok((self.report, self.source.into_counts()));
        }
        // Outputs not acknowledged within the grace are not committed: the
        // stop does not wait out a broker that does not answer.
        if let Err(e) = producer.flush(SHUTDOWN_FLUSH) {
            tracing::warn!(
                "outputs not acknowledged within {SHUTDOWN_FLUSH:?} at shutdown ({e}): \
                 their inputs are not committed and are processed again after a restart"
            );
            self.report.commits = self.delivery.counters();
            self.report.elapsed = self.started.elapsed();
            return Ok((self.report, self.source.into_counts()));
        }
        let started = Instant::now();
        let committed = self.delivery.commit_all(&self.consumer);
        if self.delivery.counters().commits > self.meter.commits.load(Ordering::Relaxed) {
            self.meter.commit_duration.observe(started.elapsed());
        }
        self.publish_commits();
        committed?;
        producer
            .flush(Duration::from_secs(30))
            .map_err(|e| KafkaRunError::GaveUp(format!("flushing at shutdown: {e}")))?;
        self.report.commits = self.delivery.counters();
        self.report.elapsed = self.started.elapsed();
        Ok((self.report, self.source.into_counts()))
    }
}
